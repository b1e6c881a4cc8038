// A per-thread cache from atom bytes to interned atoms (internal). Atoms are never freed, so
// entries stay valid forever; the cache only spares the global table's hashing and locking.
#pragma once

#include <erlnode/atom.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace erlnode::etf::detail {

inline constexpr std::size_t atom_cache_bits = 9;

// One cache slot: the atom's bytes folded into two words (exact for up to 16 bytes), so a hit
// is decided within the slot without touching the atom entry. `tag` is the byte length with
// slot_valid (never set in an empty slot) and slot_ascii.
struct atom_slot {
  std::uint64_t w0, w1;
  const erlnode::detail::atom_entry* e;
  std::uint32_t tag;
};
inline constexpr std::uint32_t slot_valid = 1u << 30;
inline constexpr std::uint32_t slot_ascii = 1u << 29;  // above any atom's byte length
// constinit: no dynamic initialisation, so accesses need no TLS wrapper call.
extern constinit thread_local atom_slot tl_atom_cache[1u << atom_cache_bits];

struct atom_key {
  std::uint64_t w0 = 0, w1 = 0;
  std::size_t slot;
};

// The `n` bytes at `p` (n <= 8) as a word, the bytes past them zero. `avail` bytes can be
// read at `p`: with 8 of them one load and a mask do it.
inline std::uint64_t short_text_word(const std::uint8_t* p, std::size_t n,
                                     std::size_t avail) noexcept {
  std::uint64_t w = 0;
  if (avail >= 8) [[likely]] {
    if (n == 0) return 0;
    std::memcpy(&w, p, 8);
    // Keep the bytes that came from p[0..n): the low ones on a little-endian machine.
    if constexpr (std::endian::native == std::endian::little)
      return w & (~std::uint64_t{0} >> (64 - 8 * n));
    else
      return w & (~std::uint64_t{0} << (64 - 8 * n));
  }
  std::uint8_t buf[8] = {};
  std::memcpy(buf, p, n);
  std::memcpy(&w, buf, 8);
  return w;
}

// Up to 8 bytes make one word; up to 16 two overlapping ones (first and last 8 bytes). With
// the length, the words identify such a text exactly.
inline atom_key make_atom_key(const std::uint8_t* p, std::size_t n, std::size_t avail) noexcept {
  atom_key k;
  std::uint64_t h;
  if (n <= 8) {
    k.w0 = short_text_word(p, n, avail);
    h = k.w0 + n;
  } else {
    std::memcpy(&k.w0, p, 8);
    std::memcpy(&k.w1, p + n - 8, 8);
    h = (k.w0 ^ (k.w1 * 0x9E3779B97F4A7C15ull)) + n;
  }
  h *= 0xFF51AFD7ED558CCDull;
  k.slot = static_cast<std::size_t>(h >> (64 - atom_cache_bits));
  return k;
}

// Finds the atom for `n` bytes at `p` (of which `avail` >= n may be read): UTF-8 text, or
// Latin-1 text when `latin1`. Only ASCII atoms match a Latin-1 lookup, since only for them
// are both encodings the same bytes. `cache` is this thread's tl_atom_cache: callers fetch its
// address once, since in code built as PIC each thread-local access is a call (relaxed away
// when linked into an executable, but the registers it clobbers are still saved and restored
// around every lookup).
inline const erlnode::detail::atom_entry* cached_atom(const atom_slot* cache, const std::uint8_t* p,
                                                      std::size_t n, std::size_t avail,
                                                      bool latin1) noexcept {
  atom_key k = make_atom_key(p, n, avail);
  const atom_slot& s = cache[k.slot];
  // A UTF-8 lookup takes ASCII and non-ASCII entries alike.
  std::uint32_t tag = s.tag | (latin1 ? 0 : slot_ascii);
  if (tag != (static_cast<std::uint32_t>(n) | slot_valid | slot_ascii) || s.w0 != k.w0 ||
      s.w1 != k.w1)
    return nullptr;
  // The words hold the first and last 8 bytes; longer texts compare the middle here, without
  // a call to memcmp (whose clobbered registers would cost spills on every lookup).
  if (n > 16) [[unlikely]] {
    const auto* t = reinterpret_cast<const std::uint8_t*>(s.e->text);
    for (std::size_t i = 8; i < n - 8; i += 8) {
      std::uint64_t a, b;
      std::memcpy(&a, t + i, 8);
      std::memcpy(&b, p + i, 8);
      if (a != b) return nullptr;
    }
  }
  return s.e;
}

inline void remember_atom(const std::uint8_t* p, std::size_t n, bool latin1, atom a) noexcept {
  bool ascii = a.size() == a.length();
  if (latin1 && !ascii) return;  // non-ASCII Latin-1: its UTF-8 text differs from the bytes
  if (n >= slot_ascii) return;   // (atoms are at most 255 characters: never)
  atom_key k = make_atom_key(p, n, n);
  tl_atom_cache[k.slot] = {k.w0, k.w1, a.entry(),
                           static_cast<std::uint32_t>(n) | slot_valid | (ascii ? slot_ascii : 0)};
}

}  // namespace erlnode::etf::detail

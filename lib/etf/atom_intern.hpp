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
// is decided within the slot without touching the atom entry.
struct atom_slot {
  std::uint64_t w0, w1;
  const erlnode::detail::atom_entry* e;
  std::uint32_t len;
  std::uint32_t ascii;
};
// constinit: no dynamic initialisation, so accesses need no TLS wrapper call.
extern constinit thread_local atom_slot tl_atom_cache[1u << atom_cache_bits];

struct atom_key {
  std::uint64_t w0 = 0, w1 = 0;
  std::size_t slot;
};

// Overlapping loads cover every byte of texts up to 16 bytes; with the length, the words
// identify such a text exactly.
inline atom_key make_atom_key(const std::uint8_t* p, std::size_t n) noexcept {
  atom_key k;
  if (n >= 8) {
    std::memcpy(&k.w0, p, 8);
    std::memcpy(&k.w1, p + n - 8, 8);
  } else if (n >= 4) {
    std::uint32_t x, y;
    std::memcpy(&x, p, 4);
    std::memcpy(&y, p + n - 4, 4);
    k.w0 = x | (std::uint64_t{y} << 32);
  } else if (n > 0) {
    k.w0 = p[0] | (std::uint32_t{p[n / 2]} << 8) | (std::uint32_t{p[n - 1]} << 16);
  }
  std::uint64_t h = (k.w0 ^ (k.w1 * 0x9E3779B97F4A7C15ull)) + n;
  h *= 0xFF51AFD7ED558CCDull;
  k.slot = static_cast<std::size_t>(h >> (64 - atom_cache_bits));
  return k;
}

// Finds the atom for `n` bytes at `p`: UTF-8 text, or Latin-1 text when `latin1`. Only
// ASCII atoms match a Latin-1 lookup, since only for them are both encodings the same bytes.
// `cache` is this thread's tl_atom_cache: callers fetch its address once, since in code built
// as PIC each thread-local access is a call (relaxed away when linked into an executable,
// but the registers it clobbers are still saved and restored around every lookup).
inline const erlnode::detail::atom_entry* cached_atom(const atom_slot* cache, const std::uint8_t* p,
                                                      std::size_t n, bool latin1) noexcept {
  atom_key k = make_atom_key(p, n);
  const atom_slot& s = cache[k.slot];
  if (s.len != n || s.w0 != k.w0 || s.w1 != k.w1 || !s.e) return nullptr;
  if (latin1 && !s.ascii) return nullptr;
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
  atom_key k = make_atom_key(p, n);
  tl_atom_cache[k.slot] = {k.w0, k.w1, a.entry(), static_cast<std::uint32_t>(n), ascii};
}

}  // namespace erlnode::etf::detail

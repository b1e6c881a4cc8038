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
extern thread_local const erlnode::detail::atom_entry* tl_atom_cache[1u << atom_cache_bits];

inline std::size_t atom_cache_slot(const std::uint8_t* p, std::size_t n) noexcept {
  // A few overlapping loads instead of a byte loop: collisions only cost a miss.
  std::uint64_t a = 0, b = 0;
  if (n >= 8) {
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + n - 8, 8);
  } else if (n >= 4) {
    std::uint32_t x, y;
    std::memcpy(&x, p, 4);
    std::memcpy(&y, p + n - 4, 4);
    a = x;
    b = y;
  } else if (n > 0) {
    a = p[0] | (std::uint32_t{p[n / 2]} << 8) | (std::uint32_t{p[n - 1]} << 16);
  }
  std::uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull)) + n;
  h *= 0xFF51AFD7ED558CCDull;
  return static_cast<std::size_t>(h >> (64 - atom_cache_bits));
}

// Equality of n bytes, with word loads for short atoms (both sides have n readable bytes).
inline bool same_bytes(const char* a, const std::uint8_t* b, std::size_t n) noexcept {
  if (n >= 8 && n <= 16) {
    std::uint64_t x0, x1, y0, y1;
    std::memcpy(&x0, a, 8);
    std::memcpy(&y0, b, 8);
    std::memcpy(&x1, a + n - 8, 8);
    std::memcpy(&y1, b + n - 8, 8);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  if (n >= 4 && n < 8) {
    std::uint32_t x0, x1, y0, y1;
    std::memcpy(&x0, a, 4);
    std::memcpy(&y0, b, 4);
    std::memcpy(&x1, a + n - 4, 4);
    std::memcpy(&y1, b + n - 4, 4);
    return ((x0 ^ y0) | (x1 ^ y1)) == 0;
  }
  return std::memcmp(a, b, n) == 0;
}

// Finds the atom for `n` bytes at `p`: UTF-8 text, or Latin-1 text when `latin1`. Only
// ASCII atoms match a Latin-1 lookup, since only for them are both encodings the same bytes.
inline const erlnode::detail::atom_entry* cached_atom(const std::uint8_t* p, std::size_t n,
                                                      bool latin1) noexcept {
  const erlnode::detail::atom_entry* e = tl_atom_cache[atom_cache_slot(p, n)];
  if (e && e->size == n && same_bytes(e->text, p, n) && (!latin1 || e->chars == n)) return e;
  return nullptr;
}

inline void remember_atom(const std::uint8_t* p, std::size_t n, bool latin1, atom a) noexcept {
  if (latin1 && a.size() != n) return;  // non-ASCII Latin-1: its UTF-8 text differs
  tl_atom_cache[atom_cache_slot(p, n)] = a.entry();
}

}  // namespace erlnode::etf::detail

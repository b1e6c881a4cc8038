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
  std::uint64_t h = n;
  for (std::size_t i = 0; i < n; ++i) h = h * 31 + p[i];
  return static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ull) >> (64 - atom_cache_bits));
}

// Finds the atom for `n` bytes at `p`: UTF-8 text, or Latin-1 text when `latin1`. Only
// ASCII atoms match a Latin-1 lookup, since only for them are both encodings the same bytes.
inline bool cached_atom(const std::uint8_t* p, std::size_t n, bool latin1, atom& out) noexcept {
  const erlnode::detail::atom_entry* e = tl_atom_cache[atom_cache_slot(p, n)];
  if (e && e->size == n && std::memcmp(e->text, p, n) == 0 && (!latin1 || e->chars == n)) {
    out = std::bit_cast<atom>(e);
    return true;
  }
  return false;
}

inline void remember_atom(const std::uint8_t* p, std::size_t n, bool latin1, atom a) noexcept {
  if (latin1 && a.size() != n) return;  // non-ASCII Latin-1: its UTF-8 text differs
  tl_atom_cache[atom_cache_slot(p, n)] = a.entry();
}

}  // namespace erlnode::etf::detail

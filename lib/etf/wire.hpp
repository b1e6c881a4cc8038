// Big-endian field access for the ETF codec (internal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace erlnode::etf::detail {

inline std::uint16_t get16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t get32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}
inline std::uint64_t get64(const std::uint8_t* p) noexcept {
  return (std::uint64_t{get32(p)} << 32) | get32(p + 4);
}
inline void put16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
inline void put32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
inline void put64(std::uint8_t* p, std::uint64_t v) noexcept {
  put32(p, static_cast<std::uint32_t>(v >> 32));
  put32(p + 4, static_cast<std::uint32_t>(v));
}

// True when every byte is below 0x80 (checked eight bytes at a time).
inline bool is_ascii(const std::uint8_t* p, std::size_t n) noexcept {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    if (w & 0x8080808080808080ull) return false;
  }
  for (; i < n; ++i)
    if (p[i] & 0x80) return false;
  return true;
}

// Counts the characters of UTF-8 atom text; returns false if it is not valid UTF-8.
bool utf8_atom_chars(const std::uint8_t* p, std::size_t n, std::size_t& chars) noexcept;

// Upper bound on what zlib can inflate from `n` compressed bytes (deflate's best ratio is
// about 1032:1), used to refuse impossible COMPRESSED_EXT size claims without allocating.
inline std::uint64_t max_inflated_from(std::size_t n) noexcept {
  return std::uint64_t{n} * 1032u + 64u;
}

// Copies n bytes; short copies (atom texts, small binaries) without a call to memcpy.
[[gnu::always_inline]] inline void copy_small(std::uint8_t* d, const std::uint8_t* s,
                                              std::size_t n) noexcept {
  if (n >= 8 && n <= 16) {
    std::uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n >= 4 && n < 8) {
    std::uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n < 4) {
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    std::memcpy(d, s, n);
  }
}

}  // namespace erlnode::etf::detail

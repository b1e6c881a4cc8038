// Big-endian integer helpers for the distribution codecs (internal).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace erlnode::dist::detail {

inline void put_u8(std::vector<std::uint8_t>& o, std::uint8_t v) { o.push_back(v); }
inline void put_u16(std::vector<std::uint8_t>& o, std::uint16_t v) {
  o.push_back(static_cast<std::uint8_t>(v >> 8));
  o.push_back(static_cast<std::uint8_t>(v));
}
inline void put_u32(std::vector<std::uint8_t>& o, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) o.push_back(static_cast<std::uint8_t>(v >> s));
}
inline void put_u64(std::vector<std::uint8_t>& o, std::uint64_t v) {
  for (int s = 56; s >= 0; s -= 8) o.push_back(static_cast<std::uint8_t>(v >> s));
}
// Reads n bytes (n <= 8) at p as a big-endian unsigned integer.
inline std::uint64_t get_be(const std::uint8_t* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// A bounds-checked cursor over a byte span.
class cursor {
 public:
  explicit cursor(std::span<const std::uint8_t> b, std::size_t pos = 0) noexcept
      : b_(b), pos_(pos) {}
  std::size_t pos() const noexcept { return pos_; }
  std::size_t left() const noexcept { return b_.size() - pos_; }
  bool has(std::size_t n) const noexcept { return left() >= n; }
  // Callers check has() first.
  std::uint64_t be(std::size_t n) noexcept {
    auto v = get_be(b_.data() + pos_, n);
    pos_ += n;
    return v;
  }
  std::span<const std::uint8_t> take(std::size_t n) noexcept {
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::span<const std::uint8_t> rest() const noexcept { return b_.subspan(pos_); }

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_;
};

}  // namespace erlnode::dist::detail

#include <erlnode/dist/framing.hpp>

#include "dist/bytes.hpp"

#include <algorithm>
#include <limits>

namespace erlnode::dist {

std::array<std::uint8_t, 4> packet_header(std::uint32_t size) noexcept {
  return {static_cast<std::uint8_t>(size >> 24), static_cast<std::uint8_t>(size >> 16),
          static_cast<std::uint8_t>(size >> 8), static_cast<std::uint8_t>(size)};
}

result<void> append_packet(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload) {
  if (payload.size() > std::numeric_limits<std::uint32_t>::max()) return errc::message_too_large;
  auto h = packet_header(static_cast<std::uint32_t>(payload.size()));
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return {};
}

void append_tick(std::vector<std::uint8_t>& out) { out.insert(out.end(), 4, 0); }

result<void> packet_parser::feed(std::span<const std::uint8_t> bytes,
                                 std::vector<std::vector<std::uint8_t>>& out) {
  if (failed_) return error(errc::message_too_large, offset_);
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (!in_body_) {
      std::size_t n = std::min<std::size_t>(4 - have_len_, bytes.size() - pos);
      std::copy_n(bytes.data() + pos, n, len_buf_.data() + have_len_);
      have_len_ += n;
      pos += n;
      if (have_len_ < 4) break;
      want_ = detail::get_be(len_buf_.data(), 4);
      if (want_ > max_) {
        failed_ = true;
        return error(errc::message_too_large, offset_);
      }
      if (want_ == 0) {  // tick
        out.emplace_back();
        offset_ += 4;
        have_len_ = 0;
        continue;
      }
      in_body_ = true;
      body_.clear();
      // A whole packet in this chunk: one exact allocation. Otherwise grow with the data, so
      // a hostile length alone never allocates.
      if (bytes.size() - pos >= want_) body_.reserve(want_);
    }
    std::size_t n = std::min(want_ - body_.size(), bytes.size() - pos);
    body_.insert(body_.end(), bytes.begin() + pos, bytes.begin() + pos + n);
    pos += n;
    if (body_.size() < want_) break;
    out.push_back(std::move(body_));
    body_ = {};
    offset_ += 4 + want_;
    in_body_ = false;
    have_len_ = 0;
  }
  return {};
}

}  // namespace erlnode::dist

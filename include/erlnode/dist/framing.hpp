// Packets of a connected distribution channel: u32 length | data. Length 0 is a tick.
#pragma once

#include <erlnode/dist/error.hpp>
#include <erlnode/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace erlnode::dist {

// Default bound on one packet. The BEAM sends unfragmented messages of any size to a peer
// without FRAGMENTS (up to 2 GiB); with FRAGMENTS every packet is about 64 KiB.
inline constexpr std::size_t default_max_packet_size = std::size_t{256} << 20;

// The 4-byte header of a packet of `size` bytes (for scatter/gather writes).
std::array<std::uint8_t, 4> packet_header(std::uint32_t size) noexcept;
// Appends one packet; a payload above 4 GiB - 1 is a programmer error (returns
// message_too_large and appends nothing).
result<void> append_packet(std::vector<std::uint8_t>& out, std::span<const std::uint8_t> payload);
// Appends a tick (four zero bytes).
void append_tick(std::vector<std::uint8_t>& out);

// Incremental parser. Bytes in; complete packets out. A tick is a packet with no data.
class packet_parser {
 public:
  explicit packet_parser(std::size_t max_packet_size = default_max_packet_size) noexcept
      : max_(max_packet_size) {}

  // Consumes all of `bytes`, appending each completed packet to `out`. On error (a length
  // above the limit; offset = stream position of its length field) the parser stays failed.
  result<void> feed(std::span<const std::uint8_t> bytes,
                    std::vector<std::vector<std::uint8_t>>& out);

  // Bytes of the current incomplete packet held so far (header included).
  std::size_t buffered() const noexcept { return have_len_ + body_.size(); }
  std::size_t stream_offset() const noexcept { return offset_; }
  bool failed() const noexcept { return failed_; }

 private:
  std::size_t max_;
  std::array<std::uint8_t, 4> len_buf_{};
  std::size_t have_len_ = 0;
  std::size_t want_ = 0;
  bool in_body_ = false;
  bool failed_ = false;
  std::vector<std::uint8_t> body_;
  std::size_t offset_ = 0;
};

}  // namespace erlnode::dist

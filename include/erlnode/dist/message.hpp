// Whole distribution messages: the control term and the optional message term, decoded from
// an assembled packet (dist/header.hpp), and encoded into packet payloads with the header the
// negotiated flags call for (pass-through, 131,68 with the atom cache, or 131,69/70
// fragments above a size threshold).
#pragma once

#include <erlnode/dist/control.hpp>
#include <erlnode/dist/flags.hpp>
#include <erlnode/dist/header.hpp>
#include <erlnode/etf.hpp>
#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace erlnode::dist {

struct decoded_message {
  term control;
  std::optional<term> message;
};

// Decodes the control term and the optional message term. Bytes after them are an error.
// Errors keep the ETF error code, with the offset into the message's bytes. Binaries of 64
// bytes or more share the message's buffer (no copy).
result<decoded_message> decode_message(assembled_message m, etf::decode_options opts = {});

// Whether headers (131,68/69/70) are in use on a connection with these flags.
constexpr bool uses_headers(dflags negotiated) noexcept {
  return (negotiated & (flag::dist_hdr_atom_cache | flag::fragments)) != 0;
}

struct sender_options {
  dflags negotiated = 0;
  // Messages whose control and message terms together exceed this are sent as fragments
  // (when FRAGMENTS is negotiated). The BEAM uses 64 KiB.
  std::size_t fragment_size = std::size_t{64} << 10;
};

// Encodes outgoing messages for one connection, keeping its send-side atom cache.
class message_sender {
 public:
  explicit message_sender(sender_options o);

  // Appends one packet payload per fragment (usually one) to `packets`; each still needs its
  // u32 length (dist/framing.hpp). `sequence_id` names a fragmented message; 0 picks a fresh
  // one. All fragments must be written in order before another message's fragments with the
  // same id.
  result<void> encode(const term& control, const std::optional<term>& message,
                      std::vector<std::vector<std::uint8_t>>& packets,
                      std::uint64_t sequence_id = 0);
  result<void> encode(const control_message& m, std::vector<std::vector<std::uint8_t>>& packets,
                      std::uint64_t sequence_id = 0);

  const sender_options& options() const noexcept { return opts_; }

 private:
  sender_options opts_;
  atom_cache_sender cache_;
  std::uint64_t next_sequence_ = 1;
};

}  // namespace erlnode::dist

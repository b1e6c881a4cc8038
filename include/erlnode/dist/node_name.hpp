// Node names: "alive@host". What OTP accepts from peers, and the stricter rule for our own.
#pragma once

#include <erlnode/result.hpp>

#include <optional>
#include <string_view>

namespace erlnode::dist {

struct node_name_parts {
  std::string_view alive;  // before '@'
  std::string_view host;   // after '@'
};

// Splits "alive@host" at its only '@'; nullopt when there is no '@' or more than one.
std::optional<node_name_parts> split_node_name(std::string_view name) noexcept;

// A peer's name as OTP's handshake accepts it: exactly one '@' with both parts non-empty
// (static names), or, for a dynamic name (DFLAG_NAME_ME), a non-empty host without '@'.
result<void> validate_peer_name(std::string_view name, bool dynamic = false) noexcept;

// Our own name: alive part of [0-9A-Za-z_-] (the BEAM's rule for its own names), a host
// part without '@', spaces or control characters, at most 255 bytes in all (atom limit).
result<void> validate_own_name(std::string_view name) noexcept;
// The host given for a dynamic name (DFLAG_NAME_ME): same host rule, no '@'.
result<void> validate_own_host(std::string_view host) noexcept;

// OTP's simultaneous-connect rule: when both nodes connect to each other at once, the node
// whose name is greater (byte order, as atom comparison) keeps its own outgoing attempt.
// true: refuse the inbound attempt (status nok); false: accept it (ok_simultaneous) and
// abandon ours.
inline bool keep_own_attempt(std::string_view this_node, std::string_view peer_node) noexcept {
  return this_node > peer_node;
}

}  // namespace erlnode::dist

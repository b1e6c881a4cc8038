// Error codes of the distribution protocol layer (handshake, framing, header, control).
#pragma once

#include <erlnode/result.hpp>

#include <system_error>

namespace erlnode::dist {

enum class errc {
  truncated = 1,            // a message ends before its fields do
  message_too_large,        // a length prefix beyond the configured limit
  bad_handshake_message,    // wrong tag or size for the handshake state
  unsupported_version,      // a handshake name/challenge that is not 'N' (version 6)
  bad_node_name,            // not name@host (or not host, for a dynamic name)
  peer_name_mismatch,       // the challenge names a node other than the one we dialled
  missing_mandatory_flags,  // the peer lacks a flag we require
  bad_status,               // unknown or unexpected status text
  status_nok,               // the acceptor answered "nok" (a simultaneous connect it keeps)
  status_not_allowed,       // the acceptor refused us ("not_allowed")
  status_alive_refused,     // "alive" answered with "false"
  bad_digest,               // challenge reply/ack digest wrong: the cookies differ
  handshake_refused,        // we refused the peer (owner's status decision nok/not_allowed)
  bad_state,                // an API call that the current state does not allow
  invalid_config,           // own name, creation or crypto hooks unusable
  bad_header,               // a distribution header that is not 112 or 131,68/69/70
  bad_atom_cache_ref,       // a header reference to an atom cache slot that is empty
  bad_fragment,             // fragment out of order, unknown sequence, or sequence reused
  reassembly_limit,         // in-flight fragment memory above the configured bound
  bad_term,                 // the control or message term does not decode
  invalid_control_message,  // wrong arity, field type or sender of a control message
  unknown_control_op,       // a control op the protocol does not define
  trailing_data,            // bytes after the last term of a packet
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

}  // namespace erlnode::dist

template <>
struct std::is_error_code_enum<erlnode::dist::errc> : std::true_type {};

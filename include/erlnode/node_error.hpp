// Error codes of the transport and node layers (connections, mailboxes, node start-up).
#pragma once

#include <system_error>

namespace erlnode {

enum class node_errc {
  closed = 1,         // the mailbox or node was closed
  timeout,            // a receive or connect timed out
  not_started,        // the node is not running (yet)
  already_started,    // async_start called twice
  name_registered,    // epmd already has a node with our name
  epmd_unreachable,   // nothing answers on the epmd port (and start_epmd was off)
  epmd_failed,        // epmd answered with an error or garbage
  no_such_node,       // the peer is not registered in its host's epmd
  bad_node_name,      // a name that is not name@host, or mixes short and long names
  name_taken,         // a registered name that another mailbox already has
  not_connected,      // no connection and auto-connect is off (dist_auto_connect never/once)
  connect_failed,     // TCP connect or handshake failed
  handshake_failed,   // the peer refused us or the cookies differ
  setup_timeout,      // net_setuptime passed during the handshake
  tick_timeout,       // nothing arrived from the peer for net_ticktime
  connection_closed,  // the peer closed the connection
  disconnected,       // we called disconnect()
  invalid_message,    // the peer sent a control message the protocol does not allow
  bad_header,         // a distribution header that is not 112 or 131,68/69/70, or a bad
                      // atom cache reference
  bad_fragment,       // a fragment out of order, of an unknown sequence, or a reused one
  reassembly_limit,   // in-flight fragment memory over max_reassembly_memory
  bad_term,           // a control or message term that does not decode
  queue_full,         // send queue over its bound (non-waiting sends only)
  listen_failed,      // no free port in the listen range
};
const std::error_category& node_category() noexcept;
inline std::error_code make_error_code(node_errc e) noexcept {
  return {static_cast<int>(e), node_category()};
}

}  // namespace erlnode

template <>
struct std::is_error_code_enum<erlnode::node_errc> : std::true_type {};

// Distribution control messages (ops 1..36): a typed representation, conversion from and to
// the control tuple (plus the message term where the op carries one), and the receiver
// checks OTP applies (arity, field types, senders that must belong to the peer, obsolete
// UNLINK once UNLINK_ID is negotiated, unknown ops). Term level: the ETF encoding is
// dist/message.hpp's job.
#pragma once

#include <erlnode/dist/error.hpp>
#include <erlnode/dist/flags.hpp>
#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace erlnode::dist {

enum class op : std::uint8_t {
  link = 1,
  send = 2,
  exit = 3,
  unlink = 4,
  node_link = 5,
  reg_send = 6,
  group_leader = 7,
  exit2 = 8,
  send_tt = 12,
  exit_tt = 13,
  reg_send_tt = 16,
  exit2_tt = 18,
  monitor_p = 19,
  demonitor_p = 20,
  monitor_p_exit = 21,
  send_sender = 22,
  send_sender_tt = 23,
  payload_exit = 24,
  payload_exit_tt = 25,
  payload_exit2 = 26,
  payload_exit2_tt = 27,
  payload_monitor_p_exit = 28,
  spawn_request = 29,
  spawn_request_tt = 30,
  spawn_reply = 31,
  spawn_reply_tt = 32,
  alias_send = 33,
  alias_send_tt = 34,
  unlink_id = 35,
  unlink_id_ack = 36,
};
// "LINK", "SEND_SENDER_TT", ... ("UNKNOWN" for other values).
std::string_view op_name(op o) noexcept;
// Whether ops of this kind carry a second term (the message, exit reason or argument list).
bool op_has_payload(op o) noexcept;

// One struct per op. `message` / `reason` / `args` travel as the second term where the op
// has one (SEND*, REG_SEND*, ALIAS_SEND*, PAYLOAD_*, SPAWN_REQUEST*), inside the tuple
// otherwise. `target`/`from` fields typed `term` hold a pid or a registered name (atom).
namespace ctl {
struct link {
  pid from, to;
};
struct send {  // {2, '', To}
  pid to;
  term message;
};
struct exit {
  pid from, to;
  term reason;
};
struct unlink {  // obsolete link protocol
  pid from, to;
};
struct node_link {};
struct reg_send {  // {6, From, '', ToName}
  pid from;
  atom to_name;
  term message;
};
struct group_leader {
  pid leader, target;
};
struct exit2 {
  pid from, to;
  term reason;
};
struct send_tt {
  pid to;
  term token, message;
};
struct exit_tt {
  pid from, to;
  term token, reason;
};
struct reg_send_tt {
  pid from;
  atom to_name;
  term token, message;
};
struct exit2_tt {
  pid from, to;
  term token, reason;
};
struct monitor_p {
  pid from;
  term target;  // pid or atom
  reference ref;
};
struct demonitor_p {
  pid from;
  term target;
  reference ref;
};
struct monitor_p_exit {
  term from;  // the monitored pid, or the name when monitored by name
  pid to;
  reference ref;
  term reason;
};
struct send_sender {
  pid from, to;
  term message;
};
struct send_sender_tt {
  pid from, to;
  term token, message;
};
struct payload_exit {
  pid from, to;
  term reason;
};
struct payload_exit_tt {
  pid from, to;
  term token, reason;
};
struct payload_exit2 {
  pid from, to;
  term reason;
};
struct payload_exit2_tt {
  pid from, to;
  term token, reason;
};
struct payload_monitor_p_exit {
  term from;
  pid to;
  reference ref;
  term reason;
};
struct spawn_request {
  reference req_id;
  pid from, group_leader;
  atom module, function;
  std::uint8_t arity = 0;
  term options;  // proper list
  term args;     // proper list
};
struct spawn_request_tt {
  reference req_id;
  pid from, group_leader;
  atom module, function;
  std::uint8_t arity = 0;
  term options, args, token;
};
struct spawn_reply {
  reference req_id;
  pid to;
  std::uint32_t flags = 0;  // bit 0 link, bit 1 monitor
  term result;              // the new pid, or an error atom
};
struct spawn_reply_tt {
  reference req_id;
  pid to;
  std::uint32_t flags = 0;
  term result, token;
};
struct alias_send {
  pid from;
  reference alias;
  term message;
};
struct alias_send_tt {
  pid from;
  reference alias;
  term token, message;
};
struct unlink_id {
  std::uint64_t id = 0;  // 1..2^64-1
  pid from, to;
};
struct unlink_id_ack {
  std::uint64_t id = 0;
  pid from, to;  // from: the acker; to: who sent the UNLINK_ID
};
}  // namespace ctl

using control_message =
    std::variant<ctl::link, ctl::send, ctl::exit, ctl::unlink, ctl::node_link, ctl::reg_send,
                 ctl::group_leader, ctl::exit2, ctl::send_tt, ctl::exit_tt, ctl::reg_send_tt,
                 ctl::exit2_tt, ctl::monitor_p, ctl::demonitor_p, ctl::monitor_p_exit,
                 ctl::send_sender, ctl::send_sender_tt, ctl::payload_exit, ctl::payload_exit_tt,
                 ctl::payload_exit2, ctl::payload_exit2_tt, ctl::payload_monitor_p_exit,
                 ctl::spawn_request, ctl::spawn_request_tt, ctl::spawn_reply, ctl::spawn_reply_tt,
                 ctl::alias_send, ctl::alias_send_tt, ctl::unlink_id, ctl::unlink_id_ack>;

op op_of(const control_message& m) noexcept;

// The connection a message arrived on: pids that must be the peer's (the sender of a link,
// exit, monitor, unlink or spawn request) are checked against `peer_node`, pids that must be
// ours (the target of a link or exit, the receiver of a send) against `this_node`.
struct control_context {
  atom this_node;
  atom peer_node;
  dflags negotiated = 0;
};

// The control tuple and the optional second term, as they travel.
struct control_terms {
  term control;
  std::optional<term> message;
};

// Checks and converts a received control message. Errors: unknown_control_op, or
// invalid_control_message; `why` (if given) receives a one-line explanation naming the op
// and the field, for the log line before the connection is closed.
result<control_message> decode_control(const term& control, const std::optional<term>& message,
                                       const control_context& ctx, std::string* why = nullptr);

// The terms for a control message (no checks: the sender is trusted).
control_terms encode_control(const control_message& m);

// Choosing a variant by the negotiated flags, as the BEAM does: SEND_SENDER if negotiated
// (else SEND), PAYLOAD_* if EXIT_PAYLOAD (else the old forms with the reason in the tuple),
// UNLINK_ID if negotiated (else the old UNLINK; the id is then unused). With a seq_trace
// token the *_TT forms.
control_message make_send(const pid& from, const pid& to, term message, dflags negotiated,
                          std::optional<term> token = std::nullopt);
control_message make_reg_send(const pid& from, atom to_name, term message,
                              std::optional<term> token = std::nullopt);
control_message make_exit(const pid& from, const pid& to, term reason, dflags negotiated,
                          std::optional<term> token = std::nullopt);
control_message make_exit2(const pid& from, const pid& to, term reason, dflags negotiated,
                           std::optional<term> token = std::nullopt);
control_message make_monitor_p_exit(term from, const pid& to, const reference& ref, term reason,
                                    dflags negotiated);
control_message make_unlink(const pid& from, const pid& to, std::uint64_t id, dflags negotiated);

// Whether a message may be sent on a connection with these flags (MONITOR_P needs
// DIST_MONITOR, and DIST_MONITOR_NAME for a name; SPAWN_* need SPAWN; ALIAS_SEND* need ALIAS;
// UNLINK_ID* need UNLINK_ID; the old UNLINK is invalid once UNLINK_ID is negotiated;
// PAYLOAD_* need EXIT_PAYLOAD; SEND_SENDER* need SEND_SENDER).
bool can_send(const control_message& m, dflags negotiated) noexcept;

}  // namespace erlnode::dist

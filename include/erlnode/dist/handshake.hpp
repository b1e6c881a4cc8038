// The distribution handshake (version 6, 'N'), both roles, as a sans-I/O state machine.
//
//   initiator: send_name -> recv status [-> send "true"/"false" after "alive"]
//              -> recv challenge -> send challenge_reply -> recv challenge_ack -> done
//   acceptor:  recv name -> (owner decides the status) -> send status
//              [-> recv "true"/"false" after "alive"] -> send challenge
//              -> recv challenge_reply -> send challenge_ack -> done
//
// Bytes in through feed(), bytes out through output() (the owner writes and clears them),
// events through poll(). Each handshake message carries a 2-byte length prefix over TCP and a
// 4-byte one over TLS. The digest and the random challenge are injected (handshake_crypto), so
// this layer needs no crypto library; dist/crypto.hpp has the OpenSSL implementations.
#pragma once

#include <erlnode/dist/error.hpp>
#include <erlnode/dist/flags.hpp>
#include <erlnode/result.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace erlnode::dist {

using md5_digest = std::array<std::uint8_t, 16>;

struct handshake_crypto {
  // MD5(cookie bytes ++ decimal ASCII of challenge).
  std::function<md5_digest(std::string_view cookie, std::uint32_t challenge)> digest;
  // A cryptographically random u32.
  std::function<std::uint32_t()> challenge;
};

enum class handshake_role { initiator, acceptor };

struct handshake_config {
  handshake_role role = handshake_role::initiator;
  // name@host. An initiator asking for a dynamic name (flag::name_me in this_flags) gives
  // only the host here and learns its name from the acceptor's "named:" status.
  std::string this_node;
  std::uint32_t this_creation = 0;  // non-zero (sent as 0 when asking for a dynamic name)
  dflags this_flags = hidden_profile;
  // Flags the peer must have (after expanding MANDATORY_25_DIGEST); a peer without one is
  // refused (acceptor: status not_allowed) and the failure names the missing flags.
  dflags required_flags = mandatory_25;
  std::string cookie;
  // Acceptor: the cookie for a peer once its name is known (erlang:set_cookie/2 per-node
  // cookies); empty function or empty result: `cookie`.
  std::function<std::string(std::string_view peer_node)> cookie_for;
  // Initiator: the node dialled. The acceptor's challenge must carry exactly this name.
  std::string peer_node;
  std::size_t length_prefix = 2;  // 2 over TCP, 4 over TLS distribution
  std::size_t max_message_size = 8192;
  // net_setuptime: the transport aborts a handshake that takes longer (OTP restarts the timer
  // at each step). Not enforced here; this layer does no I/O and keeps no clock.
  std::chrono::milliseconds setup_timeout{7000};
  handshake_crypto crypto;
};

// The acceptor's answer to a connection attempt (sent as 's' + text).
enum class handshake_status {
  ok,
  ok_simultaneous,  // a simultaneous connect we resolve in the peer's favour
  nok,              // a simultaneous connect we resolve in ours (see keep_own_attempt)
  not_allowed,
  alive,  // a connection to that node is up: the peer says whether to replace it
  named,  // answer to flag::name_me: the name and creation we give the peer
};
std::string_view status_text(handshake_status s) noexcept;

// Acceptor: the peer's name arrived (and it has every required flag). Answer with
// handshake::decide().
struct need_status_decision {
  std::string peer_node;  // for a dynamic name request: the peer's host only
  dflags peer_flags = 0;  // as sent
  std::uint32_t peer_creation = 0;
  bool dynamic_name = false;  // the peer set flag::name_me: answer named (or nok/not_allowed)
};
// Initiator: the acceptor answered "alive" (it has a connection to us that it believes is
// up). Answer with handshake::answer_alive(): true if this attempt should replace it.
struct need_alive_decision {
  std::string peer_node;
};
struct handshake_done {
  std::string peer_node;
  dflags peer_flags = 0;        // as the peer sent them, digest bit expanded
  dflags negotiated_flags = 0;  // ours & peer's
  std::uint32_t peer_creation = 0;
  std::string this_node;  // differs from the configured one after a "named:" status
  std::uint32_t this_creation = 0;
};
// The handshake is over. Write out output() first: it may hold a refusal for the peer.
struct handshake_failed {
  error err;  // offset = bytes of the handshake stream consumed before the fault
  std::string reason;
};
using handshake_event =
    std::variant<need_status_decision, need_alive_decision, handshake_done, handshake_failed>;

class handshake {
 public:
  enum class state {
    idle,
    recv_name,         // acceptor
    await_status,      // acceptor: waiting for decide()
    recv_alive_reply,  // acceptor: sent "alive", waiting for "true"/"false"
    recv_reply,        // acceptor: sent challenge, waiting for 'r'
    recv_status,       // initiator
    await_alive,       // initiator: waiting for answer_alive()
    recv_challenge,    // initiator
    recv_ack,          // initiator
    done,
    failed,
  };

  explicit handshake(handshake_config cfg);

  // Checks the configuration; an initiator queues send_name. Call once, first.
  result<void> start();
  // Consumes whole handshake messages from `bytes`; returns how many bytes it used. It stops
  // after the last handshake message (what follows belongs to the connection) and while a
  // decision is pending: feed the unused bytes again later.
  std::size_t feed(std::span<const std::uint8_t> bytes);
  // Bytes to send, in order. The owner writes them and clears the vector.
  std::vector<std::uint8_t>& output() noexcept { return out_; }
  // The next event, if any.
  std::optional<handshake_event> poll();

  // Acceptor, after need_status_decision. `named` needs decide_named().
  result<void> decide(handshake_status s);
  result<void> decide_named(std::string node_name, std::uint32_t creation);
  // Initiator, after need_alive_decision.
  result<void> answer_alive(bool replace);

  state current_state() const noexcept { return st_; }
  bool is_done() const noexcept { return st_ == state::done; }
  bool has_failed() const noexcept { return st_ == state::failed; }
  const handshake_config& config() const noexcept { return cfg_; }
  std::chrono::milliseconds setup_timeout() const noexcept { return cfg_.setup_timeout; }

 private:
  bool receiving() const noexcept;
  void process(std::span<const std::uint8_t> msg);
  void on_name(std::span<const std::uint8_t> msg);
  void on_alive_reply(std::span<const std::uint8_t> msg);
  void on_reply(std::span<const std::uint8_t> msg);
  void on_status(std::span<const std::uint8_t> msg);
  void on_challenge(std::span<const std::uint8_t> msg);
  void on_ack(std::span<const std::uint8_t> msg);
  void send(std::span<const std::uint8_t> payload);
  void send_status(std::string_view text);
  void send_challenge();
  void finish();
  void fail(errc e, std::string reason, std::size_t at_msg_offset = 0);

  handshake_config cfg_;
  state st_ = state::idle;
  std::vector<std::uint8_t> out_;
  std::deque<handshake_event> events_;
  // Incoming message assembly.
  std::array<std::uint8_t, 4> len_buf_{};
  std::size_t len_have_ = 0;
  std::optional<std::size_t> msg_len_;
  std::vector<std::uint8_t> msg_;
  std::size_t consumed_ = 0;   // handshake stream bytes fully consumed
  std::size_t msg_start_ = 0;  // stream offset of the current message's payload
  // Negotiation state.
  std::string this_node_;
  std::uint32_t this_creation_ = 0;
  std::string peer_node_;
  dflags peer_flags_ = 0;
  std::uint32_t peer_creation_ = 0;
  std::uint32_t our_challenge_ = 0;
  bool dynamic_ = false;
};

}  // namespace erlnode::dist

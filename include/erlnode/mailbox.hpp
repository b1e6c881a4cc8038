// A mailbox: a pid on our node that can send and receive Erlang messages.
//
// Messages arrive in order per sender, from local mailboxes or from remote nodes. Receive with
// any Asio completion token (`co_await mb.async_receive(use_awaitable)`, a callback,
// `use_future`) or block with a timeout. Sending is thread-safe and never waits; the
// async_send forms wait for room in a full connection send queue (backpressure).
#pragma once

#include <erlnode/mailbox_queue.hpp>
#include <erlnode/net/completion.hpp>
#include <erlnode/node_error.hpp>
#include <erlnode/result.hpp>
#include <erlnode/term.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <system_error>

namespace erlnode {

class node;
namespace detail {
class node_impl;
}

// Options of spawn_request (erlang:spawn_request/5).
struct spawn_options {
  bool link = false;     // link the new process to this mailbox
  bool monitor = false;  // monitor it; the monitor reference is the request id
  // Which {spawn_reply, ReqId, ok|error, PidOrReason} messages this mailbox receives.
  enum class reply_mode { yes, no, error_only, success_only } reply = reply_mode::yes;
  std::optional<pid> group_leader;  // default: this mailbox's group leader
};

class mailbox {
 public:
  using executor_type = boost::asio::any_io_executor;

  mailbox() = default;  // an empty handle
  mailbox(mailbox&&) noexcept = default;
  mailbox& operator=(mailbox&& o) noexcept;
  mailbox(const mailbox&) = delete;
  mailbox& operator=(const mailbox&) = delete;
  ~mailbox();  // closes: the pid dies, its registered name is freed

  explicit operator bool() const noexcept { return q_ != nullptr; }
  const pid& self() const noexcept { return q_->self(); }
  executor_type get_executor() const noexcept { return q_->get_executor(); }

  // --- sending (any thread) ---------------------------------------------------------------
  // To a pid on this or another node. A pid of an unconnected node connects first (see
  // node_options::dist_auto_connect); messages wait in order meanwhile. A message to a dead
  // pid or an unreachable node is dropped, as in Erlang; the error says why when known now.
  std::error_code send(const pid& to, const term& msg);
  // To {Name, Node}; Node may be our own node.
  std::error_code send(atom name, atom node, const term& msg);
  // To a name registered on our node.
  std::error_code send(atom name, const term& msg);
  // Like send, but completes (void(std::error_code)) once the message is in the connection's
  // send queue, waiting while the queue is over its bound and while connecting.
  template <class Token>
  auto async_send(const pid& to, term msg, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::error_code)>(
        [this](auto h, pid to, term msg) {
          start_send(term(std::move(to)), atom(), std::move(msg),
                     net::any_completion<std::error_code>(std::move(h), get_executor()));
        },
        token, to, std::move(msg));
  }
  template <class Token>
  auto async_send(atom name, atom node, term msg, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::error_code)>(
        [this](auto h, atom name, atom node, term msg) {
          start_send(term(name), node, std::move(msg),
                     net::any_completion<std::error_code>(std::move(h), get_executor()));
        },
        token, name, node, std::move(msg));
  }

  // --- receiving --------------------------------------------------------------------------
  // Completes with void(std::error_code, term): the next message, node_errc::timeout, or
  // node_errc::closed (the mailbox died; see exit_reason()).
  template <class Token>
  auto async_receive(Token&& token) {
    return async_receive(match_fn(), infinity, std::forward<Token>(token));
  }
  template <class Token>
  auto async_receive(std::chrono::milliseconds timeout, Token&& token) {
    return async_receive(match_fn(), timeout, std::forward<Token>(token));
  }
  // Selective receive: the first message `match` accepts; the others stay queued in order.
  template <class Token>
  auto async_receive(match_fn match, std::chrono::milliseconds timeout, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::error_code, term)>(
        [q = q_](auto h, match_fn match, std::chrono::milliseconds timeout) {
          q->async_pop(net::any_completion<std::error_code, term>(std::move(h), q->get_executor()),
                       std::move(match), timeout);
        },
        token, std::move(match), timeout);
  }
  // Selective receive with an Erlang pattern (text::pattern), e.g. "{reply, Ref, _}".
  template <class Token>
  auto async_receive(const pattern& p, std::chrono::milliseconds timeout, Token&& token) {
    return async_receive(match_fn([p](const term& t) { return p.match(t).has_value(); }), timeout,
                         std::forward<Token>(token));
  }
  // Block the calling thread (never call them on a thread that runs the node's executor).
  result<term> receive(std::chrono::milliseconds timeout = infinity);
  result<term> receive(const match_fn& match, std::chrono::milliseconds timeout = infinity);
  result<term> receive(const pattern& p, std::chrono::milliseconds timeout = infinity);
  std::optional<term> try_receive(const match_fn& match = {});
  std::size_t queued() const { return q_->size(); }

  // --- links and exit signals (erlang:link/1, unlink/1, exit/2, process_flag(trap_exit)) ----
  // Links this process and `other` (local or remote). A dead or unknown `other` gives this
  // process an exit signal `noproc`; a node that cannot be reached, `noconnection`.
  std::error_code link(const pid& other);
  // Removes the link (UNLINK_ID protocol); exit signals in flight from `other` are ignored.
  std::error_code unlink(const pid& other);
  // Exit signals become {'EXIT', From, Reason} messages instead of killing this process
  // (`kill` always kills).
  void trap_exit(bool on);
  bool trapping_exits() const;
  // Sends the exit signal `reason` to `to` (erlang:exit/2).
  std::error_code exit(const pid& to, const term& reason);
  // This process exits with `reason`: links and monitors are told, the name is freed, pending
  // receives complete with node_errc::closed. close() is exit(normal).
  void exit(const term& reason);
  // Why the process died (a term such as normal, killed, noconnection), once it has.
  std::optional<term> exit_reason() const;
  bool alive() const;

  // --- monitors (erlang:monitor/2, demonitor/2, monitor_node/2) ----------------------------
  // {'DOWN', Ref, process, Pid, Reason} arrives when `target` dies (noproc if it is already
  // dead or unknown, noconnection if its node is or becomes unreachable).
  reference monitor(const pid& target);
  // A registered name on `node` (our own node included); the DOWN message names
  // {Name, Node}.
  reference monitor(atom name, atom node);
  // Removes the monitor; with `flush`, also a DOWN message of it already queued. False when
  // there was no such active monitor.
  bool demonitor(const reference& ref, bool flush = false);
  // {nodedown, Node} arrives when the connection to `node` goes down (connecting first if
  // needed; at once if it cannot be reached).
  std::error_code monitor_node(atom node, bool on = true);

  // --- aliases (erlang:alias/0, unalias/1) -------------------------------------------------
  // A reference whose messages arrive in this mailbox until unalias (or until the mailbox
  // dies). Messages to an inactive alias are dropped.
  reference alias();
  bool unalias(const reference& alias);
  // Sends to an alias of any node (ALIAS_SEND).
  std::error_code send(const reference& alias, const term& msg);

  // --- group leader, spawning ---------------------------------------------------------------
  // Our group leader: our own pid until set (io requests to it are not served).
  pid group_leader() const;
  void set_group_leader(const pid& gl);
  // erlang:spawn_request(Node, M, F, Args, Opts): asks `node` to start M:F(Args). The result
  // arrives as {spawn_reply, ReqId, ok, Pid} or {spawn_reply, ReqId, error, Reason} (per
  // opts.reply), then {'DOWN', ReqId, process, Pid, Reason} with opts.monitor.
  result<reference> spawn_request(atom node, atom module, atom function, const list& args,
                                  const spawn_options& opts = {});

  // --- names ------------------------------------------------------------------------------
  // Registers this mailbox as `name` on our node (node_errc::name_taken if another has it).
  result<void> register_name(atom name);
  void unregister_name();
  // The pid dies now (exit reason normal); pending receives complete with node_errc::closed.
  void close();

 private:
  friend class detail::node_impl;
  friend class node;
  mailbox(std::shared_ptr<detail::node_impl> n, std::shared_ptr<mailbox_queue> q)
      : node_(std::move(n)), q_(std::move(q)) {}
  void start_send(term to, atom node, term msg, net::any_completion<std::error_code> h);

  std::shared_ptr<detail::node_impl> node_;
  std::shared_ptr<mailbox_queue> q_;
};

}  // namespace erlnode

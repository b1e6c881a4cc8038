// Calling gen_servers (Erlang or C++, local or remote) from a C++ mailbox, as gen:call does.
//
//   auto r = gen::call(mb, gen::server_ref(atom("kv"), atom("erl@host")), term(atom("get")), 5s);
//   if (r) use(r.value()); else if (r.error() == gen::call_errc::timeout) ...
//   gen::call_result r2 = co_await gen::async_call(mb, dest, req, 5s, use_awaitable);
//
// A call monitors the server, creates an alias for the reply, sends
// {'$gen_call', {Self, [alias|Alias]}, Request}, and waits (selective receive: other messages
// stay queued in order) for {[alias|Alias], Reply} or the monitor's DOWN. Afterwards the
// monitor is removed with flush and the alias deactivated, so a late reply is dropped.
#pragma once

#include <erlnode/mailbox.hpp>
#include <erlnode/net/completion.hpp>
#include <erlnode/node.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/async_result.hpp>

#include <chrono>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

namespace erlnode::gen {

// gen_server:call/2's default timeout.
inline constexpr std::chrono::milliseconds default_timeout{5000};

// Why a call returned no reply; call_result::reason() holds the term gen:call would exit with.
enum class call_errc {
  noproc = 1,    // no such process or name (reason noproc)
  timeout,       // no reply in time (reason timeout)
  nodedown,      // the server's node is or went unreachable (reason {nodedown, Node})
  exited,        // the server died before replying (reason: its exit reason)
  calling_self,  // the server is the calling mailbox (reason calling_self)
  closed,        // the calling mailbox died meanwhile (reason: its exit reason)
};
const std::error_category& call_category() noexcept;
inline std::error_code make_error_code(call_errc e) noexcept {
  return {static_cast<int>(e), call_category()};
}

}  // namespace erlnode::gen

template <>
struct std::is_error_code_enum<erlnode::gen::call_errc> : std::true_type {};

namespace erlnode::gen {

// Where a gen_server lives: a pid, a name registered on the caller's node, or {Name, Node}.
class server_ref {
 public:
  server_ref(pid p) : pid_(std::move(p)) {}
  server_ref(atom local_name) : name_(local_name) {}
  server_ref(atom name, atom node) : name_(name), node_(node) {}
  // Pid | Name | {Name, Node}, as gen_server:call takes them; nullopt for anything else.
  static std::optional<server_ref> from_term(const term& t);

  const std::optional<pid>& as_pid() const noexcept { return pid_; }
  atom name() const noexcept { return name_; }  // when not a pid
  // The node the server is on; `self_node` for a local name.
  atom node(atom self_node) const noexcept {
    return pid_ ? pid_->node() : node_ ? *node_ : self_node;
  }
  term to_term() const;  // Pid | Name | {Name, Node}

 private:
  std::optional<pid> pid_;
  atom name_;
  std::optional<atom> node_;
};

// A reply or the reason there is none.
class call_result {
 public:
  call_result(term reply) : value_(std::move(reply)) {}
  call_result(call_errc e, term reason) : err_(e), value_(std::move(reason)) {}

  bool has_value() const noexcept { return !err_; }
  explicit operator bool() const noexcept { return has_value(); }
  // The reply; throws std::logic_error if there is none.
  const term& value() const;
  std::error_code error() const noexcept {
    return err_ ? make_error_code(*err_) : std::error_code();
  }
  // Without a reply: noproc, timeout, {nodedown, Node}, the callee's exit reason, ...
  const term& reason() const noexcept { return value_; }

 private:
  std::optional<call_errc> err_;
  term value_;
};

namespace detail {
void start_call(mailbox& self, server_ref dest, term request, std::chrono::milliseconds timeout,
                net::any_completion<call_result> h);
}

// gen_server:call(Dest, Request, Timeout) from `self`, blocking the calling thread (never call
// it on a thread that runs the node's executor: the reply could not be delivered).
call_result call(mailbox& self, const server_ref& dest, const term& request,
                 std::chrono::milliseconds timeout = default_timeout);

// The same with any completion token, signature void(call_result). `self` must stay valid
// until completion; meanwhile it should not receive elsewhere (its other messages stay queued).
template <class Token>
auto async_call(mailbox& self, server_ref dest, term request, std::chrono::milliseconds timeout,
                Token&& token) {
  return boost::asio::async_initiate<Token, void(call_result)>(
      [&self](auto h, server_ref dest, term request, std::chrono::milliseconds timeout) {
        detail::start_call(self, std::move(dest), std::move(request), timeout,
                           net::any_completion<call_result>(std::move(h), self.get_executor()));
      },
      token, std::move(dest), std::move(request), timeout);
}

// gen_server:cast/2: sends {'$gen_cast', Request}; like Erlang, never tells whether a server
// got it (the error is only a local send failure such as node_errc::not_connected).
std::error_code cast(mailbox& self, const server_ref& dest, const term& request);

// gen_server:abcast(Nodes, Name, Request): a cast to Name on every node.
void abcast(mailbox& self, const std::vector<atom>& nodes, atom name, const term& request);

// gen_server:multi_call(Nodes, Name, Request, Timeout): {Replies, BadNodes}. Replies are in
// the order they arrived; a node whose server is missing, dies, is unreachable or does not
// answer in time is bad. The calls go out from a temporary mailbox of `n` (as OTP's middleman
// process), so replies after the timeout are dropped with it.
struct multi_call_result {
  std::vector<std::pair<atom, term>> replies;
  std::vector<atom> bad_nodes;
};
multi_call_result multi_call(node& n, const std::vector<atom>& nodes, atom name,
                             const term& request, std::chrono::milliseconds timeout = infinity);
namespace detail {
void start_multi_call(node& n, std::vector<atom> nodes, atom name, term request,
                      std::chrono::milliseconds timeout, net::any_completion<multi_call_result> h);
}
// The same with any completion token, signature void(multi_call_result).
template <class Token>
auto async_multi_call(node& n, std::vector<atom> nodes, atom name, term request,
                      std::chrono::milliseconds timeout, Token&& token) {
  return boost::asio::async_initiate<Token, void(multi_call_result)>(
      [&n](auto h, std::vector<atom> nodes, atom name, term request,
           std::chrono::milliseconds timeout) {
        detail::start_multi_call(
            n, std::move(nodes), name, std::move(request), timeout,
            net::any_completion<multi_call_result>(std::move(h), n.get_executor()));
      },
      token, std::move(nodes), name, std::move(request), timeout);
}

}  // namespace erlnode::gen

// gen_server interop: a C++ gen_server that Erlang (gen_server:call/cast/multi_call/abcast,
// gen_server:stop) and C++ (gen::call/cast) can talk to, and the calling side
// (<erlnode/gen_call.hpp>).
//
//   auto srv = gen::server::start(node, atom("kv"), {
//       .call = [&](gen::context&, const term& req, const gen::from&) -> std::optional<term> {
//         return term(tuple{atom("ok"), req});
//       },
//       .cast = [&](gen::context&, const term& req) { ... },
//   }).value();
//
// Threading: the server is a process: one coroutine on its mailbox's executor (the node's
// executor) takes one message at a time and runs the matching handler. Handlers of one server
// never run concurrently, but may run on any thread that runs that executor. Synchronous
// handlers must not block (no blocking gen::call inside them); coroutine handlers may co_await
// (e.g. gen::async_call(ctx.self(), ...)), which holds the server until they finish, as a
// gen_server waiting in a handler does. server::stop and from::reply may be called from any
// thread. A running server keeps outstanding work on the executor (its pending receive), so
// io_context::run() returns only once every server has ended (stop, or the node's io stopped).
#pragma once

#include <erlnode/gen_call.hpp>
#include <erlnode/mailbox.hpp>
#include <erlnode/net/completion.hpp>
#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <system_error>

namespace erlnode {
class node;
}

namespace erlnode::gen {

namespace detail {
struct server_state;
}

// The caller of a '$gen_call': its pid and the tag to echo ([alias|Ref], {Ref, Node} from
// multi_call, a plain Ref, or anything else: the tag is opaque and echoed unchanged).
class from {
 public:
  from(pid caller, term tag) : caller_(std::move(caller)), tag_(std::move(tag)) {}
  // {Pid, Tag}; nullopt if `t` is not of that shape.
  static std::optional<from> from_term(const term& t);

  const pid& caller() const noexcept { return caller_; }
  const term& tag() const noexcept { return tag_; }
  term to_term() const { return tuple{caller_, tag_}; }
  // The alias the reply goes to: Ref of a [alias|Ref] or [[alias|Ref]|_] tag.
  std::optional<reference> reply_alias() const;

  // gen_server:reply(From, Reply) sent by the server that received the call, from any thread
  // and at any time (a handler that returned std::nullopt replies later with it).
  // node_errc::closed if that server is gone (or this `from` did not come from a server).
  std::error_code reply(const term& value) const;

 private:
  friend struct detail::server_state;
  pid caller_;
  term tag_;
  std::weak_ptr<detail::server_state> server_;
};

// gen_server:reply/2 sent from any mailbox: {Tag, Reply} to the alias, or else to the pid.
std::error_code reply(mailbox& via, const from& to, const term& value);

// What a handler can do to its own server.
class context {
 public:
  // The server's mailbox: its pid, and the mailbox to make calls from (async_call).
  mailbox& self() noexcept { return *self_; }
  // Ends the server once the running handler returns: terminate runs, then the process exits
  // with `reason` (as a handler returning {stop, Reason, ...}).
  void stop(term reason = term(atom("normal"))) { stop_ = std::move(reason); }
  bool stopping() const noexcept { return stop_.has_value(); }

 private:
  friend struct detail::server_state;
  explicit context(mailbox* m) : self_(m) {}
  mailbox* self_;
  std::optional<term> stop_;
};

// The callbacks. Each kind has a synchronous and a coroutine form; when both are set the
// coroutine form is used. A handler that throws ends the server (erlang_exception of class exit:
// with that reason; error: {Reason, Stack}; throw: {{nocatch, Value}, Stack}; any other
// exception: {{cpp_exception, <<what()>>}, []}), after terminate.
struct handlers {
  // handle_call: a value is the reply; std::nullopt means "no reply now" (keep `from` and
  // call from::reply later, or never). No call handler: the server exits {bad_call, Request}.
  std::function<std::optional<term>(context&, const term& request, const from& caller)> call;
  std::function<boost::asio::awaitable<std::optional<term>>(context&, term request, from caller)>
      async_call;
  // handle_cast ('$gen_cast' messages); ignored when unset.
  std::function<void(context&, const term& request)> cast;
  std::function<boost::asio::awaitable<void>(context&, term request)> async_cast;
  // handle_info (every other message); ignored when unset.
  std::function<void(context&, const term& msg)> info;
  std::function<boost::asio::awaitable<void>(context&, term msg)> async_info;
  // terminate(Reason): before the server exits by stop, a handler's stop() or exception, or
  // gen_server:stop from Erlang; not when the mailbox is killed by an exit signal.
  std::function<void(context&, const term& reason)> terminate;
};

// A running gen_server. The handle owns it: destroying the handle (or stop()) ends it.
class server {
 public:
  server() = default;
  server(server&&) noexcept = default;
  server& operator=(server&& o) noexcept;
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  // Serves on `mb` (registered or not); the loop starts on mb's executor.
  static server start(mailbox mb, handlers h);
  // A new mailbox registered as `name` on `n` (node_errc::name_taken if the name is in use).
  static result<server> start(node& n, atom name, handlers h);

  explicit operator bool() const noexcept { return s_ != nullptr; }
  const pid& self() const noexcept;
  // Asks the server to end with `reason` once its current handler returns (terminate runs);
  // returns at once. Only the first stop counts.
  void stop(term reason = term(atom("normal")));
  bool running() const;
  // The exit reason, once ended.
  std::optional<term> exit_reason() const;
  // Completes with void(term reason) when the server has ended (at once if it has).
  template <class Token>
  auto async_wait(Token&& token) {
    return boost::asio::async_initiate<Token, void(term)>(
        [this](auto h) { wait_impl(net::any_completion<term>(std::move(h), get_executor())); },
        token);
  }
  mailbox::executor_type get_executor() const;

 private:
  void wait_impl(net::any_completion<term> h);
  std::shared_ptr<detail::server_state> s_;
};

}  // namespace erlnode::gen

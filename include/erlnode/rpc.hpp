// RPC both ways: handlers that serve rpc:call / erpc:call from other nodes, and calls from C++
// into other nodes. Get it from node::rpc().
//
//   n.rpc().define(atom("math"), atom("add"), 2, [](const rpc_context&, const list& a) -> term {
//     return *a[0].to_int64() + *a[1].to_int64();
//   });
//   rpc_result r = co_await n.rpc().async_call(atom("b@host"), atom("erlang"), atom("node"),
//                                              list{}, 5s, use_awaitable);
//   if (r.ok()) use(r.value);
//
// Serving. Calls arrive the ways OTP 25 makes them:
// - erpc:call/rpc:call/erpc:multicall/rpc:multicall/erpc:send_request: SPAWN_REQUEST of
//   erpc:execute_call/4; the spawned process runs the handler and exits with the reason
//   erpc:execute_call gives ({Ref, return, V}, {Ref, throw, T}, {Ref, exit, R},
//   {Ref, error, R, Stack}); erpc:cast/rpc:cast: erpc:execute_cast/3.
// - rpc:block_call and the gen_server forms of `rex` ({call|block_call, M, F, A, GL}), the
//   C-node form {Pid, {call, M, F, A, GL}} -> {rex, Result} (erl_call, ei_rpc), $gen_cast
//   {cast, M, F, A, GL}, {Pid, {sbcast|send, Name, Msg}} and {Pid, features_request}.
//   `rex` is a mailbox of ours, started by the first node::rpc() (or, when that comes before
//   async_start, as soon as the node has started).
// An unknown M:F/Arity fails with error undef and the stack [{M, F, Args, []}], as on a BEAM.
// A handler fails as an Erlang function would by throwing erlang_exception (raise_error,
// raise_exit, raise_throw); an error with an empty stacktrace gets [{M, F, Arity, []}].
// Other C++ exceptions become class error with reason
//   badarg                              for erlnode::bad_term_access (a term of the wrong kind)
//   {cpp_exception, Type, What}         otherwise; Type and What are binaries (the demangled
//                                       type name and what(), or <<>> for non-std exceptions)
// A caller that gives up (timeout) does not stop the handler: it runs to its end and its
// result is dropped (as on a BEAM); nothing of it stays behind afterwards.
// Sync handlers run on the node's executor: keep them short, or use a coroutine handler.
#pragma once

#include <erlnode/mailbox_queue.hpp>
#include <erlnode/net/completion.hpp>
#include <erlnode/process.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace erlnode {

class node;

// What a handler learns about its caller.
struct rpc_context {
  atom caller_node;
  // The calling process: the sender of erpc's SPAWN_REQUEST (the process that called
  // erpc:call/rpc:call), or rex's client (rex forms).
  pid caller;
  pid group_leader;  // the caller's group leader (the caller itself when it named none, as
                     // rex requests with `user` or {send_stdout_to_caller, Pid} do)
};

// A synchronous handler: returns the result term, or throws erlang_exception (error, exit,
// throw) to fail as an Erlang function would; any other exception becomes an error.
using rpc_handler = std::function<term(const rpc_context&, const list& args)>;
// A coroutine handler (runs on the node's executor without blocking other calls).
using rpc_async_handler =
    std::function<boost::asio::awaitable<term>(const rpc_context&, const list& args)>;

// The outcome of one call from C++ into another node.
struct rpc_result {
  enum class status {
    ok,         // the function returned `value`
    exception,  // it raised: `cls` with reason `value` (and `stacktrace` for class error)
    timeout,    // no answer in time; the request was abandoned
    nodedown,   // the node could not be reached, or went down before answering
    badrpc,     // any other failure; `value` is the reason rpc:call puts in {badrpc, Reason}
                // (notsup, {'EXIT', killed}, ...; from a peer answering through rex, every
                // failure, since rex folds exceptions into {badrpc, {'EXIT', ...}})
  };
  status st = status::ok;
  term value;
  exception_class cls = exception_class::error;
  term stacktrace;  // class error only

  bool ok() const noexcept { return st == status::ok; }
  // What rpc:call/5 returns for this outcome: the value, a thrown term, or {badrpc, Reason}.
  term to_rpc_term() const;
  // erpc:call's way: the value, or throws erlang_exception: the remote class, reason and
  // stack for an exception, else error {erpc, timeout | noconnection | Reason}.
  const term& get() const;

  static rpc_result from_value(term v) { return {status::ok, std::move(v), {}, {}}; }
};

// Counters of the serving side.
struct rpc_stats {
  std::uint64_t calls = 0;    // calls served (erpc and rex), finished or not
  std::uint64_t casts = 0;    // casts served
  std::uint64_t running = 0;  // handlers running now
  std::uint64_t failed = 0;   // calls and casts that ended in an exception (undef included)
};

class rpc_server {
 public:
  using executor_type = boost::asio::any_io_executor;
  virtual ~rpc_server() = default;

  // --- serving ------------------------------------------------------------------------------
  // Defines module:function/arity (replacing an earlier definition).
  virtual void define(atom module, atom function, unsigned arity, rpc_handler h) = 0;
  virtual void define(atom module, atom function, unsigned arity, rpc_async_handler h) = 0;
  virtual bool undefine(atom module, atom function, unsigned arity) = 0;
  virtual rpc_stats stats() const = 0;

  // --- calling ------------------------------------------------------------------------------
  // Module:Function(Args) on `node` (our own node included), like erpc:call/5: through
  // erpc (SPAWN_REQUEST) when the peer negotiated SPAWN, else through its rex. Completes with
  // void(rpc_result) on the token's executor (use_awaitable, callbacks, use_future).
  template <class Token>
  auto async_call(atom node, atom module, atom function, list args,
                  std::chrono::milliseconds timeout, Token&& token) {
    return boost::asio::async_initiate<Token, void(rpc_result)>(
        [this](auto h, atom n, atom m, atom f, list a, std::chrono::milliseconds t) {
          start_call(n, m, f, std::move(a), t,
                     net::any_completion<rpc_result>(std::move(h), get_executor()));
        },
        token, node, module, function, std::move(args), timeout);
  }
  // Blocks the calling thread (never call it on a thread that runs the node's executor).
  rpc_result call(atom node, atom module, atom function, list args,
                  std::chrono::milliseconds timeout = infinity);
  // Like erpc:cast/4: starts Module:Function(Args) on `node` and forgets it. The error says
  // only why the request could not be sent now.
  virtual std::error_code cast(atom node, atom module, atom function, list args) = 0;
  // Like erpc:multicall/5: the same call on every node at once, one result per node in the
  // order given, all within `timeout`. Completes with void(std::vector<rpc_result>).
  template <class Token>
  auto async_multicall(std::vector<atom> nodes, atom module, atom function, list args,
                       std::chrono::milliseconds timeout, Token&& token) {
    return boost::asio::async_initiate<Token, void(std::vector<rpc_result>)>(
        [this](auto h, std::vector<atom> ns, atom m, atom f, list a, std::chrono::milliseconds t) {
          start_multicall(
              std::move(ns), m, f, std::move(a), t,
              net::any_completion<std::vector<rpc_result>>(std::move(h), get_executor()));
        },
        token, std::move(nodes), module, function, std::move(args), timeout);
  }
  std::vector<rpc_result> multicall(std::vector<atom> nodes, atom module, atom function, list args,
                                    std::chrono::milliseconds timeout = infinity);

  virtual executor_type get_executor() const = 0;

 protected:
  virtual void start_call(atom node, atom module, atom function, list args,
                          std::chrono::milliseconds timeout, net::any_completion<rpc_result> h) = 0;
  virtual void start_multicall(std::vector<atom> nodes, atom module, atom function, list args,
                               std::chrono::milliseconds timeout,
                               net::any_completion<std::vector<rpc_result>> h) = 0;
};

}  // namespace erlnode

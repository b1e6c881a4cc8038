// Processes: a C++ coroutine bound to a mailbox, started locally (node::spawn, spawn_link,
// spawn_monitor) or by other nodes (spawn/4, spawn_link/4, spawn_monitor/4, spawn_request,
// erpc), and the Erlang exceptions a process can raise.
//
//   n.define_process(atom("demo"), atom("echo"),
//                    [](mailbox& self, list args) -> boost::asio::awaitable<void> {
//                      auto [ec, msg] = co_await self.async_receive(as_tuple(use_awaitable));
//                      ...
//                    });
//   // erl: spawn_monitor('cpp@host', demo, echo, [1, 2])
//
// What other nodes see (checked against OTP 25 answering the same requests): SPAWN_REPLY
// comes before any other signal of the new process; spawn options the BEAM does not accept
// (`foo`, {priority, bogus}, {link, true}, ...) are answered with the error `badopt`; the
// arity in {M, F, Arity} is not checked against the argument list; an argument list that is
// not a proper list still gives a pid, whose process then exits with BEAM's badarg reason
// ({badarg, [{erlang, apply, [M, F, Args], ...}, ...]}); an undefined M:F exits with
// {undef, [{M, F, Args, []}]}.
#pragma once

#include <erlnode/mailbox.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

namespace erlnode {

class node;

// The body of a process: a coroutine taking the process's mailbox and the spawn arguments,
// in one of two forms:
//
//   awaitable<void> body(mailbox& self, list args);   // by reference (recommended)
//   awaitable<void> body(mailbox self, list args);    // by value
//
// By reference, the runner owns the mailbox and keeps it alive until the body has finished;
// the process then ends as the body did:
// - returning: exit `normal` (unless it exited already: self.exit(R), an exit signal, ...);
// - throwing erlang_exception of class exit: exit with that reason;
// - class error: exit reason {Reason, Stacktrace}, as the BEAM;
// - class throw: {{nocatch, Value}, Stacktrace}, as the BEAM;
// - any other C++ exception: as class error with the reason {cpp_exception, <<"what()">>}
//   (to_erlang_exception below), so the exit reason is {{cpp_exception, <<"...">>}, []}.
// Abnormal ends (error, throw, C++ exceptions) are logged, as the BEAM's error logger does.
// The body may move `self` elsewhere; the process then ends when that handle does.
//
// By value, the body owns its mailbox: the process ends `normal` when the body's frame is
// destroyed, unless the body called self.exit(Reason) first. An exception escaping such a
// body is logged but cannot change the reason: the frame (and with it the mailbox) is gone
// before the exception reaches the runner. Use the by-reference form to raise exits.
class process_function {
 public:
  using signature = boost::asio::awaitable<void>(mailbox& self, list args);

  process_function() = default;
  process_function(std::nullptr_t) {}
  template <class F>
  requires std::is_invocable_r_v<boost::asio::awaitable<void>, F&, mailbox&, list> process_function(
      F f)
      : f_(std::move(f)) {}
  template <class F>
  requires(!std::is_invocable_r_v<boost::asio::awaitable<void>, F&, mailbox&, list> &&
           std::is_invocable_r_v<boost::asio::awaitable<void>, F&, mailbox, list>)
      process_function(F f)
      : f_([g = std::move(f)](mailbox& self, list args) mutable {
          return g(std::move(self), std::move(args));
        }) {}

  explicit operator bool() const noexcept { return static_cast<bool>(f_); }
  // Starts the body (the coroutine runs when awaited); `self` must outlive it.
  boost::asio::awaitable<void> operator()(mailbox& self, list args) const {
    return f_(self, std::move(args));
  }

 private:
  std::function<signature> f_;
};

// The three classes of Erlang exceptions.
enum class exception_class { error, exit, throw_ };

// An Erlang exception raised from C++ (erlang:error/1, exit/1, throw/1). Handlers of rpc calls
// and process functions throw it to fail the way an Erlang function would.
class erlang_exception : public std::exception {
 public:
  erlang_exception(exception_class c, term reason, term stacktrace = list{});
  exception_class cls() const noexcept { return cls_; }
  const term& reason() const noexcept { return reason_; }
  const term& stacktrace() const noexcept { return stack_; }
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  exception_class cls_;
  term reason_;
  term stack_;
  std::string what_;
};

// erlang:error(Reason), erlang:exit(Reason), throw(Term).
[[noreturn]] void raise_error(term reason);
[[noreturn]] void raise_exit(term reason);
[[noreturn]] void raise_throw(term value);

// The atom of a class: error, exit or throw (as in try ... catch Class:Reason).
atom class_atom(exception_class c);

// Any caught exception as an Erlang one: erlang_exception as is; std::exception as class
// error with reason {cpp_exception, <<"what()">>}; anything else as error
// {cpp_exception, <<"unknown C++ exception">>}. A null pointer gives error
// {cpp_exception, <<"no exception">>}.
erlang_exception to_erlang_exception(const std::exception_ptr& e);

// The exit reason of a process that `e` escaped from (see process_function).
term exit_reason_of(const erlang_exception& e);

// --- the callback form of a process ---------------------------------------------------------
// Called once per message, in order. To end the process call self.exit(Reason) (or return
// after self.close()); throwing ends it as a throwing process_function does.
using message_handler = std::function<void(mailbox& self, const term& msg)>;
// A process_function that receives forever and hands each message to `on_message`
// (the spawn arguments are ignored). It ends when the mailbox dies.
process_function message_loop(message_handler on_message);

// --- spawn_link / spawn_monitor for local processes -----------------------------------------
// Like node::spawn, with `parent` linked to the new process (erlang:spawn_link/3) before it
// runs; the new process inherits parent's group leader.
pid spawn_link(node& n, const mailbox& parent, process_function f, list args = list{});
// Like node::spawn, with `watcher` monitoring the new process (erlang:spawn_monitor/3): the
// returned reference is that of the {'DOWN', Ref, process, Pid, Reason} message.
std::pair<pid, reference> spawn_monitor(node& n, const mailbox& watcher, process_function f,
                                        list args = list{});

}  // namespace erlnode

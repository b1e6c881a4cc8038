// Processes: a C++ coroutine bound to a mailbox, started locally or by other nodes
// (spawn/4, spawn_request, erpc), and the Erlang exceptions a process can raise.
#pragma once

#include <erlnode/mailbox.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/awaitable.hpp>

#include <exception>
#include <functional>
#include <string>

namespace erlnode {

// The body of a process. It owns its mailbox; when it returns the process exits `normal`,
// when it throws erlang_exception of class exit it exits with that reason, and any other
// exception exits with an error reason ({Reason, Stack} for class error, as the BEAM does).
using process_function = std::function<boost::asio::awaitable<void>(mailbox self, list args)>;

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

}  // namespace erlnode

// The message queue of one mailbox (process), shared by its handle and the node's registry.
//
// Thread-safe: any thread may push; receivers may wait on any thread or executor. Selective
// receive takes the first queued message a predicate accepts and leaves the others in order,
// as Erlang's receive does.
#pragma once

#include <erlnode/net/completion.hpp>
#include <erlnode/node_error.hpp>
#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <system_error>

namespace erlnode {

// "wait forever" for every receive timeout.
inline constexpr std::chrono::milliseconds infinity = std::chrono::milliseconds::max();

// A selective-receive predicate: true takes the message out of the queue.
using match_fn = std::function<bool(const term&)>;

class mailbox_queue {
 public:
  using executor_type = boost::asio::any_io_executor;
  mailbox_queue(pid self, executor_type ex) : self_(std::move(self)), ex_(std::move(ex)) {}

  // False when the mailbox is closed (the message is dropped, as for a dead pid).
  bool push(term msg);
  // The process is dead: wakes every waiter with node_errc::closed, drops queued and later
  // messages. `reason` is the exit reason (normal for close()); only the first close counts.
  void close(term reason = term(atom("normal")));
  bool closed() const;
  // The exit reason once closed.
  std::optional<term> exit_reason() const;

  // Empty `match` = any message. Waiters are served in the order they asked, each with the
  // first queued message its predicate accepts.
  std::optional<term> try_pop(const match_fn& match = {});
  // Blocks up to `timeout` (node_errc::timeout, or node_errc::closed).
  result<term> pop_for(std::chrono::milliseconds timeout, const match_fn& match = {});
  // Completes on the handler's executor with the message, node_errc::timeout (after
  // `timeout`; `infinity` never) or node_errc::closed.
  void async_pop(net::any_completion<std::error_code, term> h, match_fn match = {},
                 std::chrono::milliseconds timeout = infinity);
  std::size_t size() const;

  // process_flag(trap_exit, On): exit signals become {'EXIT', From, Reason} messages.
  bool trap_exit() const noexcept { return trap_exit_.load(std::memory_order_relaxed); }
  void set_trap_exit(bool on) noexcept { trap_exit_.store(on, std::memory_order_relaxed); }

  const pid& self() const noexcept { return self_; }
  const executor_type& get_executor() const noexcept { return ex_; }

 private:
  struct waiter {
    net::any_completion<std::error_code, term> h;
    match_fn match;
  };
  pid self_;
  executor_type ex_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<term> q_;
  std::deque<waiter> waiters_;
  std::size_t blocked_ = 0;  // threads in pop_for
  bool closed_ = false;
  std::optional<term> reason_;
  std::atomic<bool> trap_exit_{false};
};

}  // namespace erlnode

// The message queue of one mailbox (process), shared by its handle and the node's registry.
//
// Selective receive takes the first queued message a predicate accepts and leaves the others
// in order, as Erlang's receive does. Receivers that find nothing wait as "waiters", served in
// the order they asked: an arriving message goes to the first waiter whose predicate accepts it
// and is queued only when none does. So no queued message is ever accepted by a waiting
// receiver, and a waiter never rescans the queue: each message is matched once per waiter, on
// arrival (the BEAM's save pointer, taken to its end).
//
// Thread safety:
// - push, close, closed, exit_reason, size, try_pop, pop_for, async_pop and the trap_exit flag
//   may be called from any thread, concurrently with each other.
// - Completions never run inside the call that caused them: async_pop's handler is posted to
//   its associated executor (the queue's executor when it has none), with the message,
//   node_errc::timeout or node_errc::closed; exactly one of them, once.
// - Predicates run under the queue's lock, on the receiving thread or on whichever thread
//   pushes a message while the receiver waits. They must be quick, must not touch this queue
//   (deadlock) and should be pure: a predicate that throws while a message arrives counts as
//   "no match" (on the receiving thread the exception propagates to the receive call).
// - pop_for blocks its thread: never call it on a thread that runs the queue's executor.
// - The queue's executor must outlive the queue while a receive with a timeout is pending.
//
// Memory: a queue is 40 bytes (a node may hold a million idle mailboxes). The lock is a 4-byte
// futex word that also carries the flags, messages are a pooled singly linked ring, and the
// executor is shared by all queues that use the same one.
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
#include <cstdint>
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
  mailbox_queue(pid self, executor_type ex);
  // Pending receives complete with node_errc::closed, as for close().
  ~mailbox_queue();
  mailbox_queue(const mailbox_queue&) = delete;
  mailbox_queue& operator=(const mailbox_queue&) = delete;

  // False when the mailbox is closed (the message is dropped, as for a dead pid).
  bool push(term msg);
  // The process is dead: wakes every waiter with node_errc::closed, drops queued and later
  // messages. `reason` is the exit reason (normal for close()); only the first close counts.
  void close(term reason = term(atom("normal")));
  bool closed() const noexcept { return (word_.load(std::memory_order_acquire) & closed_bit) != 0; }
  // The exit reason once closed.
  std::optional<term> exit_reason() const;

  // Empty `match` = any message. Waiters are served in the order they asked, each with the
  // first queued message its predicate accepts.
  std::optional<term> try_pop(const match_fn& match = {});
  // Blocks up to `timeout` (node_errc::timeout, or node_errc::closed).
  result<term> pop_for(std::chrono::milliseconds timeout, const match_fn& match = {});
  // Completes on the handler's executor with the message, node_errc::timeout (after
  // `timeout`; `infinity` never; zero or less at once when nothing matches) or
  // node_errc::closed.
  void async_pop(net::any_completion<std::error_code, term> h, match_fn match = {},
                 std::chrono::milliseconds timeout = infinity);
  std::size_t size() const;

  // process_flag(trap_exit, On): exit signals become {'EXIT', From, Reason} messages.
  bool trap_exit() const noexcept {
    return (word_.load(std::memory_order_relaxed) & trap_exit_bit) != 0;
  }
  void set_trap_exit(bool on) noexcept {
    if (on)
      word_.fetch_or(trap_exit_bit, std::memory_order_relaxed);
    else
      word_.fetch_and(~trap_exit_bit, std::memory_order_relaxed);
  }

  const pid& self() const noexcept { return self_; }
  const executor_type& get_executor() const noexcept;

 private:
  struct msg_node;      // one queued message
  struct waiter;        // a receiver waiting for a matching message
  struct async_waiter;  // ... with a completion handler (and a timer)
  struct sync_waiter;   // ... blocked in pop_for
  struct shared_executor;
  class guard;

  // word_: bit 0 locked, bit 1 lock contended, bit 2 trap_exit, bit 3 closed.
  static constexpr std::uint32_t locked_bit = 1, contended_bit = 2, trap_exit_bit = 4,
                                 closed_bit = 8;
  void lock() const noexcept {
    if (word_.fetch_or(locked_bit, std::memory_order_acquire) & locked_bit) lock_slow();
  }
  void lock_slow() const noexcept;
  // One atomic add (the lock bit is ours, so subtracting it clears just that bit).
  void unlock() const noexcept {
    if (word_.fetch_sub(locked_bit, std::memory_order_release) & contended_bit) wake_one();
  }
  void wake_one() const noexcept;

  msg_node* take_locked(const match_fn& match);
  void link_locked(waiter* w) noexcept;
  void unlink_locked(waiter* w) noexcept;
  void drop_messages_locked() noexcept;
  void on_timer(async_waiter* w);

  pid self_;
  shared_executor* ex_;
  // Messages: a ring whose last node points at the first (empty: null). Once closed, the
  // ring is gone for good and the slot holds the exit reason (null: normal).
  union {
    msg_node* tail_;
    term* reason_;
  };
  waiter* waiters_ = nullptr;  // a doubly linked ring, oldest first
  mutable std::atomic<std::uint32_t> word_{0};
  std::uint32_t count_ = 0;  // queued messages
};

}  // namespace erlnode

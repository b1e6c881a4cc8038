// A mailbox: a pid on our node that can send and receive Erlang messages.
//
// Messages arrive in order per sender, from local mailboxes or from remote nodes. Receive with
// any Asio completion token (`co_await mb.async_receive(use_awaitable)`, a callback,
// `use_future`) or block with a timeout. Sending is thread-safe and never waits; the
// async_send forms wait for room in a full connection send queue (backpressure).
#pragma once

#include <erlnode/net/completion.hpp>
#include <erlnode/node_error.hpp>
#include <erlnode/result.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>

namespace erlnode {

class node;
namespace detail {
class node_impl;
}

// The message queue of one mailbox, shared by the handle and the node's routing table.
class mailbox_queue {
 public:
  using executor_type = boost::asio::any_io_executor;
  mailbox_queue(pid self, executor_type ex) : self_(std::move(self)), ex_(std::move(ex)) {}

  // Thread-safe. False when the mailbox is closed (the message is dropped, as for a dead pid).
  bool push(term msg);
  // Wakes every waiter with node_errc::closed; later pushes are dropped.
  void close();
  bool closed() const;
  std::optional<term> try_pop();
  // Blocks up to `timeout` (node_errc::timeout, or node_errc::closed).
  result<term> pop_for(std::chrono::milliseconds timeout);
  // Waiters are served in the order they asked.
  void async_pop(net::any_completion<std::error_code, term> h);
  std::size_t size() const;
  const pid& self() const noexcept { return self_; }
  const executor_type& get_executor() const noexcept { return ex_; }

 private:
  pid self_;
  executor_type ex_;
  mutable std::mutex m_;
  std::condition_variable cv_;
  std::deque<term> q_;
  std::deque<net::any_completion<std::error_code, term>> waiters_;
  std::size_t blocked_ = 0;  // threads in pop_for
  bool closed_ = false;
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
  // Completes with void(std::error_code, term): the next message, or node_errc::closed.
  template <class Token>
  auto async_receive(Token&& token) {
    return boost::asio::async_initiate<Token, void(std::error_code, term)>(
        [q = q_](auto h) {
          q->async_pop(net::any_completion<std::error_code, term>(std::move(h), q->get_executor()));
        },
        token);
  }
  // Blocks the calling thread (never call it on a thread that runs the node's executor).
  result<term> receive(std::chrono::milliseconds timeout);
  std::optional<term> try_receive();
  std::size_t queued() const { return q_->size(); }

  // --- names ------------------------------------------------------------------------------
  // Registers this mailbox as `name` on our node (node_errc::name_taken if another has it).
  result<void> register_name(atom name);
  void unregister_name();
  // The pid dies now; pending receives complete with node_errc::closed.
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

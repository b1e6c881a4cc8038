#include <erlnode/mailbox_queue.hpp>

#include <algorithm>

namespace erlnode {

// Placeholder implementation of the queue contract (selective receive by linear scan; async
// timeouts not armed yet). The queue owner replaces it with the compact, timed version.

bool mailbox_queue::push(term msg) {
  net::any_completion<std::error_code, term> w;
  {
    std::lock_guard lk(m_);
    if (closed_) return false;
    auto it = std::find_if(waiters_.begin(), waiters_.end(),
                           [&](const waiter& x) { return !x.match || x.match(msg); });
    if (it == waiters_.end()) {
      q_.push_back(std::move(msg));
      if (blocked_) cv_.notify_all();
      return true;
    }
    w = std::move(it->h);
    waiters_.erase(it);
  }
  w(std::error_code(), std::move(msg));
  return true;
}

void mailbox_queue::close(term reason) {
  std::deque<waiter> ws;
  {
    std::lock_guard lk(m_);
    if (closed_) return;
    closed_ = true;
    reason_ = std::move(reason);
    q_.clear();
    ws.swap(waiters_);
  }
  cv_.notify_all();
  for (auto& w : ws) w.h(make_error_code(node_errc::closed), term());
}

bool mailbox_queue::closed() const {
  std::lock_guard lk(m_);
  return closed_;
}

std::optional<term> mailbox_queue::exit_reason() const {
  std::lock_guard lk(m_);
  return reason_;
}

std::optional<term> mailbox_queue::try_pop(const match_fn& match) {
  std::lock_guard lk(m_);
  auto it = std::find_if(q_.begin(), q_.end(), [&](const term& t) { return !match || match(t); });
  if (it == q_.end()) return std::nullopt;
  term t = std::move(*it);
  q_.erase(it);
  return t;
}

result<term> mailbox_queue::pop_for(std::chrono::milliseconds timeout, const match_fn& match) {
  std::unique_lock lk(m_);
  ++blocked_;
  std::optional<term> got;
  auto take = [&] {
    auto it = std::find_if(q_.begin(), q_.end(), [&](const term& t) { return !match || match(t); });
    if (it == q_.end()) return false;
    got = std::move(*it);
    q_.erase(it);
    return true;
  };
  bool ready = timeout == infinity ? (cv_.wait(lk, [&] { return closed_ || take(); }), true)
                                   : cv_.wait_for(lk, timeout, [&] { return closed_ || take(); });
  --blocked_;
  if (got) return std::move(*got);
  return error(ready ? node_errc::closed : node_errc::timeout);
}

void mailbox_queue::async_pop(net::any_completion<std::error_code, term> h, match_fn match,
                              std::chrono::milliseconds timeout) {
  (void)timeout;
  std::unique_lock lk(m_);
  auto it = std::find_if(q_.begin(), q_.end(), [&](const term& t) { return !match || match(t); });
  if (it != q_.end()) {
    term t = std::move(*it);
    q_.erase(it);
    lk.unlock();
    h(std::error_code(), std::move(t));
    return;
  }
  if (closed_) {
    lk.unlock();
    h(make_error_code(node_errc::closed), term());
    return;
  }
  waiters_.push_back(waiter{std::move(h), std::move(match)});
}

std::size_t mailbox_queue::size() const {
  std::lock_guard lk(m_);
  return q_.size();
}

}  // namespace erlnode

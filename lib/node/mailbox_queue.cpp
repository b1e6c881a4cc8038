#include <erlnode/mailbox.hpp>

namespace erlnode {

bool mailbox_queue::push(term msg) {
  net::any_completion<std::error_code, term> w;
  {
    std::lock_guard lk(m_);
    if (closed_) return false;
    if (waiters_.empty()) {
      q_.push_back(std::move(msg));
      if (blocked_) cv_.notify_one();
      return true;
    }
    w = std::move(waiters_.front());
    waiters_.pop_front();
  }
  w(std::error_code(), std::move(msg));
  return true;
}

void mailbox_queue::close() {
  std::deque<net::any_completion<std::error_code, term>> ws;
  {
    std::lock_guard lk(m_);
    if (closed_) return;
    closed_ = true;
    q_.clear();
    ws.swap(waiters_);
  }
  cv_.notify_all();
  for (auto& w : ws) w(make_error_code(node_errc::closed), term());
}

bool mailbox_queue::closed() const {
  std::lock_guard lk(m_);
  return closed_;
}

std::optional<term> mailbox_queue::try_pop() {
  std::lock_guard lk(m_);
  if (q_.empty()) return std::nullopt;
  term t = std::move(q_.front());
  q_.pop_front();
  return t;
}

result<term> mailbox_queue::pop_for(std::chrono::milliseconds timeout) {
  std::unique_lock lk(m_);
  ++blocked_;
  bool ready = cv_.wait_for(lk, timeout, [&] { return closed_ || !q_.empty(); });
  --blocked_;
  if (!q_.empty()) {
    term t = std::move(q_.front());
    q_.pop_front();
    return t;
  }
  return error(ready ? node_errc::closed : node_errc::timeout);
}

void mailbox_queue::async_pop(net::any_completion<std::error_code, term> h) {
  std::unique_lock lk(m_);
  if (!q_.empty()) {
    term t = std::move(q_.front());
    q_.pop_front();
    lk.unlock();
    h(std::error_code(), std::move(t));
    return;
  }
  if (closed_) {
    lk.unlock();
    h(make_error_code(node_errc::closed), term());
    return;
  }
  waiters_.push_back(std::move(h));
}

std::size_t mailbox_queue::size() const {
  std::lock_guard lk(m_);
  return q_.size();
}

}  // namespace erlnode

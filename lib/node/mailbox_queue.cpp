#include <erlnode/mailbox_queue.hpp>

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace erlnode {

namespace {

constexpr std::uint8_t pending = 0, done = 1;

// Timeouts longer than this (about 31 years) wait forever: the clocks would overflow.
constexpr std::chrono::milliseconds longest_timeout{1'000'000'000'000};
bool forever(std::chrono::milliseconds t) { return t >= longest_timeout; }

void futex_wait(std::atomic<std::uint32_t>& w, std::uint32_t expected) noexcept {
#if defined(__linux__)
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAIT_PRIVATE, expected, nullptr,
            nullptr, 0);
#else
  w.wait(expected, std::memory_order_relaxed);
#endif
}

void futex_wake_one(std::atomic<std::uint32_t>& w) noexcept {
#if defined(__linux__)
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&w), FUTEX_WAKE_PRIVATE, 1, nullptr,
            nullptr, 0);
#else
  w.notify_one();
#endif
}

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

// ------------------------------------------------------------------------------------------
// parts

struct mailbox_queue::msg_node {
  msg_node* next;
  term msg;
  static void* operator new(std::size_t n) { return detail::pool_alloc(n); }
  static void operator delete(void* p, std::size_t n) noexcept { detail::pool_free(p, n); }
};

struct mailbox_queue::waiter {
  waiter* next = nullptr;
  waiter* prev = nullptr;
  match_fn match;
  // pending until exactly one of message, close or timer claims it (exchange to done).
  std::atomic<std::uint8_t> state{pending};
  const bool sync;
  // Set by the claimer (under the queue lock): what the receive completes with.
  std::error_code ec;
  term msg;

  waiter(match_fn m, bool s) : match(std::move(m)), sync(s) {}
  bool claim() noexcept { return state.exchange(done, std::memory_order_acq_rel) == pending; }
  bool accepts(const term& t) const noexcept {
    if (!match) return true;
    try {
      return match(t);
    } catch (...) {
      return false;  // documented: a throwing predicate does not match
    }
  }
};

// Owned jointly by the waiter ring (until claimed) and, when timed, by the timer's handler.
struct mailbox_queue::async_waiter : waiter {
  net::any_completion<std::error_code, term> h;
  std::optional<boost::asio::steady_timer> timer;
  std::atomic<std::uint32_t> refs;
  async_waiter(net::any_completion<std::error_code, term> hh, match_fn m, std::uint32_t r)
      : waiter(std::move(m), false), h(std::move(hh)), refs(r) {}
  void release() noexcept {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // Posts the handler with the claimer's outcome; drops the ring's reference.
  void complete() {
    auto hh = std::move(h);
    std::error_code e = ec;
    term m = std::move(msg);
    release();
    hh(e, std::move(m));
  }
};

// Lives on the blocked thread's stack; the claimer sets `ready` after the queue lock is gone.
struct mailbox_queue::sync_waiter : waiter {
  std::mutex m;
  std::condition_variable cv;
  bool ready = false;
  explicit sync_waiter(const match_fn& mf) : waiter(mf, true) {}
  void complete() {
    std::lock_guard lk(m);
    ready = true;
    cv.notify_one();  // under the lock: the waiter's stack frame outlives this call
  }
};

// Every queue of a node uses the node's executor: one shared copy instead of one each.
struct mailbox_queue::shared_executor {
  std::atomic<std::size_t> refs{1};
  executor_type ex;
  bool interned = false;
  explicit shared_executor(executor_type e) : ex(std::move(e)) {}
};

namespace {
struct executor_table {
  std::mutex m;
  std::vector<void*> entries;  // shared_executor*, at most a few distinct executors
};
executor_table& executors() {
  static auto* t = new executor_table;  // never destroyed: queues may outlive static objects
  return *t;
}
constexpr std::size_t max_interned = 16;
}  // namespace

class mailbox_queue::guard {
 public:
  explicit guard(const mailbox_queue& q) noexcept : q_(&q) { q.lock(); }
  ~guard() { release(); }
  void release() noexcept {
    if (q_) std::exchange(q_, nullptr)->unlock();
  }
  guard(const guard&) = delete;
  guard& operator=(const guard&) = delete;

 private:
  const mailbox_queue* q_;
};

// ------------------------------------------------------------------------------------------
// lock: bit 0 held, bit 1 someone may sleep on the word

void mailbox_queue::lock_slow() const noexcept {
  for (int i = 0; i < 100; ++i) {
    cpu_relax();
    if (!(word_.load(std::memory_order_relaxed) & locked_bit) &&
        !(word_.fetch_or(locked_bit, std::memory_order_acquire) & locked_bit))
      return;
  }
  for (;;) {
    // Taking it from here marks it contended: the unlock that follows wakes the next sleeper.
    std::uint32_t old = word_.fetch_or(locked_bit | contended_bit, std::memory_order_acquire);
    if (!(old & locked_bit)) return;
    futex_wait(word_, old | locked_bit | contended_bit);
  }
}

// Called by the unlock that saw the contended bit. Clearing it here is safe: the thread this
// wakes sets it again if it has to sleep once more, and every thread that sleeps set it first.
void mailbox_queue::wake_one() const noexcept {
  word_.fetch_and(~contended_bit, std::memory_order_relaxed);
  futex_wake_one(word_);
}

// ------------------------------------------------------------------------------------------
// life

mailbox_queue::mailbox_queue(pid self, executor_type ex) : self_(std::move(self)), tail_(nullptr) {
  auto& t = executors();
  {
    std::lock_guard lk(t.m);
    for (void* p : t.entries) {
      auto* s = static_cast<shared_executor*>(p);
      if (s->ex != ex) continue;
      // A count already at zero is being freed: never revive it.
      std::size_t r = s->refs.load(std::memory_order_relaxed);
      while (r != 0 && !s->refs.compare_exchange_weak(r, r + 1, std::memory_order_relaxed)) {
      }
      if (r != 0) {
        ex_ = s;
        return;
      }
    }
  }
  auto* s = new shared_executor(std::move(ex));
  std::lock_guard lk(t.m);
  if (t.entries.size() < max_interned) {
    s->interned = true;
    t.entries.push_back(s);
  }
  ex_ = s;
}

mailbox_queue::~mailbox_queue() {
  close();
  // A waiter its timer claimed just before close is unlinked by that timer's handler, which
  // is running now: let it finish with this queue.
  for (;;) {
    {
      guard g(*this);
      if (!waiters_) break;
    }
    std::this_thread::yield();
  }
  delete reason_;
  if (ex_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    if (ex_->interned) {
      auto& t = executors();
      std::lock_guard lk(t.m);
      t.entries.erase(std::find(t.entries.begin(), t.entries.end(), ex_));
    }
    delete ex_;
  }
}

const mailbox_queue::executor_type& mailbox_queue::get_executor() const noexcept { return ex_->ex; }

// ------------------------------------------------------------------------------------------
// lists (all under the lock)

void mailbox_queue::link_locked(waiter* w) noexcept {
  if (!waiters_) {
    w->next = w->prev = w;
    waiters_ = w;
    return;
  }
  waiter* last = waiters_->prev;
  w->prev = last;
  w->next = waiters_;
  last->next = w;
  waiters_->prev = w;
}

void mailbox_queue::unlink_locked(waiter* w) noexcept {
  if (w->next == w) {
    waiters_ = nullptr;
  } else {
    w->prev->next = w->next;
    w->next->prev = w->prev;
    if (waiters_ == w) waiters_ = w->next;
  }
  w->next = w->prev = nullptr;
}

// The first queued message `match` accepts, unlinked from the ring (null: none).
mailbox_queue::msg_node* mailbox_queue::take_locked(const match_fn& match) {
  if (count_ == 0) return nullptr;
  msg_node* prev = tail_;
  msg_node* cur = tail_->next;
  for (std::uint32_t i = 0; i < count_; ++i, prev = cur, cur = cur->next) {
    if (match && !match(cur->msg)) continue;
    if (--count_ == 0) {
      tail_ = nullptr;
    } else {
      prev->next = cur->next;
      if (cur == tail_) tail_ = prev;
    }
    return cur;
  }
  return nullptr;
}

void mailbox_queue::drop_messages_locked() noexcept {
  if (count_ == 0) return;
  msg_node* n = tail_->next;
  tail_->next = nullptr;
  while (n) delete std::exchange(n, n->next);
  tail_ = nullptr;
  count_ = 0;
}

// ------------------------------------------------------------------------------------------
// operations

bool mailbox_queue::push(term msg) {
  waiter* taken = nullptr;
  msg_node* n = nullptr;
  {
    guard g(*this);
    if (word_.load(std::memory_order_relaxed) & closed_bit) return false;
    if (waiters_) {
      waiter* w = waiters_;
      do {
        // Waiters whose timer already claimed them are on their way out: skip.
        if (w->state.load(std::memory_order_acquire) == pending && w->accepts(msg) && w->claim()) {
          taken = w;
          break;
        }
        w = w->next;
      } while (w != waiters_);
    }
    if (taken) {
      unlink_locked(taken);
      taken->msg = std::move(msg);
      if (!taken->sync) {
        auto* a = static_cast<async_waiter*>(taken);
        if (a->timer) a->timer->cancel();
      }
    } else {
      // Allocating under the lock keeps the common case to one lock round trip.
      n = new msg_node{nullptr, std::move(msg)};
      if (count_ == 0) {
        n->next = n;
      } else {
        n->next = tail_->next;
        tail_->next = n;
      }
      tail_ = n;
      ++count_;
    }
  }
  if (taken) {
    if (taken->sync)
      static_cast<sync_waiter*>(taken)->complete();
    else
      static_cast<async_waiter*>(taken)->complete();
  }
  return true;
}

void mailbox_queue::close(term reason) {
  term* r = reason.is_atom(atom("normal")) ? nullptr : new term(std::move(reason));
  waiter* woken = nullptr;  // chained through `next` once unlinked
  {
    guard g(*this);
    if (word_.load(std::memory_order_relaxed) & closed_bit) {
      g.release();
      delete r;
      return;
    }
    drop_messages_locked();
    reason_ = r;
    word_.fetch_or(closed_bit, std::memory_order_release);
    // Unlink every waiter this close claims; a waiter claimed by its timer stays linked until
    // that timer's handler unlinks it.
    std::size_t n = 0;
    if (waiters_) {
      waiter* w = waiters_;
      do {
        ++n;
        w = w->next;
      } while (w != waiters_);
    }
    waiter** last = &woken;
    for (waiter* w = waiters_; n > 0; --n) {
      waiter* next = w->next;
      if (w->claim()) {
        unlink_locked(w);
        w->ec = make_error_code(node_errc::closed);
        if (!w->sync) {
          auto* a = static_cast<async_waiter*>(w);
          if (a->timer) a->timer->cancel();
        }
        *last = w;
        last = &w->next;
      }
      w = next;
    }
  }
  while (woken) {
    waiter* w = std::exchange(woken, woken->next);
    if (w->sync)
      static_cast<sync_waiter*>(w)->complete();
    else
      static_cast<async_waiter*>(w)->complete();
  }
}

std::optional<term> mailbox_queue::exit_reason() const {
  guard g(*this);
  if (!(word_.load(std::memory_order_relaxed) & closed_bit)) return std::nullopt;
  if (reason_) return *reason_;
  return term(atom("normal"));
}

std::optional<term> mailbox_queue::try_pop(const match_fn& match) {
  msg_node* n;
  {
    guard g(*this);
    n = take_locked(match);
  }
  if (!n) return std::nullopt;
  term t = std::move(n->msg);
  delete n;
  return t;
}

std::size_t mailbox_queue::size() const {
  guard g(*this);
  return count_;
}

result<term> mailbox_queue::pop_for(std::chrono::milliseconds timeout, const match_fn& match) {
  const bool wait_forever = forever(timeout);
  const auto deadline = wait_forever ? std::chrono::steady_clock::time_point()
                                     : std::chrono::steady_clock::now() + timeout;
  std::optional<sync_waiter> w;
  {
    guard g(*this);
    if (msg_node* n = take_locked(match)) {
      g.release();
      term t = std::move(n->msg);
      delete n;
      return t;
    }
    if (word_.load(std::memory_order_relaxed) & closed_bit) return error(node_errc::closed);
    if (timeout <= std::chrono::milliseconds::zero()) return error(node_errc::timeout);
    w.emplace(match);
    link_locked(&*w);
  }
  auto outcome = [&]() -> result<term> {
    if (w->ec) return error(w->ec);
    return std::move(w->msg);
  };
  {
    std::unique_lock lk(w->m);
    if (wait_forever) {
      w->cv.wait(lk, [&] { return w->ready; });
      return outcome();
    }
    if (w->cv.wait_until(lk, deadline, [&] { return w->ready; })) return outcome();
  }
  bool mine;
  {
    guard g(*this);
    mine = w->claim();
    if (mine) unlink_locked(&*w);
  }
  if (mine) return error(node_errc::timeout);
  // A message or close claimed us as the time ran out: take what it brings.
  std::unique_lock lk(w->m);
  w->cv.wait(lk, [&] { return w->ready; });
  return outcome();
}

void mailbox_queue::async_pop(net::any_completion<std::error_code, term> h, match_fn match,
                              std::chrono::milliseconds timeout) {
  const bool timed = !forever(timeout);
  {
    guard g(*this);
    if (msg_node* n = take_locked(match)) {
      g.release();
      term t = std::move(n->msg);
      delete n;
      h(std::error_code(), std::move(t));
      return;
    }
    if (word_.load(std::memory_order_relaxed) & closed_bit) {
      g.release();
      h(make_error_code(node_errc::closed), term());
      return;
    }
    if (timed && timeout <= std::chrono::milliseconds::zero()) {
      g.release();
      h(make_error_code(node_errc::timeout), term());
      return;
    }
    auto* w = new async_waiter(std::move(h), std::move(match), timed ? 2 : 1);
    link_locked(w);
    if (timed) {
      // Armed under the lock, as cancel() is: the timer object is only touched under it.
      w->timer.emplace(ex_->ex);
      w->timer->expires_after(timeout);
      w->timer->async_wait([this, w](const boost::system::error_code&) { on_timer(w); });
    }
  }
}

// The timer's handler: times the waiter out unless a message or close claimed it first. The
// queue is alive here: one that claimed the waiter would unlink it and keep the queue from
// being destroyed until then (see the destructor); one that did not must still be linked.
void mailbox_queue::on_timer(async_waiter* w) {
  if (w->claim()) {
    {
      guard g(*this);
      unlink_locked(w);
    }
    w->ec = make_error_code(node_errc::timeout);
    w->complete();
  }
  w->release();  // the timer's reference
}

}  // namespace erlnode

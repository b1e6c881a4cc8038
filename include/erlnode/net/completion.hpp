// A move-only, type-erased completion handler that remembers where it must run.
//
// Asio completion tokens (use_awaitable, use_future, callbacks) produce handlers of many types;
// the node and the mailboxes keep them across threads in non-template code. Calling one posts
// it to the handler's associated executor (keeping that executor's work count up meanwhile),
// so a completion never runs inside the function that triggered it.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <memory>
#include <tuple>
#include <utility>

namespace erlnode::net {

template <class... Args>
class any_completion {
 public:
  any_completion() = default;
  template <class Handler, class Executor>
  any_completion(Handler&& h, const Executor& fallback)
      : p_(make(std::forward<Handler>(h), fallback)) {}

  explicit operator bool() const noexcept { return p_ != nullptr; }
  // Posts the handler with `args`; the object is empty afterwards.
  void operator()(Args... args) {
    auto p = std::move(p_);
    if (p) p->post(std::move(args)...);
  }

 private:
  struct base {
    virtual ~base() = default;
    virtual void post(Args... args) = 0;
  };
  template <class H, class W>
  struct impl final : base {
    impl(H&& hh, W ww) : h(std::move(hh)), work(std::move(ww)) {}
    void post(Args... args) override {
      auto w = std::move(work);
      boost::asio::post(w, [h = std::move(h), a = std::make_tuple(std::move(args)...)]() mutable {
        std::apply(std::move(h), std::move(a));
      });
    }
    H h;
    W work;
  };
  template <class Handler, class Executor>
  static std::unique_ptr<base> make(Handler&& h, const Executor& fallback) {
    using H = std::decay_t<Handler>;
    auto ex = boost::asio::get_associated_executor(h, fallback);
    auto work = boost::asio::prefer(ex, boost::asio::execution::outstanding_work.tracked);
    return std::make_unique<impl<H, decltype(work)>>(std::forward<Handler>(h), std::move(work));
  }
  std::unique_ptr<base> p_;
};

}  // namespace erlnode::net

#include <erlnode/run_loop.hpp>

#include <thread>

namespace erlnode {

std::size_t run_with_busy_poll(boost::asio::io_context& io, std::chrono::microseconds busy_poll) {
  if (busy_poll.count() <= 0) return io.run();
  using clock = std::chrono::steady_clock;
  std::size_t n = 0;
  while (!io.stopped()) {
    const std::size_t one = io.run_one();  // blocks until work comes
    if (one == 0) break;                   // stopped, or no work left
    n += one;
    auto idle_since = clock::now();
    while (!io.stopped()) {
      if (std::size_t k = io.poll(); k > 0) {
        n += k;
        idle_since = clock::now();
      } else if (clock::now() - idle_since >= busy_poll) {
        break;
      } else {
        std::this_thread::yield();  // other runnable threads get the core
      }
    }
  }
  return n;
}

}  // namespace erlnode

#include "run_loop.hpp"

#include <thread>

namespace erlnode::serve {

void run(boost::asio::io_context& io, std::chrono::microseconds spin) {
  if (spin.count() <= 0) {
    io.run();
    return;
  }
  using clock = std::chrono::steady_clock;
  while (!io.stopped()) {
    if (io.run_one() == 0) return;  // stopped, or no work left
    // Work came: run whatever is ready, and keep polling until `spin` passes without any.
    auto idle_since = clock::now();
    while (!io.stopped()) {
      if (io.poll() > 0) {
        idle_since = clock::now();
      } else if (clock::now() - idle_since >= spin) {
        break;
      } else {
        // Lets other runnable threads have the core (a loaded machine); returns at once when
        // there are none.
        std::this_thread::yield();
      }
    }
  }
}

}  // namespace erlnode::serve

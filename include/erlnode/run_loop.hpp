// Running an io_context with a bounded busy-poll before it sleeps, as BEAM schedulers
// busy-wait: a message or request arriving within the window is handled without the thread
// being put to sleep and woken again (on a virtual machine a wake-up costs tens of µs).
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace erlnode {

// Runs `io` until it is stopped or out of work, like io.run(). With busy_poll > 0, after each
// burst of work the loop keeps polling (io.poll(), yielding the core between empty polls) for
// up to busy_poll before it blocks. The price is CPU: up to busy_poll of one core after every
// burst; an idle node costs nothing, and a steady stream of work closer together than
// busy_poll keeps one core busy. Returns the number of handlers run.
std::size_t run_with_busy_poll(boost::asio::io_context& io, std::chrono::microseconds busy_poll);

}  // namespace erlnode

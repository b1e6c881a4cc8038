// The io_context loop of erlnode-serve, with an optional bounded busy-poll before sleeping.
#pragma once

#include <boost/asio/io_context.hpp>

#include <chrono>

namespace erlnode::serve {

// Runs `io` until it is stopped or runs out of work. With spin > 0, after the last handler ran
// the loop keeps polling the reactor (epoll_wait with a zero timeout) for up to `spin` before
// it blocks: a request arriving within that window is picked up without a sleep/wake-up of the
// thread, as a BEAM scheduler busy-waits before sleeping. The price is CPU: up to `spin` of
// one core after every burst of work (a node idle for longer costs nothing; a steady stream
// of requests closer together than `spin` keeps one core busy). Each empty poll yields the
// core, so other runnable threads are not starved.
void run(boost::asio::io_context& io, std::chrono::microseconds spin);

}  // namespace erlnode::serve

#include <erlnode/run_loop.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

using namespace erlnode;
using namespace std::chrono_literals;

TEST_CASE("run_with_busy_poll runs every handler and returns when out of work") {
  for (auto spin : {0us, 200us}) {
    boost::asio::io_context io;
    int ran = 0;
    for (int i = 0; i < 10; ++i) boost::asio::post(io, [&] { ++ran; });
    boost::asio::steady_timer t(io, 20ms);
    t.async_wait([&](auto) { ++ran; });
    CHECK(run_with_busy_poll(io, spin) == 11);
    CHECK(ran == 11);
  }
}

TEST_CASE("run_with_busy_poll takes work from other threads and stops when asked") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::atomic<int> ran{0};
  std::thread t([&] { run_with_busy_poll(io, 500us); });
  for (int i = 0; i < 100; ++i) {
    boost::asio::post(io, [&] { ++ran; });
    if (i % 10 == 0) std::this_thread::sleep_for(2ms);  // some arrive while it sleeps
  }
  for (int i = 0; i < 500 && ran < 100; ++i) std::this_thread::sleep_for(1ms);
  CHECK(ran == 100);
  io.stop();
  t.join();
  CHECK(io.stopped());
}

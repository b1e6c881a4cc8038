// Unit-test helper: a node on its own io_context thread, epmd-less on a loopback address, so
// several nodes of one test reach each other (127.0.0.1, 127.0.0.2, ... on one free port).
#pragma once

#include <erlnode/node.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <thread>

namespace erlnode::testing {

// A port free on every loopback address right now.
inline std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// Named "n@<ip>" (long names), cookie "cookie", silent; `tweak` may change the options.
// Not started: call start().
struct test_node {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<node> n;
  std::thread th;
  test_node(const std::string& ip, std::uint16_t port,
            const std::function<void(node_options&)>& tweak = {}) {
    node_options o;
    o.name = "n@" + ip;
    o.long_names = true;
    o.cookie = "cookie";
    o.epmd_less_port = port;
    o.listen_address = ip;
    o.logger = [](log_level, std::string_view) {};
    if (tweak) tweak(o);
    n = std::make_unique<node>(io.get_executor(), o);
    th = std::thread([this] { io.run(); });
  }
  ~test_node() {
    n->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    work.reset();
    io.stop();
    th.join();
  }
  test_node(const test_node&) = delete;
  test_node& operator=(const test_node&) = delete;
  node* operator->() { return n.get(); }
  node& get() { return *n; }
  std::error_code start() { return n->async_start(boost::asio::use_future).get(); }
};

}  // namespace erlnode::testing

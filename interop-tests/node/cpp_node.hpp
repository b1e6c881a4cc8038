// A C++ node on its own io_context thread, with its log lines kept for the tests.
#pragma once

#include <erlnode/node.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace erlnode::interop {

class cpp_node {
 public:
  explicit cpp_node(node_options o) : work_(io_.get_executor()) {
    o.logger = [this](log_level, std::string_view s) {
      std::lock_guard lk(m_);
      logs_.emplace_back(s);
    };
    n_ = std::make_unique<node>(io_.get_executor(), std::move(o));
    th_ = std::thread([this] { io_.run(); });
  }
  ~cpp_node() {
    n_->stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    work_.reset();
    io_.stop();
    th_.join();
  }
  node& get() { return *n_; }
  node* operator->() { return n_.get(); }
  std::error_code start() { return n_->async_start(boost::asio::use_future).get(); }
  std::string name() const { return std::string(n_->name().text()); }
  bool ping(const std::string& peer) {
    auto [ec, pong] = n_->async_ping(peer, boost::asio::use_future).get();
    return !ec && pong;
  }
  // True if a log line containing `needle` appears within `timeout`.
  bool wait_log(const std::string& needle,
                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto end = std::chrono::steady_clock::now() + timeout;
    do {
      {
        std::lock_guard lk(m_);
        for (auto& l : logs_)
          if (l.find(needle) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } while (std::chrono::steady_clock::now() < end);
    return false;
  }
  std::string logs() {
    std::lock_guard lk(m_);
    std::string s;
    for (auto& l : logs_) s += l + "\n";
    return s;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::unique_ptr<node> n_;
  std::thread th_;
  std::mutex m_;
  std::vector<std::string> logs_;
};

}  // namespace erlnode::interop

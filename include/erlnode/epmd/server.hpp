// An epmd daemon as a library component: what tools/erlnode-epmd runs, and what
// epmd::ensure_running starts in-process when no epmd answers.
//
// Behaves like OTP's epmd towards erl, ei and the epmd CLI. Registrations live as long as their
// connection. Hostile clients only lose their own connection: requests must arrive within
// request_timeout, lengths are capped, and beyond max_pending_connections the oldest connection
// that is not a registration is closed.
#pragma once

#include <erlnode/epmd/protocol.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace erlnode::epmd {

struct server_options {
  std::uint16_t port = default_port;  // 0: any free port (see server::port())
  // Listen addresses. Empty: every IPv4 and IPv6 address. Otherwise these plus 127.0.0.1 and ::1,
  // like epmd -address.
  std::vector<boost::asio::ip::address> addresses;
  // KILL with nodes registered, and STOP, are refused unless set (epmd -relaxed_command_check).
  bool relaxed_command_check = false;
  // A client must send its whole request, and take the whole reply, within this time.
  std::chrono::milliseconds request_timeout{10'000};
  // Connections that are not registrations; a new one beyond this closes the oldest.
  std::size_t max_pending_connections = 1024;
  std::size_t max_nodes = 65'536;
  // TCP_DEFER_ACCEPT (1 s) on the listeners: a connection is accepted once its request arrives,
  // so a lookup costs one wake-up, accept4, recv, send and close, with no epoll registration.
  // A connection that sends nothing is accepted after the kernel's one second anyway, and then
  // gets request_timeout like any other (idle clients are still closed, just a second later;
  // until then they hold no descriptor).
  bool defer_accept = true;
  std::size_t max_request_length = 1024;
};

// Must run on a single-threaded executor (or a strand), or in run().
class server {
 public:
  server(boost::asio::any_io_executor ex, server_options opts = {});
  ~server();  // stops
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and starts accepting. Fails (address_in_use, ...) if no listen address could be bound
  // for the port; with several addresses, those that fail are skipped if one works.
  boost::system::error_code start();
  // Serves on the calling thread instead of the executor (which must not run this server
  // meanwhile), until stop() from a KILL callback, an accepted KILL, or `wake_fd` (when >= 0)
  // becoming readable, which stops the server. For a thread or process that does nothing else,
  // like erlnode-epmd: it waits on the server's epoll set directly, with no reactor in between.
  // Starts the server first if needed (returning start()'s error).
  boost::system::error_code run(int wake_fd = -1);
  // Closes the listeners and every connection: all registrations end.
  void stop();
  bool running() const noexcept;
  // The port listened on (the chosen one when options.port was 0).
  std::uint16_t port() const noexcept;
  // Registered nodes, newest first (as NAMES lists them).
  std::vector<name_entry> names() const;
  // Called after an accepted KILL_REQ has stopped the server.
  void on_kill(std::function<void()> f);

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace erlnode::epmd

// A client-only hidden node: one outgoing distribution connection and one pid, no listening
// socket and no epmd registration. That is what erl_call is (ei_connect without publishing),
// and what erlnode::node cannot be: node::async_start always listens and registers, which
// would cost a round trip, forbid erl_call's fixed default name c17 for concurrent calls and
// need a local epmd even for -address. So this tool uses the layers below the node: the
// epmd client, net::connection and the ETF/text modules.
#pragma once

#include <erlnode/net/connection.hpp>
#include <erlnode/term.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace erlnode::call_tool {

struct client_config {
  std::string self_node;  // name@host
  std::uint32_t creation = 1;
  std::string cookie;
  std::chrono::milliseconds setup_timeout{7000};
};

// Why the connection ended (or never came up), for erl_call-style messages.
struct client_down {
  std::error_code code;
  std::string detail;
};

class hidden_client final : public net::connection_owner,
                            public std::enable_shared_from_this<hidden_client> {
 public:
  hidden_client(boost::asio::any_io_executor ex, client_config c);

  const pid& self() const noexcept { return self_; }

  // Runs the handshake over a connected socket as `peer_node`; returns once the connection
  // is up (nullopt) or has failed (why).
  boost::asio::awaitable<std::optional<client_down>> handshake(boost::asio::ip::tcp::socket s,
                                                               std::string peer_node);
  // Sends `msg` to the process registered as `name` on the peer (REG_SEND).
  std::error_code send_to_name(atom name, const term& msg);
  // The next message sent to our pid, or why the connection went down first.
  boost::asio::awaitable<std::optional<term>> receive();
  const std::optional<client_down>& down() const noexcept { return down_; }
  void close();

  // net::connection_owner
  dist::handshake_status on_peer_name(net::connection_base& c,
                                      const dist::need_status_decision& d) override;
  bool on_alive(net::connection_base& c) override;
  void on_up(net::connection_base& c) override;
  void on_message(net::connection_base& c, term control, std::optional<term> payload) override;
  void on_down(net::connection_base& c, std::error_code why, const std::string& detail) override;

 private:
  boost::asio::awaitable<void> wait_event();
  void wake();

  boost::asio::any_io_executor ex_;
  client_config cfg_;
  pid self_;
  std::shared_ptr<net::connection_base> conn_;
  bool up_ = false;
  std::optional<client_down> down_;
  std::deque<term> inbox_;
  boost::asio::steady_timer event_;  // cancelled to wake the waiting coroutine
};

}  // namespace erlnode::call_tool

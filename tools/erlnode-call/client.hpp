// A client-only hidden node on one blocking socket: one outgoing distribution connection and
// one pid, no listening socket, no epmd registration, no threads, no event loop. That is what
// erl_call is (ei_connect without publishing). A process that lives for one call spends most
// of its time starting up, so this tool uses only the sans-I/O codecs (erlnode::codec: the
// epmd and handshake protocols, framing, ETF) over plain POSIX calls, and not erlnode::node,
// net::connection or Asio, whose start-up (static initialisers, io_context, timers, a
// 512 KiB read buffer) once made it slower than erl_call.
#pragma once

#include <erlnode/dist/flags.hpp>
#include <erlnode/dist/framing.hpp>
#include <erlnode/term.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <netinet/in.h>

namespace erlnode::call_tool {

// A blocking TCP connection to `addr`:`port`; -1 on failure.
int tcp_connect(const in_addr& addr, std::uint16_t port, bool no_delay = true);

// PORT_PLEASE2 for `alive` to the epmd at `addr` (port: ERL_EPMD_PORT or 4369); the node's
// distribution port, or nullopt when epmd is not there or does not know the node.
std::optional<std::uint16_t> port_please(const in_addr& addr, const std::string& alive);

struct client_config {
  // name@host; with dynamic_name, "@host" is not needed: only the host is used.
  std::string self_node;
  std::string self_host;
  bool dynamic_name = false;  // -R: ask the peer for a name (NAME_ME)
  std::uint32_t creation = 1;
  std::string cookie;
  std::chrono::milliseconds setup_timeout{7000};
};

class blocking_client {
 public:
  explicit blocking_client(client_config c) : cfg_(std::move(c)) {}
  ~blocking_client();
  blocking_client(const blocking_client&) = delete;
  blocking_client& operator=(const blocking_client&) = delete;

  // Runs the handshake over the connected socket `fd` (owned from here on) as `peer_node`.
  // True once the connection is up.
  bool handshake(int fd, const std::string& peer_node);
  // Our pid (its node name is the peer's choice with a dynamic name).
  const pid& self() const noexcept { return self_; }
  // Sends `msg` to the process registered as `name` on the peer (REG_SEND).
  bool send_to_name(atom name, const term& msg);
  // The next message sent to our pid; nullopt once the connection is down. Ticks are
  // answered as they come (a long call must not look like a dead peer).
  std::optional<term> receive();
  void close();

 private:
  bool write_all(const std::uint8_t* p, std::size_t n);
  // Reads what is there into the read buffer; 0 on EOF, error or receive timeout.
  std::size_t read_some();
  bool take_packets(std::span<const std::uint8_t> bytes);

  client_config cfg_;
  int fd_ = -1;
  pid self_{atom(), 0, 0, 0};
  dist::packet_parser packets_;
  std::deque<term> inbox_;
  bool down_ = false;
};

}  // namespace erlnode::call_tool

// Helpers for the dist interop tests: blocking POSIX sockets, raw epmd requests, and a
// handshake driver.
#pragma once

#include <erlnode/dist/crypto.hpp>
#include <erlnode/dist/handshake.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace erlnode::dist::interop_support {
using bytes = std::vector<std::uint8_t>;

class socket_fd {
 public:
  explicit socket_fd(int fd = -1) : fd_(fd) {}
  socket_fd(socket_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  socket_fd& operator=(socket_fd&& o) noexcept {
    std::swap(fd_, o.fd_);
    return *this;
  }
  ~socket_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

inline socket_fd connect_local(int port) {
  socket_fd s(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
    throw std::runtime_error("connect failed: " + std::string(std::strerror(errno)));
  return s;
}

inline void write_all(int fd, const bytes& b) {
  std::size_t off = 0;
  while (off < b.size()) {
    ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    off += static_cast<std::size_t>(n);
  }
}

// Reads what is available within `timeout`; empty on EOF or timeout.
inline bytes read_some(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return {};
  bytes b(4096);
  ssize_t n = ::recv(fd, b.data(), b.size(), 0);
  b.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return b;
}

// epmd PORT_PLEASE2: the distribution port of `alive` (0 if unknown).
inline int port_please(int epmd_port, const std::string& alive) {
  auto s = connect_local(epmd_port);
  bytes req{static_cast<std::uint8_t>((alive.size() + 1) >> 8),
            static_cast<std::uint8_t>(alive.size() + 1), 122};
  req.insert(req.end(), alive.begin(), alive.end());
  write_all(s.get(), req);
  bytes resp;
  for (;;) {
    auto b = read_some(s.get(), std::chrono::seconds(5));
    if (b.empty()) break;
    resp.insert(resp.end(), b.begin(), b.end());
  }
  if (resp.size() < 4 || resp[0] != 119 || resp[1] != 0) return 0;
  return resp[2] << 8 | resp[3];
}

// epmd ALIVE2_REQ for a hidden node on `port`; the returned socket keeps it registered.
inline socket_fd register_node(int epmd_port, const std::string& alive, int port) {
  auto s = connect_local(epmd_port);
  bytes body{120,
             static_cast<std::uint8_t>(port >> 8),
             static_cast<std::uint8_t>(port),
             72,
             0,
             0,
             6,
             0,
             5,
             static_cast<std::uint8_t>(alive.size() >> 8),
             static_cast<std::uint8_t>(alive.size())};
  body.insert(body.end(), alive.begin(), alive.end());
  body.push_back(0);
  body.push_back(0);
  bytes req{static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
  req.insert(req.end(), body.begin(), body.end());
  write_all(s.get(), req);
  auto resp = read_some(s.get(), std::chrono::seconds(5));
  if (resp.size() < 2 || resp[0] != 118 || resp[1] != 0)
    throw std::runtime_error("epmd registration failed");
  return s;
}

inline std::uint32_t random_creation() {
  std::random_device rd;
  return (rd() % 0xfffffff0u) + 4;
}

inline handshake_config config(handshake_role role, std::string this_node, std::string cookie) {
  handshake_config c;
  c.role = role;
  c.this_node = std::move(this_node);
  c.this_creation = random_creation();
  c.cookie = std::move(cookie);
  c.this_flags = hidden_profile;
  c.crypto = openssl_crypto();
  return c;
}

// Runs `h` over `fd` until it is done or failed (or the peer closes). Accepts every
// connection attempt (status ok).
inline handshake_event run(handshake& h, int fd) {
  auto deadline = std::chrono::steady_clock::now() + h.setup_timeout();
  bytes pending;
  for (;;) {
    if (!h.output().empty()) {
      write_all(fd, h.output());
      h.output().clear();
    }
    while (auto e = h.poll()) {
      if (std::holds_alternative<need_status_decision>(*e)) {
        REQUIRE(h.decide(handshake_status::ok));
        continue;
      }
      if (!h.output().empty()) write_all(fd, h.output());
      h.output().clear();
      return *e;
    }
    if (!h.output().empty()) continue;
    if (std::chrono::steady_clock::now() > deadline)
      return handshake_failed{error(errc::truncated), "setup timer expired"};
    auto b = read_some(fd, std::chrono::milliseconds(200));
    if (b.empty()) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) {  // readable but no data: the peer closed
        char c;
        if (::recv(fd, &c, 1, MSG_PEEK) == 0)
          return handshake_failed{error(errc::truncated), "peer closed the connection"};
      }
      continue;
    }
    pending.insert(pending.end(), b.begin(), b.end());
    std::size_t used = h.feed(pending);
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(used));
  }
}

inline socket_fd listen_any(int& port) {
  socket_fd s(::socket(AF_INET, SOCK_STREAM, 0));
  int one = 1;
  ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(s.get(), 4) != 0)
    throw std::runtime_error("listen failed");
  socklen_t len = sizeof a;
  ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return s;
}

inline socket_fd accept_one(int listener, std::chrono::milliseconds timeout) {
  pollfd p{listener, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return socket_fd();
  return socket_fd(::accept(listener, nullptr, nullptr));
}

}  // namespace erlnode::dist::interop_support

#include "client.hpp"

#include <erlnode/dist/handshake.hpp>
#include <erlnode/dist/header.hpp>
#include <erlnode/epmd/protocol.hpp>
#include <erlnode/etf.hpp>
#include "light_crypto.hpp"

#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <span>

namespace erlnode::call_tool {

namespace {

// Flags as erlnode's hidden profile, without the atom cache header and fragments: every
// message then travels pass-through (112), as with ei, and neither side keeps a cache for a
// connection that carries one call.
constexpr dist::dflags client_flags =
    dist::hidden_profile & ~(dist::flag::dist_hdr_atom_cache | dist::flag::fragments);

// Where the connection's bytes land: in static storage, since one process has one client at
// a time, so that no heap growth is needed for it and only the pages read() fills are touched.
std::array<std::uint8_t, 64 * 1024> read_buffer;

std::uint16_t epmd_port() noexcept {
  if (const char* p = std::getenv("ERL_EPMD_PORT")) {
    char* end = nullptr;
    long v = std::strtol(p, &end, 10);
    if (end != p && *end == '\0' && v > 0 && v <= 65535) return static_cast<std::uint16_t>(v);
  }
  return 4369;
}

bool send_all(int fd, const std::uint8_t* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

int tcp_connect(const in_addr& addr, std::uint16_t port, bool no_delay) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr = addr;
  int rc;
  do {
    rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    ::close(fd);
    return -1;
  }
  if (no_delay) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return fd;
}

std::optional<std::uint16_t> port_please(const in_addr& addr, const std::string& alive) {
  auto req = epmd::encode(epmd::request(epmd::port_please2_request{alive}));
  if (!req) return std::nullopt;
  int fd = tcp_connect(addr, epmd_port(), false);  // one request: Nagle never waits
  if (fd < 0) return std::nullopt;
  std::optional<std::uint16_t> port;
  if (send_all(fd, req->data(), req->size())) {
    epmd::port2_reply_parser parser;
    std::uint8_t buf[512];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::span<const std::uint8_t> in(buf, static_cast<std::size_t>(n));
      auto st = parser.feed(in);
      if (!st) break;
      if (*st == epmd::status::complete) {
        const auto& r = parser.get();
        if (r.result == 0 && r.node) port = r.node->port;
        break;
      }
    }
  }
  ::close(fd);
  return port;
}

blocking_client::~blocking_client() { close(); }

void blocking_client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  down_ = true;
}

bool blocking_client::write_all(const std::uint8_t* p, std::size_t n) {
  if (down_) return false;
  if (!send_all(fd_, p, n)) {
    close();
    return false;
  }
  return true;
}

std::size_t blocking_client::read_some() {
  if (down_) return 0;
  for (;;) {
    ssize_t n = ::read(fd_, read_buffer.data(), read_buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF, error, or SO_RCVTIMEO expired (EAGAIN)
    return static_cast<std::size_t>(n);
  }
  close();
  return 0;
}

bool blocking_client::handshake(int fd, const std::string& peer_node) {
  fd_ = fd;
  down_ = false;
  dist::handshake_config h;
  h.role = dist::handshake_role::initiator;
  h.this_node = cfg_.dynamic_name ? cfg_.self_host : cfg_.self_node;
  h.this_creation = cfg_.creation;
  h.this_flags = client_flags | (cfg_.dynamic_name ? dist::flag::name_me : 0);
  h.required_flags = dist::mandatory_25;
  h.cookie = cfg_.cookie;
  h.peer_node = peer_node;
  h.length_prefix = 2;
  h.setup_timeout = cfg_.setup_timeout;
  h.crypto = light_crypto();
  dist::handshake hs(std::move(h));
  if (!hs.start()) {
    close();
    return false;
  }
  // OTP's net_setuptime: each step of the handshake must come within the setup timeout
  // (a receive timeout, cleared once the connection is up: a call may take any time).
  auto receive_timeout = [&](std::chrono::milliseconds t) {
    timeval tv{static_cast<time_t>(t.count() / 1000),
               static_cast<suseconds_t>((t.count() % 1000) * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  };
  receive_timeout(cfg_.setup_timeout);
  std::vector<std::uint8_t> pending;  // received bytes the handshake has not taken yet
  bool done = false;
  for (;;) {
    while (auto ev = hs.poll()) {
      if (std::holds_alternative<dist::need_alive_decision>(*ev)) {
        // The peer still has a connection from an earlier client of the same name
        // (erl_call's fixed c17): replace it, as ei does.
        (void)hs.answer_alive(true);
      } else if (auto* d = std::get_if<dist::handshake_done>(&*ev)) {
        self_ = pid(atom(d->this_node), 1, 0, d->this_creation);
        done = true;
      } else {  // failed: the output may hold a refusal for the peer
        if (!hs.output().empty()) (void)write_all(hs.output().data(), hs.output().size());
        close();
        return false;
      }
    }
    if (auto& out = hs.output(); !out.empty()) {
      if (!write_all(out.data(), out.size())) return false;
      out.clear();
    }
    if (done) {
      receive_timeout(std::chrono::milliseconds(0));
      return pending.empty() || take_packets(pending);  // the rest is the connection's
    }
    if (pending.empty()) {
      std::size_t n = read_some();
      if (n == 0) return false;
      pending.assign(read_buffer.data(), read_buffer.data() + n);
    }
    std::size_t used = hs.feed(pending);
    pending.erase(pending.begin(), pending.begin() + static_cast<std::ptrdiff_t>(used));
    if (used == 0 && !hs.is_done() && !hs.has_failed() &&
        hs.current_state() != dist::handshake::state::await_alive) {
      // Cannot happen (feed takes bytes while it receives); do not spin.
      close();
      return false;
    }
  }
}

bool blocking_client::send_to_name(atom name, const term& msg) {
  if (down_) return false;
  // One packet: length, pass-through tag, REG_SEND {6, From, '', ToName}, the message.
  std::vector<std::uint8_t> out{0, 0, 0, 0, dist::pass_through_tag};
  etf::encode_options eo;
  eo.minor_version = 2;  // UTF-8 atoms, as the distribution requires
  if (!etf::encode_to(tuple{6, self_, atom(), name}, out, eo) || !etf::encode_to(msg, out, eo))
    return false;
  const std::size_t n = out.size() - 4;
  if (n > 0xffffffffu) return false;
  auto h = dist::packet_header(static_cast<std::uint32_t>(n));
  std::copy(h.begin(), h.end(), out.begin());
  return write_all(out.data(), out.size());
}

bool blocking_client::take_packets(std::span<const std::uint8_t> bytes) {
  std::vector<std::vector<std::uint8_t>> ps;
  if (!packets_.feed(bytes, ps)) {
    close();
    return false;
  }
  for (auto& p : ps) {
    if (p.empty()) {
      // A tick: answer it, as ei does, so that the peer keeps the connection during a long
      // call.
      static constexpr std::uint8_t tick[4] = {0, 0, 0, 0};
      if (!write_all(tick, sizeof tick)) return false;
      continue;
    }
    // Without DIST_HDR_ATOM_CACHE and FRAGMENTS every message is pass-through: 112, then
    // the control term and the message, each with its version byte.
    if (p[0] != dist::pass_through_tag) {
      close();
      return false;
    }
    auto owner = std::make_shared<const std::vector<std::uint8_t>>(std::move(p));
    std::span<const std::uint8_t> rest = std::span<const std::uint8_t>(*owner).subspan(1);
    etf::decode_options o;
    o.allow_trailing = true;
    auto c = etf::decode_prefix(rest, true, o, owner);
    if (!c) {
      close();
      return false;
    }
    rest = rest.subspan(c->consumed);
    std::optional<term> payload;
    if (!rest.empty()) {
      auto m = etf::decode_prefix(rest, true, o, owner);
      if (!m || m->consumed != rest.size()) {
        close();
        return false;
      }
      payload = std::move(m->value);
    }
    // SEND {2, Cookie, To} and SEND_SENDER {22, From, To}: messages to our only pid. Links,
    // monitors and the rest are not ours to answer (a client lives for one call).
    auto* t = c->value.get_if<tuple>();
    if (!t || t->size() < 3 || !payload) continue;
    auto op = (*t)[0].to_int64();
    if (op != 2 && op != 22) continue;
    inbox_.push_back(std::move(*payload));
  }
  return true;
}

std::optional<term> blocking_client::receive() {
  while (inbox_.empty() && !down_) {
    std::size_t n = read_some();
    if (n == 0) break;
    if (!take_packets(std::span<const std::uint8_t>(read_buffer.data(), n))) break;
  }
  if (inbox_.empty()) return std::nullopt;
  term t = std::move(inbox_.front());
  inbox_.pop_front();
  return t;
}

}  // namespace erlnode::call_tool

// The epmd daemon: one level-triggered epoll set holds the listeners and every connection, each a
// plain descriptor with a small state record, like OTP's epmd select loop. One request per
// connection, except ALIVE2 whose connection stays open as the registration.
//
// A request that is already there when its connection is accepted is answered at once
// (accept4, recv, send, close); others wait in the set. No Asio socket, coroutine or timer per
// connection: under Asio the set is one descriptor the reactor watches; run() waits on it
// directly.
#include <erlnode/epmd/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <list>
#include <map>
#include <random>
#include <string>
#include <unordered_map>

namespace erlnode::epmd {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// How many unregistered names are remembered (to give a returning name a new creation).
constexpr std::size_t max_unused = 1000;
// The creation OTP's epmd puts in a refused ALIVE2 reply.
constexpr std::uint32_t refused_creation = 99;
// How long accepting pauses when out of descriptors or memory.
constexpr std::chrono::milliseconds accept_pause{50};

using clock = std::chrono::steady_clock;

struct node_rec {
  node_info info;
  std::vector<std::uint8_t> port2;  // the PORT2_RESP a lookup gets, encoded once
  std::uint32_t creation = 0;
  int fd = -1;
  std::uint64_t seq = 0;
};

struct unused_rec {
  std::string name;
  std::uint32_t creation = 0;
  std::uint16_t port = 0;
  int fd = -1;
};

asio::ip::address to_address(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    auto& a = reinterpret_cast<const sockaddr_in&>(ss);
    return asio::ip::address_v4(ntohl(a.sin_addr.s_addr));
  }
  auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
  asio::ip::address_v6::bytes_type b;
  std::memcpy(b.data(), &a.sin6_addr, 16);
  asio::ip::address_v6 v6(b);
  if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6);
  return v6;
}

bool is_loopback(const sockaddr_storage& ss) {
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return false;
  return to_address(ss).is_loopback();
}

// Loopback, or the peer is this host's own address: OTP's epmd accepts ALIVE2, KILL, STOP and DUMP
// only from such peers.
bool is_local_peer(int fd) {
  sockaddr_storage peer{}, self{};
  socklen_t pl = sizeof peer, sl = sizeof self;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &sl) != 0)
    return false;
  auto r = to_address(peer);
  return r.is_loopback() || r == to_address(self);
}

}  // namespace

struct server::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor e, server_options o) : ex(std::move(e)), opts(std::move(o)) {
    std::random_device rd;
    creation_base = (std::uint32_t{rd()} & 0x7fffffff) | 0x10000;  // non-zero, beyond 1..3
    sweep_interval = std::clamp<clock::duration>(
        opts.request_timeout / 4, std::chrono::milliseconds(10), std::chrono::seconds(1));
  }

  // One per descriptor number (the set's events carry the descriptor).
  struct conn {
    enum class state : std::uint8_t { none, waiting, writing, registered };
    // What follows a reply that had to wait for the socket.
    enum class then : std::uint8_t { close, keep_registered, kill };
    state st = state::none;
    then after = then::close;
    bool peer_loopback = false;
    // Pending connections (a request or reply under way) are listed in arrival order, hence
    // deadline order: a request must come, and its reply go, before the deadline.
    bool pending = false;
    std::uint32_t events = 0;  // what the set watches for (0: not in the set)
    int prev = -1, next = -1;
    clock::time_point deadline;
    std::unique_ptr<request_parser> parser;  // a request that arrived in pieces
    std::vector<std::uint8_t> out;           // the unsent rest of a reply
    std::size_t out_pos = 0;
    std::string node;  // while registered
  };

  struct listener {
    int fd;
  };
  static constexpr std::uint64_t listener_tag = 1ull << 32;
  static constexpr std::uint64_t wake_tag = 1ull << 33;
  // What waiting and registered connections are watched for. EPOLLRDHUP tells a registration's
  // close apart without reading it (a request that came with its FIN is still read).
  static constexpr std::uint32_t readable = EPOLLIN | EPOLLRDHUP;

  asio::any_io_executor ex;
  server_options opts;
  // The epoll set (owned; under Asio the reactor watches it).
  asio::posix::stream_descriptor set{ex};
  int epfd = -1;
  std::vector<listener> listeners;
  std::vector<conn> conns;  // indexed by descriptor
  int pend_head = -1, pend_tail = -1;
  std::size_t pend_count = 0;
  std::map<std::string, node_rec, std::less<>> nodes;
  std::list<unused_rec> unused;  // oldest first
  std::unordered_map<std::string_view, std::list<unused_rec>::iterator> unused_index;
  asio::steady_timer sweeper{ex};
  clock::duration sweep_interval;
  clock::time_point next_sweep;
  clock::time_point paused_until;  // listeners out of the set until then (blocking mode)
  bool paused = false;
  request_parser parser{opts.max_request_length};  // reused for requests that arrive whole
  std::vector<std::uint8_t> reply_buf;             // reused for replies
  int early_hits = 16;  // recent outcome of reading right after accept (0..16)
  unsigned early_probe = 0;
  std::uint64_t seq = 0;
  std::uint32_t creation_base = 1;
  std::uint16_t port = 0;
  bool running = false;
  bool blocking = false;  // run() serves; the Asio loops stay idle
  std::function<void()> kill_cb;

  conn& at(int fd) {
    if (static_cast<std::size_t>(fd) >= conns.size())
      conns.resize(std::max<std::size_t>(static_cast<std::size_t>(fd) + 1, conns.size() * 2));
    return conns[static_cast<std::size_t>(fd)];
  }

  // ---- pending list ----
  void pend(int fd, conn& c, clock::time_point now) {
    // Beyond the cap the oldest pending connection makes room.
    while (opts.max_pending_connections > 0 && pend_head >= 0 &&
           pend_count >= opts.max_pending_connections)
      close_conn(pend_head);
    c.deadline = now + opts.request_timeout;
    c.pending = true;
    c.prev = pend_tail;
    c.next = -1;
    if (pend_tail >= 0)
      conns[static_cast<std::size_t>(pend_tail)].next = fd;
    else
      pend_head = fd;
    pend_tail = fd;
    ++pend_count;
  }
  void unpend(conn& c) {
    if (c.prev >= 0)
      conns[static_cast<std::size_t>(c.prev)].next = c.next;
    else
      pend_head = c.next;
    if (c.next >= 0)
      conns[static_cast<std::size_t>(c.next)].prev = c.prev;
    else
      pend_tail = c.prev;
    c.prev = c.next = -1;
    c.pending = false;
    --pend_count;
  }

  // Closing removes a descriptor from the set.
  void close_conn(int fd) {
    conn& c = conns[static_cast<std::size_t>(fd)];
    if (c.pending) unpend(c);
    if (!c.node.empty()) {  // registered, or its ALIVE2 reply under way
      auto it = nodes.find(c.node);
      if (it != nodes.end() && it->second.fd == fd) unregister(it);
    }
    c = conn{};
    ::close(fd);
  }

  bool watch(int fd, conn& c, std::uint32_t events) {
    if (c.events == events) return true;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = static_cast<std::uint32_t>(fd);
    if (::epoll_ctl(epfd, c.events != 0 ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) != 0)
      return false;
    c.events = events;
    return true;
  }

  std::uint32_t next_creation(std::string_view name, bool extended) {
    std::uint32_t prev = 0;
    if (auto it = unused_index.find(name); it != unused_index.end()) {
      prev = it->second->creation;
      auto victim = it->second;
      unused_index.erase(it);
      unused.erase(victim);
    }
    if (!extended) return prev == 0 ? 1 : prev % 3 + 1;  // ALIVE2_RESP creations are 1..3
    if (prev == 0) return creation_base;
    return prev + 1 == 0 ? 1 : prev + 1;
  }

  void unregister(std::map<std::string, node_rec, std::less<>>::iterator it) {
    if (auto old = unused_index.find(it->first); old != unused_index.end()) {
      auto victim = old->second;
      unused_index.erase(old);
      unused.erase(victim);
    }
    unused.push_back({it->first, it->second.creation, it->second.info.port, it->second.fd});
    unused_index.emplace(unused.back().name, std::prev(unused.end()));
    if (unused.size() > max_unused) {
      unused_index.erase(unused.front().name);
      unused.pop_front();
    }
    nodes.erase(it);
  }

  std::vector<const std::pair<const std::string, node_rec>*> newest_first() const {
    std::vector<const std::pair<const std::string, node_rec>*> v;
    v.reserve(nodes.size());
    for (auto& n : nodes) v.push_back(&n);
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->second.seq > b->second.seq; });
    return v;
  }

  void stop() {
    running = false;
    sweeper.cancel();
    for (std::size_t fd = 0; fd < conns.size(); ++fd)
      if (conns[fd].st != conn::state::none) {
        conns[fd] = conn{};
        ::close(static_cast<int>(fd));
      }
    conns.clear();
    pend_head = pend_tail = -1;
    pend_count = 0;
    nodes.clear();
    for (auto& l : listeners) ::close(l.fd);
    listeners.clear();
    error_code ec;
    set.close(ec);
    epfd = -1;
  }

  // A reply the close follows goes out corked (MSG_MORE): close() then sends it and the FIN in
  // one segment instead of two, which spares the loopback a segment and the peer an ACK.
  static int send_flags(conn::then after) {
    return after == conn::then::keep_registered ? MSG_NOSIGNAL : MSG_NOSIGNAL | MSG_MORE;
  }

  bool local(int fd, const conn& c) { return c.peer_loopback || is_local_peer(fd); }

  void accept_one(const listener& l, clock::time_point now);
  void pause_listeners(clock::time_point now);
  void resume_listeners();
  void serve_new(int fd, bool loopback, clock::time_point now);
  void on_readable(int fd, std::uint32_t events, clock::time_point now);
  void on_writable(int fd);
  // A complete request from `fd`: answers it (the connection is closed, kept, or left writing).
  void answer(int fd, conn& c, request& req, clock::time_point now);
  void send_reply(int fd, conn& c, std::span<const std::uint8_t> out, conn::then after,
                  clock::time_point now);
  void do_kill();
  void sweep(clock::time_point now);
  // One epoll_wait on the set with this timeout; handles what it returns. Returns how many
  // events there were.
  // `now` is set to the time epoll_wait returned.
  int poll(int timeout_ms, clock::time_point& now);

  asio::awaitable<void> reactor_loop();
  asio::awaitable<void> sweep_loop();
  asio::awaitable<void> pause_loop();
};

// One accept4 per readiness report, like OTP's select loop: the set is level-triggered, so a
// listener with more queued is reported again by the next epoll_wait (with whatever else is
// ready), and the common case of one waiting connection costs no accept4 ending in EAGAIN.
// The peer address comes with it (no getpeername per request).
void server::impl::accept_one(const listener& l, clock::time_point now) {
  for (;;) {
    sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int fd =
        ::accept4(l.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      serve_new(fd, is_loopback(peer), now);
      return;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    // Out of descriptors or memory: stop listening for a moment instead of spinning.
    pause_listeners(now);
    return;
  }
}

void server::impl::pause_listeners(clock::time_point now) {
  if (paused) return;
  paused = true;
  for (auto& l : listeners) ::epoll_ctl(epfd, EPOLL_CTL_DEL, l.fd, nullptr);
  paused_until = now + accept_pause;
  if (!blocking) asio::co_spawn(ex, pause_loop(), asio::detached);
}

void server::impl::resume_listeners() {
  if (!paused || !running) return;
  paused = false;
  for (std::size_t k = 0; k < listeners.size(); ++k) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = listener_tag | k;
    ::epoll_ctl(epfd, EPOLL_CTL_ADD, listeners[k].fd, &ev);
  }
}

asio::awaitable<void> server::impl::pause_loop() {
  auto self = shared_from_this();
  asio::steady_timer t(ex, accept_pause);
  error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  resume_listeners();
}

void server::impl::serve_new(int fd, bool loopback, clock::time_point now) {
  conn& c = at(fd);
  c.peer_loopback = loopback;
  // With the deferred accept the request is normally there: read it at once. Where the kernel
  // does not defer (or defer_accept is off), clients that connect and then send are mostly not
  // heard from yet; while reading right away keeps missing, only 1 in 16 tries.
  if (early_hits >= 8 || (++early_probe & 15) == 0) {
    std::uint8_t buf[1100];  // a whole request of the default limit in one read
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    bool miss = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    early_hits = std::clamp(early_hits + (miss ? -1 : 1), 0, 16);
    if (n <= 0 && !miss) {
      c = conn{};
      ::close(fd);
      return;
    }
    if (n > 0) {
      std::span<const std::uint8_t> in(buf, static_cast<std::size_t>(n));
      parser.reset();
      auto r = parser.feed(in);
      if (!r) {  // garbage, or a length beyond the limit
        c = conn{};
        ::close(fd);
        return;
      }
      if (*r == status::complete) {
        answer(fd, c, parser.get(), now);
        return;
      }
      // A request in pieces keeps its own parser.
      c.parser = std::make_unique<request_parser>(std::move(parser));
      parser = request_parser(opts.max_request_length);
    }
  }
  if (!watch(fd, c, readable)) {
    c = conn{};
    ::close(fd);
    return;
  }
  c.st = conn::state::waiting;
  pend(fd, c, now);
}

void server::impl::on_readable(int fd, std::uint32_t events, clock::time_point now) {
  conn& c = conns[static_cast<std::size_t>(fd)];
  if (c.st == conn::state::registered) {
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
      close_conn(fd);  // the node closed: it is gone
      return;
    }
    // The node may send nothing more; anything it sends is ignored until it closes.
    std::uint8_t sink[512];
    ssize_t n = ::recv(fd, sink, sizeof sink, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
      close_conn(fd);
    return;
  }
  std::uint8_t buf[1100];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n <= 0) {
    close_conn(fd);
    return;
  }
  std::span<const std::uint8_t> in(buf, static_cast<std::size_t>(n));
  request_parser* p = c.parser.get();
  if (!p) {
    parser.reset();
    p = &parser;
  }
  auto r = p->feed(in);
  if (!r) {
    close_conn(fd);
    return;
  }
  if (*r == status::need_more) {
    if (!c.parser) {
      c.parser = std::make_unique<request_parser>(std::move(parser));
      parser = request_parser(opts.max_request_length);
    }
    return;
  }
  auto kept = std::move(c.parser);  // answer() may close the connection, resetting `c`
  answer(fd, c, p->get(), now);
}

void server::impl::on_writable(int fd) {
  conn& c = conns[static_cast<std::size_t>(fd)];
  ssize_t w = ::send(fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, send_flags(c.after));
  if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (w < 0) {
    close_conn(fd);
    return;
  }
  c.out_pos += static_cast<std::size_t>(w);
  if (c.out_pos < c.out.size()) return;
  auto after = c.after;
  if (after == conn::then::keep_registered && watch(fd, c, readable)) {
    if (c.pending) unpend(c);
    c.st = conn::state::registered;
    c.out = {};
    c.out_pos = 0;
    return;
  }
  close_conn(fd);
  if (after == conn::then::kill) do_kill();
}

void server::impl::send_reply(int fd, conn& c, std::span<const std::uint8_t> out, conn::then after,
                              clock::time_point now) {
  ssize_t w = ::send(fd, out.data(), out.size(), send_flags(after));
  if (w == static_cast<ssize_t>(out.size())) {
    if (after == conn::then::keep_registered) {
      if (watch(fd, c, readable)) {
        if (c.pending) unpend(c);
        c.st = conn::state::registered;
        return;
      }
      close_conn(fd);
      return;
    }
    close_conn(fd);
    if (after == conn::then::kill) do_kill();
    return;
  }
  if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    close_conn(fd);
    return;
  }
  // A reply bigger than the socket buffer: the rest goes out as the client takes it, within
  // the request timeout.
  std::size_t sent = w > 0 ? static_cast<std::size_t>(w) : 0;
  c.out.assign(out.begin() + static_cast<std::ptrdiff_t>(sent), out.end());
  c.out_pos = 0;
  c.after = after;
  if (!watch(fd, c, EPOLLOUT)) {
    close_conn(fd);
    return;
  }
  c.st = conn::state::writing;
  if (!c.pending) pend(fd, c, now);
}

void server::impl::do_kill() {
  auto cb = kill_cb;
  stop();
  if (cb) cb();
}

void server::impl::answer(int fd, conn& c, request& req, clock::time_point now) {
  auto& out = reply_buf;
  out.clear();
  if (auto* p = std::get_if<port_please2_request>(&req)) {
    auto it = nodes.find(p->name);
    if (it == nodes.end()) {
      static constexpr std::uint8_t not_found[] = {static_cast<std::uint8_t>(tag::port2_resp), 1};
      send_reply(fd, c, not_found, conn::then::close, now);
    } else {
      send_reply(fd, c, it->second.port2, conn::then::close, now);
    }
  } else if (auto* a = std::get_if<alive2_request>(&req)) {
    if (!local(fd, c)) {
      close_conn(fd);
      return;
    }
    node_info& ni = a->node;
    bool extended = ni.highest_version >= 6;
    if (nodes.size() >= opts.max_nodes || nodes.count(ni.name) != 0) {
      encode(alive2_reply{1, refused_creation, extended}, out);
      send_reply(fd, c, out, conn::then::close, now);
      return;
    }
    node_rec rec;
    rec.creation = next_creation(ni.name, extended);
    rec.fd = fd;
    rec.seq = ++seq;
    std::uint32_t creation = rec.creation;
    c.node = ni.name;
    encode(port2_reply{0, ni}, rec.port2);
    rec.info = std::move(ni);
    nodes.emplace(c.node, std::move(rec));
    // The connection is the registration: no timeout, never evicted (once the reply is out).
    // Its close, or a failed reply, unregisters.
    encode(alive2_reply{0, creation, extended}, out);
    send_reply(fd, c, out, conn::then::keep_registered, now);
  } else if (std::holds_alternative<names_request>(req)) {
    encode_port_header(port, out);
    for (auto* n : newest_first()) {
      auto line = format_name_line(n->first, n->second.info.port);
      out.insert(out.end(), line.begin(), line.end());
    }
    send_reply(fd, c, out, conn::then::close, now);
  } else if (std::holds_alternative<dump_request>(req)) {
    if (!local(fd, c)) {
      close_conn(fd);
      return;
    }
    encode_port_header(port, out);
    for (auto* n : newest_first()) {
      auto line = format_dump_active(n->first, n->second.info.port, n->second.fd);
      out.insert(out.end(), line.begin(), line.end());
      out.push_back(0);
    }
    for (auto& u : unused) {
      auto line = format_dump_unused(u.name, u.port, u.fd);
      out.insert(out.end(), line.begin(), line.end());
      out.push_back(0);
    }
    send_reply(fd, c, out, conn::then::close, now);
  } else if (std::holds_alternative<kill_request>(req)) {
    if (!local(fd, c)) {
      close_conn(fd);
    } else if (!opts.relaxed_command_check && !nodes.empty()) {
      out.assign(kill_no.begin(), kill_no.end());
      send_reply(fd, c, out, conn::then::close, now);
    } else {
      out.assign(kill_ok.begin(), kill_ok.end());
      send_reply(fd, c, out, conn::then::kill, now);
    }
  } else {
    auto& s = std::get<stop_request>(req);
    if (!opts.relaxed_command_check || !local(fd, c)) {
      close_conn(fd);  // OTP's epmd closes without a word
      return;
    }
    auto it = nodes.find(s.name);
    if (it == nodes.end()) {
      out.assign(stop_noexist.begin(), stop_noexist.end());
    } else {
      int victim = it->second.fd;
      unregister(it);
      close_conn(victim);
      out.assign(stop_ok.begin(), stop_ok.end());
    }
    send_reply(fd, c, out, conn::then::close, now);
  }
}

// Pending connections are in arrival order, so their deadlines are too: closing the expired
// ones from the front now and then is cheaper than a timer per connection.
void server::impl::sweep(clock::time_point now) {
  while (pend_head >= 0 && conns[static_cast<std::size_t>(pend_head)].deadline <= now)
    close_conn(pend_head);
  next_sweep = now + sweep_interval;
}

int server::impl::poll(int timeout_ms, clock::time_point& now) {
  std::array<epoll_event, 64> evs;
  int n = ::epoll_wait(epfd, evs.data(), static_cast<int>(evs.size()), timeout_ms);
  now = clock::now();
  if (n <= 0) return 0;
  for (int i = 0; i < n && running; ++i) {
    auto& ev = evs[static_cast<std::size_t>(i)];
    std::uint64_t tag = ev.data.u64;
    if (tag & listener_tag) {
      std::size_t k = tag & 0xffffffffu;
      if (k < listeners.size()) accept_one(listeners[k], now);
      continue;
    }
    if (tag & wake_tag) {
      stop();
      break;
    }
    int fd = static_cast<int>(tag);
    if (static_cast<std::size_t>(fd) >= conns.size()) continue;
    switch (conns[static_cast<std::size_t>(fd)].st) {
      case conn::state::waiting:
      case conn::state::registered:
        on_readable(fd, ev.events, now);
        break;
      case conn::state::writing:
        on_writable(fd);
        break;
      case conn::state::none:
        break;  // closed earlier in this batch
    }
  }
  return n;
}

asio::awaitable<void> server::impl::reactor_loop() {
  auto self = shared_from_this();
  while (running && !blocking) {
    error_code ec;
    co_await set.async_wait(asio::posix::stream_descriptor::wait_read,
                            asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !running || blocking) co_return;
    // The reactor is edge-triggered and our set level-triggered: a descriptor that stays ready
    // (a listener with more than one batch queued, a request longer than one read) wakes
    // nobody again, so drain until nothing is ready, yielding now and then to other work.
    for (int rounds = 1; running; ++rounds) {
      clock::time_point now;
      if (poll(0, now) == 0) break;
      if (rounds % 16 == 0) co_await asio::post(ex, asio::use_awaitable);
    }
  }
}

asio::awaitable<void> server::impl::sweep_loop() {
  auto self = shared_from_this();
  while (running && !blocking) {
    sweeper.expires_after(sweep_interval);
    error_code ec;
    co_await sweeper.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!running || blocking) co_return;
    sweep(clock::now());
  }
}

server::server(asio::any_io_executor ex, server_options opts)
    : impl_(std::make_shared<impl>(std::move(ex), std::move(opts))) {}

server::~server() { stop(); }

error_code server::start() {
  auto& im = *impl_;
  if (im.running) return {};
  std::vector<asio::ip::address> addrs = im.opts.addresses;
  if (addrs.empty()) {
    addrs = {asio::ip::address_v4::any(), asio::ip::address_v6::any()};
  } else {
    // Like epmd -address: the loopback addresses are always included (a failing ::1 is skipped).
    for (asio::ip::address lo : {asio::ip::address(asio::ip::address_v4::loopback()),
                                 asio::ip::address(asio::ip::address_v6::loopback())})
      if (std::find(addrs.begin(), addrs.end(), lo) == addrs.end()) addrs.push_back(lo);
  }
  int pfd = ::epoll_create1(EPOLL_CLOEXEC);
  if (pfd < 0) return error_code(errno, boost::system::system_category());
  error_code first;
  im.set.assign(pfd, first);
  if (first) {
    ::close(pfd);
    return first;
  }
  im.epfd = pfd;
  std::uint16_t port = im.opts.port;
  for (auto& a : addrs) {
    tcp::acceptor acc(im.ex);
    tcp::endpoint ep(a, port);
    error_code ec;
    acc.open(ep.protocol(), ec);
    if (!ec && a.is_v6()) acc.set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acc.bind(ep, ec);
    if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      if (!first) first = ec;
      continue;
    }
    if (port == 0) port = acc.local_endpoint().port();
    int fd = acc.release(ec);
    if (ec) {
      if (!first) first = ec;
      continue;
    }
    if (im.opts.defer_accept) {
      // Best effort: without it, requests are read when they come, as below.
      int secs = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof secs);
    }
    int fl = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = impl::listener_tag | im.listeners.size();
    if (::epoll_ctl(pfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      if (!first) first = error_code(errno, boost::system::system_category());
      ::close(fd);
      continue;
    }
    im.listeners.push_back({fd});
  }
  if (im.listeners.empty()) {
    error_code ignored;
    im.set.close(ignored);
    im.epfd = -1;
    return first ? first : make_error_code(boost::system::errc::address_not_available);
  }
  im.port = port;
  im.running = true;
  im.paused = false;
  im.next_sweep = clock::now() + im.sweep_interval;
  asio::co_spawn(im.ex, im.sweep_loop(), asio::detached);
  asio::co_spawn(im.ex, im.reactor_loop(), asio::detached);
  return {};
}

error_code server::run(int wake_fd) {
  auto self = impl_;  // a KILL callback may drop the server
  auto& im = *self;
  if (!im.running)
    if (auto ec = start()) return ec;
  im.blocking = true;
  if (wake_fd >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = impl::wake_tag;
    if (::epoll_ctl(im.epfd, EPOLL_CTL_ADD, wake_fd, &ev) != 0) {
      im.blocking = false;
      return error_code(errno, boost::system::system_category());
    }
  }
  auto now = clock::now();
  while (im.running) {
    if (im.paused && now >= im.paused_until) im.resume_listeners();
    if (now >= im.next_sweep) im.sweep(now);
    auto until = im.paused ? std::min(im.next_sweep, im.paused_until) : im.next_sweep;
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(until - now).count();
    im.poll(static_cast<int>(std::clamp<std::int64_t>(wait, 0, 1000)), now);
  }
  im.blocking = false;
  return {};
}

void server::stop() {
  if (impl_) impl_->stop();
}

bool server::running() const noexcept { return impl_->running; }
std::uint16_t server::port() const noexcept { return impl_->port; }

std::vector<name_entry> server::names() const {
  std::vector<name_entry> v;
  for (auto* n : impl_->newest_first()) v.push_back({n->first, n->second.info.port});
  return v;
}

void server::on_kill(std::function<void()> f) { impl_->kill_cb = std::move(f); }

}  // namespace erlnode::epmd

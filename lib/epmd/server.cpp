// The epmd daemon: one coroutine per connection, one request per connection (like OTP's epmd),
// except ALIVE2 whose connection stays open as the registration.
#include <erlnode/epmd/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <netinet/in.h>
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

using clock = std::chrono::steady_clock;

struct conn {
  explicit conn(tcp::socket s) : sock(std::move(s)) {}
  void close() {
    error_code ec;
    sock.close(ec);
  }
  tcp::socket sock;
  clock::time_point deadline;  // while pending: closed by the sweeper after this
  bool pending = false;
  std::list<std::shared_ptr<conn>>::iterator pending_it;
};

struct node_rec {
  node_info info;
  std::uint32_t creation = 0;
  std::weak_ptr<conn> c;
  int fd = -1;
  std::uint64_t seq = 0;
};

struct unused_rec {
  std::string name;
  std::uint32_t creation = 0;
  std::uint16_t port = 0;
  int fd = -1;
};

// Loopback, or the peer is this host's own address: OTP's epmd accepts ALIVE2, KILL, STOP and DUMP
// only from such peers.
bool is_local_peer(int fd) {
  sockaddr_storage peer{}, self{};
  socklen_t pl = sizeof peer, sl = sizeof self;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &pl) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &sl) != 0)
    return false;
  auto addr = [](const sockaddr_storage& ss) -> asio::ip::address {
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
  };
  auto r = addr(peer);
  return r.is_loopback() || r == addr(self);
}

}  // namespace

struct server::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor e, server_options o) : ex(std::move(e)), opts(std::move(o)) {
    std::random_device rd;
    creation_base = (std::uint32_t{rd()} & 0x7fffffff) | 0x10000;  // non-zero, beyond 1..3
  }

  asio::any_io_executor ex;
  server_options opts;
  // Listening descriptors (released from Asio): they live in the private epoll set below, so
  // accepting and reading requests share one wake-up, like OTP's select loop.
  struct listener {
    int fd;
    tcp::endpoint::protocol_type proto;
  };
  std::vector<listener> listeners;
  static constexpr std::uint64_t listener_tag = 1ull << 32;
  std::map<std::string, node_rec, std::less<>> nodes;
  std::list<unused_rec> unused;  // oldest first
  std::unordered_map<std::string_view, std::list<unused_rec>::iterator> unused_index;
  asio::steady_timer sweeper{ex};
  std::list<std::shared_ptr<conn>> pending;
  // Connections whose request has not (fully) arrived: plain descriptors in a private epoll set,
  // so waiting for a request costs no Asio socket, no coroutine, and no deregistration (closing
  // a descriptor removes it from the set).
  struct waiting_conn {
    int fd;
    clock::time_point deadline;
    tcp::endpoint::protocol_type proto;
    request_parser parser;
  };
  std::list<waiting_conn> waiting;  // arrival order, hence deadline order
  std::unordered_map<int, std::list<waiting_conn>::iterator> waiting_index;
  asio::posix::stream_descriptor waiting_set{ex};
  int early_hits = 16;  // recent outcome of reading right after accept (0..16)
  unsigned early_probe = 0;
  std::uint64_t seq = 0;
  std::uint32_t creation_base = 1;
  std::uint16_t port = 0;
  bool running = false;
  std::function<void()> kill_cb;

  void admit(const std::shared_ptr<conn>& c) {
    while (opts.max_pending_connections > 0 && pending.size() >= opts.max_pending_connections) {
      auto old = pending.front();
      pending.pop_front();
      old->pending = false;
      old->close();
    }
    c->pending = true;
    c->pending_it = pending.insert(pending.end(), c);
  }
  void unpend(const std::shared_ptr<conn>& c) {
    if (c->pending) {
      pending.erase(c->pending_it);
      c->pending = false;
    }
  }
  void finish(const std::shared_ptr<conn>& c) {
    unpend(c);
    c->close();
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

  void close_waiting(std::list<waiting_conn>::iterator it) {
    waiting_index.erase(it->fd);
    ::close(it->fd);
    waiting.erase(it);
  }

  void stop() {
    running = false;
    sweeper.cancel();
    while (!waiting.empty()) close_waiting(waiting.begin());
    {
      error_code ec;
      waiting_set.close(ec);
    }
    for (auto& l : listeners) ::close(l.fd);
    listeners.clear();
    auto p = std::move(pending);
    pending.clear();
    for (auto& c : p) {
      c->pending = false;
      c->close();
    }
    for (auto& [name, rec] : nodes)
      if (auto c = rec.c.lock()) c->close();
    nodes.clear();
  }

  // What a complete request calls for.
  struct action {
    enum kind { close, reply, kill, register_node } what = close;
    std::vector<std::uint8_t> out;
  };
  action decide(request& req, int fd);
  // Serves a freshly accepted descriptor synchronously when its request is already there (the
  // common case); otherwise hands it to a coroutine.
  void serve(int fd, const tcp::endpoint::protocol_type& proto);
  // Feeds what `fd` has to `parser` and acts on a complete request.
  enum class outcome { incomplete, closed, handed_off };
  outcome step(int fd, const tcp::endpoint::protocol_type& proto, request_parser& parser);
  void wait_for_request(int fd, const tcp::endpoint::protocol_type& proto, request_parser parser);
  asio::awaitable<void> waiting_loop();
  void go_async(int fd, const tcp::endpoint::protocol_type& proto, request_parser parser,
                std::vector<std::uint8_t> rest);

  void accept_batch(const listener& l);
  asio::awaitable<void> pause_listeners();
  asio::awaitable<void> sweep();
  asio::awaitable<void> session(std::shared_ptr<conn> c, request_parser parser,
                                std::vector<std::uint8_t> rest);
  asio::awaitable<void> reply(std::shared_ptr<conn> c, std::vector<std::uint8_t> out);
  asio::awaitable<void> registration(std::shared_ptr<conn> c, node_info ni);
};

// Accepts in batches with accept4: no Asio socket (epoll registration) for connections that are
// answered at once.
void server::impl::accept_batch(const listener& l) {
  for (int i = 0; i < 64 && running; ++i) {
    int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      serve(fd, l.proto);
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    // Out of descriptors or memory: stop listening for a moment instead of spinning.
    asio::co_spawn(ex, pause_listeners(), asio::detached);
    return;
  }
}

asio::awaitable<void> server::impl::pause_listeners() {
  auto self = shared_from_this();
  for (auto& l : listeners) ::epoll_ctl(waiting_set.native_handle(), EPOLL_CTL_DEL, l.fd, nullptr);
  asio::steady_timer t(ex, std::chrono::milliseconds(50));
  error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (!running) co_return;
  for (std::size_t k = 0; k < listeners.size(); ++k) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = listener_tag | k;
    ::epoll_ctl(waiting_set.native_handle(), EPOLL_CTL_ADD, listeners[k].fd, &ev);
  }
}

void server::impl::serve(int fd, const tcp::endpoint::protocol_type& proto) {
  request_parser parser(opts.max_request_length);
  // Reading right after accept pays when clients send before we accept (blocking clients);
  // with clients that connect and then send, it mostly finds nothing. Sample 1 in 16 while
  // it mostly misses.
  if (early_hits < 8 && (++early_probe & 15) != 0) {
    wait_for_request(fd, proto, std::move(parser));
    return;
  }
  auto o = step(fd, proto, parser);
  early_hits = std::clamp(early_hits + (o == outcome::incomplete ? -1 : 1), 0, 16);
  if (o == outcome::incomplete) wait_for_request(fd, proto, std::move(parser));
}

server::impl::outcome server::impl::step(int fd, const tcp::endpoint::protocol_type& proto,
                                         request_parser& parser) {
  std::uint8_t buf[1100];  // a whole request of the default limit in one read
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return outcome::incomplete;
  if (n <= 0) {
    ::close(fd);
    return outcome::closed;
  }
  std::span<const std::uint8_t> in(buf, static_cast<std::size_t>(n));
  auto r = parser.feed(in);
  if (!r) {
    ::close(fd);  // garbage, or a length beyond the limit
    return outcome::closed;
  }
  if (*r == status::need_more) return outcome::incomplete;
  action a = decide(parser.get(), fd);
  if (a.what == action::close) {
    ::close(fd);
    return outcome::closed;
  }
  if (a.what == action::reply) {
    ssize_t w = ::send(fd, a.out.data(), a.out.size(), MSG_NOSIGNAL);
    if (w == static_cast<ssize_t>(a.out.size()) || (w < 0 && errno != EAGAIN)) {
      ::close(fd);
      return outcome::closed;
    }
    // A reply bigger than the socket buffer: the rest goes out asynchronously.
    a.out.erase(a.out.begin(), a.out.begin() + std::max<ssize_t>(w, 0));
    go_async(fd, proto, std::move(parser), std::move(a.out));
    return outcome::handed_off;
  }
  // ALIVE2 and KILL need the socket and a coroutine: the session decides again (deciding had
  // no side effects for them).
  go_async(fd, proto, std::move(parser), {});
  return outcome::handed_off;
}

void server::impl::wait_for_request(int fd, const tcp::endpoint::protocol_type& proto,
                                    request_parser parser) {
  // Beyond the cap the oldest waiting connection makes room.
  while (opts.max_pending_connections > 0 && !waiting.empty() &&
         waiting.size() >= opts.max_pending_connections)
    close_waiting(waiting.begin());
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.u64 = static_cast<std::uint32_t>(fd);
  if (!waiting_set.is_open() ||
      ::epoll_ctl(waiting_set.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    ::close(fd);
    return;
  }
  waiting.push_back({fd, clock::now() + opts.request_timeout, proto, std::move(parser)});
  waiting_index.emplace(fd, std::prev(waiting.end()));
}

asio::awaitable<void> server::impl::waiting_loop() {
  auto self = shared_from_this();
  std::array<epoll_event, 64> evs;
  while (running) {
    error_code ec;
    co_await waiting_set.async_wait(asio::posix::stream_descriptor::wait_read,
                                    asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !running) co_return;
    // The outer reactor is edge-triggered and our set level-triggered: a descriptor that stays
    // ready (a listener with more than one batch queued, a request longer than one read) wakes
    // nobody again, so drain until nothing is ready, yielding now and then to other work.
    for (int rounds = 1; running; ++rounds) {
      int n =
          ::epoll_wait(waiting_set.native_handle(), evs.data(), static_cast<int>(evs.size()), 0);
      if (n <= 0) break;
      for (int i = 0; i < n && running; ++i) {
        std::uint64_t tag = evs[static_cast<std::size_t>(i)].data.u64;
        if (tag & listener_tag) {
          std::size_t k = tag & 0xffffffffu;
          if (k < listeners.size()) accept_batch(listeners[k]);
          continue;
        }
        auto it = waiting_index.find(static_cast<int>(tag));
        if (it == waiting_index.end()) continue;
        auto w = it->second;
        int fd = w->fd;
        auto o = step(fd, w->proto, w->parser);
        if (o == outcome::incomplete) continue;
        // Closing removed it from the set; a descriptor handed to Asio must leave it.
        if (o == outcome::handed_off)
          ::epoll_ctl(waiting_set.native_handle(), EPOLL_CTL_DEL, fd, nullptr);
        waiting_index.erase(it);
        waiting.erase(w);
      }
      if (rounds % 16 == 0) co_await asio::post(ex, asio::use_awaitable);
    }
  }
}

void server::impl::go_async(int fd, const tcp::endpoint::protocol_type& proto,
                            request_parser parser, std::vector<std::uint8_t> rest) {
  tcp::socket s(ex);
  error_code ec;
  s.assign(proto, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  auto c = std::make_shared<conn>(std::move(s));
  c->deadline = clock::now() + opts.request_timeout;
  admit(c);
  asio::co_spawn(ex, session(c, std::move(parser), std::move(rest)), asio::detached);
}

// Pending connections are in arrival order, so their deadlines are too: one timer closes the
// expired ones from the front (cheaper than a timer per connection).
asio::awaitable<void> server::impl::sweep() {
  auto self = shared_from_this();
  auto interval = std::clamp<clock::duration>(
      opts.request_timeout / 4, std::chrono::milliseconds(10), std::chrono::seconds(1));
  while (running) {
    sweeper.expires_after(interval);
    error_code ec;
    co_await sweeper.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!running) co_return;
    auto now = clock::now();
    while (!waiting.empty() && waiting.front().deadline <= now) close_waiting(waiting.begin());
    while (!pending.empty() && pending.front()->deadline <= now) {
      auto c = pending.front();
      pending.pop_front();
      c->pending = false;
      c->close();  // too slow: its session sees the error and ends
    }
  }
}

// `rest`, when not empty, is the unsent part of a reply the fast path started: the request
// in `parser` was served already.
asio::awaitable<void> server::impl::session(std::shared_ptr<conn> c, request_parser parser,
                                            std::vector<std::uint8_t> rest) {
  auto self = shared_from_this();
  if (!rest.empty()) {
    co_await reply(c, std::move(rest));
    co_return;
  }
  std::array<std::uint8_t, 512> buf;
  // A request the fast path parsed but did not answer (ALIVE2, KILL) arrives complete.
  bool complete = parser.done();
  while (!complete) {
    error_code ec;
    std::size_t n = co_await c->sock.async_read_some(asio::buffer(buf),
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec || !running) {
      finish(c);
      co_return;
    }
    std::span<const std::uint8_t> in(buf.data(), n);
    auto r = parser.feed(in);
    if (!r) {
      finish(c);
      co_return;
    }
    complete = *r == status::complete;
  }
  request& req = parser.get();
  action a = decide(req, c->sock.native_handle());
  switch (a.what) {
    case action::close:
      finish(c);
      co_return;
    case action::reply:
      co_await reply(c, std::move(a.out));
      co_return;
    case action::kill:
      co_await reply(c, std::move(a.out));
      stop();
      if (kill_cb) kill_cb();
      co_return;
    case action::register_node:
      co_await registration(c, std::move(std::get<alive2_request>(req).node));
      co_return;
  }
}

server::impl::action server::impl::decide(request& req, int fd) {
  action a;
  a.what = action::reply;
  auto& out = a.out;
  if (std::holds_alternative<alive2_request>(req)) {
    a.what = is_local_peer(fd) ? action::register_node : action::close;
  } else if (auto* p = std::get_if<port_please2_request>(&req)) {
    port2_reply rep;
    auto it = nodes.find(p->name);
    if (it == nodes.end()) {
      rep.result = 1;
    } else {
      rep.node = it->second.info;
    }
    encode(rep, out);
  } else if (std::holds_alternative<names_request>(req)) {
    encode_port_header(port, out);
    for (auto* n : newest_first()) {
      auto line = format_name_line(n->first, n->second.info.port);
      out.insert(out.end(), line.begin(), line.end());
    }
  } else if (std::holds_alternative<dump_request>(req)) {
    if (!is_local_peer(fd)) {
      a.what = action::close;
      return a;
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
  } else if (std::holds_alternative<kill_request>(req)) {
    if (!is_local_peer(fd)) {
      a.what = action::close;
    } else if (!opts.relaxed_command_check && !nodes.empty()) {
      out.assign(kill_no.begin(), kill_no.end());
    } else {
      a.what = action::kill;
      out.assign(kill_ok.begin(), kill_ok.end());
    }
  } else {
    auto& s = std::get<stop_request>(req);
    if (!is_local_peer(fd) || !opts.relaxed_command_check) {
      a.what = action::close;  // OTP's epmd closes without a word
      return a;
    }
    auto it = nodes.find(s.name);
    if (it == nodes.end()) {
      out.assign(stop_noexist.begin(), stop_noexist.end());
    } else {
      auto victim = it->second.c.lock();
      unregister(it);
      if (victim) victim->close();
      out.assign(stop_ok.begin(), stop_ok.end());
    }
  }
  return a;
}

asio::awaitable<void> server::impl::reply(std::shared_ptr<conn> c, std::vector<std::uint8_t> out) {
  error_code ec;
  co_await asio::async_write(c->sock, asio::buffer(out),
                             asio::redirect_error(asio::use_awaitable, ec));
  finish(c);
}

asio::awaitable<void> server::impl::registration(std::shared_ptr<conn> c, node_info ni) {
  std::vector<std::uint8_t> out;
  bool extended = ni.highest_version >= 6;
  if (!running || nodes.size() >= opts.max_nodes || nodes.count(ni.name) != 0) {
    encode(alive2_reply{1, refused_creation, extended}, out);
    co_await reply(c, std::move(out));
    co_return;
  }
  std::string name = ni.name;
  node_rec rec;
  rec.creation = next_creation(name, extended);
  rec.info = std::move(ni);
  rec.c = c;
  rec.fd = static_cast<int>(c->sock.native_handle());
  rec.seq = ++seq;
  std::uint32_t creation = rec.creation;
  nodes.emplace(name, std::move(rec));
  // A registration is no longer a pending connection: no timeout, not evicted.
  unpend(c);
  encode(alive2_reply{0, creation, extended}, out);
  error_code ec;
  co_await asio::async_write(c->sock, asio::buffer(out),
                             asio::redirect_error(asio::use_awaitable, ec));
  // The node may send nothing more; anything it sends is ignored until it closes.
  std::array<std::uint8_t, 256> sink;
  while (!ec) {
    co_await c->sock.async_read_some(asio::buffer(sink),
                                     asio::redirect_error(asio::use_awaitable, ec));
  }
  auto it = nodes.find(name);
  if (it != nodes.end() && it->second.c.lock() == c) unregister(it);
  c->close();
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
  im.waiting_set.assign(pfd, first);
  if (first) {
    ::close(pfd);
    return first;
  }
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
    auto proto = acc.local_endpoint().protocol();
    int fd = acc.release(ec);
    if (ec) {
      if (!first) first = ec;
      continue;
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
    im.listeners.push_back({fd, proto});
  }
  if (im.listeners.empty()) {
    error_code ignored;
    im.waiting_set.close(ignored);
    return first ? first : make_error_code(boost::system::errc::address_not_available);
  }
  im.port = port;
  im.running = true;
  asio::co_spawn(im.ex, im.sweep(), asio::detached);
  asio::co_spawn(im.ex, im.waiting_loop(), asio::detached);
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

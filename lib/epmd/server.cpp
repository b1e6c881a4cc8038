// The epmd daemon: one coroutine per connection, one request per connection (like OTP's epmd),
// except ALIVE2 whose connection stays open as the registration.
#include <erlnode/epmd/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <array>
#include <list>
#include <map>
#include <random>
#include <string>

namespace erlnode::epmd {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// How many unregistered names are remembered (to give a returning name a new creation).
constexpr std::size_t max_unused = 1000;
// The creation OTP's epmd puts in a refused ALIVE2 reply.
constexpr std::uint32_t refused_creation = 99;

struct conn {
  conn(tcp::socket s, const asio::any_io_executor& ex) : sock(std::move(s)), timer(ex) {}
  void close() {
    timer.cancel();
    error_code ec;
    sock.close(ec);
  }
  tcp::socket sock;
  asio::steady_timer timer;
  bool local = false;
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

bool is_local_peer(const tcp::socket& s) {
  error_code ec1, ec2;
  auto r = s.remote_endpoint(ec1).address();
  auto l = s.local_endpoint(ec2).address();
  if (ec1 || ec2) return false;
  if (r.is_v6() && r.to_v6().is_v4_mapped())
    r = asio::ip::make_address_v4(asio::ip::v4_mapped, r.to_v6());
  if (l.is_v6() && l.to_v6().is_v4_mapped())
    l = asio::ip::make_address_v4(asio::ip::v4_mapped, l.to_v6());
  return r.is_loopback() || r == l;
}

}  // namespace

struct server::impl : std::enable_shared_from_this<impl> {
  impl(asio::any_io_executor e, server_options o) : ex(std::move(e)), opts(std::move(o)) {
    std::random_device rd;
    creation_base = (std::uint32_t{rd()} & 0x7fffffff) | 0x10000;  // non-zero, beyond 1..3
  }

  asio::any_io_executor ex;
  server_options opts;
  std::list<tcp::acceptor> acceptors;
  std::map<std::string, node_rec, std::less<>> nodes;
  std::list<unused_rec> unused;  // oldest first
  std::list<std::shared_ptr<conn>> pending;
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
    auto it = std::find_if(unused.begin(), unused.end(),
                           [&](const unused_rec& u) { return u.name == name; });
    std::uint32_t prev = 0;
    if (it != unused.end()) {
      prev = it->creation;
      unused.erase(it);
    }
    if (!extended) return prev == 0 ? 1 : prev % 3 + 1;  // ALIVE2_RESP creations are 1..3
    if (prev == 0) return creation_base;
    return prev + 1 == 0 ? 1 : prev + 1;
  }

  void unregister(std::map<std::string, node_rec, std::less<>>::iterator it) {
    unused.push_back({it->first, it->second.creation, it->second.info.port, it->second.fd});
    if (unused.size() > max_unused) unused.pop_front();
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
    for (auto& a : acceptors) {
      error_code ec;
      a.close(ec);
    }
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

  asio::awaitable<void> accept_loop(tcp::acceptor& acc);
  asio::awaitable<void> session(std::shared_ptr<conn> c);
  asio::awaitable<void> reply(std::shared_ptr<conn> c, std::vector<std::uint8_t> out);
  asio::awaitable<void> registration(std::shared_ptr<conn> c, node_info ni);
};

asio::awaitable<void> server::impl::accept_loop(tcp::acceptor& acc) {
  auto self = shared_from_this();
  for (;;) {
    error_code ec;
    tcp::socket s = co_await acc.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (!running) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of descriptors or a transient error: back off instead of spinning.
      asio::steady_timer t(ex, std::chrono::milliseconds(50));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto c = std::make_shared<conn>(std::move(s), ex);
    c->sock.set_option(tcp::no_delay(true), ec);
    c->local = is_local_peer(c->sock);
    admit(c);
    asio::co_spawn(ex, session(c), asio::detached);
  }
}

asio::awaitable<void> server::impl::session(std::shared_ptr<conn> c) {
  auto self = shared_from_this();
  c->timer.expires_after(opts.request_timeout);
  c->timer.async_wait([w = std::weak_ptr<conn>(c)](const error_code& ec) {
    if (ec) return;
    if (auto c = w.lock()) c->close();  // too slow: the session sees the error and ends
  });
  request_parser parser(opts.max_request_length);
  std::array<std::uint8_t, 512> buf;
  for (;;) {
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
    if (*r == status::complete) break;
  }
  std::vector<std::uint8_t> out;
  request& req = parser.get();
  if (auto* a = std::get_if<alive2_request>(&req)) {
    if (!c->local) {
      finish(c);
      co_return;
    }
    co_await registration(c, std::move(a->node));
    co_return;
  }
  if (auto* p = std::get_if<port_please2_request>(&req)) {
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
    if (!c->local) {
      finish(c);
      co_return;
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
    if (!c->local) {
      finish(c);
      co_return;
    }
    if (!opts.relaxed_command_check && !nodes.empty()) {
      out.assign(kill_no.begin(), kill_no.end());
    } else {
      out.assign(kill_ok.begin(), kill_ok.end());
      co_await reply(c, std::move(out));
      stop();
      if (kill_cb) kill_cb();
      co_return;
    }
  } else {
    auto& s = std::get<stop_request>(req);
    if (!c->local || !opts.relaxed_command_check) {
      finish(c);  // OTP's epmd closes without a word
      co_return;
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
  co_await reply(c, std::move(out));
}

asio::awaitable<void> server::impl::reply(std::shared_ptr<conn> c, std::vector<std::uint8_t> out) {
  error_code ec;
  co_await asio::async_write(c->sock, asio::buffer(out),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) c->sock.shutdown(tcp::socket::shutdown_send, ec);
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
  c->timer.cancel();
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
  std::uint16_t port = im.opts.port;
  error_code first;
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
    im.acceptors.push_back(std::move(acc));
  }
  if (im.acceptors.empty())
    return first ? first : make_error_code(boost::system::errc::address_not_available);
  im.port = port;
  im.running = true;
  for (auto& acc : im.acceptors) asio::co_spawn(im.ex, im.accept_loop(acc), asio::detached);
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

// Two or three C++ nodes in one process, epmd-less (each on its own loopback address, all on
// one port, as erl -erl_epmd_port does).
#include <erlnode/dist/crypto.hpp>
#include <erlnode/dist/handshake.hpp>
#include <erlnode/node.hpp>

#include "node/node_impl.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace erlnode;
using namespace std::chrono_literals;

namespace {
std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

struct test_node {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::mutex m;
  std::vector<std::string> logs;
  std::unique_ptr<node> n;
  std::thread th;
  test_node(const std::string& ip, std::uint16_t port, auto_connect ac = auto_connect::always) {
    node_options o;
    o.name = "n@" + ip;
    o.long_names = true;
    o.cookie = "cookie";
    o.epmd_less_port = port;
    o.listen_address = ip;
    o.dist_auto_connect = ac;
    o.logger = [this](log_level, std::string_view s) {
      std::lock_guard lk(m);
      logs.emplace_back(s);
    };
    n = std::make_unique<node>(io.get_executor(), o);
    th = std::thread([this] { io.run(); });
  }
  explicit test_node(node_options o) {
    o.logger = [this](log_level, std::string_view s) {
      std::lock_guard lk(m);
      logs.emplace_back(s);
    };
    n = std::make_unique<node>(io.get_executor(), o);
    th = std::thread([this] { io.run(); });
  }
  ~test_node() {
    n->stop();
    std::this_thread::sleep_for(50ms);
    work.reset();
    io.stop();
    th.join();
  }
  bool logged(const std::string& needle) {
    for (int i = 0; i < 200; ++i) {
      {
        std::lock_guard lk(m);
        for (auto& l : logs)
          if (l.find(needle) != std::string::npos) return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }
};
}  // namespace

TEST_CASE("epmd-less nodes connect, exchange messages, and survive a peer's invalid message") {
  const std::uint16_t port = free_port();
  test_node a("127.0.0.1", port), b("127.0.0.2", port), c("127.0.0.3", port);
  REQUIRE(a.n->async_start(boost::asio::use_future).get() == std::error_code());
  REQUIRE(b.n->async_start(boost::asio::use_future).get() == std::error_code());
  REQUIRE(c.n->async_start(boost::asio::use_future).get() == std::error_code());
  CHECK(a.n->port() == port);

  auto bbox = b.n->create_mailbox(atom("box")).value();
  auto abox = a.n->create_mailbox();
  auto mon = a.n->create_mailbox();
  a.n->monitor_nodes(mon);
  // Auto-connect on the first send; the message waits for the handshake.
  CHECK(!abox.send(atom("box"), b.n->name(), term(tuple{atom("hi"), abox.self()})));
  auto m = bbox.receive(5s);
  REQUIRE(m);
  CHECK(m->as<tuple>()[0] == term(atom("hi")));
  CHECK(!bbox.send(m->as<tuple>()[1].as<pid>(), term(atom("back"))));
  CHECK(abox.receive(5s).value() == term(atom("back")));
  auto up = mon.receive(5s);
  REQUIRE(up);
  CHECK(up->as<tuple>()[0] == term(atom("nodeup")));
  auto info = a.n->connection(b.n->name());
  REQUIRE(info);
  CHECK(info->messages_out >= 1);
  CHECK(info->creation == b.n->creation());
  CHECK(b.n->nodes(node_filter::hidden) == std::vector<atom>{a.n->name()});

  // c <-> b works independently.
  auto cbox = c.n->create_mailbox();
  CHECK(c.n->async_ping(std::string(b.n->name().text()), boost::asio::use_future).get() ==
        std::make_tuple(std::error_code(), true));

  // a sends b a control message with an unknown op: b logs it and drops only that connection.
  using detail::outgoing;
  CHECK(!a.n->impl()->route(outgoing{outgoing::kind::control, abox.self(), term(tuple{99, 1}), {}},
                            b.n->name()));
  CHECK(b.logged("invalid distribution message from " + std::string(a.n->name().text())));
  auto down = mon.receive(5s);
  REQUIRE(down);
  CHECK(down->as<tuple>()[0] == term(atom("nodedown")));
  CHECK(b.n->connection(c.n->name()));
  CHECK(!cbox.send(atom("box"), b.n->name(), term(atom("still"))));
  CHECK(bbox.receive(5s).value() == term(atom("still")));

  // Explicit disconnect gives nodedown reason disconnect.
  REQUIRE(a.n->async_connect(std::string(b.n->name().text()), boost::asio::use_future).get() ==
          std::error_code());
  (void)mon.receive(5s);  // nodeup
  CHECK(a.n->disconnect(b.n->name()));
  auto d2 = mon.receive(5s);
  REQUIRE(d2);
  auto& l = d2->as<tuple>()[2].as<list>();
  CHECK(l[1] == term(tuple{atom("nodedown_reason"), atom("disconnect")}));
}

TEST_CASE("simultaneous connects from both sides end in one working connection") {
  const std::uint16_t port = free_port();
  test_node a("127.0.0.1", port), b("127.0.0.2", port);
  REQUIRE(a.n->async_start(boost::asio::use_future).get() == std::error_code());
  REQUIRE(b.n->async_start(boost::asio::use_future).get() == std::error_code());
  for (int round = 0; round < 3; ++round) {
    auto fa = a.n->async_connect(std::string(b.n->name().text()), boost::asio::use_future);
    auto fb = b.n->async_connect(std::string(a.n->name().text()), boost::asio::use_future);
    CHECK(fa.get() == std::error_code());
    CHECK(fb.get() == std::error_code());
    CHECK(a.n->nodes(node_filter::connected).size() == 1);
    CHECK(b.n->nodes(node_filter::connected).size() == 1);
    auto abox = a.n->create_mailbox(), bbox = b.n->create_mailbox();
    CHECK(!abox.send(bbox.self(), term(round)));
    CHECK(bbox.receive(5s).value() == term(round));
    CHECK(!bbox.send(abox.self(), term(round)));
    CHECK(abox.receive(5s).value() == term(round));
    CHECK(a.n->disconnect(b.n->name()));
    for (int i = 0; i < 100 && !b.n->nodes(node_filter::connected).empty(); ++i)
      std::this_thread::sleep_for(10ms);
    for (int i = 0; i < 100 && !a.n->nodes(node_filter::connected).empty(); ++i)
      std::this_thread::sleep_for(10ms);
  }
}

TEST_CASE("dist_auto_connect never and once") {
  const std::uint16_t port = free_port();
  test_node a("127.0.0.1", port, auto_connect::never), b("127.0.0.2", port),
      c("127.0.0.3", port, auto_connect::once);
  REQUIRE(a.n->async_start(boost::asio::use_future).get() == std::error_code());
  REQUIRE(b.n->async_start(boost::asio::use_future).get() == std::error_code());
  REQUIRE(c.n->async_start(boost::asio::use_future).get() == std::error_code());
  auto bbox = b.n->create_mailbox(atom("box")).value();
  auto abox = a.n->create_mailbox();
  CHECK(abox.send(atom("box"), b.n->name(), term(1)) == node_errc::not_connected);
  REQUIRE(a.n->async_connect(std::string(b.n->name().text()), boost::asio::use_future).get() ==
          std::error_code());
  CHECK(!abox.send(atom("box"), b.n->name(), term(2)));
  CHECK(bbox.receive(5s).value() == term(2));

  auto cbox = c.n->create_mailbox();
  CHECK(!cbox.send(atom("box"), b.n->name(), term(3)));  // first time: connects
  CHECK(bbox.receive(5s).value() == term(3));
  CHECK(c.n->disconnect(b.n->name()));
  for (int i = 0; i < 100 && !c.n->nodes(node_filter::connected).empty(); ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(cbox.send(atom("box"), b.n->name(), term(4)) == node_errc::not_connected);
  // A spawn_request does not reconnect either: it fails with noconnection, as in OTP.
  auto ref = cbox.spawn_request(b.n->name(), atom("m"), atom("f"), list{});
  REQUIRE(ref);
  CHECK(cbox.receive(5s).value() ==
        term(tuple{atom("spawn_reply"), ref.value(), atom("error"), atom("noconnection")}));
  CHECK(c.n->nodes(node_filter::connected).empty());
}

// ------------------------------------------------------------------------------------------
// Dynamic names (node_options::named_by)

namespace {
node_options dynamic_options(const std::string& host, const std::string& peer, std::uint16_t port) {
  node_options o;
  o.name = host.empty() ? "" : "@" + host;
  o.long_names = true;
  o.cookie = "cookie";
  o.epmd_less_port = port;
  o.named_by = peer;
  return o;
}

// A peer that names whoever connects: the acceptor side of the handshake on a blocking
// socket, answering a dynamic-name request with "named:" (as erl does), then holding the
// connection open until close().
struct fake_namer {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acc;
  boost::asio::ip::tcp::socket sock{io};
  std::string give;  // the name to hand out
  std::uint32_t creation;
  std::promise<dist::need_status_decision> asked;
  std::atomic<bool> up{false};
  bool dribble = false;  // write one byte at a time (the peer reads the status in pieces)
  bool raw = false;
  std::thread th;
  enum class mode { handshake, dribble, raw };
  fake_namer(const std::string& ip, std::uint16_t port, std::string name, std::uint32_t cr,
             mode md = mode::handshake)
      : acc(io, {boost::asio::ip::make_address(ip), port}),
        give(std::move(name)),
        creation(cr),
        dribble(md == mode::dribble),
        raw(md == mode::raw) {
    th = std::thread([this, ip] { run(ip); });
  }
  // Raw mode: the acceptor's messages written by hand, so the status can say what
  // dist::handshake would never send (a foreign host, creation 0).
  static void put(std::vector<std::uint8_t>& m, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) m.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void send_msg(const std::vector<std::uint8_t>& m, boost::system::error_code& ec) {
    std::vector<std::uint8_t> f;
    put(f, m.size(), 2);
    f.insert(f.end(), m.begin(), m.end());
    boost::asio::write(sock, boost::asio::buffer(f), ec);
  }
  std::vector<std::uint8_t> recv_msg(boost::system::error_code& ec) {
    std::uint8_t len[2];
    boost::asio::read(sock, boost::asio::buffer(len), ec);
    if (ec) return {};
    std::vector<std::uint8_t> m((std::size_t{len[0]} << 8) | len[1]);
    boost::asio::read(sock, boost::asio::buffer(m), ec);
    return m;
  }
  void run_raw(const std::string& ip) {
    boost::system::error_code ec;
    auto name_msg = recv_msg(ec);  // 'N', flags, creation, host
    if (ec) return;
    std::vector<std::uint8_t> st{'s', 'n', 'a', 'm', 'e', 'd', ':'};
    put(st, give.size(), 2);
    st.insert(st.end(), give.begin(), give.end());
    put(st, creation, 4);
    send_msg(st, ec);
    const std::string me = "namer@" + ip;
    std::vector<std::uint8_t> ch{'N'};
    put(ch, dist::hidden_profile, 8);
    put(ch, 42, 4);  // our challenge
    put(ch, 7, 4);   // our creation
    put(ch, me.size(), 2);
    ch.insert(ch.end(), me.begin(), me.end());
    send_msg(ch, ec);
    auto reply = recv_msg(ec);  // 'r', their challenge, digest
    if (ec || reply.size() != 21) return;
    std::uint32_t theirs = (std::uint32_t{reply[1]} << 24) | (std::uint32_t{reply[2]} << 16) |
                           (std::uint32_t{reply[3]} << 8) | reply[4];
    auto d = dist::cookie_digest("cookie", theirs);
    std::vector<std::uint8_t> ack{'a'};
    ack.insert(ack.end(), d.begin(), d.end());
    send_msg(ack, ec);
    up = true;
    std::uint8_t buf[4096];
    while (!ec) sock.read_some(boost::asio::buffer(buf), ec);
  }
  void run(const std::string& ip) {
    boost::system::error_code ec;
    acc.accept(sock, ec);
    if (ec) return;
    if (raw) return run_raw(ip);
    dist::handshake_config cfg;
    cfg.role = dist::handshake_role::acceptor;
    cfg.this_node = "namer@" + ip;
    cfg.this_creation = 7;
    cfg.cookie = "cookie";
    cfg.crypto = dist::openssl_crypto();
    dist::handshake hs(cfg);
    if (!hs.start()) return;
    std::vector<std::uint8_t> in;
    std::uint8_t buf[4096];
    for (;;) {
      std::size_t used = hs.feed(in);
      in.erase(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(used));
      bool decided = false;
      while (auto ev = hs.poll()) {
        if (auto* d = std::get_if<dist::need_status_decision>(&*ev)) {
          asked.set_value(*d);
          (void)hs.decide_named(give, creation);
          decided = true;
        }
      }
      if (dribble) {
        sock.set_option(boost::asio::ip::tcp::no_delay(true), ec);
        for (std::size_t i = 0; i < hs.output().size() && !ec; ++i) {
          boost::asio::write(sock, boost::asio::buffer(&hs.output()[i], 1), ec);
          std::this_thread::sleep_for(1ms);
        }
      } else {
        boost::asio::write(sock, boost::asio::buffer(hs.output()), ec);
      }
      hs.output().clear();
      if (ec || hs.has_failed()) return;
      if (hs.is_done()) break;
      if (decided) continue;
      std::size_t n = sock.read_some(boost::asio::buffer(buf), ec);
      if (ec) return;
      in.insert(in.end(), buf, buf + n);
    }
    up = true;
    while (!ec) sock.read_some(boost::asio::buffer(buf), ec);  // ticks, messages: ignored
  }
  void close() { ::shutdown(sock.native_handle(), SHUT_RDWR); }
  ~fake_namer() {
    close();
    boost::system::error_code ec;
    acc.close(ec);
    th.join();
  }
};
}  // namespace

TEST_CASE("dynamic host: empty is this host, \"@host\" is checked like a peer's host") {
  auto s = make_dynamic_host("", false);
  REQUIRE(s);
  CHECK(s->host == short_hostname());
  CHECK(s->name.empty());
  CHECK(make_dynamic_host("@127.0.0.1", true).value().host == "127.0.0.1");
  CHECK(make_dynamic_host("@h.example.com", true).value().host == "h.example.com");
  CHECK(make_dynamic_host("@h.example.com", false).error().code == name_errc::not_short);
  CHECK(make_dynamic_host("@h", true).error().code == name_errc::not_long);
  CHECK(make_dynamic_host("x@h", false).error().code == name_errc::bad_character);
  CHECK(make_dynamic_host("@", false).error().code == name_errc::empty_host);
  CHECK(make_dynamic_host("@a@b", false).error().code == name_errc::bad_host);
  CHECK(make_dynamic_host("@" + std::string(230, 'h'), false).error().code == name_errc::too_long);
}

TEST_CASE("a dynamic-name node has no pids before it has a name") {
  test_node d(dynamic_options("127.0.0.5", "namer@127.0.0.9", free_port()));
  CHECK(d.n->name() == atom());
  CHECK(d.n->creation() == 0);
  CHECK_THROWS_AS(d.n->create_mailbox(), std::logic_error);
  CHECK_THROWS_AS(d.n->make_ref(), std::logic_error);
  CHECK_THROWS_AS(d.n->spawn([](mailbox&, list) -> boost::asio::awaitable<void> { co_return; }),
                  std::logic_error);
  CHECK(d.n->create_mailbox(atom("box")).error().code == node_errc::not_started);
  CHECK(d.n->async_connect("x@127.0.0.9", boost::asio::use_future).get() == node_errc::not_started);
}

TEST_CASE("dynamic-name options that cannot work are refused at start, clearly") {
  auto o = dynamic_options("127.0.0.5", "namer@127.0.0.9", free_port());
  o.hidden = false;
  test_node visible(o);
  CHECK(visible.n->async_start(boost::asio::use_future).get() == std::errc::invalid_argument);
  CHECK(visible.logged("always hidden"));
  o = dynamic_options("127.0.0.5", "namer@127.0.0.9", free_port());
  o.name = "x@127.0.0.5";  // a name part: a dynamic node has none
  test_node named(o);
  CHECK(named.n->async_start(boost::asio::use_future).get() == name_errc::bad_character);
  CHECK(named.logged("with named_by, name is \"\" or \"@host\""));
}

TEST_CASE("an erlnode peer refuses to name a node: start fails with not_allowed, may be retried") {
  const std::uint16_t port = free_port();
  test_node b("127.0.0.2", port);
  REQUIRE(b.n->async_start(boost::asio::use_future).get() == std::error_code());
  test_node d(dynamic_options("127.0.0.5", std::string(b.n->name().text()), port));
  CHECK(d.n->async_start(boost::asio::use_future).get() == dist::errc::status_not_allowed);
  CHECK(d.n->name() == atom());
  CHECK(d.logged("not_allowed"));
  // Not "already_started": the node may ask again (here with the same answer).
  CHECK(d.n->async_start(boost::asio::use_future).get() == dist::errc::status_not_allowed);
  CHECK(b.n->nodes(node_filter::connected).empty());
  // Nobody there at all: the dial error.
  test_node e(dynamic_options("127.0.0.5", "nobody@127.0.0.8", port));
  CHECK(e.n->async_start(boost::asio::use_future).get() == node_errc::connect_failed);
}

TEST_CASE("a dynamic-name node takes the name the peer gives, uses it, and stops when it goes") {
  const std::uint16_t port = free_port();
  fake_namer namer("127.0.0.9", port, "GIVEN1@127.0.0.5", 0x51234);
  test_node c("127.0.0.3", port);
  REQUIRE(c.n->async_start(boost::asio::use_future).get() == std::error_code());
  auto cbox = c.n->create_mailbox(atom("box")).value();
  auto cmon = c.n->create_mailbox();
  c.n->monitor_nodes(cmon);

  test_node d(dynamic_options("127.0.0.5", "namer@127.0.0.9", port));
  REQUIRE(d.n->async_start(boost::asio::use_future).get() == std::error_code());
  auto req = namer.asked.get_future().get();
  CHECK(req.dynamic_name);
  CHECK(req.peer_node == "127.0.0.5");  // the host only
  CHECK(d.n->name() == atom("GIVEN1@127.0.0.5"));
  CHECK(d.n->creation() == 0x51234u);
  CHECK(d.n->port() == 0);  // no listen socket
  CHECK(d.n->nodes(node_filter::hidden) == std::vector<atom>{atom("namer@127.0.0.9")});

  // Pids, refs and further connections carry the given name and creation.
  auto dbox = d.n->create_mailbox();
  CHECK(dbox.self().node() == d.n->name());
  CHECK(dbox.self().creation() == 0x51234u);
  CHECK(d.n->make_ref().node() == d.n->name());
  auto sent = dbox.send(atom("box"), c.n->name(), term(tuple{atom("hi"), dbox.self()}));
  INFO(sent.message());
  CHECK(!sent);
  auto m = cbox.receive(5s);
  REQUIRE(m);
  auto from = m->as<tuple>()[1].as<pid>();
  CHECK(from.node() == atom("GIVEN1@127.0.0.5"));
  CHECK(from.creation() == 0x51234u);
  CHECK(c.n->nodes(node_filter::hidden) == std::vector<atom>{atom("GIVEN1@127.0.0.5")});
  CHECK(c.n->connection(d.n->name()).value().creation == 0x51234u);
  CHECK(!cbox.send(from, term(atom("back"))));
  CHECK(dbox.receive(5s).value() == term(atom("back")));
  CHECK(cmon.receive(5s).value().as<tuple>()[0] == term(atom("nodeup")));

  // The naming connection goes: the node stops, its other connections with it.
  namer.close();
  auto down = cmon.receive(5s);
  REQUIRE(down);
  CHECK(down->as<tuple>()[0] == term(atom("nodedown")));
  CHECK(d.logged("which gave this node its name, is down: the node stops"));
  CHECK(d.n->async_connect(std::string(c.n->name().text()), boost::asio::use_future).get() ==
        node_errc::closed);
  CHECK(dbox.send(atom("box"), c.n->name(), term(1)) != std::error_code());
  for (int i = 0; i < 200 && !d.n->nodes(node_filter::connected).empty(); ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(d.n->nodes(node_filter::connected).empty());
}

TEST_CASE("a named: status read in one-byte pieces still names the node") {
  const std::uint16_t port = free_port();
  fake_namer namer("127.0.0.9", port, "PIECES@127.0.0.5", 77, fake_namer::mode::dribble);
  test_node d(dynamic_options("127.0.0.5", "namer@127.0.0.9", port));
  REQUIRE(d.n->async_start(boost::asio::use_future).get() == std::error_code());
  CHECK(d.n->name() == atom("PIECES@127.0.0.5"));
  CHECK(d.n->creation() == 77u);
}

TEST_CASE("a peer giving a name on another host, or creation 0, is refused") {
  const std::uint16_t port = free_port();
  {
    fake_namer namer("127.0.0.9", port, "OTHER@elsewhere", 77, fake_namer::mode::raw);
    test_node d(dynamic_options("127.0.0.5", "namer@127.0.0.9", port));
    CHECK(d.n->async_start(boost::asio::use_future).get() == dist::errc::bad_node_name);
    CHECK(d.n->name() == atom());
    CHECK(d.logged("named: status gives invalid name"));
  }
  {
    fake_namer namer("127.0.0.9", port, "ZERO@127.0.0.5", 0, fake_namer::mode::raw);
    test_node d(dynamic_options("127.0.0.5", "namer@127.0.0.9", port));
    CHECK(d.n->async_start(boost::asio::use_future).get() == node_errc::handshake_failed);
    CHECK(d.n->name() == atom());
    CHECK(d.logged("no usable name"));
  }
}

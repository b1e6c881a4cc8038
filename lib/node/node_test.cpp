// Two or three C++ nodes in one process, epmd-less (each on its own loopback address, all on
// one port, as erl -erl_epmd_port does).
#include <erlnode/node.hpp>

#include "node/node_impl.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <mutex>
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

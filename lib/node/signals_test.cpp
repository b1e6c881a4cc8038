// Links, exit signals, monitors, aliases and group leaders: between mailboxes of one node, and
// between two C++ nodes (epmd-less, loopback), including connection loss.
#include <erlnode/node.hpp>

#include "node/node_impl.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

#include "test_support/test_node.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace erlnode;
using namespace std::chrono_literals;

namespace {
using testing::free_port;
struct test_node : testing::test_node {
  test_node(const std::string& ip, std::uint16_t port) : testing::test_node(ip, port) { start(); }
  detail::node_impl::signal_stats stats() const { return n->impl()->stats(); }
};

// The message, or a failed test.
term recv(mailbox& mb, std::chrono::milliseconds to = 2s) {
  auto r = mb.receive(to);
  REQUIRE(r);
  return *r;
}
bool is_exit(const term& m, const pid& from, const term& reason) {
  return m == term(tuple{atoms::EXIT, from, reason});
}
bool is_down(const term& m, const reference& ref, const term& obj, const term& reason) {
  return m == term(tuple{atoms::DOWN, ref, atoms::process, obj, reason});
}
// Waits until `mb` is dead (signals to remote nodes arrive asynchronously).
bool dies(const mailbox& mb) {
  for (int i = 0; i < 300 && mb.alive(); ++i) std::this_thread::sleep_for(10ms);
  return !mb.alive();
}
}  // namespace

TEST_CASE(
    "local links: abnormal exits kill, normal ones do not, trapping turns them into messages") {
  boost::asio::io_context io;
  node n(io.get_executor(), {.name = "sig@localhost", .cookie = "c"});
  auto a = n.create_mailbox(), b = n.create_mailbox(), c = n.create_mailbox();
  REQUIRE(!a.link(b.self()));
  REQUIRE(!b.link(c.self()));

  SECTION("normal exit: linked processes live on") {
    a.close();
    CHECK(b.alive());
    CHECK(c.alive());
    CHECK(b.queued() == 0);
  }
  SECTION("abnormal exit propagates along the chain with the same reason") {
    a.exit(atom("boom"));
    CHECK(!b.alive());
    CHECK(!c.alive());
    CHECK(*b.exit_reason() == term(atom("boom")));
    CHECK(*c.exit_reason() == term(atom("boom")));
    auto r = b.receive(10ms);
    CHECK(r.error().code == node_errc::closed);
  }
  SECTION("a trapping process gets {'EXIT', From, Reason} and stops the chain") {
    b.trap_exit(true);
    a.exit(atom("boom"));
    CHECK(b.alive());
    CHECK(c.alive());
    CHECK(is_exit(recv(b), a.self(), atom("boom")));
  }
  SECTION("unlink removes the link on both sides") {
    REQUIRE(!b.unlink(a.self()));
    a.exit(atom("boom"));
    CHECK(b.alive());
  }
  SECTION("a link exit with reason kill is an ordinary reason") {
    b.trap_exit(true);
    a.exit(atoms::kill);
    CHECK(is_exit(recv(b), a.self(), atoms::kill));
  }
  auto s = n.impl()->stats();
  (void)s;
}

TEST_CASE("local exit/2: kill is untrappable, normal is ignored unless from self") {
  boost::asio::io_context io;
  node n(io.get_executor(), {.name = "sig@localhost", .cookie = "c"});
  auto a = n.create_mailbox(), b = n.create_mailbox(), c = n.create_mailbox();
  REQUIRE(!b.link(c.self()));

  CHECK(!a.exit(b.self(), atoms::normal));
  CHECK(b.alive());
  b.trap_exit(true);
  CHECK(!a.exit(b.self(), atom("x")));
  CHECK(is_exit(recv(b), a.self(), atom("x")));
  CHECK(!a.exit(b.self(), atoms::kill));
  CHECK(!b.alive());
  CHECK(*b.exit_reason() == term(atoms::killed));
  CHECK(*c.exit_reason() == term(atoms::killed));  // propagated as killed
  c = n.create_mailbox();
  CHECK(!c.exit(c.self(), atoms::normal));  // exit(self(), normal) kills
  CHECK(!c.alive());
  auto s = n.impl()->stats();
  CHECK(s.processes == 1);
  CHECK(s.links == 0);
}

TEST_CASE("link to a dead local pid: noproc") {
  boost::asio::io_context io;
  node n(io.get_executor(), {.name = "sig@localhost", .cookie = "c"});
  auto a = n.create_mailbox(), b = n.create_mailbox();
  pid dead = b.self();
  b.close();
  CHECK(a.link(dead) == std::errc::no_such_process);
  CHECK(a.alive());
  a.trap_exit(true);
  CHECK(!a.link(dead));
  CHECK(is_exit(recv(a), dead, atoms::noproc));
}

TEST_CASE("local monitors by pid and name, noproc, demonitor with flush") {
  boost::asio::io_context io;
  node n(io.get_executor(), {.name = "sig@localhost", .cookie = "c"});
  auto w = n.create_mailbox();
  auto target = n.create_mailbox(atom("tgt")).value();
  auto r1 = w.monitor(target.self());
  auto r2 = w.monitor(atom("tgt"), n.name());
  auto r3 = w.monitor(atom("nobody"), n.name());
  CHECK(is_down(recv(w), r3, tuple{atom("nobody"), n.name()}, atoms::noproc));
  auto r4 = w.monitor(target.self());
  CHECK(w.demonitor(r4));
  CHECK(!w.demonitor(r4));
  target.exit(atom("bye"));
  CHECK(is_down(recv(w), r1, target.self(), atom("bye")));
  CHECK(is_down(recv(w), r2, tuple{atom("tgt"), n.name()}, atom("bye")));
  CHECK(!w.receive(10ms));
  // Monitoring a dead pid: noproc at once.
  auto r5 = w.monitor(target.self());
  CHECK(is_down(recv(w), r5, target.self(), atoms::noproc));
  // Flush removes a DOWN already queued.
  auto x = n.create_mailbox();
  auto r6 = w.monitor(x.self());
  x.close();
  CHECK(!w.demonitor(r6, true));
  CHECK(w.queued() == 0);
  auto s = n.impl()->stats();
  CHECK(s.monitors == 0);
  CHECK(s.watching == 0);
  // The registered name was freed.
  CHECK(n.create_mailbox(atom("tgt")));
}

TEST_CASE("local aliases: messages arrive until unalias, then are dropped") {
  boost::asio::io_context io;
  node n(io.get_executor(), {.name = "sig@localhost", .cookie = "c"});
  auto owner = n.create_mailbox(), sender = n.create_mailbox();
  auto al = owner.alias();
  CHECK(!sender.send(al, atom("one")));
  CHECK(recv(owner) == term(atom("one")));
  CHECK(owner.unalias(al));
  CHECK(!owner.unalias(al));
  CHECK(!sender.send(al, atom("two")));
  CHECK(!owner.receive(20ms));
  auto al2 = owner.alias();
  owner.close();
  CHECK(!sender.send(al2, atom("three")));
  CHECK(n.impl()->stats().aliases == 0);
}

TEST_CASE("group leader: own pid until set") {
  boost::asio::io_context io;
  node n(io.get_executor(), {.name = "sig@localhost", .cookie = "c"});
  auto a = n.create_mailbox(), b = n.create_mailbox();
  CHECK(term(a.group_leader()) == term(a.self()));
  a.set_group_leader(b.self());
  CHECK(term(a.group_leader()) == term(b.self()));
}

TEST_CASE("exit signals from many threads at once leave a consistent registry") {
  boost::asio::io_context io;
  node n(io.get_executor(), {.name = "sig@localhost", .cookie = "c"});
  constexpr int k = 200;
  std::vector<mailbox> mbs;
  for (int i = 0; i < k; ++i) mbs.push_back(n.create_mailbox());
  for (int i = 0; i + 1 < k; ++i) REQUIRE(!mbs[i].link(mbs[i + 1].self()));
  for (int i = 0; i < k; i += 7) (void)mbs[i].monitor(mbs[(i * 13) % k].self());
  std::vector<std::thread> ts;
  for (int th = 0; th < 4; ++th)
    ts.emplace_back([&, th] {
      for (int i = th; i < k; i += 4)
        if (i % 50 == 0) mbs[i].exit(atom("crash"));
    });
  for (auto& t : ts) t.join();
  for (auto& m : mbs) CHECK(!m.alive());
  mbs.clear();
  auto s = n.impl()->stats();
  CHECK(s.processes == 0);
  CHECK(s.links == 0);
  CHECK(s.monitors == 0);
  CHECK(s.extras == 0);
}

TEST_CASE("remote links, exits and monitors between two nodes; noconnection on loss") {
  const auto port = free_port();
  test_node n1("127.0.0.1", port);
  auto n2 = std::make_unique<test_node>("127.0.0.2", port);
  auto a = n1.n->create_mailbox();
  auto b = n2->n->create_mailbox(atom("bee")).value();
  REQUIRE(!n1.n->async_connect(detail::str(n2->n->name()), boost::asio::use_future).get());

  SECTION("link exit kills; trap_exit gets the message") {
    auto c = n1.n->create_mailbox();
    c.trap_exit(true);
    REQUIRE(!a.link(b.self()));
    REQUIRE(!c.link(b.self()));
    std::this_thread::sleep_for(100ms);
    b.exit(atom("boom"));
    CHECK(dies(a));
    CHECK(*a.exit_reason() == term(atom("boom")));
    CHECK(is_exit(recv(c), b.self(), atom("boom")));
  }
  SECTION("unlink: the other side's exit is ignored afterwards") {
    REQUIRE(!a.link(b.self()));
    std::this_thread::sleep_for(100ms);
    REQUIRE(!a.unlink(b.self()));
    std::this_thread::sleep_for(100ms);
    b.exit(atom("boom"));
    std::this_thread::sleep_for(200ms);
    CHECK(a.alive());
    CHECK(n1.stats().links == 0);
    CHECK(n2->stats().links == 0);
  }
  SECTION("link to a dead remote pid: noproc") {
    pid dead = b.self();
    b.close();
    a.trap_exit(true);
    REQUIRE(!a.link(dead));
    CHECK(is_exit(recv(a), dead, atoms::noproc));
  }
  SECTION("exit/2 to a remote pid") {
    b.trap_exit(true);
    REQUIRE(!a.exit(b.self(), atom("hey")));
    CHECK(is_exit(recv(b), a.self(), atom("hey")));
    REQUIRE(!a.exit(b.self(), atoms::kill));
    CHECK(dies(b));
    CHECK(*b.exit_reason() == term(atoms::killed));
  }
  SECTION("monitors by pid and name; noproc for a missing name; demonitor") {
    auto r1 = a.monitor(b.self());
    auto r2 = a.monitor(atom("bee"), n2->n->name());
    auto r3 = a.monitor(atom("nobody"), n2->n->name());
    CHECK(is_down(recv(a), r3, tuple{atom("nobody"), n2->n->name()}, atoms::noproc));
    auto r4 = a.monitor(b.self());
    std::this_thread::sleep_for(100ms);
    CHECK(a.demonitor(r4));
    std::this_thread::sleep_for(100ms);
    CHECK(n2->stats().monitors == 2);
    b.exit(atom("bye"));
    CHECK(is_down(recv(a), r1, b.self(), atom("bye")));
    CHECK(is_down(recv(a), r2, tuple{atom("bee"), n2->n->name()}, atom("bye")));
    CHECK(!a.receive(50ms));
  }
  SECTION("aliases across nodes") {
    auto al = a.alias();
    REQUIRE(!b.send(al, atom("hi")));
    CHECK(recv(a) == term(atom("hi")));
    a.unalias(al);
    REQUIRE(!b.send(al, atom("lost")));
    CHECK(!a.receive(100ms));
  }
  SECTION("connection loss: noconnection for links and monitors, nodedown") {
    auto c = n1.n->create_mailbox(), d = n1.n->create_mailbox();
    d.trap_exit(true);
    REQUIRE(!c.link(b.self()));
    REQUIRE(!d.link(b.self()));
    auto r = a.monitor(b.self());
    REQUIRE(!a.monitor_node(n2->n->name()));
    pid bp = b.self();
    atom n2name = n2->n->name();
    std::this_thread::sleep_for(100ms);
    n2->n->stop();  // (its mailboxes outlive it otherwise)
    CHECK(dies(c));
    CHECK(*c.exit_reason() == term(atoms::noconnection));
    CHECK(is_exit(recv(d), bp, atoms::noconnection));
    auto m1 = recv(a), m2 = recv(a);
    bool down_first = m1.get_if<tuple>()->size() == 5;
    CHECK(is_down(down_first ? m1 : m2, r, bp, atoms::noconnection));
    CHECK((down_first ? m2 : m1) == term(tuple{atom("nodedown"), n2name}));
    auto s = n1.stats();
    CHECK(s.links == 0);
    CHECK(s.watching == 0);
    CHECK(s.node_monitors == 0);
    CHECK(s.peer_index == 0);
  }
  SECTION("monitor_node of an unreachable node: nodedown at once") {
    REQUIRE(!a.monitor_node(atom("nobody@127.0.0.9")));
    CHECK(recv(a, 10s) == term(tuple{atom("nodedown"), atom("nobody@127.0.0.9")}));
  }
}

#include <erlnode/node.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <thread>

using namespace erlnode;
using namespace std::chrono_literals;

namespace {
struct running_io {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread th{[this] { io.run(); }};
  ~running_io() {
    work.reset();
    io.stop();
    th.join();
  }
};
node_options local_opts() {
  node_options o;
  o.name = "mbtest";
  o.cookie = "secret";
  return o;
}
}  // namespace

TEST_CASE("mailboxes get distinct pids of the node and exchange messages") {
  running_io r;
  node n(r.io.get_executor(), local_opts());
  mailbox a = n.create_mailbox();
  mailbox b = n.create_mailbox();
  CHECK(a.self().node() == n.name());
  CHECK(term(a.self()) != term(b.self()));
  CHECK(!a.send(b.self(), term(tuple{atom("hello"), 42})));
  auto m = b.receive(1s);
  REQUIRE(m);
  CHECK(*m == term(tuple{atom("hello"), 42}));
  CHECK(!b.try_receive());
  auto t = b.receive(20ms);
  REQUIRE(!t);
  CHECK(t.error().code == node_errc::timeout);
}

TEST_CASE("registered names: send by name, taken names refused, freed on close") {
  running_io r;
  node n(r.io.get_executor(), local_opts());
  auto srv = n.create_mailbox(atom("server"));
  REQUIRE(srv);
  auto dup = n.create_mailbox(atom("server"));
  REQUIRE(!dup);
  CHECK(dup.error().code == node_errc::name_taken);
  mailbox c = n.create_mailbox();
  CHECK(!c.send(atom("server"), term(1)));
  CHECK(!c.send(atom("server"), n.name(), term(2)));
  CHECK(srv->receive(1s).value() == term(1));
  CHECK(srv->receive(1s).value() == term(2));
  srv->close();
  CHECK(!c.send(atom("server"), term(3)));  // dropped, as for a dead process
  auto again = n.create_mailbox(atom("server"));
  CHECK(again);
}

TEST_CASE("async_receive with use_future and with a callback; close wakes receivers") {
  running_io r;
  node n(r.io.get_executor(), local_opts());
  mailbox a = n.create_mailbox();
  mailbox b = n.create_mailbox();
  auto f = b.async_receive(boost::asio::use_future);
  CHECK(f.wait_for(20ms) == std::future_status::timeout);
  (void)a.send(b.self(), term(7));
  auto [ec, msg] = f.get();
  CHECK(!ec);
  CHECK(msg == term(7));

  std::promise<std::error_code> p;
  b.async_receive([&](std::error_code e, term) { p.set_value(e); });
  b.close();
  CHECK(p.get_future().get() == node_errc::closed);
}

TEST_CASE("sends from many threads keep each sender's order") {
  running_io r;
  node n(r.io.get_executor(), local_opts());
  mailbox sink = n.create_mailbox();
  constexpr int threads = 4, per = 2000;
  std::vector<std::thread> ts;
  for (int i = 0; i < threads; ++i)
    ts.emplace_back([&, i] {
      mailbox m = n.create_mailbox();
      for (int k = 0; k < per; ++k) (void)m.send(sink.self(), term(tuple{i, k}));
    });
  for (auto& t : ts) t.join();
  std::vector<int> next(threads, 0);
  for (int j = 0; j < threads * per; ++j) {
    auto m = sink.receive(1s);
    REQUIRE(m);
    auto& tp = m->as<tuple>();
    auto i = *tp[0].to_int64();
    CHECK(*tp[1].to_int64() == next[i]);
    ++next[i];
  }
}

TEST_CASE("refs carry the node name; a node that is not started cannot connect") {
  running_io r;
  node n(r.io.get_executor(), local_opts());
  auto r1 = n.make_ref(), r2 = n.make_ref();
  CHECK(r1.node() == n.name());
  CHECK(term(r1) != term(r2));
  auto ec = n.async_connect("other@host", boost::asio::use_future).get();
  CHECK(ec == node_errc::not_started);
  mailbox m = n.create_mailbox();
  CHECK(m.send(atom("x"), atom("other@host"), term(1)) == node_errc::not_started);
}

// C++ gen_servers called from C++: on one node, and between two nodes (epmd-less, each on its
// own loopback address).
#include <erlnode/gen_server.hpp>
#include <erlnode/node.hpp>
#include <erlnode/process.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "test_support/test_node.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

using namespace erlnode;
using namespace std::chrono_literals;
using boost::asio::use_awaitable;
using boost::asio::use_future;

namespace {
using testing::free_port;

// A started node on its own io_context thread.
struct test_node : testing::test_node {
  test_node(const std::string& ip, std::uint16_t port)
      : testing::test_node(ip, port, [&](node_options& o) {
          o.name = "g@" + ip;
          o.net_setuptime = 2s;
        }) {
    REQUIRE(start() == std::error_code());
  }
};

const atom a_ok("ok");

// A server that answers {echo, X} with X, {later, X} from another thread, `hang` never,
// `crash` by exiting mid-call, and records casts and infos.
struct echo_server {
  std::mutex m;
  std::vector<term> casts, infos;
  std::vector<std::thread> threads;
  std::optional<term> terminated;
  gen::server srv;

  explicit echo_server(node& n, atom name) {
    srv = gen::server::start(n, name,
                             {.call = [this](gen::context&, const term& req,
                                             const gen::from& f) -> std::optional<term> {
                                auto& t = req.as<tuple>();
                                std::string_view op = t[0].as<atom>().text();
                                if (op == "echo") return t[1];
                                if (op == "later") {
                                  std::lock_guard lk(m);
                                  threads.emplace_back([f, v = t[1]] {
                                    std::this_thread::sleep_for(20ms);
                                    (void)f.reply(v);
                                  });
                                  return std::nullopt;
                                }
                                if (op == "hang") return std::nullopt;
                                if (op == "crash") raise_exit(t[1]);
                                return term(atom("unknown"));
                              },
                              .cast =
                                  [this](gen::context&, const term& req) {
                                    std::lock_guard lk(m);
                                    casts.push_back(req);
                                  },
                              .info =
                                  [this](gen::context&, const term& msg) {
                                    std::lock_guard lk(m);
                                    infos.push_back(msg);
                                  },
                              .terminate =
                                  [this](gen::context&, const term& reason) {
                                    std::lock_guard lk(m);
                                    terminated = reason;
                                  }})
              .value();
  }
  ~echo_server() {
    // The server ends before the members its handlers use go away.
    srv.stop();
    srv.async_wait(use_future).get();
    for (auto& t : threads) t.join();
  }
  template <class F>
  bool eventually(F f) {
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lk(m);
        if (f()) return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
};

term req(const char* op, term v = term(list{})) { return tuple{atom(op), std::move(v)}; }
}  // namespace

TEST_CASE("gen: a C++ server called from C++ on the same node") {
  test_node a("127.0.0.1", free_port());
  echo_server es(*a.n, atom("echo"));
  auto mb = a->create_mailbox();

  SECTION("blocking calls by name, {name, node} and pid; replies later from another thread") {
    auto r = gen::call(mb, atom("echo"), req("echo", 42), 2s);
    REQUIRE(r);
    CHECK(r.value() == term(42));
    r = gen::call(mb, gen::server_ref(atom("echo"), a->name()), req("echo", "x"), 2s);
    REQUIRE(r);
    CHECK(r.value() == term("x"));
    r = gen::call(mb, es.srv.self(), req("later", 7), 2s);
    REQUIRE(r);
    CHECK(r.value() == term(7));
    CHECK(mb.queued() == 0);  // nothing left behind: no DOWN, no stray reply
  }

  SECTION("async calls: use_future and a coroutine") {
    auto f = gen::async_call(mb, atom("echo"), req("echo", 1), 2s, use_future);
    auto r = f.get();
    REQUIRE(r);
    CHECK(r.value() == term(1));
    auto co = boost::asio::co_spawn(
        a.io,
        [&]() -> boost::asio::awaitable<term> {
          auto r1 = co_await gen::async_call(mb, atom("echo"), req("echo", 2), 2s, use_awaitable);
          auto r2 = co_await gen::async_call(mb, atom("echo"), req("later", 3), 2s, use_awaitable);
          co_return tuple{r1.value(), r2.value()};
        },
        use_future);
    CHECK(co.get() == term(tuple{2, 3}));
  }

  SECTION("timeout, noproc, calling_self; a late reply is not left in the mailbox") {
    auto r = gen::call(mb, atom("echo"), req("hang"), 100ms);
    REQUIRE(!r);
    CHECK(r.error() == gen::call_errc::timeout);
    CHECK(r.reason() == term(atom("timeout")));
    auto ra = gen::async_call(mb, atom("echo"), req("hang"), 100ms, use_future).get();
    CHECK(ra.error() == gen::call_errc::timeout);
    r = gen::call(mb, atom("nosuch"), req("echo", 1), 2s);
    CHECK(r.error() == gen::call_errc::noproc);
    CHECK(r.reason() == term(atom("noproc")));
    r = gen::call(mb, mb.self(), req("echo", 1), 2s);
    CHECK(r.error() == gen::call_errc::calling_self);
    // A reply after the timeout goes to a deactivated alias and is dropped.
    r = gen::call(mb, atom("echo"), req("later", 5), 1ms);
    CHECK(r.error() == gen::call_errc::timeout);
    std::this_thread::sleep_for(100ms);
    CHECK(mb.queued() == 0);
  }

  SECTION("the callee dies mid-call: the caller gets its exit reason; terminate ran") {
    auto r = gen::call(mb, atom("echo"), req("crash", atom("boom")), 2s);
    REQUIRE(!r);
    CHECK(r.error() == gen::call_errc::exited);
    CHECK(r.reason() == term(atom("boom")));
    CHECK(es.eventually([&] { return es.terminated == term(atom("boom")); }));
    CHECK(es.srv.async_wait(use_future).get() == term(atom("boom")));
    CHECK(!es.srv.running());
    r = gen::call(mb, atom("echo"), req("echo", 1), 2s);
    CHECK(r.error() == gen::call_errc::noproc);
  }

  SECTION("casts and other messages reach handle_cast and handle_info in order") {
    CHECK(!gen::cast(mb, atom("echo"), term(1)));
    CHECK(!mb.send(atom("echo"), term(tuple{atom("plain"), 2})));
    CHECK(!gen::cast(mb, es.srv.self(), term(3)));
    gen::abcast(mb, {a->name()}, atom("echo"), term(4));
    CHECK(es.eventually([&] { return es.casts.size() == 3 && es.infos.size() == 1; }));
    CHECK(es.casts == std::vector<term>{term(1), term(3), term(4)});
    CHECK(es.infos[0] == term(tuple{atom("plain"), 2}));
  }

  SECTION("stop runs terminate; the name is freed") {
    es.srv.stop(atom("shutdown"));
    CHECK(es.srv.async_wait(use_future).get() == term(atom("shutdown")));
    CHECK(es.terminated == term(atom("shutdown")));
    auto again = a->create_mailbox(atom("echo"));
    CHECK(again.has_value());
  }
}

TEST_CASE("gen: the reply tag is echoed exactly, to the pid unless it names an alias") {
  test_node a("127.0.0.1", free_port());
  echo_server es(*a.n, atom("echo"));
  auto mb = a->create_mailbox();
  auto is = [](const term& m, const term& tag) {
    auto* t = m.get_if<tuple>();
    return t && t->size() == 2 && (*t)[0] == tag;
  };
  const term gc(atom("$gen_call"));
  // A plain Ref (local infinity calls) and {Ref, Node} (multi_call) go to the pid.
  term ref = a->make_ref();
  term tag2(tuple{a->make_ref(), a->name()});
  REQUIRE(!mb.send(atom("echo"), term(tuple{gc, term(tuple{mb.self(), ref}), req("echo", 1)})));
  REQUIRE(!mb.send(atom("echo"), term(tuple{gc, term(tuple{mb.self(), tag2}), req("echo", 2)})));
  auto r1 = mb.receive([&](const term& m) { return is(m, ref); }, 2s);
  REQUIRE(r1);
  CHECK(*r1 == term(tuple{ref, 1}));
  auto r2 = mb.receive([&](const term& m) { return is(m, tag2); }, 2s);
  REQUIRE(r2);
  CHECK(*r2 == term(tuple{tag2, 2}));
  // [alias|Ref] and [[alias|Ref]|_] go to the alias: once it is inactive, nothing arrives.
  auto al = mb.alias();
  term tag3 = list(std::vector<term>{atom("alias")}, al);
  term tag4 = list(std::vector<term>{tag3, atom("x")}, list{});
  REQUIRE(!mb.send(atom("echo"), term(tuple{gc, term(tuple{mb.self(), tag3}), req("echo", 3)})));
  REQUIRE(!mb.send(atom("echo"), term(tuple{gc, term(tuple{mb.self(), tag4}), req("echo", 4)})));
  auto r3 = mb.receive([&](const term& m) { return is(m, tag3); }, 2s);
  REQUIRE(r3);
  CHECK(*r3 == term(tuple{tag3, 3}));
  auto r4 = mb.receive([&](const term& m) { return is(m, tag4); }, 2s);
  REQUIRE(r4);
  CHECK(*r4 == term(tuple{tag4, 4}));
  CHECK(mb.unalias(al));
  REQUIRE(!mb.send(atom("echo"), term(tuple{gc, term(tuple{mb.self(), tag3}), req("echo", 5)})));
  CHECK(!mb.receive(300ms));
  // A malformed From is just a message.
  REQUIRE(!mb.send(atom("echo"), term(tuple{gc, atom("nofrom"), req("echo", 6)})));
  CHECK(es.eventually([&] { return es.infos.size() == 1; }));
}

TEST_CASE("gen: a coroutine server calls another server while serving") {
  test_node a("127.0.0.1", free_port());
  echo_server es(*a.n, atom("echo"));
  auto front =
      gen::server::start(
          *a.n, atom("front"),
          {.async_call = [](gen::context& ctx, term request,
                            gen::from) -> boost::asio::awaitable<std::optional<term>> {
            auto r = co_await gen::async_call(ctx.self(), atom("echo"), request, 2s, use_awaitable);
            if (!r) co_return term(tuple{atom("failed"), r.reason()});
            co_return term(tuple{a_ok, r.value()});
          }})
          .value();
  auto mb = a->create_mailbox();
  auto r = gen::call(mb, atom("front"), req("echo", 9), 2s);
  REQUIRE(r);
  CHECK(r.value() == term(tuple{a_ok, 9}));
  r = gen::call(mb, atom("front"), req("hang"), 5s);
  REQUIRE(r);
  CHECK(r.value() == term(tuple{atom("failed"), atom("timeout")}));
  // The front server handled the second call after the inner timeout: nothing left queued.
  std::this_thread::sleep_for(50ms);
}

TEST_CASE("gen: calls between two C++ nodes; nodedown") {
  const std::uint16_t port = free_port();
  test_node a("127.0.0.1", port);
  auto b = std::make_unique<test_node>("127.0.0.2", port);
  echo_server es(*b->n, atom("echo"));
  auto mb = a->create_mailbox();
  const atom bn = (*b)->name();

  auto r = gen::call(mb, gen::server_ref(atom("echo"), bn), req("echo", "remote"), 5s);
  REQUIRE(r);
  CHECK(r.value() == term("remote"));
  r = gen::call(mb, es.srv.self(), req("later", 8), 5s);
  REQUIRE(r);
  CHECK(r.value() == term(8));
  r = gen::call(mb, gen::server_ref(atom("nosuch"), bn), req("echo", 1), 5s);
  CHECK(r.error() == gen::call_errc::noproc);
  r = gen::call(mb, gen::server_ref(atom("echo"), bn), req("hang"), 100ms);
  CHECK(r.error() == gen::call_errc::timeout);
  CHECK(!gen::cast(mb, gen::server_ref(atom("echo"), bn), term(11)));
  CHECK(es.eventually([&] { return es.casts.size() == 1; }));
  r = gen::call(mb, gen::server_ref(atom("echo"), bn), req("crash", atom("remote_boom")), 5s);
  CHECK(r.error() == gen::call_errc::exited);
  CHECK(r.reason() == term(atom("remote_boom")));

  // A node nobody listens for, and a node that goes away mid-call.
  r = gen::call(mb, gen::server_ref(atom("echo"), atom("g@127.0.0.9")), req("echo", 1), 5s);
  CHECK(r.error() == gen::call_errc::nodedown);
  CHECK(r.reason() == term(tuple{atom("nodedown"), atom("g@127.0.0.9")}));

  echo_server es2(*b->n, atom("echo2"));
  auto pending =
      gen::async_call(mb, gen::server_ref(atom("echo2"), bn), req("hang"), 10s, use_future);
  std::this_thread::sleep_for(200ms);
  (*b)->disconnect(a->name());
  auto rp = pending.get();
  CHECK(rp.error() == gen::call_errc::nodedown);
  CHECK(rp.reason() == term(tuple{atom("nodedown"), bn}));
}

TEST_CASE("gen: multi_call over two nodes: replies, a missing server, a dead node, a timeout") {
  const std::uint16_t port = free_port();
  test_node a("127.0.0.1", port), b("127.0.0.2", port);
  echo_server ea(*a.n, atom("echo")), eb(*b.n, atom("echo"));
  const atom an = a->name(), bn = b->name(), dead("g@127.0.0.9");

  auto r = gen::multi_call(*a.n, {an, bn}, atom("echo"), req("echo", 1), 5s);
  CHECK(r.bad_nodes.empty());
  REQUIRE(r.replies.size() == 2);
  for (auto& [nd, v] : r.replies) {
    CHECK((nd == an || nd == bn));
    CHECK(v == term(1));
  }
  r = gen::async_multi_call(*a.n, {bn, dead}, atom("echo"), req("echo", 2), 5s, use_future).get();
  REQUIRE(r.replies.size() == 1);
  CHECK(r.replies[0] == std::pair<atom, term>(bn, term(2)));
  CHECK(r.bad_nodes == std::vector<atom>{dead});
  r = gen::multi_call(*a.n, {an, bn}, atom("nosuch"), req("echo", 3), 5s);
  CHECK(r.replies.empty());
  CHECK(r.bad_nodes.size() == 2);
  // `hang` never answers: both nodes are bad after the timeout.
  r = gen::async_multi_call(*a.n, {an, bn}, atom("echo"), req("hang"), 200ms, use_future).get();
  CHECK(r.replies.empty());
  CHECK(r.bad_nodes.size() == 2);
}

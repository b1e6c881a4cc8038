#include <erlnode/node.hpp>

#include <erlnode/text.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

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

// ------------------------------------------------------------------------------------------
// The queue and the receive side (mailbox_queue.hpp): selective receive, timeouts, close, the
// three completion tokens, concurrency. The same file runs under the ThreadSanitizer build.

namespace {
using boost::asio::io_context;

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr int stress_scale = 10;  // sanitizers are 5-20x slower
#else
constexpr int stress_scale = 1;
#endif

pid test_pid(std::uint32_t id = 1) { return pid(atom("q@host"), id, 0, 1); }

// A callback that records its one completion; a second call fails the test.
struct recorder {
  std::mutex m;
  std::condition_variable cv;
  int calls = 0;
  std::error_code ec;
  term msg;
  auto handler() {
    return [this](std::error_code e, term t) {
      std::lock_guard lk(m);
      ++calls;
      ec = e;
      msg = std::move(t);
      cv.notify_all();
    };
  }
  bool wait(std::chrono::milliseconds d) {
    std::unique_lock lk(m);
    return cv.wait_for(lk, d, [&] { return calls > 0; });
  }
  int count() {
    std::lock_guard lk(m);
    return calls;
  }
};

void async_pop(mailbox_queue& q, recorder& r, match_fn m = {},
               std::chrono::milliseconds t = infinity) {
  q.async_pop(net::any_completion<std::error_code, term>(r.handler(), q.get_executor()),
              std::move(m), t);
}

match_fn tagged(atom tag) {
  return [tag](const term& t) { return t.is_tuple(2) && t.as<tuple>()[0].is_atom(tag); };
}
}  // namespace

TEST_CASE("selective try_pop takes the first match and leaves the rest in order") {
  io_context io;
  mailbox_queue q(test_pid(), io.get_executor());
  for (int i = 0; i < 6; ++i) REQUIRE(q.push(term(tuple{atom(i % 2 ? "odd" : "even"), i})));
  CHECK(q.size() == 6);
  CHECK(q.try_pop(tagged(atom("odd"))) == term(tuple{atom("odd"), 1}));
  CHECK(q.try_pop(tagged(atom("odd"))) == term(tuple{atom("odd"), 3}));
  CHECK(!q.try_pop([](const term&) { return false; }));
  CHECK(q.try_pop(tagged(atom("odd"))) == term(tuple{atom("odd"), 5}));
  CHECK(!q.try_pop(tagged(atom("odd"))));
  // The last message taken out of the middle and the end: the ring stays consistent.
  REQUIRE(q.push(term(tuple{atom("odd"), 7})));
  CHECK(q.try_pop(tagged(atom("odd"))) == term(tuple{atom("odd"), 7}));
  REQUIRE(q.push(term(8)));
  for (int i : {0, 2, 4}) CHECK(q.try_pop() == term(tuple{atom("even"), i}));
  CHECK(q.try_pop() == term(8));
  CHECK(!q.try_pop());
  CHECK(q.size() == 0);
}

TEST_CASE("a predicate that throws: propagates on the receiver, counts as no match on arrival") {
  io_context io;
  mailbox_queue q(test_pid(), io.get_executor());
  REQUIRE(q.push(term(1)));
  auto thrower = [](const term& t) -> bool {
    if (t == term(1)) throw std::runtime_error("bad predicate");
    return true;
  };
  CHECK_THROWS_AS(q.try_pop(thrower), std::runtime_error);
  CHECK(q.size() == 1);  // nothing lost, and the lock was released
  CHECK(q.try_pop() == term(1));
  recorder r;
  async_pop(q, r, thrower);
  REQUIRE(q.push(term(1)));  // throws inside: no match, queued
  REQUIRE(q.push(term(2)));
  io.run();
  CHECK(r.count() == 1);
  CHECK(r.msg == term(2));
  CHECK(q.try_pop() == term(1));
}

TEST_CASE("waiters are served in order, each with the first message it accepts") {
  io_context io;
  mailbox_queue q(test_pid(), io.get_executor());
  recorder w1, w2, w3;
  async_pop(q, w1, tagged(atom("a")));
  async_pop(q, w2);
  async_pop(q, w3, tagged(atom("a")));
  REQUIRE(q.push(term(tuple{atom("b"), 1})));  // w1 refuses, w2 takes
  REQUIRE(q.push(term(tuple{atom("b"), 2})));  // nobody wants it now: queued
  REQUIRE(q.push(term(tuple{atom("a"), 3})));  // w1 (older than w3)
  REQUIRE(q.push(term(tuple{atom("a"), 4})));  // w3
  io.run();
  CHECK(w1.msg == term(tuple{atom("a"), 3}));
  CHECK(w2.msg == term(tuple{atom("b"), 1}));
  CHECK(w3.msg == term(tuple{atom("a"), 4}));
  CHECK((w1.count() == 1 && w2.count() == 1 && w3.count() == 1));
  CHECK(q.size() == 1);
  CHECK(q.try_pop() == term(tuple{atom("b"), 2}));
}

TEST_CASE("a selective waiter skips queued and new non-matching messages, keeping their order") {
  io_context io;
  mailbox_queue q(test_pid(), io.get_executor());
  for (int i = 0; i < 100; ++i) REQUIRE(q.push(term(i)));
  recorder r;
  async_pop(q, r, [](const term& t) { return t == term(atom("go")); });
  for (int i = 100; i < 200; ++i) REQUIRE(q.push(term(i)));
  CHECK(r.count() == 0);
  REQUIRE(q.push(term(atom("go"))));
  io.run();
  CHECK(r.msg == term(atom("go")));
  REQUIRE(q.size() == 200);
  for (int i = 0; i < 200; ++i) CHECK(q.try_pop() == term(i));
}

TEST_CASE("async_pop timeouts: fire after the time, zero at once, infinity never") {
  io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread th([&] { io.run(); });
  mailbox_queue q(test_pid(), io.get_executor());

  recorder r;
  auto t0 = std::chrono::steady_clock::now();
  async_pop(q, r, {}, 50ms);
  REQUIRE(r.wait(5s));
  CHECK(std::chrono::steady_clock::now() - t0 >= 50ms);
  CHECK(r.ec == node_errc::timeout);

  recorder z;
  async_pop(q, z, {}, 0ms);
  REQUIRE(z.wait(5s));
  CHECK(z.ec == node_errc::timeout);

  // A queued match wins over a zero timeout (receive ... after 0).
  REQUIRE(q.push(term(5)));
  recorder z2;
  async_pop(q, z2, {}, 0ms);
  REQUIRE(z2.wait(5s));
  CHECK(!z2.ec);
  CHECK(z2.msg == term(5));

  recorder inf;
  async_pop(q, inf, {}, infinity);
  recorder huge;  // longer than the clocks can add: waits forever as well
  async_pop(q, huge, {}, std::chrono::milliseconds(std::chrono::milliseconds::max().count() - 1));
  CHECK(!inf.wait(100ms));
  CHECK(huge.count() == 0);
  REQUIRE(q.push(term(1)));
  REQUIRE(q.push(term(2)));
  REQUIRE(inf.wait(5s));
  REQUIRE(huge.wait(5s));
  CHECK(inf.msg == term(1));
  CHECK(huge.msg == term(2));
  // A selective waiter that times out leaves the messages it refused.
  REQUIRE(q.push(term(3)));
  recorder sel;
  async_pop(
      q, sel, [](const term& t) { return t == term(4); }, 20ms);
  REQUIRE(sel.wait(5s));
  CHECK(sel.ec == node_errc::timeout);
  CHECK(q.try_pop() == term(3));
  work.reset();
  th.join();
}

TEST_CASE("a waiter completed by a message cancels its timer") {
  // Without a work guard, run() returns once nothing is pending: a timer left armed for 60 s
  // would keep it running.
  io_context io;
  mailbox_queue q(test_pid(), io.get_executor());
  recorder r;
  async_pop(q, r, {}, 60s);
  REQUIRE(q.push(term(1)));
  auto t0 = std::chrono::steady_clock::now();
  io.run();
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  CHECK(r.count() == 1);
  CHECK(!r.ec);
  CHECK(r.msg == term(1));

  // Same for close.
  io.restart();
  recorder c;
  async_pop(q, c, {}, 60s);
  q.close();
  t0 = std::chrono::steady_clock::now();
  io.run();
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
  CHECK(c.ec == node_errc::closed);
}

TEST_CASE("a message and the timer never both complete a waiter; no message is lost") {
  io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread th([&] { io.run(); });
  mailbox_queue q(test_pid(), io.get_executor());
  const int rounds = 2000 / stress_scale;
  std::atomic<int> calls{0}, got{0}, timeouts{0};
  std::mutex m;
  std::condition_variable cv;
  for (int i = 0; i < rounds; ++i) {
    q.async_pop(net::any_completion<std::error_code, term>(
                    [&](std::error_code e, term) {
                      (e ? timeouts : got).fetch_add(1);
                      std::lock_guard lk(m);
                      calls.fetch_add(1);
                      cv.notify_all();
                    },
                    q.get_executor()),
                {}, 1ms);
    // Push right around the deadline, so both sides race for the waiter.
    if (i % 3) std::this_thread::sleep_for(std::chrono::microseconds(900 + (i % 7) * 50));
    REQUIRE(q.push(term(i)));
  }
  {
    std::unique_lock lk(m);
    REQUIRE(cv.wait_for(lk, 30s, [&] { return calls.load() == rounds; }));
  }
  std::this_thread::sleep_for(20ms);
  CHECK(calls.load() == rounds);  // exactly one completion each
  CHECK(got.load() + static_cast<int>(q.size()) == rounds);
  INFO("taken by waiters " << got.load() << ", timed out " << timeouts.load());
  work.reset();
  th.join();
}

TEST_CASE("pop_for: blocks until a message, times out, wakes on close with the reason") {
  io_context io;
  mailbox_queue q(test_pid(), io.get_executor());
  auto t0 = std::chrono::steady_clock::now();
  auto r = q.pop_for(30ms);
  REQUIRE(!r);
  CHECK(r.error().code == node_errc::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 >= 30ms);
  CHECK(q.pop_for(0ms).error().code == node_errc::timeout);

  std::thread sender([&] {
    std::this_thread::sleep_for(20ms);
    (void)q.push(term(atom("nope")));
    (void)q.push(term(atom("yes")));
  });
  auto m = q.pop_for(5s, [](const term& t) { return t == term(atom("yes")); });
  sender.join();
  REQUIRE(m);
  CHECK(*m == term(atom("yes")));
  CHECK(q.try_pop() == term(atom("nope")));

  result<term> blocked = term();
  std::thread receiver([&] { blocked = q.pop_for(infinity); });
  std::this_thread::sleep_for(20ms);
  CHECK(!q.exit_reason());
  q.close(term(tuple{atom("shutdown"), 7}));
  receiver.join();
  REQUIRE(!blocked);
  CHECK(blocked.error().code == node_errc::closed);
  CHECK(q.closed());
  CHECK(q.exit_reason() == term(tuple{atom("shutdown"), 7}));
  q.close(term(atom("other")));  // only the first close counts
  CHECK(q.exit_reason() == term(tuple{atom("shutdown"), 7}));
  CHECK(!q.push(term(1)));
  CHECK(q.size() == 0);
  CHECK(q.pop_for(1s).error().code == node_errc::closed);
}

TEST_CASE("close wakes every waiter of every kind and drops the queue") {
  io_context io;
  auto work = boost::asio::make_work_guard(io);
  std::thread th([&] { io.run(); });
  mailbox_queue q(test_pid(), io.get_executor());
  REQUIRE(q.push(term(1)));
  recorder a, b;
  async_pop(q, a, [](const term& t) { return t == term(2); });
  async_pop(
      q, b, [](const term& t) { return t == term(2); }, 30s);
  std::vector<std::thread> blocked;
  std::atomic<int> closed_count{0};
  for (int i = 0; i < 3; ++i)
    blocked.emplace_back([&, i] {
      auto r = q.pop_for(i == 0 ? infinity : 30s, [](const term& t) { return t == term(2); });
      if (!r && r.error().code == node_errc::closed) closed_count.fetch_add(1);
    });
  std::this_thread::sleep_for(30ms);
  q.close();
  for (auto& t : blocked) t.join();
  REQUIRE(a.wait(5s));
  REQUIRE(b.wait(5s));
  CHECK(a.ec == node_errc::closed);
  CHECK(b.ec == node_errc::closed);
  CHECK(closed_count.load() == 3);
  CHECK(q.exit_reason() == term(atom("normal")));
  CHECK(q.size() == 0);
  recorder late;
  async_pop(q, late);
  REQUIRE(late.wait(5s));
  CHECK(late.ec == node_errc::closed);
  work.reset();
  th.join();
}

TEST_CASE("destroying a queue completes its pending receives with closed") {
  io_context io;
  recorder r, t;
  {
    mailbox_queue q(test_pid(), io.get_executor());
    async_pop(q, r);
    async_pop(q, t, {}, 30s);
  }
  io.run();
  CHECK(r.ec == node_errc::closed);
  CHECK(t.ec == node_errc::closed);
}

TEST_CASE("trap_exit flag and the executor are per queue") {
  io_context io1, io2;
  mailbox_queue a(test_pid(1), io1.get_executor()), b(test_pid(2), io1.get_executor()),
      c(test_pid(3), io2.get_executor());
  CHECK(!a.trap_exit());
  a.set_trap_exit(true);
  CHECK(a.trap_exit());
  CHECK(!b.trap_exit());
  REQUIRE(a.push(term(1)));  // the flag shares a word with the lock: both keep working
  CHECK(a.trap_exit());
  a.set_trap_exit(false);
  CHECK(!a.trap_exit());
  CHECK(a.try_pop() == term(1));
  CHECK(a.get_executor() == io1.get_executor());
  CHECK(b.get_executor() == io1.get_executor());
  CHECK(c.get_executor() == io2.get_executor());
  CHECK(term(a.self()) == term(test_pid(1)));
}

TEST_CASE("mailbox receive with each completion token, incl. timeout and close") {
  running_io r;
  node n(r.io.get_executor(), local_opts());
  mailbox a = n.create_mailbox();
  mailbox b = n.create_mailbox();

  SECTION("use_awaitable") {
    auto pat = pattern::parse("{reply, Ref, _}").value();
    auto f = boost::asio::co_spawn(
        r.io,
        [&]() -> boost::asio::awaitable<std::vector<std::error_code>> {
          std::vector<std::error_code> out;
          auto [e1, m1] = co_await b.async_receive(pat, 2s, boost::asio::use_awaitable);
          out.push_back(e1);
          if (m1 != term(tuple{atom("reply"), 1, 2})) out.push_back(node_errc::closed);
          // "noise" stays queued: these two are selective.
          auto [e2, m2] =
              co_await b.async_receive(tagged(atom("never")), 20ms, boost::asio::use_awaitable);
          out.push_back(e2);
          auto [e3, m3] =
              co_await b.async_receive(tagged(atom("never")), infinity, boost::asio::use_awaitable);
          out.push_back(e3);
          co_return out;
        },
        boost::asio::use_future);
    (void)a.send(b.self(), term(atom("noise")));
    (void)a.send(b.self(), term(tuple{atom("reply"), 1, 2}));
    std::this_thread::sleep_for(100ms);  // the second receive times out meanwhile
    b.close();
    auto out = f.get();
    REQUIRE(out.size() == 3);
    CHECK(!out[0]);
    CHECK(out[1] == node_errc::timeout);
    CHECK(out[2] == node_errc::closed);
  }
  SECTION("use_future") {
    auto f1 = b.async_receive(tagged(atom("x")), 2s, boost::asio::use_future);
    (void)a.send(b.self(), term(tuple{atom("x"), 1}));
    auto [e1, m1] = f1.get();
    CHECK(!e1);
    CHECK(m1 == term(tuple{atom("x"), 1}));
    auto [e2, m2] = b.async_receive(10ms, boost::asio::use_future).get();
    CHECK(e2 == node_errc::timeout);
    auto f3 = b.async_receive(boost::asio::use_future);
    b.close();
    CHECK(std::get<0>(f3.get()) == node_errc::closed);
  }
  SECTION("callbacks") {
    recorder r1, r2, r3;
    b.async_receive(tagged(atom("x")), 2s, r1.handler());
    (void)a.send(b.self(), term(tuple{atom("x"), 1}));
    REQUIRE(r1.wait(5s));
    CHECK(r1.msg == term(tuple{atom("x"), 1}));
    b.async_receive(10ms, r2.handler());
    REQUIRE(r2.wait(5s));
    CHECK(r2.ec == node_errc::timeout);
    b.async_receive(r3.handler());
    b.exit(term(atom("boom")));
    REQUIRE(r3.wait(5s));
    CHECK(r3.ec == node_errc::closed);
  }
  SECTION("blocking, with a pattern") {
    auto pat = pattern::parse("{x, N}").value();
    (void)a.send(b.self(), term(tuple{atom("y"), 1}));
    (void)a.send(b.self(), term(tuple{atom("x"), 2}));
    CHECK(b.receive(pat, 1s).value() == term(tuple{atom("x"), 2}));
    CHECK(b.receive(pat, 10ms).error().code == node_errc::timeout);
    CHECK(b.try_receive().value() == term(tuple{atom("y"), 1}));
  }
}

TEST_CASE("concurrent senders and receivers of every kind: nothing lost, per-sender order") {
  running_io r;
  node n(r.io.get_executor(), local_opts());
  mailbox sink = n.create_mailbox();
  constexpr int senders = 4;
  const int per = 20000 / stress_scale;
  // Receivers: a callback chain on the node's thread taking odd values, a blocking thread
  // taking even values, and this thread draining everything with try_receive at the end.
  std::mutex m;
  std::vector<std::vector<std::int64_t>> seen(senders);
  auto record = [&](const term& t) {
    auto& tp = t.as<tuple>();
    std::lock_guard lk(m);
    seen[*tp[0].to_int64()].push_back(*tp[1].to_int64());
  };
  auto odd = [](const term& t) { return *t.as<tuple>()[1].to_int64() % 2 == 1; };
  auto even = [](const term& t) { return *t.as<tuple>()[1].to_int64() % 2 == 0; };
  std::atomic<int> received{0};
  std::promise<void> chain_done;
  std::function<void()> arm = [&] {
    sink.async_receive(odd, 2s, [&](std::error_code e, term t) {
      if (e) return chain_done.set_value();
      record(t);
      received.fetch_add(1);
      arm();
    });
  };
  arm();
  std::thread blocking([&] {
    while (auto t = sink.receive(even, 500ms)) {
      record(*t);
      received.fetch_add(1);
    }
  });
  std::vector<std::thread> ts;
  std::atomic<int> send_errors{0};
  for (int i = 0; i < senders; ++i)
    ts.emplace_back([&, i] {
      mailbox me = n.create_mailbox();
      for (int k = 0; k < per; ++k)
        if (me.send(sink.self(), term(tuple{i, k}))) send_errors.fetch_add(1);
    });
  for (auto& t : ts) t.join();
  CHECK(send_errors.load() == 0);
  blocking.join();
  chain_done.get_future().wait();
  while (auto t = sink.try_receive()) {
    record(*t);
    received.fetch_add(1);
  }
  CHECK(received.load() == senders * per);
  for (int i = 0; i < senders; ++i) {
    // Each receiver saw its share in send order.
    std::vector<std::int64_t> o, e;
    for (auto v : seen[i]) (v % 2 ? o : e).push_back(v);
    CHECK(std::is_sorted(o.begin(), o.end()));
    CHECK(std::is_sorted(e.begin(), e.end()));
    CHECK(seen[i].size() == static_cast<std::size_t>(per));
  }
}

TEST_CASE("many idle mailboxes in one node, each reachable") {
  running_io r;
  node n(r.io.get_executor(), local_opts());
  const int count = 200000 / stress_scale;
  std::vector<mailbox> boxes;
  boxes.reserve(count);
  for (int i = 0; i < count; ++i) boxes.push_back(n.create_mailbox());
  mailbox& first = boxes.front();
  for (int i = 0; i < count; i += count / 100) REQUIRE(!first.send(boxes[i].self(), term(i)));
  for (int i = 0; i < count; i += count / 100) CHECK(boxes[i].try_receive() == term(i));
}

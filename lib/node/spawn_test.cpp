// Processes and spawning: the exception -> exit reason mapping, local spawn, and
// spawn_request between two C++ nodes (epmd-less, each on its own loopback address).
#include <erlnode/node.hpp>
#include <erlnode/process.hpp>
#include <erlnode/text.hpp>

#include "node/node_impl.hpp"
#include "node/spawn_internal.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "test_support/test_node.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace erlnode;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {
using testing::free_port;
using testing::test_node;

term et(std::string_view s) { return erlnode::parse(s).value(); }

// A process that sends {From, Args} to the pid in its first argument, then behaves as its
// second argument says: return, exit(R), error(R), throw(R), or a C++ exception.
asio::awaitable<void> scripted(mailbox& self, list args) {
  const pid to = args[0].as<pid>();
  self.send(to, tuple{self.self(), args});
  const term& how = args[1];
  if (how.is_atom(atom("return"))) co_return;
  if (how.is_atom(atom("cpp"))) throw std::runtime_error("bad thing");
  if (how.is_atom(atom("wait"))) {
    (void)co_await self.async_receive(asio::use_awaitable);
    co_return;
  }
  auto& t = how.as<tuple>();
  if (t[0].is_atom(atom("exit"))) raise_exit(t[1]);
  if (t[0].is_atom(atom("error"))) raise_error(t[1]);
  if (t[0].is_atom(atom("throw"))) raise_throw(t[1]);
  if (t[0].is_atom(atom("self_exit"))) {
    self.exit(t[1]);
    co_return;
  }
}
}  // namespace

TEST_CASE("exceptions map to BEAM exit reasons") {
  CHECK(exit_reason_of(erlang_exception(exception_class::exit, atom("boom"))) ==
        term(atom("boom")));
  CHECK(exit_reason_of(erlang_exception(exception_class::error, atom("boom"))) == et("{boom, []}"));
  CHECK(exit_reason_of(erlang_exception(exception_class::error, atom("badarg"),
                                        et("[{m, f, 1, []}]"))) == et("{badarg, [{m, f, 1, []}]}"));
  CHECK(exit_reason_of(erlang_exception(exception_class::throw_, atom("boom"))) ==
        et("{{nocatch, boom}, []}"));

  auto cpp = to_erlang_exception(std::make_exception_ptr(std::runtime_error("it broke")));
  CHECK(cpp.cls() == exception_class::error);
  CHECK(cpp.reason() == et("{cpp_exception, <<\"it broke\">>}"));
  CHECK(exit_reason_of(cpp) == et("{{cpp_exception, <<\"it broke\">>}, []}"));
  CHECK(to_erlang_exception(std::make_exception_ptr(42)).reason() ==
        et("{cpp_exception, <<\"unknown C++ exception\">>}"));
  auto same = to_erlang_exception(
      std::make_exception_ptr(erlang_exception(exception_class::throw_, atom("x"), list{1})));
  CHECK(same.cls() == exception_class::throw_);
  CHECK(same.reason() == term(atom("x")));
  CHECK(same.stacktrace() == term(list{1}));
  CHECK(class_atom(exception_class::throw_) == atom("throw"));
  CHECK(std::string(erlang_exception(exception_class::exit, atom("boom")).what()) == "exit: boom");
}

TEST_CASE("node::spawn runs the function with its arguments on the node's executor") {
  test_node a("127.0.0.1", free_port());
  auto mb = a->create_mailbox();
  pid p = a->spawn(scripted, list{mb.self(), atom("return")});
  auto m = mb.receive(5s);
  REQUIRE(m);
  CHECK(*m == term(tuple{p, list{mb.self(), atom("return")}}));
  // The process is gone once the function returned.
  for (int i = 0; i < 100 && a->impl()->find_local(p); ++i) std::this_thread::sleep_for(10ms);
  CHECK(!a->impl()->find_local(p));
}

TEST_CASE("message_loop hands each message to the callback until the process exits") {
  test_node a("127.0.0.1", free_port());
  auto mb = a->create_mailbox();
  pid p = a->spawn(message_loop([to = mb.self()](mailbox& self, const term& msg) {
    if (msg.is_atom(atom("stop"))) return self.exit(atom("stopped"));
    self.send(to, tuple{atom("got"), msg});
  }));
  for (int i = 0; i < 3; ++i) CHECK(!mb.send(p, term(i)));
  CHECK(!mb.send(p, term(atom("stop"))));
  for (int i = 0; i < 3; ++i) CHECK(mb.receive(5s).value() == term(tuple{atom("got"), i}));
  for (int i = 0; i < 100 && a->impl()->find_local(p); ++i) std::this_thread::sleep_for(10ms);
  CHECK(!a->impl()->find_local(p));
}

TEST_CASE("spawn_monitor and spawn_link: the watcher sees the exit reason of each ending") {
  test_node a("127.0.0.1", free_port());
  auto mb = a->create_mailbox();
  mb.trap_exit(true);
  const std::pair<term, std::string> cases[] = {
      {atom("return"), "normal"},
      {et("{exit, boom}"), "boom"},
      {et("{error, boom}"), "{boom,[]}"},
      {et("{throw, boom}"), "{{nocatch,boom},[]}"},
      {atom("cpp"), "{{cpp_exception,<<\"bad thing\">>},[]}"},
      {et("{self_exit, {shutdown, x}}"), "{shutdown,x}"},
  };
  for (auto& [how, want] : cases) {
    auto [p, ref] = spawn_monitor(a.get(), mb, scripted, list{mb.self(), how});
    CHECK(mb.receive(5s).value() == term(tuple{p, list{mb.self(), how}}));
    auto down = mb.receive(5s);
    REQUIRE(down);
    CHECK(*down == term(tuple{atoms::DOWN, ref, atoms::process, p, et(want)}));

    pid l = spawn_link(a.get(), mb, scripted, list{mb.self(), how});
    CHECK(mb.receive(5s).value() == term(tuple{l, list{mb.self(), how}}));
    CHECK(mb.receive(5s).value() == term(tuple{atoms::EXIT, l, et(want)}));
  }
}

TEST_CASE("a by-value process body owns its mailbox: return and self.exit end it") {
  test_node a("127.0.0.1", free_port());
  auto mb = a->create_mailbox();
  process_function by_value = [](mailbox self, list args) -> asio::awaitable<void> {
    self.send(args[0].as<pid>(), atom("started"));
    if (args.size() > 1) self.exit(args[1]);
    co_return;
  };
  auto [p1, r1] = spawn_monitor(a.get(), mb, by_value, list{mb.self()});
  CHECK(mb.receive(5s).value() == term(atom("started")));
  CHECK(mb.receive(5s).value() == term(tuple{atoms::DOWN, r1, atoms::process, p1, atoms::normal}));
  auto [p2, r2] = spawn_monitor(a.get(), mb, by_value, list{mb.self(), atom("done")});
  CHECK(mb.receive(5s).value() == term(atom("started")));
  CHECK(mb.receive(5s).value() == term(tuple{atoms::DOWN, r2, atoms::process, p2, atom("done")}));
}

TEST_CASE("spawn_request between two C++ nodes") {
  const auto port = free_port();
  test_node a("127.0.0.1", port), b("127.0.0.2", port);
  REQUIRE(!a.start());
  REQUIRE(!b.start());
  b->define_process(atom("demo"), atom("scripted"), scripted);
  auto mb = a->create_mailbox();
  mb.trap_exit(true);
  const atom bn = b->name();

  SECTION("the function runs with the arguments; spawn_reply first") {
    auto ref =
        mb.spawn_request(bn, atom("demo"), atom("scripted"), list{mb.self(), atom("return")});
    REQUIRE(ref);
    auto r = mb.receive(5s).value().as<tuple>();
    REQUIRE(r.size() == 4);
    CHECK(r[0] == term(atom("spawn_reply")));
    CHECK(r[1] == term(ref.value()));
    CHECK(r[2] == term(atoms::ok));
    const pid child = r[3].as<pid>();
    CHECK(child.node() == bn);
    CHECK(mb.receive(5s).value() == term(tuple{child, list{mb.self(), atom("return")}}));
  }
  SECTION("success_only and no: nothing for a success") {
    spawn_options o;
    o.reply = spawn_options::reply_mode::success_only;
    REQUIRE(
        mb.spawn_request(bn, atom("demo"), atom("scripted"), list{mb.self(), atom("return")}, o));
    CHECK(mb.receive(5s).value().as<tuple>()[0] == term(atom("spawn_reply")));
    o.reply = spawn_options::reply_mode::no;
    REQUIRE(
        mb.spawn_request(bn, atom("demo"), atom("scripted"), list{mb.self(), atom("return")}, o));
    CHECK(mb.receive(5s).value().as<tuple>()[0].is_pid());
  }
  SECTION("hand-made requests: bad options get badopt, a bad argument list a crashing process") {
    auto impl = a->impl();
    auto raw = [&](term opts, term args) {
      reference id = impl->make_ref();
      detail::expect_spawn_reply(*impl, mb.self(), id, bn);
      term ctl(tuple{29, id, mb.self(), mb.self(), term(tuple{atom("demo"), atom("scripted"), 2}),
                     opts});
      impl->route(detail::outgoing{detail::outgoing::kind::control, mb.self(), ctl, args}, bn);
      auto r = mb.receive(5s).value().as<tuple>();
      CHECK(r[1] == term(id));
      return term(tuple{r[2], r[3]});
    };
    CHECK(raw(et("[foo]"), list{}) == term(tuple{atoms::error, atom("badopt")}));
    CHECK(raw(et("[{priority, bogus}]"), list{}) == term(tuple{atoms::error, atom("badopt")}));
    CHECK(raw(et("[{link, true}]"), list{}) == term(tuple{atoms::error, atom("badopt")}));
    auto ok = raw(et("[{priority, high}, {fullsweep_after, 3}, {message_queue_data, off_heap}]"),
                  list{mb.self(), atom("return")});
    CHECK(ok.as<tuple>()[0] == term(atoms::ok));
    CHECK(mb.receive(5s).value().as<tuple>()[0] == ok.as<tuple>()[1]);
    // Not a proper argument list: still a pid (the process then fails with badarg, as BEAM's).
    CHECK(raw(et("[]"), et("[a | b]")).as<tuple>()[0] == term(atoms::ok));
    CHECK(raw(et("[]"), et("nolist")).as<tuple>()[0] == term(atoms::ok));
  }
}

TEST_CASE("spawn_request between two C++ nodes: links and monitors") {
  const auto port = free_port();
  test_node a("127.0.0.1", port), b("127.0.0.2", port);
  REQUIRE(!a.start());
  REQUIRE(!b.start());
  b->define_process(atom("demo"), atom("scripted"), scripted);
  auto mb = a->create_mailbox();
  mb.trap_exit(true);
  const atom bn = b->name();
  SECTION("monitor: DOWN with the exit reason; reply modes") {
    spawn_options o;
    o.monitor = true;
    o.reply = spawn_options::reply_mode::error_only;
    auto ref =
        mb.spawn_request(bn, atom("demo"), atom("scripted"), list{mb.self(), et("{exit, bye}")}, o);
    REQUIRE(ref);
    auto first = mb.receive(5s).value().as<tuple>();  // no spawn_reply with error_only
    const pid child = first[0].as<pid>();
    CHECK(mb.receive(5s).value() ==
          term(tuple{atoms::DOWN, ref.value(), atoms::process, child, atom("bye")}));
    CHECK(!mb.receive(200ms));
  }
  SECTION("link: the EXIT signal arrives, trapped") {
    spawn_options o;
    o.link = true;
    auto ref =
        mb.spawn_request(bn, atom("demo"), atom("scripted"), list{mb.self(), et("{error, e}")}, o);
    REQUIRE(ref);
    auto r = mb.receive(5s).value().as<tuple>();
    REQUIRE(r[2] == term(atoms::ok));
    const pid child = r[3].as<pid>();
    CHECK(mb.receive(5s).value().as<tuple>()[0] == term(child));
    CHECK(mb.receive(5s).value() == term(tuple{atoms::EXIT, child, et("{e, []}")}));
  }
  SECTION("an unknown function: a pid, then DOWN {undef, [{M, F, Args, []}]}") {
    spawn_options o;
    o.monitor = true;
    auto ref = mb.spawn_request(bn, atom("nomod"), atom("nofun"), list{1, 2}, o);
    REQUIRE(ref);
    auto r = mb.receive(5s).value().as<tuple>();
    REQUIRE(r[2] == term(atoms::ok));
    CHECK(mb.receive(5s).value() == term(tuple{atoms::DOWN, ref.value(), atoms::process, r[3],
                                               et("{undef, [{nomod, nofun, [1, 2], []}]}")}));
  }
  SECTION("the requester died before the reply: the link carries its exit reason") {
    auto r2 = a->create_mailbox();
    spawn_options o;
    o.link = true;
    o.monitor = true;
    REQUIRE(r2.spawn_request(bn, atom("demo"), atom("scripted"), list{mb.self(), atom("wait")}, o));
    r2.exit(atom("boom"));
    auto started = mb.receive(5s).value().as<tuple>();
    const pid child = started[0].as<pid>();
    auto ref = mb.monitor(child);
    auto down = mb.receive(5s).value().as<tuple>();
    CHECK(down[1] == term(ref));
    CHECK((down[4] == term(atom("boom")) || down[4] == term(atoms::noproc)));
  }
  SECTION("SPAWN_REQUEST_TT is served like SPAWN_REQUEST, answered with SPAWN_REPLY_TT") {
    auto impl = a->impl();
    auto request = [&](term mfa, term opts, term token) {
      reference id = impl->make_ref();
      detail::expect_spawn_reply(*impl, mb.self(), id, bn);
      term ctl(tuple{30, id, mb.self(), mb.self(), mfa, opts, token});
      impl->route(detail::outgoing{detail::outgoing::kind::control, mb.self(), ctl,
                                   term(list{mb.self(), atom("return")})},
                  bn);
      auto r = mb.receive(5s).value().as<tuple>();
      CHECK(r[1] == term(id));
      REQUIRE(r.size() == 5);  // the token came back
      return r;
    };
    const term mfa = tuple{atom("demo"), atom("scripted"), 2};
    // A seq_trace token: the new process is its sender, the last count one below the serial
    // (as OTP 25 answers).
    auto r = request(mfa, list{}, tuple{3, atom("lbl"), 5, mb.self(), 0});
    CHECK(r[2] == term(atoms::ok));
    CHECK(r[4] == term(tuple{3, atom("lbl"), 5, r[3], 4}));
    CHECK(mb.receive(5s).value().as<tuple>()[0] == r[3]);
    // Any other token goes back as it came; an error reply's sender is the node.
    r = request(mfa, list{}, atom("token"));
    CHECK(r[4] == term(atom("token")));
    CHECK(mb.receive(5s).value().as<tuple>()[0] == r[3]);
    r = request(mfa, list{atom("foo")}, tuple{3, atom("lbl"), 5, mb.self(), 7});
    CHECK(r[2] == term(atoms::error));
    CHECK(r[3] == term(atom("badopt")));
    CHECK(r[4] == term(tuple{3, atom("lbl"), 5, bn, 4}));
  }
  SECTION("our own node: a local request") {
    a->define_process(atom("demo"), atom("scripted"), scripted);
    spawn_options o;
    o.monitor = true;
    auto ref = mb.spawn_request(a->name(), atom("demo"), atom("scripted"),
                                list{mb.self(), et("{exit, local}")}, o);
    REQUIRE(ref);
    auto r = mb.receive(5s).value().as<tuple>();
    REQUIRE(r[2] == term(atoms::ok));
    CHECK(mb.receive(5s).value().as<tuple>()[0] == r[3]);
    CHECK(mb.receive(5s).value() ==
          term(tuple{atoms::DOWN, ref.value(), atoms::process, r[3], atom("local")}));
  }
}

TEST_CASE("spawn_request from several threads at once: every reply and DOWN arrives") {
  const auto port = free_port();
  test_node a("127.0.0.1", port), b("127.0.0.2", port);
  REQUIRE(!a.start());
  REQUIRE(!b.start());
  b->define_process(atom("demo"), atom("scripted"), scripted);
  constexpr int threads = 4, per_thread = 200;
  std::vector<std::thread> ts;
  std::atomic<int> good{0};
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      auto mb = a->create_mailbox();
      spawn_options o;
      o.monitor = true;
      for (int i = 0; i < per_thread; ++i)
        if (!mb.spawn_request(b->name(), atom("demo"), atom("scripted"),
                              list{mb.self(), atom("return")}, o))
          return;
      int replies = 0, downs = 0, started = 0;
      for (int i = 0; i < 3 * per_thread; ++i) {
        auto m = mb.receive(10s);
        if (!m) return;
        auto& t = m->as<tuple>();
        if (t[0] == term(atom("spawn_reply")) && t[2] == term(atoms::ok)) ++replies;
        if (t[0] == term(atoms::DOWN) && t[4] == term(atoms::normal)) ++downs;
        if (t.size() == 2) ++started;
      }
      if (replies == per_thread && downs == per_thread && started == per_thread) ++good;
    });
  for (auto& t : ts) t.join();
  CHECK(good == threads);
  // Nothing left behind on b.
  for (int i = 0; i < 100 && b->impl()->stats().processes > 0; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(b->impl()->stats().processes == 0);
}

TEST_CASE(
    "spawn_request to a node that cannot be reached: {spawn_reply, Ref, error, noconnection}") {
  test_node a("127.0.0.1", free_port());
  REQUIRE(!a.start());
  auto mb = a->create_mailbox();
  auto ref = mb.spawn_request(atom("n@127.0.0.9"), atom("m"), atom("f"), list{});
  REQUIRE(ref);
  CHECK(mb.receive(10s).value() ==
        term(tuple{atom("spawn_reply"), ref.value(), atoms::error, atoms::noconnection}));
  spawn_options o;
  o.reply = spawn_options::reply_mode::success_only;
  REQUIRE(mb.spawn_request(atom("n@127.0.0.9"), atom("m"), atom("f"), list{}, o));
  CHECK(!mb.receive(1s));
  CHECK(
      !mb.spawn_request(atom("n@127.0.0.9"), atom("m"), atom("f"), list(std::vector<term>{1}, 2)));
}

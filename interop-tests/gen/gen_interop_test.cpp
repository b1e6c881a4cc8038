// gen_server both ways against live OTP 25: erl calls a C++ server (call with and without a
// timeout, multi_call, abcast, cast, stop) and C++ calls an Erlang gen_server (reply, timeout,
// noproc, a callee that dies mid-call, nodedown).
#include "node/cpp_node.hpp"
#include "support/erl_process.hpp"

#include <erlnode/gen_server.hpp>
#include <erlnode/process.hpp>

#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

using namespace erlnode;
using namespace erlnode::interop;
using boost::asio::use_future;

namespace {
node_options opts_for(const erl_node& erl, const epmd_instance& e) {
  node_options o;
  o.name = unique_name("cppgen");
  o.cookie = erl.cookie();
  o.epmd_port = static_cast<std::uint16_t>(e.port());
  return o;
}

term req(const char* op, term v = term(list{})) { return tuple{atom(op), std::move(v)}; }

// The C++ server erl calls: {echo, X} -> X; {later, {Ms, X}} replies X after Ms from another
// thread; {crash, R} exits R mid-call; casts and infos are kept.
struct cpp_echo {
  std::mutex m;
  std::vector<term> casts, infos;
  std::vector<std::thread> threads;
  std::optional<term> terminated;
  gen::server srv;

  cpp_echo(node& n, atom name) {
    srv = gen::server::start(n, name,
                             {.call = [this](gen::context& ctx, const term& r,
                                             const gen::from& f) -> std::optional<term> {
                                auto& t = r.as<tuple>();
                                std::string_view op = t[0].as<atom>().text();
                                if (op == "echo") return t[1];
                                if (op == "tag") return f.tag();
                                if (op == "self") return term(ctx.self().self());
                                if (op == "later") {
                                  auto& a = t[1].as<tuple>();
                                  auto ms = std::chrono::milliseconds(*a[0].to_int64());
                                  std::lock_guard lk(m);
                                  threads.emplace_back([f, ms, v = a[1]] {
                                    std::this_thread::sleep_for(ms);
                                    (void)f.reply(v);
                                  });
                                  return std::nullopt;
                                }
                                if (op == "crash") raise_exit(t[1]);
                                return term(atom("unknown"));
                              },
                              .cast =
                                  [this](gen::context&, const term& r) {
                                    std::lock_guard lk(m);
                                    casts.push_back(r);
                                  },
                              .info =
                                  [this](gen::context&, const term& r) {
                                    std::lock_guard lk(m);
                                    infos.push_back(r);
                                  },
                              .terminate =
                                  [this](gen::context&, const term& reason) {
                                    std::lock_guard lk(m);
                                    terminated = reason;
                                  }})
              .value();
  }
  ~cpp_echo() {
    // The server ends before the members its handlers use go away.
    srv.stop();
    srv.async_wait(use_future).get();
    for (auto& t : threads) t.join();
  }
  template <class F>
  bool eventually(F f) {
    for (int i = 0; i < 1000; ++i) {
      {
        std::lock_guard lk(m);
        if (f()) return true;
      }
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }
};

// Compiles and loads a small gen_server module in `erl` (from a file in a temp dir).
void load_erl_server(erl_node& erl) {
  auto dir = std::filesystem::temp_directory_path() / unique_name("gentest");
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "gtest_srv.erl") << R"(-module(gtest_srv).
-behaviour(gen_server).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).
init(Owner) -> {ok, Owner}.
handle_call({echo, X}, _From, S) -> {reply, X, S};
handle_call({sleep, Ms, X}, _From, S) -> timer:sleep(Ms), {reply, X, S};
handle_call(whoami, From, S) -> {reply, From, S};
handle_call(self, _From, S) -> {reply, self(), S};
handle_call(noreply, _From, S) -> {noreply, S};
handle_call({die, Why}, _From, S) -> {stop, Why, S}.
handle_cast(Msg, Owner) -> Owner ! {cast, Msg}, {noreply, Owner}.
handle_info(Msg, Owner) -> Owner ! {info, Msg}, {noreply, Owner}.
)";
  const std::string d = dir.string();
  REQUIRE(erl.eval("{ok, gtest_srv} = c:c(\"" + d + "/gtest_srv.erl\", [{outdir, \"" + d +
                   "\"}]), ok") == "ok");
  std::filesystem::remove_all(dir);
}

bool contains(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}
}  // namespace

TEST_CASE("erl calls a C++ gen_server: call, timeouts, multi_call, abcast, cast, stop") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  cpp_node c(opts_for(erl, e));
  REQUIRE(c.start() == std::error_code());
  cpp_echo srv(c.get(), atom("echo"));
  const std::string S = "{echo, '" + c.name() + "'}";

  CHECK(erl.eval("gen_server:call(" + S + ", {echo, {hello, <<\"w\">>, 1.5}})") ==
        "{hello,<<119>>,1.5}");
  CHECK(erl.eval("gen_server:call(" + S + ", {echo, 2}, infinity)") == "2");
  // The tag of a remote call is [alias|Ref], echoed as is.
  CHECK(erl.eval("[alias|R] = gen_server:call(" + S + ", {tag, []}), is_reference(R)") == "true");
  // By pid; the other tag forms, sent raw: a plain Ref and [[alias|Ref]|_] (gen:reply's second
  // form) come back unchanged, the latter through the alias.
  CHECK(erl.eval("CP = gen_server:call(" + S + ", {self, []}), is_pid(CP)") == "true");
  CHECK(erl.eval("gen_server:call(CP, {echo, bypid})") == "bypid");
  CHECK(erl.eval("T1 = make_ref(), CP ! {'$gen_call', {self(), T1}, {echo, t1}}, "
                 "receive {T1, R1} -> R1 after 5000 -> timeout end") == "t1");
  CHECK(erl.eval("A4 = alias(), T4 = [[alias|A4]|x], CP ! {'$gen_call', {self(), T4}, {echo, t4}}, "
                 "receive {T4, R4} -> R4 after 5000 -> timeout end") == "t4");
  CHECK(erl.eval("unalias(A4), CP ! {'$gen_call', {self(), T4}, {echo, t5}}, "
                 "receive {T4, R5} -> R5 after 500 -> none end") == "none");
  // A reply from another thread, later.
  CHECK(erl.eval("gen_server:call(" + S + ", {later, {50, late_ok}}, 5000)") == "late_ok");
  // A timeout: the reply that comes after it is dropped (the alias is inactive).
  auto t = erl.eval_catch("gen_server:call(" + S + ", {later, {300, too_late}}, 100)");
  CHECK(contains(t, "{exit,{timeout,{gen_server,call,"));
  CHECK(erl.eval("timer:sleep(500), receive M -> M after 0 -> none end") == "none");

  // multi_call ({Ref, Node} tags), with and without a timeout, and a node without the name.
  CHECK(erl.eval("gen_server:multi_call(['" + c.name() + "'], echo, {echo, mc})") ==
        "{[{" + c.name() + ",mc}],[]}");
  CHECK(erl.eval("gen_server:multi_call(['" + c.name() + "'], echo, {echo, mc2}, 2000)") ==
        "{[{" + c.name() + ",mc2}],[]}");
  CHECK(erl.eval("gen_server:multi_call(['" + c.name() + "'], nosuch, {echo, 1}, 2000)") ==
        "{[],[" + c.name() + "]}");

  // cast, abcast, and a plain message (handle_info), in order.
  CHECK(erl.eval("gen_server:cast(" + S + ", c1)") == "ok");
  CHECK(erl.eval("gen_server:abcast(['" + c.name() + "'], echo, c2)") == "abcast");
  CHECK(erl.eval(S + " ! plain, ok") == "ok");
  CHECK(srv.eventually([&] { return srv.casts.size() == 2 && srv.infos.size() == 1; }));
  CHECK(srv.casts == std::vector<term>{term(atom("c1")), term(atom("c2"))});
  CHECK(srv.infos == std::vector<term>{term(atom("plain"))});

  // A name that does not exist: noproc at once.
  auto np = erl.eval_catch("gen_server:call({nosuch, '" + c.name() + "'}, {echo, 1}, 2000)");
  CHECK(contains(np, "{exit,{noproc,{gen_server,call,"));

  // gen_server:stop: sys terminate, then our DOWN.
  CHECK(erl.eval("gen_server:stop(" + S + ")") == "ok");
  CHECK(srv.srv.async_wait(use_future).get() == term(atom("normal")));
  CHECK(srv.terminated == term(atom("normal")));
  CHECK(contains(erl.eval_catch("gen_server:call(" + S + ", {echo, 1}, 2000)"), "noproc"));
}

TEST_CASE("erl calls a C++ gen_server that dies mid-call") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  cpp_node c(opts_for(erl, e));
  REQUIRE(c.start() == std::error_code());
  cpp_echo srv(c.get(), atom("echo"));
  // A linked Erlang process sees the same exit reason.
  CHECK(erl.eval("process_flag(trap_exit, true), CP = gen_server:call({echo, '" + c.name() +
                 "'}, {self, []}), link(CP)") == "true");
  auto r = erl.eval_catch("gen_server:call({echo, '" + c.name() + "'}, {crash, boom}, 5000)");
  CHECK(contains(r, "{exit,{boom,{gen_server,call,"));
  CHECK(srv.eventually([&] { return srv.terminated == term(atom("boom")); }));
  CHECK(erl.eval("receive {'EXIT', CP, W} -> W after 5000 -> timeout end") == "boom");
}

TEST_CASE("C++ calls an Erlang gen_server: reply, timeout, noproc, dies mid-call, nodedown") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  cpp_node c(opts_for(erl, e));
  REQUIRE(c.start() == std::error_code());
  load_erl_server(erl);
  CHECK(erl.eval("{ok, P} = gen_server:start({local, gsrv}, gtest_srv, self(), []), ok") == "ok");
  auto mb = c->create_mailbox();
  const atom en(erl.node_name());
  const gen::server_ref srv(atom("gsrv"), en);

  auto r = gen::call(mb, srv, req("echo", tuple{1, "two", binary("three")}), 5s);
  REQUIRE(r);
  CHECK(r.value() == term(tuple{1, "two", binary("three")}));
  r = gen::call(mb, srv, req("echo", 2), infinity);
  REQUIRE(r);
  CHECK(r.value() == term(2));
  // gen_server sees From = {OurPid, [alias|Ref]}.
  r = gen::call(mb, srv, atom("whoami"), 5s);
  REQUIRE(r);
  auto& from = r.value().as<tuple>();
  CHECK(from[0] == term(mb.self()));
  auto& tag = from[1].as<list>();
  CHECK(tag.size() == 1);
  CHECK(tag[0] == term(atom("alias")));
  CHECK(tag.tail().is_reference());
  // By pid, with the async form.
  r = gen::call(mb, srv, atom("self"), 5s);
  REQUIRE(r);
  REQUIRE(r.value().is_pid());
  r = gen::async_call(mb, r.value().as<pid>(), req("echo", 3), 5s, use_future).get();
  REQUIRE(r);
  CHECK(r.value() == term(3));

  // Timeout: the late reply is dropped by the inactive alias.
  r = gen::call(mb, srv, tuple{atom("sleep"), 300, atom("late")}, 100ms);
  CHECK(r.error() == gen::call_errc::timeout);
  r = gen::async_call(mb, srv, tuple{atom("sleep"), 300, atom("late")}, 100ms, use_future).get();
  CHECK(r.error() == gen::call_errc::timeout);
  std::this_thread::sleep_for(700ms);
  CHECK(mb.queued() == 0);

  // noproc: an unknown name.
  r = gen::call(mb, gen::server_ref(atom("nosuch"), en), req("echo", 1), 5s);
  CHECK(r.error() == gen::call_errc::noproc);
  CHECK(r.reason() == term(atom("noproc")));

  // cast reaches handle_cast.
  CHECK(!gen::cast(mb, srv, term(tuple{atom("hello"), 1})));
  CHECK(erl.eval("receive {cast, M} -> M after 5000 -> timeout end") == "{hello,1}");

  // multi_call: the erl server answers, the C++ node has no gsrv.
  auto mc = gen::multi_call(c.get(), {en, c->name()}, atom("gsrv"), req("echo", 7), 5s);
  REQUIRE(mc.replies.size() == 1);
  CHECK(mc.replies[0] == std::pair<atom, term>(en, term(7)));
  CHECK(mc.bad_nodes == std::vector<atom>{c->name()});

  // The callee stops mid-call without replying.
  r = gen::call(mb, srv, req("die", tuple{atom("shutdown"), atom("bye")}), 5s);
  CHECK(r.error() == gen::call_errc::exited);
  CHECK(r.reason() == term(tuple{atom("shutdown"), atom("bye")}));
  CHECK(mb.queued() == 0);

  // nodedown: a second erl killed while a call waits.
  erl_node erl2({.cookie = erl.cookie(), .epmd_port = e.port()});
  load_erl_server(erl2);
  CHECK(erl2.eval("{ok, _} = gen_server:start({local, gsrv}, gtest_srv, self(), []), ok") == "ok");
  const atom en2(erl2.node_name());
  auto pending =
      gen::async_call(mb, gen::server_ref(atom("gsrv"), en2), atom("noreply"), 20s, use_future);
  CHECK(pending.wait_for(300ms) == std::future_status::timeout);
  erl2.process().kill(9);
  REQUIRE(pending.wait_for(15s) == std::future_status::ready);
  auto nd = pending.get();
  CHECK(nd.error() == gen::call_errc::nodedown);
  CHECK(nd.reason() == term(tuple{atom("nodedown"), en2}));
  CHECK(mb.queued() == 0);
}

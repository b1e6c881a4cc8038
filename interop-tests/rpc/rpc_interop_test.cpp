// The rpc service against live OTP 25 nodes: every way a BEAM calls into C++ handlers (rpc,
// erpc, rex forms, erl_call), compared with what a BEAM callee answers to the same calls, and
// calls from C++ into erl. One epmd, one C++ node and two erl nodes serve all test cases.
#include "node/cpp_node.hpp"
#include "support/erl_process.hpp"

#include "node/node_impl.hpp"
#include "rpc/rpc_service.hpp"

#include <erlnode/rpc.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <glob.h>

#include <atomic>

using namespace erlnode;
using namespace erlnode::interop;
namespace asio = boost::asio;

namespace {

// Handlers of module `t`: the same cases a BEAM module would have.
void define_t(node& n) {
  auto& r = n.rpc();
  r.define(atom("t"), atom("add"), 2, rpc_handler([](const rpc_context&, const list& a) -> term {
             return big_int(*a[0].to_big_int() + *a[1].to_big_int());
           }));
  r.define(atom("t"), atom("echo"), 1,
           rpc_handler([](const rpc_context&, const list& a) -> term { return a[0]; }));
  r.define(atom("t"), atom("size"), 1, rpc_handler([](const rpc_context&, const list& a) -> term {
             return static_cast<std::int64_t>(a[0].as<binary>().size());
           }));
  r.define(atom("t"), atom("who"), 0, rpc_handler([](const rpc_context& c, const list&) -> term {
             return tuple{c.caller_node, c.group_leader};
           }));
  r.define(atom("t"), atom("caller"), 0,
           rpc_handler([](const rpc_context& c, const list&) -> term { return c.caller; }));
  r.define(atom("t"), atom("raise"), 2, rpc_handler([](const rpc_context&, const list& a) -> term {
             auto c = a[0].as<atom>().text();
             if (c == "error") raise_error(a[1]);
             if (c == "exit") raise_exit(a[1]);
             if (c == "throw") raise_throw(a[1]);
             throw std::runtime_error("boom");
           }));
  r.define(atom("t"), atom("sleep"), 1,
           rpc_async_handler([](const rpc_context&, const list& a) -> asio::awaitable<term> {
             asio::steady_timer t(co_await asio::this_coro::executor,
                                  std::chrono::milliseconds(*a[0].to_int64()));
             co_await t.async_wait(asio::use_awaitable);
             co_return atoms::ok;
           }));
  // Sends Msg to Pid (so that casts can be observed).
  r.define(atom("t"), atom("notify"), 2,
           rpc_handler([&n](const rpc_context&, const list& a) -> term {
             auto mb = n.create_mailbox();
             mb.send(a[0].as<pid>(), a[1]);
             return atoms::ok;
           }));
  // erlang:node/0 answered by C++, so multicalls can mix BEAM and C++ callees.
  r.define(atom("erlang"), atom("node"), 0,
           rpc_handler([&n](const rpc_context&, const list&) -> term { return n.name(); }));
}

// One epmd, the C++ node and two erl nodes (A calls, B is a BEAM callee to compare with).
struct world {
  epmd_instance epmd;
  erl_node a{{.epmd_port = epmd.port()}};
  erl_node b{{.cookie = a.cookie(), .epmd_port = epmd.port()}};
  cpp_node c{opts()};
  node_options opts() {
    node_options o;
    o.name = unique_name("cpp");
    o.cookie = a.cookie();
    o.epmd_port = static_cast<std::uint16_t>(epmd.port());
    return o;
  }
  world() {
    define_t(c.get());
    if (c.start()) throw std::runtime_error("C++ node did not start");
    a.eval("pong = net_adm:ping('" + b.node_name() + "')");
  }
};
world& w() {
  static world instance;
  return instance;
}
// Evaluates `exprs` on erl node A in a fun of its own (no binding leaks from one evaluation
// to the next), with C bound to the C++ node and B to the BEAM node B.
std::string eval(std::string_view exprs, std::chrono::milliseconds t = 60s) {
  return w().a.eval("(fun(C, B) -> " + std::string(exprs) + " end)('" + w().c.name() + "', '" +
                        w().b.node_name() + "')",
                    t);
}
// The same expression with the C++ node and with the BEAM node B as callee N.
std::pair<std::string, std::string> both(const std::string& expr_with_n) {
  return {eval("N = C, " + expr_with_n), eval("N = B, " + expr_with_n)};
}

std::string erl_call_bin() {
  glob_t g{};
  std::string found;
  if (glob("/usr/lib/erlang/lib/erl_interface-*/bin/erl_call", 0, nullptr, &g) == 0 &&
      g.gl_pathc > 0)
    found = g.gl_pathv[0];
  globfree(&g);
  return found.empty() ? erl_bin("erl_call") : found;
}

}  // namespace

TEST_CASE("rpc:call and erpc:call run C++ handlers") {
  CHECK(eval("rpc:call(C, t, add, [1, 2])") == "3");
  CHECK(eval("erpc:call(C, t, add, [1 bsl 100, 1])") == "1267650600228229401496703205377");
  CHECK(eval("erpc:call(C, t, echo, [{a, [1.5, <<\"x\">>, #{k => v}]}])") ==
        "{a,[1.5,<<120>>,#{k => v}]}");
  CHECK(eval("rpc:call(C, t, add, [1, 2], 5000)") == "3");
  // The handler sees the caller's node (and its group leader, a pid of that node).
  CHECK(eval("{Node, GL} = rpc:call(C, t, who, []), {Node =:= node(), node(GL) =:= node()}") ==
        "{true,true}");
  // ... and the calling process itself.
  CHECK(eval("erpc:call(C, t, caller, []) =:= self()") == "true");
  CHECK(eval("rpc:call(C, t, caller, []) =:= self()") == "true");
  // A coroutine handler.
  CHECK(eval("rpc:call(C, t, sleep, [20])") == "ok");
}

TEST_CASE("handler exceptions look like a BEAM function's") {
  // Each class through rpc:call and erpc:call, the BEAM callee raising with erlang:Class/1.
  CHECK(eval("rpc:call(C, t, raise, [throw, x])") == "x");
  CHECK(eval("rpc:call(B, erlang, throw, [x])") == "x");
  CHECK(eval("rpc:call(C, t, raise, [exit, x])") == "{badrpc,{'EXIT',x}}");
  CHECK(eval("rpc:call(B, erlang, exit, [x])") == "{badrpc,{'EXIT',x}}");
  CHECK(eval("rpc:call(C, t, raise, [error, x])") == "{badrpc,{'EXIT',{x,[{t,raise,2,[]}]}}}");
  CHECK(eval("try erpc:call(C, t, raise, [throw, x]) catch Cl:R -> {Cl, R} end") == "{throw,x}");
  CHECK(eval("try erpc:call(C, t, raise, [exit, x]) catch Cl:R -> {Cl, R} end") ==
        "{exit,{exception,x}}");
  CHECK(eval("try erpc:call(C, t, raise, [error, x]) catch Cl:R -> {Cl, R} end") ==
        "{error,{exception,x,[{t,raise,2,[]}]}}");
  CHECK(eval("try erpc:call(C, t, raise, [exit, {a, [b]}]) catch Cl:R -> {Cl, R} end") ==
        "{exit,{exception,{a,[b]}}}");
  // Another C++ exception: error {cpp_exception, Type, What}.
  CHECK(eval("rpc:call(C, t, raise, [other, x])") ==
        "{badrpc,{'EXIT',{{cpp_exception,<<115,116,100,58,58,114,117,110,116,105,109,101,95,"
        "101,114,114,111,114>>,<<98,111,111,109>>},[{t,raise,2,[]}]}}}");
  // A term of the wrong kind in a handler: badarg.
  CHECK(eval("rpc:call(C, t, size, [notabinary])") == "{badrpc,{'EXIT',{badarg,[{t,size,1,[]}]}}}");
}

TEST_CASE("unknown functions answer as a BEAM callee does") {
  for (const char* e : {"rpc:call(N, nomod, nofun, [1])", "rpc:call(N, t, add, [1])",
                        "try erpc:call(N, nomod, nofun, [1, a]) catch Cl:R -> {Cl, R} end",
                        "rpc:block_call(N, nomod, nofun, [1])",
                        "gen_server:call({rex, N}, {call, nomod, nofun, [x], user})"}) {
    auto [cpp, beam] = both(e);
    INFO(e);
    CHECK(cpp == beam);
  }
  CHECK(eval("rpc:call(C, nomod, nofun, [1])") ==
        "{badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}");
}

TEST_CASE("casts run and are not answered") {
  CHECK(eval("true = rpc:cast(C, t, notify, [self(), cast1]), "
             "receive cast1 -> ok after 5000 -> timeout end") == "ok");
  CHECK(eval("ok = erpc:cast(C, t, notify, [self(), cast2]), "
             "receive cast2 -> ok after 5000 -> timeout end") == "ok");
  // A failing cast leaves nothing behind on the caller.
  CHECK(eval("ok = erpc:cast(C, nomod, nofun, []), ok = erpc:cast(C, t, raise, [error, x]), "
             "timer:sleep(200), {message_queue_len, L} = process_info(self(), message_queue_len), "
             "L") == "0");
}

TEST_CASE("multicalls mix C++ and BEAM callees") {
  CHECK(eval("erpc:multicall([C, B, C], erlang, node, [])") ==
        "[{ok," + w().c.name() + "},{ok," + w().b.node_name() + "},{ok," + w().c.name() + "}]");
  CHECK(eval("erpc:multicall([C, B], t, add, [1, 2])") ==
        "[{ok,3},{error,{exception,undef,[{t,add,[1,2],[]}]}}]");
  CHECK(eval("rpc:multicall([C, B, nonode@nowhere], erlang, node, [])") ==
        "{[" + w().c.name() + "," + w().b.node_name() + "],[nonode@nowhere]}");
  CHECK(eval("erpc:multicall([C, C], t, sleep, [2000], 100)") ==
        "[{error,{erpc,timeout}},{error,{erpc,timeout}}]");
}

TEST_CASE("send_request / receive_response, block_call, rex gen_server and C-node forms") {
  CHECK(eval("R1 = erpc:send_request(C, t, add, [2, 3]), erpc:receive_response(R1, 5000)") == "5");
  CHECK(eval("R2 = erpc:send_request(C, t, sleep, [10]), erpc:wait_response(R2, 5000)") ==
        "{response,ok}");
  CHECK(eval("rpc:block_call(C, t, add, [1, 2])") == "3");
  CHECK(eval("rpc:block_call(C, t, raise, [exit, x])") == "{badrpc,{'EXIT',x}}");
  CHECK(eval("rpc:block_call(C, t, add, [1, 2], 5000)") == "3");
  CHECK(eval("gen_server:call({rex, C}, {call, t, add, [1, 2], user})") == "3");
  CHECK(eval("gen_server:call({rex, C}, {block_call, t, add, [1, 2], group_leader()})") == "3");
  CHECK(eval("gen_server:call({rex, C}, {call, t, raise, [error, x], user})") ==
        "{badrpc,{'EXIT',{x,[{t,raise,2,[]}]}}}");
  // gen_server:multi_call tags are {Ref, Node}.
  CHECK(eval("gen_server:multi_call([C], rex, {call, t, add, [2, 2], user})") ==
        "{[{" + w().c.name() + ",4}],[]}");
  // The C-node form, as erl_call and ei_rpc send it: {Pid, {call, M, F, A, GL}} -> {rex, R}.
  CHECK(eval("{rex, C} ! {self(), {call, t, add, [1, 2], user}}, "
             "receive {rex, R3} -> R3 after 5000 -> timeout end") == "3");
  CHECK(eval("{rex, C} ! {self(), {call, nomod, nofun, [1], user}}, "
             "receive {rex, R4} -> R4 after 5000 -> timeout end") ==
        "{badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}");
  CHECK(eval("{rex, C} ! {self(), features_request}, "
             "receive {features_reply, N5, F5} -> {N5 =:= C, F5} after 5000 -> timeout end") ==
        "{true,[erpc]}");
}

TEST_CASE("OTP's erl_call calls C++ handlers as it calls a BEAM") {
  auto run = [](const std::string& node, const std::string& mfa) {
    child_process p(
        {erl_call_bin(), "-sname", node.substr(0, node.find('@')), "-c", w().a.cookie(), "-a", mfa},
        {{"ERL_EPMD_PORT", std::to_string(w().epmd.port())}});
    p.wait(30s);
    return p.output();
  };
  CHECK(run(w().c.name(), "t add [40,2]") == "42");
  CHECK(run(w().b.node_name(), "lists max [[40,42]]") == "42");
  CHECK(run(w().c.name(), "nomod nofun [1]") == run(w().b.node_name(), "nomod nofun [1]"));
  CHECK(run(w().c.name(), "t raise [exit,x]") == run(w().b.node_name(), "erlang exit [x]"));
}

TEST_CASE("caller timeouts leave nothing behind") {
  auto idle = [] {
    for (int i = 0; i < 100 && w().c->rpc().stats().running != 0; ++i)
      std::this_thread::sleep_for(50ms);
    std::this_thread::sleep_for(100ms);
  };
  idle();  // (handlers of earlier cases may still sleep)
  const auto before = w().c->impl()->stats();
  CHECK(eval("rpc:call(C, t, sleep, [1000], 100)") == "{badrpc,timeout}");
  CHECK(eval("try erpc:call(C, t, sleep, [1000], 100) catch Cl:R -> {Cl, R} end") ==
        "{error,{erpc,timeout}}");
  CHECK(eval("rpc:block_call(C, t, sleep, [300], 50)") == "{badrpc,timeout}");
  CHECK(eval("R6 = erpc:send_request(C, t, sleep, [1000]), "
             "try erpc:receive_response(R6, 100) catch Cl:R -> {Cl, R} end") ==
        "{error,{erpc,timeout}}");
  // The handlers finish on their own; no late answer reaches the caller, nothing stays.
  CHECK(eval("timer:sleep(1300), {message_queue_len, L} = process_info(self(), message_queue_len), "
             "L") == "0");
  idle();
  CHECK(w().c->rpc().stats().running == 0);
  // No process, monitor or link of the abandoned calls is left on the C++ node.
  const auto after = w().c->impl()->stats();
  CHECK(after.processes == before.processes);
  CHECK(after.monitors == before.monitors);
  CHECK(after.links == before.links);
  CHECK(after.aliases == before.aliases);
}

TEST_CASE("a 64 MB binary argument, and back") {
  CHECK(eval("Big = binary:copy(<<\"0123456789abcdef\">>, 4 * 1024 * 1024), "
             "rpc:call(C, t, size, [Big], 60000)",
             120s) == "67108864");
  CHECK(eval("Big = binary:copy(<<\"0123456789abcdef\">>, 4 * 1024 * 1024), "
             "Big =:= erpc:call(C, t, echo, [Big], 60000)",
             120s) == "true");
}

TEST_CASE("1,000 concurrent calls from 100 Erlang processes") {
  auto t0 = std::chrono::steady_clock::now();
  CHECK(eval("Self = self(), "
             "Ps = [spawn(fun() -> Rs = [rpc:call(C, t, add, [I, J]) || J <- lists:seq(1, 10)], "
             "Self ! {done, I, Rs} end) || I <- lists:seq(1, 100)], "
             "Got = [receive {done, I, Rs} -> Rs =:= [I + J || J <- lists:seq(1, 10)] "
             "after 60000 -> timeout end || I <- lists:seq(1, 100)], "
             "{length(Ps), lists:usort(Got)}",
             120s) == "{100,[true]}");
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  WARN("1,000 concurrent rpc:calls (100 processes x 10): " << ms << " ms");
  // With coroutine handlers all in flight at once: 100 sleeps of 200 ms overlap.
  t0 = std::chrono::steady_clock::now();
  CHECK(eval("Self = self(), "
             "[spawn(fun() -> Self ! {slept, rpc:call(C, t, sleep, [200])} end) "
             "|| _ <- lists:seq(1, 100)], "
             "lists:usort([receive {slept, X} -> X after 10000 -> timeout end "
             "|| _ <- lists:seq(1, 100)])",
             60s) == "[ok]");
  ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
           .count();
  CHECK(ms < 3000);
}

TEST_CASE("a spawn_request carrying a seq_trace token is answered with it, as a BEAM does") {
  // erl A spawns erpc:execute_call on the callee with a token set (SPAWN_REQUEST_TT): the
  // SPAWN_REPLY_TT brings the token back (from the new process), so A's receive is traced and
  // A holds the token afterwards.
  // In a fresh process each time (its seq_trace clock starts at 0).
  auto [ours, beam] = both(
      "Me = self(), spawn(fun() -> "
      "T = spawn(fun() -> (fun L(Acc) -> receive {dump, P} -> P ! {trace, lists:reverse(Acc)}; "
      "X -> L([X | Acc]) end end)([]) end), seq_trace:set_system_tracer(T), "
      "seq_trace:set_token(label, 7), seq_trace:set_token('receive', true), Ref = make_ref(), "
      "R = spawn_request(N, erpc, execute_call, [Ref, erlang, node, []], [monitor]), "
      "Child = receive {spawn_reply, R, ok, P} -> P after 5000 -> timeout end, "
      "Tok = seq_trace:get_token(), seq_trace:set_token([]), "
      "Down = receive {'DOWN', R, process, Child, {Ref, return, N}} -> down after 5000 -> "
      "no_down end, timer:sleep(100), T ! {dump, self()}, "
      "Tr = receive {trace, Tl} -> Tl after 5000 -> [] end, seq_trace:set_system_tracer(false), "
      "Me ! {result, {Down, case Tok of {F, Lb, S, Fr, Lc} -> {F, Lb, S, Fr =:= Child, Lc}; _ "
      "-> Tok end, [{Lb2, element(2, Ev), element(3, Ev) =:= Child} || {seq_trace, Lb2, Ev} <- "
      "Tr, element(1, Ev) =:= 'receive']}} end), receive {result, Res} -> Res after 10000 -> "
      "timeout end");
  CHECK(ours == beam);
  CHECK(ours.find("{down,{") == 0);
}

TEST_CASE("C++ calls into erl") {
  auto& r = w().c->rpc();
  atom a(w().a.node_name());
  auto res = r.call(a, atom("erlang"), atom("node"), list{}, 10s);
  REQUIRE(res.ok());
  CHECK(res.value == term(a));
  res = r.call(a, atom("lists"), atom("reverse"), list{term(list{1, 2, 3})}, 10s);
  CHECK(to_string(res.value) == "[3,2,1]");
  // Exceptions of each class, with the class and reason erl raised.
  res = r.call(a, atom("erlang"), atom("throw"), list{atom("x")}, 10s);
  CHECK(res.st == rpc_result::status::exception);
  CHECK(res.cls == exception_class::throw_);
  CHECK(res.value == term(atom("x")));
  CHECK(to_string(res.to_rpc_term()) == "x");
  res = r.call(a, atom("erlang"), atom("exit"), list{atom("x")}, 10s);
  CHECK(res.cls == exception_class::exit);
  CHECK(to_string(res.to_rpc_term()) == "{badrpc,{'EXIT',x}}");
  res = r.call(a, atom("erlang"), atom("error"), list{atom("x")}, 10s);
  CHECK(res.cls == exception_class::error);
  CHECK(to_string(res.to_rpc_term()) == "{badrpc,{'EXIT',{x,[{erlang,error,[x],[]}]}}}");
  res = r.call(a, atom("nomod"), atom("nofun"), list{1}, 10s);
  CHECK(res.st == rpc_result::status::exception);
  CHECK(to_string(res.value) == "undef");
  CHECK(to_string(res.stacktrace) == "[{nomod,nofun,[1],[]}]");
  try {
    (void)res.get();
    FAIL("no exception");
  } catch (const erlang_exception& e) {
    CHECK(e.cls() == exception_class::error);
  }
  // Output of the remote function goes to us as group leader and is dropped, not waited on.
  res = r.call(a, atom("io"), atom("format"), list{term("hello~n")}, 10s);
  CHECK(res.value == term(atoms::ok));
  // Timeout, then the late answer is dropped and nothing of the call stays on our node.
  const auto before = w().c->impl()->stats();
  res = r.call(a, atom("timer"), atom("sleep"), list{1000}, 100ms);
  CHECK(res.st == rpc_result::status::timeout);
  CHECK(to_string(res.to_rpc_term()) == "{badrpc,timeout}");
  std::this_thread::sleep_for(1200ms);
  const auto after = w().c->impl()->stats();
  CHECK(after.processes == before.processes);
  CHECK(after.monitors + after.watching == before.monitors + before.watching);
  // A node nobody runs: nodedown.
  res = r.call(atom("nobody@" + interop::short_hostname()), atom("erlang"), atom("node"), list{},
               10s);
  CHECK(res.st == rpc_result::status::nodedown);
  CHECK(to_string(res.to_rpc_term()) == "{badrpc,nodedown}");
  // Cast: erl stores a value we then read.
  CHECK(!r.cast(a, atom("persistent_term"), atom("put"), list{atom("rpc_cast_key"), 42}));
  CHECK(eval("timer:sleep(200), persistent_term:get(rpc_cast_key, none)") == "42");
  // Multicall: erl, the other erl, ourselves, a missing node.
  auto all = r.multicall(
      {a, atom(w().b.node_name()), w().c->name(), atom("nobody@" + interop::short_hostname())},
      atom("erlang"), atom("node"), list{}, 10s);
  REQUIRE(all.size() == 4);
  CHECK(all[0].value == term(a));
  CHECK(all[1].value == term(atom(w().b.node_name())));
  CHECK(all[2].value == term(w().c->name()));
  CHECK(all[3].st == rpc_result::status::nodedown);
}

TEST_CASE("a call in flight when the callee node goes down: nodedown") {
  erl_node d({.cookie = w().a.cookie(), .epmd_port = w().epmd.port()});
  atom dn(d.node_name());
  auto& r = w().c->rpc();
  REQUIRE(r.call(dn, atom("erlang"), atom("node"), list{}, 10s).ok());
  auto f = r.async_call(dn, atom("timer"), atom("sleep"), list{10000}, 20s, asio::use_future);
  std::this_thread::sleep_for(300ms);
  d.process().kill(9);
  auto res = f.get();
  CHECK(res.st == rpc_result::status::nodedown);
}

TEST_CASE("C++ calls into erl through rex (the path for peers without SPAWN)") {
  auto& r = w().c->rpc();
  auto svc = std::dynamic_pointer_cast<detail::rpc_service>(w().c->impl()->rpc_);
  REQUIRE(svc);
  svc->force_rex = true;
  atom a(w().a.node_name());
  auto res = r.call(a, atom("erlang"), atom("node"), list{}, 10s);
  CHECK(res.value == term(a));
  res = r.call(a, atom("erlang"), atom("error"), list{atom("x")}, 10s);
  CHECK(res.st == rpc_result::status::badrpc);
  CHECK(to_string(res.to_rpc_term()) == "{badrpc,{'EXIT',{x,[{erlang,error,[x],[]}]}}}");
  res = r.call(a, atom("nomod"), atom("nofun"), list{1}, 10s);
  CHECK(to_string(res.to_rpc_term()) == "{badrpc,{'EXIT',{undef,[{nomod,nofun,[1],[]}]}}}");
  res = r.call(a, atom("timer"), atom("sleep"), list{1000}, 100ms);
  CHECK(res.st == rpc_result::status::timeout);
  CHECK(!r.cast(a, atom("persistent_term"), atom("put"), list{atom("rpc_rex_cast"), 7}));
  CHECK(eval("timer:sleep(200), persistent_term:get(rpc_rex_cast, none)") == "7");
  svc->force_rex = false;
}

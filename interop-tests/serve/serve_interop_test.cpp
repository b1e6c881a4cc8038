// erlnode-serve as a user meets it: a separate process that erl nodes and OTP's erl_call call
// into. One erlnode-serve and one erl node (on a private epmd) serve most cases.
#include "support/erl_process.hpp"

#include <catch2/catch.hpp>

#include <glob.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>

using namespace erlnode::interop;
using Catch::Matchers::StartsWith;

namespace {

struct serve_process {
  std::string name = unique_name("serve");
  std::string cookie = unique_name("cookie");
  std::unique_ptr<child_process> proc;
  std::string node;  // name@host, from the "ready" line

  explicit serve_process(int epmd_port, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{
        ERLNODE_SERVE_BIN,         "--sname",        name, "--cookie", cookie, "--epmd-port",
        std::to_string(epmd_port), "--no-start-epmd"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<child_process>(argv);
    if (!proc->wait_for_output("\n", 30s) || proc->output().find("ready ") == std::string::npos)
      throw std::runtime_error("erlnode-serve did not start: " + proc->output());
    auto& out = proc->output();
    auto at = out.find("ready ") + 6;
    node = out.substr(at, out.find('\n', at) - at);
  }
};

// One epmd, one erlnode-serve and one erl node with its cookie, shared by the test cases.
struct world {
  epmd_instance epmd;
  serve_process serve{epmd.port()};
  erl_node erl{{.cookie = serve.cookie, .epmd_port = epmd.port()}};
  world() { erl.eval("C = '" + serve.node + "'"); }
};
world& w() {
  static world instance;
  return instance;
}

std::string eval(std::string_view exprs, std::chrono::milliseconds t = 60s) {
  return w().erl.eval(exprs, t);
}

// OTP's own erl_call binary (erl_interface), with the epmd of the world.
std::string erl_call_bin() {
  glob_t g{};
  std::string found = erl_bin("erl_call");
  if (::glob("/usr/lib/erlang/lib/erl_interface-*/bin/erl_call", 0, nullptr, &g) == 0 &&
      g.gl_pathc > 0)
    found = g.gl_pathv[0];
  ::globfree(&g);
  return found;
}

std::string erl_call(const std::string& apply) {
  child_process p({erl_call_bin(), "-sname", w().serve.name, "-c", w().serve.cookie, "-a", apply},
                  {{"ERL_EPMD_PORT", std::to_string(w().epmd.port())}});
  auto rc = p.wait(30s);
  p.pump();
  INFO(p.output());
  REQUIRE(rc == 0);
  return p.output();
}

}  // namespace

TEST_CASE("OTP's erl_call calls the cpp module of erlnode-serve") {
  // erl_call (rex C-node form) prints the result without a newline.
  CHECK(erl_call("cpp echo [hello]") == "hello");
  CHECK(erl_call("cpp add [40,2]") == "42");
  CHECK(erl_call("cpp echo [{a,\"b\",42}]") == "{a, \"b\", 42}");  // ei's print form
  CHECK(erl_call("cpp sleep [10]") == "ok");
}

TEST_CASE("erl calls every function of the cpp module") {
  CHECK(eval("rpc:call(C, cpp, echo, [{x, [1, 2.5, <<\"b\">>, #{k => v}], self()}])"
             " =:= {x, [1, 2.5, <<\"b\">>, #{k => v}], self()}") == "true");
  CHECK(eval("rpc:call(C, cpp, add, [40, 2])") == "42");
  CHECK(eval("rpc:call(C, cpp, add, [16#7fffffffffffffff, 1]) =:= 16#8000000000000000") == "true");
  CHECK(eval("rpc:call(C, cpp, add, [1 bsl 300, -(1 bsl 299)]) =:= 1 bsl 299") == "true");
  CHECK(eval("rpc:call(C, cpp, add, [-(1 bsl 70), (1 bsl 70) + 5])") == "5");
  CHECK(eval("rpc:call(C, cpp, add, [-(1 bsl 64), -(1 bsl 64)]) =:= -(1 bsl 65)") == "true");
  // Bad arguments fail as the BEAM's + does.
  CHECK(eval("element(1, element(2, rpc:call(C, cpp, add, [1, a])))") == "'EXIT'");
  CHECK_THAT(w().erl.eval_catch("erpc:call(C, cpp, add, [1, a])"),
             StartsWith("{error,{exception,badarith,"));
  CHECK_THAT(w().erl.eval_catch("erpc:call(C, cpp, add, [1.5, 1])"),
             StartsWith("{error,{exception,badarith,"));
  CHECK(eval("rpc:call(C, cpp, sleep, [50])") == "ok");
  CHECK_THAT(w().erl.eval_catch("erpc:call(C, cpp, sleep, [-1])"),
             StartsWith("{error,{exception,timeout_value,"));
  CHECK(eval("rpc:call(C, cpp, sha256, [<<\"abc\">>]) =:= crypto:hash(sha256, <<\"abc\">>)") ==
        "true");
  CHECK(eval("byte_size(rpc:call(C, cpp, sha256, [<<>>]))") == "32");
  CHECK_THAT(w().erl.eval_catch("erpc:call(C, cpp, sha256, [\"abc\"])"),
             StartsWith("{error,{exception,badarg,"));
  CHECK_THAT(w().erl.eval_catch("erpc:call(C, cpp, sha256, [<<1:3>>])"),
             StartsWith("{error,{exception,badarg,"));
  CHECK(eval("I = rpc:call(C, cpp, info, []), {maps:get(node, I), is_integer(maps:get(uptime_ms, "
             "I)), lists:member(node(), maps:get(connected_nodes, I)), maps:get(messages_in, I) > "
             "0, maps:get(rpc_calls, I) > 0}") == "{" + w().serve.node + ",true,true,true,true}");
}

TEST_CASE("cpp:raise/2 raises each class as an Erlang function would") {
  // Same outcome as the BEAM raising it, through rpc:call and erpc:call.
  CHECK(eval("rpc:call(C, cpp, raise, [throw, {my, term}]) =:= "
             "rpc:call(node(), erlang, throw, [{my, term}])") == "true");
  CHECK(eval("rpc:call(C, cpp, raise, [exit, {my, term}]) =:= "
             "rpc:call(node(), erlang, exit, [{my, term}])") == "true");
  CHECK(eval("{badrpc, {'EXIT', {{my, term}, Stack}}} = rpc:call(C, cpp, raise, [error, {my, "
             "term}]), is_list(Stack)") == "true");
  CHECK_THAT(w().erl.eval_catch("erpc:call(C, cpp, raise, [error, oops])"),
             StartsWith("{error,{exception,oops,"));
  CHECK(w().erl.eval_catch("erpc:call(C, cpp, raise, [exit, oops])") == "{exit,{exception,oops}}");
  CHECK(w().erl.eval_catch("erpc:call(C, cpp, raise, [throw, oops])") == "{throw,oops}");
  CHECK_THAT(w().erl.eval_catch("erpc:call(C, cpp, raise, [bad, oops])"),
             StartsWith("{error,{exception,badarg,"));
  CHECK(w().erl.eval_catch("erpc:call(C, cpp, nosuch, [1])") ==
        "{error,{exception,undef,[{cpp,nosuch,[1],[]}]}}");
  CHECK(eval("rpc:call(C, cpp, nosuch, [1])") == "{badrpc,{'EXIT',{undef,[{cpp,nosuch,[1],[]}]}}}");
}

TEST_CASE("sleep does not block other calls; a caller's timeout leaves the node serving") {
  // 10 sleeps of 1 s at once end together (serially they would take 10 s).
  CHECK(
      eval("T0 = erlang:monotonic_time(millisecond), S = self(), [spawn(fun() -> S ! {slept, "
           "rpc:call(C, cpp, sleep, [1000])} end) || _ <- lists:seq(1, 10)], Rs = [receive "
           "{slept, R} -> R end || _ <- lists:seq(1, 10)], {Rs, erlang:monotonic_time(millisecond) "
           "- T0 < 6000}") == "{[ok,ok,ok,ok,ok,ok,ok,ok,ok,ok],true}");
  CHECK(eval("rpc:call(C, cpp, sleep, [2000], 100)") == "{badrpc,timeout}");
  CHECK(eval("rpc:call(C, cpp, echo, [still_here])") == "still_here");
}

TEST_CASE("64 MB binaries through cpp:echo and cpp:sha256") {
  // In a fun, so the erl node does not keep the binary bound afterwards.
  CHECK(eval("(fun() -> Big = crypto:strong_rand_bytes(64 * 1024 * 1024), {rpc:call(C, cpp, "
             "echo, [Big], 120000) =:= Big, rpc:call(C, cpp, sha256, [Big], 120000) =:= "
             "crypto:hash(sha256, Big)} end)()",
             240s) == "{true,true}");
}

TEST_CASE("1,000 concurrent calls from 100 Erlang processes") {
  CHECK(eval("Me = self(), [spawn(fun() -> Me ! {done, P, [rpc:call(C, cpp, add, [P * 1000, K]) "
             "|| K <- lists:seq(1, 10)]} end) || P <- lists:seq(1, 100)], Got = [receive {done, "
             "P, Res} -> Res =:= [P * 1000 + K || K <- lists:seq(1, 10)] after 60000 -> timeout "
             "end || P <- lists:seq(1, 100)], lists:usort(Got)",
             120s) == "[true]");
}

TEST_CASE("the echo and sink processes") {
  CHECK(eval("{echo, C} ! {self(), {hello, <<\"w\">>}}, receive M -> M after 5000 -> timeout "
             "end") == "{hello,<<119>>}");
  CHECK(eval("gen_server:call({echo, C}, {ping, 7}, 5000)") == "{ping,7}");
  // gen_server:multi_call tags the call differently ({Ref, Node} in OTP 25).
  CHECK(eval("gen_server:multi_call([C], echo, hi, 5000)") == "{[{" + w().serve.node + ",hi}],[]}");
  CHECK(eval("[{sink, C} ! {n, I} || I <- lists:seq(1, 500)], {sink, C} ! {sink_report, "
             "self()}, receive {sink_count, N} -> N after 5000 -> timeout end") == "500");
  CHECK(eval("{sink, C} ! {sink_report, self()}, receive {sink_count, N2} -> N2 after 5000 -> "
             "timeout end") == "0");
}

TEST_CASE("Erlang links to and monitors processes it spawns on erlnode-serve") {
  CHECK(eval("process_flag(trap_exit, true), P1 = spawn_link(C, cpp, exit_after, [50, done]), "
             "receive {'EXIT', P1, W1} -> W1 after 5000 -> timeout end") == "done");
  CHECK(eval("{P2, R2} = spawn_monitor(C, cpp, exit_after, [50, bye]), receive {'DOWN', R2, "
             "process, P2, W2} -> W2 after 5000 -> timeout end") == "bye");
  CHECK(eval("R3 = monitor(process, {nosuch, C}), receive {'DOWN', R3, process, _, W3} -> W3 "
             "after 5000 -> timeout end") == "noproc");
}

TEST_CASE("erlnode-serve logs connections and exits cleanly on SIGTERM and SIGINT") {
  for (int sig : {SIGTERM, SIGINT}) {
    epmd_instance e;
    serve_process s(e.port());
    erl_node erl({.cookie = s.cookie, .epmd_port = e.port()});
    CHECK(erl.eval("net_adm:ping('" + s.node + "')") == "pong");
    CHECK(s.proc->wait_for_output("nodeup " + erl.node_name(), 10s));
    s.proc->kill(sig);
    CHECK(s.proc->wait(10s) == 0);
    CHECK(erl.eval("receive after 200 -> ok end, nodes(hidden)") == "[]");
  }
}

TEST_CASE("erlnode-serve with --busy-poll-us serves calls, sleeps when idle and stops") {
  epmd_instance e;
  serve_process s(e.port(), {"--busy-poll-us", "500"});
  erl_node erl({.cookie = s.cookie, .epmd_port = e.port()});
  erl.eval("C = '" + s.node + "'");
  CHECK(erl.eval("[rpc:call(C, cpp, add, [K, 1]) || K <- lists:seq(1, 5)]") == "[2,3,4,5,6]");
  CHECK(erl.eval("rpc:call(C, cpp, sleep, [300])") == "ok");  // a timer between polls
  // Idle, the loop blocks: well under 0.2 s of CPU over 1 s (/proc/PID/stat utime+stime).
  auto cpu_ticks = [&] {
    std::ifstream f("/proc/" + std::to_string(s.proc->pid()) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::istringstream in(stat.substr(stat.rfind(')') + 2));
    std::string field;
    long ut = 0, st = 0;
    for (int i = 3; i <= 15 && in >> field; ++i) {
      if (i == 14) ut = std::stol(field);
      if (i == 15) st = std::stol(field);
    }
    return ut + st;
  };
  long before = cpu_ticks();
  std::this_thread::sleep_for(1s);
  CHECK(cpu_ticks() - before < ::sysconf(_SC_CLK_TCK) / 5);
  s.proc->kill(SIGTERM);
  CHECK(s.proc->wait(10s) == 0);
}

TEST_CASE("erlnode-serve rejects bad options") {
  child_process none({ERLNODE_SERVE_BIN});
  CHECK(none.wait(10s) == 2);
  child_process bad({ERLNODE_SERVE_BIN, "--sname", "x", "--epmd-port", "nope"});
  CHECK(bad.wait(10s) == 2);
  child_process spin({ERLNODE_SERVE_BIN, "--sname", "x", "--busy-poll-us", "-1"});
  CHECK(spin.wait(10s) == 2);
  child_process help({ERLNODE_SERVE_BIN, "--help"});
  CHECK(help.wait(10s) == 0);
}

// Spawning against live OTP nodes: spawn/spawn_link/spawn_monitor/spawn_request from erl into
// C++ process functions (defined and unknown), and C++ spawn_request into erl.
#include "node/cpp_node.hpp"
#include "node/node_impl.hpp"
#include "node/spawn_internal.hpp"
#include "support/erl_process.hpp"

#include <erlnode/process.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/use_awaitable.hpp>

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace erlnode;
using namespace erlnode::interop;
namespace asio = boost::asio;

namespace {
node_options opts_for(const erl_node& erl, const epmd_instance& e) {
  node_options o;
  o.name = unique_name("cpp");
  o.cookie = erl.cookie();
  o.epmd_port = static_cast<std::uint16_t>(e.port());
  return o;
}

term et(std::string_view s) { return erlnode::parse(s).value(); }
std::string str_of(const term& t) { return to_string(t); }

// demo:echo(Args): answers {From, Msg} with {echo, self(), Msg, Args, GroupLeader} until
// `stop`.
asio::awaitable<void> echo(mailbox& self, list args) {
  for (;;) {
    auto [ec, msg] = co_await self.async_receive(asio::use_awaitable);
    if (ec || msg.is_atom(atom("stop"))) co_return;
    if (auto* t = msg.get_if<tuple>(); t && t->size() == 2 && (*t)[0].is_pid())
      self.send((*t)[0].as<pid>(),
                tuple{atom("echo"), self.self(), (*t)[1], args, self.group_leader()});
  }
}

// demo:finish([How]): ends as How says.
asio::awaitable<void> finish(mailbox& self, list args) {
  const term how = args.empty() ? term(atom("return")) : args[0];
  if (how.is_atom(atom("return"))) co_return;
  if (how.is_atom(atom("cpp"))) throw std::runtime_error("C++ says no");
  if (how.is_atom(atom("wait"))) {
    (void)co_await self.async_receive(asio::use_awaitable);
    co_return;
  }
  auto& t = how.as<tuple>();
  if (t[0].is_atom(atom("exit"))) raise_exit(t[1]);
  if (t[0].is_atom(atom("error"))) raise_error(t[1]);
  raise_throw(t[1]);
}

struct fixture {
  epmd_instance e;
  erl_node erl{{.epmd_port = e.port()}};
  cpp_node c{opts_for(erl, e)};
  std::string cn;
  fixture() {
    REQUIRE(c.start() == std::error_code());
    cn = "'" + c.name() + "'";
    c->define_process(atom("demo"), atom("echo"), echo);
    c->define_process(atom("demo"), atom("finish"), finish);
    REQUIRE(erl.eval("net_adm:ping(" + cn + ")") == "pong");
  }
  // spawn_monitor(CNode, demo, finish, [How]) from erl: the DOWN reason, printed.
  std::string down_of(const std::string& how) {
    return erl.eval("(fun() -> {P, R} = spawn_monitor(" + cn + ", demo, finish, [" + how +
                    "]), receive {'DOWN', R, process, P, W} -> W after 5000 -> timeout end "
                    "end)()");
  }
};
}  // namespace

TEST_CASE("erl spawns a C++ process function: arguments, messages, group leader") {
  fixture f;
  auto& erl = f.erl;
  CHECK(erl.eval("P = spawn(" + f.cn + ", demo, echo, [1, <<2, 3>>]), node(P)") ==
        f.cn.substr(1, f.cn.size() - 2));
  CHECK(
      erl.eval("P ! {self(), hello}, receive {echo, P, hello, A, GL} -> {A, GL == group_leader()} "
               "after 5000 -> timeout end") == "{[1,<<2,3>>],true}");
  CHECK(erl.eval("M = erlang:monitor(process, P), P ! stop, receive {'DOWN', M, _, _, W} -> W "
                 "after 5000 -> timeout end") == "normal");
}

TEST_CASE("erl spawn_monitor: the DOWN reason of each way a C++ process ends, as BEAM's") {
  fixture f;
  CHECK(f.down_of("return") == "normal");
  CHECK(f.down_of("{exit, boom}") == "boom");
  CHECK(f.down_of("{exit, {shutdown, [1,2]}}") == "{shutdown,[1,2]}");
  CHECK(f.down_of("{error, boom}") == "{boom,[]}");
  CHECK(f.down_of("{throw, boom}") == "{{nocatch,boom},[]}");
  // ~w prints binaries as bytes: compare on the erl side.
  CHECK(f.erl.eval("(fun() -> {P, R} = spawn_monitor(" + f.cn +
                   ", demo, finish, [cpp]), receive {'DOWN', R, process, P, W} -> W =:= "
                   "{{cpp_exception, <<\"C++ says no\">>}, []} after 5000 -> timeout end end)()") ==
        "true");
  // Unknown functions: a pid, then undef with the [{M, F, Args, []}] stack, as a BEAM node.
  CHECK(f.erl.eval("{P2, R2} = spawn_monitor(" + f.cn +
                   ", nomod, nofun, [1,2]), receive {'DOWN', R2, process, P2, W2} -> W2 after "
                   "5000 -> timeout end") == "{undef,[{nomod,nofun,[1,2],[]}]}");
  CHECK(f.c.wait_log("with exit value: {undef,[{nomod,nofun,[1,2],[]}]}"));
}

TEST_CASE("erl spawn_link: the EXIT reason reaches a trapping erl process; normal does not kill") {
  fixture f;
  auto& erl = f.erl;
  CHECK(erl.eval("process_flag(trap_exit, true), L1 = spawn_link(" + f.cn +
                 ", demo, finish, [{exit, bye}]), receive {'EXIT', L1, W1} -> W1 after 5000 -> "
                 "timeout end") == "bye");
  CHECK(erl.eval("L2 = spawn_link(" + f.cn +
                 ", demo, finish, [return]), receive {'EXIT', L2, W2} -> W2 after 5000 -> "
                 "timeout end") == "normal");
  // Not trapping: an abnormal exit kills the erl process.
  CHECK(erl.eval("{V, VR} = spawn_monitor(fun() -> spawn_link(" + f.cn +
                 ", demo, finish, [{error, x}]), receive after infinity -> ok end end), "
                 "receive {'DOWN', VR, process, V, VW} -> VW after 5000 -> timeout end") ==
        "{x,[]}");
}

TEST_CASE("erl spawn_request with each reply option, badopt, and link+monitor") {
  fixture f;
  auto& erl = f.erl;
  auto req = [&](const std::string& fn, const std::string& args, const std::string& opts) {
    return erl.eval("(fun() -> R = erlang:spawn_request(" + f.cn + ", demo, " + fn + ", " + args +
                    ", " + opts +
                    "), receive {spawn_reply, R, A, X} -> {A, is_pid(X) orelse X} after 1000 "
                    "-> none end end)()");
  };
  CHECK(req("finish", "[]", "[]") == "{ok,true}");
  CHECK(req("finish", "[]", "[{reply, yes}]") == "{ok,true}");
  CHECK(req("finish", "[]", "[{reply, success_only}]") == "{ok,true}");
  CHECK(req("finish", "[]", "[{reply, error_only}]") == "none");
  CHECK(req("finish", "[]", "[{reply, no}]") == "none");
  CHECK(req("finish", "[]", "[foo]") == "{error,badopt}");
  CHECK(req("finish", "[]", "[{priority, bogus}]") == "{error,badopt}");
  CHECK(req("finish", "[]", "[{reply, error_only}, foo]") == "{error,badopt}");
  CHECK(req("finish", "[]",
            "[{priority, high}, {fullsweep_after, 0}, {message_queue_data, "
            "off_heap}]") == "{ok,true}");
  // erlang:spawn_opt/5 turns badopt into badarg, as against a BEAM node.
  CHECK(erl.eval_catch("spawn_opt(" + f.cn + ", demo, finish, [], [foo])").find("badarg") !=
        std::string::npos);
}

TEST_CASE("erl spawn_request with link and monitor") {
  fixture f;
  auto& erl = f.erl;
  // link + monitor: EXIT then DOWN with the same reason, as BEAM sends them.
  CHECK(erl.eval("process_flag(trap_exit, true), R3 = erlang:spawn_request(" + f.cn +
                 ", demo, finish, [{exit, both}], [link, monitor]), "
                 "receive {spawn_reply, R3, ok, P3} -> ok end, "
                 "[receive M -> M after 5000 -> timeout end || _ <- [1, 2]] == "
                 "[{'EXIT', P3, both}, {'DOWN', R3, process, P3, both}]") == "true");
}

TEST_CASE(
    "erpc-shaped requests: the process gets the arguments and its exit reaches the caller's "
    "monitor") {
  fixture f;
  f.c->define_process(
      atom("erpc_like"), atom("execute_call"),
      [](mailbox& self, list args) -> asio::awaitable<void> {
        // [Res, M, F, A] -> exit({Res, return, {M, F, A}})
        self.exit(tuple{args[0], atom("return"), term(tuple{args[1], args[2], args[3]})});
        co_return;
      });
  CHECK(f.erl.eval("Res = make_ref(), R = erlang:spawn_request(" + f.cn +
                   ", erpc_like, execute_call, [Res, m, f, [1]], [{reply, error_only}, monitor]), "
                   "receive {'DOWN', R, process, _, {Res, return, V}} -> V after 5000 -> timeout "
                   "end") == "{m,f,[1]}");
}

TEST_CASE("C++ spawn_request into erl: ok, exit reasons, undef, link, reply modes") {
  fixture f;
  mailbox mb = f.c->create_mailbox();
  mb.trap_exit(true);
  const atom en(f.erl.node_name());
  spawn_options mon;
  mon.monitor = true;

  auto ref = mb.spawn_request(en, atom("erlang"), atom("node"), list{}, mon);
  REQUIRE(ref);
  auto r = mb.receive(5s).value().as<tuple>();
  CHECK(r[0] == term(atom("spawn_reply")));
  CHECK(r[1] == term(ref.value()));
  CHECK(r[2] == term(atoms::ok));
  const pid p = r[3].as<pid>();
  CHECK(str_of(term(p.node())) == f.erl.node_name());
  CHECK(mb.receive(5s).value() ==
        term(tuple{atoms::DOWN, ref.value(), atoms::process, p, atoms::normal}));

  ref = mb.spawn_request(en, atom("erlang"), atom("exit"), list{atom("boom")}, mon);
  REQUIRE(ref);
  r = mb.receive(5s).value().as<tuple>();
  CHECK(mb.receive(5s).value() ==
        term(tuple{atoms::DOWN, ref.value(), atoms::process, r[3], atom("boom")}));

  ref = mb.spawn_request(en, atom("nomod"), atom("nofun"), list{1}, mon);
  REQUIRE(ref);
  r = mb.receive(5s).value().as<tuple>();
  CHECK(r[2] == term(atoms::ok));
  CHECK(mb.receive(5s).value() == term(tuple{atoms::DOWN, ref.value(), atoms::process, r[3],
                                             et("{undef, [{nomod, nofun, [1], []}]}")}));

  spawn_options lk;
  lk.link = true;
  lk.reply = spawn_options::reply_mode::error_only;
  ref = mb.spawn_request(en, atom("erlang"), atom("exit"), list{atom("linked")}, lk);
  REQUIRE(ref);
  auto ex = mb.receive(5s).value().as<tuple>();  // no spawn_reply with error_only
  CHECK(ex[0] == term(atoms::EXIT));
  CHECK(ex[2] == term(atom("linked")));

  // The group leader in the request is the one the erl process gets.
  spawn_options gl;
  gl.group_leader = mb.self();
  ref = mb.spawn_request(en, atom("erlang"), atom("group_leader"), list{}, gl);
  REQUIRE(ref);
  CHECK(mb.receive(5s).value().as<tuple>()[2] == term(atoms::ok));
}

TEST_CASE("BEAM answers to hand-made requests match ours (bad options, bad argument lists)") {
  fixture f;
  // A second C++ node, to compare its answers with erl's.
  node_options o2 = opts_for(f.erl, f.e);
  cpp_node c2(o2);
  REQUIRE(c2.start() == std::error_code());
  c2->define_process(atom("erlang"), atom("node"), finish);
  mailbox mb = f.c->create_mailbox();
  mb.trap_exit(true);
  auto impl = f.c->impl();
  auto raw = [&](atom to, term mfa, term opts, term args, bool monitor_down) {
    reference id = impl->make_ref();
    detail::expect_spawn_reply(*impl, mb.self(), id, to);
    term ctl(tuple{29, id, mb.self(), mb.self(), mfa, opts});
    impl->route(detail::outgoing{detail::outgoing::kind::control, mb.self(), ctl, args}, to);
    auto r = mb.receive(5s);
    if (!r) return std::string("no reply");
    std::string s = to_string(r->as<tuple>()[2]);
    auto res = r->as<tuple>()[3];
    s += res.is_pid() ? " pid" : " " + to_string(res);
    if (monitor_down) {
      auto d = mb.receive(3s);
      s += d ? " " + to_string(d->as<tuple>()[4]) : " no DOWN";
    }
    return s;
  };
  const atom en(f.erl.node_name()), c2n = c2->name();
  struct tc {
    std::string mfa, opts, args;
    bool down;
  };
  const tc cases[] = {
      {"{erlang, node, 0}", "[foo]", "[]", false},
      {"{erlang, node, 0}", "[{link, true}]", "[]", false},
      {"{erlang, node, 0}", "[{priority, max}, {min_heap_size, 5}]", "[]", false},
      {"{erlang, node, 0}", "[monitor]", "[a|b]", true},
      {"{erlang, node, 0}", "[monitor]", "nolist", true},
      {"{erlang, node, 2}", "[monitor]", "[]", true},
  };
  for (auto& t : cases) {
    INFO(t.mfa << " " << t.opts << " " << t.args);
    std::string beam = raw(en, et(t.mfa), et(t.opts), et(t.args), t.down);
    std::string ours = raw(c2n, et(t.mfa), et(t.opts), et(t.args), t.down);
    UNSCOPED_INFO("erl: " << beam << "; ours: " << ours);
    CHECK(beam == ours);
  }
}

TEST_CASE("noconnection: a node that cannot be reached") {
  fixture f;
  mailbox mb = f.c->create_mailbox();
  auto ref =
      mb.spawn_request(atom("nosuch@" + interop::short_hostname()), atom("m"), atom("f"), list{});
  REQUIRE(ref);
  CHECK(mb.receive(15s).value() ==
        term(tuple{atom("spawn_reply"), ref.value(), atoms::error, atoms::noconnection}));
}

TEST_CASE("noconnection: erl killed while a spawned process is monitored") {
  fixture f;
  mailbox mb = f.c->create_mailbox();
  spawn_options mon;
  mon.monitor = true;
  auto ref = mb.spawn_request(atom(f.erl.node_name()), atom("timer"), atom("sleep"),
                              list{atom("infinity")}, mon);
  REQUIRE(ref);
  auto r = mb.receive(5s).value().as<tuple>();
  REQUIRE(r[2] == term(atoms::ok));
  f.erl.process().kill();
  CHECK(mb.receive(15s).value() ==
        term(tuple{atoms::DOWN, ref.value(), atoms::process, r[3], atoms::noconnection}));
}

// Links, exit signals, monitors, aliases and group leaders between C++ mailboxes and processes
// of a live OTP node, both directions, and what connection loss does to them.
#include "node/cpp_node.hpp"
#include "node/node_impl.hpp"
#include "support/erl_process.hpp"

#include <erlnode/text.hpp>

#include <boost/asio/post.hpp>

#include <catch2/catch.hpp>

#include <future>

using namespace erlnode;
using namespace erlnode::interop;

namespace {
struct fixture {
  epmd_instance e;
  erl_node erl{{.epmd_port = e.port()}};
  cpp_node c{opts()};
  mailbox box;  // registered as `box`; erl sends pids and results here
  node_options opts() {
    node_options o;
    o.name = unique_name("cpp");
    o.cookie = erl.cookie();
    o.epmd_port = static_cast<std::uint16_t>(e.port());
    return o;
  }
  fixture() {
    REQUIRE(c.start() == std::error_code());
    box = c->create_mailbox(atom("box")).value();
    REQUIRE(erl.eval("net_adm:ping('" + c.name() + "')") == "pong");
    erl.eval("Box = {box, '" + c.name() + "'}, ok");
  }
  atom erl_atom() const { return atom(erl.node_name()); }
  // Runs `exprs` in erl; they must send one term to Box, which is returned.
  term ask(const std::string& exprs) {
    erl.eval(exprs + ", ok");
    auto r = box.receive(std::chrono::seconds(10));
    REQUIRE(r);
    return *r;
  }
  // Gives erl the pid of `mb` as the variable `var`.
  void give(const std::string& var, mailbox& mb) {
    REQUIRE(!mb.send(atom("tester"), erl_atom(), term(mb.self())));
    erl.eval(var + " = receive Given" + var + " when is_pid(Given" + var + ") -> Given" + var +
             " after 5000 -> none end, ok");
  }
};

term recv(mailbox& mb, std::chrono::milliseconds to = std::chrono::seconds(10)) {
  auto r = mb.receive(to);
  REQUIRE(r);
  return *r;
}
bool dies(const mailbox& mb) {
  for (int i = 0; i < 500 && mb.alive(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return !mb.alive();
}
std::string txt(const term& t) { return to_string(t); }
}  // namespace

TEST_CASE("links: an erl process linked to a mailbox dies on abnormal exit, survives normal") {
  fixture f;
  f.erl.eval("register(tester, self()), ok");
  auto a = f.c->create_mailbox(), b = f.c->create_mailbox();
  f.give("A", a);
  f.give("B", b);
  // Two erl processes, one linked to each mailbox; each reports {linked, Self} first.
  const std::string body =
      "fun(T) -> link(T), Box ! {linked, self()}, receive after infinity -> ok end end";
  auto pa = f.ask("F = " + body + ", PA = spawn(fun() -> F(A) end)");
  auto pb = f.ask("PB = spawn(fun() -> F(B) end)");
  REQUIRE(pa.get_if<tuple>());
  REQUIRE(pb.get_if<tuple>());
  const pid erl_a = (*pa.get_if<tuple>())[1].as<pid>();
  CHECK(f.erl.eval("MA = monitor(process, PA), MB = monitor(process, PB), ok") == "ok");
  a.exit(atom("boom"));
  b.close();
  CHECK(f.erl.eval("receive {'DOWN', MA, _, _, R} -> R after 5000 -> timeout end") == "boom");
  CHECK(f.erl.eval("receive {'DOWN', MB, _, _, R} -> R after 500 -> alive end") == "alive");
  CHECK(f.erl.eval("is_process_alive(PB)") == "true");
  (void)erl_a;
}

TEST_CASE("links: a mailbox linked to erl processes, trap_exit on both sides") {
  fixture f;
  f.erl.eval("register(tester, self()), ok");
  auto a = f.c->create_mailbox(), t = f.c->create_mailbox();
  t.trap_exit(true);
  auto p = f.ask("P = spawn(fun() -> receive {die, R} -> exit(R) end end), Box ! P");
  const pid ep = p.as<pid>();
  REQUIRE(!a.link(ep));
  REQUIRE(!t.link(ep));
  // The link exists on the erl side too.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(f.erl.eval("{links, L} = process_info(P, links), length(L)") == "2");
  f.erl.eval("P ! {die, boom}, ok");
  CHECK(dies(a));
  CHECK(txt(*a.exit_reason()) == "boom");
  CHECK(recv(t) == term(tuple{atoms::EXIT, ep, atom("boom")}));
  CHECK(t.alive());

  // An erl process trapping exits gets {'EXIT', Mailbox, Reason}.
  f.give("T", t);
  auto q = f.ask(
      "Q = spawn(fun() -> process_flag(trap_exit, true), link(T), Box ! linked, "
      "receive M -> Box ! {got, M} end end), receive after 200 -> ok end, Box ! Q");
  CHECK(txt(q) == "linked");
  (void)recv(f.box);
  t.exit(atom("bang"));
  auto got = recv(f.box);
  CHECK(txt(got) == "{got,{'EXIT'," + txt(term(t.self())) + ",bang}}");
}

TEST_CASE("links: unlink while the exit is in flight leaves both sides unlinked") {
  fixture f;
  for (int i = 0; i < 5; ++i) {
    const std::string pv = "P" + std::to_string(i);
    auto a = f.c->create_mailbox();
    const pid ep =
        f.ask(pv + " = spawn(fun() -> receive after infinity -> ok end end), Box ! " + pv)
            .as<pid>();
    REQUIRE(!a.link(ep));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(f.erl.eval("{links, L" + pv + "} = process_info(" + pv + ", links), length(L" + pv +
                     ")") == "1");
    // Hold the node's only I/O thread, so the EXIT erl sends now waits unread on the socket
    // while we unlink: it must then be ignored.
    std::promise<void> release;
    std::promise<void> held;
    boost::asio::post(f.c->get_executor(), [&] {
      held.set_value();
      release.get_future().wait();
    });
    held.get_future().wait();
    CHECK(f.erl.eval("exit(" + pv + ", boom), receive after 100 -> ok end, is_process_alive(" + pv +
                     ")") == "false");
    REQUIRE(!a.unlink(ep));
    release.set_value();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(a.alive());
  }
  CHECK(f.c->impl()->stats().links == 0);
}

TEST_CASE("exit/2 both ways") {
  fixture f;
  f.erl.eval("register(tester, self()), ok");
  auto a = f.c->create_mailbox(), t = f.c->create_mailbox();
  f.give("A", a);
  f.give("T", t);
  t.trap_exit(true);
  CHECK(f.erl.eval("exit(A, normal)") == "true");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(a.alive());
  CHECK(f.erl.eval("exit(T, normal)") == "true");
  CHECK(txt(recv(t)) == "{'EXIT'," + txt(f.ask("Box ! self()")) + ",normal}");
  CHECK(f.erl.eval("exit(T, kill)") == "true");
  CHECK(dies(t));
  CHECK(txt(*t.exit_reason()) == "killed");
  CHECK(f.erl.eval("exit(A, boom)") == "true");
  CHECK(dies(a));
  CHECK(txt(*a.exit_reason()) == "boom");

  // From C++ to erl processes.
  auto b = f.c->create_mailbox();
  const pid p1 =
      f.ask("P1 = spawn(fun() -> receive after infinity -> ok end end), Box ! P1").as<pid>();
  const pid p2 = f.ask(
                      "P2 = spawn(fun() -> process_flag(trap_exit, true), receive M -> Box ! M end "
                      "end), Box ! P2")
                     .as<pid>();
  CHECK(f.erl.eval("M1 = monitor(process, P1), ok") == "ok");
  REQUIRE(!b.exit(p1, atom("normal")));
  REQUIRE(!b.exit(p1, atom("stop")));
  CHECK(f.erl.eval("receive {'DOWN', M1, _, _, R} -> R after 5000 -> timeout end") == "stop");
  REQUIRE(!b.exit(p2, atom("hey")));
  CHECK(recv(f.box) == term(tuple{atoms::EXIT, b.self(), atom("hey")}));
  (void)p2;
}

TEST_CASE("monitors both ways, by pid and by name, including missing names") {
  fixture f;
  f.erl.eval("register(tester, self()), ok");
  auto w = f.c->create_mailbox();
  const pid p =
      f.ask(
           "P = spawn(fun() -> register(ep, self()), receive {die, R} -> exit(R) end end), "
           "receive after 100 -> ok end, Box ! P")
          .as<pid>();
  auto r1 = w.monitor(p);
  auto r2 = w.monitor(atom("ep"), f.erl_atom());
  auto r3 = w.monitor(atom("nobody"), f.erl_atom());
  CHECK(recv(w) == term(tuple{atoms::DOWN, r3, atoms::process,
                              term(tuple{atom("nobody"), f.erl_atom()}), atoms::noproc}));
  auto r4 = w.monitor(p);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(w.demonitor(r4));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(f.erl.eval("{monitored_by, L} = process_info(P, monitored_by), length(L)") == "2");
  f.erl.eval("P ! {die, bye}, ok");
  CHECK(recv(w) == term(tuple{atoms::DOWN, r1, atoms::process, p, atom("bye")}));
  CHECK(recv(w) == term(tuple{atoms::DOWN, r2, atoms::process,
                              term(tuple{atom("ep"), f.erl_atom()}), atom("bye")}));
  CHECK(!w.receive(std::chrono::milliseconds(200)));
  // Monitoring a dead erl pid: noproc.
  auto r5 = w.monitor(p);
  CHECK(recv(w) == term(tuple{atoms::DOWN, r5, atoms::process, p, atoms::noproc}));

  // erl monitors mailboxes by pid and by {Name, Node}.
  auto m = f.c->create_mailbox(atom("watched")).value();
  f.give("M", m);
  const std::string cn = f.c.name();
  CHECK(f.erl.eval("R1 = monitor(process, M), R2 = monitor(process, {watched, " + cn +
                   "}), R3 = monitor(process, {nobody, " + cn + "}), ok") == "ok");
  CHECK(f.erl.eval("receive {'DOWN', R3, process, O3, Why3} -> {O3, Why3} after 5000 -> "
                   "timeout end") == "{{nobody," + cn + "},noproc}");
  m.exit(atom("gone"));
  CHECK(f.erl.eval("receive {'DOWN', R1, process, O1, Why1} -> {O1 =:= M, Why1} after 5000 -> "
                   "timeout end") == "{true,gone}");
  CHECK(f.erl.eval("receive {'DOWN', R2, process, O2, Why2} -> {O2, Why2} after 5000 -> "
                   "timeout end") == "{{watched," + cn + "},gone}");
  auto s = f.c->impl()->stats();
  CHECK(s.monitors == 0);
  CHECK(s.watching == 0);
}

TEST_CASE("aliases: erl sends to a mailbox's alias; after unalias it is dropped") {
  fixture f;
  f.erl.eval("register(tester, self()), ok");
  auto a = f.c->create_mailbox();
  auto al = a.alias();
  REQUIRE(!a.send(atom("tester"), f.erl_atom(), term(al)));
  CHECK(f.erl.eval("Al = receive R when is_reference(R) -> R end, Al ! {via, alias}, ok") == "ok");
  CHECK(recv(a) == term(tuple{atom("via"), atom("alias")}));
  CHECK(a.unalias(al));
  CHECK(f.erl.eval("Al ! dropped, ok") == "ok");
  CHECK(!a.receive(std::chrono::milliseconds(300)));
  // And a C++ send to an erl alias.
  auto ea = f.ask("EA = alias(), Box ! EA").as<reference>();
  REQUIRE(!a.send(ea, atom("to_erl_alias")));
  CHECK(f.erl.eval("receive to_erl_alias -> got after 5000 -> timeout end") == "got");
}

TEST_CASE("group leader set by erl") {
  fixture f;
  f.erl.eval("register(tester, self()), ok");
  auto a = f.c->create_mailbox();
  CHECK(term(a.group_leader()) == term(a.self()));
  f.give("A", a);
  const pid gl = f.ask("group_leader(group_leader(), A), Box ! group_leader()").as<pid>();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(term(a.group_leader()) == term(gl));
}

TEST_CASE("connection loss: noconnection on both sides") {
  SECTION("erl disconnects from us: its links and monitors fire; ours too") {
    fixture f;
    f.erl.eval("register(tester, self()), ok");
    auto a = f.c->create_mailbox(), t = f.c->create_mailbox(), w = f.c->create_mailbox();
    t.trap_exit(true);
    f.give("A", a);
    auto p = f.ask(
                  "P = spawn(fun() -> process_flag(trap_exit, true), link(A), receive M -> "
                  "tester ! {p, M} end end), Box ! P")
                 .as<pid>();
    REQUIRE(!t.link(p));
    auto r = w.monitor(p);
    REQUIRE(!w.monitor_node(f.erl_atom()));
    CHECK(f.erl.eval("MA = monitor(process, A), ok") == "ok");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(f.erl.eval("erlang:disconnect_node('" + f.c.name() + "')") == "true");
    // Ours: the mailbox P linked dies, the trapping one gets the message, DOWN and nodedown.
    CHECK(dies(a));
    CHECK(txt(*a.exit_reason()) == "noconnection");
    CHECK(recv(t) == term(tuple{atoms::EXIT, p, atoms::noconnection}));
    auto m1 = recv(w), m2 = recv(w);
    if (m1.get_if<tuple>()->size() != 5) std::swap(m1, m2);
    CHECK(m1 == term(tuple{atoms::DOWN, r, atoms::process, p, atoms::noconnection}));
    CHECK(m2 == term(tuple{atom("nodedown"), f.erl_atom()}));
    // Theirs.
    CHECK(f.erl.eval("receive {p, {'EXIT', A, Why}} -> Why after 5000 -> timeout end") ==
          "noconnection");
    CHECK(f.erl.eval("receive {'DOWN', MA, _, _, R} -> R after 5000 -> timeout end") ==
          "noconnection");
    auto s = f.c->impl()->stats();
    CHECK(s.links == 0);
    CHECK(s.monitors == 0);
    CHECK(s.watching == 0);
    CHECK(s.peer_index == 0);
  }
  SECTION("erl is killed: links, monitors and monitor_node fire with noconnection") {
    fixture f;
    auto a = f.c->create_mailbox(), t = f.c->create_mailbox(), w = f.c->create_mailbox();
    t.trap_exit(true);
    const pid p =
        f.ask("P = spawn(fun() -> receive after infinity -> ok end end), Box ! P").as<pid>();
    REQUIRE(!a.link(p));
    REQUIRE(!t.link(p));
    auto r = w.monitor(p);
    REQUIRE(!w.monitor_node(f.erl_atom()));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    f.erl.process().kill(9);
    CHECK(dies(a));
    CHECK(txt(*a.exit_reason()) == "noconnection");
    CHECK(recv(t) == term(tuple{atoms::EXIT, p, atoms::noconnection}));
    auto m1 = recv(w), m2 = recv(w);
    if (m1.get_if<tuple>()->size() != 5) std::swap(m1, m2);
    CHECK(m1 == term(tuple{atoms::DOWN, r, atoms::process, p, atoms::noconnection}));
    CHECK(m2 == term(tuple{atom("nodedown"), f.erl_atom()}));
    auto s = f.c->impl()->stats();
    CHECK(s.links == 0);
    CHECK(s.watching == 0);
    CHECK(s.node_monitors == 0);
    CHECK(s.peer_index == 0);
  }
}

// The C++ node against live OTP nodes, each test on its own epmd.
#include "node/cpp_node.hpp"
#include "support/erl_process.hpp"

#include <erlnode/dist/flags.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/ip/tcp.hpp>

#include <catch2/catch.hpp>

using namespace erlnode;
using namespace erlnode::interop;

namespace {
node_options opts_for(const erl_node& erl, const epmd_instance& e, bool hidden = true) {
  node_options o;
  o.name = unique_name("cpp");
  o.cookie = erl.cookie();
  o.epmd_port = static_cast<std::uint16_t>(e.port());
  o.hidden = hidden;
  return o;
}
}  // namespace

TEST_CASE("erl pings the C++ node and the C++ node pings erl") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  cpp_node c(opts_for(erl, e));
  REQUIRE(c.start() == std::error_code());
  CHECK(erl.eval("net_adm:ping('" + c.name() + "')") == "pong");
  CHECK(erl.eval("nodes(hidden)") == "[" + c.name() + "]");
  CHECK(erl.eval("nodes()") == "[]");
  CHECK(c->nodes(node_filter::hidden).size() == 1);
  CHECK(c.ping(erl.node_name()));

  erl_node erl2({.cookie = erl.cookie(), .epmd_port = e.port()});
  CHECK(c.ping(erl2.node_name()));  // we dial first this time
  CHECK(erl2.eval("nodes(hidden)") == "[" + c.name() + "]");
}

TEST_CASE("messages both ways, to pids and to registered names") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  cpp_node c(opts_for(erl, e));
  REQUIRE(c.start() == std::error_code());
  auto mb = c->create_mailbox(atom("cppbox")).value();
  CHECK(erl.eval("register(inbox, self()), ok") == "ok");
  CHECK(erl.eval("{cppbox, '" + c.name() + "'} ! {hello, self(), 42, <<\"world\">>}, ok") == "ok");
  auto m = mb.receive(10s);
  REQUIRE(m);
  auto& t = m->as<tuple>();
  REQUIRE(t.size() == 4);
  CHECK(t[0] == term(atom("hello")));
  CHECK(t[2] == term(42));
  CHECK(t[3] == term(binary("world")));
  const pid erl_pid = t[1].as<pid>();
  CHECK(!mb.send(erl_pid, term(tuple{atom("reply"), 1})));
  CHECK(erl.eval("receive {reply, N} -> N after 5000 -> timeout end") == "1");
  CHECK(!mb.send(atom("inbox"), atom(erl.node_name()), term(tuple{atom("byname"), mb.self()})));
  CHECK(erl.eval("receive {byname, P} -> P ! {pid_reply, node(P)}, ok after 5000 -> timeout end") ==
        "ok");
  auto r = mb.receive(10s);
  REQUIRE(r);
  CHECK(*r == term(tuple{atom("pid_reply"), c->name()}));
  // erl monitors our mailbox by name and by pid, and a name we do not have (noproc at once).
  CHECK(erl.eval("R1 = erlang:monitor(process, {nosuch, '" + c.name() +
                 "'}), receive {'DOWN', R1, process, _, Why} -> Why after 5000 -> timeout end") ==
        "noproc");
  CHECK(erl.eval("R2 = erlang:monitor(process, {cppbox, '" + c.name() +
                 "'}), receive {'DOWN', R2, _, _, _} -> down after 300 -> alive end") == "alive");
  mb.close();
  CHECK(erl.eval("receive {'DOWN', R2, process, _, W2} -> W2 after 5000 -> timeout end") ==
        "normal");
  // Links: UNLINK_ID is acknowledged (erl keeps the connection), exit signals on close.
  auto mb2 = c->create_mailbox();
  CHECK(!mb2.send(erl_pid, term(tuple{atom("lp"), mb2.self()})));
  CHECK(erl.eval("process_flag(trap_exit, true), LP = receive {lp, X} -> X end, "
                 "link(LP), unlink(LP), link(LP), ok") == "ok");
  CHECK(erl.eval("nodes(hidden)") == "[" + c.name() + "]");
  mb2.close();
  CHECK(erl.eval("receive {'EXIT', LP, R} -> R after 5000 -> timeout end") == "normal");
  CHECK(erl.eval("nodes(hidden)") == "[" + c.name() + "]");
}

TEST_CASE("wrong cookie in either direction: refused, logged on both sides, nothing left open") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  auto o = opts_for(erl, e);
  o.cookie = "not_the_cookie";
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  CHECK(erl.eval("net_adm:ping('" + c.name() + "')") == "pang");
  CHECK(c.wait_log("connection attempt from " + erl.node_name() + " failed"));
  CHECK(erl.eval("nodes(connected)") == "[]");
  CHECK(c->nodes(node_filter::connected).empty());

  CHECK(!c.ping(erl.node_name()));
  CHECK(c.wait_log("connection attempt to " + erl.node_name() + " failed"));
  CHECK(erl.process().wait_for_output("Connection attempt from node", 10s));
  CHECK(erl.eval("nodes(connected)") == "[]");
  CHECK(c->nodes(node_filter::connected).empty());
}

TEST_CASE("per-peer cookies (erlang:set_cookie/2) in both directions") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  erl_node other({.epmd_port = e.port()});  // a different cookie
  auto o = opts_for(erl, e);
  o.cookie = "the_node_cookie";
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  c->set_cookie(atom(erl.node_name()), erl.cookie());
  // erl dials us with its own cookie: accepted only because of the per-peer cookie.
  CHECK(erl.eval("net_adm:ping('" + c.name() + "')") == "pong");
  // A peer without a per-peer cookie is held to the node cookie.
  CHECK(other.eval("net_adm:ping('" + c.name() + "')") == "pang");
  // We dial with the per-peer cookie too.
  c->set_cookie(atom(other.node_name()), other.cookie());
  CHECK(c.ping(other.node_name()));
}

TEST_CASE("epmd-less mode against erl -erl_epmd_port: both dial host:port directly") {
  // Every node listens on the same port, so each gets its own loopback address.
  int port = 0;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(
        io, {boost::asio::ip::make_address("127.0.0.1"), 0});  // a free port on both addresses
    port = a.local_endpoint().port();
  }
  erl_node erl({.long_names = true,
                .extra_args = {"-erl_epmd_port", std::to_string(port), "-start_epmd", "false",
                               "-kernel", "inet_dist_use_interface", "{127,0,0,1}"}});
  node_options o;
  o.name = unique_name("cpp") + "@127.0.0.2";
  o.long_names = true;
  o.cookie = erl.cookie();
  o.epmd_less_port = static_cast<std::uint16_t>(port);
  o.listen_address = "127.0.0.2";
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  CHECK(erl.eval("net_adm:ping('" + c.name() + "')") == "pong");
  REQUIRE(c->disconnect(atom(erl.node_name())));
  CHECK(c.ping(erl.node_name()));
  CHECK(erl.eval("nodes(hidden)") == "['" + c.name() + "']");
}

TEST_CASE("a name already registered in epmd is a clear error") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  auto o = opts_for(erl, e);
  cpp_node c1(o);
  REQUIRE(c1.start() == std::error_code());
  cpp_node c2(o);
  CHECK(c2.start() == node_errc::name_registered);
  CHECK(c2.wait_log("already registered"));
}

TEST_CASE("erl killed with SIGKILL: nodedown within the tick window") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port(), .extra_args = {"-kernel", "net_ticktime", "4"}});
  auto o = opts_for(erl, e);
  o.net_ticktime = 4s;
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  auto mon = c->create_mailbox();
  c->monitor_nodes(mon);
  REQUIRE(c.ping(erl.node_name()));
  auto up = mon.receive(5s);
  REQUIRE(up);
  CHECK(up->as<tuple>()[0] == term(atom("nodeup")));
  auto t0 = std::chrono::steady_clock::now();
  erl.process().kill(SIGKILL);
  auto down = mon.receive(6s);
  REQUIRE(down);
  CHECK(down->as<tuple>()[0] == term(atom("nodedown")));
  CHECK(std::chrono::steady_clock::now() - t0 < 6s);
}

TEST_CASE("a C++ node that stops ticking is dropped by erl (net_tick_timeout)") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port(), .extra_args = {"-kernel", "net_ticktime", "4"}});
  auto o = opts_for(erl, e);
  o.net_ticktime = 4s;
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  CHECK(erl.eval("net_kernel:monitor_nodes(true, [{node_type, all}, nodedown_reason]), ok") ==
        "ok");
  REQUIRE(c.ping(erl.node_name()));
  CHECK(erl.eval("receive {nodeup, _, _} -> up after 5000 -> timeout end") == "up");
  std::this_thread::sleep_for(6s);  // ticks keep it up meanwhile
  CHECK(erl.eval("nodes(hidden)") == "[" + c.name() + "]");
  c->test_pause_ticks(atom(erl.node_name()), true);
  CHECK(erl.eval("receive {nodedown, _, I} -> proplists:get_value(nodedown_reason, I) "
                 "after 10000 -> timeout end",
                 15s) == "net_tick_timeout");
}

TEST_CASE("64 MB binaries both ways, fragmented, while small messages keep flowing") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  auto o = opts_for(erl, e);
  o.fragments = true;
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  auto mb = c->create_mailbox(atom("bigbox")).value();
  auto small = c->create_mailbox();
  CHECK(erl.eval("register(inbox, self()), ok") == "ok");
  REQUIRE(c.ping(erl.node_name()));
  std::string pattern;
  for (int i = 0; i < 16 * 1024 * 1024; ++i) pattern += "\x01\x02\x03\x04";
  term big(binary{std::string_view(pattern)});
  atom erl_node_atom(erl.node_name());
  // C++ -> erl: the big one first, then small ones from another mailbox. They overtake it.
  CHECK(!mb.send(atom("inbox"), erl_node_atom, term(tuple{atom("big"), big})));
  for (int i = 0; i < 20; ++i)
    CHECK(!small.send(atom("inbox"), erl_node_atom, term(tuple{atom("small"), i})));
  CHECK(erl.eval("receive First -> element(1, First) after 20000 -> timeout end", 30s) == "small");
  CHECK(erl.eval("receive {big, B} -> {byte_size(B), B =:= binary:copy(<<1,2,3,4>>, 16777216)} "
                 "after 30000 -> timeout end",
                 40s) == "{67108864,true}");
  CHECK(erl.eval("length([receive {small, I} -> I after 5000 -> timeout end || I <- "
                 "lists:seq(1, 19)])") == "19");
  auto info = c->connection(erl_node_atom);
  REQUIRE(info);
  CHECK(info->bytes_out > 64u * 1024 * 1024);

  // erl -> C++: a small-message process runs while the big one goes.
  CHECK(erl.eval("C = '" + c.name() +
                     "', S = spawn(fun F() -> {bigbox, C} ! {small, x}, "
                     "receive stop -> ok after 1 -> F() end end), "
                     "{bigbox, C} ! {big, binary:copy(<<1,2,3,4>>, 16777216)}, S ! stop, ok",
                 60s) == "ok");
  int smalls = 0;
  bool got_big = false;
  for (;;) {
    auto m = mb.receive(got_big ? 2s : 60s);
    if (!m) break;
    auto& t = m->as<tuple>();
    if (t[0] == term(atom("big"))) {
      got_big = true;
      CHECK(t[1] == big);
    } else {
      ++smalls;
    }
  }
  CHECK(got_big);
  CHECK(smalls > 0);
}

TEST_CASE("without fragments, 64 MB binaries go both ways as single packets") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  auto o = opts_for(erl, e);
  o.fragments = false;
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  auto mb = c->create_mailbox(atom("bigbox")).value();
  CHECK(erl.eval("register(inbox, self()), ok") == "ok");
  REQUIRE(c.ping(erl.node_name()));
  atom erl_node_atom(erl.node_name());
  auto info = c->connection(erl_node_atom);
  REQUIRE(info);
  CHECK(!(info->flags & dist::flag::fragments));
  std::string pattern;
  for (int i = 0; i < 16 * 1024 * 1024; ++i) pattern += "\x05\x06\x07\x08";
  term big(binary{std::string_view(pattern)});
  CHECK(!mb.send(atom("inbox"), erl_node_atom, term(tuple{atom("big"), big})));
  CHECK(!mb.send(atom("inbox"), erl_node_atom, term(tuple{atom("next"), 1})));
  CHECK(erl.eval("receive {big, B} -> {byte_size(B), B =:= binary:copy(<<5,6,7,8>>, 16777216)} "
                 "after 30000 -> timeout end",
                 40s) == "{67108864,true}");
  CHECK(erl.eval("receive M -> M after 5000 -> timeout end") == "{next,1}");
  CHECK(erl.eval("C = '" + c.name() +
                     "', {bigbox, C} ! {big, binary:copy(<<5,6,7,8>>, 16777216)}, "
                     "{bigbox, C} ! {next, 2}, ok",
                 60s) == "ok");
  auto m = mb.receive(60s);
  REQUIRE(m);
  CHECK(*m == term(tuple{atom("big"), big}));
  auto m2 = mb.receive(10s);
  REQUIRE(m2);
  CHECK(*m2 == term(tuple{atom("next"), 2}));
}

TEST_CASE("terms holding many binaries (sent from the binaries, not copied) reach erl intact") {
  // Binaries of 16 KiB and more go out from their own memory, between the message's other
  // bytes; with and without fragments, across fragment boundaries, sub-binaries and bitstrings.
  for (bool frag : {true, false}) {
    CAPTURE(frag);
    epmd_instance e;
    erl_node erl({.epmd_port = e.port()});
    auto o = opts_for(erl, e);
    o.fragments = frag;
    cpp_node c(o);
    REQUIRE(c.start() == std::error_code());
    auto mb = c->create_mailbox(atom("echo_back")).value();
    CHECK(erl.eval("C = '" + c.name() +
                   "', register(echo, spawn(fun F() -> receive M -> {echo_back, C} ! M, F() end "
                   "end)), ok") == "ok");
    atom en(erl.node_name());
    auto bytes_of = [](std::size_t n, unsigned seed) {
      std::vector<std::uint8_t> v(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 31 + seed);
      return v;
    };
    std::vector<term> parts;
    for (std::size_t n : {1000, 16383, 16384, 16385, 65535, 65536, 70000, 200000, 1000})
      parts.push_back(binary(bytes_of(n, static_cast<unsigned>(n))));
    auto whole = bytes_of(300000, 7);
    auto owner = std::make_shared<std::vector<std::uint8_t>>(whole);
    parts.push_back(binary::shared(owner, owner->data() + 1000, 100000));  // a sub-binary
    parts.push_back(binary::bits(bytes_of(40000, 3), 5));                  // 319,997 bits
    term msg(tuple{atom("many"), list(parts), map{{atom("k"), binary(bytes_of(90000, 9))}},
                   tuple{binary(bytes_of(20000, 1)), 42, binary(bytes_of(20000, 2))}});
    for (int i = 0; i < 3; ++i) REQUIRE(!mb.send(atom("echo"), en, msg));
    for (int i = 0; i < 3; ++i) {
      auto back = mb.receive(30s);
      REQUIRE(back);
      CHECK(*back == msg);
    }
    CHECK(erl.eval("{true, true} =:= {is_pid(whereis(echo)), lists:member('" + c.name() +
                   "', nodes(hidden))}") == "true");
  }
}

TEST_CASE("erl decodes our atom-cached messages") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port()});
  cpp_node c(opts_for(erl, e));
  REQUIRE(c.start() == std::error_code());
  CHECK(erl.eval("register(inbox, self()), ok") == "ok");
  auto mb = c->create_mailbox();
  atom en(erl.node_name());
  term msg(tuple{atom("alpha"), atom("beta"), atom("gamma"), list{atom("alpha"), atom("delta")},
                 atom("ünïcödé"), mb.self()});
  for (int i = 0; i < 5; ++i) CHECK(!mb.send(atom("inbox"), en, msg));
  CHECK(erl.eval("Me = '" + c.name() +
                 "', U = list_to_atom([252,110,239,99,246,100,233]), "
                 "length([ok || _ <- lists:seq(1,5), receive {alpha, beta, gamma, [alpha, "
                 "delta], U, P} when node(P) =:= Me -> true after 5000 -> false end])") == "5");
  INFO(c.logs());
  auto info = c->connection(en);
  REQUIRE(info);
  CHECK((info->flags & 0x2000) != 0);  // DIST_HDR_ATOM_CACHE negotiated
}

TEST_CASE("visible mode: erl sees us in nodes(), and global:sync() returns") {
  epmd_instance e;
  erl_node erl({.epmd_port = e.port(), .extra_args = {"-kernel", "start_pg", "true"}});
  cpp_node c(opts_for(erl, e, false));
  REQUIRE(c.start() == std::error_code());
  CHECK(erl.eval("net_adm:ping('" + c.name() + "')") == "pong");
  CHECK(erl.eval("nodes()") == "[" + c.name() + "]");
  CHECK(erl.eval("nodes(hidden)") == "[]");
  CHECK(c->nodes(node_filter::visible).size() == 1);
  CHECK(c->nodes(node_filter::hidden).empty());
  CHECK(erl.eval("global:sync()", 20s) == "ok");
  // global:register_name locks and registers on every known node, us included.
  CHECK(erl.eval("global:register_name(erlnode_test_name, self())", 20s) == "yes");
  CHECK(erl.eval("global:whereis_name(erlnode_test_name) =:= self()") == "true");
  // pg discovered us and got well-formed answers: its scope process is still alive.
  CHECK(erl.eval("PgPid = whereis(pg), timer:sleep(500), is_process_alive(PgPid)") == "true");
  CHECK(erl.eval("ok = pg:join(grp, self()), pg:get_members(grp) =:= [self()]") == "true");
}

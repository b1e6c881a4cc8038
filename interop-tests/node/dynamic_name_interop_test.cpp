// Dynamic names (node_options::named_by) against live OTP nodes: erl names the C++ node, which
// then behaves like a named hidden node; the refusals; what happens when the naming connection
// goes. Each test has its own epmd on a port below Linux's ephemeral range.
#include "node/cpp_node.hpp"
#include "support/erl_process.hpp"

#include <erlnode/dist/error.hpp>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <random>
#include <stdexcept>

using namespace erlnode;
using namespace erlnode::interop;

namespace {
// An epmd on a free port in 20000..32767 (a port from the ephemeral range may be taken by some
// other test's outgoing connection before epmd binds it).
std::unique_ptr<epmd_instance> low_port_epmd() {
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<int> pick(20000, 32767);
  for (int attempt = 0; attempt < 20; ++attempt) {
    int port = pick(rng);
    boost::asio::io_context io;
    boost::system::error_code ec;
    boost::asio::ip::tcp::acceptor a(io);
    a.open(boost::asio::ip::tcp::v4(), ec);
    a.bind({boost::asio::ip::tcp::v4(), static_cast<std::uint16_t>(port)}, ec);
    if (ec) continue;
    a.close(ec);
    try {
      return std::make_unique<epmd_instance>(port);
    } catch (const std::runtime_error&) {
    }
  }
  throw std::runtime_error("no free port below 32768 for epmd");
}

node_options dynamic_opts(const erl_node& namer, const epmd_instance& e) {
  node_options o;  // name "": this host, as erl -sname undefined
  o.cookie = namer.cookie();
  o.epmd_port = static_cast<std::uint16_t>(e.port());
  o.named_by = namer.node_name();
  return o;
}

// The creation inside a pid as erl sees it (last 4 bytes of its NEW_PID_EXT).
std::string creation_expr(const std::string& pid_var) {
  return "B = term_to_binary(" + pid_var + "), <<C:32>> = binary:part(B, byte_size(B) - 4, 4), C";
}
}  // namespace

TEST_CASE("erl names the C++ node; it is then a normal hidden node under that name") {
  auto e = low_port_epmd();
  erl_node erl({.epmd_port = e->port()});
  cpp_node c(dynamic_opts(erl, *e));
  CHECK(c->name() == atom());
  REQUIRE(c.start() == std::error_code());

  // "<random>@thishost", as OTP hands out (integer_to_list(rand, 36)).
  const std::string name = c.name();
  const std::string suffix = "@" + interop::short_hostname();
  REQUIRE(name.size() > suffix.size());
  CHECK(name.ends_with(suffix));
  for (char ch : name.substr(0, name.size() - suffix.size()))
    CHECK(((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z')));
  CHECK(c->creation() != 0);
  CHECK(c->port() == 0);
  const std::string q = "'" + name + "'";

  // erl lists exactly that node; the C++ node is not in epmd (it has no listen socket).
  CHECK(erl.eval("nodes(hidden) =:= [" + q + "]") == "true");
  CHECK(erl.eval("nodes()") == "[]");
  CHECK(erl.eval("{ok, Ns} = net_adm:names(), [N || {N, _} <- Ns] =:= [\"" + erl.name() + "\"]") ==
        "true");

  // erl sends to a registered mailbox on it; the C++ node's pids carry the name and creation.
  auto mb = c->create_mailbox(atom("dynbox")).value();
  CHECK(mb.self().node() == c->name());
  CHECK(erl.eval("register(inbox, self()), {dynbox, " + q + "} ! {hello, self()}, ok") == "ok");
  auto m = mb.receive(10s);
  REQUIRE(m);
  const pid erl_pid = m->as<tuple>()[1].as<pid>();
  CHECK(!mb.send(erl_pid, term(tuple{atom("from_cpp"), mb.self()})));
  CHECK(erl.eval("receive {from_cpp, P} -> node(P) =:= " + q + " after 5000 -> timeout end") ==
        "true");
  CHECK(erl.eval(creation_expr("P")) == std::to_string(c->creation()));
  CHECK(erl.eval("P ! back, ok") == "ok");  // erl -> the C++ pid
  CHECK(mb.receive(10s).value() == term(atom("back")));

  // Pings both ways over that connection (erl could not open another one: we are in no epmd).
  CHECK(erl.eval("net_adm:ping(" + q + ")") == "pong");
  CHECK(c.ping(erl.node_name()));

  // A second erl: the C++ node dials it under its name.
  erl_node erl2({.cookie = erl.cookie(), .epmd_port = e->port()});
  CHECK(c.ping(erl2.node_name()));
  CHECK(erl2.eval("nodes(hidden) =:= [" + q + "]") == "true");
  CHECK(!mb.send(atom("inbox"), atom(erl.node_name()), term(atom("by_name"))));
  CHECK(erl.eval("receive by_name -> ok after 5000 -> timeout end") == "ok");
}

TEST_CASE("when the connection that named it goes, the node stops; erl reuses the name") {
  auto e = low_port_epmd();
  erl_node erl({.epmd_port = e->port()});
  erl_node erl2({.cookie = erl.cookie(), .epmd_port = e->port()});
  cpp_node c(dynamic_opts(erl, *e));
  REQUIRE(c.start() == std::error_code());
  const std::string name = c.name();
  const std::uint32_t creation = c->creation();
  auto mon = c->create_mailbox();
  c->monitor_nodes(mon);
  REQUIRE(c.ping(erl2.node_name()));
  (void)mon.receive(5s);  // nodeup erl2

  CHECK(erl.eval("erlang:disconnect_node('" + name + "')") == "true");
  CHECK(c.wait_log("which gave this node its name, is down: the node stops"));
  // Both connections are gone: the namer's and erl2's.
  int downs = 0;
  while (auto d = mon.receive(5s)) {
    if (d->as<tuple>()[0] == term(atom("nodedown"))) ++downs;
    if (downs == 2) break;
  }
  CHECK(downs == 2);
  CHECK(erl2.eval("timer:sleep(200), nodes(hidden)") == "[]");
  CHECK(c->async_connect(erl2.node_name(), boost::asio::use_future).get() == node_errc::closed);
  CHECK(c->name() == atom(name));  // the old name stays readable; the node is stopped

  // erl keeps the released name for the next node from this host, with creation + 1: the
  // reason the stopped node may not go on under it.
  cpp_node c2(dynamic_opts(erl, *e));
  REQUIRE(c2.start() == std::error_code());
  CHECK(c2.name() == name);
  CHECK(c2->creation() == creation + 1);
}

TEST_CASE("refusals: erl not allowing our host, a wrong cookie, a missing peer") {
  auto e = low_port_epmd();
  erl_node erl({.epmd_port = e->port()});

  // net_kernel:allow/1 without our host: erl answers not_allowed and logs the attempt.
  CHECK(erl.eval("net_kernel:allow(['nobody@nowhere'])") == "ok");
  cpp_node c(dynamic_opts(erl, *e));
  CHECK(c.start() == dist::errc::status_not_allowed);
  CHECK(c->name() == atom());
  CHECK(c.wait_log("not_allowed"));
  CHECK(erl.process().wait_for_output("disallowed node", 10s));
  CHECK(erl.eval("nodes(hidden)") == "[]");
  // Allowed now (the host is what OTP's allow list matches for a name request): a retry works.
  CHECK(erl.eval("net_kernel:allow(['" + interop::short_hostname() + "'])") == "ok");
  REQUIRE(c.start() == std::error_code());
  CHECK(erl.eval("nodes(hidden) =:= ['" + c.name() + "']") == "true");

  // A wrong cookie: erl drops the attempt after our challenge reply; no name, no connection.
  erl_node erl2({.epmd_port = e->port()});
  auto o = dynamic_opts(erl2, *e);
  o.cookie = "not-" + erl2.cookie();
  cpp_node bad(o);
  CHECK(bad.start() == node_errc::connection_closed);
  CHECK(bad.wait_log("the cookies differ"));
  CHECK(bad->name() == atom());
  CHECK(erl2.eval("nodes(hidden)") == "[]");
  CHECK(erl2.process().wait_for_output("rejected. Invalid", 10s));

  // Nobody of that name in epmd.
  auto o2 = dynamic_opts(erl2, *e);
  o2.named_by = "nosuchnode@" + interop::short_hostname();
  cpp_node none(o2);
  CHECK(none.start() == node_errc::no_such_node);
}

TEST_CASE("long names: the C++ node gives \"@127.0.0.1\" and erl -name answers name@127.0.0.1") {
  auto e = low_port_epmd();
  erl_node erl({.epmd_port = e->port(), .long_names = true});
  auto o = dynamic_opts(erl, *e);
  o.name = "@127.0.0.1";
  o.long_names = true;
  cpp_node c(o);
  REQUIRE(c.start() == std::error_code());
  CHECK(c.name().ends_with("@127.0.0.1"));
  CHECK(erl.eval("nodes(hidden) =:= ['" + c.name() + "']") == "true");
  CHECK(erl.eval("net_adm:ping('" + c.name() + "')") == "pong");
}

// The handshake state machine against a live erl over plain POSIX sockets, both directions,
// plus a refused wrong cookie. (The full connection and node are tested elsewhere.)
#include "dist/dist_support.hpp"
#include "support/erl_process.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace erlnode;
using namespace erlnode::dist;
using namespace erlnode::interop;
using namespace erlnode::dist::interop_support;

TEST_CASE("we connect to erl: handshake as initiator") {
  epmd_instance epmd;
  erl_node n({.epmd_port = epmd.port()});
  int port = port_please(epmd.port(), n.name());
  REQUIRE(port > 0);
  const std::string me = unique_name("cpp_init") + "@" + short_hostname();

  SECTION("right cookie: erl lists us as a hidden node") {
    auto s = connect_local(port);
    auto cfg = config(handshake_role::initiator, me, n.cookie());
    cfg.peer_node = n.node_name();
    handshake h(cfg);
    REQUIRE(h.start());
    auto ev = run(h, s.get());
    auto* done = std::get_if<handshake_done>(&ev);
    REQUIRE(done);
    CHECK(done->peer_node == n.node_name());
    CHECK(done->peer_creation != 0);
    CHECK((done->negotiated_flags & mandatory_26) == mandatory_26);
    CHECK((done->negotiated_flags & flag::published) == 0);
    CHECK(n.eval("lists:member('" + me + "', nodes(hidden))") == "true");
    CHECK(n.eval("lists:member('" + me + "', nodes())") == "false");
  }
  SECTION("missing a mandatory flag: erl answers not_allowed") {
    auto s = connect_local(port);
    auto cfg = config(handshake_role::initiator, me, n.cookie());
    cfg.peer_node = n.node_name();
    cfg.this_flags = mandatory_25 & ~flag::big_creation;
    handshake h(cfg);
    REQUIRE(h.start());
    auto ev = run(h, s.get());
    auto* f = std::get_if<handshake_failed>(&ev);
    REQUIRE(f);
    CHECK(f->err.code == errc::status_not_allowed);
  }
  SECTION("wrong cookie: erl closes without an ack") {
    auto s = connect_local(port);
    auto cfg = config(handshake_role::initiator, me, "not_the_cookie");
    cfg.peer_node = n.node_name();
    handshake h(cfg);
    REQUIRE(h.start());
    auto ev = run(h, s.get());
    REQUIRE(std::holds_alternative<handshake_failed>(ev));
    CHECK(h.current_state() == handshake::state::recv_ack);
    CHECK(n.eval("lists:member('" + me + "', nodes(hidden))") == "false");
  }
}

TEST_CASE("erl connects to us: handshake as acceptor") {
  epmd_instance epmd;
  erl_node n({.epmd_port = epmd.port()});
  const std::string alive = unique_name("cpp_acc");
  const std::string me = alive + "@" + short_hostname();
  int port = 0;
  auto listener = listen_any(port);
  auto reg = register_node(epmd.port(), alive, port);

  for (bool right_cookie : {true, false}) {
    INFO("right cookie: " << right_cookie);
    auto served = std::async(std::launch::async, [&] {
      auto s = accept_one(listener.get(), std::chrono::seconds(20));
      if (s.get() < 0) return std::make_pair(handshake_event(handshake_failed{}), socket_fd());
      auto cfg = config(handshake_role::acceptor, me, right_cookie ? n.cookie() : "wrong");
      handshake h(cfg);
      if (!h.start()) throw std::runtime_error("start failed");
      auto ev = run(h, s.get());
      return std::make_pair(ev, std::move(s));
    });
    std::string connected = n.eval("net_kernel:connect_node('" + me + "')");
    auto [ev, sock] = served.get();
    if (right_cookie) {
      CHECK(connected == "true");
      auto* done = std::get_if<handshake_done>(&ev);
      REQUIRE(done);
      CHECK(done->peer_node == n.node_name());
      CHECK(done->this_node == me);
      CHECK(n.eval("lists:member('" + me + "', nodes(hidden))") == "true");
      CHECK(n.eval("erlang:disconnect_node('" + me + "')") == "true");
    } else {
      CHECK(connected == "false");
      auto* f = std::get_if<handshake_failed>(&ev);
      REQUIRE(f);
      CHECK(f->err.code == errc::bad_digest);
      CHECK(n.eval("lists:member('" + me + "', nodes(hidden))") == "false");
    }
  }
}

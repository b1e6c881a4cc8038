// Messages over a real connection: what our sender writes (atom cache refs, fragments) is
// accepted by a live erl, and what erl writes decodes through our receiver.
#include <erlnode/dist/control.hpp>
#include <erlnode/dist/framing.hpp>
#include <erlnode/dist/message.hpp>

#include "dist/dist_support.hpp"
#include "support/erl_process.hpp"

#include <catch2/catch.hpp>

using namespace erlnode;
using namespace erlnode::dist;
using namespace erlnode::dist::interop_support;
using namespace erlnode::interop;

namespace {
// A connected peer: the socket, the negotiated flags and the message codecs.
struct connection {
  socket_fd sock;
  handshake_done info;
  message_sender tx;
  message_receiver rx;
  packet_parser parser;

  void send(const control_message& m) {
    std::vector<bytes> packets;
    REQUIRE(tx.encode(m, packets));
    bytes out;
    for (auto& p : packets) REQUIRE(append_packet(out, p));
    write_all(sock.get(), out);
  }
  // The next complete message (ticks skipped), or nullopt after `timeout`.
  std::optional<decoded_message> receive(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<bytes> packets;
    while (std::chrono::steady_clock::now() < deadline) {
      for (std::size_t i = 0; i < packets.size(); ++i) {
        if (packets[i].empty()) continue;
        auto m = rx.on_packet(std::move(packets[i]));
        REQUIRE(m);
        if (m->has_value()) {
          auto d = decode_message(std::move(**m));
          REQUIRE(d);
          // Keep what is left for the next call.
          pending.insert(pending.end(), std::make_move_iterator(packets.begin() + i + 1),
                         std::make_move_iterator(packets.end()));
          return std::move(*d);
        }
      }
      packets.clear();
      if (!pending.empty()) {
        packets = std::move(pending);
        pending.clear();
        continue;
      }
      auto b = read_some(sock.get(), std::chrono::milliseconds(200));
      REQUIRE(parser.feed(b, packets));
    }
    return std::nullopt;
  }
  std::vector<bytes> pending;
};
}  // namespace

TEST_CASE("messages both ways with a live erl (atom cache and fragments)") {
  epmd_instance epmd;
  erl_node n({.epmd_port = epmd.port()});
  int port = port_please(epmd.port(), n.name());
  REQUIRE(port > 0);
  const std::string me = unique_name("cpp_msg") + "@" + short_hostname();
  auto s = connect_local(port);
  auto cfg = config(handshake_role::initiator, me, n.cookie());
  cfg.peer_node = n.node_name();
  handshake h(cfg);
  REQUIRE(h.start());
  auto ev = run(h, s.get());
  auto* done = std::get_if<handshake_done>(&ev);
  REQUIRE(done);
  const dflags neg = done->negotiated_flags;
  REQUIRE((neg & flag::dist_hdr_atom_cache));
  REQUIRE((neg & flag::fragments));
  connection c{std::move(s),
               *done,
               message_sender({.negotiated = neg}),
               message_receiver({.headers_negotiated = uses_headers(neg)}),
               packet_parser(),
               {}};

  // A sink on erl that records what it gets (big binaries by size).
  n.eval(
      "Sink = spawn(fun() -> L = fun L(Acc) -> receive {dump, P} -> P ! lists:reverse(Acc), "
      "L(Acc); {big, B} -> L([{big, byte_size(B), erlang:md5(B)} | Acc]); M -> L([M | Acc]) "
      "end end, L([]) end), register(sink, Sink), ok");

  const atom my_node{me};
  const pid my_pid{my_node, 1, 0, cfg.this_creation};
  std::string big(150000, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  c.send(make_reg_send(my_pid, atom("sink"), tuple{atom("hello"), 1, my_pid}));
  c.send(make_reg_send(my_pid, atom("sink"), tuple{atom("hello"), 2, my_pid}));  // cached atoms
  c.send(make_reg_send(my_pid, atom("sink"), tuple{atom("big"), binary(big)}));  // 3 fragments
  // Wait until the sink has all three, then check them on the erl side.
  std::string summary = n.eval(
      "W = fun W(0) -> timeout; W(K) -> sink ! {dump, self()}, receive L when length(L) >= 3 "
      "-> L; _ -> timer:sleep(100), W(K - 1) end end, [{hello, 1, P1}, {hello, 2, P2}, {big, "
      "Size, Md5}] = W(50), {node(P1) =:= '" +
      me +
      "', P1 =:= P2, Size, Md5 =:= erlang:md5(<< <<(I * 7):8>> || I <- lists:seq(0, "
      "149999) >>)}");
  CHECK(summary == "{true,true,150000,true}");

  // erl to us: a REG_SEND and a large send, which erl fragments.
  n.eval("{any_name, '" + me + "'} ! {from_erl, [1,2,3], <<\"bin\">>}, ok");
  auto m1 = c.receive(std::chrono::seconds(5));
  REQUIRE(m1);
  std::string why;
  auto t1 = decode_control(m1->control, m1->message, {my_node, atom(n.node_name()), neg}, &why);
  INFO(why);
  REQUIRE(t1);
  auto* rs = std::get_if<ctl::reg_send>(&*t1);
  REQUIRE(rs);
  CHECK(rs->to_name == atom("any_name"));
  CHECK(rs->message == term(tuple{atom("from_erl"), list{1, 2, 3}, binary("bin")}));

  n.eval("{any_name, '" + me + "'} ! {big, binary:copy(<<9>>, 200000)}, ok");
  auto m2 = c.receive(std::chrono::seconds(5));
  REQUIRE(m2);
  const auto& big_back = m2->message->as<tuple>()[1].as<binary>();
  CHECK(big_back.size() == 200000);
  CHECK(big_back.bytes()[199999] == 9);
  CHECK(n.eval("lists:member('" + me + "', nodes(hidden))") == "true");
}

#include <erlnode/dist/crypto.hpp>
#include <erlnode/net/connection.hpp>
#include <erlnode/net/test_stream.hpp>

#include <boost/asio/io_context.hpp>

#include <catch2/catch.hpp>

#include <mutex>

using namespace erlnode;
using namespace erlnode::net;
using namespace std::chrono_literals;

namespace {
struct test_owner : connection_owner {
  bool up = false, down = false;
  std::error_code why;
  std::vector<std::pair<term, std::optional<term>>> got;
  dist::handshake_status status = dist::handshake_status::ok;
  dist::handshake_status on_peer_name(connection_base&,
                                      const dist::need_status_decision&) override {
    return status;
  }
  bool on_alive(connection_base&) override { return true; }
  void on_up(connection_base&) override { up = true; }
  void on_message(connection_base&, term c, std::optional<term> p) override {
    got.emplace_back(std::move(c), std::move(p));
  }
  void on_down(connection_base&, std::error_code w, const std::string&) override {
    down = true;
    why = w;
  }
};

connection_settings settings(dist::handshake_role role, const std::string& me,
                             const std::string& peer, const std::string& cookie) {
  connection_settings s;
  s.handshake.role = role;
  s.handshake.this_node = me;
  s.handshake.this_creation = role == dist::handshake_role::initiator ? 11 : 22;
  s.handshake.cookie = cookie;
  s.handshake.peer_node = peer;
  s.handshake.crypto = dist::openssl_crypto();
  s.handshake.setup_timeout = 2s;
  return s;
}

struct pair_fixture {
  boost::asio::io_context io;
  std::shared_ptr<test_owner> oa = std::make_shared<test_owner>(),
                              ob = std::make_shared<test_owner>();
  std::shared_ptr<connection<test_stream>> a, b;
  explicit pair_fixture(std::string cookie_b = "c", std::size_t fail_a = SIZE_MAX,
                        std::chrono::milliseconds tick = 60s) {
    auto sa = settings(dist::handshake_role::initiator, "a@h", "b@h", "c");
    auto sb = settings(dist::handshake_role::acceptor, "b@h", "", cookie_b);
    sa.net_ticktime = sb.net_ticktime = tick;
    a = std::make_shared<connection<test_stream>>(boost::asio::make_strand(io.get_executor()), sa,
                                                  oa, io.get_executor(), fail_a);
    b = std::make_shared<connection<test_stream>>(boost::asio::make_strand(io.get_executor()), sb,
                                                  ob, io.get_executor());
    a->next_layer().connect(b->next_layer());
    a->start();
    b->start();
  }
  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
};
}  // namespace

TEST_CASE("two connections over an in-memory stream: handshake, messages both ways") {
  pair_fixture f;
  f.run_for(200ms);
  REQUIRE(f.oa->up);
  REQUIRE(f.ob->up);
  CHECK(f.a->peer_name() == "b@h");
  CHECK(f.b->peer_name() == "a@h");
  CHECK(f.b->peer_creation() == 11);
  CHECK((f.a->flags() & dist::flag::fragments) != 0);

  pid from(atom("a@h"), 5, 0, 11);
  pid to(atom("b@h"), 6, 0, 22);
  term ctl(tuple{22, from, to});
  term msg(tuple{atom("hello"), 42, binary("world")});
  for (int i = 0; i < 3; ++i) CHECK(!f.a->send(ctl, &msg));  // atoms cached after the first
  std::string big(300'000, 'z');
  term big_msg(binary{std::string_view(big)});
  CHECK(!f.b->send(tuple{22, to, from}, &big_msg));
  f.run_for(200ms);
  REQUIRE(f.ob->got.size() == 3);
  for (auto& [c, p] : f.ob->got) {
    CHECK(c == ctl);
    REQUIRE(p);
    CHECK(*p == msg);
  }
  REQUIRE(f.oa->got.size() == 1);
  CHECK(*f.oa->got[0].second == big_msg);
  auto st = f.a->stats();
  CHECK(st.messages_out == 3);
  CHECK(st.messages_in == 1);
  CHECK(st.bytes_in > 300'000);
}

TEST_CASE("different cookies: the handshake fails on both sides") {
  pair_fixture f("other");
  f.run_for(200ms);
  CHECK(!f.oa->up);
  CHECK(!f.ob->up);
  CHECK(f.oa->down);
  CHECK(f.ob->down);
}

TEST_CASE("a failing stream operation ends the connection with on_down") {
  pair_fixture f("c", 3);
  f.run_for(200ms);
  CHECK(f.oa->down);
  CHECK(f.ob->down);
}

TEST_CASE("ticks keep a quiet connection up; a peer that stops ticking is dropped") {
  pair_fixture f("c", SIZE_MAX, 400ms);
  f.run_for(1200ms);
  CHECK(f.oa->up);
  CHECK(!f.oa->down);
  CHECK(!f.ob->down);
  f.a->pause_ticks(true);
  f.run_for(1000ms);
  CHECK(f.ob->down);
  CHECK(f.ob->why == node_errc::tick_timeout);
}

TEST_CASE("an unknown distribution header closes the connection") {
  pair_fixture f;
  f.run_for(200ms);
  REQUIRE(f.ob->up);
  // Write a packet with a bad header straight into a's stream.
  std::vector<std::uint8_t> bad = {0, 0, 0, 2, 131, 99};
  boost::asio::async_write(f.a->next_layer(), boost::asio::buffer(bad),
                           [](boost::system::error_code, std::size_t) {});
  f.run_for(200ms);
  CHECK(f.ob->down);
  CHECK(f.ob->why == node_errc::bad_header);
}

TEST_CASE("fragmented messages arrive whole whatever the read sizes (in-place reassembly)") {
  // Continuations of 16 KiB and more are read straight into the reassembly buffer; the same
  // read's bytes of later packets land in the read buffer. Reads split anywhere.
  for (std::size_t limit : {0, 13, 4099, 65536 + 17, 200000}) {
    CAPTURE(limit);
    pair_fixture f;
    f.run_for(200ms);
    REQUIRE(f.ob->up);
    f.b->next_layer().set_read_limit(limit);
    pid from(atom("a@h"), 5, 0, 11), other(atom("a@h"), 7, 0, 11);
    pid to(atom("b@h"), 6, 0, 22);
    std::vector<std::uint8_t> bytes(1'000'003);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 7);
    term big(tuple{atom("big"), binary(bytes), binary(std::span(bytes).first(70'000))});
    term small(tuple{atom("small"), 1});
    CHECK(!f.a->send(tuple{22, from, to}, &big, 1));
    CHECK(!f.a->send(tuple{22, other, to}, &small, 2));  // goes between the fragments
    CHECK(!f.a->send(tuple{22, from, to}, &big, 1));
    CHECK(!f.a->send(tuple{22, from, to}, &small, 1));
    for (int i = 0; i < 100 && f.ob->got.size() < 4; ++i) f.run_for(50ms);
    REQUIRE(f.ob->got.size() == 4);
    CHECK(*f.ob->got[0].second == small);
    CHECK(*f.ob->got[1].second == big);
    CHECK(*f.ob->got[2].second == big);
    CHECK(*f.ob->got[3].second == small);
    CHECK(!f.ob->down);
  }
}

TEST_CASE("a large fragment continuation of no sequence closes the connection, split or whole") {
  // The in-place path refuses it and leaves it to the normal path, which names the error.
  for (std::size_t limit : {0, 30, 4099}) {
    CAPTURE(limit);
    pair_fixture f;
    f.run_for(200ms);
    REQUIRE(f.ob->up);
    f.b->next_layer().set_read_limit(limit);
    const std::uint32_t len = 18 + 70'000;
    std::vector<std::uint8_t> pkt = {static_cast<std::uint8_t>(len >> 24),
                                     static_cast<std::uint8_t>(len >> 16),
                                     static_cast<std::uint8_t>(len >> 8),
                                     static_cast<std::uint8_t>(len),
                                     131,
                                     70};
    for (int i = 0; i < 7; ++i) pkt.push_back(0);
    pkt.push_back(99);  // sequence 99: never started
    for (int i = 0; i < 7; ++i) pkt.push_back(0);
    pkt.push_back(1);  // fragment 1
    pkt.resize(4 + len, 0x5a);
    boost::asio::async_write(f.a->next_layer(), boost::asio::buffer(pkt),
                             [](boost::system::error_code, std::size_t) {});
    for (int i = 0; i < 40 && !f.ob->down; ++i) f.run_for(50ms);
    CHECK(f.ob->down);
    CHECK(f.ob->why == node_errc::bad_fragment);
    CHECK(f.ob->got.empty());
  }
}

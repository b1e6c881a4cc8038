// The epmd server spoken to over raw sockets with the codec: reply formats, creations, the
// KILL/STOP rules, and ordering, as OTP's epmd does them.
#include <erlnode/epmd/protocol.hpp>
#include <erlnode/epmd/server.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>

using namespace erlnode::epmd;
namespace asio = boost::asio;
using asio::ip::tcp;
using bytes = std::vector<std::uint8_t>;

namespace {

struct running_server {
  explicit running_server(server_options so = {}) {
    so.port = 0;
    so.addresses = {asio::ip::make_address("127.0.0.1")};
    srv = std::make_unique<server>(io.get_executor(), so);
    REQUIRE(!srv->start());
    srv->on_kill([this] { killed = true; });
    th = std::thread([this] { io.run(); });
  }
  ~running_server() {
    asio::post(io, [this] { srv.reset(); });
    work.reset();
    th.join();
  }
  tcp::socket connect() {
    tcp::socket s(client_io);
    s.connect({asio::ip::make_address("127.0.0.1"), srv_port()});
    return s;
  }
  std::uint16_t srv_port() {
    std::promise<std::uint16_t> p;
    asio::post(io, [&] { p.set_value(srv->port()); });
    return p.get_future().get();
  }
  // Sends `req` on a new connection and returns everything up to the close.
  std::string exchange(const request& req) {
    auto s = connect();
    asio::write(s, asio::buffer(encode(req).value()));
    std::string out;
    boost::system::error_code ec;
    char buf[4096];
    while (!ec) out.append(buf, s.read_some(asio::buffer(buf), ec));
    return out;
  }
  // Registers on a socket kept open by the caller.
  alive2_reply reg(tcp::socket& s, std::string name, std::uint16_t hi = 6) {
    alive2_request a;
    a.node.name = std::move(name);
    a.node.port = 4000;
    a.node.highest_version = hi;
    a.node.lowest_version = hi;
    asio::write(s, asio::buffer(encode(request{a}).value()));
    alive2_reply_parser p;
    std::uint8_t b;
    for (;;) {
      asio::read(s, asio::buffer(&b, 1));
      std::span<const std::uint8_t> in(&b, 1);
      if (p.feed(in).value() == status::complete) return p.get();
    }
  }
  std::vector<name_entry> names() {
    auto r = exchange(names_request{});
    text_reply_parser p;
    std::span<const std::uint8_t> in(reinterpret_cast<const std::uint8_t*>(r.data()), r.size());
    REQUIRE(p.feed(in));
    REQUIRE(p.finish());
    CHECK(p.get().epmd_port == srv_port());
    return parse_names(p.get().text).value();
  }
  bool wait_names(std::size_t n) {
    for (int i = 0; i < 200; ++i) {
      if (names().size() == n) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  asio::io_context client_io;
  std::unique_ptr<server> srv;
  std::thread th;
  std::atomic<bool> killed{false};
};

}  // namespace

TEST_CASE("NAMES lists newest first; creations follow OTP's epmd") {
  running_server r;
  auto a = r.connect(), b = r.connect();
  auto ra = r.reg(a, "aaa");
  auto rb = r.reg(b, "bbb");
  CHECK(ra.extended);
  CHECK(ra.result == 0);
  CHECK(rb.creation == ra.creation);  // new names share the daemon's base creation
  CHECK(r.names() == std::vector<name_entry>{{"bbb", 4000}, {"aaa", 4000}});
  // Taken: refused with creation 99, like OTP's epmd.
  auto c = r.connect();
  auto rc = r.reg(c, "aaa");
  CHECK(rc.result == 1);
  CHECK(rc.creation == 99);
  // A returning name gets the next creation.
  a.close();
  REQUIRE(r.wait_names(1));
  auto a2 = r.connect();
  CHECK(r.reg(a2, "aaa").creation == ra.creation + 1);
  // Nodes announcing highest version 5 get the old ALIVE2_RESP with a creation in 1..3.
  auto o = r.connect();
  auto ro = r.reg(o, "old", 5);
  CHECK(!ro.extended);
  CHECK(ro.creation >= 1);
  CHECK(ro.creation <= 3);
  // PORT_PLEASE2 returns what was registered.
  auto pp = r.exchange(port_please2_request{"old"});
  port2_reply_parser p;
  std::span<const std::uint8_t> in(reinterpret_cast<const std::uint8_t*>(pp.data()), pp.size());
  REQUIRE(p.feed(in).value() == status::complete);
  CHECK(p.get().node->highest_version == 5);
  // DUMP: active lines, then remembered ones, each NUL-terminated.
  auto d = r.exchange(dump_request{});
  CHECK(d.find("active name     <old> at port 4000, fd = ") != std::string::npos);
  CHECK(d.back() == '\0');
}

TEST_CASE("long requests and bursts beyond one batch are all served") {
  running_server r;
  // An ALIVE2 near the 1024-byte limit, written in pieces.
  alive2_request a;
  a.node.name = std::string(300, 'n');
  a.node.extra = std::string(700, 'e');
  a.node.port = 5000;
  auto wire = encode(request{a}).value();
  REQUIRE(wire.size() > 1000);
  auto s = r.connect();
  asio::write(s, asio::buffer(wire.data(), 600));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  asio::write(s, asio::buffer(wire.data() + 600, wire.size() - 600));
  std::uint8_t rep[6];
  asio::read(s, asio::buffer(rep));
  CHECK(rep[0] == 'v');
  CHECK(rep[1] == 0);
  // 300 lookups connected at once, then all sent: every one is answered.
  std::vector<tcp::socket> burst;
  for (int i = 0; i < 300; ++i) burst.push_back(r.connect());
  auto pp = encode(request{port_please2_request{a.node.name}}).value();
  for (auto& b : burst) asio::write(b, asio::buffer(pp));
  int answered = 0;
  for (auto& b : burst) {
    std::uint8_t w[2];
    boost::system::error_code ec;
    asio::read(b, asio::buffer(w), ec);
    answered += !ec && w[0] == 'w' && w[1] == 0;
  }
  CHECK(answered == 300);
}

TEST_CASE("KILL and STOP: refused while strict, allowed when relaxed") {
  SECTION("strict") {
    running_server r;
    auto a = r.connect();
    r.reg(a, "live");
    CHECK(r.exchange(stop_request{"live"}).empty());  // ignored, connection closed
    CHECK(r.exchange(kill_request{}) == "NO");
    CHECK(r.names().size() == 1);
    a.close();
    REQUIRE(r.wait_names(0));
    CHECK(r.exchange(kill_request{}) == "OK");
    for (int i = 0; i < 100 && !r.killed; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(r.killed);
  }
  SECTION("relaxed") {
    server_options so;
    so.relaxed_command_check = true;
    running_server r(so);
    auto a = r.connect();
    r.reg(a, "live");
    CHECK(r.exchange(stop_request{"nobody"}) == "NOEXIST");
    CHECK(r.exchange(stop_request{"live"}) == "STOPPED");
    CHECK(r.names().empty());
    // The stopped node's connection was closed.
    char c;
    boost::system::error_code ec;
    a.read_some(asio::buffer(&c, 1), ec);
    CHECK(ec);
    auto b = r.connect();
    r.reg(b, "other");
    CHECK(r.exchange(kill_request{}) == "OK");
  }
}

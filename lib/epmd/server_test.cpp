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

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
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

TEST_CASE("a connection that sends nothing is closed after the request timeout") {
  server_options so;
  so.request_timeout = std::chrono::milliseconds(200);
  for (bool defer : {true, false}) {
    so.defer_accept = defer;
    running_server r(so);
    auto s = r.connect();
    auto t0 = std::chrono::steady_clock::now();
    char c;
    boost::system::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec);  // blocks until the server closes
    auto waited = std::chrono::steady_clock::now() - t0;
    CHECK(ec);
    CHECK(waited >= std::chrono::milliseconds(150));
    // Deferred accept: the kernel hands it over after a second; then the timeout runs.
    CHECK(waited < std::chrono::seconds(defer ? 4 : 2));
    // Lookups still work.
    CHECK(r.exchange(port_please2_request{"nobody"}) == std::string("w\x01", 2));
  }
}

TEST_CASE("a reply larger than the socket buffers reaches a slow reader whole") {
  // Loopback send buffers take over 2 MB: DUMP gets 1000 names of 1000 bytes that registered and
  // left, and 2500 registered ones (this process holds both ends of those connections).
  ::rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
  ::setrlimit(RLIMIT_NOFILE, &rl);
  std::size_t active = std::min<std::size_t>(2500, (rl.rlim_cur - 100) / 2);
  running_server r;
  for (int i = 0; i < 1000; ++i) {
    auto s = r.connect();
    REQUIRE(r.reg(s, std::to_string(1000 + i) + std::string(996, 'n')).result == 0);
  }
  REQUIRE(r.wait_names(0));
  std::vector<tcp::socket> regs;
  for (std::size_t i = 0; i < active; ++i) {
    regs.push_back(r.connect());
    REQUIRE(r.reg(regs.back(), std::to_string(10000 + i) + std::string(995, 'a')).result == 0);
  }
  tcp::socket s(r.client_io);
  s.open(tcp::v4());
  s.set_option(asio::socket_base::receive_buffer_size(2048));
  s.connect({asio::ip::make_address("127.0.0.1"), r.srv_port()});
  asio::write(s, asio::buffer(encode(request{dump_request{}}).value()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the server fills the buffers
  // A NAMES meanwhile is served (2.5 MB of it).
  auto names = r.exchange(names_request{});
  CHECK(static_cast<std::size_t>(std::count(names.begin(), names.end(), '\n')) == active);
  std::string out;
  boost::system::error_code ec;
  char buf[4096];
  while (!ec) out.append(buf, s.read_some(asio::buffer(buf), ec));
  text_reply_parser p(8 << 20);
  std::span<const std::uint8_t> in(reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
  REQUIRE(p.feed(in));
  REQUIRE(p.finish());
  CHECK(p.get().text.size() > 1'000'000 + active * 1000);
  std::size_t unused = 0;
  for (std::size_t pos = 0; (pos = p.get().text.find("old/unused name", pos)) != std::string::npos;
       ++pos)
    ++unused;
  CHECK(unused == 1000);
  CHECK(static_cast<std::size_t>(std::count(p.get().text.begin(), p.get().text.end(), '\0')) ==
        1000 + active);
}

TEST_CASE("run() serves on the calling thread until its wake descriptor is readable") {
  asio::io_context io;  // never run: run() does the serving
  server_options so;
  so.port = 0;
  so.addresses = {asio::ip::make_address("127.0.0.1")};
  server srv(io.get_executor(), so);
  REQUIRE(!srv.start());
  auto port = srv.port();
  int wake[2];
  REQUIRE(::pipe(wake) == 0);
  std::promise<boost::system::error_code> done;
  std::thread th([&] { done.set_value(srv.run(wake[0])); });
  asio::io_context cio;
  auto lookup = [&] {
    tcp::socket s(cio);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(encode(request{port_please2_request{"x"}}).value()));
    std::string out;
    boost::system::error_code ec;
    char buf[64];
    while (!ec) out.append(buf, s.read_some(asio::buffer(buf), ec));
    return out;
  };
  CHECK(lookup() == std::string("w\x01", 2));
  // A registration lives while its connection does.
  tcp::socket reg(cio);
  reg.connect({asio::ip::make_address("127.0.0.1"), port});
  alive2_request a;
  a.node.name = "x";
  a.node.port = 4321;
  asio::write(reg, asio::buffer(encode(request{a}).value()));
  std::uint8_t rep[6];
  asio::read(reg, asio::buffer(rep));
  CHECK(rep[0] == 'v');
  CHECK(rep[1] == 0);
  auto found = lookup();
  REQUIRE(found.size() > 4);
  CHECK(found[0] == 'w');
  CHECK(found[1] == 0);
  CHECK(static_cast<std::uint8_t>(found[2]) * 256 + static_cast<std::uint8_t>(found[3]) == 4321);
  reg.close();
  for (int i = 0; i < 100 && lookup() != std::string("w\x01", 2); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(lookup() == std::string("w\x01", 2));
  REQUIRE(::write(wake[1], "x", 1) == 1);
  auto f = done.get_future();
  REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(!f.get());
  th.join();
  CHECK(!srv.running());
  ::close(wake[0]);
  ::close(wake[1]);
}

TEST_CASE("a request followed at once by the client's FIN is still answered") {
  server_options so;
  for (bool defer : {true, false}) {
    so.defer_accept = defer;
    running_server r(so);
    auto keep = r.connect();
    REQUIRE(r.reg(keep, "halfclose").result == 0);
    for (int split : {0, 1, 3}) {  // the request whole, or its first bytes apart
      auto s = r.connect();
      auto req = encode(request{port_please2_request{"halfclose"}}).value();
      auto first = static_cast<std::size_t>(split);
      if (first > 0) {
        asio::write(s, asio::buffer(req.data(), first));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      asio::write(s, asio::buffer(req.data() + first, req.size() - first));
      s.shutdown(tcp::socket::shutdown_send);
      std::string out;
      boost::system::error_code ec;
      char buf[256];
      while (!ec) out.append(buf, s.read_some(asio::buffer(buf), ec));
      REQUIRE(out.size() > 4);
      CHECK(out[0] == 'w');
      CHECK(out[1] == 0);
    }
    CHECK(r.names().size() == 1);
  }
}

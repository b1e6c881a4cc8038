// erlnode-epmd and the epmd client against real erl nodes and OTP's epmd, each test on its own
// epmd port.
#include "support/erl_process.hpp"

#include <erlnode/epmd/client.hpp>
#include <erlnode/epmd/ensure_running.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>

using namespace erlnode::interop;
namespace epmd = erlnode::epmd;
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// erlnode-epmd in the foreground on its own port, killed (by pid) with the test.
struct our_epmd {
  explicit our_epmd(std::vector<std::string> extra = {}) : port(free_tcp_port()) {
    std::vector<std::string> argv{ERLNODE_EPMD_TOOL, "--port", std::to_string(port)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<child_process>(argv);
    for (int i = 0; i < 200; ++i) {
      if (answers()) return;
      std::this_thread::sleep_for(20ms);
    }
    throw std::runtime_error("erlnode-epmd did not start:\n" + proc->output());
  }
  bool answers() const {
    asio::io_context io;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)}, ec);
    return !ec;
  }
  int port;
  std::unique_ptr<child_process> proc;
};

struct run_result {
  int status;
  std::string output;
};
run_result run(std::vector<std::string> argv) {
  child_process p(std::move(argv));
  auto st = p.wait(20s);
  REQUIRE(st);
  p.pump(50ms);
  return {*st, p.output()};
}
run_result otp_cli(int port, std::vector<std::string> args) {
  std::vector<std::string> argv{erl_bin("epmd"), "-port", std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}
run_result our_cli(int port, std::vector<std::string> args) {
  std::vector<std::string> argv{ERLNODE_EPMD_TOOL, "--port", std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

epmd::client_options client_opts(int port) {
  epmd::client_options o;
  o.port = static_cast<std::uint16_t>(port);
  o.timeout = 5s;
  return o;
}

tcp::socket raw_connect(asio::io_context& io, int port) {
  tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port)});
  return s;
}

// True when the server closes `s` within `within`.
bool closed_by_peer(tcp::socket& s, std::chrono::milliseconds within) {
  ::timeval tv{static_cast<long>(within.count() / 1000),
               static_cast<long>(within.count() % 1000 * 1000)};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[64];
  boost::system::error_code ec;
  while (!ec) s.read_some(asio::buffer(buf), ec);
  return ec == asio::error::eof || ec == asio::error::connection_reset;
}

}  // namespace

TEST_CASE("erl nodes register with erlnode-epmd and ping each other through it") {
  our_epmd e;
  erl_node a({.epmd_port = e.port});
  erl_node b({.cookie = a.cookie(), .epmd_port = e.port});
  CHECK(a.eval("net_adm:ping('" + b.node_name() + "')") == "pong");
  // OTP's epmd CLI lists both registrations, exactly as it prints OTP epmd's.
  auto names = otp_cli(e.port, {"-names"});
  CHECK(names.status == 0);
  CHECK(names.output.starts_with("epmd: up and running on port " + std::to_string(e.port) +
                                 " with data:\n"));
  CHECK(names.output.find("name " + a.name() + " at port ") != std::string::npos);
  CHECK(names.output.find("name " + b.name() + " at port ") != std::string::npos);
  // erl's own view agrees.
  CHECK(a.eval("{ok, L} = net_adm:names(), lists:sort([N || {N, _} <- L]) == lists:sort([\"" +
               a.name() + "\", \"" + b.name() + "\"])") == "true");
}

TEST_CASE("erlnode-epmd CLI prints what OTP's epmd CLI prints, against either daemon") {
  epmd_instance otp;
  our_epmd ours;
  erl_node a({.epmd_port = otp.port()});
  erl_node b({.name = a.name(), .epmd_port = ours.port});
  for (int port : {otp.port(), ours.port}) {
    INFO("port " << port);
    for (auto args : {std::vector<std::string>{"-names"}, {"-kill"}, {"-stop", a.name()}}) {
      auto theirs = otp_cli(port, args);
      auto mine = our_cli(port, args);
      INFO(args[0]);
      CHECK(mine.output == theirs.output);
      CHECK(mine.status == theirs.status);
    }
  }
  // Nothing listening.
  int nothing = free_tcp_port();
  auto theirs = otp_cli(nothing, {"-names"});
  auto mine = our_cli(nothing, {"--names"});
  CHECK(mine.output == theirs.output);
  CHECK(mine.status == theirs.status);
}

TEST_CASE("KILL and STOP follow OTP's relaxed_command_check rules") {
  SECTION("strict: kill only when empty, stop never") {
    our_epmd e;
    {
      erl_node a({.epmd_port = e.port});
      CHECK(our_cli(e.port, {"--kill"}).output ==
            "Killing not allowed - living nodes in database.\n");
      CHECK(our_cli(e.port, {"--stop", a.name()}).output == "epmd: local epmd responded with <>\n");
      CHECK(otp_cli(e.port, {"-names"}).output.find(a.name()) != std::string::npos);
    }
    // The node is gone, so its registration ended with its socket; kill is allowed now.
    for (int i = 0;
         i < 100 && otp_cli(e.port, {"-names"}).output.find("name ") != std::string::npos; ++i)
      std::this_thread::sleep_for(50ms);
    auto k = otp_cli(e.port, {"-kill"});
    CHECK(k.output == "Killed\n");
    CHECK(e.proc->wait(5s) == 0);
  }
  SECTION("relaxed: stop unregisters a live node, kill works with nodes registered") {
    our_epmd e({"--relaxed-command-check"});
    erl_node a({.epmd_port = e.port});
    CHECK(otp_cli(e.port, {"-stop", "nosuchnode"}).output == "NOEXIST\n");
    CHECK(otp_cli(e.port, {"-stop", a.name()}).output == "STOPPED\n");
    CHECK(otp_cli(e.port, {"-names"}).output.find(a.name()) == std::string::npos);
    erl_node b({.epmd_port = e.port});
    CHECK(our_cli(e.port, {"--kill"}).output == "Killed\n");
    CHECK(e.proc->wait(5s) == 0);
  }
}

TEST_CASE("the client works against OTP's epmd and real erl nodes") {
  epmd_instance otp;
  erl_node a({.epmd_port = otp.port()});
  asio::io_context io;
  auto ex = io.get_executor();
  auto o = client_opts(otp.port());
  epmd::node_info me;
  me.name = unique_name("cxx");
  me.port = 4242;
  me.node_type = epmd::node_type_hidden;
  auto reg = epmd::async_register_node(ex, me, o, asio::use_future);
  auto info = epmd::async_port_please(ex, a.name(), o, asio::use_future);
  auto taken = epmd::async_register_node(
      ex,
      [&] {
        auto n = me;
        n.name = a.name();
        return n;
      }(),
      o, asio::use_future);
  io.run();
  io.restart();
  auto r = reg.get();
  CHECK(r.creation() != 0);
  auto ni = info.get();
  CHECK(a.eval("{ok, L} = net_adm:names(), element(2, lists:keyfind(\"" + a.name() +
               "\", 1, L))") == std::to_string(ni.port));
  CHECK(ni.highest_version == 6);
  CHECK(ni.node_type == epmd::node_type_normal);
  try {
    taken.get();
    FAIL("registered a taken name");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == epmd::client_errc::name_taken);
  }
  // erl sees our registration, port included; closing the handle removes it.
  CHECK(a.eval("erl_epmd:port_please(\"" + me.name + "\", {127,0,0,1})") == "{port,4242,6}");
  auto names = epmd::async_names(ex, o, asio::use_future);
  io.run();
  io.restart();
  CHECK(names.get().size() == 2);
  r.close();
  std::string gone;
  for (int i = 0; i < 50; ++i) {
    gone = a.eval("erl_epmd:port_please(\"" + me.name + "\", {127,0,0,1})");
    if (gone == "noport") break;
    std::this_thread::sleep_for(50ms);
  }
  CHECK(gone == "noport");
}

TEST_CASE("hostile clients cannot hurt registrations or lookups on erlnode-epmd") {
  our_epmd e({"--packet-timeout", "1", "--max-connections", "1000"});
  erl_node a({.epmd_port = e.port});
  erl_node b({.cookie = a.cookie(), .epmd_port = e.port});
  asio::io_context io;
  auto healthy = [&] {
    auto out = otp_cli(e.port, {"-names"}).output;
    return out.find("name " + a.name() + " ") != std::string::npos &&
           out.find("name " + b.name() + " ") != std::string::npos &&
           b.eval("net_adm:ping('" + a.node_name() + "')") == "pong" &&
           a.eval("element(1, erl_epmd:port_please(\"" + b.name() + "\", {127,0,0,1}))") == "port";
  };
  SECTION("garbage request") {
    auto s = raw_connect(io, e.port);
    asio::write(s, asio::buffer(std::string("\x00\x10GET / HTTP/1.1\r\n\r\n", 20)));
    CHECK(closed_by_peer(s, 3s));
  }
  SECTION("oversized length") {
    auto s = raw_connect(io, e.port);
    std::uint8_t big[] = {0xff, 0xff, 'x', 0, 1};
    asio::write(s, asio::buffer(big));
    CHECK(closed_by_peer(s, 3s));
  }
  SECTION("half-sent request held open (slowloris)") {
    std::vector<tcp::socket> slow;
    for (int i = 0; i < 20; ++i) {
      slow.push_back(raw_connect(io, e.port));
      std::uint8_t half[] = {0, 30, 'x', 0x12};
      asio::write(slow.back(), asio::buffer(half));
    }
    CHECK(healthy());  // served while the slow ones hang
    for (auto& s : slow) CHECK(closed_by_peer(s, 5s));
  }
  SECTION("thousands of idle connections") {
    // This process holds them all: make room under the descriptor limit.
    ::rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 8192);
    ::setrlimit(RLIMIT_NOFILE, &rl);
    int count = static_cast<int>(std::min<rlim_t>(3000, rl.rlim_cur - 256));
    std::vector<tcp::socket> idle;
    for (int i = 0; i < count; ++i) idle.push_back(raw_connect(io, e.port));
    CHECK(healthy());
    // The cap closed the oldest idle ones.
    CHECK(closed_by_peer(idle.front(), 2s));
  }
  CHECK(healthy());
}

TEST_CASE("erlnode-epmd listens on IPv6 and IPv4 addresses") {
  our_epmd e({"--address", "::1"});  // plus 127.0.0.1, like epmd -address
  asio::io_context io;
  auto o = client_opts(e.port);
  o.host = "::1";
  auto v6 = epmd::async_names(io.get_executor(), o, asio::use_future);
  o.host = "127.0.0.1";
  auto v4 = epmd::async_names(io.get_executor(), o, asio::use_future);
  io.run();
  CHECK(v6.get().empty());
  CHECK(v4.get().empty());
  erl_node a({.epmd_port = e.port});
  CHECK(otp_cli(e.port, {"-names"}).output.find(a.name()) != std::string::npos);
}

TEST_CASE(
    "ensure_running: uses a running epmd, else starts erlnode-epmd, else runs one in-process") {
  asio::io_context io;
  auto ex = io.get_executor();
  auto ensure = [&](epmd::ensure_options o) {
    auto f = epmd::async_ensure_running(ex, std::move(o), asio::use_future);
    io.run();
    io.restart();
    return f.get();
  };
  SECTION("already running") {
    epmd_instance otp;
    epmd::ensure_options o;
    o.port = static_cast<std::uint16_t>(otp.port());
    CHECK(ensure(o).source == epmd::epmd_source::already_running);
  }
  SECTION("a detached erlnode-epmd daemon") {
    epmd::ensure_options o;
    o.port = static_cast<std::uint16_t>(free_tcp_port());
    o.executable = ERLNODE_EPMD_TOOL;
    o.allow_in_process = false;
    auto r = ensure(o);
    CHECK(r.source == epmd::epmd_source::started_process);
    CHECK(!r.in_process);
    {
      erl_node a({.epmd_port = o.port});
      erl_node b({.cookie = a.cookie(), .epmd_port = o.port});
      CHECK(a.eval("net_adm:ping('" + b.node_name() + "')") == "pong");
      CHECK(ensure(o).source == epmd::epmd_source::already_running);
    }
    // Stop the daemon we started (kill is allowed once the nodes are gone).
    std::string out;
    for (int i = 0; i < 100; ++i) {
      out = our_cli(o.port, {"--kill"}).output;
      if (out == "Killed\n") break;
      std::this_thread::sleep_for(50ms);
    }
    CHECK(out == "Killed\n");
  }
  SECTION("in-process when no executable is available") {
    epmd::ensure_options o;
    o.port = static_cast<std::uint16_t>(free_tcp_port());
    o.executable = "/nonexistent/erlnode-epmd";
    // The in-process server keeps the io_context busy: run it on a thread.
    auto work = asio::make_work_guard(io);
    std::thread t([&] { io.run(); });
    auto r = epmd::async_ensure_running(ex, o, asio::use_future).get();
    CHECK(r.source == epmd::epmd_source::started_in_process);
    CHECK(r.in_process);
    {
      erl_node a({.epmd_port = o.port});
      erl_node b({.cookie = a.cookie(), .epmd_port = o.port});
      CHECK(a.eval("net_adm:ping('" + b.node_name() + "')") == "pong");
      CHECK(otp_cli(o.port, {"-names"}).output.find(b.name()) != std::string::npos);
    }
    asio::post(io, [&] { r.in_process.reset(); });
    work.reset();
    t.join();
  }
}

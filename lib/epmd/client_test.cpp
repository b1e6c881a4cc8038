// The epmd client against the in-process epmd server: every operation, every completion token
// kind, errors (refused, timed out, name taken), and unregistering on close.
#include <erlnode/epmd/client.hpp>
#include <erlnode/epmd/server.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <thread>

using namespace erlnode::epmd;
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// An io_context on its own thread, with an epmd server on a free port.
struct fixture {
  explicit fixture(server_options so = {}) {
    so.port = 0;
    so.addresses = {asio::ip::make_address("127.0.0.1")};
    srv = std::make_unique<server>(io.get_executor(), so);
    REQUIRE(!srv->start());
    opts.port = srv->port();
    opts.timeout = 3s;
    th = std::thread([this] { io.run(); });
  }
  ~fixture() {
    asio::post(io, [this] { srv.reset(); });
    work.reset();
    th.join();
  }
  node_info node(std::string name, std::uint16_t port = 5555) {
    node_info n;
    n.name = std::move(name);
    n.port = port;
    n.lowest_version = 5;
    return n;
  }
  std::vector<name_entry> names() {
    return async_names(io.get_executor(), opts, asio::use_future).get();
  }
  // Waits until the server's list has `n` entries.
  bool wait_count(std::size_t n) {
    for (int i = 0; i < 200; ++i) {
      if (names().size() == n) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<server> srv;
  client_options opts;
  std::thread th;
};

boost::system::error_code error_of(std::future<node_info> f) {
  try {
    f.get();
  } catch (const boost::system::system_error& e) {
    return e.code();
  }
  return {};
}

}  // namespace

TEST_CASE("register, look up and list through the client (use_future)") {
  fixture f;
  auto ex = f.io.get_executor();
  auto reg = async_register_node(ex, f.node("alpha", 4711), f.opts, asio::use_future).get();
  CHECK(reg.is_open());
  CHECK(reg.creation() != 0);
  CHECK(reg.extended());
  auto info = async_port_please(ex, "alpha", f.opts, asio::use_future).get();
  CHECK(info.port == 4711);
  CHECK(info.name == "alpha");
  CHECK(info.highest_version == 6);
  CHECK(info.lowest_version == 5);
  auto list = f.names();
  REQUIRE(list.size() == 1);
  CHECK(list[0] == name_entry{"alpha", 4711});

  // The same name again: refused while the first registration lives.
  auto again = async_register_node(ex, f.node("alpha"), f.opts, asio::use_future);
  try {
    again.get();
    FAIL("registered twice");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == client_errc::name_taken);
  }

  // Closing the handle unregisters; the name comes back with another creation.
  auto first = reg.creation();
  { registration gone = std::move(reg); }
  REQUIRE(f.wait_count(0));
  CHECK(error_of(async_port_please(ex, "alpha", f.opts, asio::use_future)) ==
        client_errc::not_registered);
  auto reg2 = async_register_node(ex, f.node("alpha"), f.opts, asio::use_future).get();
  CHECK(reg2.creation() != first);
  CHECK(reg2.creation() != 0);
}

TEST_CASE("callbacks and use_awaitable complete the same operations") {
  fixture f;
  auto ex = f.io.get_executor();
  std::promise<std::uint32_t> created;
  registration keep;
  async_register_node(ex, f.node("cb"), f.opts, [&](boost::system::error_code ec, registration r) {
    keep = std::move(r);
    created.set_value(ec ? 0 : keep.creation());
  });
  CHECK(created.get_future().get() != 0);

  std::promise<std::string> result;
  asio::co_spawn(
      ex,
      [&]() -> asio::awaitable<void> {
        auto n = co_await async_port_please(ex, "cb", f.opts, asio::use_awaitable);
        auto all = co_await async_names(ex, f.opts, asio::use_awaitable);
        std::string s = n.name + ":" + std::to_string(all.size());
        try {
          co_await async_port_please(ex, "nobody", f.opts, asio::use_awaitable);
        } catch (const boost::system::system_error& e) {
          s += ":" + e.code().message();
        }
        result.set_value(s);
        keep.close();
      },
      asio::detached);
  CHECK(result.get_future().get() == "cb:1:node not registered with epmd");
}

TEST_CASE("connection refused, timed out, and bad names are clear errors") {
  asio::io_context io;
  client_options o;
  o.port = 1;  // nothing listens on port 1 (privileged, unused)
  o.timeout = 2s;
  auto ex = io.get_executor();
  auto refused = async_port_please(ex, "x", o, asio::use_future);
  // A listener that accepts and never answers.
  tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});
  tcp::socket held(io);
  silent.async_accept(held, [](boost::system::error_code) {});
  client_options so;
  so.port = silent.local_endpoint().port();
  so.timeout = 200ms;
  auto timed = async_names(ex, so, asio::use_future);
  auto bad = async_port_please(ex, "bad\nname", o, asio::use_future);
  io.run();
  CHECK(error_of(std::move(refused)) == asio::error::connection_refused);
  try {
    timed.get();
    FAIL("no timeout");
  } catch (const boost::system::system_error& e) {
    CHECK(e.code() == asio::error::timed_out);
  }
  CHECK(error_of(std::move(bad)) == client_errc::bad_request);
}

TEST_CASE("port_from_env honours ERL_EPMD_PORT like erl") {
  ::setenv("ERL_EPMD_PORT", "4370", 1);
  CHECK(port_from_env() == 4370);
  CHECK(client_options{}.port == 4370);
  ::setenv("ERL_EPMD_PORT", "junk", 1);
  CHECK(port_from_env() == 4369);
  ::unsetenv("ERL_EPMD_PORT");
  CHECK(port_from_env() == 4369);
}

TEST_CASE("hostile clients lose only their own connection") {
  server_options so;
  so.request_timeout = 300ms;
  so.max_pending_connections = 50;
  fixture f(so);
  auto ex = f.io.get_executor();
  auto reg = async_register_node(ex, f.node("victim", 1234), f.opts, asio::use_future).get();

  asio::io_context io;
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), f.opts.port);
  auto closed_by_server = [&](tcp::socket& s, std::chrono::milliseconds within) {
    ::timeval tv{static_cast<long>(within.count() / 1000),
                 static_cast<long>(within.count() % 1000 * 1000)};
    ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    boost::system::error_code ec;
    s.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  };
  SECTION("garbage") {
    tcp::socket s(io);
    s.connect(ep);
    asio::write(s, asio::buffer(std::string("GET / HTTP/1.0\r\n\r\n")));
    CHECK(closed_by_server(s, 2s));
  }
  SECTION("oversized length") {
    tcp::socket s(io);
    s.connect(ep);
    std::uint8_t big[] = {0xff, 0xff, 'x'};
    asio::write(s, asio::buffer(big));
    CHECK(closed_by_server(s, 2s));
  }
  SECTION("half-sent request held open") {
    tcp::socket s(io);
    s.connect(ep);
    std::uint8_t half[] = {0, 20, 'x', 0};
    asio::write(s, asio::buffer(half));
    auto t0 = std::chrono::steady_clock::now();
    CHECK(closed_by_server(s, 3s));
    CHECK(std::chrono::steady_clock::now() - t0 >= 250ms);
  }
  SECTION("many idle connections") {
    std::vector<tcp::socket> idle;
    for (int i = 0; i < 200; ++i) {
      idle.emplace_back(io);
      idle.back().connect(ep);
    }
    // Lookups still work while the flood is open; the oldest idle ones were closed.
    CHECK(async_port_please(ex, "victim", f.opts, asio::use_future).get().port == 1234);
    CHECK(closed_by_server(idle.front(), 2s));
  }
  CHECK(async_port_please(ex, "victim", f.opts, asio::use_future).get().port == 1234);
  CHECK(f.names().size() == 1);
  CHECK(reg.is_open());
}

// Lookups (PORT_PLEASE2) and registrations (ALIVE2, then close) per second against
// erlnode-epmd and OTP's epmd, each started as its own process on a free port, driven by the
// same client: `concurrency` coroutines each doing connect / request / reply / close in a loop.
// Prints one JSON line per (op, impl): the median of `rounds` runs (the daemons take turns going
// first), with the daemon's CPU time per operation (its threads' run time, from schedstat): on a
// shared machine the rates swing with the load, the CPU per operation much less.
//
//   erlnode_epmd_bench [--quick] [--duration-ms N] [--concurrency N] [--rounds N] [--max-ops N]
// --max-ops caps each run (default 15000, to bound TIME_WAIT sockets and ephemeral ports).
#include <erlnode/epmd/protocol.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace asio = boost::asio;
namespace epmd = erlnode::epmd;
using asio::ip::tcp;
using boost::system::error_code;
using clk = std::chrono::steady_clock;

namespace {

struct config {
  std::chrono::milliseconds duration{1000};
  int concurrency = 8;
  int rounds = 5;
  std::size_t max_ops = 15000;  // per run: bounds TIME_WAIT sockets and ephemeral ports
};

std::uint16_t free_port() {
  asio::io_context io;
  tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

bool answers(std::uint16_t port) {
  asio::io_context io;
  tcp::socket s(io);
  error_code ec;
  s.connect({asio::ip::make_address("127.0.0.1"), port}, ec);
  return !ec;
}

// A daemon child process, killed by pid.
struct daemon_proc {
  daemon_proc(std::vector<std::string> argv, std::uint16_t port) {
    std::vector<char*> av;
    for (auto& a : argv) av.push_back(a.data());
    av.push_back(nullptr);
    // Quiet: OTP's epmd logs every probe connection that sends nothing.
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (::posix_spawn(&pid, av[0], &fa, nullptr, av.data(), environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 250 && pid > 0 && !answers(port); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ~daemon_proc() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      for (int i = 0; i < 100 && ::waitpid(pid, nullptr, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (::kill(pid, SIGKILL) == 0) ::waitpid(pid, nullptr, 0);
    }
  }
  pid_t pid = -1;
};

// CPU seconds a process has used so far: the sum of its threads' run time from schedstat
// (nanoseconds; /proc/PID/stat counts clock ticks, too coarse for a one-second run).
double cpu_seconds(pid_t pid) {
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  double total = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::FILE* f = std::fopen((dir + "/" + e->d_name + "/schedstat").c_str(), "r");
      if (!f) continue;
      unsigned long long ns = 0;
      if (std::fscanf(f, "%llu", &ns) == 1) total += static_cast<double>(ns) * 1e-9;
      std::fclose(f);
    }
    ::closedir(d);
  }
  return total;
}

struct counters {
  std::size_t ok = 0, errors = 0;
};

// One request on a fresh connection; reads the reply with `Parser` until complete.
template <class Parser>
asio::awaitable<bool> one(tcp::endpoint ep, const std::vector<std::uint8_t>& req, Parser& p,
                          bool expect_ok_result) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket s(ex);
  error_code ec;
  co_await s.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  s.set_option(tcp::no_delay(true), ec);
  co_await asio::async_write(s, asio::buffer(req), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  std::array<std::uint8_t, 512> buf;
  for (;;) {
    std::size_t n = co_await s.async_read_some(asio::buffer(buf),
                                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    std::span<const std::uint8_t> in(buf.data(), n);
    auto r = p.feed(in);
    if (!r) co_return false;
    if (*r == epmd::status::complete) break;
  }
  co_return !expect_ok_result || p.get().result == 0;
}

enum class op { lookup, reg };

struct result {
  double ops_per_s = 0;
  double daemon_cpu_us_per_op = 0;
};

result run(op which, std::uint16_t port, pid_t daemon, const config& cfg, int round,
           std::size_t& errors) {
  double cpu0 = cpu_seconds(daemon);
  asio::io_context io(1);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port);
  counters c;
  auto deadline = clk::now() + cfg.duration;
  std::size_t started = 0;
  auto t0 = clk::now();
  clk::time_point t_end = t0;
  int live = cfg.concurrency;
  for (int w = 0; w < cfg.concurrency; ++w) {
    asio::co_spawn(
        io,
        [&, w]() -> asio::awaitable<void> {
          std::vector<std::uint8_t> req;
          for (std::size_t i = 0; clk::now() < deadline && started < cfg.max_ops; ++i) {
            ++started;
            bool ok;
            if (which == op::lookup) {
              if (req.empty()) (void)epmd::encode(epmd::port_please2_request{"benchnode"}, req);
              epmd::port2_reply_parser p;
              ok = co_await one(ep, req, p, true);
            } else {
              epmd::node_info n;
              n.name =
                  "r" + std::to_string(round) + "_" + std::to_string(w) + "_" + std::to_string(i);
              n.port = 40000;
              req.clear();
              (void)epmd::encode(epmd::alive2_request{n}, req);
              epmd::alive2_reply_parser p;
              ok = co_await one(ep, req, p, true);
            }
            ++(ok ? c.ok : c.errors);
          }
          if (--live == 0) t_end = clk::now();
        },
        asio::detached);
  }
  io.run();
  errors += c.errors;
  double secs = std::chrono::duration<double>(t_end - t0).count();
  result r;
  if (secs > 0) r.ops_per_s = static_cast<double>(c.ok) / secs;
  if (c.ok > 0) r.daemon_cpu_us_per_op = (cpu_seconds(daemon) - cpu0) * 1e6 / c.ok;
  return r;
}

// Holds a registration open for the lookups to find.
struct keeper {
  explicit keeper(std::uint16_t port) : sock(io) {
    sock.connect({asio::ip::make_address("127.0.0.1"), port});
    epmd::node_info n;
    n.name = "benchnode";
    n.port = 45678;
    auto req = epmd::encode(epmd::alive2_request{n}).value();
    asio::write(sock, asio::buffer(req));
    std::array<std::uint8_t, 6> rep;
    asio::read(sock, asio::buffer(rep));
  }
  asio::io_context io;
  tcp::socket sock;
};

}  // namespace

int main(int argc, char** argv) {
  config cfg;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--quick") {
      cfg.duration = std::chrono::milliseconds(50);
      cfg.rounds = 1;
      cfg.concurrency = 2;
    } else if (a == "--duration-ms") {
      cfg.duration = std::chrono::milliseconds(std::max(1, num()));
    } else if (a == "--concurrency") {
      cfg.concurrency = std::max(1, num());
    } else if (a == "--rounds") {
      cfg.rounds = std::max(1, num());
    } else if (a == "--max-ops") {
      cfg.max_ops = static_cast<std::size_t>(std::max(1, num()));
    } else {
      std::fprintf(
          stderr,
          "usage: %s [--quick] [--duration-ms N] [--concurrency N] [--rounds N] [--max-ops N]\n",
          argv[0]);
      return 2;
    }
  }
  struct impl {
    const char* name;
    std::vector<std::string> (*argv)(std::uint16_t);
  };
  const impl impls[] = {
      {"erlnode-epmd",
       [](std::uint16_t p) {
         return std::vector<std::string>{ERLNODE_EPMD_TOOL, "--port", std::to_string(p)};
       }},
      {"otp-epmd",
       [](std::uint16_t p) {
         return std::vector<std::string>{ERLNODE_OTP_EPMD, "-port", std::to_string(p)};
       }},
  };
  int status = 0;
  for (op which : {op::lookup, op::reg}) {
    std::vector<double> rates[2], cpus[2];
    std::size_t errors[2] = {0, 0};
    for (int round = 0; round < cfg.rounds; ++round) {
      // Alternate which daemon goes first, so a drift in machine load favours neither.
      for (int j = 0; j < 2; ++j) {
        int k = (round + j) % 2;
        std::uint16_t port = free_port();
        daemon_proc d(impls[k].argv(port), port);
        if (d.pid <= 0 || !answers(port)) {
          std::fprintf(stderr, "epmd bench: %s did not start\n", impls[k].name);
          return 1;
        }
        keeper keep(port);
        auto r = run(which, port, d.pid, cfg, round, errors[k]);
        rates[k].push_back(r.ops_per_s);
        cpus[k].push_back(r.daemon_cpu_us_per_op);
      }
    }
    for (int k = 0; k < 2; ++k) {
      auto& r = rates[k];
      std::sort(r.begin(), r.end());
      double median = r[r.size() / 2];
      std::sort(cpus[k].begin(), cpus[k].end());
      double cpu = cpus[k][cpus[k].size() / 2];
      if (median <= 0) status = 1;
      std::printf(
          "{\"bench\":\"epmd\",\"op\":\"%s\",\"impl\":\"%s\",\"ops_per_s\":%.0f,"
          "\"daemon_cpu_us_per_op\":%.1f,\"concurrency\":%d,\"rounds\":%d,\"duration_ms\":%lld,"
          "\"errors\":%zu}\n",
          which == op::lookup ? "lookup" : "register", impls[k].name, median, cpu, cfg.concurrency,
          cfg.rounds, static_cast<long long>(cfg.duration.count()), errors[k]);
      std::fflush(stdout);
    }
  }
  return status;
}

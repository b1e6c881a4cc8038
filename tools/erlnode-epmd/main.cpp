// erlnode-epmd: a drop-in for OTP's epmd (daemon), and its client commands (--names, --kill,
// --stop NAME, --dump) with the same output and exit codes as `epmd -names|-kill|-stop`.
// OTP's single-dash spellings (-port, -names, -relaxed_command_check, ...) are accepted too.
#include <erlnode/epmd/protocol.hpp>
#include <erlnode/epmd/server.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using asio::ip::tcp;
namespace epmd = erlnode::epmd;

namespace {

void usage(std::FILE* f) {
  std::fputs(
      "usage: erlnode-epmd [--port P] [--address A[,B...]] [--daemon] [--relaxed-command-check]\n"
      "                    [--packet-timeout SECONDS] [--max-connections N]\n"
      "       erlnode-epmd [--port P] --names | --dump | --kill | --stop NAME\n"
      "The port defaults to $ERL_EPMD_PORT, else 4369. OTP's spellings (-port, -names,\n"
      "-relaxed_command_check, ...) work too; ERL_EPMD_RELAXED_COMMAND_CHECK and\n"
      "ERL_EPMD_ADDRESS are honoured like OTP's epmd.\n",
      f);
}

// Client side: one request to the epmd on 127.0.0.1:port, the whole reply up to its close.
// nullopt: could not connect.
std::optional<std::string> request_reply(std::uint16_t port, const epmd::request& req) {
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect({asio::ip::address_v4::loopback(), port}, ec);
  if (ec) return std::nullopt;
  timeval tv{10, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto bytes = epmd::encode(req);
  if (!bytes) return std::string();
  asio::write(s, asio::buffer(*bytes), ec);
  std::string out;
  char buf[4096];
  while (!ec && out.size() < (16u << 20)) {
    std::size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
  }
  return out;
}

int cannot_connect() {
  std::fputs("epmd: Cannot connect to local epmd\n", stderr);
  return 1;
}

int responded_with(const std::string& r) {
  std::printf("epmd: local epmd responded with <%s>\n", r.c_str());
  return 1;
}

int cmd_text(std::uint16_t port, bool dump) {
  epmd::request req = dump ? epmd::request{epmd::dump_request{}} : epmd::names_request{};
  auto r = request_reply(port, req);
  if (!r) return cannot_connect();
  epmd::text_reply_parser p(16u << 20);
  std::span<const std::uint8_t> in(reinterpret_cast<const std::uint8_t*>(r->data()), r->size());
  if (!p.feed(in) || !p.finish()) {
    std::fputs("epmd: no response from local epmd\n", stdout);
    return 1;
  }
  std::printf("epmd: up and running on port %u with data:\n", p.get().epmd_port);
  std::fwrite(p.get().text.data(), 1, p.get().text.size(), stdout);
  return 0;
}

int cmd_kill(std::uint16_t port) {
  auto r = request_reply(port, epmd::kill_request{});
  if (!r) return cannot_connect();
  auto k = epmd::parse_kill_reply(*r);
  if (k && *k == epmd::kill_result::killed) {
    std::puts("Killed");
    return 0;
  }
  if (k) {
    std::puts("Killing not allowed - living nodes in database.");
    return 1;
  }
  return responded_with(*r);
}

int cmd_stop(std::uint16_t port, const std::string& name) {
  auto r = request_reply(port, epmd::stop_request{name});
  if (!r) return cannot_connect();
  auto s = epmd::parse_stop_reply(*r);
  if (s && *s == epmd::stop_result::stopped) {
    std::puts("STOPPED");
    return 0;
  }
  if (s && *s == epmd::stop_result::no_such_node) {
    std::puts("NOEXIST");
    return 0;
  }
  return responded_with(*r);
}

// Forks twice; the first parent waits for a status byte from the daemon (after it bound its
// port) so `erlnode-epmd --daemon` fails visibly when the port is taken. Returns the pipe's
// write end in the daemon; never returns in the parent.
int daemonize() {
  int fds[2];
  if (::pipe(fds) != 0) {
    std::perror("erlnode-epmd: pipe");
    std::exit(1);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("erlnode-epmd: fork");
    std::exit(1);
  }
  if (pid > 0) {
    ::close(fds[1]);
    char status = 1;
    ssize_t n = ::read(fds[0], &status, 1);
    std::_Exit(n == 1 && status == 0 ? 0 : 1);
  }
  ::close(fds[0]);
  ::setsid();
  if (::fork() > 0) std::_Exit(0);
  if (::chdir("/") != 0) {
  }
  ::umask(022);
  // Descriptors inherited from whoever started us (sockets, pipes) must not stay open for
  // the daemon's life.
  int keep = fds[1];
  if (keep > 3) ::close_range(3, static_cast<unsigned>(keep - 1), 0);
  ::close_range(static_cast<unsigned>(keep + 1), ~0u, 0);
  return keep;
}

void detach_stdio() {
  int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    if (null > 2) ::close(null);
  }
}

}  // namespace

int main(int argc, char** argv) {
  epmd::server_options opts;
  if (const char* p = std::getenv("ERL_EPMD_PORT"))
    opts.port = static_cast<std::uint16_t>(std::atoi(p));
  if (std::getenv("ERL_EPMD_RELAXED_COMMAND_CHECK")) opts.relaxed_command_check = true;
  std::string addresses;
  if (const char* a = std::getenv("ERL_EPMD_ADDRESS")) addresses = a;
  bool daemon = false;
  enum { serve, names, dump, kill, stop } mode = serve;
  std::string stop_name;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a[0] == '-' && a[1] != '-') a = "-" + a;  // -port == --port
    for (auto& c : a)
      if (c == '_') c = '-';
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "erlnode-epmd: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--port") {
      int p = std::atoi(value().c_str());
      if (p <= 0 || p > 65535) {
        std::fputs("erlnode-epmd: bad port\n", stderr);
        return 2;
      }
      opts.port = static_cast<std::uint16_t>(p);
    } else if (a == "--address") {
      addresses = value();
    } else if (a == "--daemon") {
      daemon = true;
    } else if (a == "--relaxed-command-check") {
      opts.relaxed_command_check = true;
    } else if (a == "--packet-timeout") {
      opts.request_timeout = std::chrono::seconds(std::max(1, std::atoi(value().c_str())));
    } else if (a == "--max-connections") {
      opts.max_pending_connections =
          static_cast<std::size_t>(std::max(1, std::atoi(value().c_str())));
    } else if (a == "--names") {
      mode = names;
    } else if (a == "--dump") {
      mode = dump;
    } else if (a == "--kill") {
      mode = kill;
    } else if (a == "--stop") {
      mode = stop;
      stop_name = value();
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else if (a == "-d" || a == "--debug") {
      // accepted for compatibility; erlnode-epmd does not log
    } else {
      std::fprintf(stderr, "erlnode-epmd: unknown option %s\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  switch (mode) {
    case names:
      return cmd_text(opts.port, false);
    case dump:
      return cmd_text(opts.port, true);
    case kill:
      return cmd_kill(opts.port);
    case stop:
      return cmd_stop(opts.port, stop_name);
    case serve:
      break;
  }
  std::size_t pos = 0;
  while (pos < addresses.size()) {
    auto end = addresses.find_first_of(", ", pos);
    if (end == std::string::npos) end = addresses.size();
    if (end > pos) {
      boost::system::error_code ec;
      auto addr = asio::ip::make_address(addresses.substr(pos, end - pos), ec);
      if (ec) {
        std::fprintf(stderr, "erlnode-epmd: bad address %s\n",
                     addresses.substr(pos, end - pos).c_str());
        return 2;
      }
      opts.addresses.push_back(addr);
    }
    pos = end + 1;
  }

  int status_fd = daemon ? daemonize() : -1;
  // SIGINT and SIGTERM arrive through a descriptor in the server's set: the server runs on this
  // thread with no reactor in between (one epoll_wait per wake-up), and stops cleanly on them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // Even where the starting shell ignores them (a background job's SIGINT): blocked signals
  // with the default action stay pending for the signalfd.
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::sigprocmask(SIG_BLOCK, &stop_signals, nullptr);
  int sig_fd = ::signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig_fd < 0) {
    std::perror("erlnode-epmd: signalfd");
    return 1;
  }
  asio::io_context io(1);  // unused while run() serves; the server's API takes an executor
  epmd::server srv(io.get_executor(), opts);
  if (auto ec = srv.start()) {
    std::fprintf(stderr, "erlnode-epmd: cannot listen on port %u: %s\n", opts.port,
                 ec.message().c_str());
    return 1;
  }
  if (status_fd >= 0) {
    char ok = 0;
    if (::write(status_fd, &ok, 1) != 1) {
    }
    ::close(status_fd);
    detach_stdio();
  }
  if (auto ec = srv.run(sig_fd)) {
    std::fprintf(stderr, "erlnode-epmd: %s\n", ec.message().c_str());
    return 1;
  }
  return 0;
}

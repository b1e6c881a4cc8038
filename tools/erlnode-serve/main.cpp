// erlnode-serve: a ready C++ node. Joins (or starts) epmd, prints "ready <node>" once it
// accepts connections, and serves:
//   rpc module cpp: echo/1, add/2, sleep/1, sha256/1, raise/2, info/0 (cpp_module.hpp);
//   processes: echo and sink (services.hpp), spawnable cpp:exit_after/2.
// Logs connections and errors on stderr; exits cleanly on SIGINT/SIGTERM.
#include "cpp_module.hpp"
#include "services.hpp"

#include <erlnode/node.hpp>
#include <erlnode/run_loop.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <charconv>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

namespace asio = boost::asio;
using namespace erlnode;

namespace {

void usage(std::ostream& os) {
  os << "usage: erlnode-serve --sname N | --name N [--cookie C] [--hidden|--visible]\n"
        "                     [--epmd-port P] [--no-start-epmd] [--busy-poll-us U] [--verbose]\n"
        "  Serves rpc module cpp (echo/1 add/2 sleep/1 sha256/1 raise/2 info/0) and the\n"
        "  registered processes echo and sink; prints \"ready <node>\" when it accepts calls.\n"
        "  --busy-poll-us U: after each burst of work keep polling for U microseconds before\n"
        "  sleeping (lower latency, up to U us of CPU per burst; default 0: off).\n";
}

struct options {
  node_options node;
  std::chrono::microseconds busy_poll{0};
  bool verbose = false;
};

// nullopt: exit with the given code (usage printed).
std::optional<options> parse(int argc, char** argv, int& exit_code) {
  options o;
  o.node.start_epmd = true;  // like erl: start an epmd when none answers
  exit_code = 2;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    std::optional<std::string> v;
    if (a == "--sname" || a == "-sname" || a == "--name" || a == "-name") {
      if (!(v = value())) break;
      o.node.name = *v;
      o.node.long_names = a.find("sname") == std::string::npos;
    } else if (a == "--cookie" || a == "-setcookie") {
      if (!(v = value())) break;
      o.node.cookie = *v;
    } else if (a == "--hidden") {
      o.node.hidden = true;
    } else if (a == "--visible") {
      o.node.hidden = false;
    } else if (a == "--epmd-port") {
      if (!(v = value())) break;
      unsigned port = 0;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), port);
      if (ec != std::errc() || p != v->data() + v->size() || port == 0 || port > 65535) {
        std::cerr << "erlnode-serve: bad --epmd-port " << *v << "\n";
        return std::nullopt;
      }
      o.node.epmd_port = static_cast<std::uint16_t>(port);
    } else if (a == "--no-start-epmd") {
      o.node.start_epmd = false;
    } else if (a == "--busy-poll-us") {
      if (!(v = value())) break;
      unsigned us = 0;
      auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), us);
      if (ec != std::errc() || p != v->data() + v->size() || us > 1'000'000) {
        std::cerr << "erlnode-serve: bad --busy-poll-us " << *v << " (0..1000000)\n";
        return std::nullopt;
      }
      o.busy_poll = std::chrono::microseconds(us);
    } else if (a == "--verbose") {
      o.verbose = true;
    } else if (a == "--help" || a == "-h") {
      usage(std::cout);
      exit_code = 0;
      return std::nullopt;
    } else {
      std::cerr << "erlnode-serve: unknown option " << a << "\n";
      usage(std::cerr);
      return std::nullopt;
    }
  }
  if (o.node.name.empty()) {
    usage(std::cerr);
    return std::nullopt;
  }
  return o;
}

// {nodeup|nodedown, Node, Info} from monitor_nodes -> "nodeup x@h [{node_type,hidden}]".
std::string describe_node_event(const term& msg) {
  if (auto* t = msg.get_if<tuple>(); t && t->size() == 3 && (*t)[0].is_atom() && (*t)[1].is_atom())
    return std::string((*t)[0].as<atom>().text()) + " " + std::string((*t)[1].as<atom>().text()) +
           " " + to_string((*t)[2]);
  return to_string(msg);
}

void log_node_events(std::shared_ptr<mailbox> mb) {
  auto& m = *mb;
  m.async_receive([mb = std::move(mb)](std::error_code ec, term msg) mutable {
    if (ec) return;
    std::cerr << "erlnode-serve: " << describe_node_event(msg) << std::endl;
    log_node_events(std::move(mb));
  });
}

}  // namespace

int main(int argc, char** argv) {
  int code = 0;
  auto opts = parse(argc, argv, code);
  if (!opts) return code;
  opts->node.logger = [verbose = opts->verbose](log_level l, std::string_view s) {
    if (l == log_level::debug && !verbose) return;
    // Connections are logged from monitor_nodes, with their type and nodedown reason.
    if (l == log_level::info && s.starts_with("nodeup ")) return;
    std::cerr << "erlnode-serve: " << s << std::endl;
  };

  asio::io_context io(1);
  serve::serve_stats stats;
  node n(io.get_executor(), opts->node);
  serve::define_cpp_module(n, stats);
  serve::define_cpp_processes(n);

  int rc = 0;
  auto fail = [&](const std::string& why) {
    std::cerr << "erlnode-serve: " << why << std::endl;
    rc = 1;
    n.stop();
    io.stop();
  };
  // Mailboxes are made once the node is started: their pids carry the creation epmd gives.
  std::optional<serve::services> services;
  n.async_start([&](std::error_code ec) {
    if (ec) return fail("cannot start: " + ec.message());
    auto s = serve::start_services(n, stats);
    if (!s) return fail("cannot register echo/sink: " + s.error().code.message());
    services = std::move(*s);
    auto events = std::make_shared<mailbox>(n.create_mailbox());
    n.monitor_nodes(*events);
    log_node_events(events);
    std::cout << "ready " << n.name().text() << std::endl;
  });

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    std::cerr << "erlnode-serve: " << (sig == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping"
              << std::endl;
    n.stop();
    io.stop();
  });
  run_with_busy_poll(io, opts->busy_poll);
  return rc;
}

// erlnode-serve: a ready C++ node. Joins (or starts) epmd, prints "ready <node>" once it accepts
// connections, and serves registered processes:
//   echo: {Pid, Msg} sends Msg back to Pid; gen_server:call(echo, Req) replies Req.
//   sink: counts messages; {sink_report, Pid} sends {sink_count, N} to Pid and resets.
// Logs connections and errors on stderr; exits cleanly on SIGINT/SIGTERM.
#include <erlnode/node.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

namespace asio = boost::asio;
using namespace erlnode;

namespace {

void usage() {
  std::cerr << "usage: erlnode-serve --sname N | --name N [--cookie C] [--hidden|--visible]\n"
               "                     [--epmd-port P] [--no-start-epmd] [--verbose]\n";
}

// Serves one registered mailbox with `on_message` until the node stops.
template <class F>
void serve(mailbox& mb, F on_message) {
  mb.async_receive([&mb, on_message](std::error_code ec, term msg) mutable {
    if (ec) return;  // node stopped
    on_message(mb, msg);
    serve(mb, on_message);
  });
}

// {'$gen_call', {From, Tag}, Request}: returns From, Tag and Request.
bool gen_call(const term& msg, const pid*& from, const term*& tag, const term*& req) {
  auto* t = msg.get_if<tuple>();
  if (!t || t->size() != 3 || !(*t)[0].is_atom(atoms::gen_call)) return false;
  auto* f = (*t)[1].get_if<tuple>();
  if (!f || f->size() != 2 || !(*f)[0].is_pid()) return false;
  from = (*f)[0].get_if<pid>();
  tag = &(*f)[1];
  req = &(*t)[2];
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  node_options o;
  o.start_epmd = true;  // like erl: start an epmd when none answers
  bool verbose = false;
  std::string name;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--sname" || a == "-sname") {
      name = next();
      o.long_names = false;
    } else if (a == "--name" || a == "-name") {
      name = next();
      o.long_names = true;
    } else if (a == "--cookie" || a == "-setcookie") {
      o.cookie = next();
    } else if (a == "--hidden") {
      o.hidden = true;
    } else if (a == "--visible") {
      o.hidden = false;
    } else if (a == "--epmd-port") {
      o.epmd_port = static_cast<std::uint16_t>(std::stoi(next()));
    } else if (a == "--no-start-epmd") {
      o.start_epmd = false;
    } else if (a == "--verbose") {
      verbose = true;
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      usage();
      return 2;
    }
  }
  if (name.empty()) {
    usage();
    return 2;
  }
  o.name = name;
  o.logger = [verbose](log_level l, std::string_view s) {
    if (l == log_level::debug && !verbose) return;
    std::cerr << "erlnode-serve: " << s << std::endl;
  };

  asio::io_context io(1);
  node n(io.get_executor(), o);
  int rc = 0;
  // Mailboxes are made once the node is started: their pids carry the creation epmd gives.
  std::optional<mailbox> echo, sink, events;
  std::uint64_t count = 0;
  n.async_start([&](std::error_code ec) {
    if (ec) {
      std::cerr << "erlnode-serve: cannot start: " << ec.message() << std::endl;
      rc = 1;
      n.stop();
      io.stop();
      return;
    }
    echo = n.create_mailbox(atom("echo")).value();
    serve(*echo, [](mailbox& mb, const term& msg) {
      const pid* from;
      const term *tag, *req;
      if (gen_call(msg, from, tag, req)) {
        mb.send(*from, term(tuple{*tag, *req}));
        return;
      }
      if (auto* t = msg.get_if<tuple>(); t && t->size() == 2 && (*t)[0].is_pid())
        mb.send((*t)[0].as<pid>(), (*t)[1]);
    });
    sink = n.create_mailbox(atom("sink")).value();
    serve(*sink, [&count](mailbox& mb, const term& msg) {
      if (auto* t = msg.get_if<tuple>();
          t && t->size() == 2 && (*t)[0].is_atom(atom("sink_report")) && (*t)[1].is_pid()) {
        mb.send((*t)[1].as<pid>(), term(tuple{atom("sink_count"), count}));
        count = 0;
        return;
      }
      ++count;
    });
    events = n.create_mailbox();
    n.monitor_nodes(*events);
    serve(*events, [](mailbox&, const term& msg) {
      std::cerr << "erlnode-serve: " << to_string(msg) << std::endl;
    });
    std::cout << "ready " << n.name().text() << std::endl;
  });

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    std::cerr << "erlnode-serve: stopping" << std::endl;
    n.stop();
    io.stop();
  });
  io.run();
  return rc;
}

// erlnode-call: erl_call's command line and output, on erlnode. See README.md.
//
// The order of work is erl_call's: options (and the -timeout alarm), the -m source, connect
// (starting the node with -s), -q, -m's compile, -e, then -a; each request is a rex "C-node"
// call {Self, {call, M, F, A, GroupLeader}} answered by {rex, Result}.
#include "apply_args.hpp"
#include "client.hpp"
#include "options.hpp"
#include "result_print.hpp"

#include <erlnode/epmd/client.hpp>
#include <erlnode/epmd/protocol.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <netdb.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <vector>

extern char** environ;

namespace asio = boost::asio;
using namespace erlnode;
using namespace erlnode::call_tool;

namespace {

constexpr int exit_rpc_failed = 255;  // erl_call's exit(-1)
std::string prog = "erlnode-call";

struct host_info {
  std::string canonical;  // what gethostbyname's h_name would say
  std::string address;    // first IPv4 address, as text
};

std::optional<host_info> resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_CANONNAME;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || !res) return std::nullopt;
  host_info hi;
  hi.canonical = res->ai_canonname ? res->ai_canonname : host;
  char buf[64];
  auto* sin = reinterpret_cast<sockaddr_in*>(res->ai_addr);
  if (::inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) hi.address = buf;
  ::freeaddrinfo(res);
  return hi;
}

// Short names keep the host up to the first dot (as erl_call does, IP literals included).
std::string format_host(const std::string& h, bool long_names) {
  if (long_names) return h;
  return h.substr(0, h.find('.'));
}

// This host as erl_call names it: the canonical name of gethostname() (or that name itself
// when it does not resolve), short or long.
std::optional<std::string> own_host_name(bool long_names) {
  std::array<char, 256> hn{};
  if (::gethostname(hn.data(), hn.size() - 1) != 0) return std::nullopt;
  if (auto hi = resolve(hn.data())) return format_host(hi->canonical, long_names);
  return format_host(hn.data(), long_names);
}

std::string read_all_stdin() {
  return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// ~/.erlang.cookie's first word, as ei reads it when no -c is given; "" if there is none.
std::string default_cookie() {
  const char* home = std::getenv("HOME");
  if (!home) return "";
  std::ifstream f(std::string(home) + "/.erlang.cookie");
  std::string c;
  if (f) f >> c;
  return c;
}

// erl_call encodes Mod, Fun and file names as Latin-1 text: each byte one character.
atom to_atom(const std::string& s) {
  if (auto a = atom::make_latin1(s)) return *a;
  return atom("");
}

// -m: the name after "-module(" in the source, as erl_call finds it.
std::optional<std::string> module_name(const std::string& src) {
  auto p = src.find("-module(");
  if (p == std::string::npos) return std::nullopt;
  p += 8;
  while (p < src.size() && src[p] == ' ') ++p;
  auto e = p;
  while (e < src.size() && (std::isalnum(static_cast<unsigned char>(src[e])) || src[e] == '_')) ++e;
  return src.substr(p, e - p);
}

// -s: starts `erl -detached` for the node (erl_call waits for a callback from the new node;
// we poll the connection instead).
bool start_node(const options& o, const std::string& alive) {
  std::string erl = o.script.value_or("erl");
  std::vector<std::string> args{erl, "-noinput", "-detached", o.long_names ? "-name" : "-sname",
                                alive};
  if (o.cookie) {
    args.push_back("-setcookie");
    args.push_back(*o.cookie);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  if (::posix_spawnp(&child, erl.c_str(), nullptr, nullptr, argv.data(), environ) != 0)
    return false;
  int status = 0;
  ::waitpid(child, &status, 0);  // -detached: erl returns once the node is launched
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

struct target {
  std::string node;          // name@host ("" with -address)
  std::string host_address;  // IP to dial
  std::optional<std::uint16_t> port;
};

// PORT_PLEASE2 to the epmd at `ip`, with the sans-I/O codec (the epmd client's resolver
// would start a thread, which costs more than the lookup).
asio::awaitable<std::optional<std::uint16_t>> port_please(const std::string& ip,
                                                          const std::string& alive) {
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(ip, ec);
  auto req = epmd::encode(epmd::request(epmd::port_please2_request{alive}));
  if (ec || !req) co_return std::nullopt;
  asio::ip::tcp::socket s(ex);
  co_await s.async_connect(asio::ip::tcp::endpoint(addr, epmd::port_from_env()),
                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return std::nullopt;
  co_await asio::async_write(s, asio::buffer(*req), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return std::nullopt;
  epmd::port2_reply_parser parser;
  std::vector<std::uint8_t> buf(512);
  for (;;) {
    std::size_t n = co_await s.async_read_some(asio::buffer(buf),
                                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return std::nullopt;
    std::span<const std::uint8_t> in(buf.data(), n);
    auto st = parser.feed(in);
    if (!st) co_return std::nullopt;
    if (*st == epmd::status::complete) break;
  }
  const auto& r = parser.get();
  if (r.result != 0 || !r.node) co_return std::nullopt;
  co_return r.node->port;
}

// Looks the port up in the target host's epmd (unless -address gave it) and connects.
asio::awaitable<std::optional<asio::ip::tcp::socket>> dial(const target& t) {
  auto ex = co_await asio::this_coro::executor;
  boost::system::error_code ec;
  std::uint16_t port = 0;
  if (t.port) {
    port = *t.port;
  } else {
    auto p = co_await port_please(t.host_address, t.node.substr(0, t.node.find('@')));
    if (!p) co_return std::nullopt;
    port = *p;
  }
  asio::ip::tcp::socket s(ex);
  auto addr = asio::ip::make_address(t.host_address, ec);
  if (ec) co_return std::nullopt;
  co_await s.async_connect(asio::ip::tcp::endpoint(addr, port),
                           asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return std::nullopt;
  co_return std::optional<asio::ip::tcp::socket>(std::move(s));
}

asio::awaitable<std::shared_ptr<hidden_client>> connect(const client_config& cfg, const target& t) {
  auto ex = co_await asio::this_coro::executor;
  auto s = co_await dial(t);
  if (!s) co_return nullptr;
  auto c = std::make_shared<hidden_client>(ex, cfg);
  auto down = co_await c->handshake(std::move(*s), t.node);
  if (down) co_return nullptr;
  co_return c;
}

// One rex call. With fetch_stdout, {rex_stdout, Data} messages are written to stdout as
// they come. nullopt: the connection went down first, or an unexpected message came (ei_rpc
// fails the same way).
// (GCC 12 miscompiles string literals inside co_await expressions: requests are built in
// plain functions.)
struct mfa {
  atom m, f;
  term args;
};
mfa make_mfa(const char* m, const char* f, term args) {
  return {atom(m), atom(f), std::move(args)};
}
term rex_request(const pid& self, const mfa& x, bool fetch_stdout) {
  term gl = atom(fetch_stdout ? "send_stdout_to_caller" : "user");
  return tuple{self, tuple{atom("call"), x.m, x.f, x.args, gl}};
}
bool is_tagged(const tuple& t, const char* tag) { return t[0].is_atom(atom(tag)); }

asio::awaitable<std::optional<term>> rex_call(hidden_client& c, mfa x, bool fetch_stdout) {
  term req = rex_request(c.self(), x, fetch_stdout);
  const atom rex = make_mfa("rex", "rex", term()).m;
  if (c.send_to_name(rex, req)) co_return std::nullopt;
  for (;;) {
    auto msg = co_await c.receive();
    if (!msg) co_return std::nullopt;
    auto* t = msg->get_if<tuple>();
    if (!t || t->size() != 2 || !(*t)[0].is_atom()) co_return std::nullopt;
    if (fetch_stdout && is_tagged(*t, "rex_stdout")) {
      if (auto* b = (*t)[1].get_if<binary>()) {
        // erl_call prints it as a C string: up to the first NUL byte.
        auto v = b->view();
        std::fwrite(v.data(), 1, std::min(v.size(), v.find('\0')), stdout);
        continue;
      }
      co_return std::nullopt;
    }
    if (!is_tagged(*t, "rex")) co_return std::nullopt;
    co_return (*t)[1];
  }
}

void print_term(const term& t) {
  std::string out;
  print_result(t, out);
  std::fwrite(out.data(), 1, out.size(), stdout);
}

asio::awaitable<int> run(options o, std::string module_src) {
  auto ex = co_await asio::this_coro::executor;

  // Our own name: c17 (or c<time%997> with -r) at this host, as erl_call names itself.
  auto own = own_host_name(o.long_names);
  if (!own) {
    std::fprintf(stderr, "%s: failed to get host name: %d\n", prog.c_str(), errno);
    co_return 1;
  }
  std::string own_host = *own;
  std::string hidden =
      o.hidden.value_or("c" + std::to_string(o.random_name ? std::time(nullptr) % 997 : 17));

  client_config cfg;
  cfg.self_node = hidden + "@" + own_host;
  cfg.creation = static_cast<std::uint32_t>(std::time(nullptr) + 1);
  cfg.cookie = o.cookie ? *o.cookie : default_cookie();

  // The node to call: Node@Host (Host: ours when not given), or -address.
  target t;
  std::string host;
  if (o.port != -1) {
    host = o.address_host.value_or(own_host);
    t.port = static_cast<std::uint16_t>(o.port);
  } else if (auto at = o.node->find('@'); at == std::string::npos) {
    host = own_host;
  } else {
    host = o.node->substr(at + 1);
  }
  auto hi = resolve(host);
  if (!hi) {
    std::fprintf(stderr, "%s: can't ei_gethostbyname(%s)\n", prog.c_str(), host.c_str());
    co_return 1;
  }
  t.host_address = hi->address;
  std::string alive;
  if (o.port == -1) {
    alive = o.node->substr(0, o.node->find('@'));
    t.node = alive + "@" + format_host(hi->canonical, o.long_names);
  }
  std::string where = o.port == -1 ? t.node
                                   : "with address \"" + o.address_host.value_or("") + ":" +
                                         std::to_string(o.port) + "\"";

  auto c = co_await connect(cfg, t);
  if (!c && o.start && !o.halt && o.port == -1) {
    if (!start_node(o, alive)) {
      std::fprintf(stderr, "%s: unable to start node %s\n", prog.c_str(), t.node.c_str());
      co_return 1;
    }
    asio::steady_timer pause(ex);
    for (int i = 0; !c && i < 100; ++i) {  // erl_call waits up to 10 s for a new node
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::use_awaitable);
      c = co_await connect(cfg, t);
    }
  }
  if (!c) {
    if (o.halt) co_return 0;  // nothing to halt
    std::fprintf(stderr, "%s: failed to connect to node %s\n", prog.c_str(), where.c_str());
    co_return 1;
  }

  if (o.halt) {
    // erlang:halt() never answers: wait until the node drops the connection.
    auto halt = make_mfa("erlang", "halt", list{});
    co_await rex_call(*c, halt, false);
    co_return 0;
  }
  if (o.verbose)
    std::fprintf(stderr, "%s: we are now connected to node %s\n", prog.c_str(),
                 o.port == -1 ? ("\"" + t.node + "\"").c_str() : where.c_str());

  if (o.module) {
    if (auto name = module_name(module_src)) {
      std::string file = *name + ".erl";
      auto src = binary(std::string_view(module_src));
      auto write = make_mfa("file", "write_file", list{term(std::string_view(file)), term(src)});
      if (!co_await rex_call(*c, write, false)) {
        std::fprintf(stderr, "%s: can't write to source file %s\n", prog.c_str(), file.c_str());
        co_return 1;
      }
      auto compile = make_mfa("c", "c", list{to_atom(file), list{}});
      if (!co_await rex_call(*c, compile, false))
        std::fprintf(stderr, "%s: can't compile file %s\n", prog.c_str(), file.c_str());
    }
  }

  if (o.eval) {
    std::string in = read_all_stdin();
    auto eval = make_mfa("erl_eval", "eval_str", list{binary(std::string_view(in))});
    auto r = co_await rex_call(*c, eval, o.fetch_stdout);
    if (!r) {
      std::fprintf(stderr, "%s: evaluating input failed: %s\n", prog.c_str(), in.c_str());
      co_return 1;
    }
    if (o.print_result) print_term(*r);
  }

  if (o.apply) {
    auto parts = split_apply(*o.apply);
    if (!parts) {
      std::fprintf(stderr, "%s: wrong format of apply string (1)\n", prog.c_str());
      co_return 1;
    }
    if (o.verbose)
      std::fprintf(stderr, "%s: module = %s, function = %s, args = %s\n", prog.c_str(),
                   parts->module.c_str(), parts->function.c_str(), parts->args.c_str());
    auto args = read_apply_args(parts->args);
    if (!args) {
      std::fprintf(stderr,
                   "%s: Failed to parse arguments (%s),\n"
                   "see the documentation for allowed term types.\n"
                   "Arguments: %s\n",
                   prog.c_str(), args.error().message().c_str(), parts->args.c_str());
      co_return exit_rpc_failed;
    }
    mfa call{to_atom(parts->module), to_atom(parts->function), *args};
    auto r = co_await rex_call(*c, call, o.fetch_stdout);
    if (!r) co_return exit_rpc_failed;
    if (o.print_result) print_term(*r);
  }
  c->close();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (argc > 0) prog = argv[0];
  auto parsed = parse_options(args, prog);
  if (!parsed.opts) return parsed.exit_code;
  options& o = *parsed.opts;
  {
    auto slash = prog.rfind('/');
    if (slash != std::string::npos) prog = prog.substr(slash + 1);
  }
  // -timeout: as erl_call, SIGALRM ends the process wherever it is.
  if (o.timeout_s > 0) ::alarm(static_cast<unsigned>(o.timeout_s));

  std::string module_src;
  if (o.module) module_src = read_all_stdin();

  if (o.verbose || o.debug)
    std::fprintf(stderr, "%s: node = %s\ncookie = %s\nflags = %s%s%s\napply = %s\n", prog.c_str(),
                 o.node.value_or("").c_str(), o.cookie.value_or("").c_str(),
                 o.start ? "start " : "", o.verbose ? "verbose " : "", o.debug ? "debug" : "",
                 o.apply.value_or("").c_str());

  if (!o.node && o.port == -1) {
    print_usage(argv[0]);
    return 0;
  }
  if (o.dynamic_name) {
    std::fprintf(stderr, "%s: -R (a name chosen by the peer) is not supported; use -r\n",
                 prog.c_str());
    return 1;
  }
  if (o.debug)
    std::fprintf(stderr, "%s: -d is not supported (output is not redirected)\n", prog.c_str());

  asio::io_context io(1);
  int code = 1;
  asio::co_spawn(io, run(std::move(o), std::move(module_src)), [&](std::exception_ptr e, int rc) {
    code = e ? 1 : rc;
    io.stop();
  });
  io.run();
  std::fflush(stdout);
  return code;
}

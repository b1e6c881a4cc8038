// erlnode-call: erl_call's command line and output, on erlnode. See README.md.
//
// The order of work is erl_call's: options (and the -timeout alarm), the -m source, connect
// (starting the node with -s), -q, -m's compile, -e, then -a; each request is a rex "C-node"
// call {Self, {call, M, F, A, GroupLeader}} answered by {rex, Result}.
#include "apply_args.hpp"
#include "client.hpp"
#include "options.hpp"
#include "result_print.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace erlnode;
using namespace erlnode::call_tool;

namespace {

constexpr int exit_rpc_failed = 255;  // erl_call's exit(-1)
std::string prog = "erlnode-call";

struct host_info {
  std::string canonical;  // gethostbyname's h_name
  in_addr address{};      // its first IPv4 address
};

// gethostbyname, as ei_gethostbyname: NSS (files, DNS...) and the same canonical name
// erl_call sees. Each name is looked up once per process (erl_call looks its own host up
// twice and the target's host once more when it connects).
std::optional<host_info> resolve(const std::string& host) {
  static std::vector<std::pair<std::string, std::optional<host_info>>> seen;
  for (const auto& [name, hi] : seen)
    if (name == host) return hi;
  std::optional<host_info> found;
  std::vector<char> buf(2048);
  hostent he{};
  hostent* res = nullptr;
  int herr = 0;
  int rc;
  while ((rc = ::gethostbyname_r(host.c_str(), &he, buf.data(), buf.size(), &res, &herr)) ==
             ERANGE &&
         buf.size() < (1u << 20))
    buf.resize(buf.size() * 2);
  if (rc == 0 && res && res->h_addrtype == AF_INET && res->h_addr_list[0]) {
    host_info hi;
    hi.canonical = res->h_name ? res->h_name : host;
    std::memcpy(&hi.address, res->h_addr_list[0], sizeof hi.address);
    found = hi;
  }
  seen.emplace_back(host, found);
  return found;
}

// Short names keep the host up to the first dot (as erl_call does, IP literals included).
std::string format_host(const std::string& h, bool long_names) {
  if (long_names) return h;
  return h.substr(0, h.find('.'));
}

// The whole of a file descriptor's input.
std::string read_all(int fd) {
  std::string s;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    s.append(buf, static_cast<std::size_t>(n));
  }
  return s;
}

// ~/.erlang.cookie's first word, as ei reads it when no -c is given; "" if there is none.
std::string default_cookie() {
  const char* home = std::getenv("HOME");
  if (!home) return "";
  int fd = ::open((std::string(home) + "/.erlang.cookie").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  std::string text = read_all(fd);
  ::close(fd);
  auto blank = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  std::size_t b = 0;
  while (b < text.size() && blank(text[b])) ++b;
  std::size_t e = b;
  while (e < text.size() && !blank(text[e])) ++e;
  return text.substr(b, e - b);
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

// Standard output, unbuffered: everything goes out in one write(2) per piece, and stdio
// need not look at what fd 1 is.
void write_out(const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(1, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

struct target {
  std::string node;  // name@host ("" with -address)
  in_addr address{};
  std::optional<std::uint16_t> port;
};

// Looks the port up in the target host's epmd (unless -address gave it), connects and
// shakes hands.
std::unique_ptr<blocking_client> connect(const client_config& cfg, const target& t) {
  std::uint16_t port = 0;
  if (t.port) {
    port = *t.port;
  } else {
    auto p = port_please(t.address, t.node.substr(0, t.node.find('@')));
    if (!p) return nullptr;
    port = *p;
  }
  int fd = tcp_connect(t.address, port);
  if (fd < 0) return nullptr;
  auto c = std::make_unique<blocking_client>(cfg);
  if (!c->handshake(fd, t.node)) return nullptr;
  return c;
}

// One rex call. With fetch_stdout, {rex_stdout, Data} messages are written to stdout as
// they come. nullopt: the connection went down first, or an unexpected message came (ei_rpc
// fails the same way).
struct mfa {
  atom m, f;
  term args;
};
term rex_request(const pid& self, const mfa& x, bool fetch_stdout) {
  term gl = atom(fetch_stdout ? "send_stdout_to_caller" : "user");
  return tuple{self, tuple{atom("call"), x.m, x.f, x.args, gl}};
}
bool is_tagged(const tuple& t, const char* tag) { return t[0].is_atom(atom(tag)); }

std::optional<term> rex_call(blocking_client& c, const mfa& x, bool fetch_stdout) {
  if (!c.send_to_name(atom("rex"), rex_request(c.self(), x, fetch_stdout))) return std::nullopt;
  for (;;) {
    auto msg = c.receive();
    if (!msg) return std::nullopt;
    auto* t = msg->get_if<tuple>();
    if (!t || t->size() != 2 || !(*t)[0].is_atom()) return std::nullopt;
    if (fetch_stdout && is_tagged(*t, "rex_stdout")) {
      if (auto* b = (*t)[1].get_if<binary>()) {
        // erl_call prints it as a C string: up to the first NUL byte.
        auto v = b->view();
        write_out(v.data(), std::min(v.size(), v.find('\0')));
        continue;
      }
      return std::nullopt;
    }
    if (!is_tagged(*t, "rex")) return std::nullopt;
    return (*t)[1];
  }
}

void print_term(const term& t) {
  std::string out;
  print_result(t, out);
  write_out(out.data(), out.size());
}

int run(options& o, const std::string& module_src) {
  // Our own host, as erl_call names it: the canonical name of gethostname(), short or long;
  // when that does not resolve, the name itself (and localhost's address for it).
  std::array<char, 256> hn{};
  if (::gethostname(hn.data(), hn.size() - 1) != 0) {
    std::fprintf(stderr, "%s: failed to get host name: %d\n", prog.c_str(), errno);
    return 1;
  }
  std::optional<host_info> own_hi = resolve(hn.data());
  const bool localhost_fallback = !own_hi;
  std::string own_host = format_host(own_hi ? own_hi->canonical : hn.data(), o.long_names);

  // Our own name: c17 (or c<time%997> with -r) at this host, as erl_call names itself; with
  // -R (and no -h) the peer names us.
  client_config cfg;
  cfg.dynamic_name = o.dynamic_name && !o.hidden;
  std::string hidden =
      o.hidden.value_or("c" + std::to_string(o.random_name ? std::time(nullptr) % 997 : 17));
  cfg.self_host = own_host;
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
  std::optional<host_info> hi;
  if (localhost_fallback && host == own_host) {
    // As erl_call: our host does not resolve, so its name stays as it is, at localhost.
    hi = resolve("localhost");
    if (hi) hi->canonical = own_host;
  } else {
    hi = resolve(host);
  }
  if (!hi) {
    std::fprintf(stderr, "%s: can't ei_gethostbyname(%s)\n", prog.c_str(), host.c_str());
    return 1;
  }
  t.address = hi->address;
  std::string alive;
  if (o.port == -1) {
    alive = o.node->substr(0, o.node->find('@'));
    t.node = alive + "@" + format_host(hi->canonical, o.long_names);
  }
  std::string where = o.port == -1 ? t.node
                                   : "with address \"" + o.address_host.value_or("") + ":" +
                                         std::to_string(o.port) + "\"";

  auto c = connect(cfg, t);
  if (!c && o.start && !o.halt && o.port == -1) {
    if (!start_node(o, alive)) {
      std::fprintf(stderr, "%s: unable to start node %s\n", prog.c_str(), t.node.c_str());
      return 1;
    }
    for (int i = 0; !c && i < 100; ++i) {  // erl_call waits up to 10 s for a new node
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      c = connect(cfg, t);
    }
  }
  if (!c) {
    if (o.halt) return 0;  // nothing to halt
    std::fprintf(stderr, "%s: failed to connect to node %s\n", prog.c_str(), where.c_str());
    return 1;
  }

  if (o.halt) {
    // erlang:halt() never answers: wait until the node drops the connection.
    rex_call(*c, mfa{atom("erlang"), atom("halt"), list{}}, false);
    return 0;
  }
  if (o.verbose)
    std::fprintf(stderr, "%s: we are now connected to node %s\n", prog.c_str(),
                 o.port == -1 ? ("\"" + t.node + "\"").c_str() : where.c_str());

  if (o.module) {
    if (auto name = module_name(module_src)) {
      std::string file = *name + ".erl";
      auto src = binary(std::string_view(module_src));
      mfa write{atom("file"), atom("write_file"), list{term(std::string_view(file)), term(src)}};
      if (!rex_call(*c, write, false)) {
        std::fprintf(stderr, "%s: can't write to source file %s\n", prog.c_str(), file.c_str());
        return 1;
      }
      mfa compile{atom("c"), atom("c"), list{to_atom(file), list{}}};
      if (!rex_call(*c, compile, false))
        std::fprintf(stderr, "%s: can't compile file %s\n", prog.c_str(), file.c_str());
    }
  }

  if (o.eval) {
    std::string in = read_all(0);
    mfa eval{atom("erl_eval"), atom("eval_str"), list{binary(std::string_view(in))}};
    auto r = rex_call(*c, eval, o.fetch_stdout);
    if (!r) {
      std::fprintf(stderr, "%s: evaluating input failed: %s\n", prog.c_str(), in.c_str());
      return 1;
    }
    if (o.print_result) print_term(*r);
  }

  if (o.apply) {
    auto parts = split_apply(*o.apply);
    if (!parts) {
      std::fprintf(stderr, "%s: wrong format of apply string (1)\n", prog.c_str());
      return 1;
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
      return exit_rpc_failed;
    }
    mfa call{to_atom(parts->module), to_atom(parts->function), *args};
    auto r = rex_call(*c, call, o.fetch_stdout);
    if (!r) return exit_rpc_failed;
    if (o.print_result) print_term(*r);
  }
  // Done: the socket closes with the process (no orderly shutdown to wait for).
  return 0;
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
  if (o.module) module_src = read_all(0);

  if (o.verbose || o.debug)
    std::fprintf(stderr, "%s: node = %s\ncookie = %s\nflags = %s%s%s\napply = %s\n", prog.c_str(),
                 o.node.value_or("").c_str(), o.cookie.value_or("").c_str(),
                 o.start ? "start " : "", o.verbose ? "verbose " : "", o.debug ? "debug" : "",
                 o.apply.value_or("").c_str());

  if (!o.node && o.port == -1) {
    print_usage(argv[0]);
    return 0;
  }
  if (o.debug)
    std::fprintf(stderr, "%s: -d is not supported (output is not redirected)\n", prog.c_str());

  int code = 1;
  try {
    code = run(o, module_src);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", prog.c_str(), e.what());
  }
  // Done: no static destructors (nothing of ours needs one) and no lingering; the kernel
  // closes the connection.
  std::fflush(stdout);
  std::_Exit(code);
}

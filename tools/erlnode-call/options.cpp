#include "options.hpp"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace erlnode::call_tool {
namespace {

struct usage_exit {
  int code;
};

[[noreturn]] void missing(const std::string& prog, const char* sw) {
  std::fprintf(stderr, "Missing argument(s) for '%s '.\n", sw);
  print_usage(prog);
  throw usage_exit{1};
}
[[noreturn]] void illegal(const std::string& prog, const std::string& sw) {
  std::fprintf(stderr, "Illegal argument '%s'.\n", sw.c_str());
  print_usage(prog);
  throw usage_exit{1};
}

}  // namespace

void print_usage(const std::string& p) {
  const char* n = p.c_str();
  std::fprintf(stderr,
               "\nUsage: %s [-[demqrsv]] [-c Cookie] [-h HiddenName] \n"
               "            [-x ErlScript] [-a [Mod [Fun [Args]]]] [-timeout Secs]\n"
               "            (-n Node | -sname Node | -name Node | -address [HOSTNAME:]PORT)\n\n",
               n);
  std::fprintf(stderr,
               "  -a 'Mod [Fun [Args]]'  call Mod:Fun(Args...) on the node and print the result\n"
               "                         (Fun defaults to start, Args to []), e.g.\n"
               "                         -a 'lists seq [1,10]'\n"
               "  -c Cookie      the cookie (default: ~/.erlang.cookie)\n"
               "  -e             evaluate the expressions read from stdin (\"X=1, X+1.\");\n"
               "                 prints {ok, Value} or {error, Text}\n"
               "  -m             read a module's source from stdin, compile and load it there\n"
               "  -fetch_stdout  print the called code's standard output here\n"
               "  -no_result_term  do not print the result\n"
               "  -h Name        our own (hidden) node name (default c17)\n"
               "  -r             a random own name\n"
               "  -R             a name the node chooses for us (without -h)\n"
               "  -sname Node    the node, started with erl -sname\n"
               "  -name Node     the node, started with erl -name (-n: the same)\n"
               "  -address [Host:]Port  the node's distribution port, without epmd\n"
               "  -timeout Secs  give up (killed by SIGALRM) after Secs seconds\n"
               "  -q             halt the node\n"
               "  -s             start the node (erl -detached) if it is not running\n"
               "  -x Script      the erl start script for -s (default erl)\n"
               "  -v             verbose: what is done, on stderr\n"
               "  (%s is erlnode's erl_call; -d is not supported)\n",
               n);
}

parse_outcome parse_options(const std::vector<std::string>& args, const std::string& prog) {
  options o;
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&](const char* sw) -> const std::string& {
        if (i + 1 >= args.size()) missing(prog, sw);
        return args[++i];
      };
      if (a.empty() || a[0] != '-') illegal(prog, a);
      if (a == "-sname") {
        o.node = value("-sname");
        o.long_names = false;
      } else if (a == "-name") {
        o.node = value("-name");
        o.long_names = true;
      } else if (a == "-address") {
        std::string v = value("-address");
        auto colon = v.find(':');
        std::string port_text = colon == std::string::npos ? v : v.substr(colon + 1);
        o.port = std::strtol(port_text.c_str(), nullptr, 10);
        if (colon != std::string::npos && colon > 0) o.address_host = v.substr(0, colon);
        if (o.port < 1 || o.port > 65535) illegal(prog, "-address");
      } else if (a == "-timeout") {
        long t = std::strtol(value("-timeout").c_str(), nullptr, 10);
        if (t <= 0 || t >= (1L << 20)) illegal(prog, "-timeout");
        o.timeout_s = t;
      } else if (a == "-fetch_stdout") {
        o.fetch_stdout = true;
      } else if (a == "-no_result_term") {
        o.print_result = false;
      } else if (a.size() != 2) {
        illegal(prog, a);
      } else {
        switch (a[1]) {
          case 's':
            o.start = true;
            break;
          case 'q':
            o.halt = true;
            break;
          case 'v':
            o.verbose = true;
            break;
          case 'd':
            o.debug = true;
            break;
          case 'r':
            o.random_name = true;
            break;
          case 'R':
            o.dynamic_name = true;
            break;
          case 'e':
            o.eval = true;
            break;
          case 'm':
            o.module = true;
            break;
          case 'c':
            o.cookie = value("-c");
            break;
          case 'n':
            o.node = value("-n");
            o.long_names = true;
            break;
          case 'h':
            o.hidden = value("-h");
            break;
          case 'x':
            o.script = value("-x");
            break;
          case 'a':
            o.apply = value("-a");
            break;
          case '?':
            print_usage(prog);
            throw usage_exit{0};
          default:
            illegal(prog, a);
        }
      }
    }
    // As erl_call: conflicting switches only get the usage text (and exit 0).
    if ((o.module && o.eval) || (o.port != -1 && o.start) || (o.port != -1 && o.node)) {
      print_usage(prog);
      throw usage_exit{0};
    }
  } catch (const usage_exit& e) {
    return {std::nullopt, e.code};
  }
  return {std::move(o), 0};
}

std::optional<apply_parts> split_apply(const std::string& s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  std::size_t i = 0;
  // erl_call takes Mod from the very start (leading blanks included) up to the first blank.
  while (i < s.size() && space(s[i])) ++i;
  if (i == s.size()) return std::nullopt;
  while (i < s.size() && !space(s[i])) ++i;
  apply_parts p{s.substr(0, i), "start", "[]"};
  while (i < s.size() && space(s[i])) ++i;
  if (i == s.size()) return p;
  std::size_t f = i;
  while (i < s.size() && !space(s[i])) ++i;
  p.function = s.substr(f, i - f);
  while (i < s.size() && space(s[i])) ++i;
  if (i < s.size()) p.args = s.substr(i);
  return p;
}

}  // namespace erlnode::call_tool

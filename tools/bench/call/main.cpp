// Wall time of one rpc call from the shell, the way a script makes it: a fresh process that
// connects, calls erlang:node() on a running erl node, prints the result and exits.
//   erlnode-call -c C -sname N -a 'erlang node'
//   erl_call     -c C -sname N -a 'erlang node'            (OTP's, erl_interface)
//   erl -noshell -sname x -setcookie C -eval 'io:format("~p", [rpc:call(N, erlang, node, [])])'
//       -s init stop
// Each is run N times in turn (interleaved, in rotating order, so that load drifts hit all
// three alike); JSON lines give the median, min and max in milliseconds, then a summary with
// the ratios.
//
//   erlnode_call_bench [--quick] [--n N] [--n-erl N] [--baseline PATH]
// --baseline adds another erlnode-call build (say, that of an earlier commit) as a fourth
// case, "erlnode-call-baseline", so that before and after are measured in the same run.
#include "../support/free_port.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef ERLNODE_CALL_BENCH_TOOL
#error "ERLNODE_CALL_BENCH_TOOL must name the erlnode-call executable"
#endif
#ifndef ERLNODE_CALL_BENCH_ERL_CALL
#error "ERLNODE_CALL_BENCH_ERL_CALL must name OTP's erl_call"
#endif

extern char** environ;

using erlnode::bench::free_port;

namespace {

using clock_type = std::chrono::steady_clock;

struct options {
  int n = 30;            // runs of erlnode-call and erl_call
  int n_erl = 10;        // runs of erl -eval (about a second each)
  std::string baseline;  // another erlnode-call executable to measure alongside
};

// Starts argv (PATH searched) with `env` added; stdout to `out_fd` (-1: /dev/null), stderr
// to /dev/null, stdin from /dev/null.
pid_t spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env,
            int out_fd = -1) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) envs.emplace_back(*e);
  for (const auto& e : env) {
    auto key = e.substr(0, e.find('=') + 1);
    std::erase_if(envs, [&](const std::string& x) { return x.rfind(key, 0) == 0; });
    envs.push_back(e);
  }
  std::vector<std::string> keep_argv = argv;
  std::vector<char*> a, en;
  for (auto& s : keep_argv) a.push_back(s.data());
  a.push_back(nullptr);
  for (auto& s : envs) en.push_back(s.data());
  en.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0)
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
  else
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, a[0], &fa, nullptr, a.data(), en.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

struct run_result {
  std::string out;
  int status = -1;
  double cpu_ms = 0;  // user + system time of the process
};

// Runs to the end; returns stdout, the exit status and the CPU time used.
run_result run_capture(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  int p[2];
  if (::pipe(p) != 0) throw std::runtime_error("pipe");
  pid_t pid = spawn(argv, env, p[1]);
  ::close(p[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(p[0], buf, sizeof buf)) > 0;) out.append(buf, buf + n);
  ::close(p[0]);
  int st = 0;
  rusage ru{};
  ::wait4(pid, &st, 0, &ru);
  auto ms = [](const timeval& t) { return double(t.tv_sec) * 1e3 + double(t.tv_usec) / 1e3; };
  return {out, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
          ms(ru.ru_utime) + ms(ru.ru_stime)};
}

struct sample_set {
  std::vector<double> ms;
  std::vector<double> cpu_ms;
  std::string last_out;
  int failures = 0;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void print_case(const char* name, const sample_set& s) {
  auto [lo, hi] = std::minmax_element(s.ms.begin(), s.ms.end());
  std::printf(
      "{\"bench\":\"call\",\"case\":\"%s\",\"n\":%zu,\"median_ms\":%.2f,\"min_ms\":%.2f,"
      "\"max_ms\":%.2f,\"cpu_median_ms\":%.2f,\"failures\":%d}\n",
      name, s.ms.size(), median(s.ms), s.ms.empty() ? 0.0 : *lo, s.ms.empty() ? 0.0 : *hi,
      median(s.cpu_ms), s.failures);
}

int bench(const options& o) {
  const auto started = clock_type::now();
  const std::string tag = std::to_string(::getpid());
  const std::string cookie = "callbench" + tag;
  const std::string target = "callbench" + tag;
  const int eport = free_port();
  const std::vector<std::string> env{"ERL_EPMD_PORT=" + std::to_string(eport)};

  pid_t epmd = spawn({"epmd", "-port", std::to_string(eport)}, {});
  pid_t node = -1;
  auto cleanup = [&] {
    for (pid_t p : {node, epmd})
      if (p > 0) {
        ::kill(p, SIGKILL);
        ::waitpid(p, nullptr, 0);
      }
  };
  try {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    node = spawn(
        {"erl", "-noshell", "-sname", target, "-setcookie", cookie, "-start_epmd", "false"}, env);
    const std::vector<std::string> call_args{"-c", cookie, "-sname", target, "-a", "erlang node"};
    // Ready when erl_call gets an answer.
    bool ready = false;
    for (int i = 0; i < 100 && !ready; ++i) {
      std::vector<std::string> a{ERLNODE_CALL_BENCH_ERL_CALL};
      a.insert(a.end(), call_args.begin(), call_args.end());
      ready = run_capture(a, env).status == 0;
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!ready) throw std::runtime_error("the erl node did not come up");

    struct contender {
      const char* name;
      std::vector<std::string> argv;
      int runs;
      sample_set s;
    };
    std::vector<contender> cs;
    {
      std::vector<std::string> a{ERLNODE_CALL_BENCH_TOOL};
      a.insert(a.end(), call_args.begin(), call_args.end());
      cs.push_back({"erlnode-call", a, o.n, {}});
      a[0] = ERLNODE_CALL_BENCH_ERL_CALL;
      cs.push_back({"erl_call", a, o.n, {}});
      if (!o.baseline.empty()) {
        a[0] = o.baseline;
        cs.push_back({"erlnode-call-baseline", a, o.n, {}});
      }
      cs.push_back({"erl_eval_rpc",
                    {"erl", "-noshell", "-sname", "callbencherl" + tag, "-setcookie", cookie,
                     "-start_epmd", "false", "-eval",
                     "io:format(\"~p\", [rpc:call(list_to_atom(\"" + target +
                         "@\" ++ "
                         "lists:nth(2, string:split(atom_to_list(node()), \"@\"))), erlang, node, "
                         "[])])",
                     "-s", "init", "stop"},
                    o.n_erl,
                    {}});
    }
    const int rounds = std::max(o.n, o.n_erl);
    for (int r = 0; r < rounds; ++r) {
      // The order rotates each round, so that no case always runs right after erl's start-up
      // and shutdown (which keep the machine and the target node busy for a moment).
      for (std::size_t k = 0; k < cs.size(); ++k) {
        auto& c = cs[(k + static_cast<std::size_t>(r)) % cs.size()];
        if (r >= c.runs) continue;
        auto t0 = clock_type::now();
        auto [out, st, cpu] = run_capture(c.argv, env);
        auto ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
        if (st != 0 || out.find(target) == std::string::npos) {
          ++c.s.failures;
          continue;
        }
        c.s.ms.push_back(ms);
        c.s.cpu_ms.push_back(cpu);
        c.s.last_out = out;
      }
    }
    for (const auto& c : cs) print_case(c.name, c.s);
    const double ours = median(cs[0].s.ms), theirs = median(cs[1].s.ms),
                 erl = median(cs.back().s.ms);
    const double ours_cpu = median(cs[0].s.cpu_ms), theirs_cpu = median(cs[1].s.cpu_ms);
    double load = 0;
    if (FILE* f = std::fopen("/proc/loadavg", "r")) {
      if (std::fscanf(f, "%lf", &load) != 1) load = 0;
      std::fclose(f);
    }
    std::printf(
        "{\"bench\":\"call\",\"case\":\"summary\",\"erlnode_call_vs_erl_call\":%.3f,"
        "\"erlnode_call_vs_erl_call_cpu\":%.3f,\"erlnode_call_vs_erl_eval\":%.4f,"
        "\"same_output\":%s,\"run_s\":%.1f,\"loadavg_1m\":%.2f}\n",
        theirs > 0 ? ours / theirs : 0.0, theirs_cpu > 0 ? ours_cpu / theirs_cpu : 0.0,
        erl > 0 ? ours / erl : 0.0, cs[0].s.last_out == cs[1].s.last_out ? "true" : "false",
        std::chrono::duration<double>(clock_type::now() - started).count(), load);
    std::fflush(stdout);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick") {
      o.n = 1;
      o.n_erl = 1;
    } else if (a == "--n" && i + 1 < argc) {
      o.n = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--n-erl" && i + 1 < argc) {
      o.n_erl = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--baseline" && i + 1 < argc) {
      o.baseline = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: erlnode_call_bench [--quick] [--n N] [--n-erl N] [--baseline PATH]\n");
      return 2;
    }
  }
  try {
    return bench(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "erlnode_call_bench: %s\n", e.what());
    return 1;
  }
}

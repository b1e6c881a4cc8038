// Message passing between nodes: BEAM->BEAM, BEAM->ei C node, BEAM->erlnode and
// erlnode->erlnode (two OS processes); small messages ({hello, 42, <<"world">>}) per second
// and 1 MiB binaries in MB/s, with the receiving process's CPU time per message. Prints JSON
// lines (one per path and case, then a summary with the target ratios). See README.md.
//
//   erlnode_messaging_bench [--quick] [--n-small N] [--n-bin N] [--reps R]
//   erlnode_messaging_bench --recv NAME COOKIE FLIP BUSY_POLL_US     (internal)
//   erlnode_messaging_bench --send NAME COOKIE NS NB REPS PATH=NODE  (internal)
#include "child_process.hpp"
#include "erlnode_peer.hpp"
#include "messages.hpp"

#include "../support/free_port.hpp"

#include <erlnode/node.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef ERLNODE_MSG_BENCH_ESCRIPT
#error "ERLNODE_MSG_BENCH_ESCRIPT must name messaging_beam.escript"
#endif
#ifndef ERLNODE_MSG_BENCH_EPMD
#error "ERLNODE_MSG_BENCH_EPMD must name OTP's epmd"
#endif
#ifndef ERLNODE_MSG_BENCH_EI_RECV
#error "ERLNODE_MSG_BENCH_EI_RECV must name the ei receiver executable"
#endif

namespace eb = erlnode::bench;
using namespace std::chrono_literals;

using erlnode::bench::free_port;
using erlnode::bench::port_open;

namespace {

constexpr long receiver_busy_poll_us = 20;

struct options {
  long n_small = 100'000;
  long n_bin = 100;
  int reps = 5;
  std::string self = "/proc/self/exe";
  std::string escript = "escript";
};

// "ready NODE" from a freshly started receiver.
std::string wait_ready(eb::child_process& c, const char* what) {
  for (;;) {
    auto line = c.read_line(60s);
    if (!line) throw std::runtime_error(std::string(what) + " did not get ready");
    if (line->rfind("ready ", 0) == 0) return line->substr(6);
  }
}

struct run {
  long long us = 0, cpu_us = 0, send_cpu_us = 0;
};
// (path, case) -> the fastest of the repetitions.
using results = std::map<std::pair<std::string, std::string>, run>;

// Collects "result PATH CASE US CPU" lines until the sender exits.
void collect(eb::child_process& sender, const char* what, results& out) {
  while (auto line = sender.read_line(300s)) {
    std::istringstream in(*line);
    std::string tag, path, which;
    run r;
    if (!(in >> tag >> path >> which >> r.us >> r.cpu_us >> r.send_cpu_us) || tag != "result")
      continue;
    auto [it, fresh] = out.emplace(std::pair{path, which}, r);
    if (!fresh && r.us < it->second.us) it->second = r;
  }
  if (int st = sender.wait(30s); st != 0)
    throw std::runtime_error(std::string(what) + " failed (status " + std::to_string(st) + ")");
}

double per_second(long n, const run& r) { return r.us > 0 ? n * 1e6 / r.us : 0.0; }

int drive(const options& o) {
  const auto started = std::chrono::steady_clock::now();
  std::random_device rd;
  const std::string tag = "msgb" + std::to_string(::getpid()) + "_" + std::to_string(rd() % 100000);
  const std::string cookie = "cookie_" + tag + "_" + std::to_string(rd());

  // An isolated OTP epmd; every child finds it through ERL_EPMD_PORT.
  const int eport = free_port();
  eb::child_process epmd({ERLNODE_MSG_BENCH_EPMD, "-port", std::to_string(eport)});
  for (int i = 0; !port_open(eport); ++i) {
    if (i > 500) throw std::runtime_error("epmd did not start");
    std::this_thread::sleep_for(10ms);
  }
  const std::vector<std::string> env{"ERL_EPMD_PORT=" + std::to_string(eport)};

  eb::child_process beam_recv({o.escript, ERLNODE_MSG_BENCH_ESCRIPT, "recv", tag + "_beam", cookie},
                              env);
  eb::child_process ei_recv({ERLNODE_MSG_BENCH_EI_RECV, tag + "_ei", cookie}, env);
  // The erlnode receiver polls for receiver_busy_poll_us before sleeping, as BEAM's schedulers
  // busy-wait (and as erlnode-serve does in the rpc benchmark); without it, a diagnostic path.
  const std::string bp = std::to_string(receiver_busy_poll_us);
  eb::child_process en_recv({o.self, "--recv", tag + "_en", cookie, "0", bp}, env);
  eb::child_process en_nobp({o.self, "--recv", tag + "_enb", cookie, "0", "0"}, env);
  // The same receiver with node_options::fragments the other way (a diagnostic path).
  eb::child_process en_flip({o.self, "--recv", tag + "_enf", cookie, "1", bp}, env);
  const std::string beam_node = wait_ready(beam_recv, "BEAM receiver");
  const std::string ei_node = wait_ready(ei_recv, "ei receiver");
  const std::string en_node = wait_ready(en_recv, "erlnode receiver");
  const std::string flip_node = wait_ready(en_flip, "erlnode receiver (flipped fragments)");
  const std::string nobp_node = wait_ready(en_nobp, "erlnode receiver (no busy-poll)");

  const std::string ns = std::to_string(o.n_small), nb = std::to_string(o.n_bin);
  const std::string flip_path = erlnode::node_options{}.fragments ? "beam->erlnode(no_fragments)"
                                                                  : "beam->erlnode(fragments)";
  // Repetitions alternate between the two senders (one run of every path per round), so a
  // burst of load from other processes on the machine does not fall on one path only.
  results res;
  for (int rep = 0; rep < o.reps; ++rep) {
    const std::string r = std::to_string(rep);
    eb::child_process bs(
        {o.escript, ERLNODE_MSG_BENCH_ESCRIPT, "send", tag + "_beamsend" + r, cookie, ns, nb, "1",
         "beam->beam=" + beam_node, "beam->ei=" + ei_node, "beam->erlnode=" + en_node,
         flip_path + "=" + flip_node, "beam->erlnode(no_busy_poll)=" + nobp_node},
        env);
    collect(bs, "BEAM sender", res);
    eb::child_process es(
        {o.self, "--send", tag + "_ensend" + r, cookie, ns, nb, "1", "erlnode->erlnode=" + en_node},
        env);
    collect(es, "erlnode sender", res);
  }
  en_recv.stop();
  en_flip.stop();
  en_nobp.stop();
  ei_recv.stop();
  beam_recv.stop();
  epmd.stop();

  // Payload bytes per message: the small tuple's external format (22 bytes), or 1 MiB.
  auto rate = [&](const std::string& path, const char* which) -> double {
    auto it = res.find({path, which});
    if (it == res.end()) return 0.0;
    return per_second(std::string(which) == "small" ? o.n_small : o.n_bin, it->second);
  };
  for (const std::string& path :
       {std::string("beam->beam"), std::string("beam->ei"), std::string("beam->erlnode"), flip_path,
        std::string("beam->erlnode(no_busy_poll)"), std::string("erlnode->erlnode")}) {
    for (const char* which : {"small", "bin_1mb"}) {
      auto it = res.find({path, which});
      if (it == res.end()) continue;
      const run& r = it->second;
      const bool small = std::strcmp(which, "small") == 0;
      const long n = small ? o.n_small : o.n_bin;
      const double mps = per_second(n, r);
      const double bytes = small ? 22.0 : static_cast<double>(eb::bin_1mb_size);
      std::printf(
          "{\"bench\":\"messaging\",\"case\":\"%s\",\"path\":\"%s\",\"n\":%ld,\"reps\":%d,"
          "\"elapsed_us\":%lld,\"msgs_per_s\":%.1f,\"mb_per_s\":%.2f,"
          "\"recv_cpu_us_per_msg\":%.3f,\"send_cpu_us_per_msg\":%.3f}\n",
          which, path.c_str(), n, o.reps, r.us, mps, mps * bytes / (1 << 20),
          static_cast<double>(r.cpu_us) / static_cast<double>(n),
          static_cast<double>(r.send_cpu_us) / static_cast<double>(n));
    }
  }
  struct target {
    const char* name;
    double ratio, need;
  };
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const target targets[] = {
      {"beam->erlnode/beam->ei small",
       ratio(rate("beam->erlnode", "small"), rate("beam->ei", "small")), 1.0},
      {"beam->erlnode/beam->ei bin_1mb",
       ratio(rate("beam->erlnode", "bin_1mb"), rate("beam->ei", "bin_1mb")), 1.0},
      {"erlnode->erlnode/beam->beam small",
       ratio(rate("erlnode->erlnode", "small"), rate("beam->beam", "small")), 4.0},
      {"erlnode->erlnode/beam->beam bin_1mb",
       ratio(rate("erlnode->erlnode", "bin_1mb"), rate("beam->beam", "bin_1mb")), 1.5},
  };
  std::string t;
  bool all = true;
  for (const auto& x : targets) {
    char b[200];
    std::snprintf(b, sizeof b, "%s{\"ratio\":\"%s\",\"value\":%.2f,\"need\":%.1f,\"met\":%s}",
                  t.empty() ? "" : ",", x.name, x.ratio, x.need,
                  x.ratio >= x.need ? "true" : "false");
    t += b;
    all &= x.ratio >= x.need;
  }
  // The machine is shared: the load average tells how much the numbers can be trusted.
  double load = 0;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &load) != 1) load = 0;
    std::fclose(f);
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "{\"bench\":\"messaging\",\"case\":\"summary\",\"n_small\":%ld,\"n_bin\":%ld,\"reps\":%d,"
      "\"targets\":[%s],\"all_met\":%s,\"receiver_busy_poll_us\":%ld,\"run_s\":%.1f,"
      "\"loadavg_1m\":%.2f}\n",
      o.n_small, o.n_bin, o.reps, t.c_str(), all ? "true" : "false", receiver_busy_poll_us, secs,
      load);
  std::fflush(stdout);
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: erlnode_messaging_bench [--quick] [--n-small N] [--n-bin N] [--reps R] "
               "[--escript PATH]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  try {
    if (a.size() == 5 && a[0] == "--recv")
      return eb::run_erlnode_receiver(a[1], a[2], a[3] == "1", std::stol(a[4]));
    if (a.size() >= 7 && a[0] == "--send")
      return eb::run_erlnode_sender(a[1], a[2], std::stol(a[3]), std::stol(a[4]), std::stoi(a[5]),
                                    {a.begin() + 6, a.end()});
    options o;
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto next = [&]() -> const std::string& {
        if (i + 1 >= a.size()) throw std::invalid_argument(a[i] + " needs a value");
        return a[++i];
      };
      if (a[i] == "--quick") {
        o.n_small = 300;
        o.n_bin = 3;
        o.reps = 1;
      } else if (a[i] == "--n-small") {
        o.n_small = std::stol(next());
      } else if (a[i] == "--n-bin") {
        o.n_bin = std::stol(next());
      } else if (a[i] == "--reps") {
        o.reps = std::stoi(next());
      } else if (a[i] == "--escript") {
        o.escript = next();
      } else {
        return usage();
      }
    }
    return drive(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "erlnode_messaging_bench: %s\n", e.what());
    return 1;
  }
}

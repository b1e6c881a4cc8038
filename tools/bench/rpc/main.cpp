// erlnode_rpc_bench: rpc:call round trips from a BEAM node into erlnode-serve (cpp:echo/1)
// against the same calls into a BEAM node (a cpp:echo/1 written in Erlang), in one run.
// Prints JSON lines (README.md).
#include "child.hpp"

#include "../support/free_port.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

using namespace erlnode::bench;
using namespace std::chrono_literals;

namespace {

double load_avg() {
  std::ifstream f("/proc/loadavg");
  double l = -1;
  f >> l;
  return l;
}

// The first line starting "ready "; the rest of it (the node name).
std::string wait_ready(child& c, const char* what) {
  while (auto l = c.read_line(180s))
    if (l->rfind("ready ", 0) == 0) return l->substr(6);
  throw std::runtime_error(std::string(what) + " did not start");
}

struct best {
  long calls = 0;
  long us = 0;  // fastest run
};

}  // namespace

int main(int argc, char** argv) try {
  int n_seq = 20000, procs = 100, per_proc = 200, reps = 3;
  // erlnode-serve's --busy-poll-us: it polls this long before sleeping, as the BEAM target's
  // schedulers busy-wait before sleeping (README.md).
  int busy_poll_us = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&] { return i + 1 < argc ? std::atoi(argv[++i]) : 0; };
    if (a == "--quick") {
      n_seq = 200, procs = 10, per_proc = 10, reps = 1;
    } else if (a == "--n") {
      n_seq = num();
    } else if (a == "--procs") {
      procs = num();
    } else if (a == "--per-proc") {
      per_proc = num();
    } else if (a == "--reps") {
      reps = num();
    } else if (a == "--busy-poll-us") {
      busy_poll_us = num();
    } else {
      std::cerr << "usage: erlnode_rpc_bench [--quick] [--n N] [--procs P] [--per-proc K] "
                   "[--reps R] [--busy-poll-us U]\n";
      return 2;
    }
  }
  if (n_seq <= 0 || procs <= 0 || per_proc <= 0 || reps <= 0 || busy_poll_us < 0) {
    std::cerr << "erlnode_rpc_bench: counts must be positive\n";
    return 2;
  }
  std::string port = std::to_string(free_port());
  std::string cookie = "rpcbench" + std::to_string(::getpid());
  std::string tag = std::to_string(::getpid());
  std::map<std::string, std::string> env{{"ERL_EPMD_PORT", port}};
  if (!std::getenv("HOME")) env["HOME"] = "/root";  // erl needs one

  child epmd({ERLNODE_RPC_BENCH_EPMD, "-port", port}, env);
  std::this_thread::sleep_for(300ms);
  child serve(
      {ERLNODE_RPC_BENCH_SERVE, "--sname", "rpcb_cpp_" + tag, "--cookie", cookie, "--epmd-port",
       port, "--no-start-epmd", "--busy-poll-us", std::to_string(busy_poll_us)},
      env);
  std::string cpp_node = wait_ready(serve, "erlnode-serve");
  child target({ERLNODE_RPC_BENCH_ESCRIPT_BIN, ERLNODE_RPC_BENCH_ESCRIPT, "target",
                "rpcb_beam_" + tag, cookie},
               env);
  std::string beam_node = wait_ready(target, "the BEAM target");
  child drive({ERLNODE_RPC_BENCH_ESCRIPT_BIN, ERLNODE_RPC_BENCH_ESCRIPT, "drive", "rpcb_drv_" + tag,
               cookie, std::to_string(n_seq), std::to_string(procs), std::to_string(per_proc),
               std::to_string(reps), "beam->beam=" + beam_node, "beam->erlnode=" + cpp_node},
              env);
  std::map<std::pair<std::string, std::string>, best> results;
  while (auto l = drive.read_line(600s)) {
    std::istringstream in(*l);
    std::string word, path, kase;
    best r;
    if (!(in >> word >> path >> kase >> r.calls >> r.us) || word != "result") continue;
    auto& b = results[{path, kase}];
    if (b.us == 0 || r.us < b.us) b = r;
  }
  if (drive.wait(60s) != 0 || results.size() != 4)
    throw std::runtime_error("the driver failed (see stderr)");

  for (auto& [k, r] : results)
    std::printf(
        "{\"bench\":\"rpc\",\"case\":\"%s\",\"path\":\"%s\",\"calls\":%ld,\"reps\":%d,"
        "\"elapsed_us\":%ld,\"us_per_call\":%.2f,\"calls_per_s\":%.0f%s}\n",
        k.second.c_str(), k.first.c_str(), r.calls, reps, r.us,
        static_cast<double>(r.us) / static_cast<double>(r.calls),
        static_cast<double>(r.calls) * 1e6 / static_cast<double>(r.us),
        k.second == "concurrent" ? (",\"procs\":" + std::to_string(procs) +
                                    ",\"calls_per_proc\":" + std::to_string(per_proc))
                                       .c_str()
                                 : "");
  auto per_call = [&](const char* path, const char* kase) {
    auto& r = results[{path, kase}];
    return static_cast<double>(r.us) / static_cast<double>(r.calls);
  };
  double lat = per_call("beam->erlnode", "latency") / per_call("beam->beam", "latency");
  double thr = per_call("beam->beam", "concurrent") / per_call("beam->erlnode", "concurrent");
  std::printf(
      "{\"bench\":\"rpc\",\"summary\":true,\"ratios\":["
      "{\"ratio\":\"latency beam->erlnode / beam->beam\",\"value\":%.2f,\"need\":\"<=0.8\","
      "\"met\":%s},"
      "{\"ratio\":\"throughput beam->erlnode / beam->beam\",\"value\":%.2f,\"need\":\">=1.0\","
      "\"met\":%s}],\"busy_poll_us\":%d,\"load_avg_1m\":%.2f}\n",
      lat, lat <= 0.8 ? "true" : "false", thr, thr >= 1.0 ? "true" : "false", busy_poll_us,
      load_avg());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "erlnode_rpc_bench: %s\n", e.what());
  return 1;
}

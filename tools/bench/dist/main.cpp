// Distribution throughput: BEAM->BEAM, BEAM->ei C node, BEAM->erlnode and erlnode->erlnode
// (two processes), small messages ({hello, 42, <<"world">>}) per second and 1 MB binaries
// in MB/s, with the receiver's CPU time per message. Prints JSON lines.
//
//   erlnode_dist_bench [--quick]            everything (needs erl, erlc, epmd)
//   erlnode_dist_bench --sink NAME COOKIE   (internal) the erlnode receiving process
#include <erlnode/node.hpp>
#include <erlnode/node_name.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace erlnode;
using namespace std::chrono_literals;

namespace {

long long cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

// A child with its stdout on a pipe; killed (by pid) when destroyed.
class child {
 public:
  explicit child(std::vector<std::string> argv) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    if (posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0)
      throw std::runtime_error("cannot start " + argv[0]);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    fd_ = fds[0];
  }
  ~child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) close(fd_);
  }
  // Reads until `needle` appears or the child closes its output.
  bool wait_for(const std::string& needle) {
    char buf[4096];
    while (out_.find(needle) == std::string::npos) {
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) return false;
      out_.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }
  // Everything up to exit.
  std::string finish() {
    char buf[4096];
    ssize_t n;
    while ((n = read(fd_, buf, sizeof buf)) > 0) out_.append(buf, static_cast<std::size_t>(n));
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
    return out_;
  }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string out_;
};

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::tcp::v4(), 0});
  return a.local_endpoint().port();
}

struct running_node {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::unique_ptr<node> n;
  std::thread th;
  running_node(const std::string& name, const std::string& cookie) {
    node_options o;
    o.name = name;
    o.cookie = cookie;
    o.logger = [](log_level l, std::string_view s) {
      if (l >= log_level::warning) std::cerr << s << "\n";
    };
    n = std::make_unique<node>(io.get_executor(), o);
    th = std::thread([this] { io.run(); });
    if (auto ec = n->async_start(boost::asio::use_future).get())
      throw std::runtime_error("node start: " + ec.message());
  }
  ~running_node() {
    n->stop();
    std::this_thread::sleep_for(50ms);
    work.reset();
    io.stop();
    th.join();
  }
};

// The erlnode receiver: counts messages on `sink`, answers {done, From} with
// {ack, Count, CpuMicros}.
int run_sink(const std::string& name, const std::string& cookie) {
  running_node rn(name, cookie);
  auto sink = rn.n->create_mailbox(atom("sink")).value();
  std::printf("READY\n");
  std::fflush(stdout);
  const atom done("done");
  long long count = 0, cpu0 = 0;
  for (;;) {
    auto m = sink.receive(std::chrono::hours(1));
    if (!m) return 0;
    auto* t = m->get_if<tuple>();
    if (t && t->size() == 2 && (*t)[0].is_atom(done)) {
      if (auto* p = (*t)[1].get_if<pid>())
        (void)sink.send(*p, term(tuple{atom("ack"), count, cpu_us() - cpu0}));
      count = 0;
      continue;
    }
    if (count++ == 0) cpu0 = cpu_us();
  }
}

void print_line(const std::string& pair, const std::string& kind, long long count, double secs,
                long long cpu) {
  std::printf(
      "{\"bench\":\"dist\",\"pair\":\"%s\",\"kind\":\"%s\",\"messages\":%lld,\"seconds\":%.3f,"
      "\"%s\":%.1f,\"recv_cpu_us_per_msg\":%.3f}\n",
      pair.c_str(), kind.c_str(), count, secs, kind == "small" ? "msgs_per_s" : "mb_per_s",
      count / secs, static_cast<double>(cpu) / static_cast<double>(count ? count : 1));
  std::fflush(stdout);
}

// erlnode -> erlnode: this process sends to the sink process.
std::map<std::string, double> run_cpp_sender(const std::string& cookie,
                                             const std::string& sink_node, long small_n,
                                             long big_n) {
  std::map<std::string, double> rates;
  running_node rn("esend_" + std::to_string(getpid()), cookie);
  auto mb = rn.n->create_mailbox();
  atom target(sink_node), sink("sink");
  if (rn.n->async_connect(sink_node, boost::asio::use_future).get())
    throw std::runtime_error("cannot connect to " + sink_node);
  for (auto [kind, n] : {std::pair<std::string, long>{"small", small_n}, {"big", big_n}}) {
    term msg = kind == "small" ? term(tuple{atom("hello"), 42, binary("world")})
                               : term(binary(std::vector<std::uint8_t>(1u << 20, 7)));
    auto t0 = std::chrono::steady_clock::now();
    for (long i = 0; i < n; ++i) (void)mb.send(sink, target, msg);
    (void)mb.send(sink, target, term(tuple{atom("done"), mb.self()}));
    auto ack = mb.receive(120s);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!ack) throw std::runtime_error("no ack from the sink");
    auto& a = ack->as<tuple>();
    long long count = *a[1].to_int64(), cpu = *a[2].to_int64();
    print_line("erlnode->erlnode", kind, count, secs, cpu);
    rates[kind] = count / secs;
  }
  return rates;
}

std::map<std::string, double> parse_rates(const std::string& out, const std::string& pair) {
  std::map<std::string, double> r;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"pair\":\"" + pair + "\"") == std::string::npos) continue;
    std::printf("%s\n", line.c_str());
    for (std::string key : {"msgs_per_s", "mb_per_s"}) {
      auto p = line.find("\"" + key + "\":");
      if (p != std::string::npos)
        r[key == "msgs_per_s" ? "small" : "big"] = std::atof(line.c_str() + p + key.size() + 3);
    }
  }
  std::fflush(stdout);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "--sink") == 0) return run_sink(argv[2], argv[3]);
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const long small_n = quick ? 2000 : 500000, big_n = quick ? 5 : 300;
  const std::string self_exe = argv[0];
  const std::string host = short_hostname();
  const std::string tag = std::to_string(getpid());
  const std::string cookie = "bench" + tag;

  const std::uint16_t eport = free_port();
  setenv("ERL_EPMD_PORT", std::to_string(eport).c_str(), 1);
  child epmd({"epmd", "-port", std::to_string(eport)});
  std::this_thread::sleep_for(300ms);

  std::string dir = "/tmp/erlnode_dist_bench_" + tag;
  std::string mk = "mkdir -p " + dir + " && erlc -o " + dir + " " ERLNODE_DIST_BENCH_ERL;
  if (std::system(mk.c_str()) != 0) {
    std::fprintf(stderr, "erlc failed\n");
    return 1;
  }
  auto erl = [&](const std::string& name, const std::string& eval) {
    return std::vector<std::string>{"erl",      "-sname", name, "-setcookie", cookie,
                                    "-noshell", "-pa",    dir,  "-eval",      eval};
  };
  child beam_sink(erl("bsink_" + tag, "dist_bench:sink()"));
  child ei_sink({ERLNODE_DIST_EI_SINK, "eisink_" + tag, cookie});
  child cpp_sink({self_exe, "--sink", "esink_" + tag, cookie});
  if (!beam_sink.wait_for("READY") || !ei_sink.wait_for("READY") || !cpp_sink.wait_for("READY")) {
    std::fprintf(stderr, "a sink did not start\n");
    return 1;
  }
  auto sizes = "[{small," + std::to_string(small_n) + "},{big," + std::to_string(big_n) + "}]";
  auto beam_send = [&](const std::string& pair, const std::string& target_name,
                       const std::string& node) {
    child s(erl("bsend_" + tag + "_" + std::to_string(std::rand() % 100000),
                "dist_bench:run(\"" + pair + "\", {" + target_name + ", '" + node + "@" + host +
                    "'}, " + sizes + "), halt()."));
    return parse_rates(s.finish(), pair);
  };
  auto bb = beam_send("beam->beam", "sink", "bsink_" + tag);
  auto be = beam_send("beam->ei", "any", "eisink_" + tag);
  auto bc = beam_send("beam->erlnode", "sink", "esink_" + tag);
  auto cc = run_cpp_sender(cookie, "esink_" + tag + "@" + host, small_n, big_n);

  auto ratio = [](std::map<std::string, double>& a, std::map<std::string, double>& b,
                  const char* k) { return b[k] > 0 ? a[k] / b[k] : 0.0; };
  std::printf(
      "{\"bench\":\"dist\",\"summary\":true,"
      "\"beam_to_erlnode_vs_ei_small\":%.2f,\"beam_to_erlnode_vs_ei_big\":%.2f,"
      "\"erlnode_pair_vs_beam_pair_small\":%.2f,\"erlnode_pair_vs_beam_pair_big\":%.2f,"
      "\"targets\":{\"beam_to_erlnode_vs_ei\":1.0,\"small_vs_beam\":4.0,\"big_vs_beam\":1.5}}\n",
      ratio(bc, be, "small"), ratio(bc, be, "big"), ratio(cc, bb, "small"), ratio(cc, bb, "big"));
  std::string rm = "rm -rf " + dir;
  (void)std::system(rm.c_str());
  return 0;
}

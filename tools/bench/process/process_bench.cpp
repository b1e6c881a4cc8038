// erlnode_process_bench: local message passing and mailbox costs, one JSON object per line,
// then a summary line against the targets of issue 5 (local send+receive at least 10 million
// messages per second on one core; an idle mailbox under 256 bytes). README.md says what each
// line measures.
#include <erlnode/mailbox.hpp>
#include <erlnode/node.hpp>
#include <erlnode/text.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace erlnode;
using namespace std::chrono_literals;

struct options {
  bool quick = false;
  std::size_t mailboxes = 1'000'000;
  double min_run_ns = 100e6;  // one timed run lasts at least this long
  int runs = 5;               // best of this many
  std::string only;           // run only the measurements whose name contains this
};

bool wanted(const options& o, const char* op) {
  return o.only.empty() || std::strstr(op, o.only.c_str()) != nullptr;
}

template <class T>
void keep(const T& v) noexcept {
  asm volatile("" : : "m"(v) : "memory");
}

double now_ns(bool cpu_clock) noexcept {
  timespec ts{};
  ::clock_gettime(cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Best nanoseconds per operation; body(n) performs n operations. CPU time of this thread by
// default: the machine is shared, and wall time would mostly measure the other tenants.
template <class F>
double ns_per_op(const options& o, F&& body, bool cpu_clock = true) {
  auto run = [&](std::uint64_t n) {
    double t0 = now_ns(cpu_clock);
    body(n);
    return now_ns(cpu_clock) - t0;
  };
  if (o.quick) return run(1);
  std::uint64_t n = 64;
  for (;;) {
    double t = std::min(run(n), run(n));
    if (t >= o.min_run_ns || n >= (1ull << 34)) break;
    n *= t * 8 < o.min_run_ns ? 8 : 2;
  }
  double best = run(n);
  for (int r = 1; r < o.runs; ++r) best = std::min(best, run(n));
  return best / static_cast<double>(n);
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}

void line(const std::string& body) {
  std::printf("{\"bench\":\"process\",%s}\n", body.c_str());
  std::fflush(stdout);
}

void rate_line(const std::string& op, const std::string& detail, double ns, const char* clock) {
  line("\"op\":\"" + op + "\"," + detail + (detail.empty() ? "" : ",") + "\"ns_per_msg\":" +
       num(ns) + ",\"msgs_per_s\":" + num(1e9 / ns) + ",\"clock\":\"" + clock + "\"");
}

std::size_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  int got = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)) : 0;
}

// Runs `f` (which returns bytes per item) in a forked child, so each memory figure starts
// from a fresh heap: memory freed by an earlier measurement would otherwise be reused and
// hide the cost. Call before any thread is started.
double in_child(const std::function<double()>& f) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  pid_t c = ::fork();
  if (c == 0) {
    ::close(fds[0]);
    double v = f();
    if (::write(fds[1], &v, sizeof v) != static_cast<ssize_t>(sizeof v)) _exit(1);
    _exit(0);
  }
  ::close(fds[1]);
  double v = -1;
  if (c < 0 || ::read(fds[0], &v, sizeof v) != static_cast<ssize_t>(sizeof v)) v = -1;
  ::close(fds[0]);
  if (c > 0) ::waitpid(c, nullptr, 0);
  return v;
}

node_options local_opts() {
  node_options o;
  o.name = "procbench";
  o.cookie = "bench";
  return o;
}

match_fn tag_is(atom tag) {
  return [tag](const term& t) { return t.is_tuple(2) && t.as<tuple>()[0].is_atom(tag); };
}

struct results {
  double same_thread_msgs_per_s = 0;
  double bytes_per_mailbox = 0;
};

// --- memory -------------------------------------------------------------------------------

void memory(const options& o, results& res) {
  const std::size_t n = o.quick ? 1000 : o.mailboxes;
  // node::create_mailbox() n times, the handles kept in a vector (they are part of the cost:
  // a mailbox whose handle is dropped dies).
  double per_mailbox = in_child([n] {
    boost::asio::io_context io;
    node nd(io.get_executor(), local_opts());
    std::size_t before = rss_bytes();
    std::vector<mailbox> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i) v.push_back(nd.create_mailbox());
    double per = static_cast<double>(rss_bytes() - before) / static_cast<double>(n);
    // Still alive and reachable: the last one gets a message.
    if (v.front().send(v.back().self(), term(1)) || !v.back().try_receive()) return -1.0;
    return per;
  });
  // The same number of bare queues (make_shared, as the node does, plus their pids): what the
  // queue itself costs, without the node's registry entry.
  double per_queue = in_child([n] {
    boost::asio::io_context io;
    std::size_t before = rss_bytes();
    std::vector<std::shared_ptr<mailbox_queue>> v;
    v.reserve(n);
    for (std::size_t i = 0; i < n; ++i)
      v.push_back(std::make_shared<mailbox_queue>(
          pid(atom("procbench@host"), static_cast<std::uint32_t>(i & 0x7fff),
              static_cast<std::uint32_t>(i >> 15), 1),
          io.get_executor()));
    return static_cast<double>(rss_bytes() - before) / static_cast<double>(n);
  });
  // Idle in the Erlang sense: each waits in a receive (a callback here).
  const std::size_t nw = std::max<std::size_t>(n / 4, 1);
  double per_waiting = in_child([nw] {
    boost::asio::io_context io;
    node nd(io.get_executor(), local_opts());
    std::vector<mailbox> v;
    v.reserve(nw);
    for (std::size_t i = 0; i < nw; ++i) v.push_back(nd.create_mailbox());
    std::size_t before = rss_bytes();
    for (auto& m : v) m.async_receive([](std::error_code, term) {});
    return static_cast<double>(rss_bytes() - before) / static_cast<double>(nw);
  });
  const double handle = sizeof(mailbox), queue_handle = sizeof(std::shared_ptr<mailbox_queue>);
  line("\"op\":\"idle_mailbox_memory\",\"mailboxes\":" + std::to_string(n) +
       ",\"bytes_per_mailbox\":" + num(per_mailbox) +
       ",\"bytes_per_bare_queue\":" + num(per_queue - queue_handle) + ",\"bytes_registry_entry\":" +
       num(per_mailbox - handle - (per_queue - queue_handle)) + ",\"bytes_handle\":" + num(handle) +
       ",\"sizeof_mailbox_queue\":" + std::to_string(sizeof(mailbox_queue)));
  line("\"op\":\"waiting_mailbox_memory\",\"mailboxes\":" + std::to_string(nw) +
       ",\"extra_bytes_per_pending_receive\":" + num(per_waiting));
  res.bytes_per_mailbox = per_mailbox;
}

// --- one thread ---------------------------------------------------------------------------

void same_thread(const options& o, results& res) {
  boost::asio::io_context io;
  node nd(io.get_executor(), local_opts());
  mailbox a = nd.create_mailbox(), b = nd.create_mailbox();
  const term tuple_msg = tuple{atom("ping"), 42};
  const term int_msg = 42;
  double ns = 0;

  if (wanted(o, "local_send_try_receive")) {
    for (const auto* which : {"tuple", "small_int"}) {
      const term& msg = std::strcmp(which, "tuple") == 0 ? tuple_msg : int_msg;
      ns = ns_per_op(o, [&](std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i) {
          (void)a.send(b.self(), msg);
          auto t = b.try_receive();
          keep(t);
        }
      });
      rate_line("local_send_try_receive", std::string("\"msg\":\"") + which + "\"", ns, "cpu");
      if (std::strcmp(which, "tuple") == 0) res.same_thread_msgs_per_s = 1e9 / ns;
    }
  }
  if (wanted(o, "local_send_receive")) {
    ns = ns_per_op(o, [&](std::uint64_t n) {
      for (std::uint64_t i = 0; i < n; ++i) {
        (void)a.send(b.self(), tuple_msg);
        auto t = b.receive(infinity);
        keep(t);
      }
    });
    rate_line("local_send_receive", "\"msg\":\"tuple\"", ns, "cpu");
  }
  if (wanted(o, "local_send_try_receive_batch64")) {
    // 64 sends, then 64 receives: the queue holds up to 64.
    ns = ns_per_op(o, [&](std::uint64_t n) {
      for (std::uint64_t i = 0; i < n; i += 64) {
        for (int k = 0; k < 64; ++k) (void)a.send(b.self(), tuple_msg);
        for (int k = 0; k < 64; ++k) keep(b.try_receive());
      }
    });
    rate_line("local_send_try_receive_batch64", "\"msg\":\"tuple\"", ns, "cpu");
  }

  // The queue alone, without routing (pid lookup in the node's registry).
  mailbox_queue q(pid(atom("procbench@host"), 1, 0, 1), io.get_executor());
  if (wanted(o, "queue_push_try_pop")) {
    ns = ns_per_op(o, [&](std::uint64_t n) {
      for (std::uint64_t i = 0; i < n; ++i) {
        q.push(tuple_msg);
        keep(q.try_pop());
      }
    });
    rate_line("queue_push_try_pop", "\"msg\":\"tuple\"", ns, "cpu");
  }
  if (wanted(o, "queue_push_past_selective_waiter")) {
    // Arrivals while a selective receiver waits for something else: each is matched once
    // against the waiter, then taken by try_pop.
    q.async_pop(
        net::any_completion<std::error_code, term>([](std::error_code, term) {}, io.get_executor()),
        tag_is(atom("reply")));
    ns = ns_per_op(o, [&](std::uint64_t n) {
      for (std::uint64_t i = 0; i < n; ++i) {
        q.push(tuple_msg);
        keep(q.try_pop());
      }
    });
    rate_line("queue_push_past_selective_waiter", "\"msg\":\"tuple\"", ns, "cpu");
  }
  q.close();

  if (wanted(o, "local_send_async_receive_callback")) {
    // Async receive on an io_context thread: a callback chain, each message sent by the
    // previous completion (includes Asio's post of every completion).
    boost::asio::io_context io1;
    node n1(io1.get_executor(), local_opts());
    mailbox x = n1.create_mailbox();
    ns = ns_per_op(o, [&](std::uint64_t n) {
      std::uint64_t left = n;
      std::function<void(std::error_code, term)> on;
      on = [&](std::error_code, term) {
        if (--left == 0) return;
        (void)x.send(x.self(), tuple_msg);
        x.async_receive(on);
      };
      (void)x.send(x.self(), tuple_msg);
      x.async_receive(on);
      io1.restart();
      io1.run();
    });
    rate_line("local_send_async_receive_callback", "\"msg\":\"tuple\"", ns, "cpu");
  }

  if (!wanted(o, "selective_receive")) return;
  // Selective receive with `depth` non-matching messages queued ahead of the match.
  for (int depth : {0, 10, 100, 1000, 10000}) {
    mailbox c = nd.create_mailbox();
    for (int i = 0; i < depth; ++i) (void)a.send(c.self(), term(tuple{atom("noise"), i}));
    const match_fn is_reply = tag_is(atom("reply"));
    const term reply = tuple{atom("reply"), 1};
    ns = ns_per_op(o, [&](std::uint64_t n) {
      for (std::uint64_t i = 0; i < n; ++i) {
        (void)a.send(c.self(), reply);
        keep(c.try_receive(is_reply));
      }
    });
    rate_line("selective_receive", "\"queued_non_matching\":" + std::to_string(depth), ns, "cpu");
    if (depth == 100) {
      auto p = pattern::parse("{reply, _}").value();
      ns = ns_per_op(o, [&](std::uint64_t n) {
        for (std::uint64_t i = 0; i < n; ++i) {
          (void)a.send(c.self(), reply);
          keep(c.receive(p, 0ms));
        }
      });
      rate_line("selective_receive_pattern", "\"queued_non_matching\":" + std::to_string(depth), ns,
                "cpu");
    }
  }
}

// --- two threads --------------------------------------------------------------------------

void producer_consumer(const options& o) {
  boost::asio::io_context io;
  node nd(io.get_executor(), local_opts());
  mailbox b = nd.create_mailbox();
  const term msg = tuple{atom("ping"), 42};
  for (const auto* how : {"receive", "try_receive"}) {
    const bool blocking = std::strcmp(how, "receive") == 0;
    for (int producers : {1, 2}) {
      double ns = ns_per_op(
          o,
          [&](std::uint64_t n) {
            std::vector<std::thread> ts;
            for (int p = 0; p < producers; ++p)
              ts.emplace_back([&, p] {
                mailbox a = nd.create_mailbox();
                for (std::uint64_t i = p; i < n; i += producers) (void)a.send(b.self(), msg);
              });
            for (std::uint64_t i = 0; i < n; ++i) {
              if (blocking) {
                keep(b.receive(infinity));
              } else {
                std::optional<term> t;
                while (!(t = b.try_receive())) std::this_thread::yield();
                keep(t);
              }
            }
            for (auto& t : ts) t.join();
          },
          false);
      rate_line("local_producer_consumer",
                "\"producers\":" + std::to_string(producers) + ",\"consumer\":\"" + how + "\"", ns,
                "wall");
    }
  }
}

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: erlnode_process_bench [--quick] [--mailboxes N] [--min-ms N] [--runs N]\n"
               "                             [--only TEXT]\n"
               "  --quick        one iteration of everything (a smoke test; numbers meaningless)\n"
               "  --mailboxes N  idle mailboxes for the memory figures (default 1000000)\n"
               "  --min-ms N     each timed run lasts at least N ms (default 100)\n"
               "  --runs N       best of N runs (default 5)\n"
               "  --only TEXT    only the measurements whose op contains TEXT\n");
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        usage(stderr);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--mailboxes") {
      o.mailboxes = std::max<std::size_t>(1, std::strtoull(value(), nullptr, 10));
    } else if (a == "--min-ms") {
      o.min_run_ns = std::strtod(value(), nullptr) * 1e6;
    } else if (a == "--only") {
      o.only = value();
    } else if (a == "--runs") {
      o.runs = std::max(1, std::atoi(value()));
    } else if (a == "--help" || a == "-h") {
      usage(stdout);
      return 0;
    } else {
      usage(stderr);
      return 2;
    }
  }
  results res;
  if (wanted(o, "memory")) memory(o, res);  // first: it forks, which wants no other threads
  same_thread(o, res);
  if (wanted(o, "local_producer_consumer")) producer_consumer(o);
  const bool rate_ok = res.same_thread_msgs_per_s >= 10e6;
  const bool mem_ok = res.bytes_per_mailbox > 0 && res.bytes_per_mailbox < 256;
  std::printf(
      "{\"summary\":\"process\",\"quick\":%s,\"local_send_receive_msgs_per_s\":%s,"
      "\"target_msgs_per_s\":10000000,\"rate_ok\":%s,\"bytes_per_idle_mailbox\":%s,"
      "\"target_bytes\":256,\"memory_ok\":%s}\n",
      o.quick ? "true" : "false", num(res.same_thread_msgs_per_s).c_str(),
      rate_ok ? "true" : "false", num(res.bytes_per_mailbox).c_str(), mem_ok ? "true" : "false");
  return 0;
}

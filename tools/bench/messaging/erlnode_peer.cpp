#include "erlnode_peer.hpp"

#include "messages.hpp"

#include <erlnode/node.hpp>
#include <erlnode/run_loop.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <thread>

namespace erlnode::bench {

namespace {

long long cpu_us() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  return (static_cast<long long>(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1'000'000 +
         ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

node_options options(const std::string& name, const std::string& cookie) {
  node_options o;
  o.name = name;
  o.cookie = cookie;
  return o;  // epmd port: ERL_EPMD_PORT
}

// Counts runs on the io thread: one receive armed at a time, then everything already queued
// is drained without another completion.
class receiver {
 public:
  explicit receiver(mailbox& mb) : mb_(mb) {}
  void arm() {
    mb_.async_receive([this](std::error_code ec, term t) {
      if (ec) return;
      handle(t);
      while (auto m = mb_.try_receive()) handle(*m);
      arm();
    });
  }

 private:
  void handle(const term& t) {
    if (left_ < 0) {
      auto s = parse_sync(t);
      if (!s) return;
      from_ = s->from;
      left_ = s->n;
      cpu0_ = cpu_us();
      reply(tuple{atom("ready"), mb_.self()});
    } else if (is_payload(t)) {
      --left_;
    } else {
      std::fprintf(stderr, "erlnode receiver: unexpected message\n");
    }
    if (left_ == 0) {
      reply(tuple{atom("done"), cpu_us() - cpu0_});
      left_ = -1;
    }
  }
  void reply(term t) {
    mb_.async_send(*from_, std::move(t), [](std::error_code) {});
  }

  mailbox& mb_;
  std::optional<pid> from_;
  long long left_ = -1, cpu0_ = 0;
};

}  // namespace

int run_erlnode_receiver(const std::string& name, const std::string& cookie, bool flip_fragments,
                         long busy_poll_us) {
  // Everything on one thread: the node's strand and the receiving loop.
  boost::asio::io_context io(1);
  auto o = options(name, cookie);
  if (flip_fragments) o.fragments = !o.fragments;
  node n(io.get_executor(), o);
  result<mailbox> mb(node_errc::closed);
  std::optional<receiver> r;
  int status = 0;
  n.async_start([&](std::error_code ec) {
    if (!ec) mb = n.create_mailbox(atom("bench"));
    if (ec || !mb) {
      std::fprintf(stderr, "erlnode receiver: cannot start or register: %s\n",
                   (ec ? ec : mb.error().code).message().c_str());
      status = 1;
      n.stop();
      return;
    }
    const auto me = n.name().text();
    std::printf("ready %.*s\n", static_cast<int>(me.size()), me.data());
    std::fflush(stdout);
    r.emplace(*mb);
    r->arm();
  });
  run_with_busy_poll(io, std::chrono::microseconds(busy_poll_us));
  return status;
}

int run_erlnode_sender(const std::string& name, const std::string& cookie, long n_small, long n_bin,
                       int reps, const std::vector<std::string>& targets) {
  boost::asio::io_context io(1);
  auto guard = boost::asio::make_work_guard(io);
  node n(io.get_executor(), options(name, cookie));
  std::thread t([&] { io.run(); });
  int status = 0;
  if (auto ec = n.async_start(boost::asio::use_future).get()) {
    std::fprintf(stderr, "erlnode sender: start failed: %s\n", ec.message().c_str());
    status = 1;
  }
  mailbox mb = n.create_mailbox();
  const atom bench("bench");
  for (std::size_t ti = 0; status == 0 && ti < targets.size(); ++ti) {
    const auto eq = targets[ti].find('=');
    const std::string path = targets[ti].substr(0, eq);
    const atom peer(targets[ti].substr(eq + 1));
    for (const auto& [which, count] :
         {std::pair{msg_case::small, n_small}, std::pair{msg_case::bin_1mb, n_bin}}) {
      if (count <= 0) continue;
      const term msg = make_message(which);
      for (int rep = 0; rep < reps && status == 0; ++rep) {
        // Same protocol as the escript's run/3: sync, N sends as fast as allowed, the reply.
        mb.send(bench, peer, tuple{atom("sync"), mb.self(), count});
        auto ready = mb.receive(std::chrono::seconds(30));
        if (!ready) {
          std::fprintf(stderr, "erlnode sender: no ready from %s\n", targets[ti].c_str());
          status = 1;
          break;
        }
        const long long c0 = cpu_us();
        const auto t0 = std::chrono::steady_clock::now();
        for (long i = 0; i < count; ++i) mb.send(bench, peer, msg);
        auto done = mb.receive(std::chrono::seconds(120));
        const auto t1 = std::chrono::steady_clock::now();
        const long long send_cpu = cpu_us() - c0;
        auto cpu = done ? parse_done(*done) : std::nullopt;
        if (!cpu) {
          std::fprintf(stderr, "erlnode sender: no done from %s\n", targets[ti].c_str());
          status = 1;
          break;
        }
        std::printf("result %s %s %lld %lld %lld\n", path.c_str(), case_name(which),
                    static_cast<long long>(
                        std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count()),
                    *cpu, send_cpu);
        std::fflush(stdout);
      }
    }
  }
  mb.close();
  n.stop();
  guard.reset();
  t.join();
  return status;
}

}  // namespace erlnode::bench

// Probe the epmd port; start a detached erlnode-epmd or an in-process server when nothing
// answers.
#include <erlnode/epmd/ensure_running.hpp>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <climits>
#include <cstdlib>
#include <string_view>

extern char** environ;

namespace erlnode::epmd {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

bool executable_file(const std::string& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

// NAMES on 127.0.0.1:port: success means an epmd answers.
asio::awaitable<error_code> probe(std::uint16_t port, std::chrono::milliseconds timeout) {
  client_options co;
  co.port = port;
  co.timeout = timeout;
  auto r = co_await detail::names(co);
  co_return r.first;
}

// Runs `exe --daemon --port P`; the launcher exits once the daemon listens (0) or failed (1).
// Returns the launcher's pid, or -1.
pid_t spawn_daemon(const std::string& exe, std::uint16_t port) {
  std::string p = std::to_string(port);
  std::string a0 = exe, a1 = "--daemon", a2 = "--port";
  char* argv[] = {a0.data(), a1.data(), a2.data(), p.data(), nullptr};
  pid_t pid = -1;
  if (::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, environ) != 0) return -1;
  return pid;
}

}  // namespace

std::optional<std::string> find_epmd_executable() {
  constexpr std::string_view name = "erlnode-epmd";
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string self(buf, static_cast<std::size_t>(n));
    auto slash = self.rfind('/');
    if (slash != std::string::npos) {
      std::string cand = self.substr(0, slash + 1) + std::string(name);
      if (executable_file(cand)) return cand;
    }
  }
  if (const char* path = std::getenv("PATH")) {
    std::string_view ps(path);
    while (!ps.empty()) {
      auto colon = ps.find(':');
      auto dir = ps.substr(0, colon);
      if (!dir.empty()) {
        std::string cand = std::string(dir) + "/" + std::string(name);
        if (executable_file(cand)) return cand;
      }
      if (colon == std::string_view::npos) break;
      ps.remove_prefix(colon + 1);
    }
  }
  return std::nullopt;
}

namespace detail {

asio::awaitable<std::pair<error_code, ensure_result>> ensure_running(ensure_options o) {
  auto ex = co_await asio::this_coro::executor;
  auto deadline = std::chrono::steady_clock::now() + o.timeout;
  auto left = [&] {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return std::max(d, std::chrono::milliseconds(1));
  };
  error_code ec = co_await probe(o.port, left());
  if (!ec) co_return std::pair{ec, ensure_result{epmd_source::already_running, nullptr}};
  if (ec != asio::error::connection_refused) co_return std::pair{ec, ensure_result{}};

  if (o.allow_process) {
    std::string exe = o.executable;
    if (exe.empty()) exe = find_epmd_executable().value_or("");
    pid_t pid = executable_file(exe) ? spawn_daemon(exe, o.port) : -1;
    if (pid > 0) {
      int status = 0;
      asio::steady_timer t(ex);
      error_code ignored;
      while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() >= deadline) {
          ::kill(pid, SIGKILL);
          ::waitpid(pid, &status, 0);
          status = -1;
          break;
        }
        t.expires_after(std::chrono::milliseconds(10));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      bool started = status == 0;
      ec = co_await probe(o.port, left());
      if (!ec)
        co_return std::pair{
            ec, ensure_result{started ? epmd_source::started_process : epmd_source::already_running,
                              nullptr}};
    }
  }
  if (!o.allow_in_process) co_return std::pair{ec, ensure_result{}};
  server_options so = o.server;
  so.port = o.port;
  auto srv = std::make_shared<server>(ex, so);
  ec = srv->start();
  if (ec == asio::error::address_in_use) {
    // Someone else started one meanwhile.
    ec = co_await probe(o.port, left());
    co_return std::pair{ec, ensure_result{epmd_source::already_running, nullptr}};
  }
  if (ec) co_return std::pair{ec, ensure_result{}};
  co_return std::pair{ec, ensure_result{epmd_source::started_in_process, std::move(srv)}};
}

}  // namespace detail
}  // namespace erlnode::epmd

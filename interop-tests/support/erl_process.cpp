#include "support/erl_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace erlnode::interop {

namespace {
using clock = std::chrono::steady_clock;
}

child_process::child_process(std::vector<std::string> argv,
                             std::map<std::string, std::string> env) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& [k, v] : env) all[k] = v;
  std::vector<std::string> envs;
  for (auto& [k, v] : all) envs.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  if (rc != 0) {
    close(in[1]);
    close(out[0]);
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  in_fd_ = in[1];
  out_fd_ = out[0];
  fcntl(out_fd_, F_SETFL, O_NONBLOCK);
}

child_process::~child_process() {
  if (running()) kill(SIGKILL);
  wait(5s);
  if (in_fd_ >= 0) close(in_fd_);
  if (out_fd_ >= 0) close(out_fd_);
}

void child_process::pump(std::chrono::milliseconds wait) {
  if (out_fd_ < 0) return;
  pollfd p{out_fd_, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return;
  char buf[65536];
  for (;;) {
    ssize_t n = read(out_fd_, buf, sizeof buf);
    if (n > 0) {
      out_.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      close(out_fd_);
      out_fd_ = -1;
    }
    return;
  }
}

bool child_process::wait_for_output(std::string_view needle, std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  for (;;) {
    if (out_.find(needle) != std::string::npos) return true;
    auto now = clock::now();
    if (now >= deadline || out_fd_ < 0) return out_.find(needle) != std::string::npos;
    pump(std::min<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now), 100ms));
  }
}

void child_process::write_stdin(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(in_fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("write to child stdin failed");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void child_process::close_stdin() {
  if (in_fd_ >= 0) close(in_fd_);
  in_fd_ = -1;
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  if (pid_ <= 0) return std::nullopt;
  auto deadline = clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (r < 0) return std::nullopt;
    if (clock::now() >= deadline) return std::nullopt;
    pump(20ms);
  }
}

bool child_process::running() {
  if (status_ || pid_ <= 0) return false;
  return !wait(0ms).has_value();
}

void child_process::kill(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::string unique_name(std::string_view prefix) {
  static std::atomic<int> counter{0};
  return std::string(prefix) + "_" + std::to_string(getpid()) + "_" +
         std::to_string(counter.fetch_add(1));
}

std::string short_hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  std::string h = buf;
  return h.substr(0, h.find('.'));
}

int free_tcp_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::string erl_bin(std::string_view name) {
  std::string p = "/usr/lib/erlang/bin/" + std::string(name);
  if (access(p.c_str(), X_OK) == 0) return p;
  return std::string(name);
}

epmd_instance::epmd_instance(int port) : port_(port ? port : free_tcp_port()) {
  proc_ = std::make_unique<child_process>(
      std::vector<std::string>{erl_bin("epmd"), "-port", std::to_string(port_)});
  // Ready when it accepts connections.
  for (int i = 0; i < 200; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    close(fd);
    if (rc == 0) return;
    std::this_thread::sleep_for(20ms);
  }
  throw std::runtime_error("epmd did not start on port " + std::to_string(port_));
}

namespace {
// Evaluates one line of expressions at a time; prints results between markers.
constexpr const char* eval_loop =
    "L = fun Loop(Bs) -> "
    "  case io:get_line('') of "
    "    eof -> halt(0); "
    "    Line -> "
    "      R = try {ok, Ts, _} = erl_scan:string(Line), "
    "              {ok, Es} = erl_parse:parse_exprs(Ts), "
    "              {value, V, Bs2} = erl_eval:exprs(Es, Bs), {ok, V, Bs2} "
    "          catch C:E -> {error, {C, E}} end, "
    "      case R of "
    "        {ok, V3, Bs3} -> io:format(\"~n@@OK@@~w@@END@@~n\", [V3]), Loop(Bs3); "
    "        {error, Err} -> io:format(\"~n@@ERR@@~w@@END@@~n\", [Err]), Loop(Bs) "
    "      end "
    "  end "
    "end, "
    "io:format(\"~n@@READY@@~n\"), L(erl_eval:new_bindings()).";
}  // namespace

erl_node::erl_node() : erl_node(options{}) {}

erl_node::erl_node(options o) : opts_(std::move(o)) {
  if (opts_.name.empty()) opts_.name = unique_name("erl");
  if (opts_.cookie.empty()) opts_.cookie = unique_name("cookie");
  std::vector<std::string> argv{erl_bin("erl"), "-noshell"};
  if (opts_.long_names) {
    node_ = opts_.name + "@127.0.0.1";
    argv.insert(argv.end(), {"-name", node_});
  } else {
    node_ = opts_.name + "@" + short_hostname();
    argv.insert(argv.end(), {"-sname", opts_.name});
  }
  argv.insert(argv.end(), {"-setcookie", opts_.cookie});
  if (opts_.hidden) argv.push_back("-hidden");
  std::map<std::string, std::string> env;
  if (opts_.epmd_port) {
    env["ERL_EPMD_PORT"] = std::to_string(*opts_.epmd_port);
    argv.insert(argv.end(), {"-start_epmd", "false"});
  }
  for (auto& a : opts_.extra_args) argv.push_back(a);
  argv.insert(argv.end(), {"-eval", eval_loop});
  proc_ = std::make_unique<child_process>(argv, env);
  if (!proc_->wait_for_output("@@READY@@", 30s))
    throw std::runtime_error("erl did not start:\n" + proc_->output());
  consumed_ = proc_->output().find("@@READY@@") + 9;
}

erl_node::~erl_node() {
  if (proc_) {
    proc_->close_stdin();  // the loop halts on eof
    if (!proc_->wait(3s)) proc_->kill(SIGKILL);
  }
}

std::string erl_node::run(std::string_view exprs, std::chrono::milliseconds timeout, bool& failed) {
  std::string line(exprs);
  for (auto& c : line)
    if (c == '\n') c = ' ';
  line += " .\n";
  proc_->write_stdin(line);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const std::string& out = proc_->output();
    auto ok = out.find("@@OK@@", consumed_);
    auto err = out.find("@@ERR@@", consumed_);
    auto start = std::min(ok, err);
    if (start != std::string::npos) {
      auto end = out.find("@@END@@", start);
      if (end != std::string::npos) {
        std::size_t skip = (start == ok) ? 6 : 7;
        failed = (start == err);
        std::string v = out.substr(start + skip, end - start - skip);
        consumed_ = end + 7;
        return v;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline || !proc_->running())
      throw std::runtime_error("erl eval of `" + std::string(exprs) + "` got no answer; output:\n" +
                               out.substr(consumed_));
    proc_->pump(50ms);
  }
}

std::string erl_node::eval(std::string_view exprs, std::chrono::milliseconds timeout) {
  bool failed = false;
  std::string v = run(exprs, timeout, failed);
  if (failed) throw std::runtime_error("erl eval of `" + std::string(exprs) + "` raised " + v);
  return v;
}

std::string erl_node::eval_catch(std::string_view exprs, std::chrono::milliseconds timeout) {
  bool failed = false;
  return run(exprs, timeout, failed);
}

}  // namespace erlnode::interop

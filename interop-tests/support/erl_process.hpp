// Harness for interop tests: child processes killed by pid, isolated epmd instances, and live
// erl nodes that evaluate expressions sent to them.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace erlnode::interop {

using namespace std::chrono_literals;

// A child process started with posix_spawn. stdout and stderr are captured together; the
// destructor kills it (SIGKILL, by pid) if it is still running, and reaps it.
class child_process {
 public:
  child_process(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // Reads output until `needle` appears (true) or the timeout passes / the child exits (false).
  bool wait_for_output(std::string_view needle, std::chrono::milliseconds timeout = 20s);
  // Everything read so far.
  const std::string& output() const noexcept { return out_; }
  // Reads whatever is available now without blocking.
  void pump(std::chrono::milliseconds wait = 0ms);
  void write_stdin(std::string_view data);
  void close_stdin();
  // Waits for exit; returns the exit status (or 128+signal), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = 20s);
  bool running();
  void kill(int sig = 9);

 private:
  pid_t pid_ = -1;
  int in_fd_ = -1, out_fd_ = -1;
  std::string out_;
  std::optional<int> status_;
};

// A name unique to this test process: prefix + pid + counter.
std::string unique_name(std::string_view prefix);
// This host's short name (what `erl -sname` appends after '@').
std::string short_hostname();
// A TCP port that was free on 127.0.0.1 a moment ago.
int free_tcp_port();
// Path of an erl installation binary (erl, epmd, erl_call, escript).
std::string erl_bin(std::string_view name);

// OTP's epmd on its own port, in the foreground, killed with the test.
class epmd_instance {
 public:
  explicit epmd_instance(int port = 0);  // 0: pick a free port
  int port() const noexcept { return port_; }
  child_process& process() noexcept { return *proc_; }

 private:
  int port_;
  std::unique_ptr<child_process> proc_;
};

// A live erl node. Reads one Erlang expression sequence per line on stdin and prints the
// value with ~w between markers; eval() sends and waits.
class erl_node {
 public:
  struct options {
    std::string name;              // default: unique
    std::string cookie;            // default: unique
    std::optional<int> epmd_port;  // sets ERL_EPMD_PORT and -start_epmd false
    bool long_names = false;       // -name name@127.0.0.1 instead of -sname
    bool hidden = false;
    std::vector<std::string> extra_args;
  };
  erl_node();
  explicit erl_node(options o);
  ~erl_node();

  // Evaluates `exprs` (e.g. "X = 1, X + 1") and returns the result printed with ~w.
  // Throws std::runtime_error (with the node's output) on an exception or timeout.
  std::string eval(std::string_view exprs, std::chrono::milliseconds timeout = 30s);
  // Like eval, but returns the printed {Class, Reason} of an exception instead of throwing.
  std::string eval_catch(std::string_view exprs, std::chrono::milliseconds timeout = 30s);

  const std::string& node_name() const noexcept { return node_; }  // name@host
  const std::string& name() const noexcept { return opts_.name; }
  const std::string& cookie() const noexcept { return opts_.cookie; }
  child_process& process() noexcept { return *proc_; }

 private:
  std::string run(std::string_view exprs, std::chrono::milliseconds timeout, bool& failed);
  options opts_;
  std::string node_;
  std::unique_ptr<child_process> proc_;
  std::size_t consumed_ = 0;
};

}  // namespace erlnode::interop

// A child process of the messaging benchmark: started with posix_spawn, its standard output
// read line by line, stopped by pid (SIGTERM, then SIGKILL) when destroyed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace erlnode::bench {

class child_process {
 public:
  // argv[0] is searched in PATH. `env` entries ("K=V") are added to this process's environment.
  // Throws std::runtime_error if the child cannot be started.
  child_process(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const noexcept { return pid_; }
  // The next line of standard output (without '\n'); nullopt on timeout or end of output.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Waits for the exit (SIGKILL after `timeout`); the exit status, or 128+signal.
  int wait(std::chrono::milliseconds timeout);
  // SIGTERM, a short grace period, then SIGKILL; reaps. Idempotent.
  void stop();

 private:
  bool reap(bool block);
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string buf_;
  int status_ = -1;
};

}  // namespace erlnode::bench

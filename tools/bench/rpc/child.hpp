// A child process for the rpc benchmark: stdout read through a pipe, stderr inherited,
// stopped by its pid (SIGTERM, then SIGKILL) when destroyed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace erlnode::bench {

class child {
 public:
  child(std::vector<std::string> argv, const std::map<std::string, std::string>& env);
  ~child();
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  // The next line of stdout (without '\n'); nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Waits for exit; the exit status (128+signal if killed), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buf_;
  std::optional<int> status_;
};

}  // namespace erlnode::bench

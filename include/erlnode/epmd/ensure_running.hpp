// Make sure an epmd answers on the local epmd port, starting one when none does, so a C++-only
// cluster works on a machine without Erlang.
//
// Order: an epmd that already answers is used as is; else a detached `erlnode-epmd --daemon`
// (found next to the current executable, then in PATH) is started, which outlives this process
// like OTP's epmd; else an in-process erlnode::epmd::server runs on the given executor for as
// long as the returned handle lives.
#pragma once

#include <erlnode/epmd/client.hpp>
#include <erlnode/epmd/server.hpp>

#include <memory>
#include <optional>
#include <string>

namespace erlnode::epmd {

struct ensure_options {
  std::uint16_t port = port_from_env();
  std::chrono::milliseconds timeout{5000};
  // erlnode-epmd to start; empty: search next to the current executable, then PATH.
  std::string executable;
  bool allow_process = true;     // may start a detached erlnode-epmd
  bool allow_in_process = true;  // may fall back to an in-process server
  server_options server;         // for the in-process server (its port is `port`)
};

enum class epmd_source { already_running, started_process, started_in_process };

struct ensure_result {
  epmd_source source = epmd_source::already_running;
  // Set for started_in_process: the server stops when the last copy is released.
  std::shared_ptr<epmd::server> in_process;
};

// erlnode-epmd next to the current executable, else in PATH.
std::optional<std::string> find_epmd_executable();

namespace detail {
boost::asio::awaitable<std::pair<error_code, ensure_result>> ensure_running(ensure_options o);
}

// Completes with void(error_code, ensure_result). The in-process server, if any, runs on `ex`,
// which must be single-threaded (or a strand).
template <class Token>
auto async_ensure_running(boost::asio::any_io_executor ex, ensure_options o, Token&& token) {
  return detail::run_op<ensure_result>(ex, detail::ensure_running(std::move(o)),
                                       std::forward<Token>(token));
}

}  // namespace erlnode::epmd

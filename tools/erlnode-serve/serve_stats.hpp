// Counters erlnode-serve keeps for cpp:info/0 (updated from handlers on any thread).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace erlnode::serve {

struct serve_stats {
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> rpc_calls{0};      // cpp:* calls served
  std::atomic<std::uint64_t> echo_messages{0};  // messages the echo process took
  std::atomic<std::uint64_t> sink_messages{0};  // messages the sink counted (all time)
};

}  // namespace erlnode::serve

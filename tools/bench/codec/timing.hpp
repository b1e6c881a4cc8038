// Timing loop of the codec benchmark: calibrate an iteration count, then keep the best of
// several runs (the machine is shared, so the minimum is the stable statistic).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace erlnode::bench {

// Keeps the compiler from discarding a value it could prove unused.
template <class T>
inline void keep(const T& v) noexcept {
  asm volatile("" : : "m"(v) : "memory");
}

struct timing_config {
  double min_run_ns = 40e6;  // one run lasts at least this long
  int runs = 5;              // best of this many runs
  bool quick = false;        // one run of one iteration (smoke test)
};

struct timing {
  double ns_per_iter = 0;
  std::uint64_t iters = 0;  // iterations per run
};

template <class F>
double time_iterations(F& f, std::uint64_t n) {
  auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < n; ++i) f();
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::nano>(t1 - t0).count();
}

template <class F>
timing measure(F&& f, const timing_config& c) {
  if (c.quick) return {time_iterations(f, 1), 1};
  std::uint64_t n = 1;
  for (;;) {
    // The better of two, so one preempted run does not stop the calibration early.
    double t = std::min(time_iterations(f, n), time_iterations(f, n));
    if (t >= c.min_run_ns || n >= (1ull << 32)) break;
    n *= t * 8 < c.min_run_ns ? 8 : 2;
  }
  double best = time_iterations(f, n);
  for (int r = 1; r < c.runs; ++r) best = std::min(best, time_iterations(f, n));
  return {best / static_cast<double>(n), n};
}

}  // namespace erlnode::bench

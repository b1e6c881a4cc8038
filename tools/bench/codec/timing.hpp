// Timing loop of the codec benchmark: calibrate an iteration count, then keep the best of
// several runs (the machine is shared, so the minimum is the stable statistic).
#pragma once

#include <time.h>

#include <algorithm>
#include <cstdint>

namespace erlnode::bench {

// Keeps the compiler from discarding a value it could prove unused.
template <class T>
inline void keep(const T& v) noexcept {
  asm volatile("" : : "m"(v) : "memory");
}

struct timing_config {
  // CPU time of this thread (default: robust on a shared machine, where wall time mostly
  // measures the other tenants), or wall time.
  bool cpu_clock = true;
  double min_run_ns = 25e6;  // one run lasts at least this long
  int runs = 5;              // best of this many runs
  bool quick = false;        // one run of one iteration (smoke test)
};

struct timing {
  double ns_per_iter = 0;
  std::uint64_t iters = 0;  // iterations per run
};

inline double now_ns(bool cpu_clock) noexcept {
  timespec ts{};
  ::clock_gettime(cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

template <class F>
double time_iterations(F& f, std::uint64_t n, bool cpu_clock) {
  double t0 = now_ns(cpu_clock);
  for (std::uint64_t i = 0; i < n; ++i) f();
  return now_ns(cpu_clock) - t0;
}

template <class F>
timing measure(F&& f, const timing_config& c) {
  if (c.quick) return {time_iterations(f, 1, c.cpu_clock), 1};
  std::uint64_t n = 1;
  for (;;) {
    // The better of two, so one preempted run does not stop the calibration early.
    double t = std::min(time_iterations(f, n, c.cpu_clock), time_iterations(f, n, c.cpu_clock));
    if (t >= c.min_run_ns || n >= (1ull << 32)) break;
    n *= t * 8 < c.min_run_ns ? 8 : 2;
  }
  double best = time_iterations(f, n, c.cpu_clock);
  for (int r = 1; r < c.runs; ++r) best = std::min(best, time_iterations(f, n, c.cpu_clock));
  return {best / static_cast<double>(n), n};
}

}  // namespace erlnode::bench

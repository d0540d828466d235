// Shared pieces of shmring's benchmarks: a cheap per-round-trip clock,
// latency samples with percentiles, CPU pinning and fork helpers.
#pragma once

#include <benchmark/benchmark.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace shmring::bench {

// One clock read per round trip: on x86 the TSC (about 20 ns here, against
// 60 ns for steady_clock in these VMs), calibrated once against steady_clock.
class TickClock {
 public:
  static std::uint64_t now() {
#if defined(__x86_64__)
    return __rdtsc();
#else
    return static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
#endif
  }
  static double ns_per_tick() {
    static const double value = calibrate();
    return value;
  }

 private:
  static double calibrate() {
#if defined(__x86_64__)
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t c0 = __rdtsc();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50)) {
    }
    const auto t1 = std::chrono::steady_clock::now();
    const std::uint64_t c1 = __rdtsc();
    return std::chrono::duration<double, std::nano>(t1 - t0).count() / static_cast<double>(c1 - c0);
#else
    return 1.0;
#endif
  }
};

// Round-trip samples: add() takes the timestamp after each round trip and
// records the difference to the previous one.
class Samples {
 public:
  explicit Samples(std::size_t expected = 1 << 20) { ticks_.reserve(expected); }
  void start() { last_ = TickClock::now(); }
  void add() {
    const std::uint64_t t = TickClock::now();
    ticks_.push_back(t - last_);
    last_ = t;
  }
  // Sets p50/p99/p999 counters (ns) on the benchmark.
  void report(benchmark::State& state) {
    if (ticks_.empty()) return;
    std::sort(ticks_.begin(), ticks_.end());
    const double scale = TickClock::ns_per_tick();
    auto pct = [&](double p) {
      const std::size_t i = std::min(ticks_.size() - 1, static_cast<std::size_t>(p * static_cast<double>(ticks_.size())));
      return static_cast<double>(ticks_[i]) * scale;
    };
    state.counters["p50_ns"] = pct(0.50);
    state.counters["p99_ns"] = pct(0.99);
    state.counters["p999_ns"] = pct(0.999);
  }

 private:
  std::vector<std::uint64_t> ticks_;
  std::uint64_t last_ = 0;
};

// A spinning benchmark needs its two sides on two CPUs: sharing one (a
// taskset or cgroup that allows a single CPU), each hop waits for the other
// side's time slice and a "spinning" round trip takes hundreds of
// microseconds. The benchmarks refuse to run then rather than report that.
inline bool two_cpus_allowed() {
  cpu_set_t allowed;
  return sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) >= 2;
}
inline constexpr const char* kNeedsTwoCpus =
    "spinning needs two CPUs and this process may use only one (taskset or cgroup cpuset)";

// Pins the calling thread to one CPU (round-robin over the allowed ones), so
// the two sides of a round trip run on different cores. Returns false if the
// machine has one CPU or refuses.
inline bool pin_to_cpu(int index) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return false;
  const int count = CPU_COUNT(&allowed);
  if (count < 2) return false;
  int seen = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (seen++ == index % count) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpu, &one);
      return sched_setaffinity(0, sizeof one, &one) == 0;
    }
  }
  return false;
}

// Undoes pin_to_cpu for the calling thread.
inline void unpin() {
  cpu_set_t all;
  CPU_ZERO(&all);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) CPU_SET(cpu, &all);
  sched_setaffinity(0, sizeof all, &all);
}

inline void cpu_pause() {
#if defined(__x86_64__)
  _mm_pause();
#endif
}

inline pid_t fork_process(const std::function<void()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    body();
    ::_exit(0);
  }
  return pid;
}

inline void reap(pid_t pid) {
  int status;
  ::waitpid(pid, &status, 0);
}

}  // namespace shmring::bench

// PoliteGil: a C profile hook that yields the GIL after each slice, and
// backs off while others use it.
#include "polite.hpp"

#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <cstdint>

namespace shmring::detail {
namespace {

constexpr std::int64_t kSliceNs = 200'000;    // hold the GIL at most this long
constexpr std::int64_t kAwaitedSliceNs = 1'000'000;  // ... while a spawn waits for the import
constexpr std::int64_t kMinPauseNs = 20'000;  // pause when nobody else wanted it
constexpr std::int64_t kMaxPauseNs = 4'000'000;
constexpr std::int64_t kBusyNs = 50'000;      // taking the GIL back took this long: someone ran

// Per thread: the hook runs on the importing thread only.
thread_local std::int64_t slice_started_ns = 0;
thread_local std::int64_t pause_ns = kMinPauseNs;
thread_local const std::atomic<bool>* awaited_flag = nullptr;

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // vDSO: ~20 ns, no system call
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

int yield_per_slice(PyObject*, PyFrameObject*, int, PyObject*) {
  // Relaxed: a hint (internal.hpp); a late view only delays the longer slice.
  const bool awaited = awaited_flag != nullptr && awaited_flag->load(std::memory_order_relaxed);
  if (now_ns() - slice_started_ns < (awaited ? kAwaitedSliceNs : kSliceNs)) return 0;
  PyThreadState* me = PyEval_SaveThread();
  const timespec pause{0, static_cast<long>(pause_ns)};
  nanosleep(&pause, nullptr);  // a waiter, woken by the release, takes the GIL meanwhile
  const std::int64_t asked = now_ns();
  PyEval_RestoreThread(me);
  slice_started_ns = now_ns();
  const bool others_busy = slice_started_ns - asked > kBusyNs;
  pause_ns = others_busy ? std::min(pause_ns * 2, kMaxPauseNs) : std::max(pause_ns / 2, kMinPauseNs);
  return 0;
}

}  // namespace

PoliteGil::PoliteGil(bool enabled, const std::atomic<bool>* awaited) : enabled_(enabled) {
  if (!enabled_) return;
  awaited_flag = awaited;
  slice_started_ns = now_ns();
  pause_ns = kMinPauseNs;
  // The default 50 us timer slack would stretch the shortest pauses.
  old_slack_ns_ = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0);
  PyEval_SetProfile(yield_per_slice, nullptr);
}

PoliteGil::~PoliteGil() {
  if (!enabled_) return;
  PyEval_SetProfile(nullptr, nullptr);
  awaited_flag = nullptr;
  if (old_slack_ns_ > 0) prctl(PR_SET_TIMERSLACK, old_slack_ns_, 0, 0, 0);
}

}  // namespace shmring::detail

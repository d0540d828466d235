// Waiting and waking up: the vocabulary the layers above the transport
// (messaging, spawner, the Python extension) use to sleep until something
// happens, on the same code the transport's own doorbell uses.
//
//   cpu_relax()       one spin-loop pause (x86 `pause`, aarch64 `yield`)
//   Deadline          a point in time or never, and the time left until it
//   WakeCounter       an owned counter readable while non-zero (an eventfd):
//                     ring() from any thread, drain() by the waiter
//   WaitSet           a set of descriptors with keys (epoll): wait() says which
//                     ones are readable or hung up
//   wait_readable()   one descriptor, with a deadline, optionally returning
//                     when a signal arrives (so Python can run its handlers)
//
// cpu_relax and Deadline are inline (the ring's spin loop uses them); the rest
// calls the operating system through the transport's private platform layer
// (src/platform.hpp, Linux in src/platform_linux.cpp). Set-up calls throw
// shmring::Error naming the operation; ring(), drain() and remove() never fail.
#pragma once

#include <chrono>
#include <climits>
#include <compare>
#include <cstdint>
#include <span>

#include "shmring/unique_fd.hpp"

namespace shmring {

// --- spinning -------------------------------------------------------------------

// Tells the CPU this is a spin-wait: the core yields to its hyper-thread
// sibling and does not flood the memory system with speculative loads. Does
// nothing on CPUs without such a hint.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// --- deadlines --------------------------------------------------------------------

// A moment on the steady clock, or never. Every timeout in shmring is a
// std::chrono::nanoseconds where negative means "as long as it takes": after()
// turns one into a Deadline, remaining() turns it back (for a call that takes a
// timeout), and poll_milliseconds() gives what poll() and epoll_wait() take.
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // `timeout` from now (or from `now`); negative = never. A timeout too large
  // for the clock is never too (it saturates instead of wrapping into the
  // past). The forms without `now` read the clock only when they need it:
  // never a read for "never", which a parked call asks after every wake-up.
  static Deadline after(std::chrono::nanoseconds timeout) {
    return timeout.count() < 0 ? never() : after(timeout, Clock::now());
  }
  static Deadline after(std::chrono::nanoseconds timeout, Clock::time_point now) {
    if (timeout.count() < 0 || timeout >= Clock::time_point::max() - now) return never();
    return Deadline(now + std::chrono::duration_cast<Clock::duration>(timeout));
  }
  static Deadline at(Clock::time_point when) { return Deadline(when); }
  static constexpr Deadline never() { return Deadline(Clock::time_point::max()); }

  bool is_never() const { return when_ == Clock::time_point::max(); }
  Clock::time_point when() const { return when_; }  // time_point::max() if never

  bool passed() const { return !is_never() && passed(Clock::now()); }
  bool passed(Clock::time_point now) const { return now >= when_; }

  // The time left, never negative; -1 ns if never, which every `*_for` call
  // and every shmring timeout reads as "forever": pass it on as it is.
  std::chrono::nanoseconds remaining() const {
    return is_never() ? std::chrono::nanoseconds{-1} : remaining(Clock::now());
  }
  std::chrono::nanoseconds remaining(Clock::time_point now) const {
    if (is_never()) return std::chrono::nanoseconds{-1};
    if (now >= when_) return std::chrono::nanoseconds{0};
    return std::chrono::duration_cast<std::chrono::nanoseconds>(when_ - now);
  }

  // The timeout for poll() or epoll_wait(): -1 if never; else the time left in
  // milliseconds, rounded up (a 0.4 ms wait must sleep 1 ms, not turn into a
  // 0 ms busy loop until the deadline) and capped at INT_MAX (24 days).
  int poll_milliseconds() const { return is_never() ? -1 : poll_milliseconds(Clock::now()); }
  int poll_milliseconds(Clock::time_point now) const {
    if (is_never()) return -1;
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(remaining(now)).count();
    return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
  }

  // Earlier is less: std::min of two deadlines is the sooner one.
  friend auto operator<=>(const Deadline&, const Deadline&) = default;

 private:
  constexpr explicit Deadline(Clock::time_point when) : when_(when) {}
  Clock::time_point when_;
};

// --- sleeping ---------------------------------------------------------------------

enum class WaitOutcome : std::uint8_t {
  ready,        // the descriptor is readable (or hung up, or in error: a read says which)
  timed_out,    // the deadline passed first
  interrupted,  // a signal arrived (only with OnSignal::return_interrupted)
};

enum class OnSignal : std::uint8_t {
  keep_waiting,        // a signal handler ran; wait on with the time left
  return_interrupted,  // return WaitOutcome::interrupted (e.g. to run Python's handlers)
};

// Waits until `fd` is readable (or hung up, or in error), or `deadline` passes.
// Throws shmring::Error if the wait itself fails (a bad descriptor).
WaitOutcome wait_readable(int fd, Deadline deadline, OnSignal on_signal = OnSignal::keep_waiting);

// A counter that any thread adds to with ring() and the waiting thread resets
// with drain(); fd() is readable while it is non-zero, so the waiter can sleep
// on it alone, in a WaitSet, or in an event loop. Rings coalesce: ten rings
// before a drain wake the waiter once. Close-on-exec. ring() and drain() never
// block, even if a process that shares the descriptor (a forked child)
// cleared its O_NONBLOCK.
class WakeCounter {
 public:
  // Throws shmring::Error("eventfd for <purpose>: <why>").
  explicit WakeCounter(const char* purpose = "a wake-up counter");

  void ring() noexcept;   // add one; never blocks; any thread
  void drain() noexcept;  // back to zero (not readable); never blocks
  int fd() const noexcept { return fd_.get(); }

 private:
  detail::UniqueFd fd_;  // closed with the object; moves, never copies
};

// What to watch a descriptor for. Hang-up and errors are always reported.
enum class Watch : std::uint8_t {
  readable,   // input, or the peer hung up
  hang_up,    // only the peer hanging up (a lifeline socket whose input is not ours to read)
};

// One ready descriptor, as WaitSet::wait reports it.
struct WaitEvent {
  std::uint64_t key = 0;  // the key it was added with
  bool readable = false;  // a read would not block
  bool hung_up = false;   // the peer hung up, or the descriptor is in error
};

// A set of descriptors, each with a key of the caller's choosing; wait() tells
// which are ready. Level-triggered: a descriptor stays ready until its cause
// is consumed (read, drained). fd() is readable while any member is ready, so
// one event loop descriptor can stand for the whole set. One thread waits on
// it at a time; add/modify/remove may come from that thread between waits.
class WaitSet {
 public:
  // Throws shmring::Error("epoll_create1 for <purpose>: <why>").
  explicit WaitSet(const char* purpose = "a wait set");

  // Throw shmring::Error naming the operation (adding a descriptor twice,
  // modifying one that is not in the set, a closed descriptor).
  void add(int fd, std::uint64_t key, Watch what = Watch::readable);
  void modify(int fd, std::uint64_t key, Watch what = Watch::readable);
  // Never fails: a descriptor that is not in the set (or already closed,
  // which removes it by itself) is simply not there afterwards.
  void remove(int fd) noexcept;

  // Sleeps until at least one member is ready or `deadline` passes; returns
  // the ready ones, at most events.size() (the rest are reported next time),
  // in the front of `events`. Empty: the deadline passed. A signal does not
  // end the wait (it goes on with the time left). Throws shmring::Error if
  // the wait itself fails.
  std::span<WaitEvent> wait(std::span<WaitEvent> events, Deadline deadline);

  int fd() const noexcept { return fd_.get(); }

 private:
  detail::UniqueFd fd_;  // closed with the object; moves, never copies
};

}  // namespace shmring

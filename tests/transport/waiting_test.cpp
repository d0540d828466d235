// shmring/waiting.hpp: Deadline arithmetic, the wake-up counter, the wait set
// and the one-descriptor wait. No test times the code: a wait that must time
// out is checked to have returned "timed out" and not before its deadline.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdint>
#include <set>
#include <string>
#include <thread>

#include "shmring/error.hpp"
#include "shmring/waiting.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using Clock = Deadline::Clock;

// A socket pair, closed on destruction (each end may be closed earlier).
struct SocketPair {
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0); }
  ~SocketPair() {
    close(0);
    close(1);
  }
  void close(int end) {
    if (fds[end] >= 0) ::close(fds[end]);
    fds[end] = -1;
  }
  int fds[2] = {-1, -1};
};

bool readable_now(int fd) { return wait_readable(fd, Deadline::after(0ns)) == WaitOutcome::ready; }

// --- Deadline ---------------------------------------------------------------------

TEST(Deadline, never_has_not_passed_and_reads_as_forever) {
  const Deadline sut = Deadline::never();
  EXPECT_TRUE(sut.is_never());
  EXPECT_FALSE(sut.passed());
  EXPECT_FALSE(sut.passed(Clock::time_point::max() - 1ns));
  EXPECT_LT(sut.remaining().count(), 0);  // what every *_for call reads as "for ever"
  EXPECT_EQ(sut.poll_milliseconds(), -1);
}

TEST(Deadline, a_negative_timeout_is_never) {
  EXPECT_TRUE(Deadline::after(-1ns).is_never());
  EXPECT_TRUE(Deadline::after(-5s).is_never());
}

TEST(Deadline, a_timeout_too_large_for_the_clock_is_never_not_the_past) {
  const Deadline sut = Deadline::after(std::chrono::nanoseconds::max());
  EXPECT_TRUE(sut.is_never());
  EXPECT_FALSE(sut.passed());
}

TEST(Deadline, passes_exactly_at_now_plus_the_timeout) {
  const auto now = Clock::now();
  const Deadline sut = Deadline::after(250ms, now);
  EXPECT_FALSE(sut.is_never());
  EXPECT_EQ(sut.when(), now + 250ms);
  EXPECT_EQ(sut.remaining(now), 250ms);
  EXPECT_EQ(sut.remaining(now + 100ms), 150ms);
  EXPECT_FALSE(sut.passed(now + 250ms - 1ns));
  EXPECT_TRUE(sut.passed(now + 250ms));
}

TEST(Deadline, time_left_is_never_negative_once_passed) {
  const auto now = Clock::now();
  const Deadline sut = Deadline::after(1ms, now);
  EXPECT_EQ(sut.remaining(now + 1s), 0ns);
  EXPECT_EQ(sut.poll_milliseconds(now + 1s), 0);
}

TEST(Deadline, a_zero_timeout_has_passed_at_once) {
  const auto now = Clock::now();
  const Deadline sut = Deadline::after(0ns, now);
  EXPECT_TRUE(sut.passed(now));
  EXPECT_EQ(sut.remaining(now), 0ns);
  EXPECT_EQ(sut.poll_milliseconds(now), 0);
}

TEST(Deadline, milliseconds_for_poll_round_up_so_a_short_wait_sleeps) {
  const auto now = Clock::now();
  EXPECT_EQ(Deadline::after(400us, now).poll_milliseconds(now), 1);  // not 0: a busy loop until the deadline
  EXPECT_EQ(Deadline::after(1ns, now).poll_milliseconds(now), 1);
  EXPECT_EQ(Deadline::after(1ms, now).poll_milliseconds(now), 1);
  EXPECT_EQ(Deadline::after(1ms + 1ns, now).poll_milliseconds(now), 2);
  EXPECT_EQ(Deadline::after(2500ms, now).poll_milliseconds(now), 2500);
}

TEST(Deadline, milliseconds_for_poll_are_capped_at_int_max) {
  const auto now = Clock::now();
  EXPECT_EQ(Deadline::after(std::chrono::hours(24 * 365), now).poll_milliseconds(now), INT_MAX);
}

TEST(Deadline, the_smaller_of_two_is_the_sooner_and_never_is_the_latest) {
  const auto now = Clock::now();
  const Deadline soon = Deadline::after(1s, now);
  const Deadline later = Deadline::after(2s, now);
  EXPECT_EQ(std::min(soon, later), soon);
  EXPECT_EQ(std::min(later, soon), soon);
  EXPECT_EQ(std::min(Deadline::never(), later), later);
  EXPECT_EQ(Deadline::at(now + 1s), soon);
}

// --- WakeCounter ------------------------------------------------------------------

TEST(WakeCounter, a_new_counter_is_not_readable) {
  WakeCounter sut;
  EXPECT_GE(sut.fd(), 0);
  EXPECT_FALSE(readable_now(sut.fd()));
}

TEST(WakeCounter, a_ring_makes_it_readable_until_drained) {
  WakeCounter sut;
  sut.ring();
  EXPECT_TRUE(readable_now(sut.fd()));
  EXPECT_TRUE(readable_now(sut.fd()));  // waiting does not consume it
  sut.drain();
  EXPECT_FALSE(readable_now(sut.fd()));
}

TEST(WakeCounter, rings_before_a_drain_coalesce_into_one) {
  WakeCounter sut;
  for (int i = 0; i < 10; ++i) sut.ring();
  sut.drain();
  EXPECT_FALSE(readable_now(sut.fd()));
}

TEST(WakeCounter, draining_a_counter_nobody_rang_returns_at_once) {
  WakeCounter sut;
  sut.drain();
  sut.drain();
  EXPECT_FALSE(readable_now(sut.fd()));
}

TEST(WakeCounter, a_ring_from_another_thread_wakes_a_waiter) {
  WakeCounter sut;
  std::thread ringer([&] {
    std::this_thread::sleep_for(10ms);  // most likely asleep by then; correct either way
    sut.ring();
  });
  EXPECT_EQ(wait_readable(sut.fd(), Deadline::never()), WaitOutcome::ready);
  ringer.join();
}

TEST(WakeCounter, a_ring_never_blocks_even_if_the_descriptor_was_made_blocking) {
  // What a forked child sharing the descriptor could do: saturate the
  // counter and clear O_NONBLOCK. A plain write would then block for ever.
  WakeCounter sut;
  const std::uint64_t saturated = 0xfffffffffffffffeULL;
  ASSERT_EQ(::write(sut.fd(), &saturated, sizeof saturated), static_cast<ssize_t>(sizeof saturated));
  ASSERT_EQ(::fcntl(sut.fd(), F_SETFL, ::fcntl(sut.fd(), F_GETFL) & ~O_NONBLOCK), 0);
  sut.ring();  // the per-test watchdog ends the run if this blocks
  sut.drain();
  sut.drain();  // on zero, still never blocks
  EXPECT_FALSE(readable_now(sut.fd()));
}

TEST(WakeCounter, moving_hands_over_the_descriptor) {
  WakeCounter first;
  const int fd = first.fd();
  WakeCounter sut(std::move(first));
  EXPECT_EQ(sut.fd(), fd);
  EXPECT_LT(first.fd(), 0);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  WakeCounter other;
  other = std::move(sut);
  EXPECT_EQ(other.fd(), fd);
  other.ring();
  EXPECT_TRUE(readable_now(other.fd()));
}

// --- WaitSet ----------------------------------------------------------------------

// A wait on `sut` with nothing ready: it returns empty, and not before its deadline.
void expect_nothing_ready_within(WaitSet& sut, std::chrono::milliseconds timeout) {
  WaitEvent events[2];
  const Deadline deadline = Deadline::after(timeout);
  EXPECT_TRUE(sut.wait(events, deadline).empty());
  EXPECT_TRUE(deadline.passed());
}

TEST(WaitSet, a_ring_from_another_thread_wakes_it_with_that_members_key) {
  WakeCounter quiet, rung;
  WaitSet sut;
  sut.add(quiet.fd(), 7);
  sut.add(rung.fd(), 9);
  std::thread ringer([&] {
    std::this_thread::sleep_for(10ms);
    rung.ring();
  });
  WaitEvent events[4];
  const auto ready = sut.wait(events, Deadline::never());
  ringer.join();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, 9u);
  EXPECT_TRUE(ready[0].readable);
  EXPECT_FALSE(ready[0].hung_up);
}

TEST(WaitSet, every_ready_member_is_reported_with_its_key) {
  WakeCounter a, b, c;
  WaitSet sut;
  sut.add(a.fd(), 1);
  sut.add(b.fd(), 2);
  sut.add(c.fd(), ~std::uint64_t{0});  // any 64-bit key
  a.ring();
  c.ring();
  WaitEvent events[4];
  std::set<std::uint64_t> keys;
  for (const WaitEvent& e : sut.wait(events, Deadline::after(10s))) keys.insert(e.key);
  EXPECT_EQ(keys, (std::set<std::uint64_t>{1, ~std::uint64_t{0}}));
}

TEST(WaitSet, more_ready_members_than_room_are_reported_over_several_waits) {
  WakeCounter a, b;
  WaitSet sut;
  sut.add(a.fd(), 1);
  sut.add(b.fd(), 2);
  a.ring();
  b.ring();
  WaitEvent one[1];
  auto first = sut.wait(one, Deadline::after(10s));
  ASSERT_EQ(first.size(), 1u);
  const std::uint64_t key = first[0].key;
  (key == 1 ? a : b).drain();
  auto second = sut.wait(one, Deadline::after(10s));
  ASSERT_EQ(second.size(), 1u);
  EXPECT_NE(second[0].key, key);
}

TEST(WaitSet, a_member_stays_ready_until_its_cause_is_consumed) {
  WakeCounter counter;
  WaitSet sut;
  sut.add(counter.fd(), 5);
  counter.ring();
  WaitEvent events[2];
  EXPECT_EQ(sut.wait(events, Deadline::after(10s)).size(), 1u);
  EXPECT_EQ(sut.wait(events, Deadline::after(10s)).size(), 1u);  // level-triggered
  counter.drain();
  expect_nothing_ready_within(sut, 5ms);
}

TEST(WaitSet, a_wait_with_nothing_ready_times_out_not_before_its_deadline) {
  WakeCounter counter;
  WaitSet sut;
  sut.add(counter.fd(), 1);
  expect_nothing_ready_within(sut, 20ms);
}

TEST(WaitSet, a_peer_that_closes_its_socket_is_reported_as_hung_up) {
  SocketPair sockets;
  WaitSet sut;
  sut.add(sockets.fds[0], 42, Watch::hang_up);
  std::thread closer([&] {
    std::this_thread::sleep_for(10ms);
    sockets.close(1);
  });
  WaitEvent events[2];
  const auto ready = sut.wait(events, Deadline::never());
  closer.join();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, 42u);
  EXPECT_TRUE(ready[0].hung_up);
  EXPECT_FALSE(ready[0].readable);  // not watched for input
}

TEST(WaitSet, a_readable_member_reports_its_peers_hang_up_too) {
  SocketPair sockets;
  WaitSet sut;
  sut.add(sockets.fds[0], 3);
  sockets.close(1);
  WaitEvent events[2];
  const auto ready = sut.wait(events, Deadline::after(10s));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, 3u);
  EXPECT_TRUE(ready[0].readable);  // a read returns 0: end of file
  EXPECT_TRUE(ready[0].hung_up);
}

TEST(WaitSet, a_member_watched_for_hang_up_only_ignores_its_input) {
  SocketPair sockets;
  WaitSet sut;
  sut.add(sockets.fds[0], 3, Watch::hang_up);
  ASSERT_EQ(::write(sockets.fds[1], "x", 1), 1);
  expect_nothing_ready_within(sut, 5ms);
}

TEST(WaitSet, modify_changes_a_members_key_and_what_it_is_watched_for) {
  SocketPair sockets;
  WaitSet sut;
  sut.add(sockets.fds[0], 1, Watch::hang_up);
  ASSERT_EQ(::write(sockets.fds[1], "x", 1), 1);
  sut.modify(sockets.fds[0], 2, Watch::readable);
  WaitEvent events[2];
  const auto ready = sut.wait(events, Deadline::after(10s));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, 2u);
  EXPECT_TRUE(ready[0].readable);
  EXPECT_FALSE(ready[0].hung_up);
}

TEST(WaitSet, a_removed_member_wakes_nobody) {
  WakeCounter counter;
  WaitSet sut;
  sut.add(counter.fd(), 1);
  sut.remove(counter.fd());
  sut.remove(counter.fd());  // not there any more: nothing happens
  counter.ring();
  expect_nothing_ready_within(sut, 5ms);
}

TEST(WaitSet, its_descriptor_is_readable_while_a_member_is_ready) {
  WakeCounter counter;
  WaitSet sut;
  sut.add(counter.fd(), 1);
  EXPECT_FALSE(readable_now(sut.fd()));
  counter.ring();
  EXPECT_TRUE(readable_now(sut.fd()));
  counter.drain();
  EXPECT_FALSE(readable_now(sut.fd()));
}

TEST(WaitSet, adding_a_member_twice_fails_with_a_sentence_naming_the_operation) {
  WakeCounter counter;
  WaitSet sut;
  sut.add(counter.fd(), 1);
  try {
    sut.add(counter.fd(), 2);
    FAIL() << "a second add was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), EEXIST);
    EXPECT_NE(std::string(e.what()).find("adding descriptor " + std::to_string(counter.fd()) + " to a wait set"),
              std::string::npos)
        << e.what();
  }
}

TEST(WaitSet, modifying_a_descriptor_that_is_not_a_member_fails) {
  WakeCounter counter;
  WaitSet sut;
  EXPECT_THROW(sut.modify(counter.fd(), 1), Error);
}

TEST(WaitSet, moving_hands_over_the_set_with_its_members) {
  WakeCounter counter;
  WaitSet first;
  first.add(counter.fd(), 11);
  WaitSet sut(std::move(first));
  EXPECT_LT(first.fd(), 0);  // NOLINT(bugprone-use-after-move): the moved-from state is the point
  counter.ring();
  WaitEvent events[1];
  const auto ready = sut.wait(events, Deadline::after(10s));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].key, 11u);
}

// --- wait_readable --------------------------------------------------------------

TEST(WaitReadable, times_out_not_before_its_deadline) {
  WakeCounter counter;
  const Deadline deadline = Deadline::after(20ms);
  EXPECT_EQ(wait_readable(counter.fd(), deadline), WaitOutcome::timed_out);
  EXPECT_TRUE(deadline.passed());
}

TEST(WaitReadable, reports_a_hung_up_socket_as_ready) {
  SocketPair sockets;
  sockets.close(1);
  EXPECT_EQ(wait_readable(sockets.fds[0], Deadline::after(10s)), WaitOutcome::ready);
}

TEST(WaitReadable, a_descriptor_that_is_not_open_is_an_error_not_readiness) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_THROW(wait_readable(fds[0], Deadline::after(10s)), Error);
}

// Signals: a handler that does nothing, without SA_RESTART (so a wait sees
// EINTR), sent again and again to the waiting thread until it has returned.
// Whether one lands before or during the wait, the outcome is the same.
std::atomic<int> signals_handled{0};  // relaxed: a count, read after the waiter was joined
void count_signal(int) { signals_handled.fetch_add(1, std::memory_order_relaxed); }

class SignalStorm {
 public:
  SignalStorm() {
    struct sigaction sa {};
    sa.sa_handler = &count_signal;
    ::sigaction(SIGUSR1, &sa, &previous_);
  }
  ~SignalStorm() { ::sigaction(SIGUSR1, &previous_, nullptr); }

  // Runs `wait` on a thread and signals that thread until `wait` returns.
  template <class Wait>
  void around(Wait wait) {
    std::atomic<bool> done{false};  // release/acquire: the waiter's result is written before
    std::thread waiter([&] {
      wait();
      done.store(true, std::memory_order_release);
    });
    while (!done.load(std::memory_order_acquire)) {
      ::pthread_kill(waiter.native_handle(), SIGUSR1);
      std::this_thread::sleep_for(1ms);
    }
    waiter.join();
  }

 private:
  struct sigaction previous_ {};
};

TEST(WaitReadable, a_signal_ends_the_wait_only_when_asked_to) {
  WakeCounter counter;
  SignalStorm storm;
  WaitOutcome outcome = WaitOutcome::ready;
  storm.around([&] { outcome = wait_readable(counter.fd(), Deadline::never(), OnSignal::return_interrupted); });
  EXPECT_EQ(outcome, WaitOutcome::interrupted);

  const Deadline deadline = Deadline::after(30ms);
  storm.around([&] { outcome = wait_readable(counter.fd(), deadline, OnSignal::keep_waiting); });
  EXPECT_EQ(outcome, WaitOutcome::timed_out);
  EXPECT_TRUE(deadline.passed());
  EXPECT_GT(signals_handled.load(std::memory_order_relaxed), 0);
}

TEST(WaitSet, a_signal_does_not_end_its_wait) {
  WakeCounter counter;
  WaitSet sut;
  sut.add(counter.fd(), 1);
  SignalStorm storm;
  const Deadline deadline = Deadline::after(30ms);
  std::size_t ready = 99;
  storm.around([&] {
    WaitEvent events[2];
    ready = sut.wait(events, deadline).size();
  });
  EXPECT_EQ(ready, 0u);
  EXPECT_TRUE(deadline.passed());
}

}  // namespace
}  // namespace shmring

// Endpoint behaviour on in-process pairs: the data path, half-close, abort,
// timeouts, zero-copy calls, fragmentation and event-loop readiness.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <chrono>
#include <future>
#include <numeric>
#include <thread>

#include "shmring/shmring.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using testing::bytes_of;
using testing::text_of;
using testing::Watchdog;

ChannelOptions small_ring() {
  ChannelOptions o;
  o.ring_bytes = 4096;
  return o;
}

std::vector<std::byte> pattern(std::size_t n, unsigned seed = 1) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 131 + seed * 7) & 0xFF);
  return v;
}

bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

TEST(Endpoint, message_sent_by_one_side_arrives_whole_at_the_other) {
  auto [a, b] = make_pair();
  ASSERT_EQ(a.send(bytes_of("hello")), Status::ok);
  std::vector<std::byte> got;
  ASSERT_EQ(b.recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "hello");
  ASSERT_EQ(b.send(bytes_of("back")), Status::ok);
  ASSERT_EQ(a.recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "back");
}

TEST(Endpoint, empty_message_is_a_message) {
  auto [a, b] = make_pair();
  ASSERT_EQ(a.send({}), Status::ok);
  std::vector<std::byte> got{std::byte{1}};
  ASSERT_EQ(b.try_recv(got), Status::ok);
  EXPECT_TRUE(got.empty());
  EXPECT_EQ(b.try_recv(got), Status::would_block);
}

TEST(Endpoint, try_recv_on_empty_ring_would_block_and_changes_nothing) {
  auto [a, b] = make_pair();
  std::vector<std::byte> got;
  EXPECT_EQ(b.try_recv(got), Status::would_block);
  EXPECT_EQ(b.state(), EndpointState::open);
}

TEST(Endpoint, messages_keep_their_order_across_many_wraps) {
  auto [a, b] = make_pair(small_ring());
  std::vector<std::byte> got;
  for (int i = 0; i < 20000; ++i) {
    const std::string m = "message " + std::to_string(i) + std::string(i % 97, 'x');
    ASSERT_EQ(a.try_send(bytes_of(m)), Status::ok) << i;
    ASSERT_EQ(b.try_recv(got), Status::ok) << i;
    ASSERT_EQ(text_of(got), m);
  }
}

TEST(Endpoint, try_send_on_full_ring_would_block_until_the_reader_drains) {
  auto [a, b] = make_pair(small_ring());
  const auto m = pattern(500);
  int sent = 0;
  while (a.try_send(m) == Status::ok) ++sent;
  EXPECT_GT(sent, 3);
  EXPECT_LT(sent, 9);  // 4 KiB ring, 512 B frames
  EXPECT_EQ(a.try_send(m), Status::would_block);
  std::vector<std::byte> got;
  ASSERT_EQ(b.try_recv(got), Status::ok);
  EXPECT_EQ(got, m);
  EXPECT_EQ(a.try_send(m), Status::ok);
}

TEST(Endpoint, message_larger_than_the_ring_is_fragmented_and_reassembled) {
  auto [a, b] = make_pair(small_ring());
  const auto big = pattern(100'000, 3);
  Watchdog dog(60s);
  std::thread reader([&b, &big] {
    std::vector<std::byte> got;
    ASSERT_EQ(b.recv(got), Status::ok);
    EXPECT_EQ(got, big);
    ASSERT_EQ(b.recv(got), Status::ok);
    EXPECT_EQ(text_of(got), "after");
  });
  ASSERT_EQ(a.send(big), Status::ok);
  ASSERT_EQ(a.send(bytes_of("after")), Status::ok);
  reader.join();
}

TEST(Endpoint, try_send_of_a_large_message_never_tears_it) {
  // try_send writes what fits and keeps the rest; the next send finishes it first.
  auto [a, b] = make_pair(small_ring());
  const auto big = pattern(20'000, 5);
  ASSERT_EQ(a.try_send(big), Status::ok);
  EXPECT_TRUE(a.has_pending_send());
  EXPECT_EQ(a.try_send(bytes_of("next")), Status::would_block);  // the pending rest goes first
  std::vector<std::byte> got;
  while (a.has_pending_send()) {
    ASSERT_EQ(b.try_recv(got), Status::would_block);  // incomplete: not delivered yet
    Status st = a.try_flush_pending();
    ASSERT_TRUE(st == Status::ok || st == Status::would_block);
  }
  ASSERT_EQ(b.try_recv(got), Status::ok);
  EXPECT_EQ(got, big);
  ASSERT_EQ(a.try_send(bytes_of("next")), Status::ok);
  ASSERT_EQ(b.try_recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "next");
}

TEST(Endpoint, send_for_that_runs_out_of_time_midway_accepts_the_message_and_queues_the_rest) {
  // Issue 14.4, the contract chosen: ok = accepted (the rest queued), timeout
  // = nothing went out, so a caller that retries on timeout never duplicates.
  auto [a, b] = make_pair(small_ring());
  EXPECT_EQ(a.send_for(pattern(5000, 1), 0ms), Status::ok);  // room for its first fragments
  EXPECT_TRUE(a.has_pending_send());
  EXPECT_EQ(a.send_for(bytes_of("second"), 20ms), Status::timeout);  // the rest is not out: nothing of it went
  std::vector<std::byte> got;
  while (b.try_recv(got) == Status::would_block) {
    ASSERT_TRUE(a.try_flush_pending() == Status::ok || a.has_pending_send());
  }
  EXPECT_EQ(got, pattern(5000, 1));
  ASSERT_FALSE(a.has_pending_send());
  EXPECT_EQ(b.try_recv(got), Status::would_block);  // "second" was not sent

  const auto big = pattern(20'000, 3);
  EXPECT_EQ(a.send_for(big, 20ms), Status::ok);  // nobody reads: the ring fills midway
  EXPECT_TRUE(a.has_pending_send());
  EXPECT_EQ(a.flush_pending_for(10ms), Status::timeout);  // still nobody reads
  auto reader = std::async(std::launch::async, [&b] {
    std::vector<std::byte> got;
    return b.recv(got) == Status::ok ? got : std::vector<std::byte>{};
  });
  EXPECT_EQ(a.flush_pending_for(std::chrono::nanoseconds{-1}), Status::ok);
  EXPECT_FALSE(a.has_pending_send());
  EXPECT_EQ(reader.get(), big);  // whole, once
  a.close();  // nothing pending: a clean close, not an abort
  EXPECT_EQ(b.recv(got), Status::peer_closed);
}

TEST(Endpoint, too_large_message_is_refused_and_channel_stays_usable) {
  ChannelOptions o = small_ring();
  o.max_message_bytes = 1000;
  auto [a, b] = make_pair(o);
  EXPECT_EQ(a.send(pattern(1001)), Status::too_large);
  EXPECT_EQ(a.try_send(pattern(5000)), Status::too_large);
  ASSERT_EQ(a.send(pattern(1000)), Status::ok);
  std::vector<std::byte> got;
  ASSERT_EQ(b.try_recv(got), Status::ok);
  EXPECT_EQ(got, pattern(1000));
  EXPECT_EQ(a.state(), EndpointState::open);
}

TEST(Endpoint, recv_for_times_out_when_nothing_arrives) {
  auto [a, b] = make_pair();
  std::vector<std::byte> got;
  EXPECT_EQ(b.recv_for(got, 20ms), Status::timeout);
  EXPECT_EQ(b.recv_for(got, 0ms), Status::timeout);
  ASSERT_EQ(a.send(bytes_of("x")), Status::ok);
  EXPECT_EQ(b.recv_for(got, 20ms), Status::ok);
}

TEST(Endpoint, send_for_times_out_on_a_full_ring_and_sends_nothing) {
  auto [a, b] = make_pair(small_ring());
  const auto m = pattern(900);
  while (a.try_send(m) == Status::ok) {
  }
  EXPECT_EQ(a.send_for(m, 20ms), Status::timeout);
  std::vector<std::byte> got;
  int received = 0;
  while (b.try_recv(got) == Status::ok) ++received;
  EXPECT_GT(received, 0);
  EXPECT_EQ(b.try_recv(got), Status::would_block);  // the timed-out message is not there
}

TEST(Endpoint, blocked_recv_wakes_when_a_message_arrives_after_it_parked) {
  ChannelOptions o;
  o.spin_budget = 0ns;  // park at once
  auto [a, b] = make_pair(o);
  Watchdog dog(30s);
  auto got = std::async(std::launch::async, [&b] {
    std::vector<std::byte> m;
    const Status st = b.recv(m);
    return std::make_pair(st, text_of(m));
  });
  std::this_thread::sleep_for(20ms);
  ASSERT_EQ(a.send(bytes_of("wake")), Status::ok);
  const auto [st, text] = got.get();
  EXPECT_EQ(st, Status::ok);
  EXPECT_EQ(text, "wake");
}

TEST(Endpoint, blocked_send_wakes_when_the_reader_makes_room) {
  ChannelOptions o = small_ring();
  o.spin_budget = 0ns;
  auto [a, b] = make_pair(o);
  const auto m = pattern(900);
  while (a.try_send(m) == Status::ok) {
  }
  Watchdog dog(30s);
  auto sent = std::async(std::launch::async, [&a, &m] { return a.send(m); });
  std::this_thread::sleep_for(20ms);
  // Drain what is there (one freed frame may not be contiguous room: padding).
  std::vector<std::byte> got;
  int drained = 0;
  while (b.try_recv(got) == Status::ok) ++drained;
  EXPECT_GT(drained, 0);
  EXPECT_EQ(sent.get(), Status::ok);
}

TEST(Endpoint, peer_reads_everything_sent_before_close_then_eof) {
  auto [a, b] = make_pair();
  ASSERT_EQ(a.send(bytes_of("one")), Status::ok);
  ASSERT_EQ(a.send(bytes_of("two")), Status::ok);
  a.close();
  std::vector<std::byte> got;
  ASSERT_EQ(b.recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "one");
  ASSERT_EQ(b.recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "two");
  EXPECT_EQ(b.recv(got), Status::peer_closed);
  EXPECT_EQ(b.try_recv(got), Status::peer_closed);
  EXPECT_EQ(b.send(bytes_of("to a closed peer")), Status::peer_closed);
  EXPECT_EQ(a.send(bytes_of("after close")), Status::closed);
  EXPECT_EQ(a.try_recv(got), Status::closed);
  EXPECT_EQ(a.state(), EndpointState::closed);
  EXPECT_EQ(b.state(), EndpointState::peer_closed);
}

TEST(Endpoint, send_eof_is_a_half_close) {
  auto [a, b] = make_pair();
  ASSERT_EQ(a.send(bytes_of("last words")), Status::ok);
  a.send_eof();
  EXPECT_EQ(a.state(), EndpointState::send_closed);
  EXPECT_EQ(a.send(bytes_of("more")), Status::closed);
  std::vector<std::byte> got;
  ASSERT_EQ(b.recv(got), Status::ok);
  EXPECT_EQ(b.recv(got), Status::peer_closed);
  // The other direction still works.
  ASSERT_EQ(b.send(bytes_of("reply")), Status::ok);
  ASSERT_EQ(a.recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "reply");
}

TEST(Endpoint, destroying_an_endpoint_is_a_graceful_close) {
  auto pair = make_pair();
  ASSERT_EQ(pair.a.send(bytes_of("bye")), Status::ok);
  pair.a = Endpoint();
  std::vector<std::byte> got;
  ASSERT_EQ(pair.b.recv(got), Status::ok);
  EXPECT_EQ(pair.b.recv(got), Status::peer_closed);
}

TEST(Endpoint, close_wakes_a_peer_blocked_in_recv_with_eof) {
  ChannelOptions o;
  o.spin_budget = 0ns;
  auto [a, b] = make_pair(o);
  Watchdog dog(30s);
  auto got = std::async(std::launch::async, [&b] {
    std::vector<std::byte> m;
    return b.recv(m);
  });
  std::this_thread::sleep_for(20ms);
  a.close();
  EXPECT_EQ(got.get(), Status::peer_closed);
}

TEST(Endpoint, local_close_wakes_this_sides_blocked_recv_with_closed) {
  auto [a, b] = make_pair();
  Watchdog dog(30s);
  auto got = std::async(std::launch::async, [&b] {
    std::vector<std::byte> m;
    return b.recv(m);
  });
  std::this_thread::sleep_for(20ms);
  b.close();
  EXPECT_EQ(got.get(), Status::closed);
}

// b is blocked twice at once: in recv (a->b is empty) and in send (b->a is
// full). An abort by either side must end both calls.
void expect_abort_ends_both_blocked_calls(bool abort_from_peer) {
  ChannelOptions o = small_ring();
  o.spin_budget = 0ns;
  auto [a, b] = make_pair(o);
  const auto m = pattern(900);
  while (b.try_send(m) == Status::ok) {
  }
  Watchdog dog(30s);
  std::atomic<int> started{0};
  auto blocked_recv = std::async(std::launch::async, [&] {
    std::vector<std::byte> got;
    ++started;
    return b.recv(got);
  });
  auto blocked_send = std::async(std::launch::async, [&] {
    ++started;
    return b.send(m);
  });
  while (started < 2) std::this_thread::yield();
  std::this_thread::sleep_for(50ms);  // both are parked by now (spin budget 0)
  (abort_from_peer ? a : b).abort("shutting down");
  EXPECT_EQ(blocked_recv.get(), Status::aborted);
  EXPECT_EQ(blocked_send.get(), Status::aborted);
  std::vector<std::byte> got;
  EXPECT_EQ(a.try_recv(got), Status::aborted);  // data in flight is dropped
  EXPECT_EQ(a.send(m), Status::aborted);
  EXPECT_EQ(a.state(), EndpointState::aborted);
  EXPECT_EQ(b.state(), EndpointState::aborted);
  const std::string local = "aborted locally: shutting down";
  const std::string remote = "aborted by peer: shutting down";
  EXPECT_EQ(a.reason(), abort_from_peer ? local : remote);
  EXPECT_EQ(b.reason(), abort_from_peer ? remote : local);
}

TEST(Endpoint, abort_by_the_peer_ends_blocked_recv_and_send_at_once) {
  expect_abort_ends_both_blocked_calls(true);
}

TEST(Endpoint, abort_from_a_third_thread_ends_this_sides_blocked_calls) {
  expect_abort_ends_both_blocked_calls(false);
}

void ignore_signal(int) {}

TEST(Endpoint, a_signal_ends_a_parked_recv_only_when_asked_to) {
  struct sigaction sa {};
  sa.sa_handler = &ignore_signal;  // no SA_RESTART: the wait sees EINTR
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  ChannelOptions o;
  o.spin_budget = 0ns;
  auto [a, b] = make_pair(o);
  Watchdog dog(30s);
  b.set_return_on_signal(true);
  std::promise<pthread_t> who;
  auto got = std::async(std::launch::async, [&] {
    who.set_value(::pthread_self());
    std::vector<std::byte> m;
    return b.recv(m);
  });
  const pthread_t waiter = who.get_future().get();
  std::this_thread::sleep_for(30ms);
  ::pthread_kill(waiter, SIGUSR1);
  EXPECT_EQ(got.get(), Status::interrupted);
  EXPECT_EQ(b.state(), EndpointState::open);  // nothing changed

  b.set_return_on_signal(false);
  std::promise<pthread_t> who2;
  auto got2 = std::async(std::launch::async, [&] {
    who2.set_value(::pthread_self());
    std::vector<std::byte> m;
    return b.recv(m);
  });
  const pthread_t waiter2 = who2.get_future().get();
  std::this_thread::sleep_for(30ms);
  ::pthread_kill(waiter2, SIGUSR1);  // slept through
  std::this_thread::sleep_for(30ms);
  ASSERT_EQ(a.send(bytes_of("x")), Status::ok);
  EXPECT_EQ(got2.get(), Status::ok);
  ::sigaction(SIGUSR1, &old, nullptr);
}

TEST(Endpoint, an_abort_handle_aborts_the_channel_after_the_endpoint_moved_away) {
  ChannelOptions o;
  o.spin_budget = 0ns;
  auto pair = make_pair(o);
  const AbortHandle supervisor = pair.b.abort_handle();
  Endpoint moved = std::move(pair.b);
  Watchdog dog(30s);
  auto got = std::async(std::launch::async, [&moved] {
    std::vector<std::byte> m;
    return moved.recv(m);
  });
  std::this_thread::sleep_for(20ms);
  supervisor.abort("supervisor says stop");
  EXPECT_EQ(got.get(), Status::aborted);
  EXPECT_EQ(pair.a.reason(), "aborted by peer: supervisor says stop");
  EXPECT_FALSE(AbortHandle());
}

TEST(Endpoint, first_abort_reason_wins_and_long_reasons_are_truncated) {
  auto [a, b] = make_pair();
  b.abort(std::string(1000, 'r'));
  a.abort("second");
  EXPECT_EQ(b.reason(), "aborted locally: " + std::string(239, 'r'));
}

TEST(Endpoint, a_truncated_reason_never_ends_inside_a_utf8_character) {
  auto [a, b] = make_pair();
  // 238 ASCII bytes, then a 3-byte character that crosses the 239-byte limit.
  b.abort(std::string(238, 'r') + "\xE2\x82\xAC and more");
  EXPECT_EQ(b.reason(), "aborted locally: " + std::string(238, 'r'));
}

TEST(Endpoint, reserve_and_commit_write_in_place) {
  auto [a, b] = make_pair();
  std::span<std::byte> slot;
  ASSERT_EQ(a.try_reserve(100, slot), Status::ok);
  ASSERT_EQ(slot.size(), 100u);
  std::memcpy(slot.data(), "in place", 8);
  a.commit(8);
  std::span<const std::byte> view;
  ASSERT_EQ(b.try_peek(view), Status::ok);
  EXPECT_EQ(text_of(view), "in place");
  std::span<const std::byte> again;
  ASSERT_EQ(b.try_peek(again), Status::ok);  // peeking twice shows the same message
  EXPECT_EQ(again.data(), view.data());
  b.release();
  EXPECT_EQ(b.try_peek(view), Status::would_block);
}

TEST(Endpoint, reserve_beyond_one_frame_is_too_large) {
  auto [a, b] = make_pair(small_ring());
  std::span<std::byte> slot;
  EXPECT_EQ(a.try_reserve(a.max_frame_payload() + 1, slot), Status::too_large);
  EXPECT_EQ(a.try_reserve(a.max_frame_payload(), slot), Status::ok);
}

TEST(Endpoint, commit_without_reserve_is_a_logic_error) {
  auto [a, b] = make_pair();
  EXPECT_THROW(a.commit(1), std::logic_error);
  std::span<std::byte> slot;
  ASSERT_EQ(a.try_reserve(10, slot), Status::ok);
  EXPECT_THROW(a.commit(11), std::logic_error);
}

TEST(Endpoint, batched_commits_are_delivered_after_one_flush) {
  ChannelOptions o;
  o.spin_budget = 0ns;
  auto [a, b] = make_pair(o);
  Watchdog dog(30s);
  auto got = std::async(std::launch::async, [&b] {
    std::vector<std::byte> m;
    int n = 0;
    while (n < 10 && b.recv(m) == Status::ok) ++n;
    return n;
  });
  std::this_thread::sleep_for(20ms);  // let the reader park
  for (int i = 0; i < 10; ++i) {
    std::span<std::byte> slot;
    ASSERT_EQ(a.reserve(8, slot), Status::ok);
    a.commit(8, /*flush=*/false);
  }
  a.flush();
  EXPECT_EQ(got.get(), 10);
}

// More unflushed commits than the ring holds: the writer waiting for room
// must publish them and wake the parked reader, or both sleep forever.
TEST(Endpoint, unflushed_commits_that_fill_the_ring_wake_a_parked_reader) {
  ChannelOptions o = small_ring();
  o.spin_budget = 0ns;
  auto [a, b] = make_pair(o);
  Watchdog dog(30s);
  constexpr int kCount = 2000;  // far more 64-byte frames than a small ring holds
  auto got = std::async(std::launch::async, [&b] {
    std::vector<std::byte> m;
    int n = 0;
    while (n < kCount && b.recv(m) == Status::ok) ++n;
    return n;
  });
  std::this_thread::sleep_for(20ms);  // let the reader park
  for (int i = 0; i < kCount; ++i) {
    std::span<std::byte> slot;
    ASSERT_EQ(a.reserve(64, slot), Status::ok) << i;
    a.commit(64, /*flush=*/false);
  }
  a.flush();
  EXPECT_EQ(got.get(), kCount);
}

TEST(Endpoint, send_batch_delivers_every_message_in_order_with_large_ones_mixed_in) {
  auto [a, b] = make_pair(small_ring());
  std::vector<std::vector<std::byte>> messages;
  for (int i = 0; i < 40; ++i) messages.push_back(pattern(i % 10 == 9 ? 3000 : 1 + i * 7, i));
  std::vector<std::span<const std::byte>> views(messages.begin(), messages.end());
  Watchdog dog(60s);
  auto got = std::async(std::launch::async, [&b] {
    std::vector<std::vector<std::byte>> out(40);
    for (auto& m : out)
      if (b.recv(m) != Status::ok) break;
    return out;
  });
  std::size_t sent = 0;
  ASSERT_EQ(a.send_batch(views, sent), Status::ok);
  EXPECT_EQ(sent, 40u);
  EXPECT_EQ(got.get(), messages);
}

TEST(Endpoint, try_send_batch_sends_what_fits_and_says_how_many) {
  auto [a, b] = make_pair(small_ring());
  const auto m = pattern(500);
  const std::vector<std::span<const std::byte>> batch(20, std::span<const std::byte>(m));
  std::size_t sent = 0;
  ASSERT_EQ(a.try_send_batch(batch, sent), Status::ok);
  EXPECT_GT(sent, 3u);
  EXPECT_LT(sent, 20u);
  std::vector<std::byte> got;
  std::size_t received = 0;
  while (b.try_recv(got) == Status::ok) ++received;  // all published, none withheld
  EXPECT_EQ(received, sent);
  std::size_t none = 99;
  while (a.try_send(m) == Status::ok) {
  }
  EXPECT_EQ(a.try_send_batch(batch, none), Status::would_block);
  EXPECT_EQ(none, 0u);
}

TEST(Endpoint, send_batch_wakes_a_parked_reader) {
  ChannelOptions o;
  o.spin_budget = 0ns;
  auto [a, b] = make_pair(o);
  Watchdog dog(30s);
  auto got = std::async(std::launch::async, [&b] {
    std::vector<std::byte> m;
    int n = 0;
    while (n < 3 && b.recv(m) == Status::ok) ++n;
    return n;
  });
  std::this_thread::sleep_for(20ms);
  const std::string x = "x";
  const std::vector<std::span<const std::byte>> batch(3, bytes_of(x));
  std::size_t sent = 0;
  ASSERT_EQ(a.send_batch(batch, sent), Status::ok);
  EXPECT_EQ(got.get(), 3);
}

TEST(Endpoint, peek_of_a_fragmented_message_shows_it_reassembled) {
  auto [a, b] = make_pair(small_ring());
  const auto big = pattern(3000, 9);  // > 1016-byte frames of a 4 KiB ring
  ASSERT_EQ(a.try_send(big), Status::ok);
  ASSERT_FALSE(a.has_pending_send());
  std::span<const std::byte> view;
  ASSERT_EQ(b.try_peek(view), Status::ok);
  EXPECT_TRUE(std::equal(view.begin(), view.end(), big.begin(), big.end()));
  b.release();
}

TEST(Endpoint, recv_fd_becomes_readable_only_after_a_prepared_wait_is_rung) {
  auto [a, b] = make_pair();
  ASSERT_TRUE(b.prepare_recv_wait());  // nothing there: wait
  EXPECT_FALSE(readable(b.recv_fd()));
  ASSERT_EQ(a.send(bytes_of("x")), Status::ok);
  EXPECT_TRUE(readable(b.recv_fd()));
  EXPECT_TRUE(readable(b.fileno()));
  EXPECT_FALSE(b.prepare_recv_wait());  // data there: do not wait
  std::vector<std::byte> got;
  ASSERT_EQ(b.try_recv(got), Status::ok);
  ASSERT_TRUE(b.prepare_recv_wait());
  EXPECT_FALSE(readable(b.recv_fd()));  // drained
}

TEST(Endpoint, send_fd_becomes_readable_when_room_appears_for_a_parked_sender) {
  auto [a, b] = make_pair(small_ring());
  const auto m = pattern(900);
  while (a.try_send(m) == Status::ok) {
  }
  ASSERT_TRUE(a.prepare_send_wait(m.size()));
  EXPECT_FALSE(readable(a.send_fd()));
  std::vector<std::byte> got;
  while (b.try_recv(got) == Status::ok) {
  }
  EXPECT_TRUE(readable(a.send_fd()));
  EXPECT_EQ(a.try_send(m), Status::ok);
}

TEST(Endpoint, state_changes_make_the_event_fds_readable) {
  auto [a, b] = make_pair();
  ASSERT_TRUE(b.prepare_recv_wait());
  ASSERT_TRUE(a.prepare_recv_wait());
  b.abort("stop");
  EXPECT_TRUE(readable(a.recv_fd()));
  EXPECT_TRUE(readable(a.fileno()));
  EXPECT_TRUE(readable(b.recv_fd()));
  EXPECT_FALSE(a.prepare_recv_wait());
}

TEST(Options, bad_options_are_refused_with_a_sentence) {
  ChannelOptions o;
  o.ring_bytes = 5000;
  EXPECT_THROW(make_pair(o), std::invalid_argument);
  o.ring_bytes = 1024;
  EXPECT_THROW(make_pair(o), std::invalid_argument);
  o = ChannelOptions{};
  o.max_message_bytes = 0;
  try {
    make_pair(o);
    FAIL() << "accepted max_message_bytes = 0";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("max_message_bytes"), std::string::npos);
  }
}

TEST(Options, the_creators_sizes_are_what_both_sides_see) {
  ChannelOptions o;
  o.ring_bytes = 1 << 16;
  o.max_message_bytes = 12345;
  auto [a, b] = make_pair(o);
  EXPECT_EQ(b.options().ring_bytes, 1u << 16);
  EXPECT_EQ(b.options().max_message_bytes, 12345u);
  EXPECT_EQ(a.max_frame_payload(), (1u << 16) / 4 - 8);
  EXPECT_EQ(a.side(), 0);
  EXPECT_EQ(b.side(), 1);
}

}  // namespace
}  // namespace shmring

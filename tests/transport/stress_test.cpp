// Long, randomized traffic through a small ring: wrap-around, padding,
// fragmentation and parking, in one process (threads) and across fork().
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstring>
#include <thread>

#include "shmring/shmring.hpp"
#include "test_support.hpp"
#include "traffic.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using testing::TrafficPlan;
using testing::Watchdog;

ChannelOptions small_ring(std::chrono::nanoseconds spin) {
  ChannelOptions o;
  o.ring_bytes = 4096;  // messages reach 4x the ring: many are fragmented
  o.spin_budget = spin;
  return o;
}

void run_threads(const ChannelOptions& options, const TrafficPlan& plan) {
  auto [a, b] = make_pair(options);
  Watchdog dog(600s, "threaded traffic");
  std::size_t received = 0;
  std::thread reader([&] { received = testing::receive_traffic(b, plan); });
  const std::size_t sent = testing::send_traffic(a, plan);
  reader.join();
  EXPECT_EQ(sent, plan.messages);
  EXPECT_EQ(received, plan.messages);
  std::vector<std::byte> extra;
  EXPECT_EQ(b.try_recv(extra), Status::would_block);  // nothing duplicated
}

TEST(Stress, million_random_messages_between_threads_arrive_intact_and_in_order) {
  TrafficPlan plan;
  plan.messages = testing::stress_scale(1'000'000);
  run_threads(small_ring(2us), plan);
}

TEST(Stress, random_messages_with_both_sides_always_parking_lose_no_wakeup) {
  TrafficPlan plan;
  plan.messages = testing::stress_scale(200'000);
  plan.seed = 11;
  run_threads(small_ring(0ns), plan);
}

TEST(Stress, ping_pong_with_both_sides_parking_every_time_loses_no_wakeup) {
  ChannelOptions o;
  o.spin_budget = 0ns;  // every receive parks: the announce/check race runs each round
  auto [a, b] = make_pair(o);
  const std::size_t rounds = testing::stress_scale(100'000);
  Watchdog dog(600s, "parked ping-pong");
  std::thread echo([&b, rounds] {
    std::vector<std::byte> m;
    for (std::size_t i = 0; i < rounds; ++i) {
      if (b.recv(m) != Status::ok || b.send(m) != Status::ok) return;
    }
  });
  std::vector<std::byte> m(64);
  std::size_t done = 0;
  for (; done < rounds; ++done) {
    std::memcpy(m.data(), &done, sizeof done);
    if (a.send(m) != Status::ok || a.recv(m) != Status::ok) break;
    std::size_t back;
    std::memcpy(&back, m.data(), sizeof back);
    if (back != done) break;
  }
  echo.join();
  EXPECT_EQ(done, rounds);
}

TEST(Stress, million_random_messages_across_fork_arrive_intact_and_in_order) {
  TrafficPlan plan;
  plan.messages = testing::stress_scale(1'000'000);
  plan.seed = 23;
  auto pair = make_pair(small_ring(2us));
  Watchdog dog(600s, "forked traffic");
  const pid_t child = testing::fork_child([&] {
    // The child uses side a only. It must not destroy its copy of b: that would
    // close b in the shared state; fork_child exits without running destructors.
    return testing::send_traffic(pair.a, plan) == plan.messages ? 0 : 1;
  });
  ASSERT_GT(child, 0);
  const std::size_t received = testing::receive_traffic(pair.b, plan);
  EXPECT_EQ(testing::wait_child(child), 0);
  EXPECT_EQ(received, plan.messages);
}

}  // namespace
}  // namespace shmring

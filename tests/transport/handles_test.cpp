// The process-wide table of parked endpoints (shmring/handles.hpp): an
// endpoint parked under a fresh integer is claimed once, by anyone in the
// process; a discarded one is closed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "shmring/handles.hpp"
#include "shmring/shmring.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using testing::bytes_of;
using testing::text_of;

TEST(Handles, a_parked_endpoint_is_claimed_once_and_still_talks_to_its_peer) {
  Pair pair = make_pair();
  const std::size_t before = parked_endpoints();
  const std::uint64_t handle = park_endpoint(std::move(pair.b));
  EXPECT_NE(handle, 0u);
  EXPECT_EQ(parked_endpoints(), before + 1);
  std::optional<Endpoint> sut = claim_endpoint(handle);
  ASSERT_TRUE(sut.has_value());
  EXPECT_EQ(parked_endpoints(), before);
  EXPECT_FALSE(claim_endpoint(handle).has_value());  // once
  ASSERT_EQ(pair.a.send(bytes_of("through the table")), Status::ok);
  std::vector<std::byte> got;
  ASSERT_EQ(sut->try_recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "through the table");
}

TEST(Handles, an_unknown_handle_claims_and_discards_nothing) {
  EXPECT_FALSE(claim_endpoint(0).has_value());
  EXPECT_FALSE(claim_endpoint(~std::uint64_t{0}).has_value());
  EXPECT_FALSE(discard_endpoint(~std::uint64_t{0}));
}

TEST(Handles, a_discarded_endpoint_is_closed_and_its_peer_sees_eof) {
  Pair pair = make_pair();
  const std::uint64_t handle = park_endpoint(std::move(pair.b));
  EXPECT_TRUE(discard_endpoint(handle));
  EXPECT_FALSE(discard_endpoint(handle));
  EXPECT_FALSE(claim_endpoint(handle).has_value());
  std::vector<std::byte> got;
  EXPECT_EQ(pair.a.try_recv(got), Status::peer_closed);
}

TEST(Handles, handles_are_never_reused_and_threads_claim_each_exactly_once) {
  constexpr int kPerThread = 200;
  std::vector<std::uint64_t> handles;
  std::vector<Pair> pairs;
  for (int i = 0; i < 4 * kPerThread; ++i) {
    pairs.push_back(make_pair());
    handles.push_back(park_endpoint(std::move(pairs.back().b)));
  }
  EXPECT_EQ(std::set<std::uint64_t>(handles.begin(), handles.end()).size(), handles.size());
  std::atomic<int> claimed{0};  // relaxed: only read after the joins
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    // Every thread tries every handle: each must be claimed by exactly one.
    threads.emplace_back([&] {
      for (std::uint64_t h : handles) claimed.fetch_add(claim_endpoint(h).has_value() ? 1 : 0, std::memory_order_relaxed);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(claimed.load(std::memory_order_relaxed), 4 * kPerThread);
  const std::uint64_t next = park_endpoint(std::move(pairs.front().a));
  EXPECT_TRUE(std::none_of(handles.begin(), handles.end(), [&](std::uint64_t h) { return h == next; }));
  EXPECT_TRUE(discard_endpoint(next));
}

}  // namespace
}  // namespace shmring

// Cross-process channels through Listener/connect: real processes (fork),
// real SIGKILL, peer death, hostile peers. The listener's own refusals and
// rules (stale sockets, insecure directories, garbage peers): listener_test.cpp.
#include <gtest/gtest.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <set>
#include <thread>

#include "endpoint_core.hpp"
#include "handshake.hpp"
#include "platform.hpp"
#include "shmring/shmring.hpp"
#include "channels.hpp"
#include "test_support.hpp"
#include "traffic.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using testing::accept_one;
using testing::bytes_of;
using testing::TempDir;
using testing::text_of;
using testing::Watchdog;

std::set<std::string> dev_shm_entries() {
  std::set<std::string> names;
  if (DIR* d = ::opendir("/dev/shm")) {
    while (dirent* e = ::readdir(d)) names.insert(e->d_name);
    ::closedir(d);
  }
  return names;
}

TEST(Process, listener_and_connect_exchange_messages_across_processes) {
  TempDir dir;
  Listener listener(dir.file("echo.sock"));
  Watchdog dog(60s);
  const pid_t child = testing::fork_child([&] {
    Endpoint ep = connect(dir.file("echo.sock"));
    if (ep.send(bytes_of("ping")) != Status::ok) return 1;
    std::vector<std::byte> got;
    if (ep.recv(got) != Status::ok || text_of(got) != "pong") return 2;
    ep.close();
    return 0;
  });
  Endpoint ep = accept_one(listener);
  EXPECT_EQ(ep.peer_pid(), child);  // as the kernel reported it
  EXPECT_EQ(ep.side(), 1);
  std::vector<std::byte> got;
  ASSERT_EQ(ep.recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "ping");
  ASSERT_EQ(ep.send(bytes_of("pong")), Status::ok);
  EXPECT_EQ(ep.recv(got), Status::peer_closed);  // closed, then exited: EOF, not death
  EXPECT_EQ(testing::wait_child(child), 0);
}

TEST(Process, random_traffic_through_a_listener_arrives_intact_in_both_directions) {
  TempDir dir;
  ChannelOptions o;
  o.ring_bytes = 4096;
  testing::TrafficPlan plan;
  plan.messages = testing::stress_scale(100'000);
  Listener listener(dir.file("traffic.sock"));
  Watchdog dog(300s);
  const pid_t child = testing::fork_child([&] {
    Endpoint ep = connect(dir.file("traffic.sock"), o);
    std::thread back([&] { testing::send_traffic(ep, plan); });
    const bool ok = testing::receive_traffic(ep, plan) == plan.messages;
    back.join();
    return ok ? 0 : 1;
  });
  Endpoint ep = accept_one(listener);
  EXPECT_EQ(ep.options().ring_bytes, 4096u);  // the connector's options
  std::size_t received = 0;
  std::thread reader([&] { received = testing::receive_traffic(ep, plan); });
  EXPECT_EQ(testing::send_traffic(ep, plan), plan.messages);
  reader.join();
  EXPECT_EQ(received, plan.messages);
  EXPECT_EQ(testing::wait_child(child), 0);
}

// The child connects, optionally fills the parent's inbound ring, then waits
// to be killed.
pid_t start_victim(const std::string& path, bool fill_parent_ring = false) {
  return testing::fork_child([path, fill_parent_ring] {
    ChannelOptions o;
    o.ring_bytes = 4096;
    Endpoint ep = connect(path, o);
    if (fill_parent_ring) {
      while (ep.try_send(std::vector<std::byte>(900)) == Status::ok) {
      }
    }
    (void)ep.send(bytes_of("ready"));  // may block on a full ring: fine, we wait to die
    for (;;) ::pause();
    return 0;
  });
}

TEST(Process, peer_killed_while_we_are_blocked_in_recv_gives_peer_died) {
  TempDir dir;
  const auto shm_before = dev_shm_entries();
  Listener listener(dir.file("victim.sock"));
  Watchdog dog(60s);
  const pid_t child = start_victim(dir.file("victim.sock"));
  Endpoint ep = accept_one(listener);
  std::vector<std::byte> got;
  ASSERT_EQ(ep.recv(got), Status::ok);  // "ready"
  auto blocked = std::async(std::launch::async, [&] {
    std::vector<std::byte> m;
    const Status st = ep.recv(m);
    return std::make_pair(st, std::chrono::steady_clock::now());
  });
  std::this_thread::sleep_for(50ms);  // blocked (parked) by now
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  const auto [st, returned_at] = blocked.get();
  EXPECT_EQ(st, Status::peer_died);
  EXPECT_EQ(ep.state(), EndpointState::peer_died);
  EXPECT_EQ(ep.send(bytes_of("anyone?")), Status::peer_died);
  EXPECT_EQ(testing::wait_child(child), 128 + SIGKILL);
  // Informational only (timing belongs to the benchmark): how long the notice took.
  std::printf("peer death noticed %.3f ms after SIGKILL\n",
              std::chrono::duration<double, std::milli>(returned_at - killed_at).count());
  EXPECT_EQ(dev_shm_entries(), shm_before);
}

TEST(Process, peer_killed_while_we_are_blocked_in_send_on_a_full_ring_gives_peer_died) {
  TempDir dir;
  Listener listener(dir.file("victim.sock"));
  Watchdog dog(60s);
  const pid_t child = start_victim(dir.file("victim.sock"));
  Endpoint ep = accept_one(listener);
  std::vector<std::byte> got;
  ASSERT_EQ(ep.recv(got), Status::ok);
  const std::vector<std::byte> m(900);
  while (ep.try_send(m) == Status::ok) {  // the child never reads: our ring fills
  }
  auto blocked = std::async(std::launch::async, [&] { return ep.send(m); });
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(blocked.get(), Status::peer_died);
  testing::wait_child(child);
}

TEST(Process, messages_a_peer_sent_before_dying_are_still_delivered_then_peer_died) {
  TempDir dir;
  Listener listener(dir.file("victim.sock"));
  Watchdog dog(60s);
  const pid_t child = start_victim(dir.file("victim.sock"), /*fill_parent_ring=*/true);
  Endpoint ep = accept_one(listener);
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  testing::wait_child(child);
  std::vector<std::byte> got;
  int delivered = 0;
  Status st;
  while ((st = ep.recv(got)) == Status::ok) ++delivered;
  EXPECT_EQ(st, Status::peer_died);
  EXPECT_GE(delivered, 3);
}

// Issue 14.3: our own fragmented send, torn because the peer died, must not
// abort the channel and throw away the frames the peer sent before dying.
TEST(Process, a_send_torn_by_the_peers_death_keeps_what_it_sent_readable) {
  TempDir dir;
  Listener listener(dir.file("victim.sock"));
  Watchdog dog(60s);
  const pid_t child = start_victim(dir.file("victim.sock"), /*fill_parent_ring=*/true);
  Endpoint ep = accept_one(listener);
  // Larger than the ring: it is fragmented and, as the child never reads,
  // stays in the middle when the child dies.
  const std::vector<std::byte> big(ep.options().ring_bytes * 2, std::byte{7});
  auto blocked = std::async(std::launch::async, [&] { return ep.send(big); });
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(blocked.get(), Status::peer_died);
  testing::wait_child(child);
  std::vector<std::byte> got;
  int delivered = 0;
  Status st;
  while ((st = ep.recv(got)) == Status::ok) ++delivered;
  EXPECT_EQ(st, Status::peer_died) << ep.reason();
  EXPECT_GE(delivered, 3);
  EXPECT_EQ(ep.state(), EndpointState::peer_died);
}

// Issue 14.1: the eventfds are open file descriptions shared with the peer.
// A hostile peer clears O_NONBLOCK on them, saturates their counters and sets
// the parked flags in shared memory; our timed receive must still time out,
// a non-blocking send must not block, and the peer's death must be noticed.
TEST(Process, a_peer_that_makes_the_eventfds_blocking_cannot_make_our_calls_block) {
  TempDir dir;
  Listener listener(dir.file("hostile.sock"));
  Watchdog dog(60s, "a blocked eventfd read or write");
  int tampered[2];
  ASSERT_EQ(::pipe(tampered), 0);
  const pid_t child = testing::fork_child([&] {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a failed test
    ::close(tampered[0]);
    Endpoint ep = connect(dir.file("hostile.sock"));
    if (ep.send(bytes_of("ready")) != Status::ok) return 1;
    std::this_thread::sleep_for(50ms);
    for (const int fd : testing::open_eventfds()) {
      std::uint64_t count;
      (void)!::read(fd, &count, sizeof count);  // still non-blocking: to zero, then saturate
      const std::uint64_t saturated = 0xfffffffffffffffeULL;
      (void)!::write(fd, &saturated, sizeof saturated);
      ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }
    for (auto& ring : ep.core().control_for_tests()->ring) {
      ring.reader_parked.store(1);
      ring.writer_parked.store(1);
    }
    (void)!::write(tampered[1], "t", 1);
    for (;;) ::pause();
    return 0;
  });
  ::close(tampered[1]);
  Endpoint ep = accept_one(listener);
  std::vector<std::byte> got;
  ASSERT_EQ(ep.recv(got), Status::ok);
  char c;
  ASSERT_EQ(::read(tampered[0], &c, 1), 1);
  ::close(tampered[0]);
  EXPECT_EQ(ep.recv_for(got, 200ms), Status::timeout);  // was: blocked in read() for ever
  EXPECT_EQ(ep.recv_for(got, 50ms), Status::timeout);
  EXPECT_EQ(ep.try_send(bytes_of("x")), Status::ok);  // was: blocked in write() on the saturated counter
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  EXPECT_EQ(ep.recv_for(got, 30s), Status::peer_died);
  testing::wait_child(child);
}

TEST(Process, killing_peers_at_random_moments_leaves_nothing_in_dev_shm) {
  TempDir dir;
  const auto shm_before = dev_shm_entries();
  Listener listener(dir.file("churn.sock"));
  Watchdog dog(120s);
  std::mt19937 rng(5);
  for (int round = 0; round < 20; ++round) {
    const pid_t child = testing::fork_child([&] {
      testing::TrafficPlan plan;
      plan.messages = 1'000'000;  // far more than it will live to send
      Endpoint ep = connect(dir.file("churn.sock"));
      testing::send_traffic(ep, plan);
      return 0;
    });
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    ::kill(child, SIGKILL);
    EXPECT_EQ(testing::wait_child(child), 128 + SIGKILL);
    // The child may have died before, during or after the handshake.
    while (auto ep = listener.accept_for(50ms)) {
      std::vector<std::byte> got;
      Status st;
      while ((st = ep->recv(got)) == Status::ok) {
      }
      EXPECT_EQ(st, Status::peer_died) << "round " << round;
    }
  }
  EXPECT_EQ(dev_shm_entries(), shm_before);
}

}  // namespace
}  // namespace shmring

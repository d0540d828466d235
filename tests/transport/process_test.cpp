// Cross-process channels through Listener/connect: real processes (fork),
// real SIGKILL, real uids. Also what a demanding user would try: connecting
// where nobody listens, stale sockets, insecure directories, garbage peers.
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
#include "test_support.hpp"
#include "traffic.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
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

// Waits (bounded) for the listener to hand over one endpoint.
Endpoint accept_one(Listener& listener) {
  auto e = listener.accept_for(30s);
  if (!e) throw std::runtime_error("no peer connected within 30 s");
  return std::move(*e);
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

TEST(Process, connect_to_a_path_nobody_listens_on_fails_fast_with_a_clear_error) {
  TempDir dir;
  try {
    connect(dir.file("nobody.sock"));
    FAIL() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), ENOENT);
    EXPECT_NE(std::string(e.what()).find("nothing listens there"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir.file("nobody.sock")), std::string::npos) << e.what();
  }
  { auto fd = detail::listen_unix(dir.file("stale.sock")); }  // a dead listener's leftover
  try {
    connect(dir.file("stale.sock"));
    FAIL() << "connected to a stale socket";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), ECONNREFUSED);
  }
}

TEST(Process, connect_times_out_when_the_listener_never_accepts) {
  TempDir dir;
  Listener listener(dir.file("idle.sock"));
  try {
    connect(dir.file("idle.sock"), {}, 100ms);
    FAIL() << "handshake completed without accept";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), ETIMEDOUT);
    EXPECT_NE(std::string(e.what()).find("did not answer"), std::string::npos) << e.what();
  }
}

TEST(Process, a_stale_socket_is_replaced_and_a_live_listener_is_an_error) {
  TempDir dir;
  const std::string path = dir.file("l.sock");
  { auto stale = detail::listen_unix(path); }  // a dead listener's leftover
  Listener first(path);
  try {
    Listener second(path);
    FAIL() << "two listeners on one path";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), EADDRINUSE);
  }
  first.close();
  struct stat st {};
  EXPECT_NE(::stat(path.c_str(), &st), 0);  // removed on close
}

TEST(Process, listener_refuses_a_directory_other_users_can_enter) {
  TempDir dir;
  const std::string open_dir = dir.file("open");
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0755), 0);
  ASSERT_EQ(::chmod(open_dir.c_str(), 0755), 0);
  try {
    Listener l(open_dir + "/x.sock");
    FAIL() << "listened in a 0755 directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code().value(), EACCES);
    EXPECT_NE(std::string(e.what()).find("mode 0755"), std::string::npos) << e.what();
  }
  // A missing directory is created private.
  Listener made(dir.file("fresh") + "/x.sock");
  struct stat st {};
  ASSERT_EQ(::stat(dir.file("fresh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(::stat(made.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Reads the listener's reply on a raw connection (bounded wait).
std::string read_reply(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 10'000) != 1) return "<no reply>";
  detail::Reply reply;
  const auto n = ::recv(fd, &reply, sizeof reply, 0);
  if (n != static_cast<ssize_t>(sizeof reply)) return "<short reply>";
  return (reply.accepted ? "accepted: " : "refused: ") + std::string(reply.text, std::min<std::size_t>(reply.text_length, 231));
}

TEST(Process, listener_refuses_a_peer_of_another_uid) {
  if (::geteuid() != 0) GTEST_SKIP() << "switching to another uid needs root; this runs as uid " << ::geteuid();
  TempDir dir;
  Listener listener(dir.file("guarded.sock"));
  // Open the door on purpose, so only the SO_PEERCRED check stands in the way.
  ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
  ASSERT_EQ(::chmod(listener.path().c_str(), 0666), 0);
  Watchdog dog(60s);
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  const pid_t child = testing::fork_child([&] {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 3;
    auto fd = detail::connect_unix(listener.path());
    const std::string reply = read_reply(fd.get());
    if (::write(pipe_fds[1], reply.data(), reply.size()) < 0) return 6;
    // shmring::connect refuses a listener of another uid on its side too.
    try {
      connect(listener.path());
      return 4;
    } catch (const Error& e) {
      return std::string(e.what()).find("runs as uid 0") != std::string::npos ? 0 : 5;
    }
  });
  ::close(pipe_fds[1]);
  while (listener.refused_count() == 0) (void)listener.accept_for(50ms);
  EXPECT_EQ(testing::wait_child(child), 0);
  char buf[512] = {};
  const auto n = ::read(pipe_fds[0], buf, sizeof buf - 1);
  ::close(pipe_fds[0]);
  const std::string reply(buf, n > 0 ? n : 0);
  EXPECT_NE(reply.find("refused: uid 65534"), std::string::npos) << reply;
  EXPECT_NE(listener.last_refusal().find("accepts only its own uid 0"), std::string::npos) << listener.last_refusal();
}

TEST(Process, garbage_instead_of_a_hello_is_refused_and_the_listener_keeps_serving) {
  TempDir dir;
  Listener listener(dir.file("l.sock"));
  auto raw = detail::connect_unix(listener.path());
  const char junk[16] = "not a hello!!!!";
  ASSERT_EQ(::send(raw.get(), junk, sizeof junk, 0), static_cast<ssize_t>(sizeof junk));
  EXPECT_FALSE(listener.accept_for(100ms).has_value());
  EXPECT_EQ(listener.refused_count(), 1u);
  EXPECT_NE(read_reply(raw.get()).find("refused: "), std::string::npos);
  Watchdog dog(60s);
  const pid_t child = testing::fork_child([&] {
    Endpoint ep = connect(listener.path());
    return ep.send(bytes_of("fine")) == Status::ok ? 0 : 1;
  });
  Endpoint ep = accept_one(listener);
  std::vector<std::byte> got;
  EXPECT_EQ(ep.recv(got), Status::ok);
  EXPECT_EQ(testing::wait_child(child), 0);
}

TEST(Process, a_peer_that_stalls_in_the_handshake_is_dropped) {
  TempDir dir;
  Listener listener(dir.file("l.sock"), {}, 100ms);
  auto raw = detail::connect_unix(listener.path());  // and then says nothing
  EXPECT_FALSE(listener.accept_for(1s).has_value());
  EXPECT_EQ(listener.refused_count(), 1u);
  EXPECT_NE(listener.last_refusal().find("did not complete the handshake"), std::string::npos);
}

TEST(Process, event_loop_style_connect_and_accept_never_block) {
  TempDir dir;
  Listener listener(dir.file("l.sock"));
  auto pending = PendingConnection::start(listener.path());
  EXPECT_FALSE(pending.try_finish().has_value());  // no answer yet: the listener has not run
  std::optional<Endpoint> server;
  for (int i = 0; i < 1000 && !server; ++i) {
    pollfd p{listener.fileno(), POLLIN, 0};
    ::poll(&p, 1, 10);
    server = listener.try_accept();
  }
  ASSERT_TRUE(server.has_value());
  std::optional<Endpoint> client;
  for (int i = 0; i < 1000 && !client; ++i) {
    pollfd p{pending.fileno(), POLLIN, 0};
    ::poll(&p, 1, 10);
    client = pending.try_finish();
  }
  ASSERT_TRUE(client.has_value());
  ASSERT_EQ(client->send(bytes_of("same process")), Status::ok);
  std::vector<std::byte> got;
  ASSERT_EQ(server->recv(got), Status::ok);
  EXPECT_EQ(text_of(got), "same process");
}

}  // namespace
}  // namespace shmring

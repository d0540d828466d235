// Actors on real threads and real processes: local and remote requests,
// outboxes, failure and stop reaching every peer. Supervision:
// supervisor_test.cpp; the mailbox alone: mailbox_test.cpp.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "adder.hpp"
#include "messages.hpp"
#include "shmring/actors.hpp"
#include "shmring/shmring.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using namespace test_messages;
using actors::Actor;
using actors::ActorOptions;
using actors::Context;
using actors::PeerId;
using actors::RequestError;
using typed::Kind;

using testing::make_adder;

TEST(Actor, answers_a_local_ask_from_another_thread) {
  auto adder = make_adder("adder");
  adder->start();
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(adder->ref().ask<Sum>(Add{i, 1}, 10s).value, i + 1);
  }
  adder->stop();
  const auto exit = adder->join();
  EXPECT_FALSE(exit.failed);
  EXPECT_EQ(exit.reason, "stopped");
  EXPECT_FALSE(adder->ref().alive());
  EXPECT_FALSE(adder->ref().tell(Ping{}));
  EXPECT_THROW(adder->ref().ask<Sum>(Add{1, 1}, 1s), RequestError);
}

TEST(Actor, an_ask_whose_handler_fails_the_actor_learns_why_at_once) {
  auto adder = make_adder("adder");
  adder->start();
  try {
    (void)adder->ref().ask<Sum>(Crash{"asked to fail"}, 60s);
    FAIL() << "no RequestError";
  } catch (const RequestError& e) {
    EXPECT_EQ(e.reason(), RequestError::Reason::channel_lost);
    EXPECT_NE(std::string(e.what()).find("asked to fail"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(adder->join().failed);
}

TEST(Actor, many_local_senders_lose_nothing) {
  std::atomic<int> pings{0};
  auto counter = make_adder("counter", &pings);
  counter->start();
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) ASSERT_TRUE(counter->ref().tell(Ping{static_cast<std::uint64_t>(i), ""}));
    });
  }
  for (auto& s : senders) s.join();
  // Order holds per sending thread only (moodycamel's queue), so wait for
  // the count rather than queueing a marker behind the others.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (pings.load() < kThreads * kEach && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(pings.load(), kThreads * kEach);
  EXPECT_EQ(counter->stats().handled, static_cast<std::uint64_t>(kThreads * kEach));
}

TEST(Actor, serves_requests_from_a_plain_endpoint_peer) {
  auto adder = make_adder("adder");
  auto [mine, theirs] = make_pair();
  adder->attach(std::move(theirs));
  adder->start();
  for (std::uint64_t id = 1; id <= 500; ++id) {
    ASSERT_EQ(typed::send(mine, Add{static_cast<std::int64_t>(id), 2}, Kind::request, id), Status::ok);
    typed::View<Sum> reply;
    ASSERT_EQ(typed::peek_for(mine, reply, 10s), Status::ok);
    EXPECT_EQ(reply.kind(), Kind::reply);
    EXPECT_EQ(reply.id(), id);
    EXPECT_EQ(reply->value, static_cast<std::int64_t>(id + 2));
  }
}

TEST(Actor, an_unknown_request_gets_an_error_reply_and_garbage_is_counted) {
  auto adder = make_adder("adder");
  auto [mine, theirs] = make_pair();
  adder->attach(std::move(theirs));
  adder->start();
  ASSERT_EQ(mine.send(testing::bytes_of("definitely not msgpack \xc1")), Status::ok);
  ASSERT_EQ(typed::send(mine, Greet{"x"}, Kind::request, 7), Status::ok);
  typed::View<typed::ErrorBody> err;
  ASSERT_EQ(typed::peek_for(mine, err, 10s), Status::ok);
  EXPECT_EQ(err.kind(), Kind::error);
  EXPECT_EQ(err.id(), 7u);
  EXPECT_NE(err->message.find("no handler for 'greet'"), std::string::npos) << err->message;
  err.release();
  // Still serving.
  ASSERT_EQ(typed::send(mine, Add{1, 1}, Kind::request, 8), Status::ok);
  Sum s;
  ASSERT_EQ(typed::recv_for(mine, s, 10s), Status::ok);
  EXPECT_EQ(s.value, 2);
  EXPECT_EQ(adder->stats().unhandled, 2u);
}

TEST(Actor, two_actors_request_each_other_with_callbacks_and_timeouts) {
  auto server = make_adder("server");
  server->on<Greet>([](const Greet&, Context& ctx) { (void)ctx.defer_reply(); });  // never answers
  auto [x, y] = make_pair();
  server->attach(std::move(y));
  server->start();

  std::atomic<std::int64_t> sum{0};
  std::atomic<int> timeouts{0};
  Actor client(ActorOptions{.name = "client"});
  PeerId to_server = 0;
  client.on_start([&](Context& ctx) {
    for (int i = 1; i <= 100; ++i) {
      ctx.request<Sum>(to_server, Add{i, 0}, 10s, [&](actors::Result<Sum>& r) { sum += r.value().value; });
    }
    ctx.request<Greeting>(to_server, Greet{"nobody"}, 50ms, [&](actors::Result<Greeting>& r) {
      EXPECT_FALSE(r.ok());
      EXPECT_EQ(r.error().reason(), RequestError::Reason::timeout);
      timeouts++;
    });
  });
  to_server = client.attach(std::move(x));
  client.start();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while ((sum.load() != 5050 || timeouts.load() != 1) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(sum.load(), 5050);
  EXPECT_EQ(timeouts.load(), 1);
}

TEST(Actor, a_failing_handler_aborts_every_channel_with_the_reason) {
  auto adder = make_adder("adder");
  auto [p1, a1] = make_pair();
  auto [p2, a2] = make_pair();
  adder->attach(std::move(a1));
  adder->attach(std::move(a2));
  adder->start();
  std::thread parked([&, &p2 = p2] {
    std::vector<std::byte> m;
    EXPECT_EQ(p2.recv(m), Status::aborted);  // woken by the failure
  });
  ASSERT_EQ(typed::send(p1, Crash{"on purpose"}), Status::ok);
  const auto exit = adder->join();
  parked.join();
  EXPECT_TRUE(exit.failed);
  EXPECT_NE(exit.reason.find("on purpose"), std::string::npos) << exit.reason;
  EXPECT_NE(p1.reason().find("actor 'adder' failed"), std::string::npos) << p1.reason();
  EXPECT_NE(p2.reason().find("on purpose"), std::string::npos) << p2.reason();
}

TEST(Actor, a_stop_delivers_what_was_sent_then_eof) {
  Actor talker(ActorOptions{.name = "talker"});
  auto [mine, theirs] = make_pair();
  talker.on<Ping>([](const Ping& p, Context& ctx) {
    for (std::uint64_t i = 0; i < p.seq; ++i) ASSERT_EQ(ctx.send(ctx.from(), Pong{i}), Status::ok);
    ctx.stop("done talking");
  });
  talker.attach(std::move(theirs));
  talker.start();
  ASSERT_EQ(typed::send(mine, Ping{100, ""}), Status::ok);
  Pong p;
  for (std::uint64_t i = 0; i < 100; ++i) {
    ASSERT_EQ(typed::recv_for(mine, p, 10s), Status::ok);
    EXPECT_EQ(p.seq, i);
  }
  EXPECT_EQ(typed::recv_for(mine, p, 10s), Status::peer_closed);
  EXPECT_EQ(talker.join().reason, "done talking");
}

ChannelOptions small_ring() {
  ChannelOptions small;
  small.ring_bytes = 4096;
  return small;
}

// Ping{n} makes the actor send n Pongs back at once: far more than a 4 KiB ring holds.
void answer_pings_with_pongs(Actor& actor) {
  actor.on<Ping>([](const Ping& p, Context& ctx) {
    for (std::uint64_t i = 0; i < p.seq; ++i) ASSERT_EQ(ctx.send(ctx.from(), Pong{i}), Status::ok);
  });
}

TEST(Actor, a_peer_that_does_not_read_gets_an_outbox_not_a_blocked_actor) {
  auto [mine, theirs] = make_pair(small_ring());
  Actor flood(ActorOptions{.name = "flood"});
  answer_pings_with_pongs(flood);
  flood.on<Add>([](const Add& m, Context&) { return Sum{m.a + m.b}; });
  flood.attach(std::move(theirs));
  flood.start();
  ASSERT_EQ(typed::send(mine, Ping{5000, ""}), Status::ok);
  // The actor stays responsive while 5000 Pongs wait for a 4 KiB ring.
  EXPECT_EQ(flood.ref().ask<Sum>(Add{1, 2}, 10s).value, 3);
}

TEST(Actor, an_outbox_drains_in_order_once_the_peer_reads) {
  auto [mine, theirs] = make_pair(small_ring());
  Actor flood(ActorOptions{.name = "flood"});
  answer_pings_with_pongs(flood);
  flood.attach(std::move(theirs));
  flood.start();
  ASSERT_EQ(typed::send(mine, Ping{5000, ""}), Status::ok);
  std::this_thread::sleep_for(20ms);
  Pong p;
  for (std::uint64_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(typed::recv_for(mine, p, 10s), Status::ok);
    ASSERT_EQ(p.seq, i);
  }
}

TEST(Actor, a_killed_peer_process_fails_its_pending_requests_and_reports_the_loss) {
  testing::TempDir dir;
  const std::string path = dir.file("kill.sock");
  Listener listener(path);
  const pid_t child = testing::fork_child([&] {
    Endpoint ep = connect(path);
    Ping p;
    (void)typed::recv(ep, p);  // gets the request, never answers
    ::pause();
    return 0;
  });
  Endpoint ep = listener.accept();
  std::atomic<int> lost{0};
  std::atomic<int> failed{0};
  Status lost_status = Status::ok;
  Actor asker(ActorOptions{.name = "asker"});
  PeerId peer = 0;
  asker.on_peer_lost([&](PeerId id, Status st, std::string_view, Context&) {
    EXPECT_EQ(id, peer);
    lost_status = st;
    lost++;
  });
  asker.on_start([&](Context& ctx) {
    ctx.request<Pong>(peer, Ping{1, "answer me"}, 60s, [&](actors::Result<Pong>& r) {
      EXPECT_EQ(r.error().reason(), RequestError::Reason::channel_lost);
      failed++;
    });
  });
  peer = asker.attach(std::move(ep));
  asker.start();
  std::this_thread::sleep_for(50ms);
  ::kill(child, SIGKILL);
  EXPECT_EQ(testing::wait_child(child), 128 + SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (lost.load() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(lost.load(), 1);
  EXPECT_EQ(failed.load(), 1);
  EXPECT_EQ(lost_status, Status::peer_died);
  EXPECT_TRUE(asker.running());
}

TEST(Actor, an_actor_in_another_process_serves_requests) {
  testing::TempDir dir;
  const std::string path = dir.file("proc.sock");
  Listener listener(path);
  const pid_t child = testing::fork_child([&] {
    auto adder = make_adder("remote-adder");
    adder->on_peer_lost([](PeerId, Status, std::string_view, Context& ctx) { ctx.stop(); });
    adder->attach(connect(path));
    adder->start();
    return adder->join().failed ? 1 : 0;
  });
  Endpoint ep = listener.accept();
  Actor local(ActorOptions{.name = "local"});
  std::atomic<std::int64_t> total{0};
  std::atomic<int> replies{0};
  PeerId remote = 0;
  local.on_start([&](Context& ctx) {
    for (int i = 0; i < 200; ++i) {
      ctx.request<Sum>(remote, Add{i, i}, 10s, [&](actors::Result<Sum>& r) {
        total += r.value().value;
        replies++;
      });
    }
  });
  remote = local.attach(std::move(ep));
  local.start();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (replies.load() < 200 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(total.load(), 2 * 199 * 200 / 2);
  local.stop();
  local.join();  // closes the channel: the remote actor stops cleanly
  EXPECT_EQ(testing::wait_child(child), 0);
}

}  // namespace
}  // namespace shmring

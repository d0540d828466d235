// Python actors of a C++ host, talking to C++ over shmring channels: the
// spawner with shmring's runner ("shmring._actor", which hands each entry a
// shmring._core.Endpoint), so these need the Python extension built. The
// spawner's own tests (no extension) are in spawner_test.cpp.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "../messaging/messages.hpp"
#include "shmring/actors.hpp"
#include "shmring/shmring.hpp"
#include "embedded_python.hpp"
#include "shmring/spawner.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using testing::bytes_of;
using testing::text_of;

std::string receive(Endpoint& ep) {
  std::vector<std::byte> m;
  const Status st = ep.recv_for(m, 30s);
  return st == Status::ok ? text_of(m) : "<" + std::string(to_string(st)) + ">";
}

// Each entry gets a shmring._core.Endpoint.
Spawner spawner_of_python_actors() { return Spawner({.runner = "shmring._actor", .pool = {}}); }

SpawnRequest request(const std::string& entry, InterpreterConfig config = InterpreterConfig::isolated) {
  SpawnRequest r;
  r.entry = entry;
  r.config = config;
  return r;
}

class PythonActorsTest : public ::testing::TestWithParam<InterpreterConfig> {};

TEST_P(PythonActorsTest, a_python_actor_answers_a_cpp_parent_and_returns_bytes) {
  Spawner sut = spawner_of_python_actors();
  SpawnRequest r = request("cpp_actors:echo", GetParam());
  r.args = "bye";
  Actor actor = sut.spawn(std::move(r));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(actor.channel().send(bytes_of("hello " + std::to_string(i))), Status::ok);
    EXPECT_EQ(receive(actor.channel()), "HELLO " + std::to_string(i));
  }
  actor.channel().close();
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.state(), ActorState::exited);
  EXPECT_EQ(actor.result(), "bye");
  EXPECT_GT(actor.startup_seconds(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Configs, PythonActorsTest,
                         ::testing::Values(InterpreterConfig::isolated, InterpreterConfig::legacy));

TEST(PythonActors, four_actors_run_at_once) {
  Spawner sut = spawner_of_python_actors();
  std::vector<Actor> actors;
  for (int i = 0; i < 4; ++i) actors.push_back(sut.spawn(request("cpp_actors:echo")));
  for (int round = 0; round < 20; ++round) {
    for (auto& a : actors) ASSERT_EQ(a.channel().send(bytes_of("x")), Status::ok);
    for (auto& a : actors) EXPECT_EQ(receive(a.channel()), "X");
  }
  for (auto& a : actors) a.channel().close();
  for (auto& a : actors) EXPECT_TRUE(a.join(30s));
}

TEST(PythonActors, kill_of_a_child_waiting_on_its_channel_ends_at_the_abort) {
  Spawner sut = spawner_of_python_actors();
  Actor actor = sut.spawn(request("cpp_actors:wait_on_channel"));
  ASSERT_EQ(receive(actor.channel()), "started");
  EXPECT_EQ(actor.kill(3s), KillStep::channel_abort);
  EXPECT_EQ(actor.kill(3s), KillStep::already_ended);
}

TEST(PythonActors, a_cpp_actor_and_a_python_actor_in_a_sub_interpreter_exchange_typed_messages) {
  using namespace test_messages;
  Spawner sut = spawner_of_python_actors();
  Actor child = sut.spawn(request("typed_actor:serve", InterpreterConfig::legacy));

  actors::Actor host(actors::ActorOptions{.name = "host"});
  std::atomic<std::uint64_t> pong{0};
  std::string greeting;  // written by the actor thread, read after join
  host.on<Add>([](const Add& m, actors::Context&) { return Sum{m.a + m.b}; });
  host.on<Pong>([&](const Pong& p, actors::Context& ctx) {
    pong = p.seq;
    ctx.stop("got the pong");
  });
  actors::PeerId python = 0;
  host.on_start([&](actors::Context& ctx) {
    ctx.request<Greeting>(python, Greet{"C++"}, 30s, [&](actors::Result<Greeting>& r) {
      greeting = r.ok() ? r.value().text : std::string("error: ") + r.error().what();
    });
  });
  python = host.attach(std::move(child.channel()));
  host.start();
  const actors::ExitInfo exit = host.join();  // the stop closes the channel: the child returns
  EXPECT_FALSE(exit.failed) << exit.reason;
  EXPECT_EQ(greeting, "hello C++ from a sub-interpreter");
  EXPECT_EQ(pong.load(), 42u);
  ASSERT_TRUE(child.join(30s));
  EXPECT_EQ(child.state(), ActorState::exited) << child.error();
  EXPECT_EQ(child.result(), "done");
}

}  // namespace
}  // namespace shmring

int main(int argc, char** argv) { return shmring::testing::run_all_tests_in_embedded_python(argc, argv); }

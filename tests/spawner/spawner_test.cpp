// The C++ spawner API in a C++ host that embeds CPython: real
// sub-interpreters on real threads, talking to C++ over shmring channels.
#include <Python.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "../messaging/messages.hpp"
#include "shmring/actors.hpp"
#include "shmring/shmring.hpp"
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

SpawnRequest request(const std::string& entry, InterpreterConfig config = InterpreterConfig::isolated) {
  SpawnRequest r;
  r.entry = entry;
  r.config = config;
  return r;
}

class SpawnerTest : public ::testing::TestWithParam<InterpreterConfig> {};

TEST_P(SpawnerTest, a_python_actor_answers_a_cpp_parent_and_returns_bytes) {
  Spawner sut;
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

INSTANTIATE_TEST_SUITE_P(Configs, SpawnerTest,
                         ::testing::Values(InterpreterConfig::isolated, InterpreterConfig::legacy));

TEST(Spawner, four_actors_run_at_once) {
  Spawner sut;
  std::vector<Actor> actors;
  for (int i = 0; i < 4; ++i) actors.push_back(sut.spawn(request("cpp_actors:echo")));
  for (int round = 0; round < 20; ++round) {
    for (auto& a : actors) ASSERT_EQ(a.channel().send(bytes_of("x")), Status::ok);
    for (auto& a : actors) EXPECT_EQ(receive(a.channel()), "X");
  }
  for (auto& a : actors) a.channel().close();
  for (auto& a : actors) EXPECT_TRUE(a.join(30s));
}

TEST(Spawner, an_exception_in_the_child_becomes_its_traceback) {
  Spawner sut;
  Actor actor = sut.spawn(request("cpp_actors:fail"));
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.state(), ActorState::failed);
  EXPECT_NE(actor.error().find("ValueError: failed in the child"), std::string::npos) << actor.error();
  EXPECT_NE(actor.error().find("cpp_actors.py"), std::string::npos) << actor.error();
}

TEST(Spawner, a_malformed_entry_is_refused) {
  Spawner sut;
  EXPECT_THROW(sut.spawn(request("no colon")), std::invalid_argument);
}

TEST(Spawner, kill_of_a_busy_loop_ends_it_with_an_asynchronous_exception) {
  Spawner sut;
  Actor actor = sut.spawn(request("cpp_actors:busy"));
  ASSERT_EQ(receive(actor.channel()), "started");
  EXPECT_EQ(actor.kill(3s), KillStep::async_exception);
  EXPECT_EQ(actor.state(), ActorState::killed);
  std::vector<std::byte> m;
  EXPECT_EQ(actor.channel().try_recv(m), Status::aborted);  // the parent's side learned at once
}

TEST(Spawner, kill_of_a_child_waiting_on_its_channel_ends_at_the_abort) {
  Spawner sut;
  Actor actor = sut.spawn(request("cpp_actors:wait_on_channel"));
  ASSERT_EQ(receive(actor.channel()), "started");
  EXPECT_EQ(actor.kill(3s), KillStep::channel_abort);
  EXPECT_EQ(actor.kill(3s), KillStep::already_ended);
}

TEST(Spawner, a_child_stuck_in_a_c_level_wait_is_abandoned_within_the_grace) {
  Spawner sut;
  Actor actor = sut.spawn(request("cpp_actors:stuck"));
  ASSERT_EQ(receive(actor.channel()), "started");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(actor.kill(200ms), KillStep::abandoned);
  EXPECT_EQ(actor.state(), ActorState::abandoned);
  EXPECT_GE(Spawner::counts().abandoned, 1u);
  std::printf("kill returned %.0f ms after it began (grace 200 ms)\n",
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
}

TEST(Spawner, a_warm_pool_serves_spawns_and_refills) {
  PoolOptions pool;
  pool.size = 2;
  Spawner sut(pool);
  ASSERT_TRUE(sut.wait_warm(60s)) << sut.last_pool_error();
  EXPECT_EQ(sut.warm_count(), 2u);
  Actor actor = sut.spawn(request("cpp_actors:echo"));
  ASSERT_EQ(actor.channel().send(bytes_of("warm")), Status::ok);
  EXPECT_EQ(receive(actor.channel()), "WARM");
  actor.channel().close();
  EXPECT_TRUE(actor.join(30s));
  EXPECT_TRUE(sut.wait_warm(60s));
}

TEST(Spawner, shutdown_ends_what_runs_and_counts_return_to_rest) {
  const SpawnerCounts before = Spawner::counts();
  {
    Spawner sut;
    Actor a = sut.spawn(request("cpp_actors:busy"));
    ASSERT_EQ(receive(a.channel()), "started");
    EXPECT_EQ(sut.shutdown(3s), 0u);
    EXPECT_EQ(a.state(), ActorState::killed);
  }
  const SpawnerCounts after = Spawner::counts();
  EXPECT_EQ(after.live_interpreters, before.live_interpreters);
  EXPECT_EQ(after.live_threads, before.live_threads);
}

// A C++ actor and a Python actor (trio + msgpack, in a legacy sub-interpreter
// this host started) exchange typed messages over the actor's channel, both
// ways: C++ asks Python (greet), Python asks C++ (add), Python tells C++.
TEST(Spawner, a_cpp_actor_and_a_python_actor_in_a_sub_interpreter_exchange_typed_messages) {
  using namespace test_messages;
  Spawner sut;
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

// CPython is initialized once for the whole program; the main thread then
// releases the GIL so actor threads (legacy ones share it) can run.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  PyConfig config;
  PyConfig_InitPythonConfig(&config);  // PYTHONPATH (set by CTest) finds shmring and cpp_actors
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  if (PyStatus_Exception(status)) Py_ExitStatusException(status);
  PyThreadState* main_thread = PyEval_SaveThread();
  const int rc = RUN_ALL_TESTS();
  // The documented host policy: with an abandoned actor still inside its
  // interpreter, CPython cannot finalize; leave without it.
  if (shmring::Spawner::counts().abandoned > 0) {
    std::fflush(nullptr);
    ::_exit(rc);
  }
  PyEval_RestoreThread(main_thread);
  return Py_FinalizeEx() < 0 ? 120 : rc;
}

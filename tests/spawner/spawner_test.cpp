// The spawner on its own (transport + CPython, no shmring Python package):
// real sub-interpreters on real threads, with no runner (the entry gets its
// channel's handle as an int) or a runner of the tests' own
// (spawner_test_runner.py). Entry points: plain_actors.py.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "embedded_python.hpp"
#include "shmring/spawner.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;

// A pipe the child writes "started" (or what a runner hook says) into: the
// child has no channel it could use without shmring's extension.
class Pipe {
 public:
  Pipe() { EXPECT_EQ(::pipe2(fds_, O_CLOEXEC), 0); }
  ~Pipe() {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  std::string write_end() const { return std::to_string(fds_[1]); }
  // What the child wrote, or "<nothing>" after `timeout`.
  std::string read(std::chrono::milliseconds timeout = 30s) const {
    pollfd p{fds_[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return "<nothing>";
    char buf[64];
    const auto n = ::read(fds_[0], buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "<nothing>";
  }

 private:
  int fds_[2] = {-1, -1};
};

SpawnRequest request(const std::string& entry, std::string args = {},
                     InterpreterConfig config = InterpreterConfig::isolated) {
  SpawnRequest r;
  r.entry = "plain_actors:" + entry;
  r.args = std::move(args);
  r.config = config;
  return r;
}

class SpawnerWithoutRunner : public ::testing::TestWithParam<InterpreterConfig> {};

TEST_P(SpawnerWithoutRunner, hands_the_entry_its_handle_and_args_and_returns_its_bytes) {
  Spawner sut;
  Actor actor = sut.spawn(request("returns_its_arguments", "xyz", GetParam()));
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.state(), ActorState::exited) << actor.error();
  EXPECT_EQ(actor.result(), "handle is an int; args: xyz");
  EXPECT_GT(actor.startup_seconds(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Configs, SpawnerWithoutRunner,
                         ::testing::Values(InterpreterConfig::isolated, InterpreterConfig::legacy));

TEST(Spawner, imports_nothing_of_shmrings_python_package_in_the_child) {
  Spawner sut;
  Actor actor = sut.spawn(request("names_the_shmring_modules_loaded"));
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.state(), ActorState::exited) << actor.error();
  EXPECT_EQ(actor.result(), "");
}

TEST(Spawner, none_is_an_empty_result) {
  Spawner sut;
  Actor actor = sut.spawn(request("returns_none"));
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.state(), ActorState::exited) << actor.error();
  EXPECT_EQ(actor.result(), "");
}

TEST(Spawner, a_result_that_is_not_bytes_fails_the_actor_clearly) {
  Spawner sut;
  Actor actor = sut.spawn(request("returns_text"));
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.state(), ActorState::failed);
  EXPECT_NE(actor.error().find("returned str; an actor returns bytes or None"), std::string::npos) << actor.error();
}

TEST(Spawner, an_exception_in_the_child_becomes_its_traceback) {
  Spawner sut;
  Actor actor = sut.spawn(request("fails"));
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.state(), ActorState::failed);
  EXPECT_NE(actor.error().find("ValueError: failed in the child"), std::string::npos) << actor.error();
  EXPECT_NE(actor.error().find("plain_actors.py"), std::string::npos) << actor.error();
}

TEST(Spawner, an_entry_that_names_nothing_callable_fails_the_actor) {
  Spawner sut;
  SpawnRequest missing = request("no_such_function");
  SpawnRequest module = request("x");
  module.entry = "no_such_module_here:f";
  Actor a = sut.spawn(std::move(missing));
  Actor b = sut.spawn(std::move(module));
  ASSERT_TRUE(a.join(30s) && b.join(30s));
  EXPECT_NE(a.error().find("AttributeError"), std::string::npos) << a.error();
  EXPECT_NE(b.error().find("ModuleNotFoundError"), std::string::npos) << b.error();
}

TEST(Spawner, a_malformed_entry_is_refused) {
  Spawner sut;
  SpawnRequest r;
  r.entry = "no colon";
  EXPECT_THROW(sut.spawn(std::move(r)), std::invalid_argument);
}

TEST(Spawner, the_threads_an_actor_leaves_are_joined_before_its_interpreter_ends) {
  const SpawnerCounts before = Spawner::counts();
  {
    Spawner sut;
    Actor actor = sut.spawn(request("leaves_a_short_thread"));
    ASSERT_TRUE(actor.join(30s));
    EXPECT_EQ(actor.result(), "left a thread");
    EXPECT_EQ(sut.shutdown(1s), 0u);  // waits for the worker thread to end
  }
  const SpawnerCounts after = Spawner::counts();
  EXPECT_EQ(after.live_interpreters, before.live_interpreters);
  EXPECT_EQ(after.abandoned, before.abandoned);
}

TEST(Spawner, kill_of_a_busy_loop_ends_it_with_an_asynchronous_exception) {
  Spawner sut;
  Pipe pipe;
  Actor actor = sut.spawn(request("busy", pipe.write_end()));
  ASSERT_EQ(pipe.read(), "started");
  EXPECT_EQ(actor.kill(3s), KillStep::async_exception);
  EXPECT_EQ(actor.state(), ActorState::killed);
  std::vector<std::byte> m;
  EXPECT_EQ(actor.channel().try_recv(m), Status::aborted);  // the parent's side learned at once
  EXPECT_EQ(actor.kill(3s), KillStep::already_ended);
}

TEST(Spawner, a_child_stuck_in_a_c_level_wait_is_abandoned_within_the_grace) {
  Spawner sut;
  Pipe pipe;
  Actor actor = sut.spawn(request("stuck", pipe.write_end()));
  ASSERT_EQ(pipe.read(), "started");
  EXPECT_EQ(actor.kill(200ms), KillStep::abandoned);
  EXPECT_EQ(actor.state(), ActorState::abandoned);
  EXPECT_GE(Spawner::counts().abandoned, 1u);
}

TEST(Spawner, a_warm_pool_serves_spawns_and_refills) {
  PoolOptions pool;
  pool.size = 2;
  pool.preload = {"json"};
  Spawner sut({.runner = "", .pool = pool});
  ASSERT_TRUE(sut.wait_warm(60s)) << sut.last_pool_error();
  EXPECT_EQ(sut.warm_count(), 2u);
  Actor actor = sut.spawn(request("returns_its_arguments", "warm"));
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.result(), "handle is an int; args: warm");
  EXPECT_TRUE(sut.wait_warm(60s));
}

// A one-line module `name`.py in `dir`.
void write_module(const testing::TempDir& dir, const std::string& name) {
  std::ofstream(dir.file(name + ".py")) << "VALUE = 1\n";
}

// Whether `module` was imported before an actor of `sut` started running
// (plain_actors:says_whether_loaded); `r` may add a preload and a sys.path.
std::string loaded_before_the_entry(Spawner& sut, const std::string& module, SpawnRequest r = {}) {
  r.entry = "plain_actors:says_whether_loaded";
  r.args = module;
  Actor actor = sut.spawn(std::move(r));
  if (!actor.join(30s)) return "<still running>";
  return actor.state() == ActorState::exited ? actor.result() : "<" + actor.error() + ">";
}

SpawnerOptions pool_of_one(PoolOptions pool) {
  pool.size = 1;
  return {.runner = "", .pool = std::move(pool)};
}

void expect_warm_and_healthy(Spawner& sut) {
  EXPECT_TRUE(sut.wait_warm(60s)) << sut.last_pool_error();
  EXPECT_EQ(sut.last_pool_error(), "");  // a failing try_preload is skipped, not the pool's failure
}

TEST(Spawner, a_pool_imports_what_it_can_of_try_preload_and_stays_healthy) {
  PoolOptions pool;
  pool.try_preload = {"no_such_module_here", "json"};
  Spawner sut(pool_of_one(pool));
  expect_warm_and_healthy(sut);
  EXPECT_EQ(loaded_before_the_entry(sut, "json"), "loaded");
}

TEST(Spawner, a_pool_imports_from_the_sys_path_it_is_given) {
  testing::TempDir dir;
  write_module(dir, "only_here");
  PoolOptions pool;
  pool.preload = {"only_here"};
  pool.sys_path = {dir.path()};
  Spawner sut(pool_of_one(pool));
  expect_warm_and_healthy(sut);
  EXPECT_EQ(loaded_before_the_entry(sut, "only_here"), "loaded");
}

TEST(Spawner, a_spawns_preload_is_found_on_the_spawns_sys_path) {
  testing::TempDir dir;
  write_module(dir, "beside_the_parent");
  Spawner sut;
  SpawnRequest r;
  r.preload = {"beside_the_parent"};
  r.sys_path = {dir.path()};
  EXPECT_EQ(loaded_before_the_entry(sut, "beside_the_parent", std::move(r)), "loaded");
}

TEST(Spawner, shutdown_ends_what_runs_and_counts_return_to_rest) {
  const SpawnerCounts before = Spawner::counts();
  {
    Spawner sut;
    Pipe pipe;
    Actor a = sut.spawn(request("busy", pipe.write_end()));
    ASSERT_EQ(pipe.read(), "started");
    EXPECT_EQ(sut.shutdown(3s), 0u);
    EXPECT_EQ(a.state(), ActorState::killed);
  }
  const SpawnerCounts after = Spawner::counts();
  EXPECT_EQ(after.live_interpreters, before.live_interpreters);
  EXPECT_EQ(after.live_threads, before.live_threads);
}

// The runner protocol (spawner.hpp), with the tests' own runner.
TEST(SpawnerRunner, calls_the_entry_and_returns_what_the_runner_returns) {
  for (std::size_t pool_size : {0, 1}) {
    PoolOptions pool;
    pool.size = pool_size;
    Spawner sut({.runner = "spawner_test_runner", .pool = pool});
    ASSERT_TRUE(sut.wait_warm(60s)) << sut.last_pool_error();
    Actor actor = sut.spawn(request("returns_its_arguments", "abc"));
    ASSERT_TRUE(actor.join(30s));
    EXPECT_EQ(actor.result(), "via the runner: handle is an int; args: abc") << actor.error();
  }
}

TEST(SpawnerRunner, its_kill_hook_wakes_a_child_parked_in_c_so_the_kill_lands) {
  Spawner sut({.runner = "spawner_test_runner", .pool = {}});
  Pipe pipe;
  Actor actor = sut.spawn(request("waits_for_the_runners_wake", pipe.write_end()));
  ASSERT_EQ(pipe.read(), "started");
  // Without the hook this child would be abandoned (see the stuck test).
  EXPECT_EQ(actor.kill(10s), KillStep::async_exception) << actor.error();
}

TEST(SpawnerRunner, hears_that_threads_were_left_when_the_interpreter_cannot_end) {
  Spawner sut({.runner = "spawner_test_runner", .pool = {}});
  Pipe pipe;
  const std::size_t abandoned_before = Spawner::counts().abandoned;
  Actor actor = sut.spawn(request("leaves_a_stuck_thread", pipe.write_end()));
  ASSERT_TRUE(actor.join(30s));
  EXPECT_EQ(actor.result(), "via the runner: left a stuck thread");
  EXPECT_EQ(pipe.read(), "threads_left 1");  // after the worker's 2 s of joining
  // Its interpreter stays unfinalized: counted once the hook has returned.
  for (int i = 0; i < 1000 && Spawner::counts().abandoned == abandoned_before; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(Spawner::counts().abandoned, abandoned_before + 1);
}

}  // namespace
}  // namespace shmring

int main(int argc, char** argv) { return shmring::testing::run_all_tests_in_embedded_python(argc, argv); }

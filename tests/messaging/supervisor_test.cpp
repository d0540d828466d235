// Supervision (messaging/src/supervisor.cpp): restarts by policy, the
// restart intensity, and stop, with real actors on real threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "adder.hpp"
#include "messages.hpp"
#include "shmring/supervisor.hpp"
#include "test_support.hpp"

namespace shmring {
namespace {

using namespace std::chrono_literals;
using namespace test_messages;
using testing::make_adder;

TEST(Supervisor, restarts_a_failed_child_and_gives_up_past_the_intensity) {
  actors::Supervisor sup(actors::SupervisorOptions{.name = "sup", .max_restarts = 2, .within = 60s});
  std::atomic<int> built{0};
  auto first = sup.start_child({"adder", [&] {
                                  built++;
                                  return make_adder("adder");
                                }});
  EXPECT_EQ(first.ask<Sum>(Add{1, 1}, 10s).value, 2);
  ASSERT_TRUE(first.tell(Crash{"one"}));
  // The next incarnation answers under the same name.
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (sup.restarts("adder") < 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(sup.restarts("adder"), 1u);
  EXPECT_FALSE(first.alive());
  EXPECT_EQ(sup.child("adder").ask<Sum>(Add{2, 2}, 10s).value, 4);
  ASSERT_TRUE(sup.child("adder").tell(Crash{"two"}));
  deadline = std::chrono::steady_clock::now() + 20s;
  while (sup.restarts("adder") < 2 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(sup.child("adder").tell(Crash{"three"}));
  const auto exit = sup.wait();
  EXPECT_TRUE(exit.failed);
  EXPECT_NE(exit.reason.find("child 'adder' ended 3 times"), std::string::npos) << exit.reason;
  EXPECT_NE(exit.reason.find("three"), std::string::npos) << exit.reason;
  EXPECT_EQ(built.load(), 3);
}

TEST(Supervisor, transient_and_temporary_children_stay_stopped) {
  actors::Supervisor sup;
  sup.start_child({"transient", [] { return make_adder("transient"); }, actors::Restart::transient});
  sup.start_child({"temporary", [] { return make_adder("temporary"); }, actors::Restart::temporary});
  auto permanent = sup.start_child({"permanent", [] { return make_adder("permanent"); }});
  // A graceful stop of a transient child is final; a crash of a temporary one too.
  sup.child("transient").tell(Crash{""});  // transient + failure -> restarted
  sup.child("temporary").tell(Crash{""});
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (sup.restarts("transient") < 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  EXPECT_EQ(sup.restarts("transient"), 1u);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(sup.restarts("temporary"), 0u);
  EXPECT_FALSE(sup.child("temporary").alive());
  EXPECT_TRUE(permanent.alive());
  sup.stop();
  EXPECT_FALSE(permanent.alive());
  EXPECT_FALSE(sup.wait().failed);
}

}  // namespace
}  // namespace shmring

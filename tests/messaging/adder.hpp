// The actor the messaging tests talk to: answers Add with Sum, counts Pings,
// fails on Crash.
#pragma once

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "messages.hpp"
#include "shmring/actors.hpp"

namespace shmring::testing {

inline std::unique_ptr<actors::Actor> make_adder(std::string name, std::atomic<int>* pings = nullptr) {
  using namespace test_messages;
  auto actor = std::make_unique<actors::Actor>(actors::ActorOptions{.name = std::move(name)});
  actor->on<Add>([](const Add& m, actors::Context&) { return Sum{m.a + m.b}; });
  actor->on<Ping>([pings](const Ping&, actors::Context&) {
    if (pings) pings->fetch_add(1);
  });
  actor->on<Crash>([](const Crash& m, actors::Context&) { throw std::runtime_error(m.why); });
  return actor;
}

}  // namespace shmring::testing

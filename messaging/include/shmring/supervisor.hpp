// A supervisor starts child actors from factories and decides, when one
// ends, whether to start a fresh one (Erlang/OTP's one-for-one strategy):
//
//   permanent  always restarted (after a failure or a stop it did not ask for)
//   transient  restarted only after a failure
//   temporary  never restarted
//
// Restart intensity: more than max_restarts restarts within `within` make the
// supervisor give up: it stops every child (in reverse start order) and ends
// as failed, naming the child and its last failure; wait() returns that.
// The factory builds the whole actor, handlers and channels included (for
// example it connects to a listener again), so a restarted child starts clean.
// Callers address children by name: child(name) is the current incarnation.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "shmring/actors.hpp"

namespace shmring::actors {

enum class Restart : std::uint8_t { permanent, transient, temporary };

struct ChildSpec {
  std::string name;
  std::function<std::unique_ptr<Actor>()> make;  // returns an actor not yet started
  Restart restart = Restart::permanent;
};

struct SupervisorOptions {
  std::string name = "supervisor";
  int max_restarts = 3;
  std::chrono::milliseconds within{5000};
};

namespace detail {
struct SupervisorCore;
}

class Supervisor {
 public:
  explicit Supervisor(SupervisorOptions options = {});
  ~Supervisor();  // stop()
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Builds and starts a child; throws std::invalid_argument for a duplicate
  // name, and whatever the factory throws.
  ActorRef start_child(ChildSpec spec);
  // The current incarnation (an ended ref if the child is gone for good).
  ActorRef child(std::string_view name) const;
  // How many times the child was restarted.
  std::size_t restarts(std::string_view name) const;
  // Stops every child (reverse start order), waits for them; idempotent.
  void stop();
  // Waits until the supervisor ends: stop() was called or it gave up.
  ExitInfo wait();
  // wait() with a limit; false if it is still supervising.
  bool wait_for(std::chrono::nanoseconds timeout, ExitInfo& out);

 private:
  std::shared_ptr<detail::SupervisorCore> core_;
};

}  // namespace shmring::actors

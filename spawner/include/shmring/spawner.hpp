// Sub-interpreter actors on their own OS threads, with a kill that works.
//
// A Spawner starts each actor on a dedicated, named thread that creates a
// sub-interpreter (Py_NewInterpreterFromConfig) and calls the actor's entry
// point, "package.module:function", with the child's side of a fresh channel
// (the Actor keeps the other) and the bytes given at spawn. The function
// returns bytes (or None); an exception ends the actor with its formatted
// traceback.
//
// How the child gets its side of the channel is the runner's business
// (SpawnerOptions::runner): with none, function(handle, args) gets the
// endpoint's handle in the transport's table (shmring/handles.hpp) as an int;
// with shmring's Python package, runner "shmring._actor" gives it a
// shmring._core.Endpoint. The spawner itself imports nothing of shmring's.
//
// CPython must be initialized (this process is `python`, or a C++ host called
// Py_Initialize), and the calling thread must not hold a GIL when it calls
// into the Spawner: call from Python with the GIL released, as shmring._core
// does. Children find the entry's module (and the runner) on their sys.path
// like any import.
//
// Lifecycle: starting -> running -> exited | failed | killed | abandoned.
// kill(grace) escalates and reports the step that ended the actor:
//   1. abort the actor's channel: the parent's pending receive ends at once,
//      and a child blocked in a channel call returns;
//   2. raise SystemExit asynchronously in the child's thread (ends Python
//      code that runs or sleeps in short steps);
//   3. wait for the thread, up to the grace;
//   4. abandon it: the thread is left to itself, the caller never blocks.
// An abandoned child (stuck in a C-level wait) cannot be ended from outside;
// see docs/spawner.md for what process exit does then.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shmring/endpoint.hpp"
#include "shmring/options.hpp"

namespace shmring {

enum class InterpreterConfig : std::uint8_t {
  isolated,  // own GIL, own allocator; extension modules must support it
  legacy,    // shares the main GIL; for extensions that are not isolation-safe yet
};

enum class ActorState : std::uint8_t { starting, running, exited, failed, killed, abandoned };
std::string_view to_string(ActorState s);

enum class KillStep : std::uint8_t {
  already_ended,    // it had ended before kill was called
  channel_abort,    // it ended after its channel was aborted
  async_exception,  // it ended after SystemExit was raised in its thread
  abandoned,        // it did not end within the grace; left running
};
std::string_view to_string(KillStep s);

struct SpawnRequest {
  std::string entry;  // "package.module:function"
  std::string args;   // bytes handed to the function
  InterpreterConfig config = InterpreterConfig::isolated;
  std::string name;   // thread name (first 15 bytes show in ps/top); "" = "actor-<n>"
  ChannelOptions channel{};
  // Put in front of the child's sys.path before the entry is imported (for
  // example the parent's sys.path, so the child imports what the parent can).
  std::vector<std::string> sys_path;
  // Modules imported before the entry is called (already there when the
  // actor got a warm interpreter that preloads them). A 'legacy' child
  // imports them politely, as the pool does (see PoolOptions).
  std::vector<std::string> preload;
};

namespace detail {
struct ActorCore;
struct SpawnerCore;
}  // namespace detail

class Actor {
 public:
  explicit Actor(std::shared_ptr<detail::ActorCore> core);

  ActorState state() const;
  std::uint64_t id() const;
  const std::string& name() const;

  // The parent's side of the actor's channel. Move it out (or detach it to
  // Python) before use from elsewhere; kill() aborts the channel either way.
  Endpoint& channel();

  // Waits until the actor has ended (exited, failed, killed) or is abandoned.
  // Returns false on timeout. Negative timeout = forever.
  bool join(std::chrono::nanoseconds timeout = std::chrono::nanoseconds{-1});
  KillStep kill(std::chrono::nanoseconds grace);
  // Starts the kill without waiting: aborts the channel and raises SystemExit
  // in the child's thread. join() or kill() later to see how it ended.
  void terminate();
  // Readable (an eventfd) once the actor has ended or was abandoned: for
  // event loops. Valid as long as this Actor (or a copy) lives.
  int ended_fd() const;

  std::string result() const;  // the bytes the entry point returned (exited)
  std::string error() const;   // traceback (failed), or what kill did (killed/abandoned)
  // Seconds from spawn until the entry point was called (interpreter ready).
  double startup_seconds() const;

 private:
  std::shared_ptr<detail::ActorCore> core_;
};

// The warm pool. A spawn takes a ready interpreter; if none is ready it takes
// one still being prepared (it runs as soon as its imports are done: never
// later than a cold start begun then); only with neither does it start cold.
// Refills prepare `concurrent_preparations` interpreters at a time, so a
// refill does not crowd the actors that run; a refill after a spawn waits
// `refill_delay` first. A 'legacy' interpreter (which
// shares the main GIL) imports politely: it hands the GIL to any waiting
// thread every ~200 us instead of every switch interval (5 ms), so running
// actors keep their latency while the pool refills.
struct PoolOptions {
  std::size_t size = 0;                 // warm interpreters kept ready (0 = no pool)
  std::vector<std::string> preload;     // modules each warm interpreter imports first, e.g. "trio"
  // Then these, best effort: one that fails to import is skipped, and the
  // pool stays healthy (a failing `preload` stops refills). For modules an
  // actor will probably import, such as those of the parent's main script.
  std::vector<std::string> try_preload;
  // Put in front of each warm interpreter's sys.path before it imports (the
  // parent's sys.path, say, so it finds what the parent finds).
  std::vector<std::string> sys_path;
  InterpreterConfig config = InterpreterConfig::isolated;
  std::size_t concurrent_preparations = 1;  // pool interpreters prepared at once (>= 1)
  // A refill that a spawn caused begins this much later, so the actor just
  // spawned gets going without an import next to it.
  std::chrono::milliseconds refill_delay{300};
};

// A runner is a Python module, importable in the child, that the worker
// imports (ahead of time in a warm interpreter) and calls in the child's
// interpreter:
//   run(function, handle: int, args: bytes)   calls the resolved entry point
//       its way and returns what it returned (required);
//   before_teardown()                          before the worker joins the
//       threads the actor left (optional);
//   threads_left(count: int)                   the interpreter is left
//       unfinalized because `count` of them still run (optional);
//   wake_for_kill()                            from a kill helper thread, right
//       after SystemExit was raised in the actor's thread (optional): an
//       event loop parked in C runs no Python code until it is woken.
// Exceptions from the optional hooks are ignored.
struct SpawnerOptions {
  std::string runner;  // "" = call function(handle, args) directly
  PoolOptions pool;
};

struct SpawnerCounts {
  std::size_t live_interpreters = 0;  // created and not yet ended (pool included)
  std::size_t live_threads = 0;       // actor/pool threads not yet finished
  std::size_t abandoned = 0;          // actors given up on and still running
};

class Spawner {
 public:
  explicit Spawner(SpawnerOptions options = {});
  Spawner(const Spawner&) = delete;
  Spawner& operator=(const Spawner&) = delete;
  // shutdown(1 s): kills what runs, ends the pool.
  ~Spawner();

  // Starts an actor; from the warm pool when one with the same config is
  // ready (the pool refills in the background), else cold. Throws
  // std::invalid_argument for a malformed entry, shmring::Error if the OS
  // refuses a thread or a channel.
  Actor spawn(SpawnRequest request);

  // Waits (bounded) until the pool has `size` warm interpreters; false on timeout.
  bool wait_warm(std::chrono::nanoseconds timeout);

  // Kills every live actor with `grace`, ends the pool's interpreters.
  // Returns the number of actors abandoned.
  std::size_t shutdown(std::chrono::nanoseconds grace);

  // Process-wide figures (every Spawner).
  static SpawnerCounts counts();
  // Pool interpreters of this Spawner ready to take an actor.
  std::size_t warm_count() const;
  // Why the last warm interpreter could not be prepared ("" if none failed).
  std::string last_pool_error() const;

 private:
  std::shared_ptr<detail::SpawnerCore> core_;
};

}  // namespace shmring

// The spawner's moving parts. A Worker is one OS thread that owns one
// sub-interpreter for its whole life; an ActorCore is what the parent sees of
// the actor that runs on it. The SpawnerCore keeps the warm pool.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "shmring/spawner.hpp"
#include "shmring/waiting.hpp"

namespace shmring::detail {

using Clock = std::chrono::steady_clock;

struct SpawnerCore;
struct Worker;

// Process-wide (per copy of this library) figures for Spawner::counts().
struct Counters {
  std::atomic<std::size_t> interpreters{0};
  std::atomic<std::size_t> threads{0};
  std::atomic<std::size_t> abandoned{0};
};
Counters& counters();

struct ActorCore {
  std::uint64_t id = 0;
  std::string name;
  Endpoint parent;           // the parent's side of the channel
  AbortHandle aborter;       // works wherever `parent` has moved to
  Clock::time_point spawned_at = Clock::now();

  mutable std::mutex mutex;  // guards the fields below
  std::condition_variable changed;
  ActorState state = ActorState::starting;
  bool kill_requested = false;
  std::string result;
  std::string error;
  double startup_seconds = -1;
  std::shared_ptr<Worker> worker;
  WakeCounter ended_wake{"an actor's end"};  // rung once when the actor ends or is abandoned; never drained

  ActorCore() = default;
  ActorCore(const ActorCore&) = delete;
  ActorCore& operator=(const ActorCore&) = delete;

  bool ended_locked() const {
    return state == ActorState::exited || state == ActorState::failed || state == ActorState::killed ||
           state == ActorState::abandoned;
  }
  bool ended() const {
    std::lock_guard lock(mutex);
    return ended_locked();
  }
  bool wait_ended(std::chrono::nanoseconds timeout);
  // Called by the worker thread as the actor's code runs and finishes.
  void set_running(double startup);
  void finish(ActorState final_state, std::string result_or_error);

  // kill() in steps, so Spawner::shutdown can run each step for all at once.
  bool begin_kill();          // false if it had ended
  void inject_exit() const;   // raise SystemExit in its thread (never blocks the caller)
  void abandon(std::chrono::nanoseconds grace);

 private:
  void signal_ended_locked();
};

// How long a kill lets a child end by itself after its channel is aborted
// before it raises SystemExit in its thread: a child blocked on the channel
// returns at once, a child that checks nothing gets the exception. "At once"
// is a matter of CPU: 50 trio actors killed together on 2 cores need up to
// ~200 ms to unwind their event loops, and with a fixed 20 ms half of them
// got SystemExit in the middle of trio's teardown (which it cannot survive
// cleanly: "Exception ignored" noise, now and then a hang until abandoned).
std::chrono::nanoseconds abort_patience(std::chrono::nanoseconds grace);

// One thread, one interpreter. Fields after `mutex` are guarded by it.
// Lock order: nobody holds `mutex` (or any spawner lock) while taking a GIL;
// a thread that holds a GIL may take `mutex` only for a few instructions.
struct Worker {
  std::uint64_t id = 0;
  std::string thread_name;
  InterpreterConfig config = InterpreterConfig::isolated;
  std::vector<std::string> preload;
  std::vector<std::string> try_preload;  // after preload; one that fails is skipped
  std::vector<std::string> pool_sys_path;  // in front of sys.path before a pool worker's imports
  std::string runner;                // the Spawner's (spawner.hpp); set before the thread starts, never changed
  std::weak_ptr<SpawnerCore> owner;  // to report "prepared" (pool workers) and "thread exited"
  bool pooled = false;               // started by a refill, without a job
  std::chrono::milliseconds start_delay{0};  // a refill's pause before it creates its interpreter
  // A spawn waits for this worker's imports (it was given a job): they may
  // take the GIL in longer slices (polite.hpp). Relaxed: a hint read by the
  // importing thread's profile hook; nothing else is published through it.
  std::atomic<bool> awaited{false};

  std::mutex mutex;
  std::condition_variable wake;
  bool has_job = false;
  bool shutdown = false;
  bool ending = false;               // Py_EndInterpreter is about to run: no more injections
  int injecting = 0;                 // kill helpers between "may attach" and "detached"
  std::shared_ptr<ActorCore> actor;
  std::string entry;
  std::string args;
  std::vector<std::string> sys_path;
  std::vector<std::string> job_preload;  // the request's preload, imported before the entry
  std::uint64_t handle = 0;
  PyInterpreterState* interp = nullptr;
  unsigned long thread_ident = 0;
};

// Starts the worker's thread (throws shmring::Error if the OS refuses).
void start_worker(std::shared_ptr<Worker> worker);

struct SpawnerCore {
  PoolOptions pool;
  std::string runner;
  std::mutex mutex;
  std::condition_variable warm_changed;
  std::vector<std::shared_ptr<Worker>> warm;       // ready, waiting for a job
  std::vector<std::shared_ptr<Worker>> preparing;  // pool workers still importing, no job yet
  std::vector<std::weak_ptr<ActorCore>> actors;
  std::string last_pool_error;
  bool closed = false;
  std::size_t threads_alive = 0;  // this spawner's worker threads not yet finished
  std::condition_variable thread_exited;

  // Starts a worker thread owned by this spawner (counted in threads_alive).
  void start_locked(const std::shared_ptr<SpawnerCore>& self, const std::shared_ptr<Worker>& w);
  void on_thread_exit();  // the last thing a worker thread does
  // Starts pool workers up to the pool's size; after a spawn they wait
  // pool.refill_delay before they begin, so the new actor starts alone.
  void refill_locked(const std::shared_ptr<SpawnerCore>& self, bool after_spawn);
  // A pool worker finished preparing ("" = ready, else why it failed).
  // False if a spawn took it meanwhile: it has its job already.
  bool on_prepared(const std::shared_ptr<SpawnerCore>& self, const std::shared_ptr<Worker>& w,
                   const std::string& error);
};

std::uint64_t next_id();

}  // namespace shmring::detail

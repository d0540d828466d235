// ActorCore: the parent's view of one actor, and the kill ladder.
#include <pthread.h>

#include <algorithm>
#include <thread>

#include "child.hpp"
#include "internal.hpp"

namespace shmring::detail {

using std::chrono::nanoseconds;

Counters& counters() {
  static Counters c;
  return c;
}

std::uint64_t next_id() {
  static std::atomic<std::uint64_t> id{1};
  return id.fetch_add(1, std::memory_order_relaxed);
}

void ActorCore::signal_ended_locked() {
  ended_wake.ring();  // stays readable: never drained
  changed.notify_all();
}

bool ActorCore::wait_ended(nanoseconds timeout) {
  std::unique_lock lock(mutex);
  if (timeout.count() < 0) {
    changed.wait(lock, [this] { return ended_locked(); });
    return true;
  }
  return changed.wait_for(lock, timeout, [this] { return ended_locked(); });
}

void ActorCore::set_running(double startup) {
  std::lock_guard lock(mutex);
  if (state == ActorState::starting) state = ActorState::running;
  startup_seconds = startup;
  changed.notify_all();
}

void ActorCore::finish(ActorState final_state, std::string result_or_error) {
  std::lock_guard lock(mutex);
  worker.reset();  // the worker holds us while it runs; we let go of it when done (no cycle)
  if (state == ActorState::abandoned) {
    // It ended after all, later than the kill's grace.
    counters().abandoned.fetch_sub(1, std::memory_order_relaxed);
    error += "; it ended later";
    state = ActorState::killed;
  } else {
    if (kill_requested && final_state == ActorState::exited) final_state = ActorState::killed;
    state = final_state;
    if (final_state == ActorState::exited) {
      result = std::move(result_or_error);
    } else {
      error = std::move(result_or_error);
    }
  }
  signal_ended_locked();
}

bool ActorCore::begin_kill() {
  {
    std::lock_guard lock(mutex);
    if (ended_locked()) return false;
    kill_requested = true;
  }
  // Step 1: the channel. Wakes the parent's pending receive and any call the
  // child is blocked in on this channel, on both sides at once.
  aborter.abort("actor '" + name + "' was killed by its parent");
  return true;
}

void ActorCore::inject_exit() const {
  std::shared_ptr<Worker> w;
  {
    std::lock_guard lock(mutex);
    w = worker;
  }
  if (!w) return;
  // Step 2, on a helper thread: attaching to the child's interpreter means
  // taking its GIL, which a child running C code may hold for a long time.
  // The caller must never block on that.
  std::thread([w] {
    pthread_setname_np(pthread_self(), "shmring-kill");
    PyInterpreterState* interp = nullptr;
    {
      // Registers the attach under the lock, then lets go of it before the
      // GIL: the worker thread holds that GIL while it takes this lock.
      std::lock_guard lock(w->mutex);
      if (w->ending || w->interp == nullptr) return;
      interp = w->interp;
      ++w->injecting;  // the interpreter cannot end until we are done
    }
    if (PyThreadState* t = PyThreadState_New(interp)) {
      PyEval_RestoreThread(t);  // the child's GIL (or the shared one)
      PyThreadState_SetAsyncExc(w->thread_ident, PyExc_SystemExit);
      // The exception fires when that thread next runs Python code: the
      // runner may wake an event loop that waits in C with nothing to time out.
      call_runner_hook(w->runner, "wake_for_kill");
      PyThreadState_Clear(t);
      PyThreadState_DeleteCurrent();  // releases it
    }
    std::lock_guard lock(w->mutex);
    --w->injecting;
    w->wake.notify_all();
  }).detach();
}

void ActorCore::abandon(nanoseconds grace) {
  std::lock_guard lock(mutex);
  if (ended_locked()) return;
  state = ActorState::abandoned;
  error = "abandoned: it did not end within " + std::to_string(std::chrono::duration<double>(grace).count()) +
          " s of kill (stuck outside Python code, e.g. in a C-level wait)";
  counters().abandoned.fetch_add(1, std::memory_order_relaxed);
  signal_ended_locked();
}

}  // namespace shmring::detail

namespace shmring {

using std::chrono::nanoseconds;

std::string_view to_string(ActorState s) {
  switch (s) {
    case ActorState::starting: return "starting";
    case ActorState::running: return "running";
    case ActorState::exited: return "exited";
    case ActorState::failed: return "failed";
    case ActorState::killed: return "killed";
    case ActorState::abandoned: return "abandoned";
  }
  return "unknown";
}

std::string_view to_string(KillStep s) {
  switch (s) {
    case KillStep::already_ended: return "already-ended";
    case KillStep::channel_abort: return "channel-abort";
    case KillStep::async_exception: return "async-exception";
    case KillStep::abandoned: return "abandoned";
  }
  return "unknown";
}

// A quarter of the grace, within these bounds (internal.hpp says why).
namespace {

constexpr nanoseconds kMinAbortPatience = std::chrono::milliseconds(20);
constexpr nanoseconds kMaxAbortPatience = std::chrono::milliseconds(250);

}  // namespace

nanoseconds detail::abort_patience(nanoseconds grace) {
  return std::min(grace, std::clamp(grace / 4, kMinAbortPatience, kMaxAbortPatience));
}

Actor::Actor(std::shared_ptr<detail::ActorCore> core) : core_(std::move(core)) {}

ActorState Actor::state() const {
  std::lock_guard lock(core_->mutex);
  return core_->state;
}
std::uint64_t Actor::id() const { return core_->id; }
const std::string& Actor::name() const { return core_->name; }
Endpoint& Actor::channel() { return core_->parent; }

bool Actor::join(nanoseconds timeout) { return core_->wait_ended(timeout); }

KillStep Actor::kill(nanoseconds grace) {
  const Deadline deadline = Deadline::after(grace);  // the steps share the grace
  if (!core_->begin_kill()) return KillStep::already_ended;
  if (core_->wait_ended(detail::abort_patience(grace))) return KillStep::channel_abort;
  core_->inject_exit();
  if (core_->wait_ended(deadline.remaining())) return KillStep::async_exception;
  core_->abandon(grace);
  return KillStep::abandoned;
}

void Actor::terminate() {
  if (core_->begin_kill()) core_->inject_exit();
}

int Actor::ended_fd() const { return core_->ended_wake.fd(); }

std::string Actor::result() const {
  std::lock_guard lock(core_->mutex);
  return core_->result;
}

std::string Actor::error() const {
  std::lock_guard lock(core_->mutex);
  return core_->error;
}

double Actor::startup_seconds() const {
  std::lock_guard lock(core_->mutex);
  return core_->startup_seconds;
}

}  // namespace shmring

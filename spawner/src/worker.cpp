// The worker thread: create a sub-interpreter, (pool) import the preload
// modules and wait for a job, run the actor's entry point, end the
// interpreter. Every CPython call here runs on the worker's own thread, in
// its own interpreter; the thread holds no other thread state.
#include <pthread.h>

#include <cstring>
#include <thread>

#include "child.hpp"
#include "internal.hpp"
#include "polite.hpp"
#include "shmring/error.hpp"

namespace shmring::detail {
namespace {

PyInterpreterConfig config_for(InterpreterConfig c) {
  PyInterpreterConfig cfg{};
  if (c == InterpreterConfig::isolated) {
    cfg.use_main_obmalloc = 0;
    cfg.allow_fork = 0;
    cfg.allow_exec = 0;
    cfg.allow_threads = 1;
    cfg.allow_daemon_threads = 0;
    cfg.check_multi_interp_extensions = 1;
    cfg.gil = PyInterpreterConfig_OWN_GIL;
  } else {
    cfg.use_main_obmalloc = 1;
    cfg.allow_fork = 1;
    cfg.allow_exec = 1;
    cfg.allow_threads = 1;
    cfg.allow_daemon_threads = 1;
    cfg.check_multi_interp_extensions = 0;
    cfg.gil = PyInterpreterConfig_SHARED_GIL;
  }
  return cfg;
}

bool is_system_exit_pending() { return PyErr_ExceptionMatches(PyExc_SystemExit) != 0; }

enum class OnImportError { fail, skip };

// Imports `modules`; "" on success (or with `skip`, always). An interpreter
// that shares the main GIL imports politely (polite.hpp): running actors wait
// for that GIL meanwhile; in longer slices once a spawn waits for this worker.
std::string import_all(const Worker& w, const std::vector<std::string>& modules,
                       OnImportError on_error = OnImportError::fail) {
  PoliteGil polite(w.config == InterpreterConfig::legacy && !modules.empty(), &w.awaited);
  for (const std::string& m : modules) {
    PyObject* mod = PyImport_ImportModule(m.c_str());
    if (mod == nullptr && on_error == OnImportError::skip) {
      PyErr_Clear();  // the child imports it (and meets the error) itself if it needs it
      continue;
    }
    if (mod == nullptr) return "importing " + m + " failed:\n" + take_exception_text();
    Py_DECREF(mod);
  }
  return {};
}

// The preload modules and the runner, if the Spawner names one, then the
// best-effort ones.
std::string prepare(const Worker& w) {
  if (!prepend_sys_path(w.pool_sys_path)) return "setting sys.path failed:\n" + take_exception_text();
  std::vector<std::string> modules = w.preload;
  if (!w.runner.empty()) modules.push_back(w.runner);
  std::string error = import_all(w, modules);
  if (error.empty()) import_all(w, w.try_preload, OnImportError::skip);
  return error;
}

// Runs the actor's entry point; returns its final state and result/error.
std::pair<ActorState, std::string> run_job(Worker& w, ActorCore& actor) {
  // The request's sys.path first: its preload may live there too.
  std::string error = prepend_sys_path(w.sys_path) ? import_all(w, w.job_preload) : take_exception_text();
  if (!error.empty()) {
    std::lock_guard lock(actor.mutex);
    return {actor.kill_requested ? ActorState::killed : ActorState::failed, std::move(error)};
  }
  PyObject* result = call_entry({w.runner, w.entry, w.handle, w.args});
  if (result != nullptr) {
    std::string bytes(PyBytes_AS_STRING(result), static_cast<std::size_t>(PyBytes_GET_SIZE(result)));
    Py_DECREF(result);
    return {ActorState::exited, std::move(bytes)};
  }
  bool killed;
  {
    std::lock_guard lock(actor.mutex);
    killed = actor.kill_requested;
  }
  if (killed && is_system_exit_pending()) {
    PyErr_Clear();
    return {ActorState::killed, "killed: SystemExit was raised in its thread"};
  }
  std::string text = take_exception_text();
  if (killed) return {ActorState::killed, "killed: ended with an exception after its channel was aborted:\n" + text};
  return {ActorState::failed, std::move(text)};
}

// How long an ending actor's own threads get to finish.
constexpr double kThreadWindDownSeconds = 2.0;

void worker_main(std::shared_ptr<Worker> w) {
  Counters& c = counters();
  if (!w->thread_name.empty()) pthread_setname_np(pthread_self(), w->thread_name.substr(0, 15).c_str());

  if (w->pooled && w->start_delay.count() > 0) {
    // A refill waits for the actor that caused it to get going first, unless
    // a spawn takes this worker (or the spawner closes) meanwhile.
    std::unique_lock lock(w->mutex);
    w->wake.wait_for(lock, w->start_delay, [&] { return w->has_job || w->shutdown; });
    if (w->shutdown && !w->has_job) {  // the spawner closed: no interpreter needed
      lock.unlock();
      c.threads.fetch_sub(1, std::memory_order_relaxed);
      if (auto owner = w->owner.lock()) owner->on_thread_exit();
      return;
    }
  }
  PyThreadState* tstate = nullptr;
  const PyInterpreterConfig cfg = config_for(w->config);
  const PyStatus status = Py_NewInterpreterFromConfig(&tstate, &cfg);
  if (PyStatus_Exception(status)) {
    const std::string why = std::string("creating the sub-interpreter failed: ") + (status.err_msg ? status.err_msg : "?");
    std::shared_ptr<ActorCore> actor;
    {
      std::lock_guard lock(w->mutex);
      actor = w->actor;
    }
    if (auto owner = w->owner.lock(); owner && w->pooled && !owner->on_prepared(owner, w, why)) {
      std::lock_guard lock(w->mutex);
      actor = w->actor;  // a spawn took it while it was being created
    }
    if (actor) actor->finish(ActorState::failed, why);
    c.threads.fetch_sub(1, std::memory_order_relaxed);
    if (auto owner = w->owner.lock()) owner->on_thread_exit();
    return;
  }
  c.interpreters.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(w->mutex);
    w->interp = PyThreadState_GetInterpreter(tstate);
    w->thread_ident = PyThread_get_thread_ident();
  }

  const std::string prepare_error = prepare(*w);
  bool run = false;
  std::shared_ptr<ActorCore> job_actor;
  // With this interpreter's GIL released: report "prepared" (pool), wait for a job.
  Py_BEGIN_ALLOW_THREADS
  {
    std::unique_lock lock(w->mutex);
    if (w->pooled && !w->has_job) {
      lock.unlock();
      auto owner = w->owner.lock();
      // False: a spawn took this worker while it prepared; its job is set.
      const bool still_pooled = owner && owner->on_prepared(owner, w, prepare_error);
      lock.lock();
      if (still_pooled && prepare_error.empty()) {
        w->wake.wait(lock, [&] { return w->has_job || w->shutdown; });
      }
    }
    run = w->has_job && !w->shutdown;
    if (run) job_actor = w->actor;  // read under w->mutex, as internal.hpp says it is guarded
  }
  Py_END_ALLOW_THREADS

  if (run && !prepare_error.empty()) {
    bool killed;
    {
      std::lock_guard lock(job_actor->mutex);
      killed = job_actor->kill_requested;
    }
    PyErr_Clear();
    job_actor->finish(killed ? ActorState::killed : ActorState::failed, prepare_error);
  } else if (run) {
    job_actor->set_running(std::chrono::duration<double>(Clock::now() - job_actor->spawned_at).count());
    auto [state, text] = run_job(*w, *job_actor);
    job_actor->finish(state, std::move(text));
  }
  job_actor.reset();  // the worker's reference goes with w->actor below
  // From here no kill may attach to this interpreter. The lock is taken
  // with the GIL released (a kill helper may be waiting for this GIL), and we
  // wait, still without it, for helpers that already attached to let go.
  std::shared_ptr<ActorCore> done_actor;
  Py_BEGIN_ALLOW_THREADS
  {
    std::unique_lock lock(w->mutex);
    done_actor = std::move(w->actor);  // they must not keep each other alive
    w->ending = true;
    w->wake.wait(lock, [&] { return w->injecting == 0; });
  }
  done_actor.reset();
  Py_END_ALLOW_THREADS
  // A SystemExit injected just too late must not disturb the teardown: drop
  // the pending asynchronous exception as well as any raised one.
  PyThreadState_SetAsyncExc(w->thread_ident, nullptr);
  PyErr_Clear();
  call_runner_hook(w->runner, "before_teardown");  // e.g. idle worker threads told to leave
  if (const long alive = join_own_threads(kThreadWindDownSeconds); alive != 0) {
    // A thread the actor started is still running (blocked in C, say):
    // ending the interpreter now would abort the whole process. Leave it
    // unfinalized and count it as abandoned, so process exit skips
    // finalization as for an abandoned actor (docs/spawner.md). The runner
    // hears of it (it may abort the channels that stay open).
    if (PyObject* count = Py_BuildValue("(l)", alive)) {
      call_runner_hook(w->runner, "threads_left", count);
      Py_DECREF(count);
    }
    PyErr_Clear();
    c.abandoned.fetch_add(1, std::memory_order_relaxed);
    PyEval_SaveThread();
    c.threads.fetch_sub(1, std::memory_order_relaxed);
    if (auto owner = w->owner.lock()) owner->on_thread_exit();
    return;
  }
  forget_dummy_thread();
  Py_EndInterpreter(tstate);
  c.interpreters.fetch_sub(1, std::memory_order_relaxed);
  c.threads.fetch_sub(1, std::memory_order_relaxed);
  if (auto owner = w->owner.lock()) owner->on_thread_exit();
}

}  // namespace

void start_worker(std::shared_ptr<Worker> worker) {
  counters().threads.fetch_add(1, std::memory_order_relaxed);
  try {
    std::thread(worker_main, std::move(worker)).detach();
  } catch (const std::system_error& e) {
    counters().threads.fetch_sub(1, std::memory_order_relaxed);
    throw Error(e.code().value(), std::string("starting an actor thread: ") + e.what());
  }
}

}  // namespace shmring::detail

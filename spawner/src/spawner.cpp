// Spawner: starts actors, cold or from the warm pool, and shuts them down.
#include <algorithm>
#include <stdexcept>

#include "internal.hpp"
#include "shmring/error.hpp"
#include "shmring/handles.hpp"

namespace shmring {
namespace detail {

void SpawnerCore::start_locked(const std::shared_ptr<SpawnerCore>& self, const std::shared_ptr<Worker>& w) {
  w->owner = self;
  ++threads_alive;
  try {
    start_worker(w);
  } catch (...) {
    --threads_alive;
    throw;
  }
}

void SpawnerCore::on_thread_exit() {
  std::lock_guard lock(mutex);
  --threads_alive;
  thread_exited.notify_all();
}

void SpawnerCore::refill_locked(const std::shared_ptr<SpawnerCore>& self, bool after_spawn) {
  const std::size_t at_once = std::max<std::size_t>(pool.concurrent_preparations, 1);
  while (!closed && warm.size() + preparing.size() < pool.size && preparing.size() < at_once) {
    auto w = std::make_shared<Worker>();
    w->id = next_id();
    w->thread_name = "shmring-warm";
    w->config = pool.config;
    w->preload = pool.preload;
    w->try_preload = pool.try_preload;
    w->pool_sys_path = pool.sys_path;
    w->runner = runner;
    w->pooled = true;
    if (after_spawn) w->start_delay = pool.refill_delay;
    preparing.push_back(w);
    try {
      start_locked(self, w);
    } catch (const Error& e) {
      preparing.pop_back();
      last_pool_error = e.what();
      return;
    }
  }
}

bool SpawnerCore::on_prepared(const std::shared_ptr<SpawnerCore>& self, const std::shared_ptr<Worker>& w,
                              const std::string& error) {
  std::lock_guard lock(mutex);
  const auto it = std::find(preparing.begin(), preparing.end(), w);
  if (it == preparing.end()) return false;  // a spawn took it: its job is set
  preparing.erase(it);
  if (!error.empty()) {
    last_pool_error = error;
    warm_changed.notify_all();
    return true;  // no refill here: a failing preload would loop forever
  }
  if (closed) {
    std::lock_guard wl(w->mutex);
    w->shutdown = true;
    w->wake.notify_all();
    return true;
  }
  warm.push_back(w);
  warm_changed.notify_all();
  refill_locked(self, false);  // the next one, now that this one is done
  return true;
}

}  // namespace detail

namespace {

void check_entry(const std::string& entry) {
  const auto colon = entry.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size() || entry.find(':', colon + 1) != std::string::npos) {
    throw std::invalid_argument("entry must look like 'package.module:function', not '" + entry + "'");
  }
}

}  // namespace

Spawner::Spawner(SpawnerOptions options) : core_(std::make_shared<detail::SpawnerCore>()) {
  core_->pool = std::move(options.pool);
  core_->runner = std::move(options.runner);
  std::lock_guard lock(core_->mutex);
  core_->refill_locked(core_, false);
}

Spawner::~Spawner() { shutdown(std::chrono::seconds(1)); }

Actor Spawner::spawn(SpawnRequest request) {
  check_entry(request.entry);
  auto actor = std::make_shared<detail::ActorCore>();
  actor->id = detail::next_id();
  actor->name = request.name.empty() ? "actor-" + std::to_string(actor->id) : request.name;
  Pair channel = make_pair(request.channel);  // throws for bad options
  actor->aborter = channel.a.abort_handle();
  actor->parent = std::move(channel.a);
  const std::uint64_t handle = park_endpoint(std::move(channel.b));

  auto give_job = [&](detail::Worker& w) {  // under w.mutex
    w.actor = actor;
    w.entry = request.entry;
    w.args = std::move(request.args);
    w.sys_path = std::move(request.sys_path);
    w.job_preload = std::move(request.preload);
    w.handle = handle;
    w.has_job = true;
    w.awaited.store(true, std::memory_order_relaxed);  // a hint to its importer (internal.hpp)
  };
  std::shared_ptr<detail::Worker> worker;
  {
    std::lock_guard lock(core_->mutex);
    if (core_->closed) {
      claim_endpoint(handle);
      throw std::logic_error("this Spawner was shut down");
    }
    const auto same_config = [&](const auto& w) { return w->config == request.config; };
    if (auto it = std::find_if(core_->warm.begin(), core_->warm.end(), same_config); it != core_->warm.end()) {
      worker = *it;
      core_->warm.erase(it);
    } else if (auto p = std::find_if(core_->preparing.begin(), core_->preparing.end(), same_config);
               p != core_->preparing.end()) {
      // Still importing: it runs the job as soon as it is done, which is
      // sooner than a cold worker started now (and adds no importer).
      // The job is set before this lock is released, so the worker's
      // on_prepared (which takes it) finds it set.
      worker = *p;
      core_->preparing.erase(p);
    }
    if (worker) {
      std::lock_guard wl(worker->mutex);  // lock order: spawner, then worker
      give_job(*worker);
    }
    core_->actors.push_back(actor);
    std::erase_if(core_->actors, [](const auto& weak) { return weak.expired(); });
  }
  const bool cold = worker == nullptr;
  if (cold) {
    worker = std::make_shared<detail::Worker>();
    worker->id = detail::next_id();
    worker->config = request.config;
    worker->runner = core_->runner;
    std::lock_guard lock(worker->mutex);
    give_job(*worker);
  }
  {
    std::lock_guard lock(actor->mutex);
    actor->worker = worker;
  }
  if (cold) {
    worker->thread_name = actor->name;
    try {
      std::lock_guard lock(core_->mutex);
      core_->start_locked(core_, worker);
    } catch (...) {
      claim_endpoint(handle);  // do not leave it parked forever
      throw;
    }
  } else {
    worker->wake.notify_all();
  }
  std::lock_guard lock(core_->mutex);
  core_->refill_locked(core_, true);
  return Actor(actor);
}

bool Spawner::wait_warm(std::chrono::nanoseconds timeout) {
  std::unique_lock lock(core_->mutex);
  return core_->warm_changed.wait_for(lock, timeout, [this] {
    return core_->warm.size() >= core_->pool.size || (core_->preparing.empty() && !core_->last_pool_error.empty());
  }) && core_->warm.size() >= core_->pool.size;
}

std::size_t Spawner::shutdown(std::chrono::nanoseconds grace) {
  std::vector<std::shared_ptr<detail::ActorCore>> live;
  std::vector<std::shared_ptr<detail::Worker>> idle;
  {
    std::lock_guard lock(core_->mutex);
    core_->closed = true;
    idle.swap(core_->warm);
    // Still preparing: told to stop (one waiting to begin ends at once; one
    // importing ends when its imports are done).
    idle.insert(idle.end(), core_->preparing.begin(), core_->preparing.end());
    core_->preparing.clear();
    for (auto& weak : core_->actors) {
      if (auto a = weak.lock()) live.push_back(std::move(a));
    }
    core_->actors.clear();
  }
  for (auto& w : idle) {
    std::lock_guard lock(w->mutex);
    w->shutdown = true;
    w->wake.notify_all();
  }
  // The kill ladder for all actors at once: abort every channel, give them a
  // moment, raise SystemExit in the rest, wait out the grace, abandon the rest.
  // A negative grace has no patience at all: every step at once.
  const std::chrono::nanoseconds bounded = std::max(grace, std::chrono::nanoseconds{0});
  const Deadline deadline = Deadline::after(bounded);
  std::vector<std::shared_ptr<detail::ActorCore>> killing;
  for (auto& a : live) {
    if (a->begin_kill()) killing.push_back(a);
  }
  // One patience for all of them, not one each in turn.
  const Deadline patience_ends = Deadline::after(detail::abort_patience(bounded));
  for (auto& a : killing) a->wait_ended(patience_ends.remaining());
  for (auto& a : killing) {
    if (!a->ended()) a->inject_exit();
  }
  std::size_t abandoned_now = 0;
  for (auto& a : killing) {
    if (!a->wait_ended(deadline.remaining())) {
      a->abandon(grace);
      ++abandoned_now;
    }
  }
  // An actor that ended is still tearing its interpreter down on its thread:
  // wait for those threads (not for abandoned ones, which may never finish),
  // so that the caller may finalize Python afterwards. Bounded: an interpreter
  // ends in milliseconds.
  std::size_t abandoned_total = 0;
  for (auto& a : live) {
    std::lock_guard lock(a->mutex);
    abandoned_total += a->state == ActorState::abandoned ? 1 : 0;
  }
  std::unique_lock lock(core_->mutex);
  core_->thread_exited.wait_for(lock, std::chrono::seconds(10),
                                [&] { return core_->threads_alive <= abandoned_total; });
  return abandoned_now;
}

SpawnerCounts Spawner::counts() {
  const detail::Counters& c = detail::counters();
  SpawnerCounts out;
  out.live_interpreters = c.interpreters.load(std::memory_order_relaxed);
  out.live_threads = c.threads.load(std::memory_order_relaxed);
  out.abandoned = c.abandoned.load(std::memory_order_relaxed);
  return out;
}

std::size_t Spawner::warm_count() const {
  std::lock_guard lock(core_->mutex);
  return core_->warm.size();
}

std::string Spawner::last_pool_error() const {
  std::lock_guard lock(core_->mutex);
  return core_->last_pool_error;
}

}  // namespace shmring

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

void SpawnerCore::refill_locked(const std::shared_ptr<SpawnerCore>& self) {
  while (!closed && warm.size() + preparing < pool.size) {
    auto w = std::make_shared<Worker>();
    w->id = next_id();
    w->thread_name = "shmring-warm";
    w->config = pool.config;
    w->preload = pool.preload;
    ++preparing;
    try {
      start_locked(self, w);
    } catch (const Error& e) {
      --preparing;
      last_pool_error = e.what();
      return;
    }
  }
}

void SpawnerCore::on_warm(const std::shared_ptr<Worker>& w) {
  std::lock_guard lock(mutex);
  --preparing;
  if (closed) {
    std::lock_guard wl(w->mutex);
    w->shutdown = true;
    w->wake.notify_all();
    return;
  }
  warm.push_back(w);
  warm_changed.notify_all();
}

void SpawnerCore::on_pool_failure(const std::string& why) {
  std::lock_guard lock(mutex);
  --preparing;
  last_pool_error = why;
  warm_changed.notify_all();  // no refill here: a failing preload would loop forever
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

Spawner::Spawner(PoolOptions pool) : core_(std::make_shared<detail::SpawnerCore>()) {
  core_->pool = std::move(pool);
  std::lock_guard lock(core_->mutex);
  core_->refill_locked(core_);
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

  std::shared_ptr<detail::Worker> worker;
  {
    std::lock_guard lock(core_->mutex);
    if (core_->closed) {
      claim_endpoint(handle);
      throw std::logic_error("this Spawner was shut down");
    }
    auto it = std::find_if(core_->warm.begin(), core_->warm.end(),
                           [&](const auto& w) { return w->config == request.config; });
    if (it != core_->warm.end()) {
      worker = *it;
      core_->warm.erase(it);
    }
    core_->actors.push_back(actor);
    std::erase_if(core_->actors, [](const auto& weak) { return weak.expired(); });
  }
  const bool cold = worker == nullptr;
  if (cold) {
    worker = std::make_shared<detail::Worker>();
    worker->id = detail::next_id();
    worker->config = request.config;
  }
  {
    std::lock_guard lock(worker->mutex);
    worker->actor = actor;
    worker->entry = request.entry;
    worker->args = std::move(request.args);
    worker->sys_path = std::move(request.sys_path);
    worker->handle = handle;
    worker->has_job = true;
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
    // Named after the actor it now runs.
    worker->wake.notify_all();
  }
  std::lock_guard lock(core_->mutex);
  core_->refill_locked(core_);
  return Actor(actor);
}

bool Spawner::wait_warm(std::chrono::nanoseconds timeout) {
  std::unique_lock lock(core_->mutex);
  return core_->warm_changed.wait_for(lock, timeout, [this] {
    return core_->warm.size() >= core_->pool.size || (core_->preparing == 0 && !core_->last_pool_error.empty());
  }) && core_->warm.size() >= core_->pool.size;
}

std::size_t Spawner::shutdown(std::chrono::nanoseconds grace) {
  std::vector<std::shared_ptr<detail::ActorCore>> live;
  std::vector<std::shared_ptr<detail::Worker>> idle;
  {
    std::lock_guard lock(core_->mutex);
    core_->closed = true;
    idle.swap(core_->warm);
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
  const auto deadline = detail::Clock::now() + grace;
  std::vector<std::shared_ptr<detail::ActorCore>> killing;
  for (auto& a : live) {
    if (a->begin_kill()) killing.push_back(a);
  }
  for (auto& a : killing) a->wait_ended(std::min(grace, std::chrono::nanoseconds(std::chrono::milliseconds(20))));
  for (auto& a : killing) {
    if (!a->ended()) a->inject_exit();
  }
  std::size_t abandoned_now = 0;
  for (auto& a : killing) {
    const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - detail::Clock::now());
    if (!a->wait_ended(std::max(left, std::chrono::nanoseconds{0}))) {
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

// The supervisor's thread waits for child exits (reported by the children's
// exit hooks) and restarts or gives up; children are owned here.
#include "shmring/supervisor.hpp"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace shmring::actors {
namespace detail {

struct ChildSlot {
  ChildSpec spec;
  std::unique_ptr<Actor> actor;
  ActorRef ref;
  std::uint64_t generation = 0;  // which incarnation an exit report is about
  std::size_t restarts = 0;
};

struct ExitReport {
  std::string name;
  std::uint64_t generation;
  ExitInfo info;
};

struct SupervisorCore {
  explicit SupervisorCore(SupervisorOptions opts) : options(std::move(opts)) {}
  const SupervisorOptions options;

  mutable std::mutex mutex;  // guards everything below
  std::condition_variable changed;
  std::vector<ChildSlot> children;  // start order
  std::deque<ExitReport> exits;
  std::deque<std::chrono::steady_clock::time_point> restart_times;
  bool stopping = false;
  bool ended = false;
  ExitInfo result;
  std::thread thread;

  ChildSlot* find(std::string_view name) {
    auto it = std::find_if(children.begin(), children.end(), [&](const ChildSlot& c) { return c.spec.name == name; });
    return it == children.end() ? nullptr : &*it;
  }

  // Builds and starts one incarnation; the caller holds `mutex`.
  void launch(ChildSlot& slot, const std::shared_ptr<SupervisorCore>& self) {
    std::unique_ptr<Actor> actor = slot.spec.make();
    if (!actor) throw std::invalid_argument("the factory of child '" + slot.spec.name + "' returned no actor");
    const std::uint64_t generation = ++slot.generation;
    std::weak_ptr<SupervisorCore> weak = self;
    actor->set_exit_hook([weak, name = slot.spec.name, generation](const ExitInfo& info) {
      if (auto core = weak.lock()) {
        std::lock_guard lock(core->mutex);
        core->exits.push_back(ExitReport{name, generation, info});
        core->changed.notify_all();
      }
    });
    slot.ref = actor->ref();
    actor->start();
    // The previous incarnation has ended (it reported); joining is quick.
    std::unique_ptr<Actor> old = std::exchange(slot.actor, std::move(actor));
    if (old) old->join();
  }

  void stop_children(std::unique_lock<std::mutex>& lock) {
    std::vector<std::unique_ptr<Actor>> actors;
    for (auto it = children.rbegin(); it != children.rend(); ++it) {
      if (it->actor) actors.push_back(std::move(it->actor));
    }
    lock.unlock();  // exit hooks take the mutex
    for (auto& a : actors) a->stop("stopped by supervisor");
    for (auto& a : actors) a->join();
    lock.lock();
  }

  void run(const std::shared_ptr<SupervisorCore>& self) {
    std::unique_lock lock(mutex);
    while (true) {
      changed.wait(lock, [&] { return stopping || !exits.empty(); });
      if (stopping) break;
      ExitReport report = std::move(exits.front());
      exits.pop_front();
      ChildSlot* slot = find(report.name);
      if (slot == nullptr || report.generation != slot->generation) continue;
      const bool wanted = slot->spec.restart == Restart::permanent ||
                          (slot->spec.restart == Restart::transient && report.info.failed);
      if (!wanted) continue;
      const auto now = std::chrono::steady_clock::now();
      restart_times.push_back(now);
      while (!restart_times.empty() && now - restart_times.front() > options.within) restart_times.pop_front();
      if (static_cast<int>(restart_times.size()) > options.max_restarts) {
        result = ExitInfo{true, "failed: child '" + report.name + "' ended " + std::to_string(restart_times.size()) +
                                    " times within " + std::to_string(options.within.count()) +
                                    " ms; last: " + report.info.reason};
        break;
      }
      try {
        launch(*slot, self);
        ++slot->restarts;
      } catch (const std::exception& e) {
        result = ExitInfo{true, "failed: restarting child '" + report.name + "' threw: " + e.what()};
        break;
      }
    }
    stop_children(lock);
    if (!result.failed) result = ExitInfo{false, "stopped"};
    ended = true;
    changed.notify_all();
  }
};

}  // namespace detail

Supervisor::Supervisor(SupervisorOptions options)
    : core_(std::make_shared<detail::SupervisorCore>(std::move(options))) {
  core_->thread = std::thread([core = core_] {
    const std::string thread_name = core->options.name.substr(0, 15);
    ::pthread_setname_np(::pthread_self(), thread_name.c_str());
    core->run(core);
  });
}

Supervisor::~Supervisor() { stop(); }

ActorRef Supervisor::start_child(ChildSpec spec) {
  if (!spec.make) throw std::invalid_argument("ChildSpec '" + spec.name + "' has no factory");
  std::lock_guard lock(core_->mutex);
  if (core_->ended || core_->stopping) throw std::logic_error("Supervisor '" + core_->options.name + "' has ended");
  if (core_->find(spec.name) != nullptr) throw std::invalid_argument("a child named '" + spec.name + "' exists");
  core_->children.push_back(detail::ChildSlot{std::move(spec), nullptr, {}, 0, 0});
  try {
    core_->launch(core_->children.back(), core_);
  } catch (...) {
    core_->children.pop_back();
    throw;
  }
  return core_->children.back().ref;
}

ActorRef Supervisor::child(std::string_view name) const {
  std::lock_guard lock(core_->mutex);
  const detail::ChildSlot* slot = core_->find(name);
  return slot ? slot->ref : ActorRef();
}

std::size_t Supervisor::restarts(std::string_view name) const {
  std::lock_guard lock(core_->mutex);
  const detail::ChildSlot* slot = core_->find(name);
  return slot ? slot->restarts : 0;
}

void Supervisor::stop() {
  {
    std::lock_guard lock(core_->mutex);
    core_->stopping = true;
    core_->changed.notify_all();
  }
  if (core_->thread.joinable() && core_->thread.get_id() != std::this_thread::get_id()) core_->thread.join();
}

ExitInfo Supervisor::wait() {
  std::unique_lock lock(core_->mutex);
  core_->changed.wait(lock, [&] { return core_->ended; });
  return core_->result;
}

bool Supervisor::wait_for(std::chrono::nanoseconds timeout, ExitInfo& out) {
  std::unique_lock lock(core_->mutex);
  if (!core_->changed.wait_for(lock, timeout, [&] { return core_->ended; })) return false;
  out = core_->result;
  return true;
}

}  // namespace shmring::actors

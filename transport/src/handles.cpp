#include "shmring/handles.hpp"

#include <mutex>
#include <unordered_map>

namespace shmring {
namespace {

struct Table {
  std::mutex mutex;
  std::uint64_t next = 1;
  std::unordered_map<std::uint64_t, Endpoint> parked;
};

Table& table() {
  // Leaked on purpose: endpoints parked at process exit must not be closed
  // by a static destructor racing interpreter finalization.
  static Table* t = new Table;
  return *t;
}

}  // namespace

std::uint64_t park_endpoint(Endpoint endpoint) {
  Table& t = table();
  std::lock_guard lock(t.mutex);
  const std::uint64_t handle = t.next++;
  t.parked.emplace(handle, std::move(endpoint));
  return handle;
}

std::optional<Endpoint> claim_endpoint(std::uint64_t handle) {
  Table& t = table();
  std::lock_guard lock(t.mutex);
  auto it = t.parked.find(handle);
  if (it == t.parked.end()) return std::nullopt;
  Endpoint e = std::move(it->second);
  t.parked.erase(it);
  return e;
}

bool discard_endpoint(std::uint64_t handle) {
  std::optional<Endpoint> e = claim_endpoint(handle);
  if (!e) return false;
  e->close();  // outside the table's lock; its fds go with it
  return true;
}

std::size_t parked_endpoints() {
  Table& t = table();
  std::lock_guard lock(t.mutex);
  return t.parked.size();
}

}  // namespace shmring

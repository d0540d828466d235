// The public waiting calls (shmring/waiting.hpp), made of the platform
// layer's wake-up and waiting functions: no system call here, so another OS
// still needs only its own platform_<os>.cpp.
#include "shmring/waiting.hpp"

#include <utility>

#include "platform.hpp"

namespace shmring {

WaitOutcome wait_readable(int fd, Deadline deadline, OnSignal on_signal) {
  return detail::poll_readable(fd, deadline, on_signal);
}

// --- WakeCounter ------------------------------------------------------------------

WakeCounter::WakeCounter(const char* purpose) : fd_(detail::make_eventfd(purpose).release()) {}

WakeCounter::~WakeCounter() { detail::UniqueFd(fd_).reset(); }

WakeCounter::WakeCounter(WakeCounter&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

WakeCounter& WakeCounter::operator=(WakeCounter&& other) noexcept {
  if (this != &other) {
    detail::UniqueFd previous(fd_);  // closed at the end of this scope
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void WakeCounter::ring() noexcept { detail::eventfd_ring(fd_); }

void WakeCounter::drain() noexcept { detail::eventfd_drain(fd_); }

// --- WaitSet ----------------------------------------------------------------------

WaitSet::WaitSet(const char* purpose) : fd_(detail::make_wait_set({}, -1, purpose).release()) {}

WaitSet::~WaitSet() { detail::UniqueFd(fd_).reset(); }

WaitSet::WaitSet(WaitSet&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

WaitSet& WaitSet::operator=(WaitSet&& other) noexcept {
  if (this != &other) {
    detail::UniqueFd previous(fd_);  // closed at the end of this scope
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void WaitSet::add(int fd, std::uint64_t key, Watch what) { detail::wait_set_add(fd_, fd, key, what); }

void WaitSet::modify(int fd, std::uint64_t key, Watch what) { detail::wait_set_modify(fd_, fd, key, what); }

void WaitSet::remove(int fd) noexcept { detail::wait_set_remove(fd_, fd); }

std::span<WaitEvent> WaitSet::wait(std::span<WaitEvent> events, Deadline deadline) {
  return events.first(detail::wait_set_wait(fd_, events, deadline));
}

}  // namespace shmring

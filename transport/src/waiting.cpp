// The public waiting calls (shmring/waiting.hpp), made of the platform
// layer's wake-up and waiting functions: no system call here, so another OS
// still needs only its own platform_<os>.cpp.
#include "shmring/waiting.hpp"

#include "platform.hpp"

namespace shmring {

WaitOutcome wait_readable(int fd, Deadline deadline, OnSignal on_signal) {
  return detail::poll_readable(fd, deadline, on_signal);
}

// --- WakeCounter ------------------------------------------------------------------

WakeCounter::WakeCounter(const char* purpose) : fd_(detail::make_eventfd(purpose)) {}

void WakeCounter::ring() noexcept { detail::eventfd_ring(fd_.get()); }

void WakeCounter::drain() noexcept { detail::eventfd_drain(fd_.get()); }

// --- WaitSet ----------------------------------------------------------------------

WaitSet::WaitSet(const char* purpose) : fd_(detail::make_wait_set({}, -1, purpose)) {}

void WaitSet::add(int fd, std::uint64_t key, Watch what) { detail::wait_set_add(fd_.get(), fd, key, what); }

void WaitSet::modify(int fd, std::uint64_t key, Watch what) { detail::wait_set_modify(fd_.get(), fd, key, what); }

void WaitSet::remove(int fd) noexcept { detail::wait_set_remove(fd_.get(), fd); }

std::span<WaitEvent> WaitSet::wait(std::span<WaitEvent> events, Deadline deadline) {
  return events.first(detail::wait_set_wait(fd_.get(), events, deadline));
}

}  // namespace shmring

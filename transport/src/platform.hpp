// Every operating-system call of the transport goes through this header, so
// another OS can be added by writing one more platform_<os>.cpp. Linux today:
// memfd, eventfd, epoll, Unix sockets with SCM_RIGHTS and SO_PEERCRED. The
// public waiting calls (shmring/waiting.hpp, src/waiting.cpp) are made of the
// wake-up and waiting functions here, so the layers above need no OS calls.
//
// Functions that can fail for reasons a caller must report throw
// shmring::Error naming the operation; hot-path helpers return plain values.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <sys/types.h>
#include <utility>
#include <vector>

#include "shmring/unique_fd.hpp"
#include "shmring/waiting.hpp"  // the public side of the wake-up calls below, and cpu_relax/Deadline

namespace shmring::detail {

// A shared mapping of a whole file descriptor; unmapped on destruction.
class Mapping {
 public:
  Mapping() = default;
  Mapping(void* base, std::size_t bytes) : base_(base), bytes_(bytes) {}
  Mapping(Mapping&& other) noexcept
      : base_(std::exchange(other.base_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  std::byte* data() const { return static_cast<std::byte*>(base_); }
  std::size_t size() const { return bytes_; }

 private:
  void* base_ = nullptr;
  std::size_t bytes_ = 0;
};

// --- shared memory --------------------------------------------------------
// An anonymous memory file (no name anywhere, so nothing can outlive a crash),
// mode 0600, sized and then sealed against shrinking or growing so a peer
// cannot truncate it under our feet (which would turn reads into SIGBUS).
UniqueFd create_sealed_memory(std::size_t bytes);
// Checks a memory fd received from a peer: a regular memory file, sealed
// against shrinking. Returns its size. Throws Error(EPROTO) saying what is wrong.
std::size_t check_received_memory(int fd);
Mapping map_shared(int fd, std::size_t bytes);

// --- wake-ups ---------------------------------------------------------------
// Non-blocking, close-on-exec. `purpose` completes the error's sentence
// ("eventfd for <purpose>: <why>").
UniqueFd make_eventfd(const char* purpose = "a channel's wake-ups");
// Both never block, even on an eventfd whose O_NONBLOCK another process
// cleared (a peer that received it, a forked child that inherited it).
void eventfd_ring(int fd);               // add one
void eventfd_drain(int fd);              // reset to zero
bool is_eventfd(int fd);
bool is_nonblocking(int fd);             // O_NONBLOCK set (the peer may change it later: never rely on it)

// --- waiting ----------------------------------------------------------------
// An epoll set (level-triggered), readable when any member is: lets an event
// loop wait on one descriptor. Each of `readable_fds` is watched for input
// (key: the fd itself), `hangup_only_fd` (if >= 0) only for hang-up.
UniqueFd make_wait_set(std::span<const int> readable_fds = {}, int hangup_only_fd = -1,
                       const char* purpose = "an endpoint's event-loop descriptor");
void wait_set_add(int wait_set, int fd, std::uint64_t key, Watch what);
void wait_set_modify(int wait_set, int fd, std::uint64_t key, Watch what);
void wait_set_remove(int wait_set, int fd);  // ignores a fd that is not there
// Waits until a member is ready or `deadline` passes; fills the front of
// `events` and returns how many (0: the deadline passed). Retries on EINTR.
std::size_t wait_set_wait(int wait_set, std::span<WaitEvent> events, const Deadline& deadline);
// Waits until `fd` is readable (or hung up, or in error) or `deadline` passes.
WaitOutcome poll_readable(int fd, const Deadline& deadline, OnSignal on_signal);

struct WaitResult {
  bool timed_out = false;
  bool hung_up = false;      // the hang-up fd reported hang-up or error
  bool interrupted = false;  // a signal arrived (only with return_on_signal)
};
// An edge-triggered set for a thread that parks on one eventfd (and the
// lifeline's hang-up): each write to the eventfd wakes one wait, so the waiter
// never has to reset the counter first (one system call per park, not two).
UniqueFd make_edge_wait_set(int eventfd, int hangup_only_fd);
// Waits on such a set until the eventfd is written, the lifeline hangs up or
// `deadline` passes. Retries on EINTR unless `return_on_signal`.
WaitResult wait_edge(int edge_set, const Deadline& deadline, bool return_on_signal);
// Non-blocking: has the peer end of this socket gone (closed or process died)?
bool has_hung_up(int socket_fd);

// --- Unix sockets -------------------------------------------------------------
struct PeerCredentials {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};
PeerCredentials peer_credentials(int socket_fd);

// Makes sure `dir` exists, is owned by us and is not accessible to others
// (creates it 0700 if missing). Throws Error(EACCES/ENOTDIR/...) otherwise.
void ensure_private_directory(const std::string& dir);
UniqueFd listen_unix(const std::string& path);           // non-blocking listening socket
UniqueFd accept_unix(int listen_fd);                     // empty fd if none pending (EAGAIN)
UniqueFd connect_unix(const std::string& path);          // blocking connect, then non-blocking fd

// Sends `bytes` and `fds` in one message. Throws Error on failure.
void send_with_fds(int socket_fd, std::span<const std::byte> bytes, std::span<const int> fds);
struct Received {
  std::size_t bytes = 0;        // 0 with !would_block means the peer closed
  bool would_block = false;
  std::vector<UniqueFd> fds;
};
// Non-blocking receive of one message with any fds attached (at most max_fds).
Received receive_with_fds(int socket_fd, std::span<std::byte> buffer, std::size_t max_fds);

// --- misc ---------------------------------------------------------------------
// (cpu_relax() and Deadline are shmring's, in shmring/waiting.hpp: inline.)
// Hints the CPU to move a cache line out of this core's private caches into
// the shared last-level cache, where another core's load finds it sooner than
// by snooping ours. CLDEMOTE lives in the hint-NOP opcode space: on x86 CPUs
// without it the instruction is a NOP. Elsewhere nothing is done.
inline void demote_cache_line(const void* address) {
#if defined(__x86_64__)
  asm volatile("cldemote (%0)" ::"r"(address) : "memory");
#else
  (void)address;
#endif
}
pid_t current_pid();
// Identity of a filesystem entry (device, inode); {0, 0} if missing.
std::pair<std::uint64_t, std::uint64_t> file_identity(const std::string& path);
bool is_socket_file(const std::string& path);
void remove_file(const std::string& path);
uid_t current_uid();
std::string errno_text(int errno_value);

}  // namespace shmring::detail

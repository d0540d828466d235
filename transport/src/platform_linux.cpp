// Linux implementation of platform.hpp.
#include "platform.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <iterator>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "shmring/error.hpp"

namespace shmring::detail {
namespace {

[[noreturn]] void fail(const std::string& what, int err = errno) {
  throw Error(err, what + ": " + errno_text(err));
}

sockaddr_un unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    throw Error(ENAMETOOLONG, "socket path '" + path + "' must be 1 to " +
                                  std::to_string(sizeof(addr.sun_path) - 1) + " bytes long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

timespec to_timespec(std::chrono::nanoseconds ns) {
  return timespec{static_cast<time_t>(ns.count() / 1'000'000'000),
                  static_cast<long>(ns.count() % 1'000'000'000)};
}

}  // namespace

std::string errno_text(int errno_value) {
  char buf[128];
  // GNU strerror_r returns the message (maybe not in buf).
  return strerror_r(errno_value, buf, sizeof buf);
}

void UniqueFd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    if (base_) ::munmap(base_, bytes_);
    base_ = std::exchange(other.base_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (base_) ::munmap(base_, bytes_);
}

// --- shared memory ------------------------------------------------------------

UniqueFd create_sealed_memory(std::size_t bytes) {
  UniqueFd fd(::memfd_create("shmring", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) fail("memfd_create");
  if (::fchmod(fd.get(), 0600) != 0) fail("fchmod 0600 on the channel segment");
  if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
    fail("ftruncate channel segment to " + std::to_string(bytes) + " bytes");
  }
  if (::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    fail("sealing the channel segment");
  }
  return fd;
}

std::size_t check_received_memory(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) fail("fstat of the received segment");
  if (!S_ISREG(st.st_mode)) throw Error(EPROTO, "received segment is not a memory file");
  const int seals = ::fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & F_SEAL_SHRINK) == 0) {
    throw Error(EPROTO, "received segment is not sealed against shrinking");
  }
  return static_cast<std::size_t>(st.st_size);
}

Mapping map_shared(int fd, std::size_t bytes) {
  void* base = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) fail("mmap of " + std::to_string(bytes) + " bytes");
  return Mapping(base, bytes);
}

// --- wake-ups -----------------------------------------------------------------

UniqueFd make_eventfd(const char* purpose) {
  UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd) fail(std::string("eventfd for ") + purpose);
  return fd;
}

// A peer shares the channel's eventfds' open file descriptions, and a forked
// child shares every eventfd of its parent (a WakeCounter's too), so either can
// clear O_NONBLOCK on them: our reads and writes must not rely on the flag.

void eventfd_ring(int fd) {
  // A write blocks (whatever the flag says, if the peer cleared it) only when
  // the counter is saturated, and then the waiter is woken already: ask first.
  // A peer would have to saturate the counter in the instant between the two
  // calls to block us; ours never does.
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, 0) != 1 || (p.revents & POLLOUT) == 0) return;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);  // EAGAIN: saturated, the waiter is woken
}

namespace {
// preadv2(RWF_NOWAIT) never blocks, whatever the file's flags (eventfd has
// supported it since Linux 5.12); older kernels refuse it (EOPNOTSUPP) and
// get a poll() first instead.
std::atomic<bool> nowait_reads_refused{false};  // a cache of what the kernel said; relaxed: any value is safe
}  // namespace

void eventfd_drain(int fd) {
  std::uint64_t count;
  iovec io{&count, sizeof count};
  if (!nowait_reads_refused.load(std::memory_order_relaxed)) {
    if (::preadv2(fd, &io, 1, -1, RWF_NOWAIT) >= 0 || (errno != EOPNOTSUPP && errno != EINVAL)) return;  // EAGAIN: zero
    nowait_reads_refused.store(true, std::memory_order_relaxed);
  }
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0) {
    [[maybe_unused]] auto n = ::read(fd, &count, sizeof count);
  }
}

bool is_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

bool is_eventfd(int fd) {
  char link[64];
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  const auto n = ::readlink(proc.c_str(), link, sizeof link - 1);
  if (n < 0) return false;
  link[n] = '\0';
  return std::strcmp(link, "anon_inode:[eventfd]") == 0;
}

namespace {

// The timeout argument of ppoll and epoll_pwait2: the time left until
// `deadline`, in `storage`, or nullptr (wait for ever). Recomputed for every
// call, so a wait resumed after a signal keeps the original deadline.
const timespec* timeout_until(const Deadline& deadline, timespec& storage) {
  if (deadline.is_never()) return nullptr;
  storage = to_timespec(deadline.remaining());
  return &storage;
}

std::uint32_t epoll_interest(Watch what) {
  // EPOLLHUP and EPOLLERR are always reported; EPOLLRDHUP is a socket peer
  // shutting its writing side, which a reader must hear about too.
  return what == Watch::hang_up ? EPOLLRDHUP : (EPOLLIN | EPOLLRDHUP);
}

bool epoll_hung_up(std::uint32_t events) { return (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0; }

UniqueFd make_epoll(const char* what) {
  UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
  if (!ep) fail(std::string("epoll_create1 for ") + what);
  return ep;
}

void epoll_change(int epoll_fd, int op, int fd, std::uint32_t events, std::uint64_t key) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = key;
  if (::epoll_ctl(epoll_fd, op, fd, &ev) != 0) {
    fail(std::string(op == EPOLL_CTL_ADD ? "adding descriptor " : "changing descriptor ") + std::to_string(fd) +
         (op == EPOLL_CTL_ADD ? " to" : " in") + " a wait set (epoll_ctl)");
  }
}

// epoll_pwait2 (Linux 5.11) takes the timeout in nanoseconds; older kernels
// refuse it (ENOSYS) and get epoll_wait with whole milliseconds, rounded up.
std::atomic<bool> pwait2_refused{false};  // a cache of what the kernel said; relaxed: any value is safe

// One epoll wait until `deadline`: the number of events (> 0), 0 once the
// deadline has passed, -1 if a signal arrived and `return_on_signal`.
int epoll_until(int epoll_fd, epoll_event* events, int max_events, const Deadline& deadline,
                bool return_on_signal) {
  for (;;) {
    int r;
    const bool pwait2 = !pwait2_refused.load(std::memory_order_relaxed);
    if (pwait2) {
      timespec ts;
      r = ::epoll_pwait2(epoll_fd, events, max_events, timeout_until(deadline, ts), nullptr);
      if (r < 0 && errno == ENOSYS) {
        pwait2_refused.store(true, std::memory_order_relaxed);
        continue;
      }
    } else {
      r = ::epoll_wait(epoll_fd, events, max_events, deadline.poll_milliseconds());
    }
    if (r > 0) return r;
    if (r == 0) {
      if (deadline.passed()) return 0;
      continue;  // woke a hair early by our clock: "0" must mean the deadline passed
    }
    if (errno != EINTR) fail(pwait2 ? "waiting on a wait set (epoll_pwait2)" : "waiting on a wait set (epoll_wait)");
    if (return_on_signal) return -1;
  }
}

}  // namespace

UniqueFd make_wait_set(std::span<const int> readable_fds, int hangup_only_fd, const char* purpose) {
  UniqueFd ep = make_epoll(purpose);
  for (int fd : readable_fds) wait_set_add(ep.get(), fd, static_cast<std::uint64_t>(fd), Watch::readable);
  if (hangup_only_fd >= 0) {
    wait_set_add(ep.get(), hangup_only_fd, static_cast<std::uint64_t>(hangup_only_fd), Watch::hang_up);
  }
  return ep;
}

void wait_set_add(int wait_set, int fd, std::uint64_t key, Watch what) {
  epoll_change(wait_set, EPOLL_CTL_ADD, fd, epoll_interest(what), key);
}

void wait_set_modify(int wait_set, int fd, std::uint64_t key, Watch what) {
  epoll_change(wait_set, EPOLL_CTL_MOD, fd, epoll_interest(what), key);
}

void wait_set_remove(int wait_set, int fd) { ::epoll_ctl(wait_set, EPOLL_CTL_DEL, fd, nullptr); }

std::size_t wait_set_wait(int wait_set, std::span<WaitEvent> events, const Deadline& deadline) {
  if (events.empty()) throw Error(EINVAL, "waiting on a wait set: no room for a single event");
  epoll_event raw[64];
  const int max_events = static_cast<int>(std::min(events.size(), std::size(raw)));
  const int n = epoll_until(wait_set, raw, max_events, deadline, false);
  for (int i = 0; i < n; ++i) {
    events[static_cast<std::size_t>(i)] =
        WaitEvent{raw[i].data.u64, (raw[i].events & EPOLLIN) != 0, epoll_hung_up(raw[i].events)};
  }
  return static_cast<std::size_t>(n);
}

WaitOutcome poll_readable(int fd, const Deadline& deadline, OnSignal on_signal) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    timespec ts;
    const int r = ::ppoll(&p, 1, timeout_until(deadline, ts), nullptr);
    if (r > 0) {
      if ((p.revents & POLLNVAL) != 0) {
        throw Error(EBADF, "waiting for descriptor " + std::to_string(fd) + " to be readable: it is not open");
      }
      return WaitOutcome::ready;
    }
    if (r == 0) {
      if (deadline.passed()) return WaitOutcome::timed_out;
      continue;  // woke a hair early by our clock
    }
    if (errno != EINTR) fail("waiting for descriptor " + std::to_string(fd) + " to be readable (ppoll)");
    if (on_signal == OnSignal::return_interrupted) return WaitOutcome::interrupted;
  }
}

UniqueFd make_edge_wait_set(int eventfd, int hangup_only_fd) {
  UniqueFd ep = make_epoll("a parked endpoint");
  // One event per write after each harvest: no drain before parking.
  epoll_change(ep.get(), EPOLL_CTL_ADD, eventfd, EPOLLIN | EPOLLET, static_cast<std::uint64_t>(eventfd));
  if (hangup_only_fd >= 0) {
    // Level-triggered: a hang-up stays reported.
    epoll_change(ep.get(), EPOLL_CTL_ADD, hangup_only_fd, EPOLLRDHUP, static_cast<std::uint64_t>(hangup_only_fd));
  }
  return ep;
}

WaitResult wait_edge(int edge_set, const Deadline& deadline, bool return_on_signal) {
  epoll_event events[2];
  const int r = epoll_until(edge_set, events, 2, deadline, return_on_signal);
  if (r < 0) return WaitResult{false, false, true};
  if (r == 0) return WaitResult{true, false, false};
  bool hung = false;
  for (int i = 0; i < r; ++i) hung |= epoll_hung_up(events[i].events);
  return WaitResult{false, hung, false};
}

bool has_hung_up(int socket_fd) {
  pollfd p{socket_fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// --- Unix sockets ---------------------------------------------------------------

PeerCredentials peer_credentials(int socket_fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(socket_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) fail("SO_PEERCRED");
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

void ensure_private_directory(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) fail("creating directory '" + dir + "'");
  struct stat st {};
  // stat, not lstat: a symlink to a private directory is as good as the
  // directory (its target's owner and mode are what is checked).
  if (::stat(dir.c_str(), &st) != 0) fail("stat of '" + dir + "'");
  if (!S_ISDIR(st.st_mode)) throw Error(ENOTDIR, "'" + dir + "' is not a directory");
  if (st.st_uid != ::geteuid()) {
    throw Error(EACCES, "directory '" + dir + "' belongs to uid " + std::to_string(st.st_uid) +
                            ", not to this process's uid " + std::to_string(::geteuid()));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    throw Error(EACCES, "directory '" + dir + "' has mode " + mode +
                            "; a listener's directory must not be accessible to others (use 0700)");
  }
}

UniqueFd listen_unix(const std::string& path) {
  const sockaddr_un addr = unix_address(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) fail("socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    fail("bind to '" + path + "'");
  }
  if (::chmod(path.c_str(), 0600) != 0) fail("chmod 0600 of '" + path + "'");
  if (::listen(fd.get(), SOMAXCONN) != 0) fail("listen on '" + path + "'");
  return fd;
}

UniqueFd accept_unix(int listen_fd) {
  for (;;) {
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return UniqueFd(fd);
    if (errno == EINTR) continue;
    // A connection that died before we took it is not our error.
    if (errno == EAGAIN || errno == ECONNABORTED || errno == EPROTO) return UniqueFd();
    fail("accept");
  }
}

UniqueFd connect_unix(const std::string& path) {
  const sockaddr_un addr = unix_address(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) fail("socket");
  for (;;) {
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
    if (errno == EINTR) continue;
    const int err = errno;
    const char* why = (err == ENOENT || err == ECONNREFUSED) ? "nothing listens there" : "connect failed";
    throw Error(err, "connect to '" + path + "': " + why + " (" + errno_text(err) + ")");
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) fail("fcntl O_NONBLOCK");
  return fd;
}

void send_with_fds(int socket_fd, std::span<const std::byte> bytes, std::span<const int> fds) {
  iovec iov{const_cast<std::byte*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)]{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    if (fds.size() > 8) throw Error(EINVAL, "at most 8 fds per message");
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  for (;;) {
    const auto n = ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(bytes.size())) return;
    if (n >= 0) throw Error(EPROTO, "short send of a handshake message");
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {  // the handshake messages are tiny; wait for room
      pollfd p{socket_fd, POLLOUT, 0};
      ::poll(&p, 1, 1000);
      continue;
    }
    fail("sending a handshake message");
  }
}

Received receive_with_fds(int socket_fd, std::span<std::byte> buffer, std::size_t max_fds) {
  Received out;
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)]{};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(socket_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN) {
      out.would_block = true;
      return out;
    }
    if (errno == ECONNRESET) return out;  // peer gone: same as closed
    fail("receiving a handshake message");
  }
  out.bytes = static_cast<std::size_t>(n);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      out.fds.emplace_back(fd);  // owned now, even the ones beyond max_fds, so they get closed
    }
  }
  if (out.fds.size() > max_fds || (msg.msg_flags & MSG_CTRUNC) != 0) {
    throw Error(EPROTO, "handshake message carried too many file descriptors");
  }
  return out;
}

pid_t current_pid() { return ::getpid(); }

std::pair<std::uint64_t, std::uint64_t> file_identity(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {0, 0};
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

bool is_socket_file(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

void remove_file(const std::string& path) { ::unlink(path.c_str()); }
uid_t current_uid() { return ::geteuid(); }

}  // namespace shmring::detail

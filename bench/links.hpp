// The transports the benchmark suite compares, behind one small interface.
//
// A Link is a connected pair of ends. The benchmark uses `near`; a peer
// (a thread, or a forked process) runs echo() or sink() on `far`. Every
// transport moves messages of a fixed size per run; the first byte of a
// message is kStop when the benchmark tells the peer to end.
//
// Modes: "spin" polls without sleeping (non-blocking calls in a loop, or a
// spin budget that never runs out); "block" sleeps in the kernel until the
// other side wakes it.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <cstring>
#include <functional>
#include <memory>
#include <readerwriterqueue/readerwriterqueue.h>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "shmring/shmring.hpp"

namespace shmring::bench {

constexpr std::byte kStop{0xFF};
constexpr std::byte kData{0x01};

class End {
 public:
  virtual ~End() = default;
  virtual void send(const std::byte* data, std::size_t n) = 0;
  virtual void recv(std::byte* data, std::size_t n) = 0;
};

// What the peer runs: echo every message back until a stop message; or take
// messages until a stop message and answer it (the end of a stream).
inline void echo(End& end, std::size_t n) {
  std::vector<std::byte> buf(n);
  for (;;) {
    end.recv(buf.data(), n);
    end.send(buf.data(), n);
    if (buf[0] == kStop) return;
  }
}

inline void sink(End& end, std::size_t n) {
  std::vector<std::byte> buf(n);
  for (;;) {
    end.recv(buf.data(), n);
    if (buf[0] == kStop) {
      end.send(buf.data(), n);
      return;
    }
  }
}

enum class Peer { thread, process };

struct Link {
  std::unique_ptr<End> near;
  std::unique_ptr<End> far;
  Peer peer = Peer::thread;
  std::function<void()> after_fork;  // run in the parent after the fork (e.g. drop names)
};

// Runs `body(far)` on the peer; returns a joiner.
class PeerRunner {
 public:
  PeerRunner(Link& link, std::function<void(End&)> body) : peer_(link.peer) {
    if (peer_ == Peer::thread) {
      thread_ = std::thread([&link, body] {
        pin_to_cpu(1);
        body(*link.far);
      });
    } else {
      pid_ = fork_process([&link, body] {
        pin_to_cpu(1);
        body(*link.far);
      });
      if (link.after_fork) link.after_fork();
    }
  }
  void join() {
    if (peer_ == Peer::thread) {
      if (thread_.joinable()) thread_.join();
    } else if (pid_ > 0) {
      reap(pid_);
      pid_ = -1;
    }
  }
  ~PeerRunner() { join(); }

 private:
  Peer peer_;
  std::thread thread_;
  pid_t pid_ = -1;
};

// --- shmring -------------------------------------------------------------------

class ShmringEnd : public End {
 public:
  explicit ShmringEnd(Endpoint ep) : ep_(std::move(ep)) {}
  void send(const std::byte* data, std::size_t n) override {
    if (ep_.send({data, n}) != Status::ok) throw std::runtime_error("shmring send: " + ep_.reason());
  }
  void recv(std::byte* data, std::size_t n) override {
    std::span<const std::byte> view;
    if (ep_.peek(view) != Status::ok || view.size() != n) throw std::runtime_error("shmring recv: " + ep_.reason());
    std::memcpy(data, view.data(), n);
    ep_.release();
  }

 private:
  Endpoint ep_;
};

inline ChannelOptions shmring_options(bool spin) {
  ChannelOptions o;
  o.spin_budget = spin ? std::chrono::nanoseconds(std::chrono::seconds(3600)) : std::chrono::nanoseconds(0);
  return o;
}

inline Link shmring_pair(bool spin) {
  auto [a, b] = make_pair(shmring_options(spin));
  return Link{std::make_unique<ShmringEnd>(std::move(a)), std::make_unique<ShmringEnd>(std::move(b)), Peer::thread, {}};
}

// Across processes through a real listener: the child connects after fork.
class ShmringConnectingEnd : public End {
 public:
  ShmringConnectingEnd(std::string path, bool spin) : path_(std::move(path)), spin_(spin) {}
  void send(const std::byte* data, std::size_t n) override { connected().send(data, n); }
  void recv(std::byte* data, std::size_t n) override { connected().recv(data, n); }

 private:
  ShmringEnd& connected() {
    if (!end_) end_ = std::make_unique<ShmringEnd>(connect(path_, shmring_options(spin_)));
    return *end_;
  }
  std::string path_;
  bool spin_;
  std::unique_ptr<ShmringEnd> end_;
};

class ShmringAcceptingEnd : public End {
 public:
  ShmringAcceptingEnd(std::string path, bool spin)
      : listener_(std::make_unique<Listener>(std::move(path), shmring_options(spin))) {}
  void send(const std::byte* data, std::size_t n) override { accepted().send(data, n); }
  void recv(std::byte* data, std::size_t n) override { accepted().recv(data, n); }

 private:
  ShmringEnd& accepted() {
    if (!end_) end_ = std::make_unique<ShmringEnd>(listener_->accept());
    return *end_;
  }
  std::unique_ptr<Listener> listener_;
  std::unique_ptr<ShmringEnd> end_;
};

inline Link shmring_processes(bool spin) {
  static int counter = 0;
  const std::string path = default_socket_dir() + "/bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  return Link{std::make_unique<ShmringAcceptingEnd>(path, spin), std::make_unique<ShmringConnectingEnd>(path, spin),
              Peer::process, {}};
}

// --- file descriptors: socketpair, pipes, TCP loopback ----------------------------

class FdEnd : public End {
 public:
  FdEnd(int in, int out, bool spin) : in_(in), out_(out), spin_(spin) {
    if (spin_) {
      ::fcntl(in_, F_SETFL, ::fcntl(in_, F_GETFL) | O_NONBLOCK);
      ::fcntl(out_, F_SETFL, ::fcntl(out_, F_GETFL) | O_NONBLOCK);
    }
  }
  ~FdEnd() override {
    ::close(in_);
    if (out_ != in_) ::close(out_);
  }
  void send(const std::byte* data, std::size_t n) override {
    transfer(n, [&](std::size_t done, std::size_t left) { return ::write(out_, data + done, left); });
  }
  void recv(std::byte* data, std::size_t n) override {
    transfer(n, [&](std::size_t done, std::size_t left) { return ::read(in_, data + done, left); });
  }

 private:
  // Moves n bytes with `io` (read or write), spinning on EAGAIN in spin mode.
  template <class Io>
  static void transfer(std::size_t n, Io io) {
    std::size_t done = 0;
    while (done < n) {
      const auto r = io(done, n - done);
      if (r > 0) {
        done += static_cast<std::size_t>(r);
      } else if (r < 0 && errno == EAGAIN) {
        cpu_pause();
      } else if (!(r < 0 && errno == EINTR)) {
        throw std::runtime_error("fd transfer failed");
      }
    }
  }

  int in_;
  int out_;
  bool spin_;
};

inline Link socketpair_link(bool spin) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) throw std::runtime_error("socketpair");
  return Link{std::make_unique<FdEnd>(fds[0], fds[0], spin), std::make_unique<FdEnd>(fds[1], fds[1], spin), Peer::process, {}};
}

inline Link pipe_link(bool spin) {
  int ab[2], ba[2];
  if (::pipe(ab) != 0 || ::pipe(ba) != 0) throw std::runtime_error("pipe");
  // Big pipes, so 1 MiB messages do not cost extra wake-ups (best case for pipes).
  ::fcntl(ab[1], F_SETPIPE_SZ, 1 << 20);
  ::fcntl(ba[1], F_SETPIPE_SZ, 1 << 20);
  auto near = std::make_unique<FdEnd>(ba[0], ab[1], spin);
  auto far = std::make_unique<FdEnd>(ab[0], ba[1], spin);
  return Link{std::move(near), std::move(far), Peer::process, {}};
}

inline Link tcp_link(bool spin) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("tcp listen");
  }
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  if (::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("tcp connect");
  const int server = ::accept(listener, nullptr, nullptr);
  ::close(listener);
  const int one = 1;
  ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return Link{std::make_unique<FdEnd>(client, client, spin), std::make_unique<FdEnd>(server, server, spin), Peer::process, {}};
}

// --- eventfd: the wake-up alone (no payload) ---------------------------------------

class EventfdEnd : public End {
 public:
  EventfdEnd(int in, int out, bool spin) : in_(in), out_(out), spin_(spin) {}
  void send(const std::byte* data, std::size_t) override {
    // The stop marker travels as the counter value 2.
    const std::uint64_t v = data[0] == kStop ? 2 : 1;
    if (::write(out_, &v, sizeof v) != sizeof v) throw std::runtime_error("eventfd write");
  }
  void recv(std::byte* data, std::size_t) override {
    std::uint64_t v = 0;
    for (;;) {
      if (::read(in_, &v, sizeof v) == sizeof v) break;
      if (errno == EAGAIN && spin_) {
        cpu_pause();
        continue;
      }
      if (errno != EINTR) throw std::runtime_error("eventfd read");
    }
    data[0] = v >= 2 ? kStop : kData;
  }

 private:
  int in_;
  int out_;
  bool spin_;
};

inline Link eventfd_link(bool spin) {
  const int flags = EFD_CLOEXEC | (spin ? EFD_NONBLOCK : 0);
  const int ab = ::eventfd(0, flags);
  const int ba = ::eventfd(0, flags);
  return Link{std::make_unique<EventfdEnd>(ba, ab, spin), std::make_unique<EventfdEnd>(ab, ba, spin), Peer::process, {}};
}

// --- Boost.Interprocess message_queue across processes ------------------------------

namespace bip = boost::interprocess;

class BoostMqEnd : public End {
 public:
  BoostMqEnd(std::shared_ptr<bip::message_queue> in, std::shared_ptr<bip::message_queue> out, bool spin)
      : in_(std::move(in)), out_(std::move(out)), spin_(spin) {}
  void send(const std::byte* data, std::size_t n) override {
    if (spin_) {
      while (!out_->try_send(data, n, 0)) cpu_pause();
    } else {
      out_->send(data, n, 0);
    }
  }
  void recv(std::byte* data, std::size_t n) override {
    bip::message_queue::size_type got = 0;
    unsigned priority = 0;
    if (spin_) {
      while (!in_->try_receive(data, n, got, priority)) cpu_pause();
    } else {
      in_->receive(data, n, got, priority);
    }
  }

 private:
  std::shared_ptr<bip::message_queue> in_;
  std::shared_ptr<bip::message_queue> out_;
  bool spin_;
};

inline Link boost_mq_link(bool spin, std::size_t n) {
  static int counter = 0;
  const std::string base = "shmring-bench-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  const std::string ab_name = base + "-ab";
  const std::string ba_name = base + "-ba";
  // Queue depth: enough to stream, bounded so big messages stay within memory.
  const std::size_t depth = std::clamp<std::size_t>((8u << 20) / std::max<std::size_t>(n, 1), 2, 256);
  auto ab = std::make_shared<bip::message_queue>(bip::create_only, ab_name.c_str(), depth, n);
  auto ba = std::make_shared<bip::message_queue>(bip::create_only, ba_name.c_str(), depth, n);
  Link link{std::make_unique<BoostMqEnd>(ba, ab, spin), std::make_unique<BoostMqEnd>(ab, ba, spin), Peer::process, {}};
  // Both processes have the queues mapped after the fork: drop the names so
  // nothing is left in /dev/shm.
  link.after_fork = [ab_name, ba_name] {
    bip::message_queue::remove(ab_name.c_str());
    bip::message_queue::remove(ba_name.c_str());
  };
  return link;
}

// --- moodycamel queues between threads ------------------------------------------------

// Messages are std::vector<std::byte>, made by the sender and moved through
// the queue: what an in-process mailbox does.
template <class Queue>
class QueueEnd : public End {
 public:
  QueueEnd(std::shared_ptr<Queue> in, std::shared_ptr<Queue> out, bool spin)
      : in_(std::move(in)), out_(std::move(out)), spin_(spin) {}
  void send(const std::byte* data, std::size_t n) override {
    out_->enqueue(std::vector<std::byte>(data, data + n));  // unbounded: fails only without memory
  }
  void recv(std::byte* data, std::size_t n) override {
    std::vector<std::byte> m;
    if constexpr (requires { in_->wait_dequeue(m); }) {
      if (spin_) {
        while (!in_->try_dequeue(m)) cpu_pause();
      } else {
        in_->wait_dequeue(m);
      }
    } else {
      while (!in_->try_dequeue(m)) cpu_pause();
    }
    std::memcpy(data, m.data(), std::min(n, m.size()));
  }

 private:
  std::shared_ptr<Queue> in_;
  std::shared_ptr<Queue> out_;
  bool spin_;
};

template <class Queue>
Link queue_link(bool spin) {
  auto ab = std::make_shared<Queue>(1024);
  auto ba = std::make_shared<Queue>(1024);
  return Link{std::make_unique<QueueEnd<Queue>>(ba, ab, spin), std::make_unique<QueueEnd<Queue>>(ab, ba, spin), Peer::thread, {}};
}

using RwQueue = moodycamel::ReaderWriterQueue<std::vector<std::byte>>;
using BlockingQueue = moodycamel::BlockingConcurrentQueue<std::vector<std::byte>>;

}  // namespace shmring::bench

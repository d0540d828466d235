// Listener, connect and PendingConnection: the Unix-socket handshake that
// hands a channel's segment and eventfds to another process.
#include "shmring/listener.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>

#include "channel.hpp"
#include "endpoint_core.hpp"
#include "handshake.hpp"
#include "platform.hpp"
#include "shmring/error.hpp"
#include "shmring/waiting.hpp"

namespace shmring {

using detail::UniqueFd;
using std::chrono::nanoseconds;

namespace {

std::string parent_directory(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void send_reply(int fd, bool accepted, const std::string& text) {
  detail::Reply reply;
  reply.accepted = accepted ? 1 : 0;
  const std::size_t n = std::min(text.size(), sizeof reply.text - 1);
  std::memcpy(reply.text, text.data(), n);
  reply.text_length = static_cast<std::uint32_t>(n);
  try {
    detail::send_with_fds(fd, std::as_bytes(std::span(&reply, 1)), {});
  } catch (const Error&) {
    // The peer left already; nothing to tell it.
  }
}

// Wraps one side of a freshly handshaken channel as an Endpoint.
Endpoint make_endpoint(std::shared_ptr<detail::ChannelResources> channel, int side, const ChannelOptions& options,
                       UniqueFd lifeline, std::int32_t peer_pid) {
  return Endpoint(std::make_unique<detail::EndpointCore>(std::move(channel), side, options, std::move(lifeline), peer_pid));
}

}  // namespace

std::string default_socket_dir() {
  std::string dir;
  if (const char* runtime = std::getenv("XDG_RUNTIME_DIR"); runtime != nullptr && *runtime == '/') {
    detail::ensure_private_directory(runtime);
    dir = std::string(runtime) + "/shmring";
  } else {
    dir = "/tmp/shmring-" + std::to_string(detail::current_uid());
  }
  detail::ensure_private_directory(dir);
  return dir;
}

// --- Listener ------------------------------------------------------------------

class Listener::Impl {
 public:
  Impl(std::string path, ChannelOptions options, nanoseconds handshake_timeout)
      // A handshake is always bounded: a negative timeout expires at once.
      : path_(std::move(path)), options_(options), handshake_timeout_(std::max(handshake_timeout, nanoseconds{0})) {
    if (path_.empty()) throw Error(EINVAL, "listen: the socket path is empty");
    validate(options_);
    detail::ensure_private_directory(parent_directory(path_));
    replace_stale_socket();
    socket_ = detail::listen_unix(path_);
    identity_ = detail::file_identity(path_);
    // Nobody harvests this set's events (it is only waited on as a whole,
    // by accept_for or an event loop): the keys are there for the reader.
    wait_set_.add(socket_.get(), kListeningKey);
    wait_set_.add(closed_wake_.fd(), kClosedKey);
  }

  ~Impl() { close(); }

  // Any thread, any time. The wait set and the closed wake-up stay open until
  // the destructor, so a thread blocked on fileno() (here in accept_for, or
  // an event loop) is woken, never left polling a closed or reused fd.
  void close() {
    std::lock_guard lock(state_mutex_);
    if (closed_) return;
    closed_ = true;
    socket_.reset();
    pending_.clear();
    // Remove the path only if it is still ours (nobody replaced it since).
    if (detail::file_identity(path_) == identity_) detail::remove_file(path_);
    closed_wake_.ring();  // never drained: fileno() stays readable
  }

  bool closed() const {
    std::lock_guard lock(state_mutex_);
    return closed_;
  }

  std::optional<Endpoint> try_accept() {
    std::lock_guard lock(state_mutex_);
    if (closed_) throw Error(EBADF, "listener at '" + path_ + "' is closed");
    take_new_connections();
    const auto now = Deadline::Clock::now();
    for (auto it = pending_.begin(); it != pending_.end();) {
      std::optional<Endpoint> endpoint;
      bool done = false;
      try {
        done = advance(*it, now, endpoint);
      } catch (const Error& e) {
        refuse(it->socket.get(), e.what());
        done = true;
      }
      if (done) {
        wait_set_.remove(it->socket.get());
        it = pending_.erase(it);  // a handed-over socket was moved out before this
      } else {
        ++it;
      }
      if (endpoint) return endpoint;
    }
    return std::nullopt;
  }

  std::optional<Endpoint> accept_for(nanoseconds timeout) {
    const Deadline deadline = Deadline::after(timeout);
    for (;;) {
      if (auto e = try_accept()) return e;
      if (deadline.passed()) return std::nullopt;
      // Wake at the earliest handshake deadline too, to drop stalled peers.
      wait_readable(wait_set_.fd(), std::min(deadline, earliest_handshake_deadline()));
    }
  }

  int fileno() const { return wait_set_.fd(); }
  // -1 ns (never) while no handshake is pending, as the header promises.
  nanoseconds next_expiry() const { return earliest_handshake_deadline().remaining(); }
  const std::string& path() const { return path_; }
  std::size_t refused_count() const {
    std::lock_guard lock(mutex_);
    return refused_;
  }
  std::string last_refusal() const {
    std::lock_guard lock(mutex_);
    return last_refusal_;
  }

 private:
  struct Pending {
    UniqueFd socket;
    detail::PeerCredentials peer;
    Deadline deadline;  // of its handshake
  };

  void replace_stale_socket() {
    if (!detail::is_socket_file(path_)) {
      if (detail::file_identity(path_).second != 0) {
        throw Error(EEXIST, "listen at '" + path_ + "': the path exists and is not a socket");
      }
      return;
    }
    try {
      UniqueFd probe = detail::connect_unix(path_);
    } catch (const Error& e) {
      if (e.code().value() == ECONNREFUSED) {
        detail::remove_file(path_);  // left behind by a listener that died
        return;
      }
      throw;
    }
    throw Error(EADDRINUSE, "listen at '" + path_ + "': another listener is active there");
  }

  void take_new_connections() {
    while (UniqueFd fd = detail::accept_unix(socket_.get())) {
      const auto peer = detail::peer_credentials(fd.get());
      const uid_t own = detail::current_uid();
      if (peer.uid != own) {
        refuse(fd.get(), "uid " + std::to_string(peer.uid) + " (pid " + std::to_string(peer.pid) +
                             ") may not connect: the listener at '" + path_ + "' accepts only its own uid " +
                             std::to_string(own));
        continue;
      }
      wait_set_.add(fd.get(), kHandshakeKey);
      pending_.push_back(Pending{std::move(fd), peer, Deadline::after(handshake_timeout_)});
    }
  }

  // Returns true when this pending connection is finished (handed over or dropped).
  bool advance(Pending& p, Deadline::Clock::time_point now, std::optional<Endpoint>& out) {
    detail::Hello hello;
    auto got = detail::receive_with_fds(p.socket.get(), std::as_writable_bytes(std::span(&hello, 1)), detail::kHelloFds);
    if (got.would_block) {
      if (!p.deadline.passed(now)) return false;
      throw Error(ETIMEDOUT, "peer pid " + std::to_string(p.peer.pid) + " did not complete the handshake in time");
    }
    if (got.bytes == 0) return true;  // the peer gave up; nothing to refuse
    if (got.bytes != sizeof hello || hello.magic != detail::kHandshakeMagic || hello.kind != detail::kHello) {
      throw Error(EPROTO, "peer pid " + std::to_string(p.peer.pid) + " sent something that is not a shmring hello");
    }
    if (hello.version != detail::kHandshakeVersion) {
      throw Error(EPROTO, "peer speaks handshake version " + std::to_string(hello.version) + ", this listener " +
                              std::to_string(detail::kHandshakeVersion));
    }
    if (got.fds.size() != detail::kHelloFds) {
      throw Error(EPROTO, "hello carried " + std::to_string(got.fds.size()) + " descriptors, expected " +
                              std::to_string(detail::kHelloFds));
    }
    UniqueFd wake[2][2] = {{std::move(got.fds[1]), std::move(got.fds[2])}, {std::move(got.fds[3]), std::move(got.fds[4])}};
    auto channel = detail::attach_channel(std::move(got.fds[0]), wake);
    channel->control()->pid[1] = detail::current_pid();
    send_reply(p.socket.get(), true, "");
    wait_set_.remove(p.socket.get());
    out = make_endpoint(std::move(channel), 1, options_, std::move(p.socket), p.peer.pid);
    return true;
  }

  void refuse(int fd, const std::string& why) {
    send_reply(fd, false, why);
    std::lock_guard lock(mutex_);
    ++refused_;
    last_refusal_ = why;
  }

  Deadline earliest_handshake_deadline() const {
    std::lock_guard lock(state_mutex_);
    Deadline earliest = Deadline::never();
    for (const auto& p : pending_) earliest = std::min(earliest, p.deadline);
    return earliest;
  }

  // wait_set_'s keys (see the constructor).
  static constexpr std::uint64_t kListeningKey = 0, kClosedKey = 1, kHandshakeKey = 2;

  std::string path_;
  ChannelOptions options_;
  nanoseconds handshake_timeout_;
  // Guards socket_, pending_ and closed_: close() may come from another thread.
  mutable std::mutex state_mutex_;
  bool closed_ = false;
  UniqueFd socket_;
  WakeCounter closed_wake_{"a listener's close"};  // rung once by close(): wakes whoever waits on wait_set_
  WaitSet wait_set_{"a listener"};  // the listening socket, closed_wake_ and the pending handshakes
  std::pair<std::uint64_t, std::uint64_t> identity_;
  std::list<Pending> pending_;
  mutable std::mutex mutex_;
  std::size_t refused_ = 0;
  std::string last_refusal_;
};

Listener::Listener(std::string path, ChannelOptions options, nanoseconds handshake_timeout)
    : impl_(std::make_unique<Impl>(std::move(path), options, handshake_timeout)) {}
Listener::Listener(Listener&&) noexcept = default;
Listener& Listener::operator=(Listener&&) noexcept = default;
Listener::~Listener() = default;

Endpoint Listener::accept() { return *impl_->accept_for(nanoseconds{-1}); }
std::optional<Endpoint> Listener::accept_for(nanoseconds timeout) {
  return impl_->accept_for(std::max(timeout, nanoseconds{0}));
}
std::optional<Endpoint> Listener::try_accept() { return impl_->try_accept(); }
int Listener::fileno() const { return impl_->fileno(); }
nanoseconds Listener::next_expiry() const { return impl_->next_expiry(); }
const std::string& Listener::path() const { return impl_->path(); }
std::size_t Listener::refused_count() const { return impl_->refused_count(); }
std::string Listener::last_refusal() const { return impl_->last_refusal(); }
void Listener::close() { impl_->close(); }
bool Listener::closed() const { return impl_->closed(); }

// --- connecting ---------------------------------------------------------------

class PendingConnection::Impl {
 public:
  Impl(const std::string& path, const ChannelOptions& options) : path_(path), options_(options) {
    validate(options_);
    socket_ = detail::connect_unix(path_);
    const auto peer = detail::peer_credentials(socket_.get());
    if (peer.uid != detail::current_uid()) {
      throw Error(EACCES, "connect to '" + path_ + "': the listener runs as uid " + std::to_string(peer.uid) +
                              ", not as this process's uid " + std::to_string(detail::current_uid()));
    }
    peer_pid_ = peer.pid;
    channel_ = detail::create_channel(options_);
    const int fds[detail::kHelloFds] = {channel_->memory.get(), channel_->wake[0][0].get(), channel_->wake[0][1].get(),
                                        channel_->wake[1][0].get(), channel_->wake[1][1].get()};
    const detail::Hello hello;
    detail::send_with_fds(socket_.get(), std::as_bytes(std::span(&hello, 1)), fds);
    channel_->memory.reset();  // the listener has its own reference now
  }

  int fileno() const { return socket_.get(); }

  std::optional<Endpoint> try_finish() {
    if (!socket_) throw Error(EALREADY, "connect to '" + path_ + "' already finished");
    detail::Reply reply;
    auto got = detail::receive_with_fds(socket_.get(), std::as_writable_bytes(std::span(&reply, 1)), 0);
    if (got.would_block) return std::nullopt;
    if (got.bytes == 0) {
      throw Error(ECONNRESET, "connect to '" + path_ + "': the listener closed the connection during the handshake");
    }
    if (got.bytes != sizeof reply || reply.magic != detail::kHandshakeMagic || reply.kind != detail::kReply) {
      throw Error(EPROTO, "connect to '" + path_ + "': the listener's reply is not a shmring handshake reply");
    }
    if (reply.accepted != 1) {
      const std::size_t n = std::min<std::size_t>(reply.text_length, sizeof reply.text - 1);
      throw Error(ECONNREFUSED, "connect to '" + path_ + "': refused by the listener: " + std::string(reply.text, n));
    }
    return make_endpoint(std::move(channel_), 0, options_, std::move(socket_), peer_pid_);
  }

 private:
  std::string path_;
  ChannelOptions options_;
  UniqueFd socket_;
  std::int32_t peer_pid_ = 0;
  std::shared_ptr<detail::ChannelResources> channel_;
};

PendingConnection::PendingConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PendingConnection::PendingConnection(PendingConnection&&) noexcept = default;
PendingConnection& PendingConnection::operator=(PendingConnection&&) noexcept = default;
PendingConnection::~PendingConnection() = default;

PendingConnection PendingConnection::start(const std::string& path, const ChannelOptions& options) {
  if (path.empty()) throw Error(EINVAL, "connect: the socket path is empty");
  return PendingConnection(std::make_unique<Impl>(path, options));
}
int PendingConnection::fileno() const { return impl_->fileno(); }
std::optional<Endpoint> PendingConnection::try_finish() { return impl_->try_finish(); }

Endpoint connect(const std::string& path, const ChannelOptions& options, nanoseconds handshake_timeout) {
  auto pending = PendingConnection::start(path, options);
  // A handshake is always bounded: a negative timeout expires at once.
  const Deadline deadline = Deadline::after(std::max(handshake_timeout, nanoseconds{0}));
  for (;;) {
    if (auto endpoint = pending.try_finish()) return std::move(*endpoint);
    if (deadline.passed()) {
      throw Error(ETIMEDOUT, "connect to '" + path + "': the listener did not answer the handshake in time "
                             "(is it accepting?)");
    }
    wait_readable(pending.fileno(), deadline);
  }
}

}  // namespace shmring

// Cross-process rendezvous over a Unix socket. The connecting side creates the
// channel (with its options) and hands the segment and eventfds to the
// listener with SCM_RIGHTS. The listener accepts only peers of its own uid
// (SO_PEERCRED) and only in a private (0700) directory. The connection socket
// stays open as a lifeline: when a peer process dies, the kernel hangs it up
// and the other side's blocked calls return peer_died.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "shmring/endpoint.hpp"
#include "shmring/options.hpp"

namespace shmring {

inline constexpr std::chrono::seconds kDefaultHandshakeTimeout{5};

// A private directory for sockets: $XDG_RUNTIME_DIR/shmring, or
// /tmp/shmring-<uid>; created 0700 if missing.
std::string default_socket_dir();

class Listener {
 public:
  // Listens at `path`. Its directory is created 0700 if missing and must not
  // be accessible to other users. A stale socket left by a dead listener is
  // replaced; a live one is an error. Throws shmring::Error.
  explicit Listener(std::string path, ChannelOptions options = {},
                    std::chrono::nanoseconds handshake_timeout = kDefaultHandshakeTimeout);
  Listener(Listener&&) noexcept;
  Listener& operator=(Listener&&) noexcept;
  ~Listener();  // stops listening and removes the socket path

  // Blocks until a peer completes the handshake.
  Endpoint accept();
  // Waits at most `timeout`; nullopt if no peer completed the handshake.
  std::optional<Endpoint> accept_for(std::chrono::nanoseconds timeout);
  // Never blocks: takes new connections and advances pending handshakes.
  std::optional<Endpoint> try_accept();

  // Readable when try_accept() may make progress. A peer that stalls in the
  // handshake makes nothing readable: call try_accept() again after
  // next_expiry() (negative while no handshake is pending) to drop it.
  int fileno() const;
  std::chrono::nanoseconds next_expiry() const;
  const std::string& path() const;
  // Peers refused (wrong uid, bad handshake, invalid segment) and why the last one was.
  std::size_t refused_count() const;
  std::string last_refusal() const;
  // Stops listening and removes the socket path; from any thread. A thread
  // blocked in accept() wakes and gets Error(EBADF); fileno() stays valid (and
  // readable) until the Listener is destroyed.
  void close();
  bool closed() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Connects to the listener at `path` and returns side 0 of a new channel made
// with `options`. Fails fast (shmring::Error with ENOENT or ECONNREFUSED) when
// nothing listens there, and with a sentence from the listener if it refuses.
Endpoint connect(const std::string& path, const ChannelOptions& options = {},
                 std::chrono::nanoseconds handshake_timeout = kDefaultHandshakeTimeout);

// connect() for event loops: start() connects and sends the channel; wait for
// fileno() to be readable and call try_finish() until it returns the endpoint.
class PendingConnection {
 public:
  static PendingConnection start(const std::string& path, const ChannelOptions& options = {});
  PendingConnection(PendingConnection&&) noexcept;
  PendingConnection& operator=(PendingConnection&&) noexcept;
  ~PendingConnection();

  int fileno() const;
  // nullopt while the listener has not answered; throws shmring::Error if it refused.
  std::optional<Endpoint> try_finish();

  class Impl;

 private:
  explicit PendingConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmring

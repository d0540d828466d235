// A duplex channel endpoint: two lock-free rings in shared memory (one per
// direction) plus a control block, and eventfds to sleep on.
//
// Contract: at most one thread sends and at most one thread receives on an
// endpoint at a time (they may be different threads). close(), send_eof(),
// abort(), state() and reason() may be called from any thread at any time.
//
// Which calls block:
//   send, recv, reserve, peek          wait as long as needed
//   send_for, recv_for, reserve_for,
//   peek_for                           wait at most `timeout` (then Status::timeout)
//   try_*                              never wait (Status::would_block)
// A blocking call spins for ChannelOptions::spin_budget, then parks on an
// eventfd until the peer wakes it, the state changes, or the peer dies.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "shmring/options.hpp"
#include "shmring/status.hpp"

namespace shmring {

namespace detail {
class EndpointCore;
struct ChannelResources;
}  // namespace detail

// Aborts a channel without owning either endpoint: a supervisor keeps one
// while the endpoint itself moves to a child (another thread, interpreter or
// process). Copyable; abort() may be called from any thread, any number of
// times; the first abort's reason wins, as with Endpoint::abort().
class AbortHandle {
 public:
  AbortHandle() = default;
  AbortHandle(std::shared_ptr<detail::ChannelResources> channel, int side);
  void abort(std::string_view reason) const;
  explicit operator bool() const { return channel_ != nullptr; }

 private:
  std::shared_ptr<detail::ChannelResources> channel_;
  int side_ = 0;
};

enum class EndpointState : std::uint8_t {
  open,         // both directions usable
  send_closed,  // this side called send_eof(): may still receive
  peer_closed,  // the peer closed its sending side: we may still send
  closed,       // this side called close()
  aborted,      // either side called abort(); reason() says why
  peer_died,    // the peer process went away without closing
  corrupt,      // invalid data found in shared memory; reason() says what
};
std::string_view to_string(EndpointState s);

class Endpoint {
 public:
  Endpoint();  // an empty endpoint; every call but the destructor is invalid
  explicit Endpoint(std::unique_ptr<detail::EndpointCore> core);
  Endpoint(Endpoint&&) noexcept;
  Endpoint& operator=(Endpoint&&) noexcept;
  ~Endpoint();  // close()s gracefully if still open

  explicit operator bool() const { return core_ != nullptr; }

  // --- sending -------------------------------------------------------------
  // Sends one message. Messages larger than max_frame_payload() are fragmented
  // and reassembled transparently. too_large if it exceeds max_message_bytes.
  // One contract for every send call: ok means the message is accepted;
  // timeout, interrupted and would_block mean none of it went out, so sending
  // it again is always right. A fragmented message that has begun is never
  // torn: if a try_/_for call runs out of room or time (or a signal ends the
  // wait) midway, the call returns ok with the rest queued in this endpoint
  // (has_pending_send()); the next send call, or flush_pending_for(), sends it
  // first. close() or send_eof() with a rest still queued abort the channel
  // (the peer must not take a torn message for a whole one): flush first.
  [[nodiscard]] Status send(std::span<const std::byte> message);
  [[nodiscard]] Status try_send(std::span<const std::byte> message);
  [[nodiscard]] Status send_for(std::span<const std::byte> message, std::chrono::nanoseconds timeout);

  // Sends several messages with one publication: the reader sees the batch
  // appear at once and finds finished cache lines (the fast way to stream
  // small messages), and a parked reader is woken once. `sent` counts the
  // messages that went out, in order. try_send_batch sends as many whole
  // messages as fit now: ok if at least one went out, else would_block.
  [[nodiscard]] Status send_batch(std::span<const std::span<const std::byte>> messages, std::size_t& sent);
  [[nodiscard]] Status try_send_batch(std::span<const std::span<const std::byte>> messages, std::size_t& sent);

  // Zero-copy sending: reserve room for a message of up to `bytes` (at most
  // max_frame_payload()), write it in place, then commit how much was written.
  // commit(n, false) defers the check for a parked reader: commit several
  // and flush() once (one locked instruction and at most one system call).
  [[nodiscard]] Status try_reserve(std::size_t bytes, std::span<std::byte>& out);
  [[nodiscard]] Status reserve(std::size_t bytes, std::span<std::byte>& out);
  [[nodiscard]] Status reserve_for(std::size_t bytes, std::span<std::byte>& out, std::chrono::nanoseconds timeout);
  void commit(std::size_t bytes, bool flush = true);
  void flush();

  // True while part of a fragmented message waits to be sent (see send).
  bool has_pending_send() const;
  // Sends what is pending without waiting: ok when nothing is left.
  [[nodiscard]] Status try_flush_pending();
  // The same, waiting at most `timeout` (negative: as long as it takes).
  [[nodiscard]] Status flush_pending_for(std::chrono::nanoseconds timeout);

  // --- receiving -----------------------------------------------------------
  // Receives one whole message into `out` (resized to fit).
  [[nodiscard]] Status recv(std::vector<std::byte>& out);
  [[nodiscard]] Status try_recv(std::vector<std::byte>& out);
  [[nodiscard]] Status recv_for(std::vector<std::byte>& out, std::chrono::nanoseconds timeout);

  // Zero-copy receiving: a view of the next whole message, valid until
  // release(). A message that fits one frame is viewed in shared memory;
  // a fragmented one is reassembled first (one copy). peek again without
  // release() returns the same message.
  [[nodiscard]] Status try_peek(std::span<const std::byte>& out);
  [[nodiscard]] Status peek(std::span<const std::byte>& out);
  [[nodiscard]] Status peek_for(std::span<const std::byte>& out, std::chrono::nanoseconds timeout);
  void release();

  // --- lifecycle -----------------------------------------------------------
  // Half-close: the peer reads everything sent before, then peer_closed (EOF).
  // This side may still receive. Sends afterwards return closed.
  void send_eof();
  // Graceful close of both directions: send_eof() plus "I read no more"
  // (the peer's sends return peer_closed). Local calls afterwards return closed.
  void close();
  // Aborts the channel for both sides: every blocked call on either side
  // returns aborted at once; data in flight is dropped. `reason` (truncated to
  // 239 bytes) is readable on both sides. The first abort's reason wins.
  void abort(std::string_view reason);

  // A handle that can abort this channel later, from anywhere.
  AbortHandle abort_handle() const;

  EndpointState state() const;
  // Why the endpoint is aborted or corrupt ("" otherwise).
  std::string reason() const;

  // --- event-loop integration ----------------------------------------------
  // fileno(): readable when anything may have changed (data, room, state, peer
  // death). recv_fd()/send_fd(): readable when a parked receive / send may
  // proceed; they are distinct so two tasks can wait on one endpoint.
  // The pattern: try_X(); if would_block: if (prepare_recv_wait()) wait for
  // recv_fd() readable; retry. prepare_* returns false when the wait would be
  // pointless (something is ready): retry at once.
  int fileno() const;
  int recv_fd() const;
  int send_fd() const;
  [[nodiscard]] bool prepare_recv_wait();
  [[nodiscard]] bool prepare_send_wait(std::size_t bytes);

  // Blocking calls normally sleep through signals. With this set, a signal
  // that interrupts a parked call makes it return Status::interrupted (a
  // started fragmented message is kept and completed later, as with timeout).
  // Language runtimes use it to run their signal handlers (Ctrl-C).
  void set_return_on_signal(bool on);

  // --- facts -----------------------------------------------------------------
  const ChannelOptions& options() const;
  std::size_t max_frame_payload() const;
  int side() const;           // 0 = the side that created the channel, 1 = the other
  std::int32_t peer_pid() const;  // as the kernel reported it (cross-process), or our pid

  detail::EndpointCore& core() { return *core_; }  // for the transport's own tests

 private:
  std::unique_ptr<detail::EndpointCore> core_;
};

// Two connected endpoints in this process (threads, sub-interpreters), no
// socket involved. Throws shmring::Error if the OS refuses memory or fds, or
// std::invalid_argument for bad options.
struct Pair {
  Endpoint a;
  Endpoint b;
};
Pair make_pair(const ChannelOptions& options = {});

// Throws std::invalid_argument with a sentence if the options are unusable.
void validate(const ChannelOptions& options);

}  // namespace shmring

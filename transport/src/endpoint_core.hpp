// The implementation behind shmring::Endpoint: one side of a channel, its two
// rings, its wake-ups and its local state.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "channel.hpp"
#include "ring.hpp"
#include "shmring/endpoint.hpp"

namespace shmring::detail {

// Cache-line aligned, with the sender's and the receiver's private state on
// lines of their own: the two endpoints of an in-process pair are neighbours
// on the heap, and one endpoint's sender and receiver may be two threads.
class alignas(kCacheLine) EndpointCore {
 public:
  // `lifeline`: a socket whose hang-up means the peer process is gone (empty
  // for in-process pairs). `peer_pid`: as the kernel reported it.
  EndpointCore(std::shared_ptr<ChannelResources> channel, int side, const ChannelOptions& options,
               UniqueFd lifeline, std::int32_t peer_pid);
  ~EndpointCore();
  EndpointCore(const EndpointCore&) = delete;
  EndpointCore& operator=(const EndpointCore&) = delete;

  // Sending.
  Status try_send(std::span<const std::byte> message);
  Status send_until(std::span<const std::byte> message, std::chrono::nanoseconds timeout);  // <0: forever
  Status send_batch(std::span<const std::span<const std::byte>> messages, std::size_t& sent, bool blocking);
  Status try_reserve(std::size_t bytes, std::span<std::byte>& out);
  Status reserve_until(std::size_t bytes, std::span<std::byte>& out, std::chrono::nanoseconds timeout);
  void commit(std::size_t bytes, bool flush);
  void flush();
  bool has_pending_send() const { return pending_flag_.load(std::memory_order_acquire); }
  Status try_flush_pending();
  Status flush_pending_until(std::chrono::nanoseconds timeout);

  // Receiving.
  Status try_recv(std::vector<std::byte>& out);
  Status recv_until(std::vector<std::byte>& out, std::chrono::nanoseconds timeout);
  Status try_peek(std::span<const std::byte>& out);
  Status peek_until(std::span<const std::byte>& out, std::chrono::nanoseconds timeout);
  void release();

  // Lifecycle.
  void send_eof();
  void close();
  void abort(std::string_view reason);
  AbortHandle abort_handle() const { return AbortHandle(channel_, side_); }
  EndpointState state() const;
  std::string reason() const;

  // Event loops.
  int fileno() const;
  int recv_fd() const;
  int send_fd() const;
  bool prepare_recv_wait();
  bool prepare_send_wait(std::size_t bytes);

  void set_return_on_signal(bool on) { return_on_signal_.store(on, std::memory_order_relaxed); }
  const ChannelOptions& options() const { return options_; }
  std::size_t max_frame_payload() const { return max_frame_payload_; }
  int side() const { return side_; }
  std::int32_t peer_pid() const { return peer_pid_; }

  // For the transport's own tests: the raw shared memory.
  ControlBlock* control_for_tests() const { return control_; }
  std::byte* ring_for_tests(int ring) const { return channel_->ring_data(ring); }

 private:
  // Bits of local_ (this endpoint only, not shared).
  static constexpr std::uint32_t kLocalSendClosed = 1u << 0;
  static constexpr std::uint32_t kLocalClosed = 1u << 1;
  static constexpr std::uint32_t kLocalCorrupt = 1u << 2;
  static constexpr std::uint32_t kLocalPeerDead = 1u << 3;

  // A message being sent, possibly in several fragments. While a call runs it
  // points into the caller's buffer; if the call returns before the message is
  // complete the rest is copied into `owned`.
  struct Outgoing {
    const std::byte* data = nullptr;
    std::uint64_t size = 0;
    std::uint64_t sent = 0;      // payload bytes already in the ring
    bool started = false;        // first fragment written: must be completed
    std::vector<std::byte> owned;
  };

  enum class Peeked : std::uint8_t { none, frame, assembled };

  Status send_gate();
  Status recv_gate();
  bool state_is_forged(std::uint64_t s) const;
  std::string forged_state_reason(std::uint64_t s) const;
  std::uint64_t checked_state(Status& st);
  Status write_some(Outgoing& out);           // ok when complete, would_block when not
  void keep_rest(Outgoing& out);              // copy the unsent rest into out.owned
  Status next_message(std::span<const std::byte>& view);
  Status empty_status(bool& retry);
  void consume_frame();                       // release the frame under peek + wake writer
  void publish_and_wake();  // publish a withheld batch, then ring a parked reader
  void wake_writer_if_parked();
  Status corrupt(const std::string& what);
  void set_shared_state(std::uint64_t bits);

  // The blocking skeleton shared by send/recv/reserve/peek: spin on `attempt`
  // for the spin budget, then park until woken, the deadline, or a final state.
  template <class Attempt, class Room>
  Status block_on(Attempt attempt, bool receiving, Room room, std::chrono::nanoseconds timeout);
  std::uint64_t next_payload(const Outgoing& out) const;
  bool peer_may_read() const;
  Status abort_if_torn(Status st, const Outgoing& out);
  bool park_recv(bool drain);              // announce + re-check; true = sleep
  bool park_send(std::uint64_t room, bool drain);
  void note_lifeline(bool hung_up);

  std::shared_ptr<ChannelResources> channel_;
  ControlBlock* control_;
  int side_;
  int peer_;
  ChannelOptions options_;
  std::uint64_t max_frame_payload_;
  std::uint64_t max_message_;
  alignas(kCacheLine) RingWriter tx_;
  alignas(kCacheLine) RingReader rx_;
  UniqueFd lifeline_;
  UniqueFd recv_wait_set_;  // only with a lifeline: {our recv wake, lifeline}
  UniqueFd send_wait_set_;
  // The blocking calls' edge-triggered sets (make_edge_wait_set), made on a
  // direction's first park: the receiver's and the sender's thread's own.
  UniqueFd recv_edge_set_;
  UniqueFd send_edge_set_;
  mutable std::once_flag any_wait_once_;
  mutable UniqueFd any_wait_set_;
  std::int32_t peer_pid_;

  // Any thread may close/abort while the sender and receiver threads run:
  // acq_rel RMW on set, acquire on read, so a reader of a bit also sees the
  // reason text written before it was set.
  std::atomic<std::uint32_t> local_{0};
  // A setting, read when a call parks; relaxed: it orders nothing else.
  std::atomic<bool> return_on_signal_{false};
  mutable std::mutex reason_mutex_;
  std::string corrupt_reason_;

  // Sender thread only.
  alignas(kCacheLine) Outgoing pending_;
  // Mirrors pending_.started for close()/send_eof() on other threads, which
  // must abort rather than let the peer see a truncated message as complete.
  // Release/acquire: only the flag itself is read across threads.
  std::atomic<bool> pending_flag_{false};
  bool unflushed_ = false;
  bool reserved_ = false;
  std::uint64_t reserved_bytes_ = 0;
  bool send_wait_unanswered_ = false;  // prepare_send_wait parked and nothing was written since
  std::uint64_t published_tail_ = 0;   // the ring position up to which frames are published
  // Set by the receiver when a message arrives, cleared by the sender when it
  // publishes: a publication that follows a receive is a reply, which the
  // peer most likely spins on, so its lines are demoted (RingWriter::
  // demote_since). A hint only, and the two halves may be two threads: relaxed.
  std::atomic<bool> replying_{false};

  // Receiver thread only.
  alignas(kCacheLine) std::vector<std::byte> assembly_;
  std::uint64_t assembly_total_ = 0;
  bool assembling_ = false;
  Peeked peeked_ = Peeked::none;
  FrameView frame_{};
  bool recv_wait_unanswered_ = false;  // prepare_recv_wait parked and no message came since
};

}  // namespace shmring::detail

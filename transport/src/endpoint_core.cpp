#include "endpoint_core.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace shmring::detail {
namespace {

using std::chrono::nanoseconds;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kAssemblyInitialReserve = std::uint64_t{16} << 20;
constexpr unsigned kSpinsBeforeClock = 64;  // spin rounds before the first clock read
constexpr unsigned kSpinsPerClock = 64;     // then one clock read per this many rounds
constexpr unsigned kSpinsPerCheck = 16;     // full attempt (state changes) at least this often

const char* ring_name(int writer_side) { return writer_side == 0 ? "ring A->B" : "ring B->A"; }

}  // namespace

EndpointCore::EndpointCore(std::shared_ptr<ChannelResources> channel, int side, const ChannelOptions& options,
                           UniqueFd lifeline, std::int32_t peer_pid)
    : channel_(std::move(channel)),
      control_(channel_->control()),
      side_(side),
      peer_(1 - side),
      options_(options),
      max_frame_payload_(max_frame_payload_for(channel_->ring_bytes)),
      max_message_(channel_->max_message_bytes),
      lifeline_(std::move(lifeline)),
      peer_pid_(peer_pid) {
  options_.ring_bytes = channel_->ring_bytes;
  options_.max_message_bytes = channel_->max_message_bytes;
  tx_ = RingWriter(RingView{channel_->ring_data(side_), channel_->ring_bytes, &control_->ring[side_],
                            max_frame_payload_, ring_name(side_)});
  rx_ = RingReader(RingView{channel_->ring_data(peer_), channel_->ring_bytes, &control_->ring[peer_],
                            max_frame_payload_, ring_name(peer_)});
  if (lifeline_) {
    const int recv_wake = channel_->wake[side_][kRecvWake].get();
    const int send_wake = channel_->wake[side_][kSendWake].get();
    recv_wait_set_ = make_wait_set(std::span<const int>(&recv_wake, 1), lifeline_.get());
    send_wait_set_ = make_wait_set(std::span<const int>(&send_wake, 1), lifeline_.get());
  }
}

EndpointCore::~EndpointCore() {
  if ((local_.load(std::memory_order_acquire) & kLocalClosed) == 0) close();
}

// --- gates: may this side send / receive at all? -------------------------------

// Whether the shared state word cannot be true: a word no transition
// produces (state::is_impossible), or our own side's bits set although this
// endpoint never closed (the bits are stored after local_, so local_ covers
// them). Cheap: the sentence is only built by forged_state_reason().
bool EndpointCore::state_is_forged(std::uint64_t s) const {
  if (state::is_impossible(s)) return true;
  const std::uint32_t local = local_.load(std::memory_order_acquire);
  return ((s & state::side_bits(side_, state::kSendClosed)) && !(local & kLocalSendClosed)) ||
         ((s & state::side_bits(side_, state::kRecvClosed)) && !(local & kLocalClosed));
}

std::string EndpointCore::forged_state_reason(std::uint64_t s) const {
  char word[20];
  std::snprintf(word, sizeof word, "%016llx", static_cast<unsigned long long>(s));
  if (state::is_impossible(s)) return std::string("state word 0x") + word + " is not one the protocol can produce";
  const bool sending = (local_.load(std::memory_order_acquire) & kLocalSendClosed) == 0 &&
                       (s & state::side_bits(side_, state::kSendClosed));
  return std::string("state word 0x") + word + " says this side stopped " + (sending ? "sending" : "receiving") +
         ", which it did not";
}

// The state word, checked: a forged one makes the channel corrupt. Only a
// word with bits set costs more than the load.
std::uint64_t EndpointCore::checked_state(Status& st) {
  // Acquire pairs with set_shared_state's release: a reader of kAborted sees the reason.
  const std::uint64_t s = control_->state.load(std::memory_order_acquire);
  st = Status::ok;
  if (s != 0 && (s & state::kAborted) == 0 && state_is_forged(s)) st = corrupt(forged_state_reason(s));
  return s;
}

Status EndpointCore::send_gate() {
  const std::uint32_t local = local_.load(std::memory_order_acquire);
  if (local & kLocalCorrupt) return Status::corrupt;
  if (local & (kLocalClosed | kLocalSendClosed)) return Status::closed;
  Status forged;
  const std::uint64_t s = checked_state(forged);
  if (forged != Status::ok) return forged;
  if (s & state::kAborted) return Status::aborted;
  if (s & state::side_bits(peer_, state::kRecvClosed)) return Status::peer_closed;
  if (local & kLocalPeerDead) return Status::peer_died;
  return Status::ok;
}

Status EndpointCore::recv_gate() {
  const std::uint32_t local = local_.load(std::memory_order_acquire);
  if (local & kLocalCorrupt) return Status::corrupt;
  if (local & kLocalClosed) return Status::closed;
  Status forged;
  const std::uint64_t s = checked_state(forged);
  if (forged != Status::ok) return forged;
  if (s & state::kAborted) return Status::aborted;
  return Status::ok;
}

// --- sending ---------------------------------------------------------------------

std::uint64_t EndpointCore::next_payload(const Outgoing& out) const {
  if (!out.started) return std::min(out.size, max_frame_payload_);
  return std::min(out.size - out.sent, max_frame_payload_);
}

Status EndpointCore::write_some(Outgoing& out) {
  bool wrote = false;
  for (;;) {
    const std::uint64_t remaining = out.size - out.sent;
    std::uint64_t payload;
    std::uint64_t flags;
    if (!out.started && out.size <= max_frame_payload_) {
      payload = out.size;
      flags = frame::kFirst | frame::kLast;
    } else if (!out.started) {
      payload = max_frame_payload_;  // length prefix + the first chunk
      flags = frame::kFirst;
    } else {
      payload = std::min(remaining, max_frame_payload_);
      flags = remaining <= max_frame_payload_ ? frame::kLast : 0;
    }
    std::byte* dst = tx_.try_reserve(payload);
    if (dst == nullptr) {
      if (tx_.faulted()) return corrupt(tx_.fault());
      // Unflushed commits count too: a parked reader must see them to make room.
      if (wrote || unflushed_) {
        unflushed_ = false;
        publish_and_wake();
      }
      return Status::would_block;
    }
    if (!out.started && (flags & frame::kLast) == 0) {
      const std::uint64_t total = out.size;
      std::memcpy(dst, &total, kFragmentPrefixBytes);
      const std::uint64_t chunk = payload - kFragmentPrefixBytes;
      std::memcpy(dst + kFragmentPrefixBytes, out.data, chunk);
      out.sent = chunk;
    } else {
      if (payload != 0) std::memcpy(dst, out.data + out.sent, payload);
      out.sent += payload;
    }
    tx_.commit(payload, flags);
    out.started = true;
    wrote = true;
    send_wait_unanswered_ = false;
    if (flags & frame::kLast) {
      publish_and_wake();
      return Status::ok;
    }
  }
}

void EndpointCore::keep_rest(Outgoing& out) {
  std::vector<std::byte> rest(out.data + out.sent, out.data + out.size);
  pending_.owned = std::move(rest);
  pending_.data = pending_.owned.data();
  pending_.size = pending_.owned.size();
  pending_.sent = 0;
  pending_.started = true;
  pending_flag_.store(true, std::memory_order_release);
}

// Whether the peer could still read a message we leave unfinished: not when
// it died or stopped receiving. Then a torn send is only our send's error, and
// aborting would throw away what we can still read from it (docs/wire-format.md:
// "remaining frames, then peer_died").
bool EndpointCore::peer_may_read() const {
  if (local_.load(std::memory_order_acquire) & kLocalPeerDead) return false;
  return (control_->state.load(std::memory_order_acquire) & state::side_bits(peer_, state::kRecvClosed)) == 0;
}

// A fragmented message that cannot be finished must not look complete (or
// like a clean EOF) to a peer that still reads: abort the channel saying why.
Status EndpointCore::abort_if_torn(Status st, const Outgoing& out) {
  if (out.started && out.sent < out.size && is_final(st) && st != Status::aborted && st != Status::corrupt &&
      peer_may_read()) {
    abort("endpoint stopped sending in the middle of a fragmented message (" + std::to_string(out.sent) + " of " +
          std::to_string(out.size) + " bytes sent): " + std::string(to_string(st)));
  }
  return st;
}

Status EndpointCore::try_flush_pending() {
  if (!pending_.started) return Status::ok;
  if (const Status gate = send_gate(); gate != Status::ok) return abort_if_torn(gate, pending_);
  const Status st = write_some(pending_);
  if (st == Status::ok) {
    pending_ = Outgoing{};
    pending_flag_.store(false, std::memory_order_release);
  }
  return st;
}

Status EndpointCore::flush_pending_until(nanoseconds timeout) {
  if (!pending_.started) return Status::ok;
  return block_on([this] { return try_flush_pending(); }, false, [this] { return next_payload(pending_); }, timeout);
}

Status EndpointCore::try_send(std::span<const std::byte> message) {
  reserved_ = false;  // an uncommitted reservation is simply forgotten
  if (const Status gate = send_gate(); gate != Status::ok) return gate;
  if (message.size() > max_message_) return Status::too_large;
  if (const Status st = try_flush_pending(); st != Status::ok) return st;
  Outgoing out{message.data(), message.size(), 0, false, {}};
  const Status st = write_some(out);
  if (st == Status::would_block && out.started) {
    keep_rest(out);
    return Status::ok;
  }
  return st;
}

Status EndpointCore::send_until(std::span<const std::byte> message, nanoseconds timeout) {
  reserved_ = false;
  if (const Status gate = send_gate(); gate != Status::ok) return gate;
  if (message.size() > max_message_) return Status::too_large;
  if (pending_.started) {
    // Only here is the clock needed (about 60 ns a read in these VMs): the
    // pending rest and the new message share one deadline.
    const Deadline deadline = Deadline::after(timeout);
    if (const Status st = flush_pending_until(timeout); st != Status::ok) return st;
    timeout = deadline.remaining();
  }
  Outgoing out{message.data(), message.size(), 0, false, {}};
  const Status st = block_on(
      [&] {
        if (const Status gate = send_gate(); gate != Status::ok) return abort_if_torn(gate, out);
        return write_some(out);
      },
      false, [&] { return next_payload(out); }, timeout);
  if ((st == Status::timeout || st == Status::interrupted) && out.started) {
    // The message has begun: it is accepted, its rest queued for the next
    // send (or flush). So a timeout always means "nothing of it went out",
    // and a caller may simply send it again.
    keep_rest(out);
    return Status::ok;
  }
  return st;
}

Status EndpointCore::try_reserve(std::size_t bytes, std::span<std::byte>& out) {
  reserved_ = false;
  if (const Status gate = send_gate(); gate != Status::ok) return gate;
  if (bytes > max_frame_payload_ || bytes > max_message_) return Status::too_large;
  if (const Status st = try_flush_pending(); st != Status::ok) return st;
  std::byte* dst = tx_.try_reserve(bytes);
  if (dst == nullptr) {
    if (tx_.faulted()) return corrupt(tx_.fault());
    // No room: let the reader see a withheld batch, or commits not flushed
    // yet (commit(n, false)), so a parked reader wakes and makes room.
    if (tx_.has_withheld() || unflushed_) {
      unflushed_ = false;
      publish_and_wake();
    }
    return Status::would_block;
  }
  out = std::span<std::byte>(dst, bytes);
  reserved_ = true;
  reserved_bytes_ = bytes;
  return Status::ok;
}

Status EndpointCore::reserve_until(std::size_t bytes, std::span<std::byte>& out, nanoseconds timeout) {
  return block_on([&] { return try_reserve(bytes, out); }, false,
                  [&] { return std::min<std::uint64_t>(bytes, max_frame_payload_); }, timeout);
}

Status EndpointCore::send_batch(std::span<const std::span<const std::byte>> messages, std::size_t& sent,
                                bool blocking) {
  sent = 0;
  // Every exit publishes what was written: frames of the batch are sent.
  auto finish = [&](Status st) {
    publish_and_wake();
    return (st == Status::would_block && sent > 0) ? Status::ok : st;
  };
  for (const auto& message : messages) {
    if (message.size() > max_frame_payload_) {
      publish_and_wake();  // keep order: the batch so far goes out before it
      const Status st = blocking ? send_until(message, nanoseconds{-1}) : try_send(message);
      if (st != Status::ok) return finish(st);
      ++sent;
      continue;
    }
    std::span<std::byte> slot;
    const Status st = blocking ? reserve_until(message.size(), slot, nanoseconds{-1}) : try_reserve(message.size(), slot);
    if (st != Status::ok) return finish(st);
    if (!message.empty()) std::memcpy(slot.data(), message.data(), message.size());
    tx_.commit(message.size(), frame::kFirst | frame::kLast, /*withhold=*/true);
    reserved_ = false;
    ++sent;
  }
  return finish(Status::ok);
}

void EndpointCore::commit(std::size_t bytes, bool flush_now) {
  if (!reserved_) throw std::logic_error("commit() without a successful reserve()");
  if (bytes > reserved_bytes_) {
    throw std::logic_error("commit(" + std::to_string(bytes) + ") exceeds the " + std::to_string(reserved_bytes_) +
                           " bytes reserved");
  }
  tx_.commit(bytes, frame::kFirst | frame::kLast);
  reserved_ = false;
  if (flush_now) {
    publish_and_wake();
  } else {
    unflushed_ = true;
  }
}

void EndpointCore::flush() {
  if (unflushed_) {
    unflushed_ = false;
    publish_and_wake();
  }
}

void EndpointCore::publish_and_wake() {
  tx_.publish_withheld();
  if (replying_.load(std::memory_order_relaxed)) {
    replying_.store(false, std::memory_order_relaxed);
    tx_.demote_since(published_tail_);
  }
  published_tail_ = tx_.tail();
  if (tx_.reader_needs_wake()) eventfd_ring(channel_->wake[peer_][kRecvWake].get());
}

// --- receiving -------------------------------------------------------------------

void EndpointCore::wake_writer_if_parked() {
  if (rx_.writer_needs_wake()) eventfd_ring(channel_->wake[peer_][kSendWake].get());
}

void EndpointCore::consume_frame() {
  rx_.release();
  wake_writer_if_parked();
}

Status EndpointCore::empty_status(bool& retry) {
  // Acquire pairs with the peer's release when it set its state bits: frames it
  // published before closing are visible, so has_data() below is conclusive.
  Status forged;
  const std::uint64_t s = checked_state(forged);
  if (forged != Status::ok) return forged;
  if (s & state::kAborted) return Status::aborted;
  const bool peer_eof = (s & state::side_bits(peer_, state::kSendClosed)) != 0;
  const bool peer_dead = (local_.load(std::memory_order_acquire) & kLocalPeerDead) != 0;
  if (!peer_eof && !peer_dead) return Status::would_block;
  if (rx_.has_data()) {
    retry = true;  // sent before the close / death: deliver it first
    return Status::ok;
  }
  if (peer_eof && assembling_) {
    // A live peer finishes or aborts a started message before it closes.
    return corrupt("the peer closed its side in the middle of a fragmented message (" +
                   std::to_string(assembly_.size()) + " of " + std::to_string(assembly_total_) + " bytes received)");
  }
  if (!peer_eof) {
    assembling_ = false;  // a dead peer's half message is dropped: it was never complete
    assembly_.clear();
    return Status::peer_died;
  }
  return Status::peer_closed;
}

Status EndpointCore::next_message(std::span<const std::byte>& view) {
  for (;;) {
    FrameView f;
    const auto kind = rx_.peek(f);
    if (kind == RingReader::Peek::fault) return corrupt(rx_.fault());
    if (kind == RingReader::Peek::empty) {
      bool retry = false;
      const Status st = empty_status(retry);
      if (retry) continue;
      return st;
    }
    const bool first = (f.flags & frame::kFirst) != 0;
    const bool last = (f.flags & frame::kLast) != 0;
    if (!assembling_) {
      if (first && last) {
        frame_ = f;
        peeked_ = Peeked::frame;
        view = std::span<const std::byte>(f.payload, f.length);
        return Status::ok;
      }
      if (!first) return corrupt("a continuation fragment arrived with no fragmented message started");
      if (f.length < kFragmentPrefixBytes) {
        return corrupt("first fragment of " + std::to_string(f.length) + " bytes is shorter than its length prefix");
      }
      std::uint64_t total;
      std::memcpy(&total, f.payload, sizeof total);
      const std::uint64_t chunk = f.length - kFragmentPrefixBytes;
      if (total > max_message_) {
        return corrupt("fragmented message announces " + std::to_string(total) + " bytes, more than the channel's maximum of " +
                       std::to_string(max_message_));
      }
      if (chunk > total) {
        return corrupt("first fragment carries " + std::to_string(chunk) + " bytes of a message of only " +
                       std::to_string(total));
      }
      assembly_.clear();
      assembly_.reserve(std::min(total, kAssemblyInitialReserve));
      assembly_.insert(assembly_.end(), f.payload + kFragmentPrefixBytes, f.payload + f.length);
      assembly_total_ = total;
      assembling_ = true;
      consume_frame();
      continue;
    }
    if (first) {
      return corrupt("a new message started while a fragmented message was incomplete (" +
                     std::to_string(assembly_.size()) + " of " + std::to_string(assembly_total_) + " bytes)");
    }
    if (assembly_.size() + f.length > assembly_total_) {
      return corrupt("fragments add up to more than the announced " + std::to_string(assembly_total_) + " bytes");
    }
    assembly_.insert(assembly_.end(), f.payload, f.payload + f.length);
    consume_frame();
    if (last) {
      if (assembly_.size() != assembly_total_) {
        return corrupt("last fragment ends a message of " + std::to_string(assembly_.size()) + " bytes, announced " +
                       std::to_string(assembly_total_));
      }
      assembling_ = false;
      peeked_ = Peeked::assembled;
      view = std::span<const std::byte>(assembly_);
      return Status::ok;
    }
  }
}

Status EndpointCore::try_peek(std::span<const std::byte>& out) {
  if (const Status gate = recv_gate(); gate != Status::ok) return gate;
  switch (peeked_) {
    case Peeked::frame: out = std::span<const std::byte>(frame_.payload, frame_.length); return Status::ok;
    case Peeked::assembled: out = std::span<const std::byte>(assembly_); return Status::ok;
    case Peeked::none: break;
  }
  const Status st = next_message(out);
  if (st == Status::ok) {
    recv_wait_unanswered_ = false;
    if (!replying_.load(std::memory_order_relaxed)) replying_.store(true, std::memory_order_relaxed);
  }
  return st;
}

void EndpointCore::release() {
  if (peeked_ == Peeked::frame) consume_frame();
  if (peeked_ == Peeked::assembled) assembly_.clear();
  peeked_ = Peeked::none;
}

Status EndpointCore::try_recv(std::vector<std::byte>& out) {
  std::span<const std::byte> view;
  if (const Status st = try_peek(view); st != Status::ok) return st;
  if (peeked_ == Peeked::assembled) {
    out.swap(assembly_);  // hand over the reassembled bytes without copying
    assembly_.clear();
  } else {
    out.assign(view.begin(), view.end());
    consume_frame();
  }
  peeked_ = Peeked::none;
  return Status::ok;
}

Status EndpointCore::recv_until(std::vector<std::byte>& out, nanoseconds timeout) {
  return block_on([&] { return try_recv(out); }, true, [] { return std::uint64_t{0}; }, timeout);
}

Status EndpointCore::peek_until(std::span<const std::byte>& out, nanoseconds timeout) {
  return block_on([&] { return try_peek(out); }, true, [] { return std::uint64_t{0}; }, timeout);
}

// --- waiting ---------------------------------------------------------------------

bool EndpointCore::park_recv(bool drain) {
  // Drain first (for a level-triggered wait: event loops on recv_fd), then
  // announce and re-check: a ring that lands after the drain stays pending in
  // the eventfd, and anything before it is seen by the checks. The blocking
  // calls' edge-triggered wait needs no drain: each ring is one new event.
  if (drain) eventfd_drain(channel_->wake[side_][kRecvWake].get());
  if (!rx_.announce_parked()) return false;
  bool retry = false;
  if (recv_gate() != Status::ok || empty_status(retry) != Status::would_block) {
    rx_.cancel_parked();
    return false;
  }
  return true;
}

bool EndpointCore::park_send(std::uint64_t room, bool drain) {
  if (drain) eventfd_drain(channel_->wake[side_][kSendWake].get());
  if (!tx_.announce_parked(room)) return false;
  if (send_gate() != Status::ok) {
    tx_.cancel_parked();
    return false;
  }
  return true;
}

void EndpointCore::note_lifeline(bool hung_up) {
  if (hung_up) local_.fetch_or(kLocalPeerDead, std::memory_order_acq_rel);
}

template <class Attempt, class Room>
Status EndpointCore::block_on(Attempt attempt, bool receiving, Room room, nanoseconds timeout) {
  Status st = attempt();
  if (st != Status::would_block) return st;
  if (timeout.count() == 0) return Status::timeout;

  // Spinning polls one word (the next frame header, or the reader's head) and
  // runs the full attempt only when that word says "go", or every
  // kSpinsPerCheck rounds to notice state changes. A spin round is then a
  // couple of loads, so the answer is picked up within a few nanoseconds.
  auto may_proceed = [&] {
    if (receiving) return rx_.has_data();
    return tx_.has_room_for(room());  // a bad head is reported by attempt()
  };
  auto start = Clock::time_point{};
  Deadline deadline = Deadline::never();
  if (options_.spin_budget.count() > 0) {
    // No clock read for the first rounds: in a busy ping-pong the answer
    // usually comes within a few hundred nanoseconds, and a clock read costs
    // about 60 ns in these VMs.
    for (unsigned i = 1;; ++i) {
      if (may_proceed() || (i % kSpinsPerCheck) == 0) {
        st = attempt();
        if (st != Status::would_block) return st;
      }
      cpu_relax();
      if (i == kSpinsBeforeClock) {
        start = Clock::now();
        deadline = Deadline::after(timeout, start);
      } else if (i > kSpinsBeforeClock && (i % kSpinsPerClock) == 0) {
        const auto now = Clock::now();
        if (deadline.passed(now)) return Status::timeout;
        if (now - start >= options_.spin_budget) break;
      }
    }
  } else {
    deadline = Deadline::after(timeout);
  }

  // Created on the first park of this direction, by the one thread that
  // sends (or receives): no other thread touches it.
  UniqueFd& edge_set = receiving ? recv_edge_set_ : send_edge_set_;
  if (!edge_set) {
    edge_set = make_edge_wait_set(channel_->wake[side_][receiving ? kRecvWake : kSendWake].get(),
                                  lifeline_ ? lifeline_.get() : -1);
  }
  for (;;) {
    const bool sleep = receiving ? park_recv(false) : park_send(room(), false);
    if (sleep) {
      if (deadline.passed()) {
        receiving ? rx_.cancel_parked() : tx_.cancel_parked();
        st = attempt();
        return st == Status::would_block ? Status::timeout : st;
      }
      const WaitResult r = wait_edge(edge_set.get(), deadline, return_on_signal_.load(std::memory_order_relaxed));
      note_lifeline(r.hung_up);
      if (r.interrupted) {
        receiving ? rx_.cancel_parked() : tx_.cancel_parked();
        st = attempt();
        return st == Status::would_block ? Status::interrupted : st;
      }
      if (r.timed_out) {
        receiving ? rx_.cancel_parked() : tx_.cancel_parked();
        st = attempt();
        return st == Status::would_block ? Status::timeout : st;
      }
    }
    st = attempt();
    if (st != Status::would_block) return st;
  }
}

// The peer's death shows as the lifeline hanging up, which makes the wait set
// readable with nothing in the ring. Only a wait that ended that way (parked,
// woken, still nothing) asks the lifeline; a wait that follows traffic does not
// pay that poll() on every park.
bool EndpointCore::prepare_recv_wait() {
  if (lifeline_ && recv_wait_unanswered_ && has_hung_up(lifeline_.get())) note_lifeline(true);
  recv_wait_unanswered_ = park_recv(true);
  return recv_wait_unanswered_;
}

bool EndpointCore::prepare_send_wait(std::size_t bytes) {
  if (lifeline_ && send_wait_unanswered_ && has_hung_up(lifeline_.get())) note_lifeline(true);
  const std::uint64_t room =
      pending_.started ? next_payload(pending_) : std::min<std::uint64_t>(bytes, max_frame_payload_);
  send_wait_unanswered_ = park_send(room, true);
  return send_wait_unanswered_;
}

int EndpointCore::fileno() const {
  std::call_once(any_wait_once_, [this] {
    const int fds[2] = {channel_->wake[side_][kRecvWake].get(), channel_->wake[side_][kSendWake].get()};
    any_wait_set_ = make_wait_set(fds, lifeline_ ? lifeline_.get() : -1);
  });
  return any_wait_set_.get();
}

int EndpointCore::recv_fd() const {
  return lifeline_ ? recv_wait_set_.get() : channel_->wake[side_][kRecvWake].get();
}

int EndpointCore::send_fd() const {
  return lifeline_ ? send_wait_set_.get() : channel_->wake[side_][kSendWake].get();
}

// --- lifecycle -------------------------------------------------------------------

void EndpointCore::set_shared_state(std::uint64_t bits) {
  // acq_rel: release publishes everything this side wrote before (frames, the
  // abort reason) to whoever acquires the new state.
  control_->state.fetch_or(bits, std::memory_order_acq_rel);
}

void EndpointCore::send_eof() {
  const std::uint32_t prev = local_.fetch_or(kLocalSendClosed, std::memory_order_acq_rel);
  if (prev & (kLocalSendClosed | kLocalClosed)) return;
  if (pending_flag_.load(std::memory_order_acquire) && peer_may_read()) {
    abort("send_eof() while a fragmented message was only partly sent");
  }
  set_shared_state(state::side_bits(side_, state::kSendClosed));
  ring_everyone(*channel_);
}

void EndpointCore::close() {
  const std::uint32_t prev = local_.fetch_or(kLocalClosed | kLocalSendClosed, std::memory_order_acq_rel);
  if (prev & kLocalClosed) return;
  if ((prev & kLocalSendClosed) == 0 && pending_flag_.load(std::memory_order_acquire) && peer_may_read()) {
    abort("close() while a fragmented message was only partly sent");
  }
  set_shared_state(state::side_bits(side_, state::kSendClosed | state::kRecvClosed));
  ring_everyone(*channel_);
}

void EndpointCore::abort(std::string_view reason) { abort_channel(*channel_, side_, reason); }

Status EndpointCore::corrupt(const std::string& what) {
  {
    std::lock_guard lock(reason_mutex_);
    if (corrupt_reason_.empty()) corrupt_reason_ = what;
  }
  local_.fetch_or(kLocalCorrupt, std::memory_order_acq_rel);
  abort("corrupt data found: " + what);
  return Status::corrupt;
}

EndpointState EndpointCore::state() const {
  const std::uint32_t local = local_.load(std::memory_order_acquire);
  if (local & kLocalCorrupt) return EndpointState::corrupt;
  const std::uint64_t s = control_->state.load(std::memory_order_acquire);
  if ((s & state::kAborted) == 0 && state_is_forged(s)) return EndpointState::corrupt;
  if (s & state::kAborted) return EndpointState::aborted;
  if (local & kLocalClosed) return EndpointState::closed;
  const bool peer_eof = (s & state::side_bits(peer_, state::kSendClosed)) != 0;
  if ((local & kLocalPeerDead) && !peer_eof) return EndpointState::peer_died;
  if (local & kLocalSendClosed) return EndpointState::send_closed;
  if (peer_eof) return EndpointState::peer_closed;
  return EndpointState::open;
}

std::string EndpointCore::reason() const {
  if (local_.load(std::memory_order_acquire) & kLocalCorrupt) {
    std::lock_guard lock(reason_mutex_);
    return corrupt_reason_;
  }
  if ((control_->state.load(std::memory_order_acquire) & state::kAborted) == 0) return {};
  const AbortReason& a = control_->abort;
  if (a.stage.load(std::memory_order_acquire) != 2) return "aborted (no reason recorded)";
  // The length comes from shared memory: clamp it to the buffer.
  const std::size_t n = std::min<std::size_t>(a.length, kAbortReasonBytes - 1);
  std::string text(a.text, n);
  return (a.by_side == static_cast<std::uint32_t>(side_) ? "aborted locally: " : "aborted by peer: ") + text;
}

}  // namespace shmring::detail

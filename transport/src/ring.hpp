// One direction of a channel: a single-producer single-consumer ring of
// variable-length frames in shared memory. RingWriter is the producer's half,
// RingReader the consumer's; each lives in its own process (or thread) and
// keeps its position privately, publishing only what the other side needs.
//
// How the two halves meet (see layout.hpp for the bytes):
// - The writer's progress is published in the frames themselves: each frame's
//   header is its commit word, stored last with release order. The reader
//   polls the header at its position, so a small message and its "ready" flag
//   share a cache line and the writer has no index the reader must load.
// - The reader's progress is RingControl::head, on its own cache line. The
//   writer keeps a cached copy and reloads it only when the cached free space
//   is not enough, so in steady streaming it rarely touches the reader's line.
// - A frame never wraps: if it does not fit before the ring's end, a padding
//   frame fills the rest and the frame starts at offset 0. Every payload is
//   contiguous (zero-copy peek) and 8-byte aligned.
// - Parking: a side that must sleep announces it (reader_parked /
//   writer_parked) and re-checks; the other side checks the flag after each
//   publication. Both sides touch the flag with an acq_rel read-modify-write,
//   and RMWs on one atomic are totally ordered, which is what rules out the
//   lost wake-up (the classic store/load race) without a separate fence. That
//   RMW is the only locked instruction on the hot path; batched publication
//   pays it once per batch, and while nobody parks the flag's cache line
//   stays with the side that checks it.
//
// Everything read from shared memory is validated: a frame header must carry
// the right position tag, known flags and a length that fits; the head must
// stay between the writer's cached head and its tail. Any violation is
// reported as a Fault with a sentence saying what was wrong, and the ring
// touches nothing outside its bytes.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "layout.hpp"
#include "platform.hpp"

namespace shmring::detail {

// The location of one ring inside a mapped segment.
struct RingView {
  std::byte* data = nullptr;       // ring_bytes bytes
  std::uint64_t ring_bytes = 0;    // power of two
  RingControl* control = nullptr;  // in the control block
  std::uint64_t max_frame_payload = 0;
  const char* name = "ring";       // for fault messages, e.g. "ring A->B"
};

// Largest payload of one frame for a ring of `ring_bytes`: frames are capped at
// a quarter of the ring so several are in flight and padding never starves it.
constexpr std::uint64_t max_frame_payload_for(std::uint64_t ring_bytes) {
  return ring_bytes / 4 - kFrameHeaderBytes;
}

inline std::atomic_ref<std::uint64_t> header_at(std::byte* ring, std::uint64_t offset) {
  return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(ring + offset));
}

class RingWriter {
 public:
  RingWriter() = default;
  explicit RingWriter(RingView view) : v_(view), mask_(view.ring_bytes - 1) {}

  // Reserves room for a frame of `payload` bytes (<= max_frame_payload) and
  // returns where its payload goes, or nullptr if the ring lacks room (or the
  // reader's head is invalid: then faulted() and fault() says why).
  std::byte* try_reserve(std::uint64_t payload) {
    const std::uint64_t offset = tail_ & mask_;
    const std::uint64_t to_end = v_.ring_bytes - offset;
    const std::uint64_t need = frame::footprint(payload);
    const std::uint64_t pad = need > to_end ? to_end : 0;
    // + one header: the slot after the frame is zeroed at commit (see layout.hpp).
    const std::uint64_t wanted = pad + need + kFrameHeaderBytes;
    if (wanted > v_.ring_bytes - (tail_ - cached_head_) && !refresh_head(wanted)) return nullptr;
    pad_ = pad;
    return v_.data + ((tail_ + pad) & mask_) + kFrameHeaderBytes;
  }

  // Publishes the frame reserved last, with `payload` <= the reserved bytes.
  // `flags` are frame::kFirst / kLast. Does not wake the reader: call
  // reader_needs_wake() after the last commit of a batch.
  //
  // With `withhold`, the frame is complete in the ring but its first header
  // (the padding's, if any) is kept back until publish_withheld(); frames
  // committed after it are stored normally but stay invisible behind it. That
  // is batched publication: the reader then finds whole, finished cache lines
  // instead of polling inside the line the writer is filling.
  void commit(std::uint64_t payload, std::uint64_t flags, bool withhold = false) {
    const std::uint64_t at = tail_ + pad_;
    const std::uint64_t next = at + frame::footprint(payload);
    // Zero the next header slot before this frame becomes visible, so the
    // reader finds 0 there, not bytes of an earlier lap. Relaxed is enough: the
    // release store of the first header below orders it before the reader's
    // acquire of that header.
    header_at(v_.data, next & mask_).store(0, std::memory_order_relaxed);
    const std::uint64_t frame_header = frame::encode(at, static_cast<std::uint32_t>(payload), flags);
    // The header the reader meets first: the padding's if we wrapped.
    const std::uint64_t first_header =
        pad_ != 0 ? frame::encode(tail_, static_cast<std::uint32_t>(pad_ - kFrameHeaderBytes), frame::kPad)
                  : frame_header;
    if (pad_ != 0) {
      // Behind the padding header, which is stored after it: a reader that
      // acquires the padding also sees the frame at offset 0.
      header_at(v_.data, at & mask_).store(frame_header, std::memory_order_release);
    }
    if (withheld_ || !withhold) {
      // SYNC POINT with the reader's acquire load in RingReader::peek: the
      // payload and the zeroed next slot are visible once this header is.
      // (Inside an open batch the store is still hidden behind the withheld one.)
      header_at(v_.data, tail_ & mask_).store(first_header, std::memory_order_release);
    } else {
      withheld_ = true;
      withheld_at_ = tail_;
      withheld_header_ = first_header;
    }
    tail_ = next;
    pad_ = 0;
  }

  // Pushes the frames written since position `from` toward the reader: their
  // cache lines, and the line of the zeroed header slot after them, are
  // demoted to the shared cache, so a reader spinning on them loads from there
  // instead of snooping this core (a 64 B reply spans two lines; measured
  // 1.65x -> ~1.35x the one-line floor). Only for up to kDemoteMaxBytes: a
  // large frame is read long after it is written, and a streaming writer must
  // not call it at all (it writes on into the same lines, and each demotion
  // then costs a reload: 64 B streaming measured 2-4x slower).
  static constexpr std::uint64_t kDemoteMaxBytes = 4096;
  void demote_since(std::uint64_t from) const {
    if (tail_ - from > kDemoteMaxBytes) return;
    const std::uint64_t end = tail_ + kFrameHeaderBytes;
    for (std::uint64_t line = from & ~std::uint64_t{kCacheLine - 1}; line < end; line += kCacheLine) {
      demote_cache_line(v_.data + (line & mask_));
    }
  }

  // Makes a batch of withheld frames visible at once. Returns false if none was open.
  bool publish_withheld() {
    if (!withheld_) return false;
    // SYNC POINT with RingReader::peek: releases every frame of the batch.
    header_at(v_.data, withheld_at_ & mask_).store(withheld_header_, std::memory_order_release);
    withheld_ = false;
    return true;
  }
  bool has_withheld() const { return withheld_; }

  // After publishing: true if the reader is parked and must be woken (the
  // caller rings its eventfd). Clears the flag so one park costs one ring.
  bool reader_needs_wake() {
    // SYNC POINT with RingReader::announce_parked. Both sides use an acq_rel
    // read-modify-write on the same flag, and RMWs on one atomic are totally
    // ordered: if ours comes second it reads the reader's 1 (we ring); if it
    // comes first, the reader's RMW reads ours and acquires our release, so
    // its re-check sees the header we stored above. No lost wake-up, and no
    // separate fence: the flag's line stays in our cache while nobody parks.
    return v_.control->reader_parked.exchange(0, std::memory_order_acq_rel) != 0;
  }

  // Announces that the writer will sleep until `payload` bytes fit, then
  // re-checks. Returns true if it must really sleep, false if room appeared.
  bool announce_parked(std::uint64_t payload) {
    // SYNC POINT with RingReader::writer_needs_wake: the same RMW pairing as
    // reader_needs_wake/announce_parked, on the writer_parked flag.
    v_.control->writer_parked.exchange(1, std::memory_order_acq_rel);
    if (has_room_for(payload) || faulted()) {
      v_.control->writer_parked.store(0, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void cancel_parked() { v_.control->writer_parked.store(0, std::memory_order_relaxed); }

  bool has_room_for(std::uint64_t payload) {
    const std::uint64_t offset = tail_ & mask_;
    const std::uint64_t to_end = v_.ring_bytes - offset;
    const std::uint64_t need = frame::footprint(payload);
    const std::uint64_t wanted = (need > to_end ? to_end : 0) + need + kFrameHeaderBytes;
    return wanted <= v_.ring_bytes - (tail_ - cached_head_) || refresh_head(wanted);
  }

  // Set once the reader's head was found invalid; the ring is unusable then.
  bool faulted() const { return !fault_.empty(); }
  const std::string& fault() const { return fault_; }

  std::uint64_t tail() const { return tail_; }
  std::uint64_t max_frame_payload() const { return v_.max_frame_payload; }

 private:
  bool refresh_head(std::uint64_t wanted) {
    // SYNC POINT with RingReader::release: acquire makes the reader's reads of
    // the bytes before `head` happen-before our overwriting them.
    const std::uint64_t head = v_.control->head.load(std::memory_order_acquire);
    if (head < cached_head_ || head > tail_ || (head % kFrameAlign) != 0) {
      fault_ = std::string(v_.name) + ": reader's head " + std::to_string(head) +
                   " is outside [" + std::to_string(cached_head_) + ", " + std::to_string(tail_) +
                   "] or misaligned";
      return false;
    }
    cached_head_ = head;
    return wanted <= v_.ring_bytes - (tail_ - cached_head_);
  }

  RingView v_{};
  std::uint64_t mask_ = 0;
  std::uint64_t tail_ = 0;         // our position: bytes written
  std::uint64_t cached_head_ = 0;  // the reader's head as last seen
  std::uint64_t pad_ = 0;          // padding before the reserved frame
  std::string fault_;              // why the ring is unusable ("" while it is fine)
  bool withheld_ = false;          // a batch is open: its first header is not stored yet
  std::uint64_t withheld_at_ = 0;
  std::uint64_t withheld_header_ = 0;
};

// A frame as the reader sees it: a view into shared memory.
struct FrameView {
  const std::byte* payload = nullptr;
  std::uint32_t length = 0;
  std::uint64_t flags = 0;
};

class RingReader {
 public:
  RingReader() = default;
  explicit RingReader(RingView view) : v_(view), mask_(view.ring_bytes - 1) {}

  enum class Peek { frame, empty, fault };

  // Looks at the next frame without consuming it (padding is skipped). On
  // Peek::fault, fault() says what was wrong.
  Peek peek(FrameView& out) {
    for (;;) {
      const std::uint64_t offset = head_ & mask_;
      // SYNC POINT with RingWriter::commit's release store of this header.
      const std::uint64_t h = header_at(v_.data, offset).load(std::memory_order_acquire);
      if (h == 0) return Peek::empty;
      const std::uint64_t flags = frame::flags_of(h);
      const std::uint64_t length = frame::length_of(h);
      const std::uint64_t to_end = v_.ring_bytes - offset;
      if (frame::header_tag(h) != frame::tag_of(head_) || (flags & ~frame::kKnownFlags) != 0 ||
          (flags & frame::kCommitted) == 0) {
        return bad("frame header 0x" + hex(h) + " at position " + std::to_string(head_) +
                              " has a wrong position tag or unknown flags");
      }
      if ((flags & frame::kPad) != 0) {
        if (length + kFrameHeaderBytes != to_end || (flags & (frame::kFirst | frame::kLast)) != 0) {
          return bad("padding frame at position " + std::to_string(head_) + " has length " +
                                std::to_string(length) + " but " + std::to_string(to_end) +
                                " bytes remain to the ring's end");
        }
        advance(to_end);
        continue;
      }
      if (length > v_.max_frame_payload || frame::footprint(length) > to_end) {
        return bad("frame at position " + std::to_string(head_) + " has length " +
                              std::to_string(length) + ", more than the " +
                              std::to_string(std::min<std::uint64_t>(v_.max_frame_payload,
                                                                     to_end - kFrameHeaderBytes)) +
                              " bytes a frame may hold there");
      }
      out.payload = v_.data + offset + kFrameHeaderBytes;
      out.length = static_cast<std::uint32_t>(length);
      out.flags = flags;
      current_ = frame::footprint(length);
      return Peek::frame;
    }
  }

  // Consumes the frame returned by the last peek().
  void release() {
    advance(current_);
    current_ = 0;
  }

  // True if the ring holds a frame (or padding) at our position.
  bool has_data() const {
    return header_at(v_.data, head_ & mask_).load(std::memory_order_acquire) != 0;
  }

  // After releasing: true if the writer is parked waiting for room and must be
  // woken (the caller rings its eventfd). Clears the flag.
  bool writer_needs_wake() {
    // SYNC POINT with RingWriter::announce_parked (acq_rel RMWs on one flag,
    // see RingWriter::reader_needs_wake): either we read its 1, or its RMW
    // acquires ours and its head reload sees the head we released.
    return v_.control->writer_parked.exchange(0, std::memory_order_acq_rel) != 0;
  }

  // Announces that the reader will sleep until a frame arrives, then
  // re-checks. Returns true if it must really sleep.
  bool announce_parked() {
    // SYNC POINT with RingWriter::reader_needs_wake (RMW pairing on the flag).
    v_.control->reader_parked.exchange(1, std::memory_order_acq_rel);
    if (has_data()) {
      v_.control->reader_parked.store(0, std::memory_order_relaxed);
      return false;
    }
    return true;
  }
  void cancel_parked() { v_.control->reader_parked.store(0, std::memory_order_relaxed); }

  std::uint64_t head() const { return head_; }
  const std::string& fault() const { return fault_; }

 private:
  void advance(std::uint64_t bytes) {
    head_ += bytes;
    // SYNC POINT with RingWriter::refresh_head: release publishes that we are
    // done reading everything before head_, so the writer may reuse it.
    v_.control->head.store(head_, std::memory_order_release);
  }

  Peek bad(std::string what) {
    fault_ = std::string(v_.name) + ": " + what;
    return Peek::fault;
  }

  static std::string hex(std::uint64_t v) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return buf;
  }

  RingView v_{};
  std::uint64_t mask_ = 0;
  std::uint64_t head_ = 0;     // our position: bytes consumed
  std::uint64_t current_ = 0;  // footprint of the peeked frame
  std::string fault_;          // what was wrong, after Peek::fault
};

}  // namespace shmring::detail

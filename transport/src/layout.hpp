// The shared-memory layout of one channel: what both peers agree on, byte for
// byte. docs/wire-format.md describes the same thing in prose; keep them in step
// and bump kLayoutVersion on any change.
//
//   offset 0                 ControlBlock (kControlBytes, page-aligned)
//   kControlBytes            ring 0 data: side A -> side B   (ring_bytes)
//   kControlBytes+ring_bytes ring 1 data: side B -> side A   (ring_bytes)
//
// Everything here is position-independent: offsets and 64-bit positions only,
// never pointers, so each process may map the segment anywhere.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace shmring::detail {

inline constexpr std::uint64_t kMagic = 0x474e49524d485353ULL;  // "SSHMRING" little-endian
inline constexpr std::uint32_t kLayoutVersion = 1;
inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kControlBytes = 4096;
inline constexpr std::size_t kFrameAlign = 8;
inline constexpr std::size_t kFrameHeaderBytes = 8;
inline constexpr std::size_t kMinRingBytes = 4096;
inline constexpr std::size_t kMaxRingBytes = std::size_t{1} << 30;
inline constexpr std::size_t kAbortReasonBytes = 240;

// ---------------------------------------------------------------------------
// Frame header: one 64-bit word at the start of every frame, stored last by the
// writer (release) and polled by the reader (acquire). It is the frame's commit
// word: a small message and its "ready" flag travel in the same cache line, and
// the reader never needs the writer's index.
//
//   bits  0..31  payload length in bytes
//   bits 32..39  flags (kCommitted always set, so a committed header is never 0)
//   bits 40..63  position tag: (position / 8) mod 2^24, catches stale or forged
//                headers and a reader that lost its place
//
// Before committing a frame the writer zeroes the header slot that follows it,
// so the reader, which only looks at that slot after acquiring this frame's
// header, sees either 0 (nothing yet) or the next real header — never stale
// payload bytes of an earlier lap that happen to look like a header.
// ---------------------------------------------------------------------------
namespace frame {
inline constexpr std::uint64_t kCommitted = 1u << 0;
inline constexpr std::uint64_t kFirst = 1u << 1;   // first fragment (or whole message)
inline constexpr std::uint64_t kLast = 1u << 2;    // last fragment (or whole message)
inline constexpr std::uint64_t kPad = 1u << 3;     // filler to the ring's end; skip it
inline constexpr std::uint64_t kKnownFlags = kCommitted | kFirst | kLast | kPad;
inline constexpr std::uint64_t kTagMask = 0xFFFFFF;

constexpr std::uint64_t tag_of(std::uint64_t position) { return (position >> 3) & kTagMask; }

constexpr std::uint64_t encode(std::uint64_t position, std::uint32_t length, std::uint64_t flags) {
  return std::uint64_t{length} | ((flags | kCommitted) << 32) | (tag_of(position) << 40);
}
constexpr std::uint32_t length_of(std::uint64_t header) { return static_cast<std::uint32_t>(header); }
constexpr std::uint64_t flags_of(std::uint64_t header) { return (header >> 32) & 0xFF; }
constexpr std::uint64_t header_tag(std::uint64_t header) { return header >> 40; }

// Bytes a frame with `payload` bytes occupies in the ring.
constexpr std::uint64_t footprint(std::uint64_t payload) {
  return (kFrameHeaderBytes + payload + kFrameAlign - 1) & ~std::uint64_t{kFrameAlign - 1};
}
}  // namespace frame

// A fragmented message's first fragment starts with its total length.
inline constexpr std::size_t kFragmentPrefixBytes = 8;

// ---------------------------------------------------------------------------
// Channel state word: one 64-bit atomic that every operation loads on its hot
// path (a cache hit: it changes only on close/abort). All transitions are CAS
// loops that only ever set bits, so a state, once reached, is never undone.
// ---------------------------------------------------------------------------
namespace state {
inline constexpr std::uint64_t kSendClosed = 1u << 0;  // side will send no more (EOF after drain)
inline constexpr std::uint64_t kRecvClosed = 1u << 1;  // side will receive no more
inline constexpr std::uint64_t kAborted = 1u << 16;    // channel aborted; reason in AbortReason
// Reserved: early layout-1 builds set it just before kAborted when they found
// corruption. Nothing reads it (the abort reason says what was wrong); a
// peer may still set it, so it counts as a known bit.
inline constexpr std::uint64_t kCorruptReserved = 1u << 17;

constexpr std::uint64_t side_bits(int side, std::uint64_t bits) { return bits << (side * 8); }
inline constexpr std::uint64_t kKnownBits =
    side_bits(0, kSendClosed | kRecvClosed) | side_bits(1, kSendClosed | kRecvClosed) | kAborted | kCorruptReserved;

// Words no sequence of transitions produces: unknown bits, or a side that
// stopped receiving but not sending (close() sets both in one fetch_or).
// A peer that writes one is forging state, and the channel is corrupt.
constexpr bool is_impossible(std::uint64_t s) {
  if ((s & ~kKnownBits) != 0) return true;
  for (int side = 0; side < 2; ++side) {
    if ((s & side_bits(side, kRecvClosed)) != 0 && (s & side_bits(side, kSendClosed)) == 0) return true;
  }
  return false;
}
}  // namespace state

struct alignas(kCacheLine) RingControl {
  // Consumer's position (bytes consumed, monotonic). Written only by the reader.
  alignas(kCacheLine) std::atomic<std::uint64_t> head;
  // Reader announced it sleeps on its eventfd waiting for data. Own line: the
  // writer loads it after every publication.
  alignas(kCacheLine) std::atomic<std::uint32_t> reader_parked;
  // Writer announced it sleeps waiting for space. Own line: the reader loads it.
  alignas(kCacheLine) std::atomic<std::uint32_t> writer_parked;
};

struct alignas(kCacheLine) AbortReason {
  // 0 = none, 1 = being written by the first aborter, 2 = text is complete.
  std::atomic<std::uint32_t> stage;
  std::uint32_t by_side;
  std::uint32_t length;
  char text[kAbortReasonBytes];
};

struct ControlBlock {
  // Identity: written once by the creator before the segment is shared,
  // validated (and copied) by the attaching side, never trusted again.
  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t control_bytes;
  std::uint64_t segment_bytes;
  std::uint64_t ring_bytes;
  std::uint64_t max_message_bytes;
  std::uint64_t ring_offset[2];
  std::int32_t pid[2];  // informational: the creator's pid and the attacher's pid

  alignas(kCacheLine) std::atomic<std::uint64_t> state;
  AbortReason abort;
  RingControl ring[2];
};

static_assert(sizeof(ControlBlock) <= kControlBytes, "control block must fit its page");
// The cross-process format (docs/wire-format.md, "Control block"): a change
// here is a change of kLayoutVersion.
static_assert(offsetof(ControlBlock, magic) == 0);
static_assert(offsetof(ControlBlock, layout_version) == 8);
static_assert(offsetof(ControlBlock, control_bytes) == 12);
static_assert(offsetof(ControlBlock, segment_bytes) == 16);
static_assert(offsetof(ControlBlock, ring_bytes) == 24);
static_assert(offsetof(ControlBlock, max_message_bytes) == 32);
static_assert(offsetof(ControlBlock, ring_offset) == 40);
static_assert(offsetof(ControlBlock, pid) == 56);
static_assert(offsetof(ControlBlock, state) == 64);
static_assert(offsetof(ControlBlock, abort) == 128);
static_assert(offsetof(AbortReason, stage) == 0 && offsetof(AbortReason, by_side) == 4 &&
              offsetof(AbortReason, length) == 8 && offsetof(AbortReason, text) == 12);
static_assert(sizeof(AbortReason) == 256 && offsetof(ControlBlock, ring) == 384 && sizeof(ControlBlock) == 768);
static_assert(sizeof(RingControl) == 192 && offsetof(RingControl, head) == 0 &&
              offsetof(RingControl, reader_parked) == 64 && offsetof(RingControl, writer_parked) == 128);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared atomics must be lock-free");
static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "shared atomics must be lock-free");
static_assert(offsetof(ControlBlock, state) % kCacheLine == 0);
static_assert(offsetof(RingControl, reader_parked) - offsetof(RingControl, head) >= kCacheLine);
static_assert(offsetof(RingControl, writer_parked) - offsetof(RingControl, reader_parked) >= kCacheLine);

}  // namespace shmring::detail

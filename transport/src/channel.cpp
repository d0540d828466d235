#include "channel.hpp"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>

#include "shmring/endpoint.hpp"
#include "shmring/error.hpp"

namespace shmring {

void validate(const ChannelOptions& options) {
  using detail::kMaxRingBytes;
  using detail::kMinRingBytes;
  if (!std::has_single_bit(options.ring_bytes) || options.ring_bytes < kMinRingBytes ||
      options.ring_bytes > kMaxRingBytes) {
    throw std::invalid_argument("ring_bytes must be a power of two from " + std::to_string(kMinRingBytes) +
                                " to " + std::to_string(kMaxRingBytes) + ", not " +
                                std::to_string(options.ring_bytes));
  }
  if (options.max_message_bytes == 0 || options.max_message_bytes > (std::size_t{1} << 40)) {
    throw std::invalid_argument("max_message_bytes must be from 1 to 2^40, not " +
                                std::to_string(options.max_message_bytes));
  }
  if (options.spin_budget.count() < 0) throw std::invalid_argument("spin_budget must not be negative");
}

namespace detail {
namespace {

[[noreturn]] void bad_segment(const std::string& what) {
  throw Error(EPROTO, "corrupt channel segment: " + what);
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

void ring_everyone(ChannelResources& channel) {
  for (auto& side : channel.wake) {
    for (auto& fd : side) eventfd_ring(fd.get());
  }
}

void abort_channel(ChannelResources& channel, int side, std::string_view reason) {
  ControlBlock* control = channel.control();
  AbortReason& a = control->abort;
  std::uint32_t expected = 0;
  // Only the first aborter writes the text; acquire/relaxed: the CAS only
  // claims the slot, the stage=2 release below publishes the text.
  if (a.stage.compare_exchange_strong(expected, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
    std::size_t n = std::min(reason.size(), kAbortReasonBytes - 1);
    // Cut at a character boundary: never leave half of a UTF-8 sequence.
    if (n < reason.size()) {
      while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
    }
    a.by_side = static_cast<std::uint32_t>(side);
    a.length = static_cast<std::uint32_t>(n);
    std::memcpy(a.text, reason.data(), n);
    a.text[n] = '\0';
    a.stage.store(2, std::memory_order_release);  // SYNC POINT with EndpointCore::reason()'s acquire
  }
  // acq_rel: release publishes the reason (and everything before) to whoever
  // acquires the state word.
  control->state.fetch_or(state::kAborted, std::memory_order_acq_rel);
  ring_everyone(channel);
}

std::shared_ptr<ChannelResources> create_channel(const ChannelOptions& options) {
  validate(options);
  auto res = std::make_shared<ChannelResources>();
  const std::uint64_t ring = options.ring_bytes;
  const std::uint64_t bytes = kControlBytes + 2 * ring;
  res->memory = create_sealed_memory(bytes);
  res->mapping = map_shared(res->memory.get(), bytes);
  // The fresh memory file is all zeros: every ring header slot reads "empty".
  auto* cb = std::construct_at(reinterpret_cast<ControlBlock*>(res->mapping.data()));
  cb->magic = kMagic;
  cb->layout_version = kLayoutVersion;
  cb->control_bytes = kControlBytes;
  cb->segment_bytes = bytes;
  cb->ring_bytes = ring;
  cb->max_message_bytes = options.max_message_bytes;
  cb->ring_offset[0] = kControlBytes;
  cb->ring_offset[1] = kControlBytes + ring;
  cb->pid[0] = current_pid();
  cb->pid[1] = 0;
  res->ring_bytes = ring;
  res->max_message_bytes = options.max_message_bytes;
  res->control_ring_offset[0] = cb->ring_offset[0];
  res->control_ring_offset[1] = cb->ring_offset[1];
  for (auto& side : res->wake) {
    for (auto& fd : side) fd = make_eventfd();
  }
  return res;
}

std::shared_ptr<ChannelResources> attach_channel(UniqueFd memory, UniqueFd (&wake)[2][2]) {
  const std::size_t size = check_received_memory(memory.get());
  if (size < kControlBytes) bad_segment("segment has " + std::to_string(size) + " bytes, less than its control block");
  auto res = std::make_shared<ChannelResources>();
  res->mapping = map_shared(memory.get(), size);
  // Read each identity field once, into locals, then validate the copies: a
  // peer that rewrites the control block later cannot change what we checked.
  const auto* cb = reinterpret_cast<const ControlBlock*>(res->mapping.data());
  const std::uint64_t magic = cb->magic;
  const std::uint32_t version = cb->layout_version;
  const std::uint32_t control_bytes = cb->control_bytes;
  const std::uint64_t segment_bytes = cb->segment_bytes;
  const std::uint64_t ring = cb->ring_bytes;
  const std::uint64_t max_message = cb->max_message_bytes;
  const std::uint64_t offset0 = cb->ring_offset[0];
  const std::uint64_t offset1 = cb->ring_offset[1];

  if (magic != kMagic) bad_segment("magic is " + hex(magic) + ", expected " + hex(kMagic) + " (not a shmring channel)");
  if (version != kLayoutVersion) {
    bad_segment("layout version is " + std::to_string(version) + ", this build speaks version " +
                std::to_string(kLayoutVersion));
  }
  if (control_bytes != kControlBytes) {
    bad_segment("control block size is " + std::to_string(control_bytes) + ", expected " + std::to_string(kControlBytes));
  }
  if (segment_bytes != size) {
    bad_segment("segment claims " + std::to_string(segment_bytes) + " bytes but the memory file has " + std::to_string(size));
  }
  if (!std::has_single_bit(ring) || ring < kMinRingBytes || ring > kMaxRingBytes) {
    bad_segment("ring size " + std::to_string(ring) + " is not a power of two in [" + std::to_string(kMinRingBytes) +
                ", " + std::to_string(kMaxRingBytes) + "]");
  }
  if (offset0 != kControlBytes || offset1 != kControlBytes + ring || kControlBytes + 2 * ring != size) {
    bad_segment("ring offsets " + std::to_string(offset0) + " and " + std::to_string(offset1) +
                " do not match ring size " + std::to_string(ring) + " in a segment of " + std::to_string(size) + " bytes");
  }
  if (max_message == 0 || max_message > (std::uint64_t{1} << 40)) {
    bad_segment("maximum message size " + std::to_string(max_message) + " is out of range");
  }
  for (int side = 0; side < 2; ++side) {
    for (int role = 0; role < 2; ++role) {
      if (!is_eventfd(wake[side][role].get())) bad_segment("wake-up descriptor " + std::to_string(side * 2 + role) + " is not an eventfd");
      if (!is_nonblocking(wake[side][role].get())) {
        bad_segment("wake-up descriptor " + std::to_string(side * 2 + role) + " is a blocking eventfd (O_NONBLOCK is required)");
      }
      res->wake[side][role] = std::move(wake[side][role]);
    }
  }
  res->ring_bytes = ring;
  res->max_message_bytes = max_message;
  res->control_ring_offset[0] = offset0;
  res->control_ring_offset[1] = offset1;
  return res;  // `memory` closes here: the mapping keeps the memory alive
}

}  // namespace detail
}  // namespace shmring

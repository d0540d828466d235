// A channel's shared resources: the mapped segment and the four eventfds that
// wake each side's receiver and sender. Created by one side (create_channel),
// attached by the other after it received the fds (attach_channel), or shared
// by both endpoints of an in-process pair.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "layout.hpp"
#include "platform.hpp"
#include "shmring/options.hpp"

namespace shmring::detail {

enum WakeRole : int { kRecvWake = 0, kSendWake = 1 };

struct ChannelResources {
  Mapping mapping;
  UniqueFd memory;       // kept only until handed to a peer
  UniqueFd wake[2][2];   // wake[side][role]: rung to wake that side's receiver/sender

  ControlBlock* control() const { return reinterpret_cast<ControlBlock*>(mapping.data()); }
  std::byte* ring_data(int ring) const { return mapping.data() + control_ring_offset[ring]; }

  // Copied from the control block when created or validated; never re-read.
  std::uint64_t ring_bytes = 0;
  std::uint64_t max_message_bytes = 0;
  std::uint64_t control_ring_offset[2] = {0, 0};
};

// Marks the channel aborted (the first reason wins) and wakes every waiter on
// both sides. `side` is who aborts (0 or 1).
void abort_channel(ChannelResources& channel, int side, std::string_view reason);
// Writes all four eventfds: every parked call on either side re-checks.
void ring_everyone(ChannelResources& channel);

// Creates a new channel segment laid out for `options` (validated first).
std::shared_ptr<ChannelResources> create_channel(const ChannelOptions& options);

// Maps and validates a segment received from a peer. Throws shmring::Error
// (EPROTO) with a sentence naming the first field that is wrong.
std::shared_ptr<ChannelResources> attach_channel(UniqueFd memory, UniqueFd (&wake)[2][2]);

}  // namespace shmring::detail

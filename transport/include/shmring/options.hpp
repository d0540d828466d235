// Channel options. The side that creates a channel (make_pair, or connect)
// decides them; they are stored in the segment so both peers agree.
#pragma once

#include <chrono>
#include <cstddef>

namespace shmring {

struct ChannelOptions {
  // Bytes of each direction's ring: a power of two, 4 KiB to 1 GiB. Messages up
  // to a quarter of it, less the 8-byte frame header (ring_bytes/4 - 8), travel
  // as one frame (zero-copy peek); larger ones are fragmented. If in doubt, keep the default: it holds many small messages and
  // lets 64 KiB messages stream without fragmentation.
  std::size_t ring_bytes = std::size_t{1} << 20;

  // Largest message either side may send; larger sends return too_large and
  // leave the channel usable. A received fragmented message that announces
  // more than this marks the channel corrupt (a single frame is bounded by the
  // ring anyway).
  std::size_t max_message_bytes = std::size_t{1} << 30;

  // How long a blocking call spins on the ring before it parks on the eventfd.
  // Spinning keeps round trips under a microsecond while traffic flows; parking
  // frees the core. Zero parks at once.
  std::chrono::nanoseconds spin_budget = std::chrono::microseconds(20);
};

}  // namespace shmring

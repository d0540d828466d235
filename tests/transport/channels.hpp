// Channel helpers shared by the transport's tests.
#pragma once

#include <chrono>
#include <stdexcept>

#include "shmring/shmring.hpp"

namespace shmring::testing {

// A 4 KiB ring whose blocking calls park at once (no spinning): small enough
// to fill and to corrupt by hand.
inline ChannelOptions small_ring_without_spin() {
  ChannelOptions o;
  o.ring_bytes = 4096;
  o.spin_budget = std::chrono::nanoseconds{0};
  return o;
}

// Waits (bounded) for the listener to hand over one endpoint.
inline Endpoint accept_one(Listener& listener) {
  auto e = listener.accept_for(std::chrono::seconds(30));
  if (!e) throw std::runtime_error("no peer connected within 30 s");
  return std::move(*e);
}

}  // namespace shmring::testing

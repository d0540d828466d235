// A process-wide table of parked endpoints, so an endpoint can move between
// owners that share nothing else: Python interpreters of one process (each
// with its own GIL), or a C++ host and the Python actors it spawns. park()
// takes an endpoint and returns a fresh integer; claim() takes it out, once.
// The table lives in the shared transport library, so every user in the
// process sees the same one. A mutex guards it.
#pragma once

#include <cstdint>
#include <optional>

#include "shmring/endpoint.hpp"

namespace shmring {

std::uint64_t park_endpoint(Endpoint endpoint);
std::optional<Endpoint> claim_endpoint(std::uint64_t handle);  // nullopt: unknown or claimed
// A parked endpoint owns its fds until it is claimed, or discarded here (it
// is closed, as an Endpoint going out of scope). False: unknown or claimed.
bool discard_endpoint(std::uint64_t handle);
std::size_t parked_endpoints();

}  // namespace shmring

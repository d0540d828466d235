// A process-wide table of detached endpoints, so an endpoint can move to
// another interpreter of this process: detach() parks the C++ endpoint here
// under a fresh integer, attach(handle) takes it out, once. Holds C++
// objects only, never Python objects, so it is safe to share between
// interpreters with their own GILs (a mutex guards it).
#pragma once

#include <cstdint>
#include <optional>

#include "shmring/shmring.hpp"

namespace shmring::py {

std::uint64_t park_endpoint(Endpoint endpoint);
std::optional<Endpoint> claim_endpoint(std::uint64_t handle);
std::size_t parked_endpoints();

}  // namespace shmring::py

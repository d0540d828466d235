// shmring._core.Endpoint: a Python object owning one shmring::Endpoint.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <chrono>
#include <vector>

#include "arguments.hpp"
#include "module_state.hpp"
#include "shmring/shmring.hpp"

namespace shmring::py {

struct EndpointObject {
  PyObject_HEAD
  Endpoint* endpoint;  // owned; nullptr once detached
  // Busy flags, read and written with the GIL held: a blocking call releases
  // the GIL, so another thread of this interpreter must be refused, not let
  // into the same ring direction.
  bool sending;
  bool receiving;
  bool view_held;  // a zero-copy view of a received message is still exported
  // Storage of the last large message handed out with try_recv(copy=False),
  // given back when that message is freed, so the next reassembly reuses its
  // pages instead of faulting in fresh ones (see take_peeked).
  std::vector<std::byte>* spare_assembly;
  // Links in ModuleState::live_endpoints (the head lives in the module state,
  // which outlives the object: the object's type keeps the module alive).
  EndpointObject* live_prev;
  EndpointObject* live_next;
  EndpointObject** live_head;
};

// Aborts every endpoint of this interpreter that is still open; returns how many.
std::size_t abort_all_endpoints(ModuleState* st, std::string_view reason);

// Wraps a C++ endpoint in a new Python Endpoint of this module.
PyObject* wrap_endpoint(ModuleState* st, Endpoint endpoint);

// Waits until `fd` is readable or `deadline` passes, with the GIL released;
// a signal ends the wait to run the Python handlers, then it goes on unless
// one raised. Returns 1 ready, 0 timed out, -1 with an exception set.
int wait_readable_released(int fd, Deadline deadline);

}  // namespace shmring::py

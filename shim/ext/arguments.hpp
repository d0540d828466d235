// The extension's numeric arguments, parsed one way everywhere: each refusal
// names the parameter and the value (a bool is not a number here, although
// Python lets True pass as 1).
#pragma once

#include <Python.h>

#include <chrono>
#include <cstddef>

#include "shmring/options.hpp"

namespace shmring::py {

// A number of seconds from 0 to `max_seconds`.
bool seconds_argument(PyObject* value, const char* name, double max_seconds, double& out);

// A positive int.
bool size_argument(PyObject* value, const char* name, std::size_t& out);

// ring_bytes / max_message_bytes / spin keywords (any may be None), then the
// transport's own validation of the whole.
bool parse_options(PyObject* ring_bytes, PyObject* max_message_bytes, PyObject* spin, ChannelOptions& out);

// A timeout in seconds, at most kMaxTimeoutSeconds; None or math.inf means no
// limit (negative nanoseconds).
inline constexpr double kMaxTimeoutSeconds = 1e9;
bool parse_timeout(PyObject* timeout, std::chrono::nanoseconds& out);

}  // namespace shmring::py

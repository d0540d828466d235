#include "arguments.hpp"

#include <cmath>
#include <cstdio>

#include "errors.hpp"

namespace shmring::py {

using std::chrono::nanoseconds;

bool seconds_argument(PyObject* value, const char* name, double max_seconds, double& out) {
  if (PyBool_Check(value) || !(PyFloat_Check(value) || PyLong_Check(value) || PyNumber_Check(value))) {
    PyErr_Format(PyExc_TypeError, "%s must be a number of seconds, not %.100s (%R)", name, Py_TYPE(value)->tp_name, value);
    return false;
  }
  const double s = PyFloat_AsDouble(value);
  if (s == -1.0 && PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s must be a number of seconds, not %.100s (%R)", name, Py_TYPE(value)->tp_name, value);
    return false;
  }
  if (!(s >= 0.0 && s <= max_seconds)) {  // also false for nan
    char limit[32];  // PyErr_Format has no %g
    std::snprintf(limit, sizeof limit, "%g", max_seconds);
    PyErr_Format(PyExc_ValueError, "%s must be from 0 to %s seconds, not %R", name, limit, value);
    return false;
  }
  out = s;
  return true;
}

bool size_argument(PyObject* value, const char* name, std::size_t& out) {
  if (PyBool_Check(value) || !PyLong_Check(value)) {
    PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s (%R)", name, Py_TYPE(value)->tp_name, value);
    return false;
  }
  const long long v = PyLong_AsLongLong(value);
  if (v == -1 && PyErr_Occurred()) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%s must be a positive int that fits 64 bits, not %R", name, value);
    return false;
  }
  if (v <= 0) {
    PyErr_Format(PyExc_ValueError, "%s must be positive, not %R", name, value);
    return false;
  }
  out = static_cast<std::size_t>(v);
  return true;
}

bool parse_options(PyObject* ring_bytes, PyObject* max_message_bytes, PyObject* spin, ChannelOptions& out) {
  if (ring_bytes != nullptr && ring_bytes != Py_None && !size_argument(ring_bytes, "ring_bytes", out.ring_bytes)) return false;
  if (max_message_bytes != nullptr && max_message_bytes != Py_None &&
      !size_argument(max_message_bytes, "max_message_bytes", out.max_message_bytes)) {
    return false;
  }
  if (spin != nullptr && spin != Py_None) {
    double s;
    if (!seconds_argument(spin, "spin", 1.0, s)) return false;
    out.spin_budget = nanoseconds(static_cast<long long>(s * 1e9));
  }
  return guarded([&] {
    shmring::validate(out);
    return true;
  });
}

bool parse_timeout(PyObject* timeout, nanoseconds& out) {
  if (timeout == nullptr || timeout == Py_None || (PyFloat_Check(timeout) && std::isinf(PyFloat_AS_DOUBLE(timeout)) &&
                                                   PyFloat_AS_DOUBLE(timeout) > 0)) {
    out = nanoseconds{-1};
    return true;
  }
  double s;
  if (!seconds_argument(timeout, "timeout", kMaxTimeoutSeconds, s)) return false;
  out = nanoseconds(static_cast<long long>(s * 1e9));
  return true;
}

}  // namespace shmring::py

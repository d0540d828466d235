// Turning shmring outcomes into Python exceptions with sentences that say
// what happened and to which endpoint.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string>

#include "module_state.hpp"
#include "shmring/shmring.hpp"

namespace shmring::py {

// Sets the exception for a non-ok, non-would-block status of `operation`
// ("send", "receive", ...) on `endpoint` and returns nullptr.
PyObject* raise_status(ModuleState* st, Status status, const char* operation, PyObject* endpoint,
                       const std::string& reason);

// Sets an OSError (errno-specific subclass, e.g. FileNotFoundError) for a
// failed set-up call and returns nullptr.
PyObject* raise_setup_error(const shmring::Error& e);

// Runs `body`, converting C++ exceptions into Python ones; returns its result.
template <class F>
auto guarded(F body) -> decltype(body()) {
  try {
    return body();
  } catch (const shmring::Error& e) {
    raise_setup_error(e);
  } catch (const std::invalid_argument& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  } catch (const std::logic_error& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return decltype(body())();
}

}  // namespace shmring::py

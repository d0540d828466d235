// What a worker does inside its child's interpreter, with that interpreter's
// GIL held: call the actor's entry point (through the runner, if the Spawner
// names one) and get the interpreter ready to end. CPython's public C API
// only; the spawner imports no Python module of shmring's (the runner is a
// name the layer above hands in: SpawnerOptions::runner in spawner.hpp).
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace shmring::detail {

struct EntryCall {
  std::string_view runner;  // "" = call function(handle, args) directly
  std::string_view entry;   // "package.module:function"
  std::uint64_t handle;     // the child's endpoint, parked in the transport's handle table
  std::string_view args;
};

// sys.path[:0] = [p for p in paths if p not in sys.path]; false with a
// Python exception set if that failed.
bool prepend_sys_path(const std::vector<std::string>& paths);

// Calls the entry point; returns what it returned, as bytes (None gives b""),
// or nullptr with a Python exception set.
PyObject* call_entry(const EntryCall& call);

// The current exception as text (traceback.format_exception), and clears it.
std::string take_exception_text();

// Calls runner.<hook>(*args) if `runner` is imported in this interpreter and
// defines it; never imports, and drops any exception. `args` may be null.
void call_runner_hook(std::string_view runner, const char* hook, PyObject* args = nullptr);

// Before Py_EndInterpreter: CPython aborts the whole process ("not the last
// thread") if an interpreter ends while a thread it started still runs. Joins
// those threads within `seconds` in total; returns how many still run (-1 if
// the check itself failed: treat as running).
long join_own_threads(double seconds);

// threading knows the worker thread as a _DummyThread whose finalizer would
// run after the threading module is torn down (and print "Exception
// ignored"): drop that record while the module is still there.
void forget_dummy_thread();

}  // namespace shmring::detail

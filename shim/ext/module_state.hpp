// Per-interpreter state of shmring._core: its exception classes and heap
// types. Every interpreter that imports the module gets its own (PEP 684);
// nothing here is shared across interpreters.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "shmring/listener.hpp"

namespace shmring::py {

struct EndpointObject;

struct ModuleState {
  // Every live Endpoint object of this interpreter (an intrusive list, only
  // touched with this interpreter's GIL held), so an actor that cannot be
  // finalized can still abort its channels (abort_all_endpoints).
  EndpointObject* live_endpoints;
  PyObject* ChannelError;
  PyObject* ClosedError;
  PyObject* PeerClosedError;
  PyObject* AbortedError;
  PyObject* PeerDiedError;
  PyObject* CorruptError;
  PyObject* TooLargeError;
  PyObject* BusyError;
  PyTypeObject* EndpointType;
  PyTypeObject* ReceivedType;
  PyTypeObject* AssembledType;
  PyTypeObject* ListenerType;
  PyTypeObject* PendingType;
  PyTypeObject* ActorType;
  PyTypeObject* SpawnerType;
};

extern PyModuleDef module_def;

inline ModuleState* state_of_module(PyObject* module) {
  return static_cast<ModuleState*>(PyModule_GetState(module));
}

// The state of the module that defined `type` (found through the type, never
// through a global, so it is the right one in every interpreter).
inline ModuleState* state_of_type(PyTypeObject* type) {
  PyObject* module = PyType_GetModuleByDef(type, &module_def);
  return module ? state_of_module(module) : nullptr;
}

inline ModuleState* state_of(PyObject* self) { return state_of_type(Py_TYPE(self)); }

// Type specs and creators, defined next to each type.
PyObject* make_pending(ModuleState* st, PendingConnection pending);
int add_endpoint_types(PyObject* module, ModuleState* st);
int add_listener_types(PyObject* module, ModuleState* st);
int add_spawner_types(PyObject* module, ModuleState* st);
PyObject* spawner_counts(PyObject* module, PyObject* unused);

}  // namespace shmring::py

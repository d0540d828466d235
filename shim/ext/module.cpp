// shmring._core: the module. Multi-phase init, per-interpreter state, heap
// types, and Py_MOD_PER_INTERPRETER_GIL_SUPPORTED, so it imports inside
// isolated sub-interpreters (each with its own GIL) as well as the main one.
#include <optional>

#include "endpoint_object.hpp"
#include "errors.hpp"
#include "module_state.hpp"

namespace shmring::py {
namespace {

using std::chrono::nanoseconds;

// ==========================================================================
// Functions
// ==========================================================================

PyObject* pair(PyObject* module, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"ring_bytes", "max_message_bytes", "spin", nullptr};
  PyObject* ring = Py_None;
  PyObject* max_message = Py_None;
  PyObject* spin = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$OOO:pair", const_cast<char**>(keywords), &ring, &max_message, &spin)) {
    return nullptr;
  }
  ChannelOptions options;
  if (!parse_options(ring, max_message, spin, options)) return nullptr;
  std::optional<Pair> p;
  if (!guarded([&] {
        p = make_pair(options);
        return true;
      })) {
    return nullptr;
  }
  ModuleState* st = state_of_module(module);
  PyObject* a = wrap_endpoint(st, std::move(p->a));
  PyObject* b = a ? wrap_endpoint(st, std::move(p->b)) : nullptr;
  if (b == nullptr) {
    Py_XDECREF(a);
    return nullptr;
  }
  return Py_BuildValue("(NN)", a, b);
}

bool parse_connect(PyObject* args, PyObject* kwargs, const char* format, std::string& path, PyObject** timeout,
                   ChannelOptions& options) {
  static const char* keywords[] = {"path", "timeout", "ring_bytes", "max_message_bytes", "spin", nullptr};
  PyObject* path_obj;
  PyObject* ring = Py_None;
  PyObject* max_message = Py_None;
  PyObject* spin = Py_None;
  PyObject* timeout_dummy = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, format, const_cast<char**>(keywords), PyUnicode_FSConverter, &path_obj,
                                   timeout ? timeout : &timeout_dummy, &ring, &max_message, &spin)) {
    return false;
  }
  path.assign(PyBytes_AS_STRING(path_obj), static_cast<std::size_t>(PyBytes_GET_SIZE(path_obj)));
  Py_DECREF(path_obj);
  return parse_options(ring, max_message, spin, options);
}

PyObject* start_connect(PyObject* module, PyObject* args, PyObject* kwargs) {
  std::string path;
  ChannelOptions options;
  if (!parse_connect(args, kwargs, "O&|$OOOO:start_connect", path, nullptr, options)) return nullptr;
  std::optional<PendingConnection> pending;
  if (!guarded([&] {
        pending = PendingConnection::start(path, options);
        return true;
      })) {
    return nullptr;
  }
  return make_pending(state_of_module(module), std::move(*pending));
}

PyObject* connect(PyObject* module, PyObject* args, PyObject* kwargs) {
  std::string path;
  ChannelOptions options;
  PyObject* timeout_obj = Py_None;
  if (!parse_connect(args, kwargs, "O&|$OOOO:connect", path, &timeout_obj, options)) return nullptr;
  nanoseconds timeout = kDefaultHandshakeTimeout;
  if (timeout_obj != Py_None && !parse_timeout(timeout_obj, timeout)) return nullptr;
  std::optional<PendingConnection> pending;
  if (!guarded([&] {
        pending = PendingConnection::start(path, options);
        return true;
      })) {
    return nullptr;
  }
  const Deadline deadline = Deadline::after(timeout);  // None or inf: for ever
  for (;;) {
    std::optional<Endpoint> e;
    if (!guarded([&] {
          e = pending->try_finish();
          return true;
        })) {
      return nullptr;
    }
    if (e) return wrap_endpoint(state_of_module(module), std::move(*e));
    if (deadline.passed()) {
      return PyErr_Format(PyExc_TimeoutError, "connect to '%s': the listener did not answer the handshake in time", path.c_str());
    }
    if (wait_readable_released(pending->fileno(), deadline) < 0) return nullptr;
  }
}

PyObject* default_socket_dir(PyObject*, PyObject*) {
  std::string dir;
  if (!guarded([&] {
        dir = shmring::default_socket_dir();
        return true;
      })) {
    return nullptr;
  }
  return PyUnicode_DecodeFSDefault(dir.c_str());
}

PyObject* detached_count(PyObject*, PyObject*) { return PyLong_FromSize_t(parked_endpoints()); }

PyDoc_STRVAR(pair_doc,
             "pair(*, ring_bytes=None, max_message_bytes=None, spin=None)\n--\n\n"
             "Two connected endpoints in this process (no socket). ring_bytes: bytes per\n"
             "direction, a power of two (default 1 MiB); max_message_bytes (default 1 GiB);\n"
             "spin: seconds a blocking call spins before sleeping (default 20e-6).");
PyDoc_STRVAR(connect_doc,
             "connect(path, *, timeout=5.0, ring_bytes=None, max_message_bytes=None, spin=None)\n--\n\n"
             "Connect to the Listener at path and return side 0 of a new channel made with\n"
             "these options. Fails at once with FileNotFoundError or ConnectionRefusedError\n"
             "when nothing listens there; TimeoutError if the listener does not answer.");
PyDoc_STRVAR(start_connect_doc,
             "start_connect(path, *, ring_bytes=None, max_message_bytes=None, spin=None)\n--\n\n"
             "connect() for event loops: returns a PendingConnection at once.");

PyObject* abort_all(PyObject* module, PyObject* arg) {
  if (!PyUnicode_Check(arg)) {
    PyErr_Format(PyExc_TypeError, "reason must be a str, not %.100s", Py_TYPE(arg)->tp_name);
    return nullptr;
  }
  Py_ssize_t size = 0;
  const char* text = PyUnicode_AsUTF8AndSize(arg, &size);
  if (text == nullptr) return nullptr;
  return PyLong_FromSize_t(abort_all_endpoints(state_of_module(module), std::string_view(text, static_cast<std::size_t>(size))));
}

PyMethodDef module_methods[] = {
    {"_abort_all_endpoints", abort_all, METH_O,
     PyDoc_STR("_abort_all_endpoints(reason)\n--\n\nAborts every open endpoint of this interpreter; returns how many.\n"
               "Used when an actor's interpreter cannot be finalized.")},
    {"pair", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(pair)), METH_VARARGS | METH_KEYWORDS, pair_doc},
    {"connect", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(connect)), METH_VARARGS | METH_KEYWORDS, connect_doc},
    {"start_connect", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(start_connect)), METH_VARARGS | METH_KEYWORDS,
     start_connect_doc},
    {"default_socket_dir", default_socket_dir, METH_NOARGS,
     PyDoc_STR("default_socket_dir()\n--\n\nA private (0700) directory for sockets, created if missing.")},
    {"spawner_counts", spawner_counts, METH_NOARGS,
     PyDoc_STR("spawner_counts()\n--\n\nLive sub-interpreters, actor threads and abandoned actors in this process.")},
    {"detached_count", detached_count, METH_NOARGS,
     PyDoc_STR("detached_count()\n--\n\nEndpoints detached in this process and not attached yet.")},
    {nullptr, nullptr, 0, nullptr},
};

// ==========================================================================
// Module lifecycle
// ==========================================================================

int add_exception(PyObject* module, PyObject** slot, const char* name, const char* doc, PyObject* bases) {
  const std::string qualified = std::string("shmring._core.") + name;
  *slot = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (*slot == nullptr) return -1;
  return PyModule_AddObjectRef(module, name, *slot);
}

int add_exceptions(PyObject* module, ModuleState* st) {
  if (add_exception(module, &st->ChannelError, "ChannelError", "Base of every shmring channel error.", PyExc_Exception) < 0) {
    return -1;
  }
  struct Spec {
    PyObject** slot;
    const char* name;
    const char* doc;
    PyObject* extra_base;
  };
  const Spec specs[] = {
      {&st->ClosedError, "ClosedError", "This endpoint was closed (or detached) locally.", nullptr},
      {&st->PeerClosedError, "PeerClosedError",
       "The peer closed its side: when receiving, everything it sent was read (end of channel).", PyExc_EOFError},
      {&st->AbortedError, "AbortedError", "The channel was aborted by either side; the message says why.", nullptr},
      {&st->PeerDiedError, "PeerDiedError", "The peer process went away without closing.", nullptr},
      {&st->CorruptError, "CorruptError", "The peer wrote invalid data into shared memory; the message says what.", nullptr},
      {&st->TooLargeError, "TooLargeError", "The message exceeds the channel's maximum size; nothing was sent.",
       PyExc_ValueError},
      {&st->BusyError, "BusyError", "Another thread is already sending (or receiving) on this endpoint.", PyExc_RuntimeError},
  };
  for (const Spec& s : specs) {
    PyObject* bases = s.extra_base ? PyTuple_Pack(2, st->ChannelError, s.extra_base) : Py_NewRef(st->ChannelError);
    if (bases == nullptr) return -1;
    const int r = add_exception(module, s.slot, s.name, s.doc, bases);
    Py_DECREF(bases);
    if (r < 0) return -1;
  }
  return 0;
}

int exec_module(PyObject* module) {
  ModuleState* st = state_of_module(module);
  if (add_exceptions(module, st) < 0 || add_endpoint_types(module, st) < 0 || add_listener_types(module, st) < 0 ||
      add_spawner_types(module, st) < 0) {
    return -1;
  }
  return 0;
}

// Visits / clears every Python object the state holds; shared by traverse,
// clear and free.
template <class F>
void for_each_object(ModuleState* st, F f) {
  f(reinterpret_cast<PyObject**>(&st->ChannelError));
  f(&st->ClosedError);
  f(&st->PeerClosedError);
  f(&st->AbortedError);
  f(&st->PeerDiedError);
  f(&st->CorruptError);
  f(&st->TooLargeError);
  f(&st->BusyError);
  f(reinterpret_cast<PyObject**>(&st->EndpointType));
  f(reinterpret_cast<PyObject**>(&st->ReceivedType));
  f(reinterpret_cast<PyObject**>(&st->AssembledType));
  f(reinterpret_cast<PyObject**>(&st->ListenerType));
  f(reinterpret_cast<PyObject**>(&st->PendingType));
  f(reinterpret_cast<PyObject**>(&st->ActorType));
  f(reinterpret_cast<PyObject**>(&st->SpawnerType));
}

int traverse_module(PyObject* module, visitproc visit, void* arg) {
  int result = 0;
  for_each_object(state_of_module(module), [&](PyObject** p) {
    if (result == 0 && *p != nullptr) result = visit(*p, arg);
  });
  return result;
}

int clear_module(PyObject* module) {
  for_each_object(state_of_module(module), [](PyObject** p) { Py_CLEAR(*p); });
  return 0;
}

void free_module(void* module) { clear_module(static_cast<PyObject*>(module)); }

PyModuleDef_Slot module_slots[] = {
    {Py_mod_exec, reinterpret_cast<void*>(exec_module)},
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
    {0, nullptr},
};

}  // namespace

PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "shmring._core",
    "Shared-memory ring channels (the C++ transport) for Python.",
    sizeof(ModuleState),
    module_methods,
    module_slots,
    traverse_module,
    clear_module,
    free_module,
};

}  // namespace shmring::py

PyMODINIT_FUNC PyInit__core() { return PyModuleDef_Init(&shmring::py::module_def); }

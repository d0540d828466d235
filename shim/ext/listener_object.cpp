// shmring._core.Listener and shmring._core.PendingConnection.
#include <algorithm>
#include <optional>

#include "endpoint_object.hpp"
#include "errors.hpp"
#include "module_state.hpp"

namespace shmring::py {
namespace {

using std::chrono::nanoseconds;

// ==========================================================================
// Listener
// ==========================================================================

struct ListenerObject {
  PyObject_HEAD
  // Owned until dealloc, also after close(): another thread may be waiting on
  // its fileno(), which close() makes readable and keeps open.
  Listener* listener;
};

ListenerObject* as_listener(PyObject* op) { return reinterpret_cast<ListenerObject*>(op); }

Listener* open_listener(ListenerObject* self) {
  if (self->listener == nullptr || self->listener->closed()) {
    PyErr_Format(PyExc_OSError, "listener %R is closed", self);
    return nullptr;
  }
  return self->listener;
}

PyObject* Listener_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"path", "handshake_timeout", "ring_bytes", "max_message_bytes", "spin", nullptr};
  PyObject* path_obj;
  PyObject* handshake = Py_None;
  PyObject* ring = Py_None;
  PyObject* max_message = Py_None;
  PyObject* spin = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O&|$OOOO:Listener", const_cast<char**>(keywords), PyUnicode_FSConverter,
                                   &path_obj, &handshake, &ring, &max_message, &spin)) {
    return nullptr;
  }
  const std::string path(PyBytes_AS_STRING(path_obj), static_cast<std::size_t>(PyBytes_GET_SIZE(path_obj)));
  Py_DECREF(path_obj);
  ChannelOptions options;
  nanoseconds handshake_timeout = kDefaultHandshakeTimeout;
  if (!parse_options(ring, max_message, spin, options)) return nullptr;
  if (handshake != Py_None && !parse_timeout(handshake, handshake_timeout)) return nullptr;
  if (handshake_timeout.count() < 0) handshake_timeout = kDefaultHandshakeTimeout;
  auto* self = reinterpret_cast<ListenerObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->listener = guarded([&]() { return new Listener(path, options, handshake_timeout); });
  if (self->listener == nullptr) {
    Py_DECREF(self);
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(self);
}

PyObject* accept_result(PyObject* op, std::optional<Endpoint> endpoint) {
  if (!endpoint) Py_RETURN_NONE;
  return wrap_endpoint(state_of(op), std::move(*endpoint));
}

// One non-blocking accept; false with an exception set if the listener failed.
bool accept_once(Listener& l, std::optional<Endpoint>& out) {
  return guarded([&] {
    out = l.try_accept();
    return true;
  });
}

PyObject* Listener_try_accept(PyObject* op, PyObject*) {
  Listener* l = open_listener(as_listener(op));
  std::optional<Endpoint> e;
  if (l == nullptr || !accept_once(*l, e)) return nullptr;
  return accept_result(op, std::move(e));
}

PyObject* Listener_accept(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:accept", const_cast<char**>(keywords), &timeout_obj)) return nullptr;
  nanoseconds timeout;
  if (!parse_timeout(timeout_obj, timeout)) return nullptr;
  const Deadline deadline = Deadline::after(timeout);
  for (;;) {
    Listener* l = open_listener(as_listener(op));
    std::optional<Endpoint> e;
    if (l == nullptr || !accept_once(*l, e)) return nullptr;
    if (e) return accept_result(op, std::move(e));
    if (deadline.passed()) return PyErr_Format(PyExc_TimeoutError, "no peer connected to %R in time", op);
    // Also wake when a stalled handshake expires (try_accept drops it).
    if (wait_readable_released(l->fileno(), std::min(deadline, Deadline::after(l->next_expiry()))) < 0) return nullptr;
  }
}

PyObject* Listener_fileno(PyObject* op, PyObject*) {
  Listener* l = open_listener(as_listener(op));
  return l ? PyLong_FromLong(l->fileno()) : nullptr;
}

PyObject* Listener_close(PyObject* op, PyObject*) {
  auto* self = as_listener(op);
  // Stops listening and removes the socket path; a thread blocked in accept()
  // wakes (its fileno() turns readable) and raises "closed".
  if (self->listener != nullptr) self->listener->close();
  Py_RETURN_NONE;
}

PyObject* Listener_enter(PyObject* op, PyObject*) { return Py_NewRef(op); }
PyObject* Listener_exit(PyObject* op, PyObject*) {
  Listener_close(op, nullptr);
  Py_RETURN_FALSE;
}

PyObject* Listener_repr(PyObject* op) {
  auto* self = as_listener(op);
  if (self->listener == nullptr || self->listener->closed()) return PyUnicode_FromString("<shmring.Listener (closed)>");
  return PyUnicode_FromFormat("<shmring.Listener %s>", self->listener->path().c_str());
}

void Listener_dealloc(PyObject* op) {
  PyTypeObject* type = Py_TYPE(op);
  delete as_listener(op)->listener;
  type->tp_free(op);
  Py_DECREF(type);
}

PyObject* get_path(PyObject* op, void*) {
  Listener* l = open_listener(as_listener(op));
  return l ? PyUnicode_DecodeFSDefault(l->path().c_str()) : nullptr;
}
PyObject* get_refused(PyObject* op, void*) {
  Listener* l = open_listener(as_listener(op));
  return l ? PyLong_FromSize_t(l->refused_count()) : nullptr;
}
PyObject* get_last_refusal(PyObject* op, void*) {
  Listener* l = open_listener(as_listener(op));
  if (l == nullptr) return nullptr;
  const std::string text = l->last_refusal();  // may quote a peer's bytes
  return PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "backslashreplace");
}
PyObject* Listener_next_expiry(PyObject* op, PyObject*) {
  Listener* l = open_listener(as_listener(op));
  if (l == nullptr) return nullptr;
  const nanoseconds e = l->next_expiry();
  if (e.count() < 0) Py_RETURN_NONE;
  return PyFloat_FromDouble(static_cast<double>(e.count()) / 1e9);
}

PyObject* get_closed(PyObject* op, void*) {
  const Listener* l = as_listener(op)->listener;
  return PyBool_FromLong(l == nullptr || l->closed());
}

PyDoc_STRVAR(accept_doc,
             "accept(timeout=None)\n--\n\n"
             "Wait (GIL released) for a peer to connect and return its Endpoint.\n"
             "Raises TimeoutError if none completes the handshake in time.");
PyDoc_STRVAR(try_accept_doc, "try_accept()\n--\n\nReturn a connected Endpoint if one is ready, else None. Never blocks.");

PyMethodDef listener_methods[] = {
    {"accept", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Listener_accept)), METH_VARARGS | METH_KEYWORDS, accept_doc},
    {"try_accept", Listener_try_accept, METH_NOARGS, try_accept_doc},
    {"fileno", Listener_fileno, METH_NOARGS, PyDoc_STR("fileno()\n--\n\nReadable when try_accept() may make progress.")},
    {"next_expiry", Listener_next_expiry, METH_NOARGS,
     PyDoc_STR("next_expiry()\n--\n\nSeconds until a stalled handshake expires (call try_accept then), or None.")},
    {"close", Listener_close, METH_NOARGS, PyDoc_STR("close()\n--\n\nStop listening and remove the socket path.")},
    {"__enter__", Listener_enter, METH_NOARGS, nullptr},
    {"__exit__", Listener_exit, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef listener_getset[] = {
    {"path", get_path, nullptr, PyDoc_STR("The socket path."), nullptr},
    {"refused_count", get_refused, nullptr, PyDoc_STR("Peers refused so far (wrong uid, bad handshake)."), nullptr},
    {"last_refusal", get_last_refusal, nullptr, PyDoc_STR("Why the last peer was refused."), nullptr},
    {"closed", get_closed, nullptr, PyDoc_STR("True once close() was called."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot listener_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Listener_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Listener_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(Listener_repr)},
    {Py_tp_methods, listener_methods},
    {Py_tp_getset, listener_getset},
    {Py_tp_doc, const_cast<char*>("Listener(path, *, handshake_timeout=5.0, ring_bytes=None, max_message_bytes=None, spin=None)\n--\n\n"
                                  "Listen for shmring peers on a Unix socket. Its directory is created 0700\n"
                                  "if missing and must not be open to other users; peers of another uid are\n"
                                  "refused. Raises OSError subclasses naming the path.")},
    {0, nullptr},
};

PyType_Spec listener_spec = {"shmring._core.Listener", sizeof(ListenerObject), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE, listener_slots};

// ==========================================================================
// PendingConnection
// ==========================================================================

struct PendingObject {
  PyObject_HEAD
  PendingConnection* pending;  // owned; nullptr once finished
};

PendingObject* as_pending(PyObject* op) { return reinterpret_cast<PendingObject*>(op); }

PyObject* Pending_try_finish(PyObject* op, PyObject*) {
  auto* self = as_pending(op);
  if (self->pending == nullptr) return PyErr_Format(PyExc_OSError, "this connection attempt already finished");
  std::optional<Endpoint> e;
  const bool ok = guarded([&] {
    e = self->pending->try_finish();
    return true;
  });
  if (!ok || e) {
    delete self->pending;  // finished, one way or the other
    self->pending = nullptr;
  }
  if (!ok) return nullptr;
  if (!e) Py_RETURN_NONE;
  return wrap_endpoint(state_of(op), std::move(*e));
}

PyObject* Pending_fileno(PyObject* op, PyObject*) {
  auto* self = as_pending(op);
  if (self->pending == nullptr) return PyErr_Format(PyExc_OSError, "this connection attempt already finished");
  return PyLong_FromLong(self->pending->fileno());
}

void Pending_dealloc(PyObject* op) {
  PyTypeObject* type = Py_TYPE(op);
  delete as_pending(op)->pending;
  type->tp_free(op);
  Py_DECREF(type);
}

PyMethodDef pending_methods[] = {
    {"try_finish", Pending_try_finish, METH_NOARGS,
     PyDoc_STR("try_finish()\n--\n\nThe Endpoint once the listener accepted, None while it has not answered.\n"
               "Raises ConnectionRefusedError with the listener's reason if it refused.")},
    {"fileno", Pending_fileno, METH_NOARGS, PyDoc_STR("fileno()\n--\n\nReadable when the listener answered.")},
    {nullptr, nullptr, 0, nullptr},
};

PyType_Slot pending_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(Pending_dealloc)},
    {Py_tp_methods, pending_methods},
    {Py_tp_doc, const_cast<char*>("A connection in progress, for event loops (see start_connect).")},
    {0, nullptr},
};

PyType_Spec pending_spec = {"shmring._core.PendingConnection", sizeof(PendingObject), 0,
                            Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                            pending_slots};

}  // namespace

PyObject* make_pending(ModuleState* st, PendingConnection pending) {
  auto* self = PyObject_New(PendingObject, st->PendingType);
  if (self == nullptr) return nullptr;
  self->pending = new (std::nothrow) PendingConnection(std::move(pending));
  if (self->pending == nullptr) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  return reinterpret_cast<PyObject*>(self);
}

int add_listener_types(PyObject* module, ModuleState* st) {
  st->ListenerType = reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &listener_spec, nullptr));
  if (st->ListenerType == nullptr || PyModule_AddType(module, st->ListenerType) < 0) return -1;
  st->PendingType = reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &pending_spec, nullptr));
  if (st->PendingType == nullptr || PyModule_AddType(module, st->PendingType) < 0) return -1;
  return 0;
}

}  // namespace shmring::py

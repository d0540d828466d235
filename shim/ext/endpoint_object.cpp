// shmring._core.Endpoint and the zero-copy view type behind recv_view().
#include "endpoint_object.hpp"

#include <cmath>
#include <cstring>
#include <exception>
#include <new>
#include <vector>

#include "errors.hpp"

namespace shmring::py {
namespace {

using std::chrono::nanoseconds;

// ==========================================================================
// Helpers
// ==========================================================================

EndpointObject* as_endpoint(PyObject* op) { return reinterpret_cast<EndpointObject*>(op); }

// The C++ endpoint, or nullptr with ClosedError set if it was detached.
Endpoint* live(EndpointObject* self, const char* operation) {
  if (self->endpoint == nullptr) {
    PyErr_Format(state_of(reinterpret_cast<PyObject*>(self))->ClosedError,
                 "cannot %s on %R: it was detached to another interpreter", operation, self);
  }
  return self->endpoint;
}

// Refuses a second thread in the same direction (and receiving while a view
// of the last message is still held). Returns false with an exception set.
bool may_enter(EndpointObject* self, bool receiving, const char* operation) {
  ModuleState* st = state_of(reinterpret_cast<PyObject*>(self));
  if (receiving && self->view_held) {
    PyErr_Format(PyExc_BufferError, "cannot %s on %R: a view of the last received message is still held; release it first",
                 operation, self);
    return false;
  }
  if (receiving ? self->receiving : self->sending) {
    PyErr_Format(st->BusyError, "cannot %s on %R: another thread is already %s on it", operation, self,
                 receiving ? "receiving" : "sending");
    return false;
  }
  return true;
}

// Marks a direction busy for the duration of a call.
class BusyScope {
 public:
  explicit BusyScope(bool& flag) : flag_(flag) { flag_ = true; }
  ~BusyScope() { flag_ = false; }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  bool& flag_;
};

// Runs a blocking C++ call with the GIL released. A signal ends the C++ wait
// with Status::interrupted (set_return_on_signal); we then run the Python
// signal handlers with the GIL, and go on with the time left unless a handler
// raised (KeyboardInterrupt): then Status::interrupted with the exception set.
template <class Call>
Status run_released(nanoseconds timeout, Call call) {
  const Deadline deadline = Deadline::after(timeout);
  for (;;) {
    const nanoseconds left = deadline.remaining();  // negative: for ever, as `timeout` was
    Status st;
    Py_BEGIN_ALLOW_THREADS
    st = call(left);
    Py_END_ALLOW_THREADS
    if (st != Status::interrupted) return st;
    if (PyErr_CheckSignals() < 0) return Status::interrupted;
  }
}

PyObject* fail(EndpointObject* self, Status st, const char* operation) {
  if (st == Status::interrupted) return nullptr;  // the signal handler's exception is set
  PyObject* op = reinterpret_cast<PyObject*>(self);
  return raise_status(state_of(op), st, operation, op, self->endpoint ? self->endpoint->reason() : "");
}

// Waits (blocking, GIL released) for the next message and leaves it peeked.
Status peek_blocking(Endpoint* ep, std::span<const std::byte>& view, nanoseconds timeout) {
  Status st = ep->try_peek(view);
  if (st != Status::would_block) return st;
  if (timeout.count() == 0) return Status::timeout;
  return run_released(timeout, [&](nanoseconds left) { return left.count() < 0 ? ep->peek(view) : ep->peek_for(view, left); });
}

// ==========================================================================
// Received: the buffer exporter behind recv_view()
// ==========================================================================

struct ReceivedObject {
  PyObject_HEAD
  EndpointObject* owner;  // strong reference: keeps the mapping alive
  const std::byte* data;
  Py_ssize_t length;
  Py_ssize_t exports;
};

int Received_getbuffer(PyObject* op, Py_buffer* view, int flags) {
  auto* self = reinterpret_cast<ReceivedObject*>(op);
  if (self->owner == nullptr) {
    PyErr_SetString(PyExc_BufferError, "this received message was already released");
    return -1;
  }
  if (PyBuffer_FillInfo(view, op, const_cast<std::byte*>(self->data), self->length, /*readonly=*/1, flags) < 0) return -1;
  ++self->exports;
  self->owner->view_held = true;
  return 0;
}

void Received_releasebuffer(PyObject* op, Py_buffer*) {
  auto* self = reinterpret_cast<ReceivedObject*>(op);
  if (--self->exports > 0 || self->owner == nullptr) return;
  // The last view is gone: the frame may be reused by the writer now.
  EndpointObject* owner = self->owner;
  self->owner = nullptr;
  owner->view_held = false;
  if (owner->endpoint != nullptr) owner->endpoint->release();
  Py_DECREF(owner);
}

void Received_dealloc(PyObject* op) {
  auto* self = reinterpret_cast<ReceivedObject*>(op);
  PyTypeObject* type = Py_TYPE(op);
  // Never exported (the memoryview could not be made): the message stays
  // peeked, so the next receive returns it; nothing is lost.
  Py_CLEAR(self->owner);
  type->tp_free(op);
  Py_DECREF(type);
}

PyType_Slot received_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(Received_dealloc)},
    {Py_bf_getbuffer, reinterpret_cast<void*>(Received_getbuffer)},
    {Py_bf_releasebuffer, reinterpret_cast<void*>(Received_releasebuffer)},
    {Py_tp_doc, const_cast<char*>("A received message exported as a read-only buffer, in shared memory.")},
    {0, nullptr},
};

PyType_Spec received_spec = {
    "shmring._core.Received", sizeof(ReceivedObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, received_slots};

// Turns the peeked message into a memoryview valid until released.
PyObject* view_of_peeked(EndpointObject* self, std::span<const std::byte> view) {
  ModuleState* st = state_of(reinterpret_cast<PyObject*>(self));
  auto* rec = PyObject_New(ReceivedObject, st->ReceivedType);
  if (rec == nullptr) return nullptr;
  Py_INCREF(self);
  rec->owner = self;
  rec->data = view.data();
  rec->length = static_cast<Py_ssize_t>(view.size());
  rec->exports = 0;
  PyObject* mv = PyMemoryView_FromObject(reinterpret_cast<PyObject*>(rec));
  Py_DECREF(rec);
  return mv;
}

// A message reassembled from fragments, handed over by the endpoint without
// copying (try_recv(copy=False)); exported read-only, freed with the object.
struct AssembledObject {
  PyObject_HEAD
  std::vector<std::byte>* bytes;
  EndpointObject* owner;  // strong reference: the storage goes back to it when freed
};

int Assembled_getbuffer(PyObject* op, Py_buffer* view, int flags) {
  auto* self = reinterpret_cast<AssembledObject*>(op);
  return PyBuffer_FillInfo(view, op, self->bytes->data(), static_cast<Py_ssize_t>(self->bytes->size()),
                           /*readonly=*/1, flags);
}

// Storage kept for reuse up to this size; a rare huge message is not kept.
constexpr std::size_t kSpareAssemblyMax = std::size_t{64} << 20;

void Assembled_dealloc(PyObject* op) {
  auto* self = reinterpret_cast<AssembledObject*>(op);
  PyTypeObject* type = Py_TYPE(op);
  EndpointObject* owner = self->owner;
  if (owner != nullptr && self->bytes != nullptr && owner->spare_assembly == nullptr &&
      self->bytes->capacity() <= kSpareAssemblyMax) {
    self->bytes->clear();  // keeps its capacity
    owner->spare_assembly = self->bytes;
  } else {
    delete self->bytes;
  }
  Py_XDECREF(owner);
  type->tp_free(op);
  Py_DECREF(type);
}

PyType_Slot assembled_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(Assembled_dealloc)},
    {Py_bf_getbuffer, reinterpret_cast<void*>(Assembled_getbuffer)},
    {Py_tp_doc, const_cast<char*>("A received message reassembled from fragments, owned by this object.")},
    {0, nullptr},
};

PyType_Spec assembled_spec = {
    "shmring._core.Assembled", sizeof(AssembledObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, assembled_slots};

// The peeked message as a Python object, consumed. With copy=false a message
// reassembled from fragments (larger than one frame) moves into an Assembled
// buffer, returned as a read-only memoryview: no copy of a possibly large
// message. Everything else is copied into bytes. On failure the message stays
// peeked for the next call.
PyObject* take_peeked(EndpointObject* self, std::span<const std::byte> view, bool copy) {
  Endpoint* ep = self->endpoint;
  if (!copy && view.size() > ep->max_frame_payload()) {
    ModuleState* st = state_of(reinterpret_cast<PyObject*>(self));
    auto* assembled = PyObject_New(AssembledObject, st->AssembledType);
    if (assembled == nullptr) return nullptr;
    Py_INCREF(self);
    assembled->owner = self;
    // The message is peeked: try_recv swaps the reassembled bytes with the
    // vector given, so the endpoint's next reassembly gets the spare's pages.
    assembled->bytes = self->spare_assembly != nullptr ? self->spare_assembly : new (std::nothrow) std::vector<std::byte>();
    self->spare_assembly = nullptr;
    if (assembled->bytes == nullptr) {
      Py_DECREF(assembled);  // dealloc deletes nullptr: fine
      return PyErr_NoMemory();
    }
    const Status st_recv = ep->try_recv(*assembled->bytes);
    if (st_recv != Status::ok) {
      Py_DECREF(assembled);
      return fail(self, st_recv, "receive");
    }
    PyObject* mv = PyMemoryView_FromObject(reinterpret_cast<PyObject*>(assembled));
    Py_DECREF(assembled);
    return mv;
  }
  PyObject* bytes = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(view.data()), static_cast<Py_ssize_t>(view.size()));
  if (bytes != nullptr) ep->release();
  return bytes;
}

// ==========================================================================
// Endpoint methods
// ==========================================================================

PyObject* Endpoint_send(PyObject* op, PyObject* args, PyObject* kwargs) {
  auto* self = as_endpoint(op);
  static const char* keywords[] = {"data", "timeout", nullptr};
  Py_buffer buf;
  PyObject* timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*|O:send", const_cast<char**>(keywords), &buf, &timeout_obj)) return nullptr;
  struct Release {
    Py_buffer* b;
    ~Release() { PyBuffer_Release(b); }
  } release{&buf};
  nanoseconds timeout;
  Endpoint* ep = live(self, "send");
  if (ep == nullptr || !parse_timeout(timeout_obj, timeout) || !may_enter(self, false, "send")) return nullptr;
  BusyScope busy(self->sending);
  const std::span<const std::byte> message(static_cast<const std::byte*>(buf.buf), static_cast<std::size_t>(buf.len));
  // Small messages first try without giving up the GIL (cheaper when there
  // is room); large ones go straight to the blocking path, which writes all
  // fragments before returning.
  Status st = Status::would_block;
  if (message.size() <= ep->max_frame_payload()) st = ep->try_send(message);
  if (st == Status::would_block) {
    st = run_released(timeout, [&](nanoseconds left) {
      return left.count() < 0 ? ep->send(message) : ep->send_for(message, left);
    });
  }
  if (st != Status::ok) return fail(self, st, "send");
  Py_RETURN_NONE;
}

PyObject* Endpoint_flush(PyObject* op, PyObject* args, PyObject* kwargs) {
  auto* self = as_endpoint(op);
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:flush", const_cast<char**>(keywords), &timeout_obj)) return nullptr;
  nanoseconds timeout;
  Endpoint* ep = live(self, "flush");
  if (ep == nullptr || !parse_timeout(timeout_obj, timeout) || !may_enter(self, false, "flush")) return nullptr;
  BusyScope busy(self->sending);
  const Status st = run_released(timeout, [&](nanoseconds left) { return ep->flush_pending_for(left); });
  if (st != Status::ok) return fail(self, st, "flush");
  Py_RETURN_NONE;
}

PyObject* Endpoint_try_send(PyObject* op, PyObject* arg) {
  auto* self = as_endpoint(op);
  Py_buffer buf;
  if (PyObject_GetBuffer(arg, &buf, PyBUF_SIMPLE) < 0) return nullptr;
  struct Release {
    Py_buffer* b;
    ~Release() { PyBuffer_Release(b); }
  } release{&buf};
  Endpoint* ep = live(self, "send");
  if (ep == nullptr || !may_enter(self, false, "send")) return nullptr;
  const Status st = ep->try_send(std::span<const std::byte>(static_cast<const std::byte*>(buf.buf), static_cast<std::size_t>(buf.len)));
  if (st == Status::ok) Py_RETURN_TRUE;
  if (st == Status::would_block) Py_RETURN_FALSE;
  return fail(self, st, "send");
}

PyObject* Endpoint_try_flush(PyObject* op, PyObject*) {
  auto* self = as_endpoint(op);
  Endpoint* ep = live(self, "send");
  if (ep == nullptr || !may_enter(self, false, "send")) return nullptr;
  const Status st = ep->try_flush_pending();
  if (st == Status::ok) Py_RETURN_TRUE;
  if (st == Status::would_block) Py_RETURN_FALSE;
  return fail(self, st, "send");
}

// Shared by recv / recv_into / recv_view: waits for a message and leaves it
// peeked. Returns false with an exception set.
bool receive_peeked(EndpointObject* self, PyObject* timeout_obj, bool blocking, const char* operation,
                    std::span<const std::byte>& view, bool& got) {
  got = false;
  nanoseconds timeout{-1};
  Endpoint* ep = live(self, operation);
  if (ep == nullptr || (blocking && !parse_timeout(timeout_obj, timeout)) || !may_enter(self, true, operation)) return false;
  BusyScope busy(self->receiving);
  const Status st = blocking ? peek_blocking(ep, view, timeout) : ep->try_peek(view);
  if (st == Status::would_block && !blocking) return true;
  if (st != Status::ok) {
    fail(self, st, operation);
    return false;
  }
  got = true;
  return true;
}

PyObject* recv_impl(PyObject* op, PyObject* timeout_obj, bool blocking, bool copy = true) {
  auto* self = as_endpoint(op);
  std::span<const std::byte> view;
  bool got;
  if (!receive_peeked(self, timeout_obj, blocking, "receive", view, got)) return nullptr;
  if (!got) Py_RETURN_NONE;
  return take_peeked(self, view, copy);
}

PyObject* Endpoint_recv(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:recv", const_cast<char**>(keywords), &timeout_obj)) return nullptr;
  return recv_impl(op, timeout_obj, true);
}

// try_recv(spin=0.0, copy=True): with spin > 0, polls the ring for up to that
// many seconds with the GIL released before giving up (never parks).
PyObject* Endpoint_try_recv(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"spin", "copy", nullptr};
  PyObject* spin_obj = nullptr;
  int copy = 1;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|Op:try_recv", const_cast<char**>(keywords), &spin_obj, &copy)) return nullptr;
  double spin = 0.0;
  if (spin_obj != nullptr && !seconds_argument(spin_obj, "spin", 1.0, spin)) return nullptr;
  if (spin == 0.0) return recv_impl(op, Py_None, false, copy != 0);
  auto* self = as_endpoint(op);
  Endpoint* ep = live(self, "receive");
  if (ep == nullptr || !may_enter(self, true, "receive")) return nullptr;
  std::span<const std::byte> view;
  Status st = ep->try_peek(view);
  if (st == Status::would_block) {
    BusyScope busy(self->receiving);
    const Deadline end = Deadline::after(nanoseconds(static_cast<long long>(spin * 1e9)));
    Py_BEGIN_ALLOW_THREADS
    unsigned i = 0;
    // The clock is read once every 64 rounds (a read costs about 60 ns here).
    while ((st = ep->try_peek(view)) == Status::would_block && ((++i & 63) != 0 || !end.passed())) cpu_relax();
    Py_END_ALLOW_THREADS
  }
  if (st == Status::would_block) Py_RETURN_NONE;
  if (st != Status::ok) return fail(self, st, "receive");
  return take_peeked(self, view, copy != 0);
}

PyObject* Endpoint_recv_into(PyObject* op, PyObject* args, PyObject* kwargs) {
  auto* self = as_endpoint(op);
  static const char* keywords[] = {"buffer", "timeout", nullptr};
  Py_buffer buf;
  PyObject* timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "w*|O:recv_into", const_cast<char**>(keywords), &buf, &timeout_obj)) return nullptr;
  struct Release {
    Py_buffer* b;
    ~Release() { PyBuffer_Release(b); }
  } release{&buf};
  std::span<const std::byte> view;
  bool got;
  if (!receive_peeked(self, timeout_obj, true, "receive", view, got)) return nullptr;
  if (static_cast<Py_ssize_t>(view.size()) > buf.len) {
    return PyErr_Format(PyExc_ValueError, "the next message has %zd bytes but the buffer holds only %zd; it was not consumed",
                        static_cast<Py_ssize_t>(view.size()), buf.len);
  }
  if (!view.empty()) std::memcpy(buf.buf, view.data(), view.size());
  self->endpoint->release();
  return PyLong_FromSsize_t(static_cast<Py_ssize_t>(view.size()));
}

PyObject* recv_view_impl(PyObject* op, PyObject* timeout_obj, bool blocking) {
  auto* self = as_endpoint(op);
  std::span<const std::byte> view;
  bool got;
  if (!receive_peeked(self, timeout_obj, blocking, "receive", view, got)) return nullptr;
  if (!got) Py_RETURN_NONE;
  return view_of_peeked(self, view);
}

PyObject* Endpoint_recv_view(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:recv_view", const_cast<char**>(keywords), &timeout_obj)) return nullptr;
  return recv_view_impl(op, timeout_obj, true);
}

PyObject* Endpoint_try_recv_view(PyObject* op, PyObject*) { return recv_view_impl(op, Py_None, false); }

PyObject* Endpoint_close(PyObject* op, PyObject*) {
  if (Endpoint* ep = as_endpoint(op)->endpoint) ep->close();
  Py_RETURN_NONE;
}

PyObject* Endpoint_send_eof(PyObject* op, PyObject*) {
  Endpoint* ep = live(as_endpoint(op), "send_eof");
  if (ep == nullptr) return nullptr;
  ep->send_eof();
  Py_RETURN_NONE;
}

PyObject* Endpoint_abort(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"reason", nullptr};
  const char* reason = "";
  Py_ssize_t length = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|s#:abort", const_cast<char**>(keywords), &reason, &length)) return nullptr;
  Endpoint* ep = live(as_endpoint(op), "abort");
  if (ep == nullptr) return nullptr;
  ep->abort(std::string_view(reason, static_cast<std::size_t>(length)));
  Py_RETURN_NONE;
}

PyObject* Endpoint_fileno(PyObject* op, PyObject*) {
  Endpoint* ep = live(as_endpoint(op), "fileno");
  if (ep == nullptr) return nullptr;
  return guarded([&]() -> PyObject* { return PyLong_FromLong(ep->fileno()); });
}

PyObject* Endpoint_recv_fd(PyObject* op, PyObject*) {
  Endpoint* ep = live(as_endpoint(op), "recv_fd");
  return ep ? PyLong_FromLong(ep->recv_fd()) : nullptr;
}

PyObject* Endpoint_send_fd(PyObject* op, PyObject*) {
  Endpoint* ep = live(as_endpoint(op), "send_fd");
  return ep ? PyLong_FromLong(ep->send_fd()) : nullptr;
}

PyObject* Endpoint_prepare_recv_wait(PyObject* op, PyObject*) {
  auto* self = as_endpoint(op);
  Endpoint* ep = live(self, "wait");
  if (ep == nullptr || !may_enter(self, true, "wait to receive")) return nullptr;
  return PyBool_FromLong(ep->prepare_recv_wait());
}

PyObject* Endpoint_prepare_send_wait(PyObject* op, PyObject* arg) {
  auto* self = as_endpoint(op);
  const Py_ssize_t n = PyLong_AsSsize_t(arg);
  if (n == -1 && PyErr_Occurred()) return nullptr;
  if (n < 0) return PyErr_Format(PyExc_ValueError, "prepare_send_wait needs a byte count >= 0, not %zd", n);
  Endpoint* ep = live(self, "wait");
  if (ep == nullptr || !may_enter(self, false, "wait to send")) return nullptr;
  return PyBool_FromLong(ep->prepare_send_wait(static_cast<std::size_t>(n)));
}

PyObject* Endpoint_detach(PyObject* op, PyObject*) {
  auto* self = as_endpoint(op);
  if (live(self, "detach") == nullptr || !may_enter(self, true, "detach") || !may_enter(self, false, "detach")) return nullptr;
  Endpoint* ep = self->endpoint;
  self->endpoint = nullptr;
  const std::uint64_t handle = park_endpoint(std::move(*ep));
  delete ep;
  return PyLong_FromUnsignedLongLong(handle);
}

// The int handle detach() returned; false with TypeError otherwise.
bool handle_argument(PyObject* arg, const char* operation, unsigned long long& handle) {
  handle = PyBool_Check(arg) ? static_cast<unsigned long long>(-1) : PyLong_AsUnsignedLongLong(arg);
  if (handle == static_cast<unsigned long long>(-1) && (PyErr_Occurred() || PyBool_Check(arg))) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "%s() needs the non-negative int handle that detach() returned, not %R", operation, arg);
    return false;
  }
  return true;
}

PyObject* Endpoint_discard(PyObject*, PyObject* arg) {
  unsigned long long handle;
  if (!handle_argument(arg, "discard", handle)) return nullptr;
  return PyBool_FromLong(discard_endpoint(handle));
}

PyObject* Endpoint_attach(PyObject* cls, PyObject* arg) {
  unsigned long long handle;
  if (!handle_argument(arg, "attach", handle)) return nullptr;
  std::optional<Endpoint> ep = claim_endpoint(handle);
  if (!ep) return PyErr_Format(PyExc_ValueError, "no detached endpoint has handle %llu (unknown, or already attached)", handle);
  return wrap_endpoint(state_of_type(reinterpret_cast<PyTypeObject*>(cls)), std::move(*ep));
}

PyObject* Endpoint_enter(PyObject* op, PyObject*) { return Py_NewRef(op); }

PyObject* Endpoint_exit(PyObject* op, PyObject*) {
  if (Endpoint* ep = as_endpoint(op)->endpoint) ep->close();
  Py_RETURN_FALSE;
}

PyObject* Endpoint_repr(PyObject* op) {
  auto* self = as_endpoint(op);
  if (self->endpoint == nullptr) return PyUnicode_FromString("<shmring.Endpoint (detached)>");
  const std::string state(to_string(self->endpoint->state()));
  return PyUnicode_FromFormat("<shmring.Endpoint side %c, %s, peer pid %d>", self->endpoint->side() == 0 ? 'A' : 'B',
                              state.c_str(), static_cast<int>(self->endpoint->peer_pid()));
}

void Endpoint_dealloc(PyObject* op) {
  auto* self = as_endpoint(op);
  PyTypeObject* type = Py_TYPE(op);
  if (self->live_head != nullptr) {  // unlink from the module's list
    if (self->live_prev != nullptr) {
      self->live_prev->live_next = self->live_next;
    } else {
      *self->live_head = self->live_next;
    }
    if (self->live_next != nullptr) self->live_next->live_prev = self->live_prev;
  }
  delete self->endpoint;  // closes it gracefully if still open
  delete self->spare_assembly;
  type->tp_free(op);
  Py_DECREF(type);
}

// --- properties ------------------------------------------------------------

PyObject* get_state(PyObject* op, void*) {
  auto* self = as_endpoint(op);
  if (self->endpoint == nullptr) return PyUnicode_FromString("detached");
  const std::string s(to_string(self->endpoint->state()));
  return PyUnicode_FromString(s.c_str());
}

PyObject* get_reason(PyObject* op, void*) {
  auto* self = as_endpoint(op);
  if (self->endpoint == nullptr) return PyUnicode_FromString("");
  const std::string r = self->endpoint->reason();
  // "replace": the text comes from the peer (any process of this user).
  return PyUnicode_DecodeUTF8(r.data(), static_cast<Py_ssize_t>(r.size()), "replace");
}

template <class F>
PyObject* fact(PyObject* op, const char* name, F f) {
  Endpoint* ep = live(as_endpoint(op), name);
  return ep ? f(*ep) : nullptr;
}

PyObject* get_side(PyObject* op, void*) { return fact(op, "side", [](Endpoint& e) { return PyLong_FromLong(e.side()); }); }
PyObject* get_peer_pid(PyObject* op, void*) {
  return fact(op, "peer_pid", [](Endpoint& e) { return PyLong_FromLong(e.peer_pid()); });
}
PyObject* get_ring_bytes(PyObject* op, void*) {
  return fact(op, "ring_bytes", [](Endpoint& e) { return PyLong_FromSize_t(e.options().ring_bytes); });
}
PyObject* get_max_message_bytes(PyObject* op, void*) {
  return fact(op, "max_message_bytes", [](Endpoint& e) { return PyLong_FromSize_t(e.options().max_message_bytes); });
}
PyObject* get_max_frame_payload(PyObject* op, void*) {
  return fact(op, "max_frame_payload", [](Endpoint& e) { return PyLong_FromSize_t(e.max_frame_payload()); });
}
PyObject* get_has_pending_send(PyObject* op, void*) {
  auto* self = as_endpoint(op);
  return PyBool_FromLong(self->endpoint != nullptr && self->endpoint->has_pending_send());
}

// ==========================================================================
// Type
// ==========================================================================

PyDoc_STRVAR(send_doc,
             "send(data, /, timeout=None)\n--\n\n"
             "Send one message (any bytes-like object), waiting for room if needed.\n\n"
             "Releases the GIL while it waits; Ctrl-C ends the wait with KeyboardInterrupt.\n"
             "Returning means the message is accepted; TimeoutError means none of it went out (so\n"
             "sending it again is right). A message larger than the ring that has begun when the\n"
             "time runs out is accepted with its rest queued (has_pending_send): the next send()\n"
             "or flush() sends it first. close() with a rest still queued aborts the channel, so\n"
             "the peer never takes a torn message for a whole one: flush() first.\n"
             "Raises TooLargeError (nothing sent), TimeoutError, ClosedError, PeerClosedError,\n"
             "AbortedError, PeerDiedError, CorruptError, BusyError.");
PyDoc_STRVAR(try_send_doc,
             "try_send(data, /)\n--\n\n"
             "Send one message if it fits now: True if sent, False if the ring is full\n"
             "(nothing sent). A message larger than the ring is accepted once its first\n"
             "fragment fits; the rest goes out with the next send or try_flush().");
PyDoc_STRVAR(flush_doc,
             "flush(timeout=None)\n--\n\n"
             "Send the queued rest of a large message (a send() whose time ran out midway, or\n"
             "try_send), waiting at most `timeout` (GIL released). Returns at once if nothing is.");
PyDoc_STRVAR(try_flush_doc,
             "try_flush()\n--\n\n"
             "Send what is pending of a large message without waiting; True when nothing is left.");
PyDoc_STRVAR(recv_doc,
             "recv(timeout=None)\n--\n\n"
             "Receive one whole message as bytes, waiting as needed (GIL released).\n\n"
             "Raises PeerClosedError when the peer closed and everything it sent was read,\n"
             "TimeoutError, and the other ChannelError subclasses.");
PyDoc_STRVAR(try_recv_doc,
             "try_recv(spin=0.0, copy=True)\n--\n\n"
             "Receive one message as bytes if one is there, else None. With spin > 0,\n"
             "poll for up to that many seconds first (GIL released; never sleeps).\n"
             "With copy=False, a message reassembled from fragments (larger than one\n"
             "frame) comes back as a read-only memoryview of memory it owns, not copied\n"
             "again into bytes; smaller messages are bytes either way.");
PyDoc_STRVAR(recv_into_doc,
             "recv_into(buffer, timeout=None)\n--\n\n"
             "Receive one message into a writable buffer and return its length. If the\n"
             "message does not fit, raise ValueError and leave it unconsumed.");
PyDoc_STRVAR(recv_view_doc,
             "recv_view(timeout=None)\n--\n\n"
             "Receive one message as a read-only memoryview of shared memory (no copy).\n\n"
             "The view is valid until released (view.release(), a with-block, or garbage\n"
             "collection); until then the ring keeps the message, and receiving again\n"
             "raises BufferError.");
PyDoc_STRVAR(try_recv_view_doc, "try_recv_view()\n--\n\nLike recv_view(), but None if no message is there.");
PyDoc_STRVAR(close_doc,
             "close()\n--\n\n"
             "Close gracefully: the peer reads everything sent before, then end-of-channel;\n"
             "this side neither sends nor receives any more. Idempotent.");
PyDoc_STRVAR(send_eof_doc, "send_eof()\n--\n\nHalf-close: send no more; the peer gets end-of-channel after the last message.");
PyDoc_STRVAR(abort_doc,
             "abort(reason='')\n--\n\n"
             "Abort the channel for both sides: every blocked call on either side ends at\n"
             "once with AbortedError; messages in flight are dropped. The first reason wins.");
PyDoc_STRVAR(fileno_doc, "fileno()\n--\n\nA descriptor that polls readable when data, room, state or the peer changed.");
PyDoc_STRVAR(recv_fd_doc, "recv_fd()\n--\n\nThe descriptor a parked receive waits on (see prepare_recv_wait).");
PyDoc_STRVAR(send_fd_doc, "send_fd()\n--\n\nThe descriptor a parked send waits on (see prepare_send_wait).");
PyDoc_STRVAR(prepare_recv_wait_doc,
             "prepare_recv_wait()\n--\n\n"
             "For event loops: announce that the receiver will wait on recv_fd(). Returns\n"
             "True if it should wait now, False if something is ready (call try_recv again).");
PyDoc_STRVAR(prepare_send_wait_doc,
             "prepare_send_wait(nbytes, /)\n--\n\n"
             "For event loops: announce that the sender will wait on send_fd() for room for\n"
             "nbytes. True if it should wait, False if it should try again now.");
PyDoc_STRVAR(detach_doc,
             "detach()\n--\n\n"
             "Hand the endpoint over: returns an int handle that Endpoint.attach() claims\n"
             "once, in any interpreter of this process. This object becomes unusable. Until it\n"
             "is attached (or Endpoint.discard(handle)), the handle holds the endpoint's fds.");
PyDoc_STRVAR(attach_doc, "attach(handle, /)\n--\n\nClaim an endpoint that detach() handed over (once).");
PyDoc_STRVAR(discard_doc,
             "discard(handle, /)\n--\n\n"
             "Close an endpoint that detach() handed over and nobody attached (its fds are held\n"
             "until then). True if it was there; False if unknown or already attached.");

PyMethodDef endpoint_methods[] = {
    {"send", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Endpoint_send)), METH_VARARGS | METH_KEYWORDS, send_doc},
    {"try_send", Endpoint_try_send, METH_O, try_send_doc},
    {"try_flush", Endpoint_try_flush, METH_NOARGS, try_flush_doc},
    {"flush", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Endpoint_flush)), METH_VARARGS | METH_KEYWORDS, flush_doc},
    {"recv", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Endpoint_recv)), METH_VARARGS | METH_KEYWORDS, recv_doc},
    {"try_recv", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Endpoint_try_recv)), METH_VARARGS | METH_KEYWORDS,
     try_recv_doc},
    {"recv_into", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Endpoint_recv_into)), METH_VARARGS | METH_KEYWORDS,
     recv_into_doc},
    {"recv_view", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Endpoint_recv_view)), METH_VARARGS | METH_KEYWORDS,
     recv_view_doc},
    {"try_recv_view", Endpoint_try_recv_view, METH_NOARGS, try_recv_view_doc},
    {"close", Endpoint_close, METH_NOARGS, close_doc},
    {"send_eof", Endpoint_send_eof, METH_NOARGS, send_eof_doc},
    {"abort", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Endpoint_abort)), METH_VARARGS | METH_KEYWORDS, abort_doc},
    {"fileno", Endpoint_fileno, METH_NOARGS, fileno_doc},
    {"recv_fd", Endpoint_recv_fd, METH_NOARGS, recv_fd_doc},
    {"send_fd", Endpoint_send_fd, METH_NOARGS, send_fd_doc},
    {"prepare_recv_wait", Endpoint_prepare_recv_wait, METH_NOARGS, prepare_recv_wait_doc},
    {"prepare_send_wait", Endpoint_prepare_send_wait, METH_O, prepare_send_wait_doc},
    {"detach", Endpoint_detach, METH_NOARGS, detach_doc},
    {"attach", Endpoint_attach, METH_O | METH_CLASS, attach_doc},
    {"discard", Endpoint_discard, METH_O | METH_CLASS, discard_doc},
    {"__enter__", Endpoint_enter, METH_NOARGS, nullptr},
    {"__exit__", Endpoint_exit, METH_VARARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef endpoint_getset[] = {
    {"state", get_state, nullptr,
     PyDoc_STR("'open', 'send-closed', 'peer-closed', 'closed', 'aborted', 'peer-died', 'corrupt' or 'detached'."), nullptr},
    {"reason", get_reason, nullptr, PyDoc_STR("Why the endpoint is aborted or corrupt; '' otherwise."), nullptr},
    {"side", get_side, nullptr, PyDoc_STR("0 for the side that created the channel, 1 for the other."), nullptr},
    {"peer_pid", get_peer_pid, nullptr, PyDoc_STR("The peer's pid as the kernel reported it (our own pid in-process)."), nullptr},
    {"ring_bytes", get_ring_bytes, nullptr, PyDoc_STR("Bytes of each direction's ring."), nullptr},
    {"max_message_bytes", get_max_message_bytes, nullptr, PyDoc_STR("Largest message the channel carries."), nullptr},
    {"max_frame_payload", get_max_frame_payload, nullptr,
     PyDoc_STR("Largest message that travels as one frame (zero-copy, never fragmented)."), nullptr},
    {"has_pending_send", get_has_pending_send, nullptr,
     PyDoc_STR("True while the rest of a large message waits to be sent (see try_flush)."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot endpoint_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(Endpoint_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(Endpoint_repr)},
    {Py_tp_methods, endpoint_methods},
    {Py_tp_getset, endpoint_getset},
    {Py_tp_doc, const_cast<char*>("One side of a shmring channel. Make them with pair(), connect() or Listener.accept().")},
    {0, nullptr},
};

PyType_Spec endpoint_spec = {"shmring._core.Endpoint", sizeof(EndpointObject), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, endpoint_slots};

}  // namespace

// ==========================================================================
// Shared helpers
// ==========================================================================

PyObject* wrap_endpoint(ModuleState* st, Endpoint endpoint) {
  if (st == nullptr) return nullptr;
  auto* self = PyObject_New(EndpointObject, st->EndpointType);
  if (self == nullptr) return nullptr;
  self->live_prev = self->live_next = nullptr;
  self->live_head = nullptr;
  self->spare_assembly = nullptr;
  self->endpoint = new (std::nothrow) Endpoint(std::move(endpoint));
  self->sending = self->receiving = self->view_held = false;
  if (self->endpoint == nullptr) {
    Py_DECREF(self);
    return PyErr_NoMemory();
  }
  self->endpoint->set_return_on_signal(true);
  self->live_prev = nullptr;
  self->live_next = st->live_endpoints;
  self->live_head = &st->live_endpoints;
  if (st->live_endpoints != nullptr) st->live_endpoints->live_prev = self;
  st->live_endpoints = self;
  return reinterpret_cast<PyObject*>(self);
}

std::size_t abort_all_endpoints(ModuleState* st, std::string_view reason) {
  std::size_t n = 0;
  for (EndpointObject* e = st->live_endpoints; e != nullptr; e = e->live_next) {
    if (e->endpoint == nullptr) continue;
    const EndpointState state = e->endpoint->state();
    if (state == EndpointState::closed || state == EndpointState::aborted || state == EndpointState::peer_died ||
        state == EndpointState::corrupt) {
      continue;
    }
    e->endpoint->abort(reason);
    ++n;
  }
  return n;
}

int wait_readable_released(int fd, Deadline deadline) {
  for (;;) {
    WaitOutcome outcome = WaitOutcome::ready;
    std::exception_ptr failed;  // raised once the GIL is back
    Py_BEGIN_ALLOW_THREADS
    try {
      // A signal ends the wait so that its Python handler runs now (Ctrl-C).
      outcome = shmring::wait_readable(fd, deadline, OnSignal::return_interrupted);
    } catch (...) {
      failed = std::current_exception();
    }
    Py_END_ALLOW_THREADS
    if (failed) {
      guarded([&] {
        std::rethrow_exception(failed);
        return 0;
      });
      return -1;
    }
    if (outcome == WaitOutcome::ready) return 1;
    if (outcome == WaitOutcome::timed_out) return 0;
    if (PyErr_CheckSignals() < 0) return -1;  // a handler raised; else wait on until the same deadline
  }
}

int add_endpoint_types(PyObject* module, ModuleState* st) {
  st->EndpointType = reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &endpoint_spec, nullptr));
  if (st->EndpointType == nullptr || PyModule_AddType(module, st->EndpointType) < 0) return -1;
  st->ReceivedType = reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &received_spec, nullptr));
  if (st->ReceivedType == nullptr || PyModule_AddType(module, st->ReceivedType) < 0) return -1;
  st->AssembledType = reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &assembled_spec, nullptr));
  if (st->AssembledType == nullptr || PyModule_AddType(module, st->AssembledType) < 0) return -1;
  return 0;
}

}  // namespace shmring::py

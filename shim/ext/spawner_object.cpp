// shmring._core.Spawner and shmring._core.Actor: the C++ spawner for Python.
// Every call that waits releases the GIL: a legacy (shared-GIL) child, and
// the kill step that raises SystemExit in a child, need it.
#include <optional>

#include "endpoint_object.hpp"
#include "errors.hpp"
#include "module_state.hpp"
#include "shmring/spawner.hpp"

namespace shmring::py {
namespace {

using std::chrono::nanoseconds;

// ==========================================================================
// Actor
// ==========================================================================

struct ActorObject {
  PyObject_HEAD
  Actor* actor;  // owned
};

Actor& actor_of(PyObject* op) { return *reinterpret_cast<ActorObject*>(op)->actor; }

PyObject* Actor_join(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  PyObject* timeout_obj = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|O:join", const_cast<char**>(keywords), &timeout_obj)) return nullptr;
  nanoseconds timeout;
  if (!parse_timeout(timeout_obj, timeout)) return nullptr;
  bool ended;
  Py_BEGIN_ALLOW_THREADS
  ended = actor_of(op).join(timeout);
  Py_END_ALLOW_THREADS
  return PyBool_FromLong(ended);
}

PyObject* Actor_kill(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"grace", nullptr};
  double grace = 1.0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|d:kill", const_cast<char**>(keywords), &grace)) return nullptr;
  if (!(grace >= 0 && grace <= 3600)) return PyErr_Format(PyExc_ValueError, "grace must be 0 to 3600 seconds, not %R", PyTuple_GET_ITEM(args, 0));
  KillStep step;
  Py_BEGIN_ALLOW_THREADS
  step = actor_of(op).kill(nanoseconds(static_cast<long long>(grace * 1e9)));
  Py_END_ALLOW_THREADS
  const std::string s(to_string(step));
  return PyUnicode_FromString(s.c_str());
}

PyObject* Actor_terminate(PyObject* op, PyObject*) {
  Py_BEGIN_ALLOW_THREADS
  actor_of(op).terminate();
  Py_END_ALLOW_THREADS
  Py_RETURN_NONE;
}

PyObject* Actor_take_channel(PyObject* op, PyObject*) {
  Endpoint& ep = actor_of(op).channel();
  if (!ep) return PyErr_Format(PyExc_ValueError, "the channel of actor '%s' was already taken", actor_of(op).name().c_str());
  return wrap_endpoint(state_of(op), std::move(ep));
}

PyObject* Actor_ended_fd(PyObject* op, PyObject*) { return PyLong_FromLong(actor_of(op).ended_fd()); }

PyObject* Actor_get_state(PyObject* op, void*) {
  const std::string s(to_string(actor_of(op).state()));
  return PyUnicode_FromString(s.c_str());
}
PyObject* Actor_get_name(PyObject* op, void*) { return PyUnicode_FromString(actor_of(op).name().c_str()); }
PyObject* Actor_get_id(PyObject* op, void*) { return PyLong_FromUnsignedLongLong(actor_of(op).id()); }
PyObject* Actor_get_result(PyObject* op, void*) {
  const std::string r = actor_of(op).result();
  return PyBytes_FromStringAndSize(r.data(), static_cast<Py_ssize_t>(r.size()));
}
PyObject* Actor_get_error(PyObject* op, void*) {
  const std::string e = actor_of(op).error();
  return PyUnicode_DecodeUTF8(e.data(), static_cast<Py_ssize_t>(e.size()), "replace");
}
PyObject* Actor_get_startup(PyObject* op, void*) { return PyFloat_FromDouble(actor_of(op).startup_seconds()); }

PyObject* Actor_repr(PyObject* op) {
  const std::string state(to_string(actor_of(op).state()));
  return PyUnicode_FromFormat("<shmring.Actor '%s' %s>", actor_of(op).name().c_str(), state.c_str());
}

void Actor_dealloc(PyObject* op) {
  PyTypeObject* type = Py_TYPE(op);
  delete reinterpret_cast<ActorObject*>(op)->actor;
  type->tp_free(op);
  Py_DECREF(type);
}

PyMethodDef actor_methods[] = {
    {"join", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Actor_join)), METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("join(timeout=None)\n--\n\nWait (GIL released) until the actor ended or was abandoned; False on timeout.")},
    {"kill", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Actor_kill)), METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("kill(grace=1.0)\n--\n\nEnd the actor: abort its channel, raise SystemExit in its thread, wait up to\n"
               "grace seconds, else abandon it. Returns the step that ended it: 'already-ended',\n"
               "'channel-abort', 'async-exception' or 'abandoned'. Never blocks longer than grace.")},
    {"terminate", Actor_terminate, METH_NOARGS,
     PyDoc_STR("terminate()\n--\n\nStart a kill without waiting (abort the channel, raise SystemExit).")},
    {"take_channel", Actor_take_channel, METH_NOARGS,
     PyDoc_STR("take_channel()\n--\n\nThe parent's Endpoint of the actor's channel (once).")},
    {"ended_fd", Actor_ended_fd, METH_NOARGS, PyDoc_STR("ended_fd()\n--\n\nA descriptor readable once the actor ended.")},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef actor_getset[] = {
    {"state", Actor_get_state, nullptr,
     PyDoc_STR("'starting', 'running', 'exited', 'failed', 'killed' or 'abandoned'."), nullptr},
    {"name", Actor_get_name, nullptr, PyDoc_STR("The actor's (thread's) name."), nullptr},
    {"id", Actor_get_id, nullptr, PyDoc_STR("A number unique in this process."), nullptr},
    {"result", Actor_get_result, nullptr, PyDoc_STR("The bytes the entry point returned (once exited)."), nullptr},
    {"error", Actor_get_error, nullptr, PyDoc_STR("The child's traceback (failed) or what the kill did."), nullptr},
    {"startup_seconds", Actor_get_startup, nullptr,
     PyDoc_STR("Seconds from spawn until the entry point was called (-1 before)."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot actor_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(Actor_dealloc)},
    {Py_tp_repr, reinterpret_cast<void*>(Actor_repr)},
    {Py_tp_methods, actor_methods},
    {Py_tp_getset, actor_getset},
    {Py_tp_doc, const_cast<char*>("An actor running in a sub-interpreter on its own thread (see Spawner.spawn).")},
    {0, nullptr},
};

PyType_Spec actor_spec = {"shmring._core.Actor", sizeof(ActorObject), 0,
                          Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE | Py_TPFLAGS_DISALLOW_INSTANTIATION, actor_slots};

// ==========================================================================
// Spawner
// ==========================================================================

struct SpawnerObject {
  PyObject_HEAD
  Spawner* spawner;  // owned
};

Spawner* spawner_of(PyObject* op) { return reinterpret_cast<SpawnerObject*>(op)->spawner; }

bool parse_config(PyObject* value, InterpreterConfig& out) {
  if (value == nullptr || value == Py_None) return true;
  const char* s = PyUnicode_Check(value) ? PyUnicode_AsUTF8(value) : nullptr;
  if (s != nullptr && std::string_view(s) == "isolated") {
    out = InterpreterConfig::isolated;
  } else if (s != nullptr && std::string_view(s) == "legacy") {
    out = InterpreterConfig::legacy;
  } else {
    PyErr_Format(PyExc_ValueError, "config must be 'isolated' or 'legacy', not %R", value);
    return false;
  }
  return true;
}

// A sequence of module names into `out`; false with an exception set.
bool parse_module_names(PyObject* names, const char* what, std::vector<std::string>& out) {
  if (names == nullptr || names == Py_None) return true;
  if (PyUnicode_Check(names)) {
    PyErr_Format(PyExc_TypeError, "%s must be a sequence of module names, not one str", what);
    return false;
  }
  PyObject* seq = PySequence_Fast(names, "a sequence of module names is needed");
  if (seq == nullptr) return false;
  for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); ++i) {
    PyObject* item = PySequence_Fast_GET_ITEM(seq, i);
    const char* name = PyUnicode_Check(item) ? PyUnicode_AsUTF8(item) : nullptr;
    if (name == nullptr) {
      Py_DECREF(seq);
      PyErr_Format(PyExc_TypeError, "%s must hold module names (str), not %.100s", what, Py_TYPE(item)->tp_name);
      return false;
    }
    out.emplace_back(name);
  }
  Py_DECREF(seq);
  return true;
}

// This interpreter's sys.path (its str entries, as file-system bytes).
std::vector<std::string> parent_sys_path() {
  std::vector<std::string> out;
  if (PyObject* path = PySys_GetObject("path"); path != nullptr && PyList_Check(path)) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(path); ++i) {
      PyObject* item = PyList_GET_ITEM(path, i);
      if (!PyUnicode_Check(item)) continue;
      PyObject* encoded = PyUnicode_EncodeFSDefault(item);
      if (encoded == nullptr) {
        PyErr_Clear();
        continue;
      }
      out.emplace_back(PyBytes_AS_STRING(encoded), static_cast<std::size_t>(PyBytes_GET_SIZE(encoded)));
      Py_DECREF(encoded);
    }
  }
  return out;
}

PyObject* Spawner_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"pool_size", "preload", "config", "concurrent_preparations", "try_preload", nullptr};
  Py_ssize_t pool_size = 0;
  Py_ssize_t at_once = 1;
  PyObject* preload = nullptr;
  PyObject* config = nullptr;
  PyObject* try_preload = nullptr;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$nOOnO:Spawner", const_cast<char**>(keywords), &pool_size, &preload,
                                   &config, &at_once, &try_preload)) {
    return nullptr;
  }
  if (pool_size < 0 || pool_size > 1024) return PyErr_Format(PyExc_ValueError, "pool_size must be 0 to 1024, not %zd", pool_size);
  if (at_once < 1 || at_once > 1024) {
    return PyErr_Format(PyExc_ValueError, "concurrent_preparations must be 1 to 1024, not %zd", at_once);
  }
  // The children's entry points get a shmring._core.Endpoint: shmring._actor
  // attaches the channel the spawner parked for them.
  SpawnerOptions options{.runner = "shmring._actor", .pool = {}};
  PoolOptions& pool = options.pool;
  pool.size = static_cast<std::size_t>(pool_size);
  pool.concurrent_preparations = static_cast<std::size_t>(at_once);
  pool.sys_path = parent_sys_path();  // a warm interpreter finds its imports where the parent does
  if (!parse_config(config, pool.config) || !parse_module_names(preload, "preload", pool.preload) ||
      !parse_module_names(try_preload, "try_preload", pool.try_preload)) {
    return nullptr;
  }
  auto* self = reinterpret_cast<SpawnerObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->spawner = guarded([&] { return new Spawner(std::move(options)); });
  if (self->spawner == nullptr) {
    Py_DECREF(self);
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(self);
}

PyObject* Spawner_spawn(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"entry", "args", "config", "name", "ring_bytes", "max_message_bytes", "spin", "preload",
                                   nullptr};
  const char* entry;
  Py_buffer buf{};
  PyObject* config = nullptr;
  PyObject* preload = nullptr;
  const char* name = nullptr;
  PyObject* ring = Py_None;
  PyObject* max_message = Py_None;
  PyObject* spin = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|y*$OzOOOO:spawn", const_cast<char**>(keywords), &entry, &buf, &config, &name,
                                   &ring, &max_message, &spin, &preload)) {
    return nullptr;
  }
  SpawnRequest req;
  req.entry = entry;
  if (buf.buf != nullptr) {
    req.args.assign(static_cast<const char*>(buf.buf), static_cast<std::size_t>(buf.len));
    PyBuffer_Release(&buf);
  }
  if (name != nullptr) req.name = name;
  // The child imports what the parent can: its sys.path goes in front.
  req.sys_path = parent_sys_path();
  if (!parse_config(config, req.config) || !parse_options(ring, max_message, spin, req.channel) ||
      !parse_module_names(preload, "preload", req.preload)) {
    return nullptr;
  }
  ModuleState* st = state_of(op);
  std::optional<Actor> actor;
  if (!guarded([&] {
        actor = spawner_of(op)->spawn(std::move(req));
        return true;
      })) {
    return nullptr;
  }
  auto* obj = PyObject_New(ActorObject, st->ActorType);
  if (obj == nullptr) return nullptr;
  obj->actor = new (std::nothrow) Actor(std::move(*actor));
  if (obj->actor == nullptr) {
    Py_DECREF(obj);
    return PyErr_NoMemory();
  }
  return reinterpret_cast<PyObject*>(obj);
}

PyObject* Spawner_wait_warm(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"timeout", nullptr};
  double timeout = 30.0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|d:wait_warm", const_cast<char**>(keywords), &timeout)) return nullptr;
  bool ok;
  Py_BEGIN_ALLOW_THREADS
  ok = spawner_of(op)->wait_warm(nanoseconds(static_cast<long long>(timeout * 1e9)));
  Py_END_ALLOW_THREADS
  return PyBool_FromLong(ok);
}

PyObject* Spawner_shutdown(PyObject* op, PyObject* args, PyObject* kwargs) {
  static const char* keywords[] = {"grace", nullptr};
  double grace = 1.0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|d:shutdown", const_cast<char**>(keywords), &grace)) return nullptr;
  std::size_t abandoned;
  Py_BEGIN_ALLOW_THREADS
  abandoned = spawner_of(op)->shutdown(nanoseconds(static_cast<long long>(grace * 1e9)));
  Py_END_ALLOW_THREADS
  return PyLong_FromSize_t(abandoned);
}

PyObject* Spawner_get_warm(PyObject* op, void*) { return PyLong_FromSize_t(spawner_of(op)->warm_count()); }
PyObject* Spawner_get_pool_error(PyObject* op, void*) { return PyUnicode_FromString(spawner_of(op)->last_pool_error().c_str()); }

void Spawner_dealloc(PyObject* op) {
  PyTypeObject* type = Py_TYPE(op);
  Spawner* s = spawner_of(op);
  Py_BEGIN_ALLOW_THREADS
  delete s;  // shuts down (kills what still runs, 1 s grace)
  Py_END_ALLOW_THREADS
  type->tp_free(op);
  Py_DECREF(type);
}

PyMethodDef spawner_methods[] = {
    {"spawn", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Spawner_spawn)), METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("spawn(entry, args=b'', *, config=None, name=None, ring_bytes=None, max_message_bytes=None, spin=None, "
               "preload=None)\n--\n\n"
               "Start entry ('package.module:function') in a sub-interpreter on its own thread, as\n"
               "function(endpoint, args). Returns an Actor; take its side of the channel with\n"
               "Actor.take_channel(). config: 'isolated' (own GIL, default) or 'legacy'.")},
    {"wait_warm", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Spawner_wait_warm)), METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("wait_warm(timeout=30.0)\n--\n\nWait until the pool is full; False on timeout or if it cannot fill.")},
    {"shutdown", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Spawner_shutdown)), METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("shutdown(grace=1.0)\n--\n\nKill every live actor (all at once, within grace) and end the pool.\n"
               "Returns how many actors had to be abandoned.")},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef spawner_getset[] = {
    {"warm_count", Spawner_get_warm, nullptr, PyDoc_STR("Pool interpreters ready now."), nullptr},
    {"last_pool_error", Spawner_get_pool_error, nullptr, PyDoc_STR("Why a warm interpreter could not be prepared."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot spawner_slots[] = {
    {Py_tp_new, reinterpret_cast<void*>(Spawner_new)},
    {Py_tp_dealloc, reinterpret_cast<void*>(Spawner_dealloc)},
    {Py_tp_methods, spawner_methods},
    {Py_tp_getset, spawner_getset},
    {Py_tp_doc, const_cast<char*>("Spawner(*, pool_size=0, preload=(), config='isolated', concurrent_preparations=1,\n"
                                  "        try_preload=())\n--\n\n"
                                  "Starts actors in sub-interpreters; keeps pool_size interpreters warm with the\n"
                                  "preload modules imported, then the try_preload ones that import.")},
    {0, nullptr},
};

PyType_Spec spawner_spec = {"shmring._core.Spawner", sizeof(SpawnerObject), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
                            spawner_slots};

}  // namespace

PyObject* spawner_counts(PyObject*, PyObject*) {
  const SpawnerCounts c = Spawner::counts();
  return Py_BuildValue("{s:n,s:n,s:n}", "live_interpreters", static_cast<Py_ssize_t>(c.live_interpreters), "live_threads",
                       static_cast<Py_ssize_t>(c.live_threads), "abandoned", static_cast<Py_ssize_t>(c.abandoned));
}

int add_spawner_types(PyObject* module, ModuleState* st) {
  st->ActorType = reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &actor_spec, nullptr));
  if (st->ActorType == nullptr || PyModule_AddType(module, st->ActorType) < 0) return -1;
  st->SpawnerType = reinterpret_cast<PyTypeObject*>(PyType_FromModuleAndSpec(module, &spawner_spec, nullptr));
  if (st->SpawnerType == nullptr || PyModule_AddType(module, st->SpawnerType) < 0) return -1;
  return 0;
}

}  // namespace shmring::py

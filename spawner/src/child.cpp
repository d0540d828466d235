// Inside the child's interpreter (child.hpp): the entry call and the
// interpreter's last chores, in CPython's public C API.
#include "child.hpp"

#include <memory>

namespace shmring::detail {
namespace {

// An owned reference: released when it goes out of scope.
struct Release {
  void operator()(PyObject* o) const { Py_XDECREF(o); }
};
using Ref = std::unique_ptr<PyObject, Release>;

Ref str(std::string_view s) { return Ref(PyUnicode_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()))); }

// The callable that "package.module:function" names (the function may be dotted).
Ref resolve(std::string_view entry) {
  const auto colon = entry.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == entry.size()) {
    PyErr_Format(PyExc_ValueError, "entry must look like 'package.module:function', not '%.200s'",
                 std::string(entry).c_str());
    return nullptr;
  }
  Ref target(PyImport_ImportModule(std::string(entry.substr(0, colon)).c_str()));
  std::string_view rest = entry.substr(colon + 1);
  while (target && !rest.empty()) {
    const auto dot = rest.find('.');
    Ref name = str(rest.substr(0, dot));
    target = name ? Ref(PyObject_GetAttr(target.get(), name.get())) : nullptr;
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
  }
  if (target && !PyCallable_Check(target.get())) {
    PyErr_Format(PyExc_TypeError, "'%.200s' is not callable", std::string(entry).c_str());
    return nullptr;
  }
  return target;
}

}  // namespace

bool prepend_sys_path(const std::vector<std::string>& paths) {
  PyObject* path = PySys_GetObject("path");  // borrowed
  if (path == nullptr || !PyList_Check(path)) {
    PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
    return false;
  }
  Ref fresh(PyList_New(0));
  if (!fresh) return false;
  for (const std::string& p : paths) {
    Ref item(PyUnicode_DecodeFSDefaultAndSize(p.data(), static_cast<Py_ssize_t>(p.size())));
    if (!item) return false;
    const int present = PySequence_Contains(path, item.get());
    if (present < 0 || (present == 0 && PyList_Append(fresh.get(), item.get()) < 0)) return false;
  }
  return PyList_SetSlice(path, 0, 0, fresh.get()) == 0;
}

PyObject* call_entry(const EntryCall& call) {
  Ref function = resolve(call.entry);
  Ref handle(function ? PyLong_FromUnsignedLongLong(call.handle) : nullptr);
  Ref args(handle ? PyBytes_FromStringAndSize(call.args.data(), static_cast<Py_ssize_t>(call.args.size())) : nullptr);
  if (!args) return nullptr;
  Ref result;
  if (call.runner.empty()) {
    result.reset(PyObject_CallFunctionObjArgs(function.get(), handle.get(), args.get(), nullptr));
  } else {
    Ref runner(PyImport_ImportModule(std::string(call.runner).c_str()));
    Ref run(runner ? PyObject_GetAttrString(runner.get(), "run") : nullptr);
    if (run) result.reset(PyObject_CallFunctionObjArgs(run.get(), function.get(), handle.get(), args.get(), nullptr));
  }
  if (!result) return nullptr;
  if (result.get() == Py_None) return PyBytes_FromStringAndSize("", 0);
  if (!PyObject_CheckBuffer(result.get())) {
    PyErr_Format(PyExc_TypeError, "actor '%.200s' returned %.100s; an actor returns bytes or None",
                 std::string(call.entry).c_str(), Py_TYPE(result.get())->tp_name);
    return nullptr;
  }
  Ref view(PyMemoryView_FromObject(result.get()));
  return view ? PyBytes_FromObject(view.get()) : nullptr;
}

std::string take_exception_text() {
  Ref exc(PyErr_GetRaisedException());
  if (!exc) return "unknown error";
  std::string text;
  Ref traceback(PyImport_ImportModule("traceback"));
  Ref lines(traceback ? PyObject_CallMethod(traceback.get(), "format_exception", "O", exc.get()) : nullptr);
  Ref empty(lines ? PyUnicode_FromString("") : nullptr);
  Ref joined(empty ? PyUnicode_Join(empty.get(), lines.get()) : nullptr);
  if (joined) {
    Py_ssize_t n = 0;
    if (const char* s = PyUnicode_AsUTF8AndSize(joined.get(), &n)) text.assign(s, static_cast<std::size_t>(n));
  }
  if (text.empty()) {
    PyErr_Clear();
    Ref r(PyObject_Repr(exc.get()));
    const char* s = r ? PyUnicode_AsUTF8(r.get()) : nullptr;
    text = s ? s : "unprintable exception";
  }
  PyErr_Clear();
  return text;
}

void call_runner_hook(std::string_view runner, const char* hook, PyObject* args) {
  if (runner.empty()) return;
  Ref name = str(runner);
  Ref module(name ? PyImport_GetModule(name.get()) : nullptr);  // never imports
  Ref function(module && PyObject_HasAttrString(module.get(), hook) ? PyObject_GetAttrString(module.get(), hook)
                                                                      : nullptr);
  if (function) Ref(PyObject_CallObject(function.get(), args));
  PyErr_Clear();
}

long join_own_threads(double seconds) {
  Ref threading(PyImport_ImportModule("threading"));
  Ref threads(threading ? PyObject_CallMethod(threading.get(), "enumerate", nullptr) : nullptr);
  Ref main(threads ? PyObject_CallMethod(threading.get(), "main_thread", nullptr) : nullptr);
  Ref dummy(main ? PyObject_GetAttrString(threading.get(), "_DummyThread") : nullptr);
  PyTime_t now = 0;
  if (!dummy || !PyList_Check(threads.get()) || PyTime_Monotonic(&now) < 0) {
    PyErr_Clear();
    return -1;
  }
  const unsigned long me = PyThread_get_thread_ident();
  const double deadline = PyTime_AsSecondsDouble(now) + seconds;
  long alive = 0;
  const Py_ssize_t n = PyList_Size(threads.get());
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* thread = PyList_GetItem(threads.get(), i);  // borrowed
    // Not ours to wait for: this thread, foreign threads (threading's
    // _DummyThread records), and threading's "main thread" (in a
    // sub-interpreter, the process's main thread).
    Ref ident(PyObject_GetAttrString(thread, "ident"));
    const bool is_me = ident && PyLong_Check(ident.get()) && PyLong_AsUnsignedLong(ident.get()) == me;
    const int foreign = PyObject_IsInstance(thread, dummy.get());
    if (PyErr_Occurred() || is_me || foreign != 0 || thread == main.get()) {
      PyErr_Clear();
      continue;
    }
    if (PyTime_Monotonic(&now) < 0) now = 0;
    const double left = deadline - PyTime_AsSecondsDouble(now);
    Ref joined(PyObject_CallMethod(thread, "join", "d", left > 0 ? left : 0.0));  // releases the GIL while it waits
    Ref running(joined ? PyObject_CallMethod(thread, "is_alive", nullptr) : nullptr);
    if (!running) {
      PyErr_Clear();
      return -1;
    }
    alive += PyObject_IsTrue(running.get()) == 1 ? 1 : 0;
  }
  return alive;
}

void forget_dummy_thread() {
  // CPython 3.13's private names; nothing happens where they differ.
  Ref threading(PyImport_ImportModule("threading"));
  Ref local(threading && PyObject_HasAttrString(threading.get(), "_thread_local_info")
                ? PyObject_GetAttrString(threading.get(), "_thread_local_info")
                : nullptr);
  if (local && PyObject_HasAttrString(local.get(), "_track_dummy_thread_ref")) {
    PyObject_DelAttrString(local.get(), "_track_dummy_thread_ref");
  }
  PyErr_Clear();
}

}  // namespace shmring::detail

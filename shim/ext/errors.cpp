#include "errors.hpp"

namespace shmring::py {

PyObject* raise_status(ModuleState* st, Status status, const char* operation, PyObject* endpoint,
                       const std::string& reason) {
  PyObject* type = st->ChannelError;
  const char* what = "";
  switch (status) {
    case Status::closed: type = st->ClosedError; what = "the endpoint is closed"; break;
    case Status::peer_closed:
      type = st->PeerClosedError;
      what = "the peer closed its side";
      break;
    case Status::aborted: type = st->AbortedError; what = "the channel was aborted"; break;
    case Status::peer_died: type = st->PeerDiedError; what = "the peer process died"; break;
    case Status::corrupt: type = st->CorruptError; what = "the channel is corrupt"; break;
    case Status::too_large: type = st->TooLargeError; what = "the message is larger than the channel allows"; break;
    case Status::timeout: type = PyExc_TimeoutError; what = "timed out"; break;
    default: what = "unexpected status"; break;
  }
  if (reason.empty()) {
    PyErr_Format(type, "cannot %s on %R: %s", operation, endpoint, what);
    return nullptr;
  }
  // An abort reason is the peer's bytes: not UTF-8 is shown escaped.
  PyObject* text = PyUnicode_DecodeUTF8(reason.data(), static_cast<Py_ssize_t>(reason.size()), "backslashreplace");
  if (text == nullptr) return nullptr;
  PyErr_Format(type, "cannot %s on %R: %s (%U)", operation, endpoint, what, text);
  Py_DECREF(text);
  return nullptr;
}

PyObject* raise_setup_error(const shmring::Error& e) {
  // OSError(errno, text) becomes the errno's subclass: FileNotFoundError,
  // ConnectionRefusedError, PermissionError, TimeoutError...
  // The text may carry a peer's words (a listener's refusal): bytes that are
  // not UTF-8 are shown escaped, never a UnicodeDecodeError instead.
  const std::string text = e.what();
  PyObject* message = PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "backslashreplace");
  if (message == nullptr) return nullptr;
  PyObject* args = Py_BuildValue("(iN)", e.code().value(), message);
  if (args != nullptr) {
    PyErr_SetObject(PyExc_OSError, args);
    Py_DECREF(args);
  }
  return nullptr;
}

}  // namespace shmring::py

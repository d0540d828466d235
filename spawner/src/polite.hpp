// Polite imports: a worker that imports modules under the GIL it shares with
// running actors ('legacy' interpreters share the main GIL) takes that GIL
// only when nobody else wants it, as near as CPython lets us tell.
//
// CPython hands the GIL to a waiting thread only after the holder ran a
// whole switch interval (5 ms by default) or blocked. An interpreter that
// imports tractor, trio and msgspec hardly ever blocks, so each GIL
// acquisition of a running actor (every message, every wake-up) waited up to
// 5 ms, and the actors' own work shared the GIL with the import: calls got
// 3-15x slower while the pool refilled. Under PoliteGil the importer gives
// the GIL up after each ~200 us slice (a C profile hook, at the next Python
// call or return) and pauses. If someone took the GIL during the pause
// (taking it back had to wait), others are busy and the next pause doubles,
// up to 4 ms; if not, it halves, down to 20 us. Busy actors thus get nearly
// all of the GIL and the import finishes in the gaps; an idle process
// imports at ~65% speed (each yield costs ~70 us on a VM: the pause and the
// GIL hand-offs).
//
// Once a spawn waits for the import (a cold start, or a spawn that took a
// pool interpreter still preparing), the slices grow to 1 ms: the caller's
// start gets nearly full speed, and a busy neighbour still waits for the GIL
// at most ~1 ms per slice instead of CPython's 5 ms switch interval.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <atomic>

namespace shmring::detail {

// Installs the yielding hook on the calling thread (which holds its
// interpreter's GIL) for its lifetime; does nothing when `enabled` is false.
// `awaited` (may change meanwhile, may be null) selects the longer slice.
class PoliteGil {
 public:
  PoliteGil(bool enabled, const std::atomic<bool>* awaited);
  ~PoliteGil();
  PoliteGil(const PoliteGil&) = delete;
  PoliteGil& operator=(const PoliteGil&) = delete;

 private:
  bool enabled_;
  int old_slack_ns_ = -1;
};

}  // namespace shmring::detail

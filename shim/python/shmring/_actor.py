"""Runs an actor's entry point inside its sub-interpreter.

The spawner's worker thread imports this module in the child interpreter
(ahead of time, in a warm pool) and calls :func:`run`. Nothing here is
public API.
"""

import importlib
import sys

from . import _core


def resolve(entry: str):
    """The callable named by 'package.module:function' (the function may be dotted)."""
    module_name, sep, qualname = entry.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"entry must look like 'package.module:function', not {entry!r}")
    target = importlib.import_module(module_name)
    for part in qualname.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{entry!r} is not callable")
    return target


def run(entry: str, handle: int, args: bytes, paths: tuple[str, ...] = ()) -> bytes:
    """Calls entry(endpoint, args) and returns its result as bytes.

    ``paths`` go in front of sys.path first (the parent's, usually).
    """
    sys.path[:0] = [p for p in paths if p not in sys.path]
    function = resolve(entry)
    endpoint = _core.Endpoint.attach(handle)
    try:
        result = function(endpoint, args)
    finally:
        # Graceful: the parent reads everything we sent, then end of channel.
        endpoint.close()
    if result is None:
        return b""
    try:
        return bytes(memoryview(result))
    except TypeError:
        raise TypeError(f"actor {entry!r} returned {type(result).__name__}; an actor returns bytes or None") from None


def _forget_dummy_thread() -> None:  # called by the worker thread before it ends the interpreter
    """Drops threading's record of this (non-threading) thread now.

    threading registers a foreign thread as a _DummyThread and removes it in a
    finalizer; left for the interpreter's teardown, that finalizer runs after
    the threading module is gone and prints "Exception ignored". (CPython 3.13
    private names; nothing happens where they differ.)
    """
    import threading

    local = getattr(threading, "_thread_local_info", None)
    if local is not None and hasattr(local, "_track_dummy_thread_ref"):
        del local._track_dummy_thread_ref


def _wind_down_threads(timeout: float) -> int:  # called by the worker thread before it ends the interpreter
    """Ends the threads this interpreter started, so it can be finalized.

    CPython aborts the whole process ("Py_EndInterpreter: not the last
    thread") if an interpreter ends while a thread it started still runs.
    trio keeps idle ``to_thread`` workers for 10 s: they are told to leave
    now. Other threads get `timeout` seconds in total to finish. Returns how
    many are still alive (then the interpreter is left unfinalized).
    """
    import threading
    import time

    cache_module = sys.modules.get("trio._core._thread_cache")
    if cache_module is not None:
        try:
            # trio private names (0.2x-0.3x); nothing happens where they differ.
            cache_module.IDLE_TIMEOUT = 0.0  # read by each worker before it waits again
            idle = cache_module.THREAD_CACHE._idle_workers
            workers = list(idle)
            idle.clear()
            for worker in workers:  # a no-op job wakes it; then its wait times out at once and it returns
                worker._job = (lambda: None, lambda result: None, None)
                worker._worker_lock.release()
        except Exception:
            pass
    deadline = time.monotonic() + timeout
    me = threading.get_ident()
    alive = 0
    for thread in threading.enumerate():
        # Not ours to wait for: this thread, foreign threads, and threading's
        # "main thread" (in a sub-interpreter, the process's main thread).
        if thread.ident == me or isinstance(thread, threading._DummyThread) or thread is threading.main_thread():
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        alive += thread.is_alive()
    if alive:
        # The interpreter will not be finalized, so its endpoints would stay
        # open and peers wait forever: abort them, saying why.
        _core._abort_all_endpoints(f"the actor ended with {alive} thread(s) of its own still running")
    return alive


# Called on a kill, in the child's interpreter, right after SystemExit was
# raised in the actor's thread. That exception only fires when the thread
# runs Python code; an event loop parked in epoll_wait with no timer would
# never run any. An actor's event loop registers a waker here (a callable
# that must not block, e.g. trio's TrioToken.run_sync_soon of a no-op) so the
# kill reaches it.
_kill_wakers: list = []


def add_kill_waker(waker) -> None:
    """Registers ``waker()`` to be called (from another thread) when this actor is killed."""
    _kill_wakers.append(waker)


def _wake_for_kill() -> None:  # called by the spawner's kill helper, attached to this interpreter
    for waker in list(_kill_wakers):
        try:
            waker()
        except Exception:
            pass  # the loop may have ended already: nothing to wake

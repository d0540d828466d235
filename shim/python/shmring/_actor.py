"""shmring's runner for the spawner: hands an actor its channel as an Endpoint.

The spawner (spawner/, C++) knows nothing of this package: shmring._core's
Spawner names this module as its runner, and the worker thread imports it in
the child interpreter (ahead of time, in a warm pool) and calls the hooks
below (the runner protocol: spawner/include/shmring/spawner.hpp). Nothing
here is public API but :func:`add_kill_waker`.
"""

import sys

from . import _core


def run(function, handle: int, args: bytes):
    """Calls function(endpoint, args) with the channel the spawner parked as ``handle``."""
    endpoint = _core.Endpoint.attach(handle)
    try:
        return function(endpoint, args)
    finally:
        # Graceful: the parent reads everything we sent, then end of channel.
        endpoint.close()


def before_teardown() -> None:
    """Tells trio's idle ``to_thread`` workers to leave now.

    The worker joins the threads an actor left before it ends the
    interpreter (CPython aborts the process otherwise); trio keeps idle
    workers for 10 s.
    """
    cache_module = sys.modules.get("trio._core._thread_cache")
    if cache_module is None:
        return
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


def threads_left(count: int) -> None:
    """The interpreter stays unfinalized (``count`` threads of the actor's still run).

    Its endpoints would stay open and peers wait forever: abort them, saying why.
    """
    _core._abort_all_endpoints(f"the actor ended with {count} thread(s) of its own still running")


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


def wake_for_kill() -> None:  # called by the spawner's kill helper, attached to this interpreter
    for waker in list(_kill_wakers):
        try:
            waker()
        except Exception:
            pass  # the loop may have ended already: nothing to wake

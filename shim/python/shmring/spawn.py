"""Actors in sub-interpreters on their own threads, for trio programs.

    actor = shmring.spawn.spawn("mypkg.actors:main", args=b"config")
    await actor.channel.send(b"ping")          # a shmring.trio.MessageChannel
    reply = await actor.channel.receive()
    result = await actor.wait()                # bytes, or ActorError with the child's traceback
    step = await actor.kill(grace=1.0)         # 'channel-abort', 'async-exception', 'abandoned', ...

The child runs ``function(endpoint, args)`` in a fresh sub-interpreter
(``config='isolated'``: its own GIL; ``'legacy'``: the shared GIL, for
extensions that do not support isolation yet). ``endpoint`` is a
``shmring.Endpoint``; a trio child wraps it with
``shmring.trio.MessageChannel(endpoint)``. The child's sys.path starts with
the parent's. A :class:`Spawner` with ``pool_size`` keeps interpreters warm
with modules (``preload=["trio"]``) already imported.

Process exit: at interpreter exit, shmring kills every live actor (all at
once, 0.5 s grace). If one had to be abandoned (stuck in a C-level wait),
CPython could not finalize (ending an interpreter that another thread is
still inside is a fatal error), so shmring ends the process itself with
``os._exit``, after flushing stdout and stderr, with the status the program
was exiting with: 0 after a normal end, n after ``sys.exit(n)``, 1 after an
uncaught exception, and SIGINT after an uncaught KeyboardInterrupt.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import weakref
from typing import Any

import trio

from . import ActorError, _core
from .trio import MessageChannel

__all__ = ["Actor", "ActorError", "Spawner", "spawn"]

# Grace for the kill of every live actor at interpreter exit.
EXIT_GRACE = 0.5
# Then how long exit waits for ended actors' interpreters to finish tearing down.
EXIT_TEARDOWN_WAIT = 10.0


class Actor:
    """An actor started by :func:`spawn` or :meth:`Spawner.spawn`.

    ``channel`` is the parent's side of the actor's channel, a
    :class:`shmring.trio.MessageChannel`.
    """

    def __init__(self, core: _core.Actor) -> None:
        self._core = core
        self.channel = MessageChannel(core.take_channel())

    @property
    def name(self) -> str:
        return self._core.name

    @property
    def state(self) -> str:
        """'starting', 'running', 'exited', 'failed', 'killed' or 'abandoned'."""
        return self._core.state

    @property
    def result(self) -> bytes | None:
        """What the entry point returned, once the actor exited; else None."""
        return self._core.result if self._core.state == "exited" else None

    @property
    def error(self) -> ActorError | None:
        """The child's exception as an ActorError, once the actor failed; else None."""
        if self._core.state == "failed":
            return ActorError(self._core.name, self._core.error)
        return None

    @property
    def startup_seconds(self) -> float:
        """Seconds from spawn until the entry point was called (-1 before)."""
        return self._core.startup_seconds

    async def wait(self) -> bytes | None:
        """Waits until the actor ends (a checkpoint; cancellable).

        Returns the bytes the entry point returned, or None if the actor was
        killed or abandoned. Raises :class:`ActorError` with the child's
        traceback if it failed.
        """
        await trio.lowlevel.wait_readable(self._core.ended_fd())
        if self._core.state == "failed":
            raise ActorError(self._core.name, self._core.error)
        return self.result

    async def kill(self, grace: float = 1.0) -> str:
        """Ends the actor within ``grace`` seconds and says how.

        Aborts its channel (the parent's pending receive ends at once), raises
        SystemExit in its thread, waits, and abandons it if it is still running
        (stuck in a C-level wait). Returns 'already-ended', 'channel-abort',
        'async-exception' or 'abandoned'. Runs in a worker thread, so the trio
        loop keeps going; never takes much longer than ``grace``.
        """
        return await trio.to_thread.run_sync(self._core.kill, grace)

    def terminate(self) -> None:
        """Starts a kill without waiting (process-like ``terminate()``)."""
        self._core.terminate()

    def __repr__(self) -> str:
        return f"<shmring.spawn.Actor {self.name!r} {self.state}>"


_spawners: weakref.WeakSet[Spawner] = weakref.WeakSet()
_default: Spawner | None = None
_lock = threading.RLock()
# Set by the exit policy before it shuts every Spawner down: a Spawner made
# after that (by a daemon thread, during exit) would leave interpreters that
# CPython's finalization then ends from the main thread, and that crashes.
_exiting = False


class Spawner:
    """Starts actors; with ``pool_size`` > 0, keeps that many interpreters warm,
    each with the ``preload`` modules imported (then those of ``try_preload``
    that import: one that fails is skipped, where a failing ``preload`` stops
    the pool), and refills in the background, ``concurrent_preparations`` at
    a time. A spawn takes a warm interpreter,
    else one still being prepared (it runs once its imports are done), else
    starts cold. 'legacy' interpreters import politely: they hand the shared
    GIL to waiting threads every ~200 us, so running actors stay responsive.
    """

    def __init__(self, *, pool_size: int = 0, preload: list[str] | tuple[str, ...] = (), config: str = "isolated",
                 concurrent_preparations: int = 1, try_preload: list[str] | tuple[str, ...] = ()) -> None:
        with _lock:
            if _exiting:
                raise RuntimeError("Python is exiting: no new Spawner can start (its interpreters could not be "
                                   "ended before finalization)")
            self._core = _core.Spawner(pool_size=pool_size, preload=preload, config=config,
                                       concurrent_preparations=concurrent_preparations, try_preload=try_preload)
            _spawners.add(self)
        _install_exit_policy()

    def spawn(self, entry: str, *, args: bytes = b"", config: str = "isolated", name: str | None = None,
              preload: list[str] | tuple[str, ...] = (), **channel_options: Any) -> Actor:
        """Starts ``entry`` ('package.module:function') as an actor (from the pool if one is warm).

        ``preload``: modules the child imports before the entry is called
        (at once if its interpreter came from a pool that preloads them).
        """
        _watch_exit_status()
        return Actor(self._core.spawn(entry, args, config=config, name=name, preload=preload, **channel_options))

    def wait_warm(self, timeout: float = 30.0) -> bool:
        """Blocks (GIL released) until the pool is full; False on timeout or if it cannot fill."""
        return self._core.wait_warm(timeout)

    @property
    def warm_count(self) -> int:
        return self._core.warm_count

    @property
    def last_pool_error(self) -> str:
        return self._core.last_pool_error

    def shutdown(self, grace: float = 1.0) -> int:
        """Kills every live actor within ``grace``; returns how many were abandoned."""
        return self._core.shutdown(grace)

    def __enter__(self) -> Spawner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def spawn(entry: str, *, args: bytes = b"", config: str = "isolated", name: str | None = None,
          **channel_options: Any) -> Actor:
    """Starts ``entry`` as an actor on a cold interpreter (see :class:`Spawner` for a warm pool).

    Channel options (``ring_bytes``, ``max_message_bytes``, ``spin``) shape the
    actor's channel. Raises ValueError for a malformed entry or config.
    """
    global _default
    with _lock:
        if _default is None:
            _default = Spawner()
    return _default.spawn(entry, args=args, config=config, name=name, **channel_options)


# ---------------------------------------------------------------------------
# Process exit (see the module docstring)
# ---------------------------------------------------------------------------

_exit_status: int | str = 0  # an int, or "sigint"
_watching = False
_policy_installed = False
_main_code = None  # the code object of the main thread's outermost frame


def _on_unwind(code, offset, exception):  # sys.monitoring PY_UNWIND callback
    global _exit_status
    if code is not _main_code:
        return None
    if isinstance(exception, SystemExit):
        status = exception.code
        _exit_status = 0 if status is None else status if isinstance(status, int) else 1
    elif isinstance(exception, KeyboardInterrupt):
        _exit_status = "sigint"
    else:
        _exit_status = 1
    return None


def _watch_exit_status() -> None:
    """Notes how the main thread's outermost frame unwinds, if it does.

    PY_UNWIND can only be watched globally; the callback returns at once for
    any other frame, and exceptions leaving frames are rare on hot paths.
    """
    global _watching, _main_code
    with _lock:
        if _watching:
            return
        frame = sys._current_frames().get(threading.main_thread().ident)
        if frame is None:
            return
        while frame.f_back is not None:
            frame = frame.f_back
        _main_code = frame.f_code
        mon = sys.monitoring
        for tool in range(6):  # tool ids 0-5 are the ones free for anyone
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, "shmring-exit-status")
                mon.register_callback(tool, mon.events.PY_UNWIND, _on_unwind)
                mon.set_events(tool, mon.get_events(tool) | mon.events.PY_UNWIND)
                _watching = True
                return


def _install_exit_policy() -> None:
    global _policy_installed
    with _lock:
        if not _policy_installed:
            atexit.register(_at_exit)
            _policy_installed = True


def _at_exit() -> None:
    global _exiting
    with _lock:
        _exiting = True
        spawners = list(_spawners)
    abandoned = 0
    for spawner in spawners:
        abandoned += spawner.shutdown(EXIT_GRACE)
    # Every interpreter must be gone (or counted abandoned) before CPython
    # finalizes: one still tearing down, from any Spawner (also one already
    # collected, which shutdown above never saw), would make finalization abort
    # ("Py_EndInterpreter: not the last thread"). Wait for them, bounded; any
    # left then are treated as abandoned.
    deadline = time.monotonic() + EXIT_TEARDOWN_WAIT
    counts = _core.spawner_counts()
    while counts["live_interpreters"] > counts["abandoned"] and time.monotonic() < deadline:
        time.sleep(0.005)  # releases the GIL for the interpreters ending meanwhile
        counts = _core.spawner_counts()
    if counts["live_interpreters"] > counts["abandoned"]:
        abandoned += counts["live_interpreters"] - counts["abandoned"]
    if abandoned == 0 and counts["abandoned"] == 0:
        return  # nothing stuck: let CPython finalize as usual
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    if _exit_status == "sigint":
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(_exit_status if isinstance(_exit_status, int) else 1)

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

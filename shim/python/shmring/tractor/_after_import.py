"""Run a function on a module once it is imported, without importing it.

Registration patches a few modules tractor imports only in some programs
(its pytest plugin and test helpers, which import pytest, psutil and ~140
other modules). Importing them to patch them cost every process, and every
'shm_subint' child, ~70 ms; instead the patch waits until something else
imports them.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any, Callable

_callbacks: dict[str, list[Callable[[Any], None]]] = {}


def when_imported(name: str, callback: Callable[[Any], None]) -> None:
    """callback(module) now if `name` is imported, else right after it is."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _callbacks.setdefault(name, []).append(callback)
    if _finder not in sys.meta_path:
        # First: ahead of pytest's assertion rewriter, whose spec we then wrap.
        sys.meta_path.insert(0, _finder)


class _RunAfterExec(importlib.abc.Loader):
    """The module's own loader, with the callbacks run after it executed."""

    def __init__(self, loader: Any, callbacks: list[Callable[[Any], None]]) -> None:
        self._loader = loader
        self._callbacks = callbacks

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._loader.exec_module(module)
        for callback in self._callbacks:
            callback(module)

    def __getattr__(self, name: str) -> Any:  # get_source, is_package, ...
        return getattr(self._loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        callbacks = _callbacks.pop(name, None)
        if callbacks is None:
            return None
        if not _callbacks and self in sys.meta_path:
            sys.meta_path.remove(self)
        for finder in [f for f in sys.meta_path if f is not self]:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find is not None else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # cannot hook this loader: the module goes unpatched
        spec.loader = _RunAfterExec(spec.loader, callbacks)
        return spec


_finder = _Finder()

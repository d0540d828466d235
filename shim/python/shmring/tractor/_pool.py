"""The 'shm_subint' backend's warm pool: one Spawner per interpreter.

Its interpreters have imported what a child needs (``_preload``), so a child
starts without importing anything; then, best effort, the modules the
parent's main script imports (``main_script_imports``): tractor re-runs that
script in every child, so a heavy import there (numpy, say) would otherwise
be paid at every start, under the GIL the child shares with its parent. The pool starts filling when a root actor opens
with ``start_method='shm_subint'`` (tractor calls ``try_set_start_method``
then), or when :func:`warm_pool` is called; the first spawn never pays for
building it. Refills run one interpreter at a time and import politely
(see ``shmring.spawn.Spawner``). A spawn with no warm interpreter takes one
still being prepared, or starts cold importing the same modules.

``SHMRING_TRACTOR_POOL`` sets its size (default 2; 0 = no pool, every child
cold).
"""

from __future__ import annotations

import ast
import os
import sys
import threading
from typing import Any

import trio

# _subint_fixes first: it must run before tricycle (imported by tractor) is.
PRELOAD = ("shmring.tractor._subint_fixes", "shmring.tractor._preload")
DEFAULT_SIZE = 2

_spawner: Any = None
_config: str | None = None
_lock = threading.Lock()
_warming: threading.Thread | None = None


def pool_size() -> int:
    """The configured size (``SHMRING_TRACTOR_POOL``); ValueError if it is not a number >= 0."""
    text = os.environ.get("SHMRING_TRACTOR_POOL", str(DEFAULT_SIZE))
    try:
        size = int(text)
    except ValueError:
        raise ValueError(f"SHMRING_TRACTOR_POOL must be a whole number >= 0, not {text!r}") from None
    if size < 0:
        raise ValueError(f"SHMRING_TRACTOR_POOL must be a whole number >= 0, not {text!r}")
    return size


def main_script_imports(path: str | None = None) -> tuple[str, ...]:
    """The modules the main script (``path``, default ``__main__.__file__``)
    imports outside functions and classes, that this process has imported.

    A child re-runs the parent's main script as ``__mp_main__`` (tractor's
    ``init_main_from_path``, as multiprocessing's spawn does), so those
    imports happen in every child; a warm interpreter that has them done
    spares each start that time. Only modules already in ``sys.modules`` are
    named: the script imported them here, so they exist and importing them
    again is what the child would do anyway.
    """
    if path is None:
        path = getattr(sys.modules.get("__main__"), "__file__", None)
        if path is None:
            return ()
    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read(), path)
    except (OSError, SyntaxError, ValueError):
        return ()
    names: list[str] = []
    statements = list(tree.body)
    while statements:
        node = statements.pop(0)
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # if/try/with/for blocks at module level run when the script does
            for field in ("body", "orelse", "finalbody", "handlers"):
                statements += getattr(node, field, [])
    return tuple(dict.fromkeys(n for n in names if n in sys.modules and n != "__main__"))


def _choose_config() -> str:
    """'isolated' if msgspec loads in an isolated interpreter (it cannot yet:
    msgspec issue 1026), else 'legacy'."""
    from ..spawn import Spawner

    with Spawner() as probe:
        actor = probe.spawn("shmring.tractor._spawn:msgspec_probe", config="isolated")
        actor._core.join(60)
        return "isolated" if actor._core.state == "exited" else "legacy"


def _create() -> tuple[Any, str]:
    """The spawner (created, and its pool started, on first call); blocks."""
    global _spawner, _config
    with _lock:
        if _spawner is None:
            from ..spawn import Spawner

            config = _choose_config()
            _spawner = Spawner(pool_size=pool_size(), preload=PRELOAD, config=config,
                               try_preload=main_script_imports())
            _config = config
        return _spawner, _config


def _create_in_background() -> None:
    try:
        _create()
    except Exception:  # Python is exiting, or the pool cannot start: the first spawn retries and raises
        pass


def start_warming() -> None:
    """Starts building the pool in the background (returns at once).
    ValueError at once if ``SHMRING_TRACTOR_POOL`` is not a valid size."""
    global _warming
    pool_size()
    with _lock:
        if _spawner is not None or _warming is not None:
            return
        _warming = threading.Thread(target=_create_in_background, name="shmring-pool", daemon=True)
        _warming.start()


def warm_pool(timeout: float = 60.0) -> bool:
    """Builds the pool now and waits (GIL released) until it is full.

    True when every interpreter is warm; False on timeout or if it cannot
    fill (``last_pool_error()`` says why).
    """
    spawner, _ = _create()
    return spawner.wait_warm(timeout)


def last_pool_error() -> str:
    return _spawner.last_pool_error if _spawner is not None else ""


async def get() -> tuple[Any, str]:
    """(spawner, config) without blocking the trio loop while it is built."""
    if _spawner is not None:
        return _spawner, _config  # type: ignore[return-value]
    return await trio.to_thread.run_sync(_create)

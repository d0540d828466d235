"""What tractor gets when registration failed (the When.ON_MISMATCH rows of
``_table``): the two places a program asks tractor for 'shm' or
'shm_subint' raise the TractorMismatch that says why they are missing.
Without them the request would fail deep inside tractor with an error
about something else (a 'shm' address taken for a UDS path, an unknown
spawn method). Everything else goes to tractor's own functions unchanged."""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any, Callable

from ._replacements import SHM_SUBINT, _wraps


def _refuse(what: str) -> None:
    from . import _register

    failure = _register.failure()
    if failure is not None:
        raise failure.asked_for(what)


def _transports_asked_for(enable_transports: Any) -> list[str]:
    if enable_transports is None:  # tractor's default protocols (its pytest plugin's --tpt-proto sets them)
        state = sys.modules.get("tractor.runtime._state")
        current = getattr(state, "current_ipc_protos", None)
        enable_transports = current() if callable(current) else []
    return list(enable_transports or [])


def open_root_actor(module: ModuleType, tractors: Callable) -> Callable:
    def open_root_actor(*args: Any, **kwargs: Any) -> Any:
        transports = _transports_asked_for(kwargs.get("enable_transports"))
        if "shm" in transports:
            _refuse(f"The 'shm' transport (enable_transports={transports!r})")
        # tractor lets the environment variable win over the argument.
        method = os.environ.get("TRACTOR_SPAWN_METHOD") or kwargs.get("start_method")
        if method == SHM_SUBINT:
            _refuse("The 'shm_subint' spawn backend")
        return tractors(*args, **kwargs)

    return _wraps(open_root_actor, tractors,
                  "tractor's open_root_actor, refusing 'shm' and 'shm_subint' (shmring could not register them).")


def try_set_start_method(module: ModuleType, tractors: Callable) -> Callable:
    def try_set_start_method(key: str, *args: Any, **kwargs: Any) -> Any:
        if key == SHM_SUBINT:
            _refuse("The 'shm_subint' spawn backend")
        return tractors(key, *args, **kwargs)

    return _wraps(try_set_start_method, tractors,
                  "tractor's try_set_start_method, refusing 'shm_subint' (shmring could not register it).")

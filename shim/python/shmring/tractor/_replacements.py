"""What shmring puts into tractor: one builder per row of ``_table``.

Each builder is called as ``build(module, value)`` with the tractor module
the row changes and the value tractor has there (for a dict or list entry,
the dict or list), and returns what the row puts there. A replaced
function keeps tractor's as ``__wrapped__`` and calls it for everything
that is not shmring's. Builders import what they put lazily: an import that
fails against a changed tractor is reported as a failure of that row.
"""

from __future__ import annotations

import typing
from types import ModuleType
from typing import Any, Callable

from ._address import ShmAddress, ShmMultiaddr, is_unwrapped_shm

SHM_SUBINT = "shm_subint"


def _wraps(ours: Callable, tractors: Callable, doc: str) -> Callable:
    ours.__wrapped__ = tractors  # type: ignore[attr-defined]
    ours.__doc__ = doc
    ours.__qualname__ = ours.__name__ = getattr(tractors, "__name__", ours.__name__)
    return ours


# --- the address -------------------------------------------------------------


def address_class(module: ModuleType, value: Any) -> type:
    return ShmAddress


def root_address(module: ModuleType, value: Any) -> tuple[str, str]:
    return ShmAddress.get_root().unwrap()


def wrap_address(module: ModuleType, tractors: Callable) -> Callable:
    def wrap_address(addr: Any) -> Any:
        if isinstance(addr, ShmAddress):
            return addr
        if is_unwrapped_shm(addr):
            return ShmAddress.from_addr(addr)
        return tractors(addr)

    return _wraps(wrap_address, tractors, "tractor's wrap_address, which first recognizes 'shm' addresses.")


def mk_maddr(module: ModuleType, tractors: Callable) -> Callable:
    def mk_maddr(addr: Any) -> Any:
        if getattr(addr, "proto_key", None) == "shm":
            return ShmMultiaddr(addr.sockpath)
        return tractors(addr)

    return _wraps(mk_maddr, tractors, "tractor's mk_maddr, which also builds /shm/<path>.")


def parse_maddr(module: ModuleType, tractors: Callable) -> Callable:
    def parse_maddr(maddr_str: str) -> Any:
        if isinstance(maddr_str, str) and maddr_str.startswith(ShmMultiaddr.PREFIX):
            return ShmMultiaddr.parse(maddr_str).address()
        return tractors(maddr_str)

    return _wraps(parse_maddr, tractors, "tractor's parse_maddr, which also reads /shm/<path>.")


# --- the transport -----------------------------------------------------------


def transport_class(module: ModuleType, value: Any) -> type:
    from ._transport import MsgpackShmStream

    return MsgpackShmStream


def transport_from_stream(module: ModuleType, tractors: Callable) -> Callable:
    from .. import trio as shm_trio

    def transport_from_stream(stream: Any, codec_key: str = "msgpack") -> Any:
        if isinstance(stream, shm_trio.ByteStream):
            return module._key_to_transport[(codec_key, "shm")]
        return tractors(stream, codec_key)

    return _wraps(transport_from_stream, tractors,
                  "tractor's transport_from_stream, which also knows shmring streams.")


# --- spawning ----------------------------------------------------------------


def hard_kill(module: ModuleType, tractors: Callable) -> Callable:
    async def hard_kill(*args: Any, **kwargs: Any) -> Any:
        try:
            return await tractors(*args, **kwargs)
        finally:
            from ._address import reap_stale_sockets

            reap_stale_sockets()

    return _wraps(hard_kill, tractors, "tractor's hard_kill, then the 'shm' sockets of dead processes removed.")


def spawn_backend(module: ModuleType, value: Any) -> Callable:
    from ._spawn import shm_subint_proc

    return shm_subint_proc


def spawn_method_key(module: ModuleType, tractors: Any) -> Any:
    keys = typing.get_args(tractors)
    return tractors if SHM_SUBINT in keys else typing.Literal[keys + (SHM_SUBINT,)]  # type: ignore[valid-type]


def try_set_start_method(module: ModuleType, tractors: Callable) -> Callable:
    def try_set_start_method(key: str, *args: Any, **kwargs: Any) -> Any:
        if key != SHM_SUBINT:
            return tractors(key, *args, **kwargs)
        from . import _pool, _register
        from ._table import When

        _register.apply_phase(When.SHM_SUBINT)  # TractorMismatch if this tractor moved
        _pool.start_warming()  # a root actor opens: no spawn pays for the pool (ValueError on a bad size)
        module._ctx = None  # what tractor's does for its 'trio' key
        module._spawn_method = key
        return None

    return _wraps(try_set_start_method, tractors, "tractor's try_set_start_method, which also knows 'shm_subint'.")


# --- message formatting ------------------------------------------------------


def memoized_structs(module: ModuleType, structs: ModuleType) -> Any:
    from ._struct_fields import MemoizedStructs

    return MemoizedStructs(structs)


# --- tractor's test helpers --------------------------------------------------


def get_rando_addr(module: ModuleType, tractors: Callable) -> Callable:
    def get_rando_addr(tpt_proto: str, *args: Any, **kwargs: Any) -> Any:
        if tpt_proto == "shm":
            return ShmAddress.get_random().unwrap()
        return tractors(tpt_proto, *args, **kwargs)

    return _wraps(get_rando_addr, tractors, "tractor's get_rando_addr, which also gives 'shm' addresses.")


# --- 'shm_subint' ------------------------------------------------------------


def find_caller_info(module: ModuleType, tractors: Callable) -> Callable:
    from ._caller_info import cheaper_find_caller_info

    return _wraps(cheaper_find_caller_info(module), tractors,
                  "tractor's find_caller_info without inspect.stack() (shmring.tractor._caller_info).")


def no_stack_on_sig(module: ModuleType, tractors: Callable) -> Callable:
    import logging

    log = logging.getLogger("shmring.tractor")

    def enable_stack_on_sig(*args: Any, **kwargs: Any) -> None:
        log.info("shm_subint: a sub-interpreter actor cannot handle signals; no stackscope dump on SIGUSR1")
        return None

    return _wraps(enable_stack_on_sig, tractors, "A no-op: a sub-interpreter's thread cannot handle signals.")


def no_proctitle(module: ModuleType, tractors: Callable) -> Callable:
    def set_actor_proctitle(*args: Any, **kwargs: Any) -> None:
        return None

    return _wraps(set_actor_proctitle, tractors, "A no-op: the process is the parent's.")

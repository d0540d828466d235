"""Teaching tractor about 'shm'. tractor has no plugin API: every lookup is a
dict or a function built at import, so registration inserts into those dicts
and replaces a few functions (and the names other modules imported them
under). A tractor that lacks one of them gets a warning, not a crash."""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable

from ._address import ShmAddress, ShmMultiaddr, is_unwrapped_shm
from ._after_import import when_imported

_registered = False

# Modules that imported `wrap_address` by name (tractor-interface.md).
_WRAP_ADDRESS_USERS = (
    "tractor.discovery._addr",
    "tractor._root",
    "tractor.discovery._api",
    "tractor.discovery._registry",
    "tractor.ipc._chan",
    "tractor.runtime._runtime",
    "tractor.spawn._reap",
)


def _warn(what: str, exc: BaseException | None = None) -> None:
    detail = f" ({type(exc).__name__}: {exc})" if exc else ""
    warnings.warn(f"shmring: this tractor lacks {what}; the 'shm' transport may not fully work{detail}",
                  RuntimeWarning, stacklevel=3)


def _module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as exc:  # a tractor without it: say so, go on
        _warn(f"module {name}", exc)
        return None


def _rebind(name: str, replacement: Callable, modules: tuple[str, ...]) -> None:
    """Replaces `name` in every listed module that has it (those that imported
    it by name): now in those already imported, and in the others once they
    are (registration imports none of them; a module this tractor does not
    have is never imported, so never patched)."""

    def rebind(module: Any) -> None:
        if hasattr(module, name):
            setattr(module, name, replacement)

    for module_name in modules:
        when_imported(module_name, rebind)


def register() -> bool:
    """Registers the 'shm' transport (and spawn backend) with tractor. Idempotent.

    Returns False if tractor cannot be imported.
    """
    global _registered
    if _registered:
        return True
    try:
        import tractor  # noqa: F401
    except ImportError:
        return False
    _registered = True
    _register_address()
    _register_multiaddr()
    _register_transport()
    _register_reaping()
    _register_testing()
    _register_struct_fields()
    from . import _spawn

    _spawn.register_backend()
    return True


def _register_address() -> None:
    addr_mod = _module("tractor.discovery._addr")
    if addr_mod is None:
        return
    for table, value in (("_address_types", ShmAddress), ("_default_lo_addrs", ShmAddress.get_root().unwrap())):
        if isinstance(getattr(addr_mod, table, None), dict):
            getattr(addr_mod, table)["shm"] = value
        else:
            _warn(f"tractor.discovery._addr.{table}")
    if isinstance(getattr(addr_mod, "_address_protos", None), list) and ShmAddress not in addr_mod._address_protos:
        addr_mod._address_protos.append(ShmAddress)
    original = getattr(addr_mod, "wrap_address", None)
    if original is None:
        _warn("tractor.discovery._addr.wrap_address")
        return

    def wrap_address(addr: Any) -> Any:
        """tractor's wrap_address, which first recognizes shmring addresses."""
        if isinstance(addr, ShmAddress):
            return addr
        if is_unwrapped_shm(addr):
            return ShmAddress.from_addr(addr)
        return original(addr)

    wrap_address.__wrapped__ = original  # type: ignore[attr-defined]
    _rebind("wrap_address", wrap_address, _WRAP_ADDRESS_USERS)


def _register_multiaddr() -> None:
    """tractor's mk_maddr/parse_maddr (config tables, --tpt-bind-addrs, a
    transport's .maddr) learn /shm/<path>."""
    maddr_mod = _module("tractor.discovery._multiaddr")
    if maddr_mod is None:
        return
    # Its _tpt_proto_to_maddr/_maddr_to_tpt_proto tables stay as they are:
    # only mk_maddr/parse_maddr read them, and those are wrapped below.
    original_mk = getattr(maddr_mod, "mk_maddr", None)
    original_parse = getattr(maddr_mod, "parse_maddr", None)
    if original_mk is None or original_parse is None or getattr(original_mk, "_shmring", False):
        if original_mk is None or original_parse is None:
            _warn("tractor.discovery._multiaddr.mk_maddr/parse_maddr")
        return

    def mk_maddr(addr: Any) -> Any:
        """tractor's mk_maddr, which also builds /shm/<path>."""
        if getattr(addr, "proto_key", None) == "shm":
            return ShmMultiaddr(addr.sockpath)
        return original_mk(addr)

    def parse_maddr(maddr_str: str) -> Any:
        """tractor's parse_maddr, which also reads /shm/<path>."""
        if isinstance(maddr_str, str) and maddr_str.startswith(ShmMultiaddr.PREFIX):
            return ShmMultiaddr.parse(maddr_str).address()
        return original_parse(maddr_str)

    mk_maddr._shmring = True  # type: ignore[attr-defined]
    mk_maddr.__wrapped__ = original_mk  # type: ignore[attr-defined]
    parse_maddr.__wrapped__ = original_parse  # type: ignore[attr-defined]
    _rebind("mk_maddr", mk_maddr, ("tractor.discovery._multiaddr", "tractor.discovery", "tractor.ipc._tcp",
                                   "tractor.ipc._uds"))
    _rebind("parse_maddr", parse_maddr, ("tractor.discovery._multiaddr", "tractor.discovery"))


def _register_transport() -> None:
    try:
        from ._transport import MsgpackShmStream
    except Exception as exc:  # a tractor without the names the transport builds on
        _warn("what the 'shm' transport builds on (tractor.ipc._transport, tractor._exceptions, tractor.msg)", exc)
        return
    from .. import trio as shm_trio

    types_mod = _module("tractor.ipc._types")
    if types_mod is None:
        return
    if MsgpackShmStream not in getattr(types_mod, "_msg_transports", []):
        getattr(types_mod, "_msg_transports", []).append(MsgpackShmStream)
    for table, key in (("_key_to_transport", ("msgpack", "shm")), ("_addr_to_transport", ShmAddress)):
        if isinstance(getattr(types_mod, table, None), dict):
            getattr(types_mod, table)[key] = MsgpackShmStream
        else:
            _warn(f"tractor.ipc._types.{table}")
    original = getattr(types_mod, "transport_from_stream", None)
    if original is None:
        _warn("tractor.ipc._types.transport_from_stream")
        return

    def transport_from_stream(stream: Any, codec_key: str = "msgpack") -> Any:
        """tractor's transport_from_stream, which also knows shmring streams."""
        if isinstance(stream, shm_trio.ByteStream):
            return types_mod._key_to_transport[(codec_key, "shm")]
        return original(stream, codec_key)

    _rebind("transport_from_stream", transport_from_stream, ("tractor.ipc._types", "tractor.ipc._chan"))


def _register_reaping() -> None:
    """After tractor hard-kills a child process, remove its stale 'shm' sockets
    (the segments are memfds: nothing of them outlives the process)."""
    spawn_mod = _module("tractor.spawn._spawn")
    original = getattr(spawn_mod, "hard_kill", None) if spawn_mod else None
    if original is None:
        _warn("tractor.spawn._spawn.hard_kill")
        return
    if getattr(original, "_shmring", False):
        return

    async def hard_kill(*args: Any, **kwargs: Any) -> Any:
        try:
            return await original(*args, **kwargs)
        finally:
            from ._address import reap_stale_sockets

            reap_stale_sockets()

    hard_kill._shmring = True  # type: ignore[attr-defined]
    _rebind("hard_kill", hard_kill, ("tractor.spawn._spawn", "tractor.spawn._trio", "tractor.spawn._mp"))


def _register_struct_fields() -> None:
    """tractor pretty-prints every delivered message for a log line; the
    fields of each message type are looked up once instead (_struct_fields)."""
    from . import _struct_fields

    def install(pretty_struct: Any) -> None:
        if not _struct_fields.install(pretty_struct):
            _warn("tractor.msg.pretty_struct.structs (msgspec.structs): its messages are formatted the slow way")

    when_imported("tractor.msg.pretty_struct", install)


def _register_testing() -> None:
    """tractor's test helpers pick a random registry address per protocol
    (only tractor's own test suite imports them: patched once it does)."""
    when_imported("tractor._testing.addr", _patch_testing_addr)


def _patch_testing_addr(testing_addr: Any) -> None:
    original = getattr(testing_addr, "get_rando_addr", None)
    if original is None or getattr(original, "_shmring", False):
        return

    def get_rando_addr(tpt_proto: str, *args: Any, **kwargs: Any) -> Any:
        if tpt_proto == "shm":
            return ShmAddress.get_random().unwrap()
        return original(tpt_proto, *args, **kwargs)

    get_rando_addr._shmring = True  # type: ignore[attr-defined]
    testing_addr.get_rando_addr = get_rando_addr

"""After the rows are applied: does tractor find 'shm' and 'shm_subint' the
way it looks them up, through its own functions? A row can be in place and
still be useless (tractor moved a lookup to another table); these catch
that. Each costs microseconds: they run in every tractor process and every
'shm_subint' child."""

from __future__ import annotations

import inspect
import sys
import typing
from typing import Any, Callable

from ._address import ShmAddress
from ._mismatch import Failure


def _lookups() -> tuple[tuple[str, Callable[[], Any], Callable[[], Any]], ...]:
    """(what is asked, asking it, what it must answer)."""
    addr = sys.modules["tractor.discovery._addr"]
    types = sys.modules["tractor.ipc._types"]
    multiaddr = sys.modules["tractor.discovery._multiaddr"]
    spawn = sys.modules["tractor.spawn._spawn"]
    root = ShmAddress.get_root()

    def transport() -> type:
        from ._transport import MsgpackShmStream

        return MsgpackShmStream

    def backend() -> Callable:
        from ._spawn import shm_subint_proc

        return shm_subint_proc

    return (
        ("tractor.discovery._addr.get_address_cls('shm')", lambda: addr.get_address_cls("shm"), lambda: ShmAddress),
        ("tractor.discovery._addr.default_lo_addrs(['shm'])", lambda: addr.default_lo_addrs(["shm"]),
         lambda: [root.unwrap()]),
        (f"tractor._root.wrap_address({root.unwrap()!r})",
         lambda: sys.modules["tractor._root"].wrap_address(root.unwrap()), lambda: root),
        # tractor's own address forms still reach tractor's wrap_address.
        ("tractor.discovery._addr.wrap_address(('127.0.0.1', 1616)).proto_key",
         lambda: addr.wrap_address(("127.0.0.1", 1616)).proto_key, lambda: "tcp"),
        # tractor's Endpoint looks start_listener up next to the address class.
        ("callable(inspect.getmodule(ShmAddress).start_listener)",
         lambda: callable(getattr(inspect.getmodule(root), "start_listener", None)), lambda: True),
        ("tractor.ipc._types.transport_from_addr(ShmAddress.get_root())", lambda: types.transport_from_addr(root),
         transport),
        ("tractor.discovery._multiaddr.parse_maddr(str(mk_maddr(ShmAddress.get_root())))",
         lambda: multiaddr.parse_maddr(str(multiaddr.mk_maddr(root))), lambda: root),
        ("'shm_subint' in typing.get_args(tractor.spawn._spawn.SpawnMethodKey)",
         lambda: "shm_subint" in typing.get_args(spawn.SpawnMethodKey), lambda: True),
        ("tractor.spawn._spawn._methods['shm_subint']", lambda: spawn._methods.get("shm_subint"), backend),
    )


def run() -> list[Failure]:
    """Every lookup that does not find what registration put in place."""
    try:
        lookups = _lookups()
    except Exception as exc:  # noqa: BLE001  (a module the lookups go through is gone)
        return [Failure("tractor's lookups", f"cannot be reached: {type(exc).__name__}: {exc}")]
    failures = []
    for what, ask, answer in lookups:
        try:
            found, expected = ask(), answer()
        except Exception as exc:  # noqa: BLE001  (tractor's lookup itself changed or failed)
            failures.append(Failure(what, f"raised {type(exc).__name__}: {exc}"))
            continue
        if not (found is expected or found == expected):
            failures.append(Failure(what, f"expected {expected!r}, found {found!r}"))
    return failures

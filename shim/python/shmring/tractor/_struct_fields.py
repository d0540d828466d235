"""tractor formats every message it delivers, for a log line.

``Context._deliver_msg`` builds ``f"...{Struct.pformat(msg)}"`` for a
``log.runtime`` call on every message of every context, whether that level
is on or not. ``pformat`` asks ``msgspec.structs.fields()`` for the
message's fields, and msgspec re-evaluates the class's type annotations on
each call (``typing.ForwardRef`` objects, ``get_type_hints``-style walks):
measured here, ~40% of the CPU of a 64 B context-stream round trip, for
every transport (docs/tractor.md, "Where a round trip's time goes").

A Struct class's fields do not change after the class is made, so
``tractor.msg.pretty_struct`` gets a ``structs`` module whose ``fields()``
remembers them per class: the same FieldInfo tuples, the same log text,
computed once per message type instead of once per message. Put in place at
registration (a row of ``_table``), in every process shmring's tractor
plugin is registered in (whatever transport it uses).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any


class MemoizedStructs:
    """``msgspec.structs`` with ``fields()`` remembered per Struct class."""

    def __init__(self, structs: ModuleType) -> None:
        import msgspec

        self._structs = structs
        self._struct = msgspec.Struct
        self._fields: dict[Any, tuple[Any, ...]] = {}

    def fields(self, type_or_instance: Any) -> tuple[Any, ...]:
        # An instance's fields are its class's (what msgspec does itself); a
        # class or a parametrized generic (Started[int]) is its own key.
        key = type(type_or_instance) if isinstance(type_or_instance, self._struct) else type_or_instance
        try:
            return self._fields[key]
        except KeyError:  # not seen yet; a non-Struct raises TypeError here, as msgspec does
            result = self._fields[key] = self._structs.fields(key)
            return result

    def __getattr__(self, name: str) -> Any:  # FieldInfo, asdict, replace, ...
        return getattr(self._structs, name)


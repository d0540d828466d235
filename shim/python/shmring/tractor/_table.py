"""Every name shmring's tractor plugin changes inside tractor, in one table.

tractor has no plugin API: it finds address classes, transports and spawn
backends in dicts and functions built when its modules are imported, and
several of its modules import those functions by name. Teaching it 'shm'
and 'shm_subint' therefore means changing names inside tractor's modules.
Each row below is one such name: which module and attribute, how it is
changed, what is put there (built by a function in ``_replacements`` or
``_refusals``), when, and why. ``_register`` applies the rows, checks them
as a whole, and changes nothing else; the tests compare this table with
what registration really changes in a real tractor. See docs/tractor.md,
"Registration".

Nothing here imports tractor.
"""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from ._address import ShmAddress

# The tractor this table was written against (and the tarball CI tests with).
WRITTEN_FOR = "tractor commit 3690e43 (goodboy/tractor main, 2026-08)"


class How(enum.Enum):
    DICT_ENTRY = "dict entry"  # module.name[key] = value
    LIST_ENTRY = "list entry"  # module.name.append(value)
    REPLACE = "replaced"  # module.name = build(module, tractor's value)
    REBIND = "rebound"  # module.name = what the row `same_as` put (the module imported that name)


class When(enum.Enum):
    REGISTRATION = "at registration"
    # tractor's test helpers import pytest and ~140 other modules: patched
    # once tractor's test suite imports them, never imported to patch them.
    ON_IMPORT = "when tractor's test suite imports the module"
    SHM_SUBINT = "when 'shm_subint' is selected (root) and in its children"
    SHM_SUBINT_CHILD = "in each 'shm_subint' child"
    # Only if registration failed: asking for 'shm' or 'shm_subint' raises
    # TractorMismatch instead of a confusing error from deep in tractor.
    ON_MISMATCH = "only if registration failed"


class Patch(NamedTuple):  # a NamedTuple, not a dataclass: this is built at every tractor start-up
    module: str  # the tractor module changed
    name: str  # its attribute
    how: How
    why: str
    build: str = ""  # "<module of shmring.tractor>:<function>", called as build(module, tractor's value)
    same_as: str = ""  # How.REBIND: the "module.name" of the row whose value this module gets
    key: Any = None  # How.DICT_ENTRY: the key inserted
    when: When = When.REGISTRATION
    expect: str = ""  # How.REPLACE: what tractor has there ("function", "Literal", "msgspec.structs")
    needs: tuple[str, ...] = ()  # other names of the module what we put there reads
    writes: tuple[str, ...] = ()  # names of the module what we put there assigns when tractor calls it

    @property
    def target(self) -> str:
        """'module.name', or 'module.name[key]' for a dict entry."""
        where = f"{self.module}.{self.name}"
        if self.how is How.DICT_ENTRY:
            key = self.key.__name__ if isinstance(self.key, type) else repr(self.key)
            return f"{where}[{key}]"
        return where

    def describe(self) -> str:
        """The target and how it is changed, for error messages."""
        if self.how is How.REBIND:
            return f"{self.target} (rebound with {self.same_as})"
        return f"{self.target} ({self.how.value}, built by {self.build})"


def _rebinds(source: str, name: str, modules: tuple[str, ...], why: str, when: When = When.REGISTRATION
             ) -> tuple[Patch, ...]:
    return tuple(Patch(module, name, How.REBIND, why, same_as=f"{source}.{name}", when=when) for module in modules)


ADDR = "tractor.discovery._addr"
MULTIADDR = "tractor.discovery._multiaddr"
TYPES = "tractor.ipc._types"
SPAWN = "tractor.spawn._spawn"
STACKSCOPE = "tractor.devx._stackscope"

TABLE: tuple[Patch, ...] = (
    # --- the address ------------------------------------------------------
    Patch(ADDR, "_address_types", How.DICT_ENTRY, key="shm", build="_replacements:address_class",
          why="get_address_cls('shm'): tractor's lookup of an address class by protocol key"),
    Patch(ADDR, "_default_lo_addrs", How.DICT_ENTRY, key="shm", build="_replacements:root_address",
          why="default_lo_addrs(['shm']): the registry address of a root actor given none"),
    Patch(ADDR, "_address_protos", How.LIST_ENTRY, build="_replacements:address_class",
          why="the list tractor derived the two tables above from; kept in step for code that reads it later"),
    Patch(ADDR, "wrap_address", How.REPLACE, build="_replacements:wrap_address", expect="function",
          why="its match takes any (str, str) for UDS: ours recognizes ('shm:<dir>', '<file>') first, "
              "then calls tractor's"),
    *_rebinds(ADDR, "wrap_address",
              ("tractor._root", "tractor.discovery._api", "tractor.discovery._registry", "tractor.ipc._chan",
               "tractor.runtime._runtime", "tractor.spawn._reap"),
              why="imported wrap_address by name"),
    # --- the multiaddr form (/shm/<socket path>) --------------------------
    Patch(MULTIADDR, "mk_maddr", How.REPLACE, build="_replacements:mk_maddr", expect="function",
          why="a transport's .maddr: /shm/<path> for a ShmAddress, else tractor's"),
    *_rebinds(MULTIADDR, "mk_maddr", ("tractor.discovery", "tractor.ipc._tcp", "tractor.ipc._uds"),
              why="imported mk_maddr by name"),
    Patch(MULTIADDR, "parse_maddr", How.REPLACE, build="_replacements:parse_maddr", expect="function",
          why="tpt_bind_addrs strings and wrap_address('/...'): reads /shm/<path>, else tractor's"),
    *_rebinds(MULTIADDR, "parse_maddr", ("tractor.discovery",), why="imported parse_maddr by name"),
    # --- the transport ----------------------------------------------------
    Patch(TYPES, "_msg_transports", How.LIST_ENTRY, build="_replacements:transport_class",
          why="the list tractor derived its transport tables from; kept in step for code that reads it later"),
    Patch(TYPES, "_key_to_transport", How.DICT_ENTRY, key=("msgpack", "shm"), build="_replacements:transport_class",
          why="the transport for a (codec, protocol) key"),
    Patch(TYPES, "_addr_to_transport", How.DICT_ENTRY, key=ShmAddress, build="_replacements:transport_class",
          why="transport_from_addr(a ShmAddress): the transport a connection to it uses"),
    Patch(TYPES, "transport_from_stream", How.REPLACE, build="_replacements:transport_from_stream",
          expect="function", needs=("_key_to_transport",),
          why="tractor's knows socket streams only: a shmring ByteStream gets MsgpackShmStream"),
    *_rebinds(TYPES, "transport_from_stream", ("tractor.ipc._chan",), why="imported transport_from_stream by name"),
    # --- spawning ---------------------------------------------------------
    Patch(SPAWN, "hard_kill", How.REPLACE, build="_replacements:hard_kill", expect="function",
          why="after tractor's hard kill, removes the 'shm' sockets dead processes left (the rings are "
              "memfds: nothing else outlives a process)"),
    *_rebinds(SPAWN, "hard_kill", ("tractor.spawn._trio",), why="imported hard_kill by name"),
    Patch(SPAWN, "_methods", How.DICT_ENTRY, key="shm_subint", build="_replacements:spawn_backend",
          why="tractor's table of spawn backends"),
    Patch(SPAWN, "SpawnMethodKey", How.REPLACE, build="_replacements:spawn_method_key", expect="Literal",
          why="the Literal of valid backend keys, widened by 'shm_subint' (tractor's pytest plugin checks "
              "--spawn-backend against it)"),
    Patch(SPAWN, "try_set_start_method", How.REPLACE, build="_replacements:try_set_start_method",
          expect="function", needs=("_ctx", "_spawn_method"), writes=("_ctx", "_spawn_method"),
          why="its match knows tractor's keys only: for 'shm_subint' ours applies the SHM_SUBINT rows, starts "
              "filling the pool and sets the method as tractor's does for its own; other keys go to tractor's"),
    # --- every process: cheaper message formatting ------------------------
    Patch("tractor.msg.pretty_struct", "structs", How.REPLACE, build="_replacements:memoized_structs",
          expect="msgspec.structs",
          why="tractor formats every delivered message for a log line; fields are looked up once per "
              "message type instead of once per message (_struct_fields)"),
    # --- tractor's test helpers -------------------------------------------
    Patch("tractor._testing.addr", "get_rando_addr", How.REPLACE, build="_replacements:get_rando_addr",
          expect="function", when=When.ON_IMPORT,
          why="a random 'shm' registry address for tractor's test suite (its reg_addr fixture)"),
    *_rebinds(SPAWN, "SpawnMethodKey", ("tractor._testing.pytest",), when=When.ON_IMPORT,
              why="tractor's pytest plugin checks --spawn-backend against the name it imported"),
    # --- 'shm_subint' -----------------------------------------------------
    Patch("tractor.devx._frame_stack", "find_caller_info", How.REPLACE, build="_replacements:find_caller_info",
          expect="function", needs=("CallerInfo", "func_ref_from_frame"), when=When.SHM_SUBINT,
          why="the same frame walk without inspect.stack(), whose source reads every actor pays for under "
              "one GIL (_caller_info)"),
    Patch(STACKSCOPE, "enable_stack_on_sig", How.REPLACE, build="_replacements:no_stack_on_sig",
          expect="function", when=When.SHM_SUBINT_CHILD,
          why="a sub-interpreter's thread may not install signal handlers (the ValueError killed a debug-mode "
              "child's runtime)"),
    *_rebinds(STACKSCOPE, "enable_stack_on_sig", ("tractor.devx",), when=When.SHM_SUBINT_CHILD,
              why="re-exports enable_stack_on_sig"),
    Patch("tractor.devx._proctitle", "set_actor_proctitle", How.REPLACE, build="_replacements:no_proctitle",
          expect="function", when=When.SHM_SUBINT_CHILD,
          why="a child in the parent's process would retitle the parent, and every sibling with it"),
    # --- refusals, only if registration failed ----------------------------
    Patch("tractor._root", "open_root_actor", How.REPLACE, build="_refusals:open_root_actor", expect="function",
          when=When.ON_MISMATCH,
          why="asking for 'shm' (enable_transports, the default protocol) or 'shm_subint' (start_method, "
              "TRACTOR_SPAWN_METHOD) raises TractorMismatch; anything else goes to tractor's"),
    *_rebinds("tractor._root", "open_root_actor", ("tractor", "tractor.runtime._supervise"), when=When.ON_MISMATCH,
              why="imported open_root_actor by name (tractor.open_root_actor, open_nursery's implicit root)"),
    Patch(SPAWN, "try_set_start_method", How.REPLACE, build="_refusals:try_set_start_method", expect="function",
          when=When.ON_MISMATCH,
          why="'shm_subint' raises TractorMismatch (tractor's pytest plugin selects backends here); other keys "
              "go to tractor's"),
)


def rows(when: When) -> tuple[Patch, ...]:
    return tuple(patch for patch in TABLE if patch.when is when)

"""The 'shm_subint' spawn backend: tractor actors as sub-interpreters.

Each child is a sub-interpreter on its own thread, from shmring's warm pool
(``_pool``: tractor, trio and msgspec already imported), running tractor's
own child entry point. It talks to its parent over the channel the spawner
made for it (``_handover``), not through a socket, and gets its
``SpawnSpec`` exactly as with the ``trio`` backend (the child side speaks
that backend's protocol). The parent keeps a process-like handle; a hard
kill aborts the child's channel first (the parent's pending receive ends at
once), then runs the spawner's kill ladder (SystemExit in the child's
thread, bounded wait, abandon).

Config: 'legacy' (shared GIL), because msgspec's C extension cannot load in
an isolated interpreter yet (msgspec issue 1026); if a probe finds that it
can, 'isolated' is used.
"""

from __future__ import annotations

import marshal
import os
from typing import Any

import trio

from . import _handover, _pool

_HARD_KILL_GRACE = 1.6  # the trio backend's terminate_after


# ---------------------------------------------------------------------------
# The child (runs inside the sub-interpreter)
# ---------------------------------------------------------------------------


def child_main(endpoint: Any, args: bytes) -> bytes:
    """The actor entry point the spawner calls in the child interpreter."""
    uid, loglevel, parent_addr, infect_asyncio = marshal.loads(args)
    from . import _subint_fixes  # before tractor's imports
    from tractor._child import _actor_child_main

    _subint_fixes.patch_tractor()  # TractorMismatch (the parent hears of it) if this tractor moved

    # tractor "connects" to this address: it is the spawner's channel.
    to_parent = _handover.park(endpoint, uid[0], parent_addr)
    # The child side follows the trio backend's protocol (handshake, then
    # the SpawnSpec from the parent), which tractor keys on this name.
    _actor_child_main(uid=tuple(uid), loglevel=loglevel, parent_addr=to_parent.unwrap(),
                      infect_asyncio=infect_asyncio, spawn_method="trio")
    return b""


def msgspec_probe(endpoint: Any, args: bytes) -> bytes:
    """Can msgspec load in this (isolated) interpreter?"""
    import msgspec  # noqa: F401

    return b"ok"


# ---------------------------------------------------------------------------
# The parent
# ---------------------------------------------------------------------------


class SubintProcess:
    """What tractor keeps as a child's "process": terminate, kill, wait, poll."""

    def __init__(self, actor: Any) -> None:
        self._actor = actor
        self.pid = os.getpid()  # same process
        self.channel_endpoint = None  # the parent's end of the child's tractor channel
        self.kill_step: str | None = None
        self._watching = False
        self._ended = trio.Event()

    @property
    def returncode(self) -> int | None:
        state = self._actor.state
        return {"exited": 0, "failed": 1, "killed": -9, "abandoned": -9}.get(state)

    def poll(self) -> int | None:
        return self.returncode

    def _abort_channel(self, why: str) -> None:
        if self.channel_endpoint is not None:
            self.channel_endpoint.abort(why)

    def terminate(self) -> None:
        self._abort_channel("actor terminated by its parent")
        self._actor.terminate()

    kill = terminate

    async def wait(self) -> int | None:
        if self.poll() is None:
            if self._watching:  # one task at a time may wait on the descriptor
                await self._ended.wait()
            else:
                await trio.lowlevel.wait_readable(self._actor._core.ended_fd())
        return self.returncode

    async def watch(self) -> None:
        """Waits for the end (for every wait() meanwhile); aborts the channel
        if the child failed: its interpreter then closed the channel as if it
        had said goodbye, and tractor would wait for it forever."""
        from .. import ActorError

        self._watching = True
        try:
            await trio.lowlevel.wait_readable(self._actor._core.ended_fd())
        finally:
            self._watching = False
        self._ended.set()
        if self._actor.state == "failed":
            self._abort_channel(f"actor {self._actor.name!r} failed:\n{ActorError(self._actor.name, self._actor._core.error)}")

    async def hard_kill(self, grace: float = _HARD_KILL_GRACE) -> str:
        self._abort_channel("actor hard-killed by its parent")
        self.kill_step = await self._actor.kill(grace)
        return self.kill_step

    def __repr__(self) -> str:
        return f"<SubintProcess {self._actor.name!r} {self._actor.state}>"


async def _wait_for_child(ipc_server: Any, subactor: Any, actor: Any) -> Any:
    """The child's channel once it handshook; ActorError if it ended first."""
    from .. import ActorError

    found: list = []
    async with trio.open_nursery() as nursery:

        async def peer() -> None:
            _, chan = await ipc_server.wait_for_peer(subactor.aid.uid)
            found.append(chan)
            nursery.cancel_scope.cancel()

        async def ended() -> None:
            await actor.wait()  # raises ActorError with the child's traceback if it failed
            nursery.cancel_scope.cancel()

        nursery.start_soon(peer)
        nursery.start_soon(ended)
    if not found:
        raise ActorError(actor.name, f"the actor ended ({actor.state}) before it connected to its parent")
    return found[0]


async def shm_subint_proc(
    name: str,
    actor_nursery: Any,
    subactor: Any,
    errors: dict,
    bind_addrs: list,
    parent_addr: Any,
    _runtime_vars: dict[str, Any],
    *,
    infect_asyncio: bool = False,
    task_status: Any = trio.TASK_STATUS_IGNORED,
    proc_kwargs: dict[str, Any] | None = None,
) -> None:
    """Starts one child actor in a sub-interpreter and supervises it (the
    shape of tractor's ``trio_proc``)."""
    from tractor.runtime._state import current_actor
    from tractor.msg import types as msgtypes
    from tractor.runtime._portal import Portal
    from tractor.spawn._spawn import cancel_on_completion, soft_kill

    # marshal: plain values only (the parent address is a tuple of str/int).
    args = marshal.dumps((tuple(subactor.aid.uid), subactor.loglevel, parent_addr, infect_asyncio))
    spawner, config = await _pool.get()
    proc: SubintProcess | None = None
    ipc_server = actor_nursery._actor.ipc_server
    cancelled_during_spawn = False
    try:
        try:
            actor = spawner.spawn("shmring.tractor._spawn:child_main", args=args, config=config,
                                  name=f"tractor[{name}]", preload=_pool.PRELOAD)
            proc = SubintProcess(actor)
            proc.channel_endpoint = actor.channel.endpoint
            _handover.serve(ipc_server, _handover.parent_stream(actor.channel.endpoint, name))
            chan = await _wait_for_child(ipc_server, subactor, actor)
        except trio.Cancelled:
            cancelled_during_spawn = True
            raise
        portal = Portal(chan)
        actor_nursery._children[subactor.aid.uid] = (subactor, proc, portal)
        await chan.send(msgtypes.SpawnSpec(
            _parent_main_data=subactor._parent_main_data,
            enable_modules=subactor.enable_modules,
            reg_addrs=subactor.reg_addrs,
            bind_addrs=bind_addrs,
            _runtime_vars=_runtime_vars,
        ))
        current_actor()._actoruid2nursery[subactor.aid.uid] = actor_nursery
        async with trio.open_nursery() as watch:
            watch.start_soon(proc.watch)  # a child that fails is heard of
            task_status.started(portal)
            with trio.CancelScope(shield=True):
                await actor_nursery._join_procs.wait()
            async with trio.open_nursery() as nursery:
                if portal in actor_nursery._cancel_after_result_on_exit:
                    nursery.start_soon(cancel_on_completion, portal, subactor, errors)
                await soft_kill(proc, SubintProcess.wait, portal)
                nursery.cancel_scope.cancel()
            watch.cancel_scope.cancel()
    finally:
        if proc is not None:
            with trio.CancelScope(shield=True):
                if proc.poll() is None:
                    await proc.hard_kill()
            if proc.poll() is not None:
                # A child that was killed never closed its listeners.
                from ._address import reap_stale_sockets

                reap_stale_sockets(actors_of_this_process=(subactor.aid.name,))
        if not cancelled_during_spawn:
            actor_nursery._children.pop(subactor.aid.uid, None)


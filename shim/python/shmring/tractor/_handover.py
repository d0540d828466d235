"""The channel the spawner made for a 'shm_subint' child, as tractor's
parent channel.

A child in the same process needs no rendezvous: the spawner already made a
channel and handed the child its end (by handle, like any actor's). The
child parks that end here, under an address in the in-process bindspace,
and tells tractor its parent is at that address; ``connect_stream`` of such
an address takes the parked end instead of connecting a socket. The parent
feeds its own end into its IPC server's stream handler, as if the child had
connected to its listener, so tractor's handshake, ``wait_for_peer`` and the
``SpawnSpec`` work unchanged. A hard kill aborts exactly this channel.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from .. import _core
from .. import trio as shm_trio
from ._address import ShmAddress, is_unwrapped_shm

# The bindspace of in-process channels: no directory, nothing on disk.
INPROC_DIR = "<in-process>"

_parked: dict[str, tuple[_core.Endpoint, Any]] = {}  # this interpreter's, by file name
_tokens = itertools.count(1)


def is_inproc(addr: ShmAddress) -> bool:
    return addr.filedir == INPROC_DIR


def park(endpoint: _core.Endpoint, name: str, parent_addr: Any) -> ShmAddress:
    """(child) Keeps the spawner's channel for tractor to "connect" to; returns its address."""
    addr = ShmAddress(INPROC_DIR, f"{name.replace('/', '_')}@{os.getpid()}-{next(_tokens)}", maybe_pid=os.getpid())
    _parked[addr.filename] = (endpoint, parent_addr)
    return addr


def child_stream(addr: ShmAddress) -> shm_trio.ByteStream:
    """(child) The parked channel as a byte stream; its remote address is the
    parent's own listening address when that is a 'shm' one."""
    try:
        endpoint, parent_addr = _parked.pop(addr.filename)
    except KeyError:
        raise ConnectionRefusedError(f"no in-process channel is parked at {addr!r} (taken already?)") from None
    # A kill raises SystemExit in this thread; this wakes the child's trio
    # loop so that it fires even if the loop waits for nothing that ends.
    import trio

    from .. import _actor

    token = trio.lowlevel.current_trio_token()
    _actor.add_kill_waker(lambda: token.run_sync_soon(_noop))
    stream = shm_trio.ByteStream(endpoint)
    stream.shm_laddr = addr
    stream.shm_raddr = ShmAddress.from_addr(parent_addr) if is_unwrapped_shm(parent_addr) else addr
    return stream


def _noop() -> None:
    pass


def parent_stream(endpoint: _core.Endpoint, child_name: str) -> shm_trio.ByteStream:
    """(parent) Its end of a child's channel as a byte stream tractor's server can handle."""
    stream = shm_trio.ByteStream(endpoint)
    stream.shm_laddr = stream.shm_raddr = ShmAddress(INPROC_DIR, f"{child_name.replace('/', '_')}@{os.getpid()}",
                                                     maybe_pid=os.getpid())
    return stream


def serve(ipc_server: Any, stream: shm_trio.ByteStream) -> None:
    """(parent) Hands the stream to tractor's server as a newly accepted one."""
    from functools import partial

    from tractor.ipc._server import handle_stream_from_peer

    ipc_server._stream_handler_tn.start_soon(partial(handle_stream_from_peer, stream, server=ipc_server))

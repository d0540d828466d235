"""The 'shm' message transport for tractor.

shmring channels carry whole messages, so each tractor message travels as
one channel message: ``codec.encode(msg)`` goes out as is and one receive
gives one ``codec.decode`` input -- no 4-byte length prefix, no byte-stream
buffering, no ``prefix + payload`` concatenation. tractor sees the
``MsgpackTransport`` interface and its error conventions: a closed or broken
channel is ``TransportClosed`` (with the trio error as its source), a message
outside the msg spec is a ``MsgTypeError``, a few undecodable messages are
logged and skipped.

``SHMRING_TRACTOR_FRAMING=prefixed`` selects tractor's own length-prefixed
framing over the same channel instead (``MsgpackTransport`` unchanged), for
comparison: ``bench/tractor_bench.py`` measures both.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
import trio
from tractor._exceptions import TransportClosed, _mk_recv_mte, _mk_send_mte
from tractor.ipc._transport import MsgpackTransport
from tractor.msg import _ctxvar_MsgCodec
from tractor.msg import types as msgtypes

from .. import _waiting
from .. import trio as shm_trio
from ._address import ShmAddress, connect_stream

log = logging.getLogger("shmring.tractor")

# Undecodable messages tolerated (and logged) before the receive loop gives up.
MAX_DECODE_FAILURES = 4


class _SpawnCounter(trio.abc.Instrument):
    """Counts the tasks spawned in its trio run (one per run, see spawn_counter)."""

    def __init__(self) -> None:
        self.count = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.count += 1


_SPAWN_COUNTER: trio.lowlevel.RunVar[_SpawnCounter] = trio.lowlevel.RunVar("shmring_spawn_counter")


def spawn_counter() -> _SpawnCounter:
    """This trio run's spawn counter, installed on first use."""
    try:
        return _SPAWN_COUNTER.get()
    except LookupError:
        counter = _SpawnCounter()
        trio.lowlevel.add_instrument(counter)
        _SPAWN_COUNTER.set(counter)
        return counter


def message_native() -> bool:
    return os.environ.get("SHMRING_TRACTOR_FRAMING", "native") != "prefixed"


class MsgpackShmStream(MsgpackTransport):
    """tractor's msgpack transport carried by a shmring channel, one tractor
    message per channel message."""

    address_type = ShmAddress
    layer_key: int = 4

    def __init__(self, stream: shm_trio.ByteStream, *args: Any, **kwargs: Any) -> None:
        super().__init__(stream, *args, **kwargs)
        self._native = message_native()  # read once: os.environ per message costs

    @property
    def maddr(self) -> str:
        return f"/shm{self.raddr.sockpath}" if self.raddr else "<unknown-peer>"

    def connected(self) -> bool:
        return self.stream.endpoint.state in ("open", "send-closed", "peer-closed")

    @classmethod
    async def connect_to(cls, addr: ShmAddress, prefix_size: int = 4, codec: Any = None, **kwargs: Any) -> MsgpackShmStream:
        stream = await connect_stream(addr)
        return cls(stream, prefix_size=prefix_size, codec=codec)

    @classmethod
    def get_stream_addrs(cls, stream: shm_trio.ByteStream) -> tuple[ShmAddress, ShmAddress]:
        try:
            return stream.shm_laddr, stream.shm_raddr
        except AttributeError:
            raise TypeError(f"{stream!r} was not made by shmring's tractor transport (no addresses)") from None

    # --- the message-native path -------------------------------------------

    async def _iter_packets(self) -> AsyncGenerator[Any, None]:
        if not self._native:
            async for msg in super()._iter_packets():
                yield msg
            return
        name = repr(type(self).__name__)
        failures = 0
        spawns = spawn_counter()
        seen = spawns.count
        while True:
            try:
                # A large message reassembled from fragments is decoded from
                # the reassembled memory (its payload stays a view into it
                # until tractor decodes that): one copy fewer than bytes.
                data = await self.stream.receive_message(copy=False)
            except trio.BrokenResourceError as exc:  # peer died, channel aborted or corrupt
                raise TransportClosed(message=f"{name} already closed by peer\n", src_exc=exc,
                                      loglevel="transport") from exc
            except trio.ClosedResourceError as exc:  # another task of ours closed it
                raise TransportClosed(message=f"{name} was already closed locally?", src_exc=exc, loglevel="error",
                                      raise_on_report="another task closed this fd" in exc.args) from exc
            if data is None:
                raise TransportClosed(message=f"{name} already gracefully closed\n", loglevel="transport")
            # Handling the previous message may have started a task that must
            # run before the next one is handled: tractor's overrun handling
            # starts a drain task and asserts (`assert not tn.child_tasks`)
            # that it ran before the next delivery. The receive above passed
            # one schedule point; trio's randomized batch order needs a
            # second for the new task to be sure to go first (tractor's
            # framed transports pass two per message: header, then body).
            # Only then: a schedule point costs a whole pass of the scheduler.
            if spawns.count != seen:
                await trio.lowlevel.cancel_shielded_checkpoint()
            codec = _ctxvar_MsgCodec.get()  # the receiving task's codec, as tractor does
            try:
                msg = codec.decode(data)
            except msgspec.ValidationError as exc:
                # Delivered, not raised: Channel.recv() re-raises it with the peer's uid.
                msg = _mk_recv_mte(msg=data, codec=codec, src_validation_error=exc)
            except (msgspec.DecodeError, UnicodeDecodeError):
                failures += 1
                if failures > MAX_DECODE_FAILURES:
                    raise
                log.exception(f"{name}: could not decode a message ({len(data)} bytes): {bytes(data[:200])!r}")
                continue
            seen = spawns.count
            yield msg

    async def send(self, msg: Any, strict_types: bool = True, hide_tb: bool = True) -> None:
        if not self._native:
            return await super().send(msg, strict_types=strict_types, hide_tb=hide_tb)
        __tracebackhide__ = hide_tb
        # tractor's send lock, as its own transports take it: acquiring is a
        # schedule point *before* the message leaves, and tractor's programs
        # rely on that order (test_task_broadcasting: a task started just
        # before a send subscribes before the answer can arrive). It is
        # skipped only when the lock is free and nothing but shmring receives
        # between polls could run at it: they would only poll again.
        lock = self._send_lock
        if lock.locked() or not _waiting.only_polls_runnable():
            async with lock:
                await self._send_unlocked(msg, strict_types)
            return
        lock.acquire_nowait()
        try:
            await self._send_unlocked(msg, strict_types)
        finally:
            lock.release()

    async def _send_unlocked(self, msg: Any, strict_types: bool) -> None:
        codec = _ctxvar_MsgCodec.get()
        if type(msg) not in msgtypes.__msg_types__:
            if strict_types:
                raise _mk_send_mte(msg, codec=codec)
            log.warning(f"sending a message outside the msg spec: {msg!r}")
        try:
            data = codec.encode(msg)
        except TypeError as exc:
            raise _mk_send_mte(msg, codec=codec, message=f"IPC-msg-spec violation in\n\n{msg!r}",
                               src_type_error=exc) from exc
        try:
            await self.stream.send_message(data)
        except trio.BrokenResourceError as exc:
            name = repr(type(self).__name__)
            raise TransportClosed.from_src_exc(message=f"{name} already closed by peer\n", body=f"{self}",
                                               src_exc=exc, raise_on_report=True, loglevel="transport") from exc
        except trio.ClosedResourceError as exc:
            name = repr(type(self).__name__)
            raise TransportClosed.from_src_exc(message=f"{name} was already closed locally?\n", body=f"{self}",
                                               src_exc=exc, raise_on_report=True, loglevel="transport") from exc

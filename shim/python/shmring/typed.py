"""Typed messages that C++ actors understand (``messaging/`` in shmring).

A typed message is one channel message holding a msgpack array::

    [tag, body]                 a plain message ("tell")
    [tag, body, kind, id]       kind 1 = request, 2 = reply, 3 = error reply;
                                a reply carries its request's id

``tag`` is a string naming the type; ``body`` is any msgpack value (C++
structs declared with ``MSGPACK_DEFINE_MAP`` are maps of their fields). An
error reply's tag is ``"shmring.error"`` and its body ``{"message": str}``.
docs/wire-format.md ("Typed messages") is the reference.

:func:`encode` and :func:`decode` convert single frames; :class:`TypedChannel`
wraps a :class:`shmring.trio.MessageChannel` with requests (ids, timeouts)
and replies, reading in a background task::

    async with shmring.typed.open_typed(channel) as peer:
        total = await peer.request("add", {"a": 2, "b": 40}, timeout=5)
        message = await peer.receive()          # tells and requests from the peer
        if message.kind == shmring.typed.REQUEST:
            await peer.reply(message, "greeting", {"text": "hello"})

Needs the ``msgpack`` package (``pip install msgpack``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import msgpack
import trio

from .trio import MessageChannel

__all__ = [
    "ERROR",
    "ERROR_TAG",
    "REPLY",
    "REQUEST",
    "TELL",
    "DecodeError",
    "Message",
    "RemoteError",
    "TypedChannel",
    "decode",
    "encode",
    "open_typed",
]

TELL, REQUEST, REPLY, ERROR = 0, 1, 2, 3
ERROR_TAG = "shmring.error"


@dataclass(frozen=True, slots=True)
class Message:
    tag: str
    body: Any
    kind: int = TELL
    id: int = 0


class DecodeError(ValueError):
    """A frame that is not a typed message; ``frame`` holds its bytes."""

    def __init__(self, why: str, frame: bytes):
        super().__init__(f"not a typed message: {why}")
        self.frame = frame


class RemoteError(Exception):
    """The peer answered a request with an error reply."""


def encode(tag: str, body: Any, kind: int = TELL, id: int = 0) -> bytes:
    if not isinstance(tag, str):
        raise TypeError(f"a tag is a str, not {type(tag).__name__}")
    if kind not in (TELL, REQUEST, REPLY, ERROR):
        raise ValueError(f"kind must be TELL, REQUEST, REPLY or ERROR (0..3), not {kind!r}")
    if kind == TELL:
        return msgpack.packb([tag, body])
    if not 0 <= id < 2**64:
        raise ValueError(f"a request id is an unsigned 64-bit integer, not {id!r}")
    return msgpack.packb([tag, body, kind, id])


def decode(frame: bytes | bytearray | memoryview) -> Message:
    data = bytes(frame)
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types
        raise DecodeError(f"invalid msgpack ({exc})", data) from exc
    if not isinstance(value, list) or len(value) not in (2, 4):
        raise DecodeError(f"expected [tag, body] or [tag, body, kind, id], got {type(value).__name__}", data)
    if not isinstance(value[0], str):
        raise DecodeError(f"the tag is {type(value[0]).__name__}, not str", data)
    if len(value) == 2:
        return Message(value[0], value[1])
    kind, id_ = value[2], value[3]
    if not (isinstance(kind, int) and 0 <= kind <= 3 and isinstance(id_, int) and id_ >= 0):
        raise DecodeError(f"kind/id {kind!r}/{id_!r} are not 0..3 and an unsigned integer", data)
    return Message(value[0], value[1], kind, id_)


class TypedChannel:
    """Typed messages over a MessageChannel, with requests and replies.

    A background task reads the channel: replies go to the :meth:`request`
    waiting for them, everything else to :meth:`receive`. Frames that are not
    typed messages are counted in ``undecodable`` and skipped (the channel
    stays usable). Use :func:`open_typed`.
    """

    def __init__(self, channel: MessageChannel, *, backlog: int = 1024):
        self.channel = channel
        self.undecodable = 0
        self._ids = itertools.count(1)
        self._waiting: dict[int, tuple[trio.Event, list[Message]]] = {}
        self._inbox_send, self._inbox = trio.open_memory_channel[Message](backlog)
        self._send_lock = trio.Lock()
        self._ended: BaseException | None = None  # why the reader stopped

    async def send(self, tag: str, body: Any) -> None:
        async with self._send_lock:
            await self.channel.send(encode(tag, body))

    async def receive(self) -> Message:
        """The next tell or request from the peer; EndOfChannel when it closed."""
        try:
            return await self._inbox.receive()
        except trio.EndOfChannel:
            if isinstance(self._ended, trio.BrokenResourceError):
                raise trio.BrokenResourceError(str(self._ended)) from self._ended
            raise

    async def request(self, tag: str, body: Any, *, timeout: float = math.inf) -> Message:
        """Sends a request and returns the reply; RemoteError for an error reply,
        trio.TooSlowError after `timeout` seconds, trio.BrokenResourceError if
        the channel ends first."""
        id_ = next(self._ids)
        done, box = trio.Event(), []
        self._waiting[id_] = (done, box)
        try:
            async with self._send_lock:
                await self.channel.send(encode(tag, body, REQUEST, id_))
            with trio.fail_after(timeout):
                await done.wait()
        finally:
            self._waiting.pop(id_, None)
        reply = box[0]
        if isinstance(reply, BaseException):
            raise trio.BrokenResourceError("the channel ended before the reply") from reply
        if reply.kind == ERROR:
            message = reply.body.get("message") if isinstance(reply.body, dict) else reply.body
            raise RemoteError(str(message))
        return reply

    async def reply(self, request: Message, tag: str, body: Any) -> None:
        async with self._send_lock:
            await self.channel.send(encode(tag, body, REPLY, request.id))

    async def reply_error(self, request: Message, message: str) -> None:
        async with self._send_lock:
            await self.channel.send(encode(ERROR_TAG, {"message": message}, ERROR, request.id))

    async def _read(self) -> None:
        ended: BaseException = trio.EndOfChannel()
        try:
            async for frame in self.channel:
                try:
                    message = decode(frame)
                except DecodeError:
                    self.undecodable += 1
                    continue
                if message.kind in (REPLY, ERROR):
                    waiting = self._waiting.get(message.id)
                    if waiting is not None:
                        waiting[1].append(message)
                        waiting[0].set()
                    continue
                await self._inbox_send.send(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            ended = exc
        finally:
            self._ended = ended
            for done, box in self._waiting.values():
                box.append(ended)
                done.set()
            self._inbox_send.close()


@asynccontextmanager
async def open_typed(channel: MessageChannel, *, backlog: int = 1024) -> AsyncIterator[TypedChannel]:
    """Runs a TypedChannel's reader for the duration of the block; closes the
    channel at the end. When the channel breaks, receive() and request()
    raise trio.BrokenResourceError (its cause chain says why)."""
    typed = TypedChannel(channel, backlog=backlog)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(typed._read)
        try:
            yield typed
        finally:
            nursery.cancel_scope.cancel()
            await channel.aclose()

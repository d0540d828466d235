"""trio API for shmring channels.

Two faces of one endpoint:

- :class:`MessageChannel` -- a ``trio.abc.Channel[bytes]``: each ``send`` is one
  message, each ``receive`` returns one whole message; end of channel raises
  ``trio.EndOfChannel``.
- :class:`ByteStream` -- a ``trio.abc.HalfCloseableStream``: ``send_all`` and
  ``receive_some`` over the same transport; ``receive_some`` returns ``b""`` at
  end of stream.

Make them with :func:`open_pair` / :func:`open_stream_pair` (in one process),
:func:`connect` / :func:`connect_stream` and :func:`open_listener` /
:func:`open_stream_listener` (across processes, over a Unix socket path).

How waiting works: every call first tries the ring without blocking. A
receive that finds it empty polls it for a while -- in C with the GIL
released while no other task is runnable, with a schedule point between
polls -- and then announces that it parks (``prepare_recv_wait``) and awaits
``trio.lowlevel.wait_readable`` on the endpoint's descriptor (no thread per
wait). How long it polls adapts to the traffic: about twice the recent waits,
up to 250 us, and not at all once waits run longer (an idle channel costs no
CPU). A message found while polling costs no system call on either side.
``SHMRING_TRIO_SPIN=<seconds>`` fixes the poll budget instead: ``0`` never
polls (least CPU), ``0.001`` is a latency mode that keeps a core busy while
waiting. A send waits for room by parking. A receive that is cancelled has
consumed nothing; a send that is cancelled has sent nothing (see
:meth:`MessageChannel.send` for messages larger than the ring).

Errors follow trio's conventions, which tractor relies on:

- the peer closed: ``receive_some`` returns ``b""``, ``receive`` raises
  ``trio.EndOfChannel``; sending to a peer that stopped receiving raises
  ``trio.BrokenResourceError`` from ``BrokenPipeError`` (EPIPE);
- the peer died, the channel was aborted or found corrupt:
  ``trio.BrokenResourceError`` from ``ConnectionResetError`` (ECONNRESET),
  whose own cause is the ``shmring`` error that says what happened;
- this side closed: ``trio.ClosedResourceError``;
- two tasks using one direction at once: ``trio.BusyResourceError``.
"""

from __future__ import annotations

import errno
import math
import os
import time
from collections.abc import Buffer
from typing import Any

import trio

from . import _core, _waiting

__all__ = [
    "ByteStream",
    "Listener",
    "MessageChannel",
    "StreamListener",
    "connect",
    "connect_stream",
    "open_listener",
    "open_pair",
    "open_stream_listener",
    "open_stream_pair",
]

# A message larger than the ring's free space is written in several steps. If
# the sending task is cancelled after the first step, the rest is still sent,
# shielded, for at most this long; if the reader does not make room in time,
# the channel is aborted (the message is never delivered torn, and the
# cancelled send never arrives later).
_PENDING_GRACE = 1.0

# trio's own words for a closed SocketStream, on purpose: code written for
# trio streams (tractor among it: ipc/_transport.py) tells "closed here" from
# "closed while we waited" by these texts.
_ALREADY_CLOSED = "this socket was already closed"
_CLOSED_BY_OTHER_TASK = "another task closed this fd"


def _broken(exc: _core.ChannelError, sending: bool) -> trio.BrokenResourceError:
    """Maps a final channel error to trio's BrokenResourceError with an OSError cause."""
    if isinstance(exc, _core.PeerClosedError) and sending:
        cause: OSError = BrokenPipeError(errno.EPIPE, str(exc))
    else:
        cause = ConnectionResetError(errno.ECONNRESET, str(exc))
    cause.__cause__ = exc
    broken = trio.BrokenResourceError(str(exc))
    broken.__cause__ = cause
    return broken


class _Conn:
    """The waiting, busy-checking and error-mapping shared by both faces."""

    def __init__(self, endpoint: _core.Endpoint) -> None:
        if not isinstance(endpoint, _core.Endpoint):
            raise TypeError(f"expected a shmring._core.Endpoint, not {type(endpoint).__name__}")
        self.endpoint = endpoint
        self._recv_fd = endpoint.recv_fd()
        self._send_fd = endpoint.send_fd()
        self._closed = False
        self._sending = False
        self._receiving = False
        self._estimate = _waiting.WaitEstimate()  # how long this side's receives wait

    # --- guards -----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise trio.ClosedResourceError(_ALREADY_CLOSED)

    def _translate(self, exc: _core.ChannelError, sending: bool) -> BaseException:
        if isinstance(exc, _core.ClosedError):
            closed = trio.ClosedResourceError(_ALREADY_CLOSED)
            closed.__cause__ = exc
            return closed
        if isinstance(exc, _core.BusyError):
            busy = trio.BusyResourceError(str(exc))
            busy.__cause__ = exc
            return busy
        if isinstance(exc, _core.TooLargeError):
            return exc
        return _broken(exc, sending)

    async def _wait(self, fd: int) -> None:
        try:
            await trio.lowlevel.wait_readable(fd)
        except trio.ClosedResourceError:
            raise trio.ClosedResourceError(_CLOSED_BY_OTHER_TASK) from None

    # --- sending ----------------------------------------------------------

    async def send_message(self, data: Buffer) -> None:
        if self._sending:
            raise trio.BusyResourceError("another task is already sending on this channel")
        self._sending = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_open()
            size = memoryview(data).nbytes
            ep = self.endpoint
            try:
                while not ep.try_send(data):
                    if ep.prepare_send_wait(size):
                        await self._wait(self._send_fd)  # cancelled here: nothing was sent
                    self._check_open()
                if ep.has_pending_send:
                    await self._finish_pending()
                else:
                    await trio.lowlevel.cancel_shielded_checkpoint()
            except _core.ChannelError as exc:
                raise self._translate(exc, sending=True)  # noqa: B904 (the cause is set inside)
        finally:
            self._sending = False

    async def _flush_pending(self) -> None:
        ep = self.endpoint
        while not ep.try_flush():
            if ep.prepare_send_wait(0):
                await self._wait(self._send_fd)

    async def _finish_pending(self) -> None:
        # The first fragments of a large message are in the ring: it must be
        # completed, or the channel aborted, whatever happens to this task.
        try:
            await self._flush_pending()
        except trio.Cancelled:
            with trio.CancelScope(shield=True) as scope:
                scope.deadline = trio.current_time() + _PENDING_GRACE
                await self._flush_pending()
            if self.endpoint.has_pending_send:
                self.endpoint.abort("a task was cancelled in the middle of sending a large message")
                raise
            # Delivered after all: report success; the cancellation is still
            # pending and fires at this task's next checkpoint.

    async def wait_send_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        try:
            while self.endpoint.prepare_send_wait(1):
                await self._wait(self._send_fd)
        except _core.ChannelError:
            pass  # the next send reports it
        await trio.lowlevel.cancel_shielded_checkpoint()

    # --- receiving --------------------------------------------------------

    async def receive_message(self, copy: bool = True) -> Buffer | None:
        """One whole message, or None at end of channel (copy: see ByteStream.receive_message)."""
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this channel")
        self._receiving = True
        try:
            await trio.lowlevel.checkpoint_if_cancelled()
            self._check_open()
            try:
                message = self.endpoint.try_recv(0.0, copy)
                if message is None:
                    return await self._await_message(copy)
                await trio.lowlevel.cancel_shielded_checkpoint()
                return message
            except _core.PeerClosedError:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return None
            except _core.ChannelError as exc:
                raise self._translate(exc, sending=False)  # noqa: B904 (the cause is set inside)
        finally:
            self._receiving = False

    async def _await_message(self, copy: bool) -> Buffer:
        """The ring was empty: poll while that pays, then park (shmring._waiting).
        Cancelled while polling or parked: nothing was consumed."""
        ep = self.endpoint
        budget = self._estimate.poll_budget()
        message = None
        yielded = False
        idle_since = None  # when this thread first had nothing else to run
        polls = 0
        task = trio.lowlevel.current_task()
        polling = _waiting.polling_tasks() if budget else set()
        while budget:
            if _waiting.runnable_tasks():
                message = ep.try_recv(0.0, copy)  # the time belongs to the runnable tasks
                if message is not None or polls >= _waiting.BUSY_POLLS:
                    break
            else:
                now = time.perf_counter()
                if idle_since is None:
                    idle_since = now
                left = idle_since + budget - now
                message = ep.try_recv(min(_waiting.POLL_SLICE, left) if left > 0 else 0.0, copy)
                if message is not None or left <= 0:
                    break
            polling.add(task)
            try:
                await trio.lowlevel.checkpoint()
            finally:
                polling.discard(task)
            yielded = True
            polls += 1
            if self._closed:  # by another task while this one polled: as a parked wait reports it
                raise trio.ClosedResourceError(_CLOSED_BY_OTHER_TASK)
        parked = False
        while message is None:
            if ep.prepare_recv_wait():
                await self._wait(self._recv_fd)
                yielded = parked = True
            self._check_open()
            message = ep.try_recv(0.0, copy)
        if budget:
            # How long the thread sat idle for it (none: it came while other
            # tasks ran; unknown after polling among busy tasks: count it long).
            if idle_since is not None:
                self._estimate.note(time.perf_counter() - idle_since, parked)
            else:
                self._estimate.note(0.0 if polls < _waiting.BUSY_POLLS else _waiting.LONG_WAIT, parked)
        if not yielded:
            await trio.lowlevel.cancel_shielded_checkpoint()
        # Otherwise the wait was this call's schedule point (as in trio's own
        # socket receives): none more.
        return message

    # --- closing ------------------------------------------------------------

    async def send_eof(self) -> None:
        await trio.lowlevel.checkpoint_if_cancelled()
        self._check_open()
        self.endpoint.send_eof()
        await trio.lowlevel.cancel_shielded_checkpoint()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Wake tasks waiting on our descriptors with ClosedResourceError.
        trio.lowlevel.notify_closing(self._recv_fd)
        trio.lowlevel.notify_closing(self._send_fd)
        self.endpoint.close()

    def abort(self, reason: str) -> None:
        self.endpoint.abort(reason)


class _Face:
    """What both faces of an endpoint share: the endpoint, half-close, abort, close."""

    _conn: _Conn

    @property
    def endpoint(self) -> _core.Endpoint:
        """The underlying ``shmring._core.Endpoint``."""
        return self._conn.endpoint

    async def send_eof(self) -> None:
        """Half-close: the peer receives everything sent so far, then end of channel."""
        await self._conn.send_eof()

    def abort(self, reason: str = "") -> None:
        """Aborts the channel for both sides at once (see ``Endpoint.abort``)."""
        self._conn.abort(reason)

    async def aclose(self) -> None:
        """Closes gracefully: the peer reads what was sent, then end of channel."""
        self._conn.close()
        await trio.lowlevel.checkpoint()


class MessageChannel(_Face, trio.abc.Channel[bytes]):
    """A trio message channel over one shmring endpoint.

    ``send(message)`` sends one bytes-like message; ``receive()`` returns one
    whole message as ``bytes``. Both are checkpoints. Use one task per
    direction (a second raises ``trio.BusyResourceError``).
    """

    def __init__(self, endpoint: _core.Endpoint) -> None:
        self._conn = _Conn(endpoint)

    async def send(self, value: Buffer) -> None:
        """Sends one message, waiting for room.

        Cancellation: if cancelled while waiting for room, nothing was sent.
        A message larger than the ring's free space goes out in steps; if the
        task is cancelled after the first step, the rest is still sent
        (shielded, up to one second) and ``send`` returns normally -- the
        message was delivered -- or, if the reader makes no room in that time,
        the channel is aborted and ``Cancelled`` propagates.

        Raises ``trio.BrokenResourceError`` (peer gone, aborted, corrupt),
        ``trio.ClosedResourceError``, ``trio.BusyResourceError``, and
        ``shmring.TooLargeError`` (nothing sent; the channel stays usable).
        """
        await self._conn.send_message(value)

    async def receive(self) -> bytes:
        """Receives one whole message.

        Cancellation: if cancelled, no message was consumed. Raises
        ``trio.EndOfChannel`` once the peer closed and everything it sent was
        received, ``trio.BrokenResourceError`` if the peer died or the channel
        was aborted, ``trio.ClosedResourceError`` after ``aclose``.
        """
        message = await self._conn.receive_message()
        if message is None:
            raise trio.EndOfChannel
        return message

    def into_stream(self) -> ByteStream:
        """The same endpoint as a byte stream (use one face at a time)."""
        return ByteStream(self._conn.endpoint)


class ByteStream(_Face, trio.abc.HalfCloseableStream):
    """A trio byte stream over one shmring endpoint.

    ``send_all`` sends its data as one message (split only if larger than the
    channel's maximum message size); ``receive_some`` returns the next bytes,
    at most ``max_bytes``, keeping the rest of a message for the next call.
    """

    def __init__(self, endpoint: _core.Endpoint) -> None:
        self._conn = _Conn(endpoint)
        self._rest = memoryview(b"")

    async def send_all(self, data: Buffer) -> None:
        view = memoryview(data).cast("B")
        if view.nbytes == 0:
            # An empty message would read as end-of-stream: send nothing.
            await trio.lowlevel.checkpoint_if_cancelled()
            self._conn._check_open()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        limit = self._conn.endpoint.max_message_bytes
        for start in range(0, view.nbytes, limit):
            await self._conn.send_message(view[start : start + limit])

    async def wait_send_all_might_not_block(self) -> None:
        await self._conn.wait_send_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if max_bytes is not None:
            if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
                raise TypeError(f"max_bytes must be an int or None, not {type(max_bytes).__name__} ({max_bytes!r})")
            if max_bytes < 1:
                raise ValueError(f"max_bytes must be >= 1, not {max_bytes!r}")
        if self._rest.nbytes:
            if self._conn._receiving:
                raise trio.BusyResourceError("another task is already receiving on this stream")
            await trio.lowlevel.checkpoint_if_cancelled()
            self._conn._check_open()
            chunk = self._take(max_bytes)
            await trio.lowlevel.cancel_shielded_checkpoint()
            return chunk
        message = await self._conn.receive_message()
        if message is None:
            return b""
        self._rest = memoryview(message)
        return self._take(max_bytes)

    # The message face of the stream, for framings that map one message to one
    # channel message (tractor's 'shm' transport): no prefix, no buffering.
    async def send_message(self, data: Buffer) -> None:
        """Sends `data` as one channel message; the peer's receive_message
        returns it whole (its receive_some would see it as bytes)."""
        await self._conn.send_message(data)

    async def receive_message(self, copy: bool = True) -> Buffer | None:
        """The next whole channel message, or None at end of channel. Do not
        mix with receive_some in the middle of a message.

        With ``copy=False`` a message larger than one frame (a quarter of the
        ring), which the endpoint reassembled from fragments, comes back as a
        read-only memoryview of that reassembled memory instead of being
        copied once more into bytes; smaller messages are bytes either way."""
        if self._rest.nbytes:
            raise RuntimeError("receive_message with bytes of a message still left from receive_some")
        return await self._conn.receive_message(copy)

    def _take(self, max_bytes: int | None) -> bytes:
        n = self._rest.nbytes if max_bytes is None else min(max_bytes, self._rest.nbytes)
        chunk = bytes(self._rest[:n])
        self._rest = self._rest[n:]
        return chunk


class Listener(trio.abc.Listener[MessageChannel]):
    """Accepts shmring peers on a Unix socket path; yields MessageChannels."""

    _wrap: Any = MessageChannel

    def __init__(self, listener: _core.Listener) -> None:
        self._listener = listener
        self._fd = listener.fileno()
        self._closed = False

    @property
    def path(self) -> str:
        return self._listener.path

    @property
    def core(self) -> _core.Listener:
        """The underlying ``shmring._core.Listener``."""
        return self._listener

    async def accept(self) -> Any:
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            if self._closed:
                raise trio.ClosedResourceError(_ALREADY_CLOSED)
            endpoint = self._listener.try_accept()
            if endpoint is not None:
                await trio.lowlevel.cancel_shielded_checkpoint()
                return self._wrap(endpoint)
            # Wake when a peer connects, or when a stalled handshake expires.
            expiry = self._listener.next_expiry()
            with trio.move_on_after(math.inf if expiry is None else expiry):
                try:
                    await trio.lowlevel.wait_readable(self._fd)
                except trio.ClosedResourceError:
                    raise trio.ClosedResourceError(_CLOSED_BY_OTHER_TASK) from None

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            trio.lowlevel.notify_closing(self._fd)
            self._listener.close()
        await trio.lowlevel.checkpoint()


class StreamListener(Listener):
    """Like :class:`Listener`, but yields ByteStreams (what trio servers expect)."""

    _wrap = ByteStream


def open_pair(**options: Any) -> tuple[MessageChannel, MessageChannel]:
    """Two connected message channels in this process.

    Options: ``ring_bytes`` (per direction, power of two), ``max_message_bytes``,
    ``spin`` (seconds a blocking C call spins; the trio API spins on its own).
    """
    a, b = _core.pair(**options)
    return MessageChannel(a), MessageChannel(b)


def open_stream_pair(**options: Any) -> tuple[ByteStream, ByteStream]:
    """Two connected byte streams in this process."""
    a, b = _core.pair(**options)
    return ByteStream(a), ByteStream(b)


async def _connect_endpoint(path: str | os.PathLike[str], timeout: float, options: dict[str, Any]) -> _core.Endpoint:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__} ({timeout!r})")
    if not timeout >= 0:  # also refuses nan
        raise ValueError(f"timeout must be >= 0 seconds, not {timeout!r}")
    # Fails at once (FileNotFoundError, ConnectionRefusedError) if nothing listens.
    pending = _core.start_connect(os.fspath(path), **options)
    fd = pending.fileno()
    with trio.move_on_after(timeout):
        while True:
            endpoint = pending.try_finish()
            if endpoint is not None:
                return endpoint
            await trio.lowlevel.wait_readable(fd)
    raise TimeoutError(errno.ETIMEDOUT, f"connect to {os.fspath(path)!r}: the listener did not answer the handshake in time")


async def connect(path: str | os.PathLike[str], *, timeout: float = 5.0, **options: Any) -> MessageChannel:
    """Connects to a listener and returns a message channel.

    Raises ``FileNotFoundError``/``ConnectionRefusedError`` at once when
    nothing listens at ``path``, ``ConnectionRefusedError`` with the
    listener's reason if it refuses, ``TimeoutError`` if it does not answer.
    """
    return MessageChannel(await _connect_endpoint(path, timeout, options))


async def connect_stream(path: str | os.PathLike[str], *, timeout: float = 5.0, **options: Any) -> ByteStream:
    """Like :func:`connect`, returning a byte stream."""
    return ByteStream(await _connect_endpoint(path, timeout, options))


async def open_listener(path: str | os.PathLike[str], **options: Any) -> Listener:
    """Listens at ``path`` (in a private directory, created 0700 if missing)."""
    await trio.lowlevel.checkpoint()
    return Listener(_core.Listener(os.fspath(path), **options))


async def open_stream_listener(path: str | os.PathLike[str], **options: Any) -> StreamListener:
    """Like :func:`open_listener`, accepting byte streams."""
    await trio.lowlevel.checkpoint()
    return StreamListener(_core.Listener(os.fspath(path), **options))

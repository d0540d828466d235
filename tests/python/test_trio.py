"""shmring.trio: both faces, trio's error conventions, cancellation safety."""

import errno
import hashlib
import os
import random

import pytest
import trio
import trio.testing

import shmring
import shmring.trio as st
from shmring import _waiting


async def test_messages_round_trip_over_a_channel_pair():
    a, b = st.open_pair()
    await a.send(b"ping")
    assert await b.receive() == b"ping"
    await b.send(memoryview(b"pong"))
    assert await a.receive() == b"pong"


async def test_every_call_is_a_checkpoint():
    a, b = st.open_pair()
    with trio.testing.assert_checkpoints():
        await a.send(b"x")
    with trio.testing.assert_checkpoints():
        await b.receive()
    with trio.testing.assert_checkpoints():
        await a.send_eof()
    with trio.testing.assert_checkpoints():
        with pytest.raises(trio.EndOfChannel):
            await b.receive()


async def test_end_of_channel_after_everything_sent_before_close():
    a, b = st.open_pair()
    await a.send(b"1")
    await a.send(b"2")
    await a.aclose()
    assert [m async for m in b] == [b"1", b"2"]


async def test_receive_waits_until_a_message_arrives():
    a, b = st.open_pair()
    async with trio.open_nursery() as nursery:

        async def late_sender():
            await trio.sleep(0.05)
            await a.send(b"late")

        nursery.start_soon(late_sender)
        assert await b.receive() == b"late"


async def test_local_close_raises_closed_resource_error_with_trios_messages():
    a, b = st.open_pair()
    await a.aclose()
    with pytest.raises(trio.ClosedResourceError, match="this socket was already closed"):
        await a.send(b"x")
    with pytest.raises(trio.ClosedResourceError, match="this socket was already closed"):
        await a.receive()


# tractor tells "another task closed this fd" apart from its own use of a
# closed channel (it re-raises only the first): a receive parked on the
# descriptor and one still polling (a fixed 2 s budget) must say the same.
@pytest.mark.parametrize("poll_budget", [None, 2.0], ids=["adaptive", "polling"])
async def test_closing_from_another_task_wakes_a_waiting_receive(monkeypatch, poll_budget):
    monkeypatch.setattr(_waiting, "FIXED_SPIN", poll_budget)
    a, b = st.open_pair()
    async with trio.open_nursery() as nursery:

        async def closer():
            await trio.sleep(0.05)
            await b.aclose()

        nursery.start_soon(closer)
        with trio.fail_after(30), pytest.raises(trio.ClosedResourceError, match="another task closed this fd"):
            await b.receive()


async def test_abort_while_waiting_raises_broken_resource_error_from_econnreset():
    a, b = st.open_pair()
    async with trio.open_nursery() as nursery:

        async def aborter():
            await trio.sleep(0.05)
            a.abort("shutting down")

        nursery.start_soon(aborter)
        with pytest.raises(trio.BrokenResourceError) as info:
            await b.receive()
    cause = info.value.__cause__
    assert isinstance(cause, ConnectionResetError) and cause.errno == errno.ECONNRESET
    assert isinstance(cause.__cause__, shmring.AbortedError)
    assert "shutting down" in str(info.value)


async def test_sending_to_a_peer_that_stopped_receiving_is_broken_pipe():
    a, b = st.open_pair()
    await b.aclose()
    with pytest.raises(trio.BrokenResourceError) as info:
        await a.send(b"anyone?")
    assert isinstance(info.value.__cause__, BrokenPipeError)
    assert info.value.__cause__.errno == errno.EPIPE


async def test_two_tasks_receiving_at_once_is_busy():
    a, b = st.open_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.receive)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await b.receive()
        await a.send(b"for the first")


async def test_a_too_large_message_is_refused_and_the_channel_stays_usable():
    a, b = st.open_pair(max_message_bytes=1000)
    with pytest.raises(shmring.TooLargeError):
        await a.send(b"x" * 1001)
    await a.send(b"x" * 1000)
    assert await b.receive() == b"x" * 1000


async def test_hundred_mib_messages_are_fragmented_and_reassembled():
    a, b = st.open_pair()
    big = os.urandom(100 << 20)
    digest = hashlib.sha256(big).digest()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(a.send, big)
        got = await b.receive()
    assert len(got) == len(big) and hashlib.sha256(got).digest() == digest


async def test_byte_stream_splits_messages_to_max_bytes_and_ends_with_empty_bytes():
    a, b = st.open_stream_pair()
    await a.send_all(b"hello world")
    await a.send_all(b"")  # sends nothing: must not look like end of stream
    await a.send_all(b"!")
    assert await b.receive_some(5) == b"hello"
    assert await b.receive_some(100) == b" world"
    assert await b.receive_some() == b"!"
    await a.send_eof()
    assert await b.receive_some() == b""
    with pytest.raises(ValueError):
        await b.receive_some(0)
    # Issue 14.7: a wrong type is named, not "invalid literal for int()".
    with pytest.raises(TypeError, match="max_bytes must be an int or None, not str"):
        await b.receive_some("x")
    with pytest.raises(TypeError, match="max_bytes must be an int or None, not bool"):
        await b.receive_some(True)


@pytest.mark.parametrize("timeout, error, text", [(-1, ValueError, "timeout must be >= 0 seconds, not -1"),
                                                   (float("nan"), ValueError, "not nan"),
                                                   ("soon", TypeError, "timeout must be a number of seconds, not str")])
async def test_connect_refuses_a_bad_timeout(socket_path, timeout, error, text):
    with pytest.raises(error, match=text):
        await st.connect(socket_path, timeout=timeout)


async def test_byte_stream_is_half_closeable():
    a, b = st.open_stream_pair()
    await a.send_eof()
    assert await b.receive_some() == b""
    await b.send_all(b"reply after eof")
    assert await a.receive_some() == b"reply after eof"
    await a.wait_send_all_might_not_block()


async def test_listener_and_connect(socket_path):
    listener = await st.open_listener(socket_path)
    async with trio.open_nursery() as nursery:

        async def client():
            ch = await st.connect(socket_path)
            await ch.send(b"from client")
            assert await ch.receive() == b"from server"
            await ch.aclose()

        nursery.start_soon(client)
        server = await listener.accept()
        assert await server.receive() == b"from client"
        await server.send(b"from server")
        with pytest.raises(trio.EndOfChannel):
            await server.receive()
    await listener.aclose()
    with pytest.raises(trio.ClosedResourceError):
        await listener.accept()


async def test_stream_listener_serves_trio_style(socket_path):
    listener = await st.open_stream_listener(socket_path)
    async with trio.open_nursery() as nursery:

        async def echo(stream):
            async with stream:
                async for chunk in stream:
                    await stream.send_all(chunk.upper())

        await nursery.start(trio.serve_listeners, echo, [listener])
        client = await st.connect_stream(socket_path)
        await client.send_all(b"abc")
        assert await client.receive_some() == b"ABC"
        await client.aclose()
        nursery.cancel_scope.cancel()


async def test_connect_where_nobody_listens_fails_at_once(socket_dir):
    with pytest.raises(FileNotFoundError):
        await st.connect(os.path.join(socket_dir, "nobody.sock"))


async def test_cancellation_never_loses_or_duplicates_a_message():
    # A small ring, messages up to 3x the ring (some go out in several steps),
    # and random cancel scopes around every send and every receive on both
    # sides. A cancelled send must not arrive; a cancelled receive must not
    # consume; everything that was sent arrives once, in order.
    rng = random.Random(1234)
    a, b = st.open_pair(ring_bytes=4096)
    n = 3000
    sizes = [rng.choice([8, 100, 1000, 5000, 12000]) for _ in range(n)]
    received = []
    cancelled = {"send": 0, "receive": 0}

    async def sender():
        i = 0
        while i < n:
            payload = i.to_bytes(4, "little") * (sizes[i] // 4)
            with trio.move_on_after(rng.random() * 0.0005) as scope:
                await a.send(payload)
            if scope.cancelled_caught:
                cancelled["send"] += 1
                continue  # not sent: send it again
            i += 1
        await a.aclose()

    async def receiver():
        while True:
            if rng.random() < 0.05:
                await trio.sleep(0.002)  # let the ring fill, so sends block mid-message
            with trio.move_on_after(rng.random() * 0.0005) as scope:
                try:
                    m = await b.receive()
                except trio.EndOfChannel:
                    return
                received.append(int.from_bytes(m[:4], "little"))
                assert len(m) == sizes[received[-1]] // 4 * 4
            if scope.cancelled_caught:
                cancelled["receive"] += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        nursery.start_soon(receiver)
    assert received == list(range(n))
    assert cancelled["send"] > 10 and cancelled["receive"] > 10, cancelled


async def test_a_byte_streams_message_face_can_skip_the_copy_of_large_messages():
    a, b = st.open_stream_pair(ring_bytes=1 << 16)
    big = bytes(range(256)) * (4 * b.endpoint.max_frame_payload // 256)

    async def sender():
        await a.send_message(big)
        await a.send_message(b"small")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sender)
        got = await b.receive_message(copy=False)
        assert isinstance(got, memoryview) and got.readonly and got == big
        small = await b.receive_message(copy=False)
        assert isinstance(small, bytes) and small == b"small"

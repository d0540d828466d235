"""shmring.typed on its own: the frame format, and two Python peers talking
typed messages over a shmring.trio channel pair (requests, replies, error
replies, timeouts, garbage, the peer closing or breaking the channel). The
same messages against a C++ actor: test_interop.py."""

import pytest
import trio

import shmring.trio
import shmring.typed as typed


def test_frames_round_trip_and_bad_frames_are_decode_errors():
    frame = typed.encode("ping", {"seq": 1, "text": "x"}, typed.REQUEST, 9)
    assert typed.decode(frame) == typed.Message("ping", {"seq": 1, "text": "x"}, typed.REQUEST, 9)
    assert typed.decode(typed.encode("t", [1, b"\x00"])) == typed.Message("t", [1, b"\x00"])
    for bad in (b"", b"\xc1", b"\x92\x01\x02", b"\x93\xa1t\x00\x00", b"\x94\xa1t\xc0\x07\x01"):
        with pytest.raises(typed.DecodeError):
            typed.decode(bad)
    with pytest.raises(TypeError):
        typed.encode(5, {})
    with pytest.raises(ValueError):
        typed.encode("t", {}, 9)


async def test_a_request_gets_its_reply_and_tells_reach_receive():
    a, b = shmring.trio.open_pair()
    with trio.fail_after(30):
        async with typed.open_typed(a) as asker, typed.open_typed(b) as answerer:
            async def answer():
                request = await answerer.receive()
                assert (request.tag, request.kind, request.body) == ("add", typed.REQUEST, {"a": 2, "b": 3})
                await answerer.reply(request, "sum", {"value": 5})
                await answerer.send("note", ["told", 1])

            async with trio.open_nursery() as nursery:
                nursery.start_soon(answer)
                reply = await asker.request("add", {"a": 2, "b": 3})
                assert (reply.tag, reply.kind, reply.body) == ("sum", typed.REPLY, {"value": 5})
                assert await asker.receive() == typed.Message("note", ["told", 1])


async def test_an_error_reply_raises_remote_error_and_a_silent_peer_times_out():
    a, b = shmring.trio.open_pair()
    with trio.fail_after(30):
        async with typed.open_typed(a) as asker, typed.open_typed(b) as answerer:
            async def refuse():
                await answerer.reply_error(await answerer.receive(), "no such thing")
                await answerer.receive()  # and the second request is never answered

            async with trio.open_nursery() as nursery:
                nursery.start_soon(refuse)
                with pytest.raises(typed.RemoteError, match="no such thing"):
                    await asker.request("what", None)
                with pytest.raises(trio.TooSlowError):
                    await asker.request("what", None, timeout=0.05)
                nursery.cancel_scope.cancel()


async def test_frames_that_are_not_typed_messages_are_counted_and_skipped():
    a, b = shmring.trio.open_pair()
    with trio.fail_after(30):
        async with typed.open_typed(b) as receiver:
            await a.send(b"\xc1 garbage")
            await a.send(typed.encode("after", {}))
            assert await receiver.receive() == typed.Message("after", {})
            assert receiver.undecodable == 1
        await a.aclose()


async def test_the_peer_closing_ends_receive_and_breaking_fails_a_pending_request():
    a, b = shmring.trio.open_pair()
    with trio.fail_after(30):
        async with typed.open_typed(b) as receiver:
            await a.aclose()
            with pytest.raises(trio.EndOfChannel):
                await receiver.receive()
    a, b = shmring.trio.open_pair()
    with trio.fail_after(30):
        async with typed.open_typed(b) as asker:
            async def break_it():
                await a.receive()  # the request arrived: now break the channel under it
                a.endpoint.abort("gone on purpose")

            async with trio.open_nursery() as nursery:
                nursery.start_soon(break_it)
                with pytest.raises(trio.BrokenResourceError):
                    await asker.request("never answered", None)
            with pytest.raises(trio.BrokenResourceError):
                await asker.receive()

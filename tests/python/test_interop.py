"""A Python peer (shmring.trio + msgpack) and a C++ actor (shmring::actors,
tests/messaging/interop_peer.cpp) exchange typed messages over one channel,
in both directions, across processes: Python asks C++ (add -> sum), C++
asks Python (greet -> greeting), tells both ways, error replies, garbage,
and a C++ failure that reaches Python at once with its reason."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import trio

import shmring
import shmring.trio
import shmring.typed as typed

ROOT = Path(__file__).resolve().parents[2]


def _peer_binary() -> Path:
    build = Path(os.environ.get("SHMRING_CPP_BUILD_DIR", ROOT / "build" / "release"))
    binary = build / "tests" / "messaging" / "interop_peer"
    if not binary.exists():
        if os.environ.get("SHMRING_REQUIRE_CPP_PEERS") == "1":
            pytest.fail(f"{binary} is missing: scripts/test builds it before pytest")
        pytest.skip(f"{binary} is not built (run `scripts/test release python`, or set SHMRING_CPP_BUILD_DIR)")
    return binary


async def _wait_for_socket(path: Path, process: subprocess.Popen) -> None:
    with trio.fail_after(20):
        while not path.exists():
            assert process.poll() is None, f"interop_peer exited early: {process.returncode}"
            await trio.sleep(0.005)


async def _exchange(peer: typed.TypedChannel) -> None:
    # Python asks C++.
    for i in range(50):
        reply = await peer.request("add", {"a": i, "b": 1000}, timeout=10)
        assert (reply.tag, reply.body, reply.kind) == ("sum", {"value": i + 1000}, typed.REPLY)

    # A tell to C++ makes it ask Python, then tell Python what it got.
    await peer.send("ping", {"seq": 7, "text": "from python"})
    request = await peer.receive()
    assert (request.tag, request.kind, request.body) == ("greet", typed.REQUEST, {"name": "from python"})
    await peer.reply(request, "greeting", {"text": "hello " + request.body["name"]})
    told = await peer.receive()
    assert (told.tag, told.kind, told.body) == ("greeting", typed.TELL, {"text": "got: hello from python"})
    pong = await peer.receive()
    assert (pong.tag, pong.body) == ("pong", {"seq": 7})

    # C++ asks again; an error reply from Python reaches its callback.
    await peer.send("ping", {"seq": 8, "text": "refused"})
    request = await peer.receive()
    await peer.reply_error(request, "python says no")
    told = await peer.receive()
    assert told.body["text"].startswith("no greeting: python says no"), told
    assert (await peer.receive()).body == {"seq": 8}

    # Unknown tags get an error reply naming them; garbage is skipped by C++.
    with pytest.raises(typed.RemoteError, match="no handler for 'nope'"):
        await peer.request("nope", {}, timeout=10)
    await peer.channel.send(b"\xc1 not msgpack")
    with pytest.raises(typed.RemoteError, match="does not fit"):
        await peer.request("add", {"a": "not a number"}, timeout=10)
    reply = await peer.request("add", {"a": 1, "b": 2}, timeout=10)
    assert reply.body == {"value": 3}


async def _crash(peer: typed.TypedChannel, process: subprocess.Popen) -> None:
    await peer.send("crash", {"why": "on purpose"})
    with pytest.raises(trio.BrokenResourceError) as info:
        await peer.receive()
    chain, exc = [], info.value
    while exc is not None:
        chain.append(exc)
        exc = exc.__cause__
    aborted = [e for e in chain if isinstance(e, shmring.AbortedError)]
    assert aborted, chain
    assert "actor 'cpp-peer' failed" in str(aborted[0]) and "on purpose" in str(aborted[0])
    with trio.fail_after(20):
        while process.poll() is None:
            await trio.sleep(0.01)
    assert process.returncode == 1


@pytest.mark.parametrize("who_listens", ["cpp", "python"])
def test_python_and_cpp_actors_exchange_typed_messages_across_processes(tmp_path, who_listens):
    binary = _peer_binary()
    sock = tmp_path / "interop.sock"

    async def main():
        if who_listens == "cpp":
            process = subprocess.Popen([binary, "listen", str(sock)], stdout=subprocess.PIPE, text=True)
            await _wait_for_socket(sock, process)
            channel = await shmring.trio.connect(sock)
        else:
            listener = await shmring.trio.open_listener(sock)
            process = subprocess.Popen([binary, "connect", str(sock)], stdout=subprocess.PIPE, text=True)
            with trio.fail_after(20):
                channel = await listener.accept()
            await listener.aclose()
        try:
            async with typed.open_typed(channel) as peer:
                await _exchange(peer)
                await _crash(peer, process)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        assert "actor ended: failed: the handler for 'crash' threw: on purpose" in process.stdout.read()

    trio.run(main)


def test_a_clean_close_from_python_ends_the_cpp_actor_cleanly(tmp_path):
    binary = _peer_binary()
    sock = tmp_path / "interop.sock"

    async def main():
        process = subprocess.Popen([binary, "listen", str(sock)], stdout=subprocess.PIPE, text=True)
        await _wait_for_socket(sock, process)
        async with typed.open_typed(await shmring.trio.connect(sock)) as peer:
            assert (await peer.request("add", {"a": 1, "b": 1}, timeout=10)).body == {"value": 2}
        with trio.fail_after(20):
            while process.poll() is None:
                await trio.sleep(0.01)
        assert process.returncode == 0
        assert "actor ended: peer gone" in process.stdout.read()

    trio.run(main)

"""Channels between real processes: multiprocessing (spawn), a plain
subprocess, and a peer killed with SIGKILL while a trio task waits."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import trio

import shmring
import shmring.trio as st


def _echo_child(path, count):
    """Runs in a spawned process: connect and echo `count` messages reversed."""
    ep = shmring.connect(path)
    for _ in range(count):
        ep.send(ep.recv(timeout=30)[::-1])
    ep.close()


def test_round_trip_with_a_multiprocessing_spawn_child(socket_path):
    listener = shmring.Listener(socket_path)
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=_echo_child, args=(socket_path, 100))
    child.start()
    try:
        ep = listener.accept(timeout=60)
        assert ep.peer_pid == child.pid
        for i in range(100):
            m = f"message {i}".encode() * (1 + i)
            ep.send(m)
            assert ep.recv(timeout=30) == m[::-1]
        with pytest.raises(shmring.PeerClosedError):
            ep.recv(timeout=30)
    finally:
        child.join(30)
        listener.close()
    assert child.exitcode == 0


CLIENT = textwrap.dedent(
    """
    import sys, trio, shmring.trio as st

    async def main(path):
        ch = await st.connect(path)
        await ch.send(b"hello from pid %d" % __import__("os").getpid())
        big = await ch.receive()
        await ch.send(len(big).to_bytes(8, "little"))
        await ch.aclose()

    trio.run(main, sys.argv[1])
    """
)


async def test_round_trip_with_a_plain_subprocess_over_trio(socket_path):
    listener = await st.open_listener(socket_path)
    proc = await trio.lowlevel.open_process([sys.executable, "-c", CLIENT, socket_path])
    try:
        with trio.fail_after(60):
            ch = await listener.accept()
            assert await ch.receive() == f"hello from pid {proc.pid}".encode()
            await ch.send(b"x" * (3 << 20))  # larger than the ring: fragmented
            assert int.from_bytes(await ch.receive(), "little") == 3 << 20
            with pytest.raises(trio.EndOfChannel):
                await ch.receive()
            assert await proc.wait() == 0
    finally:
        await listener.aclose()


VICTIM = textwrap.dedent(
    """
    import sys, time, shmring
    ep = shmring.connect(sys.argv[1])
    ep.send(b"ready")
    time.sleep(3600)
    """
)


def dev_shm():
    return set(os.listdir("/dev/shm"))


async def test_a_peer_killed_with_sigkill_breaks_a_waiting_trio_receive(socket_path):
    before = dev_shm()
    listener = await st.open_listener(socket_path)
    proc = await trio.lowlevel.open_process([sys.executable, "-c", VICTIM, socket_path])
    try:
        with trio.fail_after(60):
            ch = await listener.accept()
            assert await ch.receive() == b"ready"
            killed_at = []

            async def kill_soon():
                await trio.sleep(0.1)
                killed_at.append(time.monotonic())
                proc.send_signal(signal.SIGKILL)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(kill_soon)
                with pytest.raises(trio.BrokenResourceError) as info:
                    await ch.receive()
            noticed = time.monotonic() - killed_at[0]
            assert isinstance(info.value.__cause__, ConnectionResetError)
            assert isinstance(info.value.__cause__.__cause__, shmring.PeerDiedError)
            # Informational (timing is measured by the benchmark, not asserted).
            print(f"peer death noticed {noticed * 1000:.2f} ms after SIGKILL")
            await proc.wait()
    finally:
        await listener.aclose()
    assert dev_shm() == before


def test_a_peer_killed_while_a_thread_blocks_in_recv_gives_peer_died(socket_path):
    listener = shmring.Listener(socket_path)
    proc = subprocess.Popen([sys.executable, "-c", VICTIM, socket_path])
    try:
        ep = listener.accept(timeout=60)
        assert ep.recv(timeout=30) == b"ready"
        errors = []

        def blocked():
            try:
                ep.recv()
            except shmring.ChannelError as e:
                errors.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        time.sleep(0.1)
        proc.kill()
        t.join(30)
        assert isinstance(errors[0], shmring.PeerDiedError)
        assert ep.state == "peer-died"
    finally:
        proc.kill()
        proc.wait()
        listener.close()

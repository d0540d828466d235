#!/usr/bin/env python3
"""Python-level benchmark: trio over shmring against trio over a Unix socketpair.

Both transports carry the same messages between two processes, each running
trio: shmring's message channel (``shmring.trio``), and a trio SocketStream on
a socketpair with a 4-byte little-endian length prefix per message (what a
trio program, or tractor, does over a socket). Measured in one run:

- ping-pong round trip (64 B, 64 KiB): p50 and p99 per round trip;
- one-way throughput (64 B, 64 KiB): messages/s and bytes/s;
- and, without trio, the plain blocking calls: ``shmring.Endpoint.send/recv``
  against a blocking socket with the same framing (round trip only).

Each figure is the median of several repetitions; the spread is the min-max
range of the repetitions' medians. Prints a table with the ratios, and with
``--json FILE`` writes one record per measurement.

    python bench/trio_bench.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import trio

import shmring.trio as st

SIZES = (64, 65536)


# --------------------------------------------------------------------------
# Framing for the socket baseline: 4-byte little-endian length + payload,
# read through a buffer (as tricycle's BufferedReceiveStream does for tractor).
# --------------------------------------------------------------------------


class FramedSocket:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    async def send(self, payload: bytes) -> None:
        await self.stream.send_all(len(payload).to_bytes(4, "little") + payload)

    async def _fill(self, n: int) -> None:
        while len(self.buffer) < n:
            chunk = await self.stream.receive_some(1 << 20)
            if not chunk:
                raise EOFError
            self.buffer += chunk

    async def receive(self) -> bytes:
        await self._fill(4)
        n = int.from_bytes(self.buffer[:4], "little")
        await self._fill(4 + n)
        payload = bytes(self.buffer[4 : 4 + n])
        del self.buffer[: 4 + n]
        return payload

    async def aclose(self) -> None:
        await self.stream.aclose()


# --------------------------------------------------------------------------
# The child: echoes (ping-pong) or counts (throughput) until told to stop.
# --------------------------------------------------------------------------


async def serve(channel) -> None:
    while True:
        command = await channel.receive()
        kind, count = command[:1], int.from_bytes(command[1:9], "little")
        if kind == b"P":  # ping-pong: echo `count` messages
            for _ in range(count):
                await channel.send(await channel.receive())
        elif kind == b"T":  # throughput: swallow `count` messages, then ack
            for _ in range(count):
                await channel.receive()
            await channel.send(b"done")
        else:
            return


def sync_child(transport: str, where: str) -> None:
    """Blocking echo without trio, for the plain-Python baselines."""
    if transport == "sync-shmring":
        import shmring

        ep = shmring.connect(where)
        while (m := ep.recv()) != b"Q":
            ep.send(m)
        return
    sock = socket.socket(fileno=int(where))
    buf = bytearray()
    while True:
        while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "little"):
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            buf += chunk
        n = int.from_bytes(buf[:4], "little")
        message = bytes(buf[4 : 4 + n])
        del buf[: 4 + n]
        if message == b"Q":
            return
        sock.sendall(n.to_bytes(4, "little") + message)


async def child_main(transport: str, where: str) -> None:
    if transport.startswith("sync-"):
        sync_child(transport, where)
        return
    if transport == "shmring":
        channel = await st.connect(where)
    else:
        sock = trio.socket.fromfd(int(where), socket.AF_UNIX, socket.SOCK_STREAM)
        channel = FramedSocket(trio.SocketStream(sock))
    await serve(channel)
    await channel.aclose()


# --------------------------------------------------------------------------
# The parent: runs the measurements.
# --------------------------------------------------------------------------


async def ping_pong(channel, size: int, rounds: int) -> list[float]:
    payload = os.urandom(size)
    await channel.send(b"P" + rounds.to_bytes(8, "little"))
    times = []
    clock = time.perf_counter_ns
    for _ in range(rounds):
        t0 = clock()
        await channel.send(payload)
        await channel.receive()
        times.append(clock() - t0)
    return times


async def throughput(channel, size: int, count: int) -> float:
    payload = os.urandom(size)
    await channel.send(b"T" + count.to_bytes(8, "little"))
    t0 = time.perf_counter()
    for _ in range(count):
        await channel.send(payload)
    assert await channel.receive() == b"done"
    return count / (time.perf_counter() - t0)


async def open_transport(transport: str, nursery, tmpdir: str):
    """Starts the child process and returns (channel, process)."""
    cmd = [sys.executable, __file__, "--child", transport]
    if transport == "shmring":
        path = os.path.join(tmpdir, "bench.sock")
        listener = await st.open_listener(path)
        proc = await nursery.start(lambda task_status: trio.run_process(cmd + [path], task_status=task_status))
        channel = await listener.accept()
        await listener.aclose()
        return channel, proc
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = await nursery.start(
        lambda task_status: trio.run_process(cmd + [str(child.fileno())], pass_fds=[child.fileno()], task_status=task_status)
    )
    child.close()
    return FramedSocket(trio.SocketStream(trio.socket.from_stdlib_socket(parent))), proc


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(p * len(sorted_values)))]


def sync_round_trips(transport: str, size: int, rounds: int, reps: int, tmpdir: str) -> list[list[float]]:
    """Blocking ping-pong without trio; returns sorted per-round-trip times (us) per repetition."""
    import shmring

    payload = os.urandom(size)
    clock = time.perf_counter_ns
    cmd = [sys.executable, __file__, "--child", f"sync-{transport}"]
    results = []
    if transport == "shmring":
        path = os.path.join(tmpdir, "sync.sock")
        listener = shmring.Listener(path)
        proc = subprocess.Popen(cmd + [path])
        ep = listener.accept(timeout=60)
        listener.close()
        send, recv = ep.send, ep.recv
    else:
        parent, child = socket.socketpair()
        proc = subprocess.Popen(cmd + [str(child.fileno())], pass_fds=[child.fileno()])
        child.close()
        buf = bytearray()

        def send(m):
            parent.sendall(len(m).to_bytes(4, "little") + m)

        def recv():
            nonlocal buf
            while len(buf) < 4 or len(buf) < 4 + int.from_bytes(buf[:4], "little"):
                buf += parent.recv(1 << 20)
            n = int.from_bytes(buf[:4], "little")
            m = bytes(buf[4 : 4 + n])
            del buf[: 4 + n]
            return m

    for _ in range(200):
        send(payload)
        recv()
    for _ in range(reps):
        times = []
        for _ in range(rounds):
            t0 = clock()
            send(payload)
            recv()
            times.append((clock() - t0) / 1000)
        results.append(sorted(times))
    send(b"Q")
    proc.wait(30)
    return results


async def measure(quick: bool) -> list[dict]:
    reps = 3 if quick else 5
    rounds = {64: 1000 if quick else 5000, 65536: 300 if quick else 1500}
    counts = {64: 5000 if quick else 50000, 65536: 600 if quick else 5000}
    records = []
    with tempfile.TemporaryDirectory(prefix="shmring-bench-") as tmpdir:
        os.chmod(tmpdir, 0o700)
        for transport in ("shmring", "unix-socketpair"):
            async with trio.open_nursery() as nursery:
                channel, proc = await open_transport(transport, nursery, tmpdir)
                for size in SIZES:
                    await ping_pong(channel, size, 200)  # warm up
                    p50s, p99s = [], []
                    for _ in range(reps):
                        times = sorted(await ping_pong(channel, size, rounds[size]))
                        p50s.append(percentile(times, 0.50) / 1000)
                        p99s.append(percentile(times, 0.99) / 1000)
                    records.append(record(f"trio/{transport}", "round-trip", size, "p50", p50s, "us"))
                    records.append(record(f"trio/{transport}", "round-trip", size, "p99", p99s, "us"))
                    rates = [await throughput(channel, size, counts[size]) for _ in range(reps)]
                    records.append(record(f"trio/{transport}", "stream", size, "messages/s", rates, "msg/s"))
                    records.append(record(f"trio/{transport}", "stream", size, "bytes/s", [r * size for r in rates], "B/s"))
                await channel.send(b"Q" + bytes(8))
                await channel.aclose()
        for transport in ("shmring", "unix-socketpair"):
            for size in SIZES:
                runs = await trio.to_thread.run_sync(sync_round_trips, transport, size, rounds[size], reps, tmpdir)
                name = f"python-sync/{transport}"
                records.append(record(name, "round-trip", size, "p50", [percentile(t, 0.5) for t in runs], "us"))
                records.append(record(name, "round-trip", size, "p99", [percentile(t, 0.99) for t in runs], "us"))
    return records


def record(transport, mode, size, metric, values, unit) -> dict:
    return {
        "transport": transport,
        "mode": mode,
        "size": size,
        "metric": metric,
        "value": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "unit": unit,
        "repetitions": len(values),
    }


def print_table(records: list[dict]) -> None:
    def get(transport, mode, size, metric):
        for r in records:
            if (r["transport"], r["mode"], r["size"], r["metric"]) == (f"trio/{transport}", mode, size, metric):
                return r
        return None

    def rate(x):
        return f"{x / 1e6:.2f} M" if x >= 1e6 else f"{x / 1e3:.1f} k"

    print(f"{'trio, two processes':30} {'shmring':>22} {'unix socketpair':>22} {'ratio':>8}")
    for size in SIZES:
        for metric in ("p50", "p99"):
            s, u = get("shmring", "round-trip", size, metric), get("unix-socketpair", "round-trip", size, metric)
            print(
                f"{f'round trip {size} B, {metric}':30} {s['value']:>11.1f} us [{s['min']:.0f}-{s['max']:.0f}]"
                f" {u['value']:>11.1f} us [{u['min']:.0f}-{u['max']:.0f}] {u['value'] / s['value']:>7.2f}x"
            )
        s, u = get("shmring", "stream", size, "messages/s"), get("unix-socketpair", "stream", size, "messages/s")
        print(
            f"{f'one way {size} B, msg/s':30} {rate(s['value']):>22} {rate(u['value']):>22} {s['value'] / u['value']:>7.2f}x"
        )
    for size in SIZES:
        s = next(r for r in records if r["transport"] == "python-sync/shmring" and r["size"] == size and r["metric"] == "p50")
        u = next(r for r in records if r["transport"] == "python-sync/unix-socketpair" and r["size"] == size and r["metric"] == "p50")
        print(f"{f'no trio: round trip {size} B, p50':30} {s['value']:>11.1f} us {'':10} {u['value']:>11.1f} us {'':10} "
              f"{u['value'] / s['value']:>7.2f}x")
    s, u = get("shmring", "round-trip", 64, "p50"), get("unix-socketpair", "round-trip", 64, "p50")
    ratio = u["value"] / s["value"]
    print(f"\ntarget: trio round trip over shmring >= 3x faster than over a Unix socketpair (64 B, p50): "
          f"{ratio:.2f}x -> {'met' if ratio >= 3 else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    parser.add_argument("--json", metavar="FILE", help="write the records as JSON")
    parser.add_argument("--child", nargs=2, metavar=("TRANSPORT", "WHERE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        trio.run(child_main, *args.child)
        return
    records = trio.run(measure, args.quick)
    print_table(records)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": records}, f, indent=1)


if __name__ == "__main__":
    main()

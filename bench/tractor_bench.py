#!/usr/bin/env python3
"""tractor over shmring: context-stream round trip and actor start time.

Needs tractor installed (see docs/tractor.md). For each transport ('shm',
'uds', 'tcp') a fresh Python process runs a root actor that starts one
subactor, opens a context stream with it and ping-pongs small messages;
the same process also times how long starting an actor takes (start_actor
to its first answer) with each spawn backend given. One run, medians of
several repetitions.

    python bench/tractor_bench.py [--quick] [--json FILE] [--spawn-backends trio,shm_subint]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

TRANSPORTS = ("shm", "uds", "tcp")

try:
    import tractor
except ImportError:
    tractor = None

if tractor is not None:

    async def pid() -> int:
        """A call to time an actor's first answer with."""
        return os.getpid()

    @tractor.context
    async def echo(ctx: tractor.Context) -> None:
        """The subactor's side: echo every message of the stream."""
        await ctx.started()
        async with ctx.open_stream() as stream:
            async for message in stream:
                await stream.send(message)


# ---------------------------------------------------------------------------
# The measuring process (one per transport)
# ---------------------------------------------------------------------------


def private_registry(transport: str):
    """A registry address of our own, so concurrent tractor programs never clash."""
    import random

    if transport == "tcp":
        return ("127.0.0.1", random.randint(20000, 60000))
    if transport == "uds":
        from tractor.ipc._uds import UDSAddress

        return UDSAddress.get_random().unwrap()
    from shmring.tractor import ShmAddress

    return ShmAddress.get_random().unwrap()


def measure(transport: str, spawn_backend: str, rounds: int, reps: int) -> dict:
    import trio

    async def main() -> dict:
        result: dict = {"round_trips_us": [], "start_ms": []}
        async with tractor.open_root_actor(enable_transports=[transport], start_method=spawn_backend,
                                           registry_addrs=[private_registry(transport)]):
            async with tractor.open_nursery() as an:
                # Start-up: start_actor until the actor answers a call.
                for i in range(reps):
                    t0 = time.perf_counter()
                    portal = await an.start_actor(f"starter-{i}", enable_modules=[__name__])
                    await portal.run(pid)
                    result["start_ms"].append((time.perf_counter() - t0) * 1000)
                    await portal.cancel_actor()
                portal = await an.start_actor("echoer", enable_modules=[__name__])
                async with portal.open_context(echo) as (ctx, _):
                    async with ctx.open_stream() as stream:
                        for _ in range(200):  # warm up
                            await stream.send(b"x" * 64)
                            await stream.receive()
                        for _ in range(reps):
                            times = []
                            for _ in range(rounds):
                                t0 = time.perf_counter_ns()
                                await stream.send(b"x" * 64)
                                await stream.receive()
                                times.append((time.perf_counter_ns() - t0) / 1000)
                            times.sort()
                            result["round_trips_us"].append(times[len(times) // 2])
                await portal.cancel_actor()
        return result

    return trio.run(main)


def transport_layer(rounds: int, reps: int) -> dict:
    """The 'shm' transport alone, in one process (no actor runtime): a
    ping-pong of tractor Yield messages (64 B payload) through
    MsgpackShmStream with tractor's length-prefixed framing over the byte
    stream ("prefixed", SHMRING_TRACTOR_FRAMING=prefixed), through it
    message-native ("native", the default), and the floor: the same messages
    encoded and sent one per channel message with no transport object
    ("raw": codec.encode, send, receive, codec.decode)."""
    import trio
    from tractor.msg import types as msgtypes
    from tractor.msg._codec import _ctxvar_MsgCodec

    import shmring.trio as st
    from shmring.tractor import ShmAddress
    from shmring.tractor._transport import MsgpackShmStream

    codec = _ctxvar_MsgCodec.get()
    msg = msgtypes.Yield(cid="bench", pld=b"x" * 64)

    async def through_transport(n: int) -> list[float]:
        a, b = st.open_stream_pair()
        addr = ShmAddress.get_random()
        for s in (a, b):
            s.shm_laddr, s.shm_raddr = addr, addr
        near, far = MsgpackShmStream(a), MsgpackShmStream(b)
        times: list[float] = []
        async with trio.open_nursery() as nursery:
            async def echo():
                for _ in range(n):
                    await far.send(await far.recv())
            nursery.start_soon(echo)
            for _ in range(n):
                t0 = time.perf_counter_ns()
                await near.send(msg)
                await near.recv()
                times.append((time.perf_counter_ns() - t0) / 1000)
        return times

    async def raw(n: int) -> list[float]:
        a, b = st.open_pair()
        times: list[float] = []
        async with trio.open_nursery() as nursery:
            async def echo():
                for _ in range(n):
                    await b.send(codec.encode(codec.decode(await b.receive())))
            nursery.start_soon(echo)
            for _ in range(n):
                t0 = time.perf_counter_ns()
                await a.send(codec.encode(msg))
                codec.decode(await a.receive())
                times.append((time.perf_counter_ns() - t0) / 1000)
        return times

    async def main() -> dict:
        out: dict = {"prefixed": [], "native": [], "raw": []}
        saved = os.environ.get("SHMRING_TRACTOR_FRAMING")
        try:
            for _ in range(reps):
                for key in out:
                    if key == "raw":
                        times = await raw(rounds)
                    else:
                        os.environ["SHMRING_TRACTOR_FRAMING"] = key
                        times = await through_transport(rounds)
                    times.sort()
                    out[key].append(times[len(times) // 2])
        finally:
            if saved is None:
                os.environ.pop("SHMRING_TRACTOR_FRAMING", None)
            else:
                os.environ["SHMRING_TRACTOR_FRAMING"] = saved
        return out

    return trio.run(main)


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


def record(transport, mode, metric, values, unit) -> dict:
    return {"transport": transport, "mode": mode, "size": 64, "metric": metric, "value": statistics.median(values),
            "min": min(values), "max": max(values), "unit": unit, "repetitions": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--spawn-backends", default="trio", help="comma-separated tractor spawn backends to time")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        transport, backend, rounds, reps = args.child
        print(json.dumps(measure(transport, backend, int(rounds), int(reps))))
        return
    if tractor is None:
        sys.exit("tractor is not installed: see docs/tractor.md")
    rounds, reps = (500, 3) if args.quick else (2000, 5)
    records = []
    layer = transport_layer(rounds, reps)
    for key, values in layer.items():
        records.append(record(f"tractor-transport/{key}", "one process", "round-trip p50", values, "us"))
    for backend in args.spawn_backends.split(","):
        for transport in TRANSPORTS:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", transport, backend,
                                  str(rounds), str(reps)], capture_output=True, text=True, timeout=900)
            if out.returncode != 0:
                print(f"{transport}/{backend}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            res = json.loads(out.stdout.strip().splitlines()[-1])
            records.append(record(f"tractor/{transport}", f"backend {backend}", "round-trip p50", res["round_trips_us"], "us"))
            records.append(record(f"tractor/{transport}", f"backend {backend}", "actor start", res["start_ms"], "ms"))
    print(f"{'tractor, 64 B context stream':34} {'round trip p50':>16} {'actor start':>14}")
    for transport in TRANSPORTS:
        for backend in args.spawn_backends.split(","):
            rt = next((r for r in records if r["transport"] == f"tractor/{transport}" and r["mode"] == f"backend {backend}"
                       and r["metric"] == "round-trip p50"), None)
            st = next((r for r in records if r["transport"] == f"tractor/{transport}" and r["mode"] == f"backend {backend}"
                       and r["metric"] == "actor start"), None)
            if rt and st:
                print(f"{transport + ' (' + backend + ')':34} {rt['value']:>13.1f} us {st['value']:>11.1f} ms")
    prefixed, native, raw = (statistics.median(layer[k]) for k in ("prefixed", "native", "raw"))
    print(f"\n'shm' transport alone, one process, Yield(64 B) ping-pong p50: length-prefixed {prefixed:.1f} us, "
          f"message-native {native:.1f} us ({prefixed / native:.2f}x), channel + codec floor {raw:.1f} us")
    shm = next((r["value"] for r in records if r["transport"] == "tractor/shm" and r["metric"] == "round-trip p50"), None)
    uds = next((r["value"] for r in records if r["transport"] == "tractor/uds" and r["metric"] == "round-trip p50"), None)
    if shm and uds:
        ratio = uds / shm
        print(f"\ntarget: tractor round trip over 'shm' >= 1.5x faster than 'uds': {ratio:.2f}x -> "
              f"{'met' if ratio >= 1.5 else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": records}, f, indent=1)


if __name__ == "__main__":
    main()

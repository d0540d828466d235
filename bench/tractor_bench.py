#!/usr/bin/env python3
"""tractor over 'shm', 'uds' and 'tcp': round trip, streaming rate, 1 MiB
throughput and CPU time per message, in one run.

Needs tractor installed (see docs/tractor.md). Each transport runs in fresh
processes (a root actor and one subactor, tractor's trio spawn backend),
the transports taking turns (shm, uds, tcp, shm, uds, tcp, ...) so that a
slow minute of this shared machine falls on all of them:

- round trip: 64 B ping-pong over a context stream, p50 per repetition;
- streaming: the root sends 64 B messages one way, the subactor answers one
  small ack per window of 16 (tractor's streams have no flow control of
  their own; without a window a fast sender overruns the receiver's queue);
- 1 MiB: the same with 1 MiB payloads and a window of 4;
- CPU per message: user + system time of both processes over the phase,
  per round trip or per message sent.

Also the 'shm' transport alone in one process: a Yield ping-pong through
MsgpackShmStream, message-native and with tractor's length prefix, against
the floor of the same messages encoded and sent over a bare channel.

    python bench/tractor_bench.py [--quick] [--json FILE] [--plot PNG]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

TRANSPORTS = ("shm", "uds", "tcp")
STREAM_WINDOW = 16
MIB_WINDOW = 4

try:
    import tractor
except ImportError:
    tractor = None


def usage_now() -> tuple[float, float, int]:
    """User seconds, system seconds, voluntary context switches (sleeps) of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime, usage.ru_nvcsw


def usage_since(start: tuple[float, float, int]) -> list[float]:
    return [b - a for a, b in zip(start, usage_now())]


if tractor is not None and os.environ.get("SHMRING_BENCH_TRACTOR_FORMAT") == "tractor":
    # --tractor-format: tractor's own per-message field lookups, for the
    # breakdown (shmring's plugin memoizes them; see _struct_fields).
    import msgspec.structs
    from tractor.msg import pretty_struct

    pretty_struct.structs = msgspec.structs


if tractor is not None:

    async def pid() -> int:
        """A call to time an actor's first answer with (tractor_spawn_bench)."""
        return os.getpid()

    @tractor.context
    async def echo(ctx: tractor.Context) -> list[float]:
        """Echoes every message of the stream; returns what it used (usage_since)."""
        await ctx.started()
        start = usage_now()
        async with ctx.open_stream() as stream:
            async for message in stream:
                await stream.send(message)
        return usage_since(start)

    @tractor.context
    async def sink(ctx: tractor.Context, window: int) -> list[float]:
        """Takes a one-way stream, acking every `window` messages; returns what it used (usage_since)."""
        await ctx.started()
        start = usage_now()
        async with ctx.open_stream() as stream:
            count = 0
            async for _ in stream:
                count += 1
                if count % window == 0:
                    await stream.send(count)
        return usage_since(start)


# ---------------------------------------------------------------------------
# The measuring process (one per transport and pass)
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


def measure(transport: str, plan: dict) -> dict:
    import trio

    from tractor_bench import echo, sink  # the subactor loads this module by that name

    async def round_trips(portal, out: dict) -> None:
        payload = b"x" * 64
        async with portal.open_context(echo) as (ctx, _):
            async with ctx.open_stream() as stream:
                for _ in range(300):  # warm-up
                    await stream.send(payload)
                    await stream.receive()
                start, count = usage_now(), 0
                for _ in range(plan["reps"]):
                    times = []
                    for _ in range(plan["rounds"]):
                        t0 = time.perf_counter_ns()
                        await stream.send(payload)
                        await stream.receive()
                        times.append((time.perf_counter_ns() - t0) / 1000)
                    count += len(times)
                    times.sort()
                    out["round_trip_us"].append(times[len(times) // 2])
                root = usage_since(start)
            child = await ctx.wait_for_result()
        child = [v * count / (count + 300) for v in child]  # its figures include the warm-up
        out["round_trip_cpu_us"] = (sum(root[:2]) + sum(child[:2])) / count * 1e6
        # Per side and round trip: user us, system us, sleeps (voluntary switches).
        out["round_trip_root"] = [root[0] / count * 1e6, root[1] / count * 1e6, root[2] / count]
        out["round_trip_child"] = [child[0] / count * 1e6, child[1] / count * 1e6, child[2] / count]

    async def one_way(portal, out: dict, key: str, size: int, window: int, messages: int) -> None:
        payload = b"x" * size
        async with portal.open_context(sink, window=window) as (ctx, _):
            async with ctx.open_stream() as stream:
                async def burst(n: int) -> None:
                    for _ in range(n // window):
                        for _ in range(window):
                            await stream.send(payload)
                        await stream.receive()

                start = usage_now()
                await burst(window * 8)  # warm-up
                sent = window * 8
                for _ in range(plan["reps"]):
                    t0 = time.perf_counter()
                    await burst(messages)
                    out[key].append(messages // window * window / (time.perf_counter() - t0))
                    sent += messages // window * window
                root = usage_since(start)
            child = await ctx.wait_for_result()
        out[key + "_cpu_us"] = (sum(root[:2]) + sum(child[:2])) / sent * 1e6

    async def main() -> dict:
        out: dict = {"round_trip_us": [], "stream64_per_s": [], "mib_per_s": []}
        async with tractor.open_root_actor(enable_transports=[transport], registry_addrs=[private_registry(transport)]):
            async with tractor.open_nursery() as an:
                portal = await an.start_actor("bench-peer", enable_modules=["tractor_bench"])
                await round_trips(portal, out)
                await one_way(portal, out, "stream64_per_s", 64, STREAM_WINDOW, plan["stream_messages"])
                await one_way(portal, out, "mib_per_s", 1 << 20, MIB_WINDOW, plan["mib_messages"])
                await portal.cancel_actor()
        return out

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
                for key in out:  # interleaved: the three take turns
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

METRICS = (  # key, label, unit, scale, higher is better
    ("round_trip_us", "round trip 64 B, p50", "us", 1, False),
    ("stream64_per_s", "one-way 64 B", "k msg/s", 1e-3, True),
    ("mib_per_s", "one-way 1 MiB", "MiB/s", 1, True),
)
CPU_METRICS = (
    ("round_trip_cpu_us", "CPU per round trip"),
    ("stream64_per_s_cpu_us", "CPU per 64 B message"),
    ("mib_per_s_cpu_us", "CPU per 1 MiB message"),
)


def spread(values: list[float], scale: float = 1) -> str:
    v = sorted(x * scale for x in values)
    return f"{statistics.median(v):.1f} [{v[0]:.1f}-{v[-1]:.1f}]"


def run_passes(plan: dict, passes: int) -> dict[str, dict]:
    """Each transport `passes` times, taking turns; repetitions pooled per transport."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [here, os.environ.get("PYTHONPATH")])))
    results: dict[str, dict] = {}
    for _ in range(passes):
        for transport in TRANSPORTS:
            out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", transport, json.dumps(plan)],
                                 capture_output=True, text=True, timeout=900, env=env)
            if out.returncode != 0:
                print(f"{transport}: failed\n{out.stderr[-3000:]}", file=sys.stderr)
                continue
            res = json.loads(out.stdout.strip().splitlines()[-1])
            pooled = results.setdefault(transport, {})
            for key, value in res.items():
                if key.startswith("round_trip_") and key.endswith(("_root", "_child")):
                    pooled.setdefault(key, []).append(value)  # one [user, sys, sleeps] per pass
                else:
                    pooled.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return results


# Issue 12's targets: (label, numerator, denominator, metric, op, target).
TARGETS = (
    ("round trip shm/uds", "shm", "uds", "round_trip_us", "<=", 0.67),
    ("round trip shm/tcp", "shm", "tcp", "round_trip_us", "<=", 0.8),
    ("64 B streaming rate shm/uds", "shm", "uds", "stream64_per_s", ">=", 2),
    ("1 MiB throughput shm/uds", "shm", "uds", "mib_per_s", ">=", 2),
)


def verdicts(results: dict[str, dict], layer: dict) -> list[tuple[str, float, str, bool]]:
    def median(transport: str, metric: str) -> float:
        return statistics.median(results[transport][metric])

    def judged(label: str, ratio: float, op: str, target: float) -> tuple[str, float, str, bool]:
        return label, ratio, f"{op} {target}", ratio <= target if op == "<=" else ratio >= target

    out = [judged(label, median(a, metric) / median(b, metric), op, target)
           for label, a, b, metric, op, target in TARGETS if a in results and b in results]
    floor_ratio = statistics.median(layer["native"]) / statistics.median(layer["raw"])
    out.append(judged("transport alone / channel+codec floor", floor_ratio, "<=", 1.2))
    return out


def plot(results: dict[str, dict], path: str) -> None:
    """Three panels: round trip, 64 B rate, 1 MiB throughput (median, min-max bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    transports = [t for t in TRANSPORTS if t in results]
    colours = {"shm": "#2a7ab0", "uds": "#999999", "tcp": "#cc8844"}
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (key, label, unit, scale, higher) in zip(axes, METRICS):
        meds = [statistics.median(results[t][key]) * scale for t in transports]
        lows = [m - min(results[t][key]) * scale for m, t in zip(meds, transports)]
        highs = [max(results[t][key]) * scale - m for m, t in zip(meds, transports)]
        ax.bar(transports, meds, yerr=[lows, highs], capsize=4, color=[colours[t] for t in transports])
        ax.set_title(f"{label} ({'higher' if higher else 'lower'} is better)", fontsize=10)
        ax.set_ylabel(unit)
        for i, m in enumerate(meds):
            ax.text(i, m, f"{m:.0f}", ha="center", va="bottom", fontsize=9)
    fig.suptitle("tractor, root actor <-> one subactor (trio spawn backend), one run", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--plot", metavar="PNG", help="a bar chart of the three tractor measurements")
    parser.add_argument("--tractor-format", action="store_true",
                        help="tractor's own per-message field lookups (what shmring's plugin saves), for comparison")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tractor_format:
        os.environ["SHMRING_BENCH_TRACTOR_FORMAT"] = "tractor"  # children inherit it
    if args.child:
        transport, plan = args.child
        print(json.dumps(measure(transport, json.loads(plan))))
        return
    if tractor is None:
        sys.exit("tractor is not installed: see docs/tractor.md")
    if args.quick:
        plan, passes, layer_rounds, layer_reps = dict(reps=3, rounds=500, stream_messages=3200, mib_messages=120), 1, 500, 3
    else:
        plan, passes, layer_rounds, layer_reps = dict(reps=4, rounds=2000, stream_messages=16000, mib_messages=400), 2, 2000, 5
    layer = transport_layer(layer_rounds, layer_reps)
    results = run_passes(plan, passes)

    print(f"{'tractor, trio spawn backend':28}" + "".join(f"{t:>26}" for t in TRANSPORTS if t in results))
    for key, label, unit, scale, _ in METRICS:
        print(f"{label + ' (' + unit + ')':28}" + "".join(f"{spread(results[t][key], scale):>26}"
                                                        for t in TRANSPORTS if t in results))
    for key, label in CPU_METRICS:
        print(f"{label + ' (us)':28}" + "".join(f"{spread(results[t][key]):>26}" for t in TRANSPORTS if t in results))
    for side in ("root", "child"):
        cells = []
        for t in TRANSPORTS:
            if t in results:
                user, system, sleeps = (statistics.median(x[i] for x in results[t][f"round_trip_{side}"]) for i in range(3))
                cells.append(f"{user:.0f} + {system:.0f} us, {sleeps:.2f} sleeps")
        print(f"{'round trip, ' + side + ' usr+sys':28}" + "".join(f"{c:>26}" for c in cells))
    prefixed, native, raw = (statistics.median(layer[k]) for k in ("prefixed", "native", "raw"))
    print(f"\n'shm' transport alone, one process, Yield(64 B) ping-pong p50: message-native {spread(layer['native'])} us, "
          f"length-prefixed {spread(layer['prefixed'])} us, channel + codec floor {spread(layer['raw'])} us")
    print("\ntargets (medians of this run):")
    checks = verdicts(results, layer)
    for name, value, target, met in checks:
        print(f"  {name:40} {value:6.2f}x  (target {target}) -> {'met' if met else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "layer": layer, "plan": plan, "passes": passes,
                       "verdicts": [dict(name=n, ratio=v, target=t, met=m) for n, v, t, m in checks]}, f, indent=1)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()

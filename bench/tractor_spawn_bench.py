#!/usr/bin/env python3
"""tractor actors started by the 'shm_subint' backend vs tractor's 'trio'
(subprocess) backend, measured as a tractor program sees them.

One run of this script measures every backend, each in a fresh Python
process of its own, one after the other, and prints ratios between them:

- sequential start: ``start_actor`` until the actor's first answer
  (``portal.run`` of a trivial function), from a warm pool, one at a time;
- burst: 8 concurrent ``start_actor`` + first answer, total wall time;
- neighbours: a running actor's call latency (``portal.run`` of a trivial
  function, and a 64 B context-stream round trip) while idle and while the
  backend does its start-up work in the background (the pool refilling after
  a spawn for shm_subint; a subprocess actor starting for trio; a cold
  sub-interpreter importing tractor for shm_subint with no pool).

    python bench/tractor_spawn_bench.py [--quick] [--json FILE] [--plot PNG]

Needs tractor installed (docs/tractor.md). Medians and spreads; no verdict
here is a test: the machine may be noisy, so read the spreads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BURST = 8

# (label, spawn backend, environment): each runs in its own process.
CASES = (
    ("trio", "trio", {}),
    ("shm_subint", "shm_subint", {"SHMRING_TRACTOR_POOL": str(BURST)}),
    ("shm_subint cold", "shm_subint", {"SHMRING_TRACTOR_POOL": "0"}),
)

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
# The subactors' functions (pid, echo) are tractor_bench's: children load
# that module, found through PYTHONPATH (set for the measuring processes).
ACTORS = "tractor_bench"

try:
    import tractor
except ImportError:
    tractor = None

if tractor is not None:
    from tractor_bench import echo, pid


def private_registry():
    from shmring.tractor import ShmAddress

    return ShmAddress.get_random().unwrap()


# ---------------------------------------------------------------------------
# One backend, in its own process
# ---------------------------------------------------------------------------


def measure(backend: str, reps: int, samples: int) -> dict:
    import trio

    pool = None
    if backend == "shm_subint":
        from shmring.tractor import _pool as pool

    async def wait_warm() -> None:
        """Every start below begins from a full pool (what a warm pool promises)."""
        if pool is not None and pool.pool_size() > 0:
            await trio.to_thread.run_sync(pool.warm_pool)

    def refilling() -> bool:
        return pool is not None and pool._spawner is not None and pool._spawner.warm_count < pool.pool_size()

    async def start_and_ask(an, name: str) -> tuple[float, object]:
        t0 = time.perf_counter()
        portal = await an.start_actor(name, enable_modules=[ACTORS])
        await portal.run(pid)
        return (time.perf_counter() - t0) * 1000, portal

    async def latencies(portal, stream, until) -> tuple[list[float], list[float]]:
        """portal.run and stream round trips (us), alternating, until `until()` is False or `samples` each."""
        calls, trips = [], []
        while len(calls) < samples and until():
            t0 = time.perf_counter_ns()
            await portal.run(pid)
            calls.append((time.perf_counter_ns() - t0) / 1000)
            t0 = time.perf_counter_ns()
            await stream.send(b"x" * 64)
            await stream.receive()
            trips.append((time.perf_counter_ns() - t0) / 1000)
        return calls, trips

    async def main() -> dict:
        out: dict = {"start_ms": [], "burst_ms": [], "idle_call_us": [], "idle_trip_us": [], "busy_call_us": [],
                     "busy_trip_us": [], "busy_windows": 0}
        async with tractor.open_root_actor(enable_transports=["shm"], start_method=backend,
                                           registry_addrs=[private_registry()]):
            async with tractor.open_nursery() as an:
                await wait_warm()
                # Warm-up: the first actor of a process pays one-off costs on
                # either backend (tractor's own lazy imports, the registrar).
                _, portal = await start_and_ask(an, "warm-up")
                await portal.cancel_actor()
                for i in range(reps):
                    await wait_warm()
                    ms, portal = await start_and_ask(an, f"seq-{i}")
                    out["start_ms"].append(ms)
                    await portal.cancel_actor()
                for i in range(max(1, reps // 2)):
                    await wait_warm()
                    portals = []
                    t0 = time.perf_counter()
                    async with trio.open_nursery() as burst:
                        for j in range(BURST):
                            async def one(j=j):
                                portals.append((await start_and_ask(an, f"burst-{i}-{j}"))[1])
                            burst.start_soon(one)
                    out["burst_ms"].append((time.perf_counter() - t0) * 1000)
                    for portal in portals:
                        await portal.cancel_actor()

                await wait_warm()
                neighbour = await an.start_actor("neighbour", enable_modules=[ACTORS])
                async with neighbour.open_context(echo) as (ctx, _):
                    async with ctx.open_stream() as stream:
                        await latencies(neighbour, stream, lambda: True)  # warm-up
                        for _ in range(reps):
                            await wait_warm()
                            calls, trips = await latencies(neighbour, stream, lambda: True)
                            out["idle_call_us"].append(statistics.median(calls))
                            out["idle_trip_us"].append(statistics.median(trips))
                            # The background work: for a pool, start and end an
                            # actor, then sample while the pool refills; else
                            # sample while another actor starts.
                            busy: list[list[float]] = [[], []]
                            if pool is not None and pool.pool_size() > 0:
                                _, portal = await start_and_ask(an, "trigger")
                                await portal.cancel_actor()
                                deadline = time.monotonic() + 5
                                while not refilling() and time.monotonic() < deadline:
                                    await trio.sleep(0.001)  # the refill begins refill_delay after the spawn
                                calls, trips = await latencies(neighbour, stream, refilling)
                                busy = [calls, trips]
                            else:
                                starting = [True]
                                async with trio.open_nursery() as bg:
                                    async def start_one():
                                        _, portal = await start_and_ask(an, "starting")
                                        starting[0] = False
                                        await portal.cancel_actor()
                                    bg.start_soon(start_one)
                                    while starting[0]:
                                        calls, trips = await latencies(neighbour, stream, lambda: starting[0])
                                        busy[0] += calls
                                        busy[1] += trips
                            if busy[0]:
                                out["busy_windows"] += 1
                                out["busy_call_us"].append(statistics.median(busy[0]))
                                out["busy_trip_us"].append(statistics.median(busy[1]))
                        await stream.send(b"end")
                        await stream.receive()
                await neighbour.cancel_actor()
        return out

    return trio.run(main)


# ---------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def fmt(values: list[float], unit: str) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.1f} {unit} [{min(values):.1f}-{max(values):.1f}]"


def ratio(a: list[float], b: list[float]) -> str:
    if not a or not b:
        return "-"
    return f"{statistics.median(a) / statistics.median(b):.3f}x"


def plot(results: dict[str, dict], path: str) -> None:
    """Three panels (start, burst, neighbour call latency idle/busy), medians with min-max bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(results)
    panels = (("start_ms", "start + first answer (ms)"), ("burst_ms", "burst of 8 (ms)"))
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    for ax, (key, title) in zip(axes, panels):
        values = [results[label][key] for label in labels]
        med = [statistics.median(v) for v in values]
        err = [[m - min(v) for m, v in zip(med, values)], [max(v) - m for m, v in zip(med, values)]]
        ax.bar(labels, med, yerr=err, capsize=4, color=["#888", "#2a7", "#c84"][: len(labels)])
        ax.set_yscale("log")
        ax.set_title(title)
        for i, m in enumerate(med):
            ax.annotate(f"{m:.0f}", (i, m), ha="center", va="bottom", fontsize=9)
    ax = axes[2]
    width = 0.38
    for offset, key, name in ((-width / 2, "idle_call_us", "idle"), (width / 2, "busy_call_us", "while starting")):
        med = [statistics.median(results[label][key]) / 1000 for label in labels]
        ax.bar([i + offset for i in range(len(labels))], med, width, label=name)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_title("neighbour portal.run (ms)")
    ax.legend(fontsize=8)
    fig.suptitle("tractor actors: trio (subprocess) vs shm_subint, one run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--plot", metavar="PNG", help="a bar chart of start, burst and neighbour latency")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        backend, reps, samples = args.child
        print(json.dumps(measure(backend, int(reps), int(samples))))
        return
    if tractor is None:
        sys.exit("tractor is not installed: see docs/tractor.md")
    reps, samples = (4, 100) if args.quick else (8, 200)
    results: dict[str, dict] = {}
    path = os.pathsep.join(filter(None, (BENCH_DIR, os.environ.get("PYTHONPATH"))))
    for label, backend, env in CASES:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", backend, str(reps), str(samples)],
                             capture_output=True, text=True, timeout=900,
                             env={**os.environ, **env, "PYTHONPATH": path})
        if out.returncode != 0:
            print(f"{label}: failed\n{out.stderr[-3000:]}", file=sys.stderr)
            continue
        results[label] = json.loads(out.stdout.strip().splitlines()[-1])

    print(f"tractor actor start-up, one run, medians [min-max] of {reps} repetitions")
    print(f"{'backend':18} {'start+answer':>26} {'burst of 8':>28} {'neighbour call idle / busy':>36} "
          f"{'neighbour stream idle / busy':>38}")
    for label, r in results.items():
        print(f"{label:18} {fmt(r['start_ms'], 'ms'):>26} {fmt(r['burst_ms'], 'ms'):>28} "
              f"{fmt(r['idle_call_us'], 'us') + ' / ' + fmt(r['busy_call_us'], 'us'):>36} "
              f"{fmt(r['idle_trip_us'], 'us') + ' / ' + fmt(r['busy_trip_us'], 'us'):>38}")
    trio_r, sub = results.get("trio"), results.get("shm_subint")
    if trio_r and sub:
        print(f"\nshm_subint / trio: start {ratio(sub['start_ms'], trio_r['start_ms'])} (target <= 0.05x, "
              f"and p50 <= 20 ms: {statistics.median(sub['start_ms']):.1f} ms), "
              f"burst {ratio(sub['burst_ms'], trio_r['burst_ms'])} (target <= 0.1x)")
    for label, r in results.items():
        print(f"{label}: neighbour busy / idle: call {ratio(r['busy_call_us'], r['idle_call_us'])}, "
              f"stream {ratio(r['busy_trip_us'], r['idle_trip_us'])} (target <= 1.5x; "
              f"{r['busy_windows']} background windows sampled)")
    if args.plot:
        plot(results, args.plot)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({label: {k: summary(v) if isinstance(v, list) and v else v for k, v in r.items()}
                       for label, r in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Spawn-to-first-message latency: sub-interpreter actors against a subprocess.

Each measurement starts a child that imports trio, runs ``trio.run`` and sends
one message to the parent, and times spawn -> first message received:

- shmring actor, isolated interpreter, cold (no pool);
- shmring actor, isolated, from a warm pool (trio already imported);
- shmring actor, legacy (shared-GIL) interpreter, cold;
- a ``subprocess`` Python child importing trio and connecting over a Unix socket.

Medians of several repetitions, with min-max, and the ratios the design
targets. ``--json FILE`` writes one record per measurement.

    python bench/spawn_bench.py [--quick] [--json FILE]
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

import shmring.spawn as sp

CHILD = (
    "import socket, sys, trio\n"
    "async def main():\n"
    "    s = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
    "    await s.connect(sys.argv[1])\n"
    "    await s.send(b'hello')\n"
    "trio.run(main)\n"
)


def time_actor(spawner: sp.Spawner, config: str) -> float:
    start = time.perf_counter()
    actor = spawner.spawn("spawn_actor:first_message", config=config)
    message = actor.channel.endpoint.recv(timeout=60)
    took = time.perf_counter() - start
    assert message == b"hello"
    actor._core.join(60)
    return took


def time_subprocess(tmpdir: str) -> float:
    path = os.path.join(tmpdir, "spawn.sock")
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, path])
    conn, _ = server.accept()
    message = conn.recv(5)
    took = time.perf_counter() - start
    assert message == b"hello"
    conn.close()
    server.close()
    proc.wait()
    return took


def record(name: str, values: list[float]) -> dict:
    return {
        "transport": name,
        "mode": "spawn-to-first-message",
        "size": 5,
        "metric": "latency",
        "value": statistics.median(values) * 1000,
        "min": min(values) * 1000,
        "max": max(values) * 1000,
        "unit": "ms",
        "repetitions": len(values),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", metavar="FILE", help="write the records as JSON")
    args = parser.parse_args()
    reps = 5 if args.quick else 11

    cold = sp.Spawner()
    pool = sp.Spawner(pool_size=2, preload=["trio", "shmring.trio"])
    with tempfile.TemporaryDirectory(prefix="shmring-spawn-") as tmpdir:
        time_actor(cold, "isolated")  # warm the page cache and the parent's imports
        time_subprocess(tmpdir)
        results = {"subprocess": [], "cold": [], "pool": [], "legacy": []}
        for _ in range(reps):  # interleaved, so machine noise hits all alike
            results["subprocess"].append(time_subprocess(tmpdir))
            results["cold"].append(time_actor(cold, "isolated"))
            results["legacy"].append(time_actor(cold, "legacy"))
            if not pool.wait_warm(120):
                sys.exit(f"the pool did not fill: {pool.last_pool_error}")
            results["pool"].append(time_actor(pool, "isolated"))
    cold.shutdown()
    pool.shutdown()

    records = [
        record("subprocess python + trio, Unix socket", results["subprocess"]),
        record("shmring actor, isolated, cold", results["cold"]),
        record("shmring actor, isolated, warm pool", results["pool"]),
        record("shmring actor, legacy, cold", results["legacy"]),
    ]
    print(f"{'spawn -> first message (child uses trio)':42} {'median':>10} {'min-max':>16}")
    for r in records:
        print(f"{r['transport']:42} {r['value']:>8.2f} ms {r['min']:>7.2f}-{r['max']:.2f} ms")
    sub = records[0]["value"]
    pool_ratio = records[2]["value"] / sub
    cold_ratio = records[1]["value"] / sub
    print(f"\ntarget: warm pool <= 0.02x subprocess: {pool_ratio:.3f}x -> {'met' if pool_ratio <= 0.02 else 'MISSED'}")
    print(f"target: cold no slower than subprocess: {cold_ratio:.2f}x -> {'met' if cold_ratio <= 1.0 else 'MISSED'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": records}, f, indent=1)


if __name__ == "__main__":
    main()

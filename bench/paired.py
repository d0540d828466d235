"""Ratio verdicts that a noisy machine cannot flip.

A ratio target compares two benchmarks of the C++ suite (shmring against the
atomic floor, a socketpair against shmring, ...). Measured once each, minutes
apart, a shared 2-vCPU VM can move either side by 10x (a neighbour's burst,
a spinning thread that lands on its peer's CPU), and the verdict flips from
run to run. Here the two sides are measured in alternation, A B A B ..., one
ratio per adjacent pair, so that a slow minute falls on both; rounds go on
until the ratios agree (their middle half within SPREAD_GOAL of the median)
or the time cap is reached. The verdict is "met" or "MISSED" only when the
whole middle half of the ratios lies on one side of the target, and "noisy"
when it straddles it: the data cannot decide, and saying so beats a coin.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass, field

SPREAD_GOAL = 0.10  # the middle half of the ratios within +-10% of their median
MIN_ROUNDS = 5


@dataclass(frozen=True)
class Side:
    """One side of a ratio: a benchmark of suite_bench."""

    kind: str  # "rt" or "stream"
    transport: str
    mode: str
    size: int

    def benchmark(self) -> str:
        return f"{self.kind}/{self.transport}/{self.mode}/{self.size}/{self.size}/real_time"


# The design's ratio targets between two C++ benchmarks, in one table that
# bench/suite.py reads too: (label, numerator, denominator, Google Benchmark
# counter, op, target).
RATIO_TARGETS = (
    ("spinning round trip / atomic floor (threads)", Side("rt", "shmring-threads", "spin", 64),
     Side("rt", "atomic-floor", "spin", 8), "p50_ns", "<=", 1.5),
    ("spinning round trip / atomic floor (processes)", Side("rt", "shmring-processes", "spin", 64),
     Side("rt", "atomic-floor", "spin", 8), "p50_ns", "<=", 1.5),
    ("Unix socketpair / shmring spinning round trip", Side("rt", "unix-socketpair", "block", 64),
     Side("rt", "shmring-processes", "spin", 64), "p50_ns", ">=", 15),
    ("Boost message_queue / shmring spinning round trip", Side("rt", "boost-message-queue", "block", 64),
     Side("rt", "shmring-processes", "spin", 64), "p50_ns", ">=", 15),
    ("parked round trip / Unix socketpair", Side("rt", "shmring-processes", "block", 64),
     Side("rt", "unix-socketpair", "block", 64), "p50_ns", "<=", 1.0),
    ("streaming 64 B / Unix socketpair", Side("stream", "shmring-threads", "spin", 64),
     Side("stream", "unix-socketpair", "block", 64), "items_per_second", ">=", 10),
    ("streaming 64 KiB / one-thread memcpy", Side("stream", "shmring-threads", "spin", 65536),
     Side("stream", "memcpy", "one-thread", 65536), "bytes_per_second", ">=", 0.7),
    # The bare hardware for the same job: two threads handing 64 KiB over
    # through 1 MiB of slots, copying in and out (suite_bench's copy floor).
    ("streaming 64 KiB / cross-core copy floor", Side("stream", "shmring-threads", "spin", 65536),
     Side("stream", "copy-floor", "two-threads", 65536), "bytes_per_second", ">=", 0.7),
    ("round trip 128 KiB, processes / threads", Side("rt", "shmring-processes", "spin", 131072),
     Side("rt", "shmring-threads", "spin", 131072), "p50_ns", "<=", 1.3),
    ("round trip 4 MiB, processes / threads", Side("rt", "shmring-processes", "spin", 4 << 20),
     Side("rt", "shmring-threads", "spin", 4 << 20), "p50_ns", "<=", 1.3),
)

# The design's absolute targets on one benchmark, judged the same way from
# repeated runs: (label, benchmark, counter, scale to the target's unit, op,
# target). Streaming is bimodal (the reader right behind the writer, or a
# batch behind), so a single run's median can land on either side.
ABSOLUTE_TARGETS = (
    ("streaming 64 B, send(), M msg/s", Side("stream", "shmring-threads", "spin", 64), "items_per_second", 1e-6,
     ">=", 20),
    ("streaming 64 B, send_batch(), M msg/s", Side("stream", "shmring-threads-batched", "spin", 64),
     "items_per_second", 1e-6, ">=", 20),
)


@dataclass
class Pair:
    label: str
    numerator: str  # a Google Benchmark name of suite_bench
    denominator: str | None  # None: an absolute target on the numerator alone
    counter: str  # "p50_ns", "items_per_second", "bytes_per_second"
    op: str  # "<=" or ">="
    target: float
    scale: float = 1.0  # absolute targets: counter -> the target's unit
    unit: str = "x"
    ratios: list[float] = field(default_factory=list)  # or values, for an absolute target
    set_aside: int = 0  # rounds dropped because the CPUs were not the benchmark's alone meanwhile


def pairs() -> list[Pair]:
    return ([Pair(label, a.benchmark(), b.benchmark(), counter, op, target)
             for label, a, b, counter, op, target in RATIO_TARGETS] +
            [Pair(label, a.benchmark(), None, counter, op, target, scale, "")
             for label, a, counter, scale, op, target in ABSOLUTE_TARGETS])


def cpu_jiffies() -> tuple[int, int, int]:
    """(all, busy, steal) jiffies of every CPU since boot, from /proc/stat
    (busy: everything but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    total = sum(fields[:8])
    return total, total - fields[3] - fields[4], fields[7] if len(fields) > 7 else 0


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# A round whose runs lost more than this share of the CPUs to the hypervisor
# (steal time: another guest ran on our vCPUs) is set aside: a spinning
# benchmark whose peer's vCPU is stolen waits for it whole time slices (the
# 724 us "spinning" round trips of a bad minute were that).
STEAL_LIMIT = 0.05
# Likewise a round during which other processes of this machine used more
# than this share of the CPUs (busy time not spent by the benchmark itself):
# a spinning thread that shares its CPU with someone else's waits for it.
FOREIGN_LIMIT = 0.10


def run_one(binary: str, name: str, min_time: float) -> tuple[dict | None, float]:
    """One run of one benchmark: its Google Benchmark record (None if it
    failed), and the share of the CPUs it did not have to itself meanwhile
    (stolen by the hypervisor, or used by other processes)."""
    size = name.split("/")[3]
    total0, busy0, steal0 = cpu_jiffies()
    ours0 = children_cpu_seconds()
    out = subprocess.run([binary, f"--sizes={size}", f"--benchmark_filter=^{name}$",
                          f"--benchmark_min_time={min_time}", "--benchmark_format=json"],
                         capture_output=True, text=True, timeout=120)
    total1, busy1, steal1 = cpu_jiffies()
    elapsed = max(1, total1 - total0)
    stolen = (steal1 - steal0) / elapsed
    ours = (children_cpu_seconds() - ours0) * os.sysconf("SC_CLK_TCK")
    foreign = max(0.0, (busy1 - busy0) - (steal1 - steal0) - ours) / elapsed
    disturbed = max(stolen / STEAL_LIMIT, foreign / FOREIGN_LIMIT)
    if out.returncode != 0:
        return None, disturbed
    runs = [b for b in json.loads(out.stdout)["benchmarks"] if not b.get("error_occurred")]
    return (runs[0] if runs else None), disturbed


def middle_half(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def settled(ratios: list[float]) -> bool:
    if len(ratios) < MIN_ROUNDS:
        return False
    low, high = middle_half(ratios)
    med = statistics.median(ratios)
    return (high - low) / 2 <= SPREAD_GOAL * med


def verdict(pair: Pair) -> str:
    if not pair.ratios:
        return "noisy" if pair.set_aside else "not measured"
    if len(pair.ratios) < MIN_ROUNDS:
        return "noisy"  # too few rounds the machine left alone
    low, high = middle_half(pair.ratios)
    if pair.op == "<=":
        return "met" if high <= pair.target else "MISSED" if low > pair.target else "noisy"
    return "met" if low >= pair.target else "MISSED" if high < pair.target else "noisy"


def measure(binary: str, quick: bool, progress=print) -> list[Pair]:
    """Alternates each pair's two benchmarks until their ratios settle or the cap."""
    min_time, cap_s, max_rounds = (0.02, 20.0, 15) if quick else (0.05, 60.0, 31)
    result = pairs()
    for pair in result:
        started = time.monotonic()
        while len(pair.ratios) < max_rounds and time.monotonic() - started < cap_s:
            a, disturbed_a = run_one(binary, pair.numerator, min_time)
            if pair.denominator is None:
                b, disturbed_b = {pair.counter: 1.0 / pair.scale}, 0.0
            else:
                b, disturbed_b = run_one(binary, pair.denominator, min_time)
            if a is None or b is None or not b.get(pair.counter) or pair.counter not in a:
                break
            if max(disturbed_a, disturbed_b) > 1.0:  # over STEAL_LIMIT or FOREIGN_LIMIT
                pair.set_aside += 1
                continue
            pair.ratios.append(a[pair.counter] / b[pair.counter])
            # Stop early only once the ratios agree and say something: near
            # the target, more rounds narrow the quartiles to a verdict.
            if settled(pair.ratios) and verdict(pair) != "noisy":
                break
        aside = f", {pair.set_aside} set aside (CPU taken by the hypervisor or other processes)" if pair.set_aside else ""
        if pair.ratios:
            low, high = middle_half(pair.ratios)
            progress(f"  {pair.label}: {statistics.median(pair.ratios):.2f}{pair.unit} [{low:.2f}-{high:.2f}] from "
                     f"{len(pair.ratios)} alternating rounds{aside} in {time.monotonic() - started:.0f} s "
                     f"-> {verdict(pair)}")
        else:
            progress(f"  {pair.label}: no usable round{aside}")
    return result


def records(result: list[Pair]) -> list[dict]:
    """The paired ratios as suite records (transport 'paired', the label as mode)."""
    out = []
    for pair in result:
        if not pair.ratios and not pair.set_aside:
            continue  # not measured (a benchmark failed): the suite's own medians stand
        low, high = middle_half(pair.ratios) if pair.ratios else (None, None)
        out.append({"transport": "paired", "mode": pair.label, "size": 0, "metric": "ratio",
                    "value": statistics.median(pair.ratios) if pair.ratios else None,
                    "spread": (high - low) / 2 if pair.ratios else None, "low": low, "high": high,
                    "unit": pair.unit, "repetitions": len(pair.ratios), "set_aside": pair.set_aside,
                    "verdict": verdict(pair)})
    return out

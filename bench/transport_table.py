#!/usr/bin/env python3
"""Prints the transport benchmark's table: medians over repetitions, their
spread, and the ratios the design targets, each marked met or missed.

    transport_table.py RESULTS.json

RESULTS.json is Google Benchmark's JSON output with repetitions (aggregates
median and stddev). Standard library only.
"""
import json
import sys


def load(path):
    with open(path) as f:
        data = json.load(f)
    rows = {}
    for b in data["benchmarks"]:
        if b.get("run_type") != "aggregate":
            continue
        name = b["run_name"].replace("/real_time", "")
        rows.setdefault(name, {})[b["aggregate_name"]] = b
    return data.get("context", {}), rows


def value(rows, name, key, agg="median"):
    b = rows.get(name, {}).get(agg)
    return None if b is None else b.get(key)


def fmt_ns(ns):
    if ns is None:
        return "-"
    return f"{ns / 1000:.2f} us" if ns >= 1000 else f"{ns:.0f} ns"


def fmt_rate(x, unit):
    if x is None:
        return "-"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if x >= scale:
            return f"{x / scale:.2f} {prefix}{unit}"
    return f"{x:.0f} {unit}"


def spread(rows, name, key):
    med, sd = value(rows, name, key), value(rows, name, key, "stddev")
    if med in (None, 0) or sd is None:
        return "-"
    return f"±{100 * sd / med:.0f}%"


def main(path):
    context, rows = load(path)
    print(f"machine: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs "
          f"at {context.get('mhz_per_cpu', '?')} MHz; {context.get('date', '')}")
    reps = next(iter(rows.values()), {}).get("median", {}).get("repetitions", "?")
    print(f"medians of {reps} repetitions; spread = stddev of the median's metric\n")

    print(f"{'round trip (64 B unless noted)':44} {'p50':>10} {'p99':>10} {'p99.9':>10} {'spread':>8}")
    latency = [
        ("bare atomic ping-pong (floor, 8 B)", "RoundTrip_AtomicFloor/8"),
        ("shmring, spinning, two threads", "RoundTrip_Shmring_Spin/64"),
        ("shmring, spinning, two processes", "RoundTrip_Shmring_Spin_Processes/64"),
        ("shmring, parked on eventfd", "RoundTrip_Shmring_Parked/64"),
        ("Unix socketpair", "RoundTrip_UnixSocketpair/64"),
    ]
    for label, name in latency:
        print(f"{label:44} {fmt_ns(value(rows, name, 'p50_ns')):>10} {fmt_ns(value(rows, name, 'p99_ns')):>10} "
              f"{fmt_ns(value(rows, name, 'p999_ns')):>10} {spread(rows, name, 'p50_ns'):>8}")

    print(f"\n{'streaming, one way':44} {'messages/s':>14} {'bytes/s':>12} {'spread':>8}")
    streams = [
        ("shmring 64 B, send()", "Stream_Shmring/64"),
        ("shmring 64 B, send_batch() of 32", "Stream_Shmring_Batched/64"),
        ("Unix socketpair 64 B", "Stream_UnixSocketpair/64"),
        ("shmring 64 KiB", "Stream_Shmring/65536"),
        ("Unix socketpair 64 KiB", "Stream_UnixSocketpair/65536"),
        ("memcpy 64 KiB, one thread", "Stream_Memcpy/65536"),
    ]
    for label, name in streams:
        print(f"{label:44} {fmt_rate(value(rows, name, 'items_per_second'), 'msg/s'):>14} "
              f"{fmt_rate(value(rows, name, 'bytes_per_second'), 'B/s'):>12} "
              f"{spread(rows, name, 'items_per_second'):>8}")

    def ratio(a, b):
        return None if a is None or b in (None, 0) else a / b

    floor = value(rows, "RoundTrip_AtomicFloor/8", "p50_ns")
    spin = value(rows, "RoundTrip_Shmring_Spin/64", "p50_ns")
    spin_proc = value(rows, "RoundTrip_Shmring_Spin_Processes/64", "p50_ns")
    parked = value(rows, "RoundTrip_Shmring_Parked/64", "p50_ns")
    uds = value(rows, "RoundTrip_UnixSocketpair/64", "p50_ns")
    s64 = value(rows, "Stream_Shmring/64", "items_per_second")
    b64 = value(rows, "Stream_Shmring_Batched/64", "items_per_second")
    u64 = value(rows, "Stream_UnixSocketpair/64", "items_per_second")
    s64k = value(rows, "Stream_Shmring/65536", "bytes_per_second")
    mem = value(rows, "Stream_Memcpy/65536", "bytes_per_second")

    targets = [
        ("spinning round trip / floor (threads)", ratio(spin, floor), "<=", 1.5, "x"),
        ("spinning round trip / floor (processes)", ratio(spin_proc, floor), "<=", 1.5, "x"),
        ("Unix socketpair / spinning round trip", ratio(uds, spin), ">=", 15, "x"),
        ("parked round trip / Unix socketpair", ratio(parked, uds), "<=", 1.0, "x"),
        ("streaming 64 B, send()", None if s64 is None else s64 / 1e6, ">=", 20, " M msg/s"),
        ("streaming 64 B, send_batch()", None if b64 is None else b64 / 1e6, ">=", 20, " M msg/s"),
        ("streaming 64 B, send() / Unix socketpair", ratio(s64, u64), ">=", 10, "x"),
        ("streaming 64 KiB / memcpy bandwidth", ratio(s64k, mem), ">=", 0.7, "x"),
    ]
    print(f"\n{'target (p50 for latency)':44} {'measured':>14} {'target':>14}  verdict")
    for label, got, op, want, unit in targets:
        if got is None:
            print(f"{label:44} {'-':>14} {op + ' ' + str(want) + unit:>14}  not measured")
            continue
        met = got <= want if op == "<=" else got >= want
        print(f"{label:44} {got:>13.2f}{unit if unit == 'x' else ''} {op + ' ' + str(want) + unit:>14}  "
              f"{'met' if met else 'MISSED'}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

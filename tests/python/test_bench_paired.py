"""bench/paired.py's judgement of a ratio target from alternating rounds
(pure logic: no benchmark runs here)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))

import paired  # noqa: E402


def pair(op, target, ratios, set_aside=0):
    p = paired.Pair("t", "rt/a/spin/64/64/real_time", "rt/b/spin/8/8/real_time", "p50_ns", op, target)
    p.ratios, p.set_aside = list(ratios), set_aside
    return p


def test_a_verdict_needs_the_whole_middle_half_on_one_side_of_the_target():
    assert paired.verdict(pair("<=", 1.5, [1.2, 1.3, 1.25, 1.28, 9.0])) == "met"  # one wild round cannot flip it
    assert paired.verdict(pair("<=", 1.5, [1.7, 1.8, 1.75, 0.2, 1.72])) == "MISSED"
    assert paired.verdict(pair("<=", 1.5, [1.2, 1.8, 1.4, 1.6, 1.3, 1.7])) == "noisy"
    assert paired.verdict(pair(">=", 10, [11, 12, 11.5, 11.8, 1.0])) == "met"
    assert paired.verdict(pair(">=", 10, [8, 9, 8.5, 9.5, 30])) == "MISSED"


def test_too_few_rounds_or_only_disturbed_ones_are_noisy():
    assert paired.verdict(pair("<=", 1.5, [1.2, 1.2])) == "noisy"
    assert paired.verdict(pair("<=", 1.5, [], set_aside=4)) == "noisy"
    assert paired.verdict(pair("<=", 1.5, [])) == "not measured"


def test_rounds_settle_once_the_quartiles_are_close():
    assert not paired.settled([1.0, 1.0, 1.0, 1.0])  # fewer than MIN_ROUNDS
    assert paired.settled([1.00, 1.02, 0.99, 1.01, 1.00])
    assert not paired.settled([1.0, 1.5, 0.7, 1.3, 0.8])


def test_the_cpu_shares_are_read_from_proc_stat():
    total, busy, steal = paired.cpu_jiffies()
    assert total > 0 and 0 <= steal <= busy <= total


def test_a_pair_whose_every_round_was_set_aside_reads_noisy_not_the_suites_median():
    (record,) = paired.records([pair("<=", 1.5, [], set_aside=7)])
    assert record["verdict"] == "noisy" and record["value"] is None and record["set_aside"] == 7
    assert paired.records([pair("<=", 1.5, [])]) == []  # not measured at all: nothing to say


def test_absolute_targets_are_judged_from_repeated_runs_of_one_benchmark():
    by_label = {p.label: p for p in paired.pairs()}
    batch = by_label["streaming 64 B, send_batch(), M msg/s"]
    assert batch.denominator is None and batch.unit == "" and batch.scale == 1e-6
    batch.ratios = [25.0, 26.0, 27.0, 28.0, 29.0]  # M msg/s
    assert paired.verdict(batch) == "met"
    batch.ratios = [12.0, 33.0, 14.0, 31.0, 16.0, 30.0]  # bimodal across the target
    assert paired.verdict(batch) == "noisy"
    (record,) = [r for r in paired.records([batch])]
    assert record["unit"] == "" and record["verdict"] == "noisy"

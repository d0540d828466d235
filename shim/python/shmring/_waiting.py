"""How a trio receive on a shmring channel waits: poll or park, and for how
long. The policy (a budget that follows the traffic, or a fixed one from
SHMRING_TRIO_SPIN) and what it reads of the trio run; the loop that applies
it is ``shmring.trio._Conn._await_message``."""

from __future__ import annotations

import os
from typing import Any

import trio

# When the ring is empty a receive polls -- a try between other tasks' turns
# while any is runnable,
# and once none is (the thread would go idle), spinning in C with the GIL
# released -- and parks on the descriptor only when the idle spin budget runs
# out. A message found while polling costs no system call on either side (the
# sender rings the eventfd only for a parked reader). The budget adapts to
# the traffic: twice the typical recent idle wait, up to SPIN_CAP; nothing
# once idle waits run longer (an idle channel, a slow peer), then only every
# PROBE_EVERY-th wait polls, to notice when the peer is quick again. So an
# idle channel costs no CPU, and a busy one rarely wakes through the kernel.
SPIN_CAP = 250e-6
POLL_SLICE = 20e-6  # one C spin between schedule points
WAIT_WEIGHT = 0.25  # of the newest wait in the running estimate
PROBE_EVERY = 16
BUSY_POLLS = 64  # tries between other tasks' turns before parking among busy tasks
LONG_WAIT = 8 * SPIN_CAP  # a longer wait counts as this long: one turns polling off


def spin_setting_from_env() -> float | None:
    """SHMRING_TRIO_SPIN=<seconds>: a fixed poll budget instead of the adaptive
    one (0 never polls: lowest CPU; e.g. 0.001 is a latency mode that keeps a
    core busy while waiting, up to 1 ms per wait)."""
    text = os.environ.get("SHMRING_TRIO_SPIN", "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"SHMRING_TRIO_SPIN must be a number of seconds, not {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"SHMRING_TRIO_SPIN must be from 0 to 1 second, not {text!r}")
    return value


FIXED_SPIN = spin_setting_from_env()


def _run_queue() -> Any:
    """This trio run's queue of runnable tasks (trio keeps it on its runner),
    or None if this trio keeps it elsewhere. ``current_statistics()`` gives its
    length too, but also counts the I/O manager's registrations on each call,
    and this is asked on every poll and every tractor send."""
    try:
        return trio.lowlevel.current_task()._runner.runq  # type: ignore[attr-defined]
    except AttributeError:
        return None


def runnable_tasks() -> int:
    runq = _run_queue()
    return len(runq) if runq is not None else trio.lowlevel.current_statistics().tasks_runnable


# The receives of each trio run that are between two polls right now (each
# waits in the run queue at its schedule point); they add and remove themselves.
_POLLING: trio.lowlevel.RunVar[set[trio.lowlevel.Task]] = trio.lowlevel.RunVar("shmring_polling")


def polling_tasks() -> set[trio.lowlevel.Task]:
    """This run's receives between two polls."""
    try:
        return _POLLING.get()
    except LookupError:
        tasks: set[trio.lowlevel.Task] = set()
        _POLLING.set(tasks)
        return tasks


def only_polls_runnable() -> bool:
    """True if every task in this trio run's queue is a shmring receive
    between two polls: a schedule point now would only let them poll again,
    so a caller that owes one before acting (tractor's send lock) may skip
    it. False when that cannot be known."""
    runq = _run_queue()
    if runq is None:
        return False
    polling = polling_tasks()
    return all(task in polling for task in runq)


class WaitEstimate:
    """One receiving side's running estimate of how long its receives sit idle
    for a message, and the poll budget that follows from it."""

    def __init__(self) -> None:
        self.typical = 0.0  # seconds
        self.probe_in = PROBE_EVERY  # waits until the next probe while polling does not pay

    def poll_budget(self) -> float:
        if FIXED_SPIN is not None:
            return FIXED_SPIN
        if self.typical <= SPIN_CAP:
            return min(SPIN_CAP, 2 * self.typical + POLL_SLICE)
        self.probe_in -= 1
        if self.probe_in > 0:
            return 0.0
        self.probe_in = PROBE_EVERY
        return SPIN_CAP

    def note(self, waited: float, parked: bool) -> None:
        """One wait that polled: how long the thread sat idle, and whether it parked in the end."""
        waited = min(waited, LONG_WAIT)
        if not parked and self.typical > SPIN_CAP:
            self.typical = waited  # a probe caught it: the peer is quick again
        else:
            self.typical += WAIT_WEIGHT * (waited - self.typical)

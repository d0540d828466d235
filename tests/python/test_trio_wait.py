"""How a trio receive waits (shmring/trio.py, _Conn._await_message): it polls
while that pays and parks when it does not; the budget follows the traffic;
SHMRING_TRIO_SPIN fixes it. No timing assertions: what is checked is whether
a receive parked, and that an idle wait does not burn the CPU."""

import threading
import time

import pytest
import trio

import shmring.trio as st
from shmring import _waiting as wait


class CountingEndpoint:
    """An endpoint that counts how often a receive announced that it parks."""

    def __init__(self, endpoint):
        self._endpoint = endpoint
        self.parks = 0

    def prepare_recv_wait(self):
        self.parks += 1
        return self._endpoint.prepare_recv_wait()

    def __getattr__(self, name):
        return getattr(self._endpoint, name)


def counting_pair():
    a, b = st.open_pair()
    counter = CountingEndpoint(b._conn.endpoint)
    b._conn.endpoint = counter
    return a, b, counter


def send_later(channel, delay, data=b"late"):
    def run():
        time.sleep(delay)
        channel.endpoint.send(data, timeout=5)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_poll_budget_follows_the_waits_and_probes_when_they_run_long(monkeypatch):
    monkeypatch.setattr(wait, "FIXED_SPIN", None)
    estimate = wait.WaitEstimate()
    assert estimate.poll_budget() == pytest.approx(wait.POLL_SLICE)
    estimate.typical = 50e-6
    assert estimate.poll_budget() == pytest.approx(2 * 50e-6 + wait.POLL_SLICE)
    estimate.typical = wait.SPIN_CAP * 0.9
    assert estimate.poll_budget() == wait.SPIN_CAP
    # Waits longer than the cap: park at once, except one probe in PROBE_EVERY.
    estimate.typical = wait.SPIN_CAP * 2
    budgets = [estimate.poll_budget() for _ in range(wait.PROBE_EVERY * 3)]
    assert budgets.count(wait.SPIN_CAP) == 3 and budgets.count(0.0) == len(budgets) - 3
    # One long wait turns polling off; a probe that catches a quick message turns it back on.
    estimate.typical = 50e-6
    estimate.note(1.0, parked=True)
    assert estimate.typical > wait.SPIN_CAP and estimate.typical <= wait.LONG_WAIT
    estimate.note(30e-6, parked=False)
    assert estimate.typical == pytest.approx(30e-6)


async def test_a_peer_that_answers_within_the_budget_is_caught_without_parking(monkeypatch):
    monkeypatch.setattr(wait, "FIXED_SPIN", 2.0)  # far longer than the 20 ms the thread takes
    a, b, counter = counting_pair()
    thread = send_later(a._conn, 0.02)
    with trio.fail_after(30):
        assert await b.receive() == b"late"
    thread.join(10)
    assert counter.parks == 0


async def test_spin_zero_parks_at_once_and_still_receives(monkeypatch):
    monkeypatch.setattr(wait, "FIXED_SPIN", 0.0)
    a, b, counter = counting_pair()
    thread = send_later(a._conn, 0.02)
    with trio.fail_after(30):
        assert await b.receive() == b"late"
    thread.join(10)
    assert counter.parks >= 1


async def test_a_long_wait_turns_polling_off_and_an_idle_wait_costs_no_cpu(monkeypatch):
    monkeypatch.setattr(wait, "FIXED_SPIN", None)
    a, b, counter = counting_pair()
    # Quick traffic first (the estimate then says: poll), then a 0.4 s silence.
    for i in range(200):
        await a.send(b"%d" % i)
        assert await b.receive() == b"%d" % i
    cpu, wall = time.thread_time(), time.perf_counter()
    thread = send_later(a._conn, 0.4)
    with trio.fail_after(30):
        assert await b.receive() == b"late"
    thread.join(10)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    assert counter.parks == 1
    # Polling the whole silence would cost ~0.4 s of CPU; a park costs ~none.
    assert cpu < wall / 4, (cpu, wall)
    assert b._conn._estimate.typical > wait.SPIN_CAP  # the next waits park at once (but for probes)


async def test_a_receive_cancelled_while_polling_consumes_nothing(monkeypatch):
    monkeypatch.setattr(wait, "FIXED_SPIN", 2.0)
    a, b = st.open_pair()
    with trio.move_on_after(0.01) as scope:
        await b.receive()
    assert scope.cancelled_caught
    await a.send(b"after")
    assert await b.receive() == b"after"


@pytest.mark.parametrize("text, expected", [("", None), ("0", 0.0), (" 0.001 ", 0.001), ("1", 1.0)])
def test_the_spin_setting_is_read_from_the_environment(monkeypatch, text, expected):
    monkeypatch.setenv("SHMRING_TRIO_SPIN", text)
    assert wait.spin_setting_from_env() == expected


@pytest.mark.parametrize("text", ["fast", "-0.1", "2", "nan"])
def test_a_bad_spin_setting_is_refused_naming_the_variable(monkeypatch, text):
    monkeypatch.setenv("SHMRING_TRIO_SPIN", text)
    with pytest.raises(ValueError, match="SHMRING_TRIO_SPIN"):
        wait.spin_setting_from_env()


async def test_the_runnable_count_is_trios():
    assert wait.runnable_tasks() == trio.lowlevel.current_statistics().tasks_runnable == 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.sleep, 0)
        nursery.start_soon(trio.sleep, 0)
        assert wait.runnable_tasks() == trio.lowlevel.current_statistics().tasks_runnable == 2


async def test_only_polling_receives_runnable_is_told_apart_from_other_runnable_tasks(monkeypatch):
    # tractor's send skips its lock's schedule point only when nothing but
    # polls could run at it (shmring/tractor/_transport.py).
    monkeypatch.setattr(wait, "FIXED_SPIN", 2.0)
    a, b = st.open_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(b.receive)
        with trio.fail_after(30):
            while not wait.polling_tasks():  # until it found nothing and waits between polls
                await trio.lowlevel.checkpoint()
        assert wait.only_polls_runnable()
        nursery.start_soon(trio.sleep, 0)
        assert not wait.only_polls_runnable()
        await a.send(b"done")
    assert not wait.polling_tasks()

"""What an adversary does to shmring, in bounded loops (scripts/stress).

Each trial runs in fresh processes and must end within its limit; a crash,
a hang, a lost or reordered message, or a wrong error counts as a failure.

  kill-streaming  a child streams numbered messages and is SIGKILLed while we
                  are blocked sending it a fragmented message: our send must
                  fail with PeerDiedError, and our receive must deliver every
                  message the child sent, then PeerDiedError (issue 14.3).
  scribble        random bytes written into a live segment (through this
                  process's own mapping): both sides must end in data that is
                  right, CorruptError or a clean end, never a crash or a hang.
  fuzz            every public call with wrong arguments: only the documented
                  exceptions, never a crash.
  kill-storm      50 actors running trio, killed at once, then the process
                  exits: status 0, no fatal error (issue 14.2); every actor
                  killed or abandoned (the summary counts each).

  python tests/adversary/adversary.py [--trials N] [what ...]
"""

from __future__ import annotations

import argparse
import ast
import collections
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import shmring

CHILD_STREAMER = textwrap.dedent("""
    import sys, time, shmring
    ep = shmring.connect(sys.argv[1], ring_bytes=65536)
    for i in range(int(sys.argv[2])):
        ep.send(i.to_bytes(4, "little") * 8)
    ep.send(b"sent")
    time.sleep(3600)  # killed here
""")


def kill_streaming(trial: int, tmp: str) -> str | None:
    path = f"{tmp}/k{trial}.sock"
    count = random.randint(1, 200)
    with shmring.Listener(path) as listener:
        child = subprocess.Popen([sys.executable, "-c", CHILD_STREAMER, path, str(count)])
        try:
            ep = listener.accept(timeout=30)
            big = os.urandom(65536 * 3)  # fragmented; the child never reads, so the send blocks midway
            sent_error: list[BaseException] = []

            def send() -> None:
                try:
                    while True:
                        ep.send(big, timeout=30)
                except BaseException as e:  # noqa: BLE001 - the kind is what is checked
                    sent_error.append(e)

            sender = threading.Thread(target=send)
            # Wait for the child's "sent" (read nothing else yet), so it is only waiting to die.
            got = []
            while True:
                m = ep.recv(timeout=30)
                if m == b"sent":
                    break
                got.append(m)
            sender.start()
            time.sleep(random.uniform(0.0, 0.05))
            child.send_signal(signal.SIGKILL)
            sender.join(30)
            if sender.is_alive():
                return "our send still blocked 30 s after the peer was killed"
            if not sent_error or not isinstance(sent_error[0], shmring.PeerDiedError):
                return f"our send ended with {sent_error[:1]!r}, not PeerDiedError"
            if len(got) != count or any(m != i.to_bytes(4, "little") * 8 for i, m in enumerate(got)):
                return f"lost or reordered messages: {len(got)} of {count}"
            try:
                ep.recv(timeout=30)
                return "a message after the child's last one"
            except shmring.PeerDiedError:
                return None
            except Exception as e:  # noqa: BLE001
                return f"receive after the kill: {e!r}, not PeerDiedError"
        finally:
            child.kill()
            child.wait(30)


def segment_mapping(ep: shmring.Endpoint) -> tuple[int, int] | None:
    """(start, length) of a shmring segment mapping of this process, the newest."""
    found = None
    with open("/proc/self/maps") as f:
        for line in f:
            if "memfd:shmring" in line:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                found = (lo, hi - lo)
    return found


def scribble(trial: int, tmp: str) -> str | None:
    rng = random.Random(trial)
    a, b = shmring.pair(ring_bytes=4096)
    where = segment_mapping(a)
    if where is None:
        return "no shmring mapping found in /proc/self/maps"
    start, length = where
    for i in range(20):  # as many as fit: nobody reads yet
        a.try_send(i.to_bytes(4, "little") * rng.randint(1, 300))
    with open("/proc/self/mem", "r+b", buffering=0) as mem:
        for _ in range(rng.randint(1, 8)):
            offset = rng.randrange(length - 8)
            mem.seek(start + offset)
            mem.write(rng.randbytes(rng.randint(1, 8)))
    # Go on using the channel. Payload bytes the scribbler changed are its
    # business; what must not happen is a crash (the whole run would die), a
    # hang (every call is timed) or another kind of error.
    try:
        for _ in range(40):
            b.recv(timeout=1)
            a.send(b"more", timeout=1)
        SCRIBBLE_ENDS["went on"] = SCRIBBLE_ENDS.get("went on", 0) + 1
    except (shmring.CorruptError, shmring.AbortedError, TimeoutError, shmring.PeerClosedError) as e:
        # Found it, or the scribble left nothing readable: clean ends.
        SCRIBBLE_ENDS[type(e).__name__] = SCRIBBLE_ENDS.get(type(e).__name__, 0) + 1
    return None


SCRIBBLE_ENDS: dict[str, int] = {}  # how the scribble trials ended, for the summary


def fuzz(trial: int, tmp: str) -> str | None:
    code = textwrap.dedent(f"""
        import math, random, shmring, shmring.trio
        rng = random.Random({trial})
        values = [None, -1, 0, 1, 2**70, -2**70, 1.5, math.nan, math.inf, -math.inf, True, "x", b"x",
                  bytearray(4), [], object(), 1e10]
        allowed = (TypeError, ValueError, OverflowError, OSError, shmring.ChannelError, BufferError)

        def short(v):  # a wait that would be long (or for ever) becomes 1 ms: bad values stay as they are
            ok_number = isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
            return 0.001 if ok_number and v > 0.001 else v

        calls = [
            lambda v: shmring.pair(ring_bytes=v), lambda v: shmring.pair(max_message_bytes=v),
            lambda v: shmring.pair(spin=v), lambda v: shmring.pair()[0].send(v),
            lambda v: shmring.pair()[0].send(b"x", timeout=short(v)), lambda v: shmring.pair()[0].recv(timeout=short(v)),
            lambda v: shmring.pair()[0].try_recv(short(v)), lambda v: shmring.pair()[0].try_recv(spin=short(v)),
            lambda v: shmring.pair()[0].recv_into(v), lambda v: shmring.pair()[0].prepare_send_wait(v),
            lambda v: shmring.pair()[0].abort(v), lambda v: shmring.pair()[0].flush(timeout=short(v)),
            lambda v: shmring.Endpoint.attach(v), lambda v: shmring.Endpoint.discard(v),
            lambda v: shmring.Listener(v), lambda v: shmring.connect(v),
            lambda v: shmring.connect("/nonexistent/x.sock", timeout=short(v)),
        ]
        for _ in range(300):
            call, v = rng.choice(calls), rng.choice(values)
            try:
                call(v)
            except allowed:
                pass
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp)
    if out.returncode != 0 or "ok" not in out.stdout:
        return f"status {out.returncode}: {out.stderr[-400:]}"
    return None


STORM = textwrap.dedent("""
    import collections, sys, trio, shmring.spawn as sp
    sys.path.insert(0, sys.argv[1])

    async def main():
        actors = [sp.spawn("spawn_actors:trio_ping_pong", args=b"1000000") for _ in range(50)]
        for a in actors:
            await a.channel.send(b"x")
            await a.channel.receive()
        steps = collections.Counter()

        async def kill(a):
            steps[await a.kill(1.0)] += 1

        async with trio.open_nursery() as n:
            for a in actors:
                n.start_soon(kill, a)
        print("steps:", dict(steps))
        print("ended:", sum(a.state == "killed" for a in actors), "killed,",
              sum(a.state == "abandoned" for a in actors), "abandoned,",
              sum(a.state not in ("killed", "abandoned") for a in actors), "other")

    trio.run(main)
""")


def kill_storm(trial: int, tmp: str) -> str | None:
    """50 trio actors blocked on their channels, killed at once, then the
    process exits. It must exit cleanly with every actor killed or
    abandoned. Which step of the ladder ended each is reported, not judged:
    the channel abort should end them all, but on 2 busy cores a few may
    take longer than the kill's patience and get SystemExit in the middle of
    trio's teardown (noise on stderr, now and then an abandoned actor)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python")
    out = subprocess.run([sys.executable, "-c", STORM, here], capture_output=True, text=True, timeout=300)
    if out.returncode != 0 or re.search("Fatal Python error", out.stderr):
        return f"status {out.returncode}: {out.stderr[-400:]}"
    ended = re.search(r"ended: (\d+) killed, (\d+) abandoned, (\d+) other", out.stdout)
    steps = re.search(r"steps: (\{.*\})", out.stdout)
    if ended is None or steps is None or ended.group(3) != "0":
        return f"an actor neither killed nor abandoned: {out.stdout.strip()}"
    STORM_STEPS.update(ast.literal_eval(steps.group(1)))
    STORM_STEPS["stderr lines"] += len(out.stderr.splitlines())
    return None


# How the actors of every kill storm ended (kill steps), and the lines of
# noise the storms left on stderr.
STORM_STEPS: collections.Counter = collections.Counter()


TRIALS = {"kill-streaming": kill_streaming, "scribble": scribble, "fuzz": fuzz, "kill-storm": kill_storm}
DEFAULT_TRIALS = {"kill-streaming": 50, "scribble": 50, "fuzz": 5, "kill-storm": 3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, help="trials of each (default: 50 / 50 / 5 / 3)")
    parser.add_argument("what", nargs="*", help=", ".join(TRIALS))
    args = parser.parse_args()
    if unknown := [w for w in args.what if w not in TRIALS]:
        parser.error(f"unknown trial kind {unknown[0]!r}: choose from {', '.join(TRIALS)}")
    failed = 0
    with tempfile.TemporaryDirectory(dir=shmring.default_socket_dir()) as tmp:
        for name in args.what or list(TRIALS):
            n = args.trials or DEFAULT_TRIALS[name]
            started = time.monotonic()
            problems = []
            for trial in range(n):
                try:
                    problem = TRIALS[name](trial, tmp)
                except Exception as e:  # noqa: BLE001 - an unexpected exception is a failure to report
                    problem = f"{type(e).__name__}: {e}"
                if problem:
                    problems.append(f"trial {trial}: {problem}")
            failed += len(problems)
            ends = (f", ends: {SCRIBBLE_ENDS}" if name == "scribble" else
                    f", kill steps and stderr noise: {dict(STORM_STEPS)}" if name == "kill-storm" else "")
            print(f"{name}: {n - len(problems)} of {n} trials held ({time.monotonic() - started:.1f} s){ends}")
            for p in problems[:5]:
                print("   ", p)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Entry points the spawner tests start as actors (imported in the child)."""

import threading
import time

import shmring  # the C extension only: cheap to import in a fresh interpreter


def echo_upper(endpoint, args):
    endpoint.send(endpoint.recv().upper() + args)
    return b"echoed"


def trio_ping_pong(endpoint, args):
    import trio  # imported here: the other actors start without paying for it

    import shmring.trio as st

    async def main():
        channel = st.MessageChannel(endpoint)
        count = int(args)
        for _ in range(count):
            await channel.send(await channel.receive() + b"!")
        return b"%d rounds" % count

    return trio.run(main)


def fail(endpoint, args):
    raise RuntimeError("the child failed on purpose: " + args.decode())


def returns_text(endpoint, args):
    return "not bytes"


def busy_loop(endpoint, args):
    endpoint.send(b"started")
    while True:
        pass


def event_wait_loop(endpoint, args):
    endpoint.send(b"started")
    event = threading.Event()
    while True:
        event.wait(1.0)


def sleep_loop(endpoint, args):
    endpoint.send(b"started")
    while True:
        time.sleep(0.01)


def stuck_forever(endpoint, args):
    endpoint.send(b"started")
    threading.Event().wait()


def blocked_in_recv(endpoint, args):
    endpoint.send(b"started")
    try:
        endpoint.recv()
    except shmring.AbortedError:
        return b"saw the abort"
    return b"no abort"


def nothing(endpoint, args):
    return None


def imports_trio(endpoint, args):
    import sys

    endpoint.send(b"trio preloaded" if "trio" in sys.modules else b"trio not loaded")


def leaves_trio_worker_threads(endpoint, args):
    """Uses trio.to_thread, whose idle worker threads would outlive the actor
    by 10 s; returns at once."""
    import trio

    async def main():
        await trio.to_thread.run_sync(lambda: None)

    trio.run(main)
    return b"used a worker thread"


def leaves_a_thread_blocked_in_c(endpoint, args):
    """Starts a thread that blocks in C for a minute, then returns."""
    import time

    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    return b"left a thread behind"


def blocked_thread_and_open_channel(endpoint, args):
    """Leaves a thread blocked in C and returns with its channel still open:
    the parent's pending receive must end (the channel is aborted)."""
    import time

    from shmring import _core

    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
    global _kept
    _kept, theirs = _core.pair()  # a channel of its own, kept open
    endpoint.send(str(theirs.detach()).encode())  # the parent attaches the other end
    return b"returned"


def ends_when_told(endpoint, args):
    endpoint.send(b"started")
    try:
        endpoint.recv()
    except shmring.AbortedError:
        pass
    return b"ended"


def reports_modules_and_profiler(endpoint, args):
    import sys

    loaded = [name for name in args.decode().split(",") if name in sys.modules]
    endpoint.send(("%s|%s" % (",".join(loaded), sys.getprofile())).encode())


def slow_to_tear_down(endpoint, args):
    """Runs trio, leaves a thread that finishes `args` seconds later, says
    "started" and waits on its channel: killed, its code ends at once, but
    its interpreter's teardown waits for that thread."""
    import time

    import trio

    import shmring.trio as st

    threading.Thread(target=time.sleep, args=(float(args),)).start()

    async def main():
        channel = st.MessageChannel(endpoint)
        await channel.send(b"started")
        await channel.receive()

    trio.run(main)

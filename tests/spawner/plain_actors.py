"""Actors the spawner's own tests start with no runner: each entry gets its
channel's handle as an int and the spawn's args, and uses nothing of
shmring's (these tests must not need the Python extension). Those that must
say "started" write it to the pipe whose fd is their args."""

import os
import threading
import time


def _started(args):
    os.write(int(args), b"started")


def returns_its_arguments(handle, args):
    assert isinstance(handle, int) and handle > 0, handle
    return b"handle is an int; args: " + args


def returns_none(handle, args):
    return None


def returns_text(handle, args):
    return "not bytes"


def fails(handle, args):
    raise ValueError("failed in the child")


def busy(handle, args):
    _started(args)
    while True:
        pass


def stuck(handle, args):
    _started(args)
    threading.Event().wait()


def leaves_a_short_thread(handle, args):
    # Still running when the entry returns: the worker joins it before it
    # ends the interpreter (CPython aborts the process otherwise).
    threading.Thread(target=time.sleep, args=(0.3,)).start()
    return b"left a thread"


def waits_for_the_runners_wake(handle, args):
    import spawner_test_runner

    _started(args)
    spawner_test_runner.woken.wait()  # a C-level wait with no timeout
    while True:  # the pending SystemExit fires here
        time.sleep(0.01)


def leaves_a_stuck_thread(handle, args):
    threading.Thread(target=threading.Event().wait).start()
    return b"left a stuck thread"


def names_the_shmring_modules_loaded(handle, args):
    import sys

    return ",".join(sorted(m for m in sys.modules if m.split(".")[0] == "shmring")).encode()


def says_whether_loaded(handle, args):
    """Whether the module named by args was imported before this entry ran."""
    import sys

    return b"loaded" if args.decode() in sys.modules else b"not loaded"

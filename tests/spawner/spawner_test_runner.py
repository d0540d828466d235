"""A runner (the protocol in spawner/include/shmring/spawner.hpp) for the
spawner's own tests: it marks what the entry returns, reports threads_left
to the pipe the entry's args name, and its kill hook releases an entry
blocked in a C-level wait."""

import os
import threading

woken = threading.Event()
_args = b""


def run(function, handle, args):
    global _args
    _args = args
    return b"via the runner: " + function(handle, args)


def threads_left(count):
    os.write(int(_args), b"threads_left %d" % count)


def wake_for_kill():
    woken.set()

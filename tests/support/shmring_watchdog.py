"""pytest plugin: a per-test hang watchdog that needs no GIL.

pytest-timeout acts from Python (a signal handler or a Python thread), so a
deadlock that holds the GIL silences it. faulthandler's watchdog is a C
thread: when one test runs longer than the hang limit it writes every Python
thread's stack to a file and ends the process with status 1, so a hang is a
bounded, visible failure. scripts/test prints the file when pytest fails.

Load it with ``-p shmring_watchdog`` (tests/support on PYTHONPATH):
``--hang-limit SECONDS`` (default 420, above pytest-timeout's limit) and
``--hang-dir DIR`` (default build/hangs).
"""

import faulthandler
import os

import pytest

_KEY = pytest.StashKey[object]()


def pytest_addoption(parser):
    group = parser.getgroup("shmring watchdog")
    group.addoption("--hang-limit", type=float, default=420.0,
                    help="seconds one test may run before its stacks are dumped and the run ends")
    group.addoption("--hang-dir", default=os.path.join("build", "hangs"),
                    help="where the stack dump of a hung test is written")


def pytest_configure(config):
    hang_dir = config.getoption("--hang-dir")
    os.makedirs(hang_dir, exist_ok=True)
    config.stash[_KEY] = open(os.path.join(hang_dir, f"hang-{os.getpid()}.txt"), "w")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    dump = item.config.stash[_KEY]
    limit = item.config.getoption("--hang-limit")
    dump.seek(0)
    dump.truncate()
    dump.write(f"HANG: {item.nodeid} ran longer than {limit:.0f} s; every thread's stack:\n")
    dump.flush()
    faulthandler.dump_traceback_later(limit, exit=True, file=dump)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def pytest_unconfigure(config):
    dump = config.stash.get(_KEY, None)
    if dump is not None:
        dump.close()
        os.unlink(dump.name)  # no hang: nothing to keep

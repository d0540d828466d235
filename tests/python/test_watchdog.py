"""The hang watchdog (tests/support/shmring_watchdog.py) fires even when a
test holds the GIL, and leaves every thread's stack in a file."""

import os
import subprocess
import sys
import textwrap

SUPPORT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support")

HUNG = textwrap.dedent(
    """
    import ctypes, threading, time

    def test_fine():
        pass

    def test_hangs_holding_the_gil():
        threading.Thread(target=time.sleep, args=(60,), name="bystander", daemon=True).start()
        # A C call that never releases the GIL: pytest-timeout's own thread
        # could never run, only the C-level watchdog can report this.
        api = ctypes.pythonapi
        api.PyThread_allocate_lock.restype = ctypes.c_void_p
        api.PyThread_acquire_lock.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lock = api.PyThread_allocate_lock()
        api.PyThread_acquire_lock(lock, 1)
        api.PyThread_acquire_lock(lock, 1)  # its own lock, again: forever
    """
)


def run(tmp_path, *extra):
    (tmp_path / "test_hung.py").write_text(HUNG)
    hang_dir = tmp_path / "hangs"
    env = dict(os.environ, PYTHONPATH=SUPPORT)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "shmring_watchdog", "-p", "no:cacheprovider",
                          "--hang-dir", str(hang_dir), *extra, str(tmp_path / "test_hung.py")],
                         capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    return out, sorted(hang_dir.glob("*.txt")) if hang_dir.exists() else []


def test_a_test_that_hangs_holding_the_gil_ends_the_run_with_its_stacks_in_a_file(tmp_path):
    out, dumps = run(tmp_path, "--hang-limit", "2")
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert len(dumps) == 1, (out.stdout, out.stderr)
    text = dumps[0].read_text()
    assert "HANG: test_hung.py::test_hangs_holding_the_gil ran longer than 2 s" in text
    assert "test_hangs_holding_the_gil" in text.split("ran longer", 1)[1]  # the hung frame itself
    assert text.count("Thread 0x") >= 2  # every thread, the bystander too


def test_a_run_without_a_hang_leaves_no_file(tmp_path):
    out, dumps = run(tmp_path, "--hang-limit", "30", "-k", "fine")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert dumps == []

"""The adversary's trials (tests/adversary/adversary.py, scripts/stress) in a
few rounds each, so every CI run tries them: SIGKILL while streaming,
scribbling on a live segment, API fuzz, a 50-actor kill storm."""

import os
import subprocess
import sys

import pytest

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "adversary", "adversary.py")


@pytest.mark.parametrize("what, trials", [("kill-streaming", 10), ("scribble", 20), ("fuzz", 3), ("kill-storm", 1)])
def test_the_adversary_trials_hold(what, trials):
    out = subprocess.run([sys.executable, SCRIPT, "--trials", str(trials), what], capture_output=True, text=True,
                         timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{trials} of {trials} trials held" in out.stdout, out.stdout

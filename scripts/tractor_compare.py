#!/usr/bin/env python3
"""tractor's whole test suite, file by file, under shmring: 'shm' next to
'uds' (trio spawn backend) and 'shm_subint' next to 'trio' (both over
'shm'). Writes a Markdown table of pass / fail / skip per file and
configuration (and which tests differ). Run by `scripts/tractor-suite
compare OUT`, which installs tractor first.

Each file runs in its own pytest process (a crash or a hang then costs one
file), with pytest-timeout and shmring's GIL-free watchdog, a private
XDG_RUNTIME_DIR, and a bound on the whole file.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

CONFIGS = (
    ("trio", "shm"),
    ("trio", "uds"),
    ("shm_subint", "shm"),
)
FILE_LIMIT_S = 900


def run_file(src: Path, repo: Path, test_file: str, backend: str, proto: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="shmring-compare-") as tmp:
        runtime = Path(tmp) / "run"
        runtime.mkdir(mode=0o700)
        xml = Path(tmp) / "junit.xml"
        env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), PYTHONPATH=str(repo / "tests" / "support"))
        cmd = [str(repo / ".venv" / "bin" / "python"), "-m", "pytest", "-c", "pyproject.toml", "--rootdir=.",
               "-p", "shmring_watchdog", f"--hang-dir={repo / 'build' / 'hangs'}", "--hang-limit=300",
               "--timeout=120", "--capture=fd", "-q", "-p", "no:cacheprovider", f"--junitxml={xml}",
               f"--spawn-backend={backend}", f"--tpt-proto={proto}", test_file]
        started = time.monotonic()
        try:
            # SIGINT back to its default: a shell's background job inherits it
            # ignored, and tractor's Ctrl-C tests then wait for it in vain.
            proc = subprocess.run(cmd, cwd=src, env=env, capture_output=True, text=True, timeout=FILE_LIMIT_S,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
            status = "ok" if proc.returncode in (0, 1, 5) else f"exit {proc.returncode}"
        except subprocess.TimeoutExpired:
            status = "hang"
        seconds = time.monotonic() - started
        leftover = sorted(p.name for p in runtime.rglob("*.sock"))
        outcomes: dict[str, str] = {}
        if xml.exists():
            for case in ET.parse(xml).getroot().iter("testcase"):
                name = f"{case.get('classname', '')}::{case.get('name', '')}"
                if case.find("failure") is not None or case.find("error") is not None:
                    outcomes[name] = "fail"
                elif case.find("skipped") is not None:
                    outcomes[name] = "skip"
                else:
                    outcomes[name] = "pass"
    return {"status": status, "seconds": seconds, "outcomes": outcomes, "stale_sockets": leftover}


def counts(result: dict) -> str:
    if result["status"] == "hang":
        return "**hang**"
    o = list(result["outcomes"].values())
    text = f"{o.count('pass')} / {o.count('fail')} / {o.count('skip')}"
    if result["status"] != "ok":
        text += f" ({result['status']})"
    if result["stale_sockets"]:
        text += f", {len(result['stale_sockets'])} stale socket(s)"
    return text


def base(name: str) -> str:
    """A test's name without the backend or object addresses in its parameters, to pair runs."""
    name = re.sub(r" at 0x[0-9a-f]+", "", name)
    return name.replace("start_method=shm_subint", "start_method=*").replace("start_method=trio", "start_method=*")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", required=True, type=Path, help="tractor's unpacked source tree")
    parser.add_argument("--out", required=True, type=Path, help="the Markdown file to write")
    parser.add_argument("--only", action="append", default=[],
                        help="only test files whose path contains this (repeatable)")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parent.parent
    src = args.src.resolve()
    files = sorted(str(p.relative_to(src)) for p in (src / "tests").rglob("test_*.py")
                   if not args.only or any(part in str(p) for part in args.only))
    results: dict[str, dict[tuple[str, str], dict]] = {}
    for test_file in files:
        results[test_file] = {}
        for backend, proto in CONFIGS:
            r = run_file(src, repo, test_file, backend, proto)
            results[test_file][(backend, proto)] = r
            print(f"{test_file} {backend}/{proto}: {counts(r)} in {r['seconds']:.0f} s", flush=True)

    lines = [f"tractor's suite per file (pass / fail / skip), {time.strftime('%Y-%m-%d')}, "
             f"`scripts/tractor-suite compare`", "",
             "| test file | trio backend, 'uds' | trio backend, 'shm' | shm_subint, 'shm' |", "|---|---|---|---|"]
    totals = {c: [0, 0, 0] for c in CONFIGS}
    for test_file, per in results.items():
        row = [counts(per[("trio", "uds")]), counts(per[("trio", "shm")]), counts(per[("shm_subint", "shm")])]
        lines.append(f"| `{test_file}` | " + " | ".join(row) + " |")
        for c, r in per.items():
            o = list(r["outcomes"].values())
            for i, k in enumerate(("pass", "fail", "skip")):
                totals[c][i] += o.count(k)
    lines.append("| **total** | " + " | ".join(
        "**{} / {} / {}**".format(*totals[c]) for c in (("trio", "uds"), ("trio", "shm"), ("shm_subint", "shm"))) + " |")
    lines += ["", "Tests whose outcome differs:", ""]
    for test_file, per in results.items():
        uds, shm, sub = ({base(n): v for n, v in per[c]["outcomes"].items()}
                         for c in (("trio", "uds"), ("trio", "shm"), ("shm_subint", "shm")))
        for name in sorted(set(uds) | set(shm)):
            if uds.get(name) != shm.get(name):
                lines.append(f"- 'uds' {uds.get(name, '-')}, 'shm' {shm.get(name, '-')}: `{name}`")
        for name in sorted(set(shm) | set(sub)):
            if sub.get(name) != shm.get(name):
                lines.append(f"- trio {shm.get(name, '-')}, shm_subint {sub.get(name, '-')}: `{name}`")
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())

"""Registration as a whole, against a real tractor: the table of patches
(shmring.tractor._table) is exactly what registration changes in tractor,
and a tractor that moved gets none of it, a clear error naming every row
that did not fit, and a start-up that breaks nothing.

Each check runs in a fresh interpreter (a subprocess): registration changes
process-wide module state. "A tractor that moved" is the installed tractor
changed after import in that subprocess, or a copy of it in a temporary
directory with one name renamed throughout (the copy is made at test time,
outside the repository, and deleted with the directory).
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from shmring.tractor._table import TABLE, How, When, rows
from tractor_marks import HAVE_TRACTOR, needs_hook, needs_tractor

REPO = Path(__file__).resolve().parents[2]


def pairs(patches):
    return {(patch.module, patch.name) for patch in patches}


def run(tmp_path, snippet, *, hook=True, pythonpath=None, extra_env=None):
    """A fresh interpreter running `snippet` (bounded)."""
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700, exist_ok=True)  # tractor's platformdirs wants one, and warns otherwise
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), SHMRING_TRACTOR="1" if hook else "0", **(extra_env or {}))
    env.pop("PYTHONWARNINGS", None)
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    else:
        env.pop("PYTHONPATH", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(snippet)], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)


# --- the table itself (no tractor needed) ------------------------------------


def test_every_row_names_what_it_puts_and_why_and_each_target_is_changed_once_per_phase():
    import shmring.tractor._patching as patching

    seen = {}
    for index, patch in enumerate(TABLE):
        assert patch.module.split(".")[0] == "tractor" and patch.name and patch.why, patch
        if patch.how is How.REBIND:
            sources = [row for row in TABLE[:index] if row.target == patch.same_as and row.how is How.REPLACE]
            assert sources, f"{patch.target}: rebound with {patch.same_as}, which no earlier row replaces"
            assert patch.name == sources[-1].name
        else:
            assert callable(patching.builder(patch)), patch
            assert patch.how is not How.REPLACE or patch.expect in patching.EXPECTATIONS, patch
        phase = When.ON_MISMATCH if patch.when is When.ON_MISMATCH else "applied"
        assert (phase, patch.target) not in seen, f"{patch.target} appears twice"
        seen[(phase, patch.target)] = patch


def test_the_docs_list_every_row_of_the_table():
    docs = (REPO / "docs" / "tractor.md").read_text()
    section = docs[docs.index("## Registration"):]
    section = section[:section.index("\n## ", 1)]
    for patch in TABLE:
        assert f"`{patch.target}`" in section, f"docs/tractor.md, Registration: no row for {patch.target}"


# --- what registration changes in a real tractor -----------------------------

SNAPSHOT = """
    import sys, json

    _keep = []  # every value seen stays alive: an id is never reused for another object

    def snapshot():
        state = {}
        for name, module in list(sys.modules.items()):
            if name != "tractor" and not name.startswith("tractor."):
                continue
            for attr, value in list(vars(module).items()):
                if attr == "__builtins__":
                    continue
                _keep.append(value)
                if isinstance(value, dict):
                    _keep.extend(value.values())
                    state[(name, attr)] = ("dict", id(value), frozenset((k, id(v)) for k, v in value.items()))
                elif isinstance(value, list):
                    _keep.extend(value)
                    state[(name, attr)] = ("list", id(value), tuple(map(id, value)))
                else:
                    state[(name, attr)] = id(value)
        return state

    def changed(before, after):
        return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))

    def report(label, before, after):
        print(label, json.dumps(changed(before, after)))
"""


def reported(stdout, label):
    for line in stdout.splitlines():
        if line.startswith(label + " "):
            return {tuple(pair) for pair in json.loads(line[len(label) + 1:])}
    raise AssertionError(f"no {label!r} line in:\n{stdout}")


REGISTER_EVERY_PHASE = SNAPSHOT + """
    import tractor
    import tractor._testing.pytest, tractor._testing.addr  # so that their rows apply at registration
    import tractor.devx._proctitle  # a 'shm_subint' child's row
    modules = set(sys.modules)

    before = snapshot()
    import shmring.tractor
    assert shmring.tractor.register() is True
    after = snapshot()
    report("registration", before, after)
    print("tractor modules imported by registration", sorted(m for m in set(sys.modules) - modules
                                                           if m.startswith("tractor")))

    from tractor.spawn import _spawn
    assert _spawn.try_set_start_method("shm_subint") is None
    from shmring.tractor import _pool
    _pool._create()  # the pool started filling: let it finish before exiting
    selected = snapshot()
    report("shm_subint selected", after, selected)

    from shmring.tractor import _subint_fixes
    _subint_fixes.patch_tractor()
    child = snapshot()
    report("shm_subint child", selected, child)
    assert shmring.tractor.register() is True  # idempotent
    report("registering again", child, snapshot())
"""


@needs_tractor
def test_registration_changes_exactly_the_rows_of_the_table_in_a_real_tractor(tmp_path):
    out = run(tmp_path, REGISTER_EVERY_PHASE, hook=False, extra_env={"SHMRING_TRACTOR_POOL": "0"})
    assert out.returncode == 0, out.stderr
    assert reported(out.stdout, "registration") == pairs(rows(When.REGISTRATION) + rows(When.ON_IMPORT))
    assert "tractor modules imported by registration []" in out.stdout, out.stdout
    # Selecting 'shm_subint' also sets tractor's current method, as tractor's function does for its own keys.
    [try_set] = [patch for patch in rows(When.REGISTRATION) if patch.name == "try_set_start_method"]
    selected = reported(out.stdout, "shm_subint selected")
    assert selected - {(try_set.module, name) for name in try_set.writes} == pairs(rows(When.SHM_SUBINT))
    assert (try_set.module, "_spawn_method") in selected
    assert reported(out.stdout, "shm_subint child") == pairs(rows(When.SHM_SUBINT_CHILD))
    assert reported(out.stdout, "registering again") == set()


@needs_hook
@needs_tractor
def test_the_start_up_hook_applies_the_registration_rows_when_tractor_is_imported(tmp_path):
    out = run(tmp_path, """
        import tractor
        from shmring.tractor import _register
        print("applied", list(_register.applied_targets()))
    """)
    assert out.returncode == 0, out.stderr
    assert f"applied {[patch.target for patch in rows(When.REGISTRATION)]}" in out.stdout, out.stdout


# --- a tractor that moved ----------------------------------------------------

MISMATCH = SNAPSHOT + """
    import tractor
    from tractor.discovery import _addr
    from tractor.ipc import _types
    from tractor.spawn import _reap, _spawn
    {simulate}
    before = snapshot()
    import shmring.tractor
    try:
        shmring.tractor.register()
    except shmring.tractor.TractorMismatch as exc:
        error = exc
        print("MISMATCH", str(exc).replace("\\n", " | "))
    else:
        raise SystemExit("registration did not fail")
    report("changed", before, snapshot())
    try:
        shmring.tractor.register()
    except shmring.tractor.TractorMismatch as again:
        print("again the same error", again is error)

    def refused(call):
        try:
            call()
        except shmring.tractor.TractorMismatch as exc:
            return str(exc).splitlines()[0]
        return "not refused"

    print("REFUSED shm_subint:", refused(lambda: _spawn.try_set_start_method("shm_subint")))
    print("REFUSED shm:", refused(lambda: tractor.open_root_actor(enable_transports=["shm"])))
    print("trio still selectable", _spawn.try_set_start_method("trio") is None)
"""


def run_mismatch(tmp_path, simulate):
    out = run(tmp_path, MISMATCH.replace("{simulate}", textwrap.dedent(simulate).strip().replace("\n", "\n    ")),
              hook=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def assert_refused_and_unpatched_but_for_the_refusals(stdout):
    assert reported(stdout, "changed") == pairs(rows(When.ON_MISMATCH)), stdout
    assert "again the same error True" in stdout, stdout
    assert "REFUSED shm_subint: The 'shm_subint' spawn backend was asked for, but shmring could not register" in stdout
    assert "REFUSED shm: The 'shm' transport (enable_transports=['shm']) was asked for" in stdout, stdout
    assert "trio still selectable True" in stdout, stdout


@needs_tractor
def test_a_tractor_whose_names_moved_is_left_unpatched_and_every_misfit_row_is_named(tmp_path):
    stdout = run_mismatch(tmp_path, """
        # tractor renamed a table, and a module stopped importing wrap_address by name.
        _types._addr_to_tpt = _types.__dict__.pop("_addr_to_transport")
        _reap.wrap_address = lambda addr: _addr.wrap_address(addr)
    """)
    mismatch = next(line for line in stdout.splitlines() if line.startswith("MISMATCH"))
    assert "Did not fit (2):" in mismatch, mismatch
    assert "tractor.ipc._types._addr_to_transport[ShmAddress] (dict entry" in mismatch
    assert "tractor.ipc._types has no attribute '_addr_to_transport'" in mismatch
    assert "tractor.spawn._reap.wrap_address (rebound with tractor.discovery._addr.wrap_address)" in mismatch
    assert "as a module that imported it by name holds; found <function <lambda>" in mismatch
    assert "Nothing was changed in tractor: every row is checked before any is applied" in mismatch
    # Which tractor it is, and which one the table was written for.
    assert "This is tractor 0.1" in mismatch and "/site-packages/tractor" in mismatch, mismatch
    assert "shmring's table was written for tractor commit 3690e43" in mismatch
    assert_refused_and_unpatched_but_for_the_refusals(stdout)


@needs_tractor
def test_a_lookup_that_fails_after_applying_undoes_every_row(tmp_path):
    stdout = run_mismatch(tmp_path, """
        # tractor's lookup now reads a table of its own: our entry is in place and never found.
        _addr.get_address_cls = dict(_addr._address_types).__getitem__
    """)
    mismatch = next(line for line in stdout.splitlines() if line.startswith("MISMATCH"))
    assert "tractor.discovery._addr.get_address_cls('shm'): raised KeyError: 'shm'" in mismatch, mismatch
    assert f"All {len(rows(When.REGISTRATION))} rows had been applied; they were undone" in mismatch
    assert_refused_and_unpatched_but_for_the_refusals(stdout)


@needs_tractor
def test_a_module_that_newly_imports_a_replaced_function_by_name_fails_registration(tmp_path):
    stdout = run_mismatch(tmp_path, """
        # As if a new tractor release did `from tractor.discovery._addr import wrap_address` in _server:
        # no row rebinds it, so 'shm' addresses would be taken for UDS paths there.
        from tractor.ipc import _server
        _server.wrap_address = _addr.wrap_address
    """)
    mismatch = next(line for line in stdout.splitlines() if line.startswith("MISMATCH"))
    assert "tractor.ipc._server.wrap_address: holds tractor's tractor.discovery._addr.wrap_address, which was " \
           "replaced, and no row rebinds it" in mismatch, mismatch
    assert "they were undone: tractor is as it was" in mismatch
    assert_refused_and_unpatched_but_for_the_refusals(stdout)


@needs_tractor
def test_a_row_that_cannot_be_built_undoes_the_rows_applied_before_it(tmp_path):
    stdout = run_mismatch(tmp_path, """
        # The transport builds on a tractor helper that is gone: building its rows fails midway.
        import tractor._exceptions
        del tractor._exceptions._mk_recv_mte
        assert "shmring.tractor._transport" not in sys.modules
    """)
    mismatch = next(line for line in stdout.splitlines() if line.startswith("MISMATCH"))
    assert "tractor.ipc._types._msg_transports (list entry, built by _replacements:transport_class): applying it " \
           "raised ImportError: cannot import name '_mk_recv_mte'" in mismatch, mismatch
    assert "The rows applied before it were undone: nothing is left changed in tractor" in mismatch
    assert_refused_and_unpatched_but_for_the_refusals(stdout)


def moved_tractor(tmp_path, old, new):
    """A copy of the installed tractor with the identifier `old` renamed `new`
    in every module, as if a tractor release had renamed it."""
    source = Path(importlib.util.find_spec("tractor").submodule_search_locations[0])
    root = tmp_path / "moved"
    shutil.copytree(source, root / "tractor", ignore=shutil.ignore_patterns("__pycache__"))
    pattern = re.compile(rf"\b{re.escape(old)}\b")
    renamed = 0
    for path in (root / "tractor").rglob("*.py"):
        text = path.read_text()
        if pattern.search(text):
            path.write_text(pattern.sub(new, text))
            renamed += 1
    assert renamed, f"{old!r} is not in this tractor: the simulation would test nothing"
    return root


START_UP = """
    import socket, sys, trio, tractor
    import shmring.tractor

    async def main(ask):
        if ask == "tcp":
            with socket.socket() as probe:  # a free port for our own registry: never another run's
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            async with tractor.open_root_actor(enable_transports=["tcp"], registry_addrs=[("127.0.0.1", port)]):
                print("a tcp root actor ran")
        elif ask == "shm":
            async with tractor.open_root_actor(enable_transports=["shm"]):
                pass
        elif ask == "shm_subint":
            async with tractor.open_nursery(start_method="shm_subint"):
                pass

    print("tractor from", tractor.__file__)
    trio.run(main, sys.argv[1])
"""


@needs_hook
@needs_tractor
def test_at_start_up_a_moved_tractor_gets_a_warning_and_an_error_only_where_shm_is_asked_for(tmp_path):
    moved = moved_tractor(tmp_path, "_addr_to_transport", "_addr_to_tpt")
    plain = run(tmp_path, "print(1)", pythonpath=moved)
    assert (plain.returncode, plain.stdout, plain.stderr) == (0, "1\n", "")

    tcp = subprocess_with_arg(tmp_path, moved, "tcp")
    assert tcp.returncode == 0, tcp.stderr
    assert f"tractor from {moved}" in tcp.stdout and "a tcp root actor ran" in tcp.stdout, tcp.stdout
    assert "RuntimeWarning: shmring could not register its 'shm' transport" in tcp.stderr, tcp.stderr
    assert "tractor.ipc._types._addr_to_transport[ShmAddress] (dict entry" in tcp.stderr
    assert f"This is tractor at {moved}/tractor (no package metadata for it: version unknown)" in tcp.stderr

    for ask, what in (("shm", "The 'shm' transport (enable_transports=['shm'])"),
                      ("shm_subint", "The 'shm_subint' spawn backend")):
        out = subprocess_with_arg(tmp_path, moved, ask)
        assert out.returncode != 0, out.stdout
        assert f"shmring.tractor._mismatch.TractorMismatch: {what} was asked for, but shmring could not " \
               f"register" in out.stderr, out.stderr
        assert "tractor.ipc._types has no attribute '_addr_to_transport'" in out.stderr


def subprocess_with_arg(tmp_path, moved, ask):
    script = tmp_path / "start_up.py"
    script.write_text(textwrap.dedent(START_UP))
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), PYTHONPATH=str(moved), SHMRING_TRACTOR="1")
    return subprocess.run([sys.executable, "-W", "default", str(script), ask], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)


@needs_hook
@needs_tractor
def test_test_helpers_that_moved_are_left_alone_with_a_warning_and_the_rest_stays_registered(tmp_path):
    moved = moved_tractor(tmp_path, "get_rando_addr", "get_random_addr")
    out = run(tmp_path, """
        import warnings
        warnings.simplefilter("always")
        import tractor
        from tractor.discovery import _addr
        with warnings.catch_warnings(record=True) as caught:
            from tractor._testing import addr
        print("registered", "shm" in _addr._address_types)
        print("helpers untouched", not hasattr(addr, "get_rando_addr") and addr.get_random_addr("tcp") is not None)
        for warning in caught:
            print("WARNING", str(warning.message).replace("\\n", " | "))
    """, pythonpath=moved)
    assert out.returncode == 0, out.stderr
    assert "registered True" in out.stdout and "helpers untouched True" in out.stdout, out.stdout
    assert "WARNING shmring could not teach tractor's test helpers in tractor._testing.addr" in out.stdout, out.stdout
    assert "tractor._testing.addr.get_rando_addr (replaced, built by _replacements:get_rando_addr): " \
           "tractor._testing.addr has no attribute 'get_rando_addr'" in out.stdout


@needs_hook
@needs_tractor
def test_shm_subint_rows_that_do_not_fit_are_refused_as_a_whole_when_shm_subint_is_selected(tmp_path):
    # tractor.devx._proctitle is imported only in a child: its row is checked when a child applies it.
    moved = moved_tractor(tmp_path, "set_actor_proctitle", "set_proc_title")
    out = run(tmp_path, """
        import tractor
        from tractor import devx
        from shmring.tractor import TractorMismatch, _subint_fixes
        stack_on_sig = devx.enable_stack_on_sig
        try:
            _subint_fixes.patch_tractor()
        except TractorMismatch as exc:
            print("MISMATCH", str(exc).replace("\\n", " | "))
        print("child rows untouched", devx.enable_stack_on_sig is stack_on_sig
              and devx._stackscope.enable_stack_on_sig is stack_on_sig)
    """, pythonpath=moved)
    assert out.returncode == 0, out.stderr
    assert "MISMATCH shmring could not apply its tractor rows in each 'shm_subint' child." in out.stdout, out.stdout
    assert "tractor.devx._proctitle.set_actor_proctitle (replaced" in out.stdout
    assert "None of them was applied." in out.stdout
    assert "child rows untouched True" in out.stdout, out.stdout

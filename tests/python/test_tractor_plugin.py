"""The tractor plugin: the 'shm' address/listener contract (no tractor
needed), registration through the start-up hook, and — when tractor is
installed — a real root actor and subactor talking over 'shm', and the
'shm_subint' backend. Registration as a whole (the table of patches, a
tractor that moved): test_tractor_registration.py."""

import ast
import os
import subprocess
import sys
import textwrap

import pytest
import trio

import shmring.trio as st
from shmring.tractor import ShmAddress, close_listener, is_unwrapped_shm, start_listener
from shmring.tractor._address import connect_stream
from tractor_marks import HAVE_TRACTOR, needs_hook, needs_tractor


def test_the_address_has_the_attributes_tractor_reads():
    assert ShmAddress.proto_key == "shm"
    assert ShmAddress.unwrapped_type == tuple[str, str]
    root = ShmAddress.get_root()
    assert root.is_valid and root.bindspace == ShmAddress.def_bindspace == root.namespace
    assert root == ShmAddress.get_root()  # a fixed, host-wide default


def test_unwrap_is_plain_values_that_survive_literal_eval_and_round_trip():
    addr = ShmAddress.get_random()
    unwrapped = addr.unwrap()
    assert isinstance(unwrapped, tuple) and all(type(v) is str for v in unwrapped)
    assert ast.literal_eval(repr(unwrapped)) == unwrapped
    assert ShmAddress.from_addr(unwrapped) == addr
    assert ShmAddress.from_addr(list(unwrapped)) == addr


def test_addresses_are_hashable_with_value_equality_and_random_ones_differ():
    a = ShmAddress("/tmp/x", "a.sock", maybe_pid=1)
    b = ShmAddress("/tmp/x", "a.sock", maybe_pid=2)  # the pid is informational
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert ShmAddress.get_random() != ShmAddress.get_random()


def test_the_unwrapped_form_never_looks_like_tcp_or_uds():
    assert is_unwrapped_shm(ShmAddress.get_root().unwrap())
    assert not is_unwrapped_shm(("127.0.0.1", 1616))  # tractor's TCP form
    assert not is_unwrapped_shm(("/run/user/0/tractor", "registry@1616.sock"))  # UDS form
    assert not is_unwrapped_shm(None)
    with pytest.raises(TypeError, match="not an unwrapped shm address"):
        ShmAddress.from_addr(("127.0.0.1", 1616))


async def test_the_listener_reports_its_address_and_accepts_streams():
    addr = ShmAddress.get_random()
    listener = await start_listener(addr=addr)
    assert listener.socket.getsockname() == addr.unwrap()
    async with trio.open_nursery() as nursery:

        async def client():
            stream = await connect_stream(addr)
            assert stream.shm_raddr == addr
            await stream.send_all(b"hello tractor")
            await stream.aclose()

        nursery.start_soon(client)
        server = await listener.accept()
        assert isinstance(server, st.ByteStream)
        assert server.shm_laddr == addr and server.shm_raddr.maybe_pid == os.getpid()
        assert await server.receive_some() == b"hello tractor"
    assert close_listener(addr=addr, lstnr=listener)
    assert not addr.sockpath.exists()


def test_the_multiaddr_form_is_shm_and_a_socket_path():
    from shmring.tractor._address import ShmMultiaddr

    addr = ShmAddress("/run/user/1/shmring", "svc.sock")
    maddr = ShmMultiaddr(addr.sockpath)
    assert str(maddr) == "/shm/run/user/1/shmring/svc.sock"
    assert ShmMultiaddr.parse(str(maddr)) == maddr and ShmMultiaddr.parse(str(maddr)).address() == addr
    assert maddr.value_for_protocol("shm") == "/run/user/1/shmring/svc.sock"
    assert [p.name for p in maddr.protocols()] == ["shm"]
    for bad in ("/shm/", "/unix/x.sock", "shm/x", ""):
        with pytest.raises(ValueError):
            ShmMultiaddr.parse(bad)
    with pytest.raises(ValueError):
        ShmMultiaddr("relative.sock")


async def test_connecting_where_nobody_listens_raises_oserror_at_once():
    with pytest.raises(OSError):
        await connect_stream(ShmAddress.get_random())


# --- registration through the start-up hook, with the real tractor ---------------------
# (the table of patches as a whole, and a tractor that moved: test_tractor_registration.py)


def output_of(snippet: str, **env: str) -> str:
    """What a fresh interpreter running `snippet` printed; it must succeed."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(snippet)], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, **env))
    assert out.returncode == 0, out.stderr
    return out.stdout


CHECK = """
    import warnings, sys
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        import tractor
        from tractor.discovery import _addr
        from tractor.ipc import _types, _chan
    from shmring.tractor import ShmAddress
    import shmring.trio as st
    registered = "shm" in _addr._address_types
    print("registered", registered)
    if registered:
        root = ShmAddress.get_root()
        assert _addr.wrap_address(root.unwrap()) == root
        assert _addr.wrap_address(("127.0.0.1", 1)).proto_key == "tcp"  # tractor's forms still reach tractor's
        assert _types._key_to_transport[("msgpack", "shm")].__name__ == "MsgpackShmStream"
        a, b = st.open_stream_pair()
        assert _chan.transport_from_stream(a).__name__ == "MsgpackShmStream"
        import tractor._root, tractor.spawn._reap, tractor.spawn._spawn as spawn
        for module in (_chan, tractor._root, tractor.spawn._reap):
            assert module.wrap_address is _addr.wrap_address  # the names imported by name were rebound
        from tractor.discovery import _multiaddr
        maddr = _multiaddr.mk_maddr(root)
        assert str(maddr) == f"/shm{root.sockpath}", maddr
        assert _multiaddr.parse_maddr(str(maddr)) == root
        assert "shm" not in _multiaddr._tpt_proto_to_maddr  # tractor's tests pin its tables: left alone
        assert "shm_subint" in spawn._methods
        assert spawn.try_set_start_method("shm_subint") is None and spawn._spawn_method == "shm_subint"
        from shmring.tractor import _pool
        _pool._create()  # selecting 'shm_subint' started filling the pool: let it finish before exiting
    print("warnings", len([w for w in caught if "shmring" in str(w.message)]))
"""


@needs_hook
@needs_tractor
def test_importing_tractor_registers_shm_through_the_start_up_hook(tmp_path):
    out = output_of(CHECK, SHMRING_TRACTOR_POOL="0", XDG_RUNTIME_DIR=str(tmp_path))
    assert "registered True" in out and "warnings 0" in out, out


@needs_hook
@needs_tractor
def test_the_hook_can_be_turned_off(tmp_path):
    out = output_of(CHECK, SHMRING_TRACTOR="0", XDG_RUNTIME_DIR=str(tmp_path))
    assert "registered False" in out, out


CHECK_LAZY = """
    import sys
    import tractor
    from tractor.discovery import _addr
    assert "shm" in _addr._address_types
    print("test helpers imported by registration", "tractor._testing.addr" in sys.modules)
    from tractor._testing import addr
    from shmring.tractor._address import is_unwrapped_shm
    print("patched once imported", is_unwrapped_shm(addr.get_rando_addr("shm")))
    print("others untouched", addr.get_rando_addr("tcp")[0] == "127.0.0.1")
"""


@needs_hook
@needs_tractor
def test_test_helpers_are_patched_when_imported_and_not_imported_to_patch_them(tmp_path):
    # tractor's test helpers import pytest and ~140 other modules: importing
    # them to patch them cost every process and every child ~70 ms.
    out = output_of(CHECK_LAZY, XDG_RUNTIME_DIR=str(tmp_path))
    assert "test helpers imported by registration False" in out, out
    assert "patched once imported True" in out and "others untouched True" in out, out


def test_without_tractor_registration_does_nothing():
    out = output_of("""
        import sys
        sys.modules["tractor"] = None  # as if it were not installed
        import shmring.tractor
        print("registered", shmring.tractor.register())
    """)
    assert "registered False" in out, out


# --- the real thing -------------------------------------------------------------------

REAL = """
    import os, trio, tractor

    async def whoami():
        chan = tractor.current_actor()._parent_chan
        return type(chan.transport).__name__

    async def main():
        async with tractor.open_root_actor(enable_transports=["shm"]):
            async with tractor.open_nursery() as an:
                portal = await an.start_actor("worker", enable_modules=[__name__])
                print("child transport", await portal.run(whoami))
                print("parent transport", type(portal.channel.transport).__name__)
                await portal.cancel_actor()

    if __name__ == "__main__":
        trio.run(main)
"""


def test_tractor_is_installed_when_a_tarball_is_named():
    # The variable means "run the real-tractor tests": they must not skip silently.
    if not os.environ.get("SHMRING_TRACTOR_SDIST"):
        pytest.skip("SHMRING_TRACTOR_SDIST is not set")
    assert HAVE_TRACTOR, "SHMRING_TRACTOR_SDIST is set but tractor is not importable (scripts/tractor-suite install)"


@needs_tractor
def test_importing_the_real_tractor_with_shm_registered_imports_no_test_machinery():
    code = ("import sys, tractor, tractor._child\n"
            "from tractor.discovery import _addr\n"
            "assert 'shm' in _addr._address_types\n"
            "print(sorted(m for m in ('pytest', 'psutil', 'tractor._testing') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


CALLER_INFO = """
    from tractor.devx import _frame_stack as fs
    original = fs.find_caller_info
    from shmring.tractor import _register
    from shmring.tractor._table import When
    _register.apply_phase(When.SHM_SUBINT)  # what selecting 'shm_subint' puts in place
    assert fs.find_caller_info is not original and fs.find_caller_info.__wrapped__ is original

    def api():
        __runtimeframe__ = 1  # how tractor marks its API frames
        return inner()

    def inner():
        theirs, ours = original(), fs.find_caller_info()
        return (theirs._api_frame is ours._api_frame, theirs._caller_frames_up == ours._caller_frames_up,
                theirs.api_func == ours.api_func, ours.caller_frame.f_code.co_name)

    def user():
        return api()

    print("same", user())
    print("none outside", original() is None, fs.find_caller_info() is None)
"""


@needs_tractor
def test_the_cheaper_caller_info_finds_the_frames_tractors_finds():
    out = output_of(CALLER_INFO)
    assert "same (True, True, True, 'user')" in out, out
    assert "none outside True True" in out, out


STRUCT_FIELDS = """
    import msgspec.structs
    from tractor.msg import pretty_struct, types
    from shmring.tractor._struct_fields import MemoizedStructs
    assert isinstance(pretty_struct.structs, MemoizedStructs), type(pretty_struct.structs)
    msgs = [types.Yield(cid="c1", pld=b"x" * 64), types.Started(cid="c2", pld={"a": [1, 2]}),
            types.Stop(cid="c3"), types.Return(cid="c4", pld=None)]
    ours = [pretty_struct.pformat(m) for m in msgs]
    pretty_struct.structs = msgspec.structs  # tractor's own lookup, for the reference text
    theirs = [pretty_struct.pformat(m) for m in msgs]
    print("same text", ours == theirs, len(ours[0]) > 0)

    calls = []
    real = msgspec.structs.fields
    msgspec.structs.fields = lambda t: (calls.append(t), real(t))[1]
    memo = MemoizedStructs(msgspec.structs)
    for m in msgs * 3:
        assert memo.fields(m) == real(m)
    print("lookups", len(calls), "for", len(msgs), "types")
    try:
        memo.fields(42)
    except TypeError as exc:
        print("non-struct", exc)
"""


@needs_tractor
def test_tractor_formats_messages_with_fields_looked_up_once_per_type():
    out = output_of(STRUCT_FIELDS)
    assert "same text True True" in out, out
    assert "lookups 4 for 4 types" in out, out
    assert "non-struct Must be called with a struct type or instance" in out, out


@needs_tractor
def test_a_real_tractor_root_and_subactor_talk_over_shm(tmp_path):
    script = tmp_path / "real_tractor.py"
    script.write_text(textwrap.dedent(REAL))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "child transport MsgpackShmStream" in out.stdout
    assert "parent transport MsgpackShmStream" in out.stdout


def test_stale_sockets_of_dead_processes_are_reaped_and_live_ones_kept(tmp_path):
    import socket

    from shmring.tractor._address import reap_stale_sockets

    os.chmod(tmp_path, 0o700)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"gone@{dead.pid}-abcd.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(stale))
    s.close()  # bound, never listening, owner dead: stale
    live = tmp_path / f"me@{os.getpid()}-abcd.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(live))
    listener.listen()
    other = tmp_path / "not-ours.sock"
    other.write_text("")
    assert reap_stale_sockets(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
    listener.close()


# --- the 'shm_subint' spawn backend, with real tractor ------------------------------

SUBINT = """
    import os, sys, trio, tractor
    import shmring.tractor
    from shmring.tractor import ShmAddress
    import imported_by_main

    async def when_main_imports_were_done():
        return imported_by_main.WHEN

    async def whoami():
        chan = tractor.current_actor()._parent_chan
        return [type(chan.transport).__name__, chan.transport.stream.shm_laddr.filedir, os.getpid()]

    async def forever():
        await trio.sleep_forever()

    async def main(check):
        async with tractor.open_root_actor(enable_transports=["shm"], start_method="shm_subint",
                                           registry_addrs=[ShmAddress.get_random().unwrap()]):
            if check == "handover":
                async with tractor.open_nursery() as an:
                    portal = await an.start_actor("worker", enable_modules=[__name__])
                    transport, filedir, pid = await portal.run(whoami)
                    print("child", transport, filedir, pid == os.getpid())
                    print("parent", type(portal.channel.transport).__name__,
                          portal.channel.transport.stream.shm_laddr.filedir)
                    await portal.cancel_actor()
            elif check == "hard-kill":
                async with tractor.open_nursery() as an:
                    doomed = await an.start_actor("doomed", enable_modules=[__name__])
                    other = await an.start_actor("other", enable_modules=[__name__])
                    _, proc, _ = an._children[doomed.channel.aid.uid]
                    print("kill step", await proc.hard_kill(1.6))
                    print("doomed channel", proc.channel_endpoint.state)
                    print("other answers", (await other.run(whoami))[0])
                    await other.cancel_actor()
            elif check == "main-imports":
                await trio.to_thread.run_sync(shmring.tractor.warm_pool, 60.0)
                async with tractor.open_nursery() as an:
                    portal = await an.start_actor("worker", enable_modules=[__name__])
                    print("child imported them", await portal.run(when_main_imports_were_done))
                    await portal.cancel_actor()
            elif check == "warm":
                print("warm", await trio.to_thread.run_sync(shmring.tractor.warm_pool, 60.0))
                from shmring.tractor import _pool
                print("pool", _pool._spawner.warm_count)
                async with tractor.open_nursery() as an:
                    portal = await an.start_actor("worker", enable_modules=[__name__], debug_mode=True)
                    print("debug-mode child answers", (await portal.run(whoami))[0])
                    await portal.cancel_actor()
                print("title kept", open("/proc/self/comm").read().strip() == sys.argv[2])

    if __name__ == "__main__":
        trio.run(main, sys.argv[1])
"""


# Imported by SUBINT's top level: says whether an actor runtime existed when
# it was imported (a child re-runs the parent's main script in its runtime).
IMPORTED_BY_MAIN = """
    from tractor.runtime._state import current_actor

    WHEN = "in the actor's runtime" if current_actor(err_on_no_runtime=False) else "before the actor ran"
"""


def run_subint(tmp_path, check, env_extra=None):
    script = tmp_path / "subint_check.py"
    script.write_text(textwrap.dedent(SUBINT))
    (tmp_path / "imported_by_main.py").write_text(textwrap.dedent(IMPORTED_BY_MAIN))
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = dict(os.environ, XDG_RUNTIME_DIR=str(runtime), **(env_extra or {}))
    comm = open("/proc/self/comm").read().strip()  # the child process's title starts as ours (same executable)
    out = subprocess.run([sys.executable, str(script), check, comm], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path, env=env)
    return out, runtime


@needs_tractor
def test_a_shm_subint_child_talks_to_its_parent_over_the_spawners_channel(tmp_path):
    out, runtime = run_subint(tmp_path, "handover")
    assert out.returncode == 0, out.stderr
    # Same process, the channel handed over in-process: no socket rendezvous.
    assert "child MsgpackShmStream <in-process> True" in out.stdout, (out.stdout, out.stderr)
    assert "parent MsgpackShmStream <in-process>" in out.stdout
    assert not [p for p in runtime.rglob("*.sock")], list(runtime.rglob("*"))  # nothing left behind


@needs_tractor
def test_a_hard_kill_aborts_exactly_that_childs_channel(tmp_path):
    out, runtime = run_subint(tmp_path, "hard-kill")
    assert out.returncode == 0, out.stderr
    # An idle tractor child waits in epoll with no timeout: the kill wakes its
    # loop so that SystemExit fires (it once ended "abandoned").
    assert "kill step channel-abort" in out.stdout or "kill step async-exception" in out.stdout, out.stdout
    assert "doomed channel aborted" in out.stdout, out.stdout
    assert "other answers MsgpackShmStream" in out.stdout, out.stdout
    assert not [p for p in runtime.rglob("*.sock")], list(runtime.rglob("*"))  # the killed child's listener reaped


@needs_tractor
def test_the_pool_can_be_warmed_and_a_debug_mode_child_keeps_the_process_title(tmp_path):
    out, _ = run_subint(tmp_path, "warm", {"SHMRING_TRACTOR_POOL": "1"})
    assert out.returncode == 0, out.stderr
    assert "warm True" in out.stdout and "pool 1" in out.stdout, (out.stdout, out.stderr)
    assert "debug-mode child answers MsgpackShmStream" in out.stdout, out.stdout
    assert "title kept True" in out.stdout, out.stdout


@needs_tractor
def test_a_warm_child_finds_the_main_scripts_imports_done(tmp_path):
    # tractor re-runs the parent's main script in each child; the pool has
    # imported what that script imports (from the script's directory too),
    # so a start does not pay for them.
    out, _ = run_subint(tmp_path, "main-imports")
    assert out.returncode == 0, out.stderr
    assert "child imported them before the actor ran" in out.stdout, (out.stdout, out.stderr[-3000:])


def test_the_main_scripts_imports_are_read_from_its_top_level(tmp_path):
    import collections, importlib.util, json, string, textwrap  # noqa: F401, E401 - in sys.modules, as a main script's would be

    from shmring.tractor._pool import main_script_imports

    script = tmp_path / "main.py"
    script.write_text(textwrap.dedent("""
        import os, json as j
        import importlib.util
        from collections import abc
        from . import sibling
        try:
            import textwrap
        except ImportError:
            textwrap = None
        if True:
            from string import Template
        import no_such_module_here

        def later():
            import csv

        class Later:
            import zipfile
    """))
    assert main_script_imports(str(script)) == ("os", "json", "importlib.util", "collections", "textwrap", "string")
    assert main_script_imports(str(tmp_path / "missing.py")) == ()
    (tmp_path / "broken.py").write_text("import (\n")
    assert main_script_imports(str(tmp_path / "broken.py")) == ()


@needs_tractor
def test_a_bad_pool_size_is_refused_when_the_root_actor_opens(tmp_path):
    out, _ = run_subint(tmp_path, "handover", {"SHMRING_TRACTOR_POOL": "many"})
    assert out.returncode != 0
    assert "SHMRING_TRACTOR_POOL must be a whole number >= 0, not 'many'" in out.stderr


@needs_tractor
async def test_a_task_started_while_handling_a_message_runs_before_the_next_is_handled():
    # tractor's overrun handling starts a drain task while it handles one
    # message and asserts that it ran before the next is handled; the
    # transport passes a second schedule point exactly when a task was spawned.
    from tractor.msg import types as msgtypes

    from shmring.tractor._transport import MsgpackShmStream

    a, b = st.open_stream_pair()
    addr = ShmAddress.get_random()
    for s in (a, b):
        s.shm_laddr, s.shm_raddr = addr, addr
    near, far = MsgpackShmStream(a), MsgpackShmStream(b)
    ran = []

    async def drain(i):
        ran.append(i)

    async with trio.open_nursery() as nursery:
        for i in range(60):
            await near.send(msgtypes.Yield(cid="c", pld=i))
            await near.send(msgtypes.Yield(cid="c", pld=i))  # back to back: already there
            await far.recv()
            nursery.start_soon(drain, i)
            await far.recv()
            assert ran and ran[-1] == i, f"round {i}: the task started after message 1 had not run"

"""shmring._core inside sub-interpreters: isolated (own GIL) and legacy."""

import textwrap
import threading

import pytest

import shmring

interpreters = pytest.importorskip("_interpreters", reason="needs CPython's _interpreters module (3.13+)")


def run_in_new_interpreter(config, code):
    """Runs code in a fresh sub-interpreter on a thread; returns the error text or None."""
    iid = interpreters.create(config)
    result = []
    try:
        t = threading.Thread(target=lambda: result.append(interpreters.exec(iid, textwrap.dedent(code))))
        t.start()
        t.join(60)
        assert not t.is_alive(), "sub-interpreter did not finish"
    finally:
        interpreters.destroy(iid)
    return result[0]


@pytest.mark.parametrize("config", ["isolated", "legacy"])
def test_core_imports_and_moves_messages_inside_a_sub_interpreter(config):
    error = run_in_new_interpreter(
        config,
        """
        import shmring
        a, b = shmring.pair(ring_bytes=4096)
        for i in range(1000):
            a.send(i.to_bytes(2, "little") * 300)
            assert b.recv() == i.to_bytes(2, "little") * 300
        """,
    )
    assert error is None, error


@pytest.mark.parametrize("config", ["isolated", "legacy"])
def test_an_endpoint_handed_to_a_sub_interpreter_talks_to_the_main_one(config):
    mine, theirs = shmring.pair(spin=0)
    handle = theirs.detach()
    iid = interpreters.create(config)
    outcome = []
    try:
        code = textwrap.dedent(
            f"""
            import shmring
            ep = shmring.Endpoint.attach({handle})
            while True:
                try:
                    m = ep.recv()
                except shmring.PeerClosedError:
                    break
                ep.send(m[::-1])
            """
        )
        t = threading.Thread(target=lambda: outcome.append(interpreters.exec(iid, code)))
        t.start()
        for i in range(200):
            message = f"message {i}".encode()
            mine.send(message)
            assert mine.recv(timeout=30) == message[::-1]
        mine.close()
        t.join(30)
        assert not t.is_alive()
    finally:
        interpreters.destroy(iid)
    assert outcome == [None]


def test_an_isolated_interpreter_cannot_attach_the_same_handle_twice():
    _, theirs = shmring.pair()
    handle = theirs.detach()
    error = run_in_new_interpreter(
        "isolated",
        f"""
        import shmring
        shmring.Endpoint.attach({handle})
        try:
            shmring.Endpoint.attach({handle})
        except ValueError as e:
            assert "already attached" in str(e)
        else:
            raise AssertionError("attached twice")
        """,
    )
    assert error is None, error

"""shmring._core from the main interpreter: data path, errors, threads, signals."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import shmring
from shmring import _core


def test_a_message_sent_by_one_side_arrives_whole_at_the_other():
    a, b = shmring.pair()
    a.send(b"hello")
    assert b.recv() == b"hello"
    b.send(bytearray(b"back"))
    assert a.recv() == b"back"


def test_try_calls_never_block():
    a, b = shmring.pair(ring_bytes=4096)
    assert b.try_recv() is None
    sent = 0
    while a.try_send(b"x" * 500):
        sent += 1
    assert 3 < sent < 9
    assert b.try_recv() == b"x" * 500


def test_any_bytes_like_object_can_be_sent():
    import array

    a, b = shmring.pair()
    a.send(memoryview(b"abcdef")[2:4])
    a.send(array.array("i", [1, 2]))
    assert b.recv() == b"cd"
    assert b.recv() == array.array("i", [1, 2]).tobytes()


def test_recv_into_fills_a_buffer_and_refuses_one_too_small():
    a, b = shmring.pair()
    a.send(b"0123456789")
    small = bytearray(4)
    with pytest.raises(ValueError, match="has 10 bytes but the buffer holds only 4"):
        b.recv_into(small)
    big = bytearray(16)
    assert b.recv_into(big) == 10  # the message was not lost by the failed call
    assert bytes(big[:10]) == b"0123456789"


def test_recv_view_is_zero_copy_and_holds_the_message_until_released():
    a, b = shmring.pair()
    a.send(b"view me")
    a.send(b"next")
    view = b.recv_view()
    assert view.readonly and bytes(view) == b"view me"
    with pytest.raises(BufferError, match="still held"):
        b.recv()
    part = view[:4]  # slices share the export
    view.release()
    with pytest.raises(BufferError):
        b.try_recv()
    assert bytes(part) == b"view"
    part.release()
    assert b.recv() == b"next"


def test_try_recv_without_copy_hands_over_large_messages_and_keeps_each_intact():
    # copy=False: a message reassembled from fragments comes back as a
    # read-only view of its reassembled memory; that memory is reused for a
    # later message only once the view is gone.
    a, b = _core.pair(ring_bytes=1 << 16)
    big = [bytes([i]) * (3 * b.max_frame_payload + i) for i in range(1, 5)]
    received = []

    def sender():
        for m in big:
            a.send(m, timeout=10)
        a.send(b"small", timeout=10)

    thread = threading.Thread(target=sender)
    thread.start()
    deadline = time.monotonic() + 30
    while len(received) < 5 and time.monotonic() < deadline:
        m = b.try_recv(0.001, copy=False)
        if m is not None:
            received.append(m)
            if len(received) == 3:
                received[0].release()  # its storage may now be reused
                received[0] = None
    thread.join(10)
    assert len(received) == 5
    for i, m in enumerate(received[1:4], start=1):
        assert isinstance(m, memoryview) and m.readonly
        assert m.nbytes == len(big[i]) and m == big[i]  # intact after later receives reused storage
    assert received[4] == b"small" and isinstance(received[4], bytes)
    with pytest.raises(TypeError):
        received[1][0] = 0
    assert b.try_recv(copy=True) is None


def test_try_recv_copies_by_default():
    a, b = _core.pair(ring_bytes=1 << 16)
    big = b"x" * (2 * b.max_frame_payload)
    thread = threading.Thread(target=a.send, args=(big,), kwargs={"timeout": 10})
    thread.start()
    got = None
    deadline = time.monotonic() + 30
    while got is None and time.monotonic() < deadline:
        got = b.try_recv(0.001)
    thread.join(10)
    assert isinstance(got, bytes) and got == big


def test_recv_view_in_a_with_block_releases_on_exit():
    a, b = shmring.pair()
    a.send(b"one")
    a.send(b"two")
    with b.recv_view() as v:
        assert bytes(v) == b"one"
    assert b.recv() == b"two"


def test_timeouts_raise_timeout_error():
    a, b = shmring.pair(ring_bytes=4096)
    with pytest.raises(TimeoutError):
        b.recv(timeout=0.02)
    with pytest.raises(TimeoutError):
        b.recv(timeout=0)
    while a.try_send(b"y" * 900):
        pass
    with pytest.raises(TimeoutError):
        a.send(b"y" * 900, timeout=0.02)


def test_close_delivers_everything_then_end_of_channel():
    a, b = shmring.pair()
    a.send(b"1")
    a.send(b"2")
    a.close()
    assert b.recv() == b"1"
    assert b.recv() == b"2"
    with pytest.raises(shmring.PeerClosedError, match="the peer closed its side") as info:
        b.recv()
    assert isinstance(info.value, EOFError)
    with pytest.raises(shmring.ClosedError, match="the endpoint is closed"):
        a.send(b"after")
    assert a.state == "closed" and b.state == "peer-closed"


def test_send_eof_is_a_half_close():
    a, b = shmring.pair()
    a.send_eof()
    with pytest.raises(shmring.PeerClosedError):
        b.recv()
    b.send(b"still flows back")
    assert a.recv() == b"still flows back"


def test_abort_wakes_a_receiver_blocked_in_another_thread():
    a, b = shmring.pair(spin=0)
    caught = []

    def receiver():
        try:
            b.recv()
        except shmring.ChannelError as e:
            caught.append(e)

    t = threading.Thread(target=receiver)
    t.start()
    time.sleep(0.05)
    a.abort("going away")
    t.join(10)
    assert not t.is_alive()
    assert isinstance(caught[0], shmring.AbortedError)
    assert "aborted by peer: going away" in str(caught[0])
    assert b.reason == "aborted by peer: going away"


def test_messages_larger_than_the_ring_are_fragmented_and_reassembled():
    a, b = shmring.pair(ring_bytes=1 << 16)
    big = os.urandom(5_000_000)
    got = []
    t = threading.Thread(target=lambda: got.append(b.recv()))
    t.start()
    a.send(big)
    t.join(30)
    assert got[0] == big


def test_a_message_over_the_maximum_is_refused_and_the_channel_stays_usable():
    a, b = shmring.pair(max_message_bytes=1000)
    with pytest.raises(shmring.TooLargeError, match="larger than the channel allows") as info:
        a.send(b"z" * 1001)
    assert isinstance(info.value, ValueError)
    a.send(b"z" * 1000)
    assert b.recv() == b"z" * 1000


def test_two_threads_receiving_at_once_are_refused():
    a, b = shmring.pair(spin=0)
    def blocked():
        with pytest.raises(shmring.PeerClosedError):
            b.recv()

    t = threading.Thread(target=blocked)
    t.start()
    time.sleep(0.05)
    with pytest.raises(shmring.BusyError, match="another thread is already receiving"):
        b.recv(timeout=0)
    a.close()
    t.join(10)


def test_many_messages_between_threads_keep_their_order():
    a, b = shmring.pair(ring_bytes=4096)
    n = 20_000

    def sender():
        for i in range(n):
            a.send(i.to_bytes(4, "little") * (1 + i % 300))

    t = threading.Thread(target=sender)
    t.start()
    for i in range(n):
        m = b.recv(timeout=30)
        assert m == i.to_bytes(4, "little") * (1 + i % 300)
    t.join(30)
    assert not t.is_alive()


@pytest.mark.parametrize(
    "call, error, text",
    [
        (lambda: shmring.pair(ring_bytes=5000), ValueError, "power of two"),
        (lambda: shmring.pair(ring_bytes="big"), TypeError, "ring_bytes must be an int"),
        (lambda: shmring.pair(max_message_bytes=-1), ValueError, "must be positive"),
        (lambda: shmring.pair(spin=-1), ValueError, "spin must be"),
        (lambda: shmring.pair()[0].send("text"), TypeError, "bytes-like"),
        (lambda: shmring.pair()[0].recv(timeout=-1), ValueError, "timeout must be from 0 to 1e\\+09 seconds, not -1"),
        # Issue 14.7: each refusal names the parameter and the value.
        (lambda: shmring.pair()[0].try_recv(spin=5.0), ValueError, "spin must be from 0 to 1 seconds, not 5.0"),
        (lambda: shmring.pair()[0].try_recv(spin=float("nan")), ValueError, "spin must be .* not nan"),
        (lambda: shmring.pair()[0].try_recv("x"), TypeError, "spin must be a number of seconds, not str"),
        (lambda: shmring.pair(spin="a"), TypeError, "spin must be a number of seconds, not str"),
        (lambda: shmring.pair(spin=True), TypeError, "spin must be a number of seconds, not bool"),
        (lambda: shmring.pair(ring_bytes=True), TypeError, "ring_bytes must be an int, not bool"),
        (lambda: shmring.pair()[0].recv(timeout=2e9), ValueError, "timeout must be from 0 to 1e\\+09 seconds, not 2000000000.0"),
        (lambda: shmring.pair()[0].recv(timeout=True), TypeError, "timeout must be a number of seconds, not bool"),
        (lambda: shmring.Listener(""), OSError, "the socket path is empty"),
        (lambda: shmring.connect(""), OSError, "the socket path is empty"),
        (lambda: shmring.pair()[0].recv(timeout="soon"), TypeError, "timeout must be a number"),
        (lambda: shmring.pair()[0].recv_into(b"readonly"), TypeError, "read-write"),
        (lambda: shmring.pair()[0].prepare_send_wait(-3), ValueError, "byte count"),
        (lambda: shmring.Endpoint.attach(-1), TypeError, "handle"),
        (lambda: shmring.Endpoint.attach(123456789), ValueError, "no detached endpoint"),
        (lambda: shmring.Endpoint(), TypeError, "cannot create"),
        (lambda: shmring.Listener(123), TypeError, "os.PathLike"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, text):
    with pytest.raises(error, match=text):
        call()


def test_a_detached_handle_nobody_attaches_can_be_discarded_and_its_fds_go():
    # Issue 14.7: a handle never attached held its endpoint's fds until exit.
    before = len(os.listdir("/proc/self/fd"))
    a, b = shmring.pair()
    handle = b.detach()
    assert len(os.listdir("/proc/self/fd")) > before
    assert shmring.Endpoint.discard(handle) is True
    assert shmring.Endpoint.discard(handle) is False  # once
    with pytest.raises(ValueError, match="no detached endpoint"):
        shmring.Endpoint.attach(handle)
    with pytest.raises(shmring.PeerClosedError):
        a.recv(timeout=5)  # the discarded side was closed, not left open
    a.close()
    del a, b
    assert len(os.listdir("/proc/self/fd")) == before
    with pytest.raises(TypeError, match="handle that detach"):
        shmring.Endpoint.discard(True)


def test_an_infinite_timeout_means_no_limit():
    a, b = shmring.pair()
    a.send(b"x", timeout=float("inf"))
    assert b.recv(timeout=float("inf")) == b"x"


def test_a_listener_directory_may_be_a_symlink_to_a_private_directory(tmp_path):
    # Issue 14.7: it was refused as "not a directory".
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with shmring.Listener(str(link / "s.sock")) as listener:
        accepted = []
        t = threading.Thread(target=lambda: accepted.append(listener.accept(timeout=10)))
        t.start()
        client = shmring.connect(str(link / "s.sock"))
        t.join(10)
        client.send(b"hi")
        assert accepted[0].recv(timeout=10) == b"hi"


def test_an_endpoint_can_be_detached_and_attached_once():
    a, b = shmring.pair()
    before = _core.detached_count()
    handle = b.detach()
    assert _core.detached_count() == before + 1
    with pytest.raises(shmring.ClosedError, match="detached"):
        b.recv()
    assert repr(b) == "<shmring.Endpoint (detached)>"
    b2 = shmring.Endpoint.attach(handle)
    with pytest.raises(ValueError, match="already attached"):
        shmring.Endpoint.attach(handle)
    a.send(b"to the new owner")
    assert b2.recv() == b"to the new owner"


def test_listener_and_connect_in_one_process(socket_path):
    with shmring.Listener(socket_path) as listener:
        pending = shmring.start_connect(socket_path)
        server = listener.accept(timeout=10)
        client = None
        while client is None:
            client = pending.try_finish()
        client.send(b"hi")
        assert server.recv() == b"hi"
        assert server.peer_pid == os.getpid()
    assert not os.path.exists(socket_path)


def test_connect_where_nobody_listens_fails_at_once(socket_dir):
    with pytest.raises(FileNotFoundError, match="nothing listens there"):
        shmring.connect(os.path.join(socket_dir, "nobody.sock"))


def test_ctrl_c_ends_a_blocked_recv_with_keyboard_interrupt():
    code = textwrap.dedent(
        """
        import os, signal, threading, time, shmring
        a, b = shmring.pair(spin=0)
        threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        try:
            b.recv()
        except KeyboardInterrupt:
            print("interrupted after %.3f s" % (time.monotonic() - start))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "interrupted after" in out.stdout


def test_the_package_exports_every_public_name_of_the_extension():
    # The spawner's types are used through shmring.spawn; the rest is re-exported.
    internal = {"detached_count", "Received", "Assembled", "Actor", "Spawner", "spawner_counts"}
    public = {n for n in dir(_core) if not n.startswith("_")} - internal
    assert set(shmring.__all__) == public | {"ActorError"}
    for name in public:
        assert getattr(shmring, name) is getattr(_core, name)
    for name in shmring.__all__:
        assert getattr(shmring, name).__doc__, f"{name} has no docstring"
    from shmring import spawn

    assert spawn.ActorError is shmring.ActorError

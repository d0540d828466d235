"""shmring.Listener and connect(): what a caller on another thread, or a
listener that is not ours, can do to them."""

import socket
import struct
import subprocess
import sys
import textwrap
import threading

import pytest

import shmring

HANDSHAKE_MAGIC = 0x4B48534E49524853  # "SHRINSHK", transport/src/handshake.hpp
REPLY = struct.Struct("<QIIII232s")  # magic, version, kind (2 = reply), accepted, text length, text


@pytest.mark.parametrize("timeout", [None, 60.0])
def test_close_from_another_thread_wakes_a_blocked_accept(socket_path, timeout):
    # Issue 14.5: accept() used to sleep through close() until its timeout, and
    # for ever with timeout=None.
    listener = shmring.Listener(socket_path)
    outcome = []

    def accept():
        try:
            outcome.append(listener.accept(timeout=timeout))
        except OSError as e:
            outcome.append(e)

    t = threading.Thread(target=accept)
    t.start()
    t.join(0.2)
    assert t.is_alive(), "accept() returned with nobody connecting"
    listener.close()
    t.join(10)
    assert not t.is_alive(), "close() did not wake the blocked accept()"
    assert isinstance(outcome[0], OSError) and "closed" in str(outcome[0])
    assert listener.closed
    with pytest.raises(OSError, match="closed"):
        listener.accept(timeout=0)


def test_a_refusal_that_is_not_utf8_still_raises_connection_refused(socket_dir):
    # Issue 14.6: a listener that is not ours answers with bytes that are not
    # UTF-8; connect() used to raise UnicodeDecodeError.
    path = f"{socket_dir}/foreign.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    text = b"go away \xff\xfe"

    def refuse():
        conn, _ = server.accept()
        with conn:
            conn.sendall(REPLY.pack(HANDSHAKE_MAGIC, 1, 2, 0, len(text), text))
            conn.recv(1)  # until the connector hangs up

    t = threading.Thread(target=refuse)
    t.start()
    try:
        with pytest.raises(ConnectionRefusedError, match=r"go away \\xff\\xfe"):
            shmring.connect(path, timeout=10)
    finally:
        t.join(10)
        server.close()


def test_ctrl_c_ends_a_blocked_accept_with_keyboard_interrupt(socket_dir):
    # accept() sleeps with the GIL released; a signal must end that sleep so
    # Python runs its handler (here: KeyboardInterrupt) instead of waiting on.
    code = textwrap.dedent(
        """
        import os, signal, threading, shmring
        listener = shmring.Listener(os.path.join(%r, "ctrl-c.sock"))
        threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        try:
            listener.accept()
        except KeyboardInterrupt:
            print("interrupted")
        """
        % socket_dir
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "interrupted" in out.stdout


def test_a_signal_whose_handler_returns_lets_accept_wait_out_its_timeout(socket_dir):
    # The wait resumes after the handler with the time left, not from scratch
    # and not cut short: accept() still times out, and not before its timeout.
    code = textwrap.dedent(
        """
        import os, signal, threading, time, shmring
        signal.signal(signal.SIGUSR1, lambda *_: print("handled"))
        listener = shmring.Listener(os.path.join(%r, "resume.sock"))
        threading.Timer(0.1, lambda: os.kill(os.getpid(), signal.SIGUSR1)).start()
        start = time.monotonic()
        try:
            listener.accept(timeout=0.5)
        except TimeoutError:
            print("timed out after the timeout" if time.monotonic() - start >= 0.5 else "timed out early")
        """
        % socket_dir
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["handled", "timed", "out", "after", "the", "timeout"]

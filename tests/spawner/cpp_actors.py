"""Python actors the C++ spawner tests start."""

import threading

import shmring


def echo(endpoint, args):
    while True:
        try:
            message = endpoint.recv()
        except shmring.PeerClosedError:
            return args
        endpoint.send(message.upper())


def fail(endpoint, args):
    raise ValueError("failed in the child")


def busy(endpoint, args):
    endpoint.send(b"started")
    while True:
        pass


def wait_on_channel(endpoint, args):
    endpoint.send(b"started")
    try:
        endpoint.recv()
    except shmring.AbortedError:
        return b"aborted"
    return b"?"


def stuck(endpoint, args):
    endpoint.send(b"started")
    threading.Event().wait()

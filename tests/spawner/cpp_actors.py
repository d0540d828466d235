"""Python actors that python_actors_test.cpp starts: each gets a
shmring._core.Endpoint (the spawner runs them through shmring._actor)."""

import shmring


def echo(endpoint, args):
    while True:
        try:
            message = endpoint.recv()
        except shmring.PeerClosedError:
            return args
        endpoint.send(message.upper())


def wait_on_channel(endpoint, args):
    endpoint.send(b"started")
    try:
        endpoint.recv()
    except shmring.AbortedError:
        return b"aborted"
    return b"?"

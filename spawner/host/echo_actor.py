"""The actor shmring-host runs by default: answers every message until EOF."""

import shmring


def main(endpoint, args):
    count = 0
    while True:
        try:
            message = endpoint.recv()
        except shmring.PeerClosedError:
            break
        endpoint.send(args + message[::-1])
        count += 1
    return b"%d messages" % count

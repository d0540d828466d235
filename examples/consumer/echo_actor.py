"""The actor spawner_echo starts: sends every message back until EOF."""


def main(endpoint, args):
    count = 0
    while True:
        try:
            message = endpoint.recv()
        except EOFError:
            break
        endpoint.send(args + message)
        count += 1
    return b"echoed %d" % count

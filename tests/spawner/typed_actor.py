"""A Python actor (trio + msgpack through shmring.typed) that a C++ host
starts in a sub-interpreter; it talks typed messages with a C++ actor:
answers the host's Greet request, asks the host to Add, and tells it a Pong
with the sum."""

import trio

import shmring.trio
import shmring.typed as typed


def serve(endpoint, args):
    async def main():
        async with typed.open_typed(shmring.trio.MessageChannel(endpoint)) as peer:
            request = await peer.receive()
            assert (request.tag, request.kind) == ("greet", typed.REQUEST), request
            await peer.reply(request, "greeting", {"text": f"hello {request.body['name']} from a sub-interpreter"})
            total = await peer.request("add", {"a": 20, "b": 22}, timeout=30)
            await peer.send("pong", {"seq": total.body["value"]})
            # Stay until the host closes: its handlers have run by then.
            try:
                await peer.receive()
            except trio.EndOfChannel:
                pass
        return b"done"

    return trio.run(main)

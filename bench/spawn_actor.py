"""The child of bench/spawn_bench.py: a trio actor that sends one message."""


def first_message(endpoint, args):
    import trio

    import shmring.trio as st

    async def main():
        await st.MessageChannel(endpoint).send(b"hello")

    trio.run(main)

"""The 'shm' message transport for tractor: tractor's own msgpack framing
(``MsgpackTransport``) over a shmring byte stream."""

from __future__ import annotations

from typing import Any

from tractor.ipc._transport import MsgpackTransport

from .. import trio as shm_trio
from ._address import ShmAddress, connect_stream


class MsgpackShmStream(MsgpackTransport):
    """tractor's msgpack transport carried by a shmring channel."""

    address_type = ShmAddress
    layer_key: int = 4

    @property
    def maddr(self) -> str:
        return f"/shm{self.raddr.sockpath}" if self.raddr else "<unknown-peer>"

    def connected(self) -> bool:
        return self.stream.endpoint.state in ("open", "send-closed", "peer-closed")

    @classmethod
    async def connect_to(cls, addr: ShmAddress, prefix_size: int = 4, codec: Any = None, **kwargs: Any) -> MsgpackShmStream:
        stream = await connect_stream(addr)
        return cls(stream, prefix_size=prefix_size, codec=codec)

    @classmethod
    def get_stream_addrs(cls, stream: shm_trio.ByteStream) -> tuple[ShmAddress, ShmAddress]:
        try:
            return stream.shm_laddr, stream.shm_raddr
        except AttributeError:
            raise TypeError(f"{stream!r} was not made by shmring's tractor transport (no addresses)") from None

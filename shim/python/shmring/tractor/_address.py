"""The 'shm' address for tractor, and the listener functions tractor finds
next to it (``Endpoint.start_listener`` looks them up in the module that
defines the address class, with ``inspect.getmodule``).

Nothing here imports tractor: the address contract is testable without it.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path
from typing import Any, ClassVar

import trio

from .. import _core
from .. import trio as shm_trio

# Unwrapped form: ("shm:" + directory, file name). The prefix keeps it apart
# from tractor's TCP form (str, int) and UDS form (str, str) in wrap_address.
PREFIX = "shm:"


def default_bindspace() -> Path:
    """The private (0700) directory shmring listeners live in."""
    return Path(_core.default_socket_dir())


def is_unwrapped_shm(addr: Any) -> bool:
    """True for the unwrapped form of a ShmAddress: ('shm:<dir>', '<file>')."""
    return (
        isinstance(addr, (tuple, list))
        and len(addr) == 2
        and isinstance(addr[0], str)
        and addr[0].startswith(PREFIX)
        and isinstance(addr[1], str)
    )


class ShmMultiaddr:
    """The multiaddr of a ShmAddress: ``/shm/<socket path>``.

    'shm' is not a registered multiaddr protocol and py-multiaddr's registry
    is locked, so this small value type stands in for ``multiaddr.Multiaddr``
    where tractor builds or parses one for a 'shm' address: str(), equality,
    ``protocols()`` names and ``value_for_protocol('shm')``.
    """

    PREFIX: ClassVar[str] = "/shm/"
    __slots__ = ("_path",)

    def __init__(self, sockpath: str | os.PathLike[str]) -> None:
        path = Path(sockpath)
        if not path.is_absolute() or not path.name:
            raise ValueError(f"a 'shm' multiaddr needs an absolute socket path, not {str(sockpath)!r}")
        self._path = path

    @classmethod
    def parse(cls, text: str) -> ShmMultiaddr:
        if not isinstance(text, str) or not text.startswith(cls.PREFIX) or len(text) <= len(cls.PREFIX):
            raise ValueError(f"not a 'shm' multiaddr (/shm/<socket path>): {text!r}")
        return cls("/" + text[len(cls.PREFIX):].lstrip("/"))

    def address(self) -> ShmAddress:
        return ShmAddress(str(self._path.parent), self._path.name)

    def protocols(self) -> list[Any]:
        return [dataclasses.make_dataclass("Protocol", [("name", str)])("shm")]

    def value_for_protocol(self, proto: str) -> str:
        if proto != "shm":
            raise ValueError(f"{self} has no {proto!r} protocol")
        return str(self._path)

    def __str__(self) -> str:
        return f"/shm{self._path}"

    def __repr__(self) -> str:
        return f"ShmMultiaddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ShmMultiaddr):
            return self._path == other._path
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("shm", self._path))


@dataclasses.dataclass(frozen=True)
class ShmAddress:
    """A shmring listener's socket: a directory (the bindspace) and a file name.

    Hashable with value equality (the pid is informational, not compared).
    """

    filedir: str
    filename: str
    maybe_pid: int | None = dataclasses.field(default=None, compare=False)

    proto_key: ClassVar[str] = "shm"
    unwrapped_type: ClassVar[type] = tuple[str, str]
    def_bindspace: ClassVar[Path] = default_bindspace()

    @property
    def bindspace(self) -> Path:
        return Path(self.filedir) if self.filedir else self.def_bindspace

    @property
    def namespace(self) -> Path:
        return self.bindspace

    @property
    def sockpath(self) -> Path:
        return self.bindspace / self.filename

    @property
    def is_valid(self) -> bool:
        return bool(self.filename) and "/" not in self.filename

    @classmethod
    def from_addr(cls, addr: Any) -> ShmAddress:
        if isinstance(addr, ShmAddress):
            return addr
        if is_unwrapped_shm(addr):
            return cls(filedir=addr[0][len(PREFIX):], filename=addr[1])
        if isinstance(addr, (str, Path)):
            path = Path(addr)
            return cls(filedir=str(path.parent), filename=path.name)
        raise TypeError(f"not an unwrapped shm address: {addr!r} (expected ('shm:<dir>', '<file>'))")

    def unwrap(self) -> tuple[str, str]:
        return (PREFIX + str(self.bindspace), self.filename)

    @classmethod
    def get_random(cls, bindspace: Path | str | None = None) -> ShmAddress:
        name = _current_actor_name() or "root"
        filename = f"{name}@{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        return cls(filedir=str(bindspace or cls.def_bindspace), filename=filename, maybe_pid=os.getpid())

    @classmethod
    def get_root(cls) -> ShmAddress:
        """The host's default registry address."""
        return cls(filedir=str(cls.def_bindspace), filename="registry.sock")

    def __repr__(self) -> str:
        return f"ShmAddress({str(self.sockpath)!r})"


def _current_actor_name() -> str | None:
    try:
        from tractor.runtime._state import current_actor

        actor = current_actor(err_on_no_runtime=False)
    except Exception:
        return None
    if actor is None:
        return None
    name = getattr(getattr(actor, "aid", None), "name", None) or getattr(actor, "name", None)
    return str(name).replace("/", "_") if name else None


def reap_stale_sockets(bindspace: Path | str | None = None, *, actors_of_this_process: tuple[str, ...] = ()
                       ) -> list[Path]:
    """Removes listener sockets left by killed actors; returns what it removed.

    Names carry the owner's pid and actor name (``name@pid-tag.sock``). A
    socket is stale when nothing accepts on it and its owner is gone: a dead
    process, or one of ``actors_of_this_process`` (names of sub-interpreter
    actors of this process that have ended). Others are never touched.
    """
    import socket

    removed: list[Path] = []
    directory = Path(bindspace or ShmAddress.def_bindspace)
    ended_here = {name.replace("/", "_") for name in actors_of_this_process}
    for path in directory.glob("*@*.sock"):
        name, _, rest = path.name.rpartition("@")
        try:
            pid = int(rest.split("-", 1)[0].removesuffix(".sock"))
        except ValueError:
            continue
        if pid == os.getpid():
            if name not in ended_here:
                continue  # an actor of ours that may still run
        else:
            try:
                os.kill(pid, 0)
                continue  # its owner lives
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
            continue  # someone listens after all
        except ConnectionRefusedError:
            path.unlink(missing_ok=True)
            removed.append(path)
        except OSError:
            continue
        finally:
            probe.close()
    return removed


# ---------------------------------------------------------------------------
# Listening, as tractor's transport modules do it
# ---------------------------------------------------------------------------


class _SocketView:
    """What tractor reads from ``listener.socket``: the bound address."""

    def __init__(self, addr: ShmAddress) -> None:
        self._addr = addr

    def getsockname(self) -> tuple[str, str]:
        return self._addr.unwrap()


class ShmListener(shm_trio.StreamListener):
    """A trio Listener of byte streams that knows its ShmAddress."""

    def __init__(self, listener: _core.Listener, addr: ShmAddress) -> None:
        super().__init__(listener)
        self.addr = addr
        self.socket = _SocketView(addr)

    async def accept(self) -> shm_trio.ByteStream:
        stream = await super().accept()
        peer = ShmAddress(self.addr.filedir, self.addr.filename, maybe_pid=stream.endpoint.peer_pid)
        stream.shm_laddr = ShmAddress(self.addr.filedir, self.addr.filename, maybe_pid=os.getpid())
        stream.shm_raddr = peer
        return stream


async def start_listener(addr: ShmAddress, **kwargs: Any) -> ShmListener:
    """Listens at ``addr`` (tractor calls this with ``addr=``)."""
    await trio.lowlevel.checkpoint()
    return ShmListener(_core.Listener(str(addr.sockpath)), addr)


def close_listener(addr: ShmAddress, lstnr: ShmListener | None) -> bool:
    """Stops listening and removes the socket path."""
    if lstnr is not None:
        lstnr.core.close()
    return True


async def connect_stream(addr: ShmAddress, **kwargs: Any) -> shm_trio.ByteStream:
    """Connects to ``addr``; FileNotFoundError / ConnectionRefusedError at once if nobody listens."""
    from . import _handover

    if _handover.is_inproc(addr):  # a 'shm_subint' child's channel to its parent
        await trio.lowlevel.checkpoint()
        return _handover.child_stream(addr)
    stream = await shm_trio.connect_stream(addr.sockpath)
    stream.shm_laddr = ShmAddress(addr.filedir, addr.filename, maybe_pid=os.getpid())
    stream.shm_raddr = ShmAddress(addr.filedir, addr.filename, maybe_pid=stream.endpoint.peer_pid)
    return stream

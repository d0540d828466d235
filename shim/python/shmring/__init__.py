"""shmring: message channels through lock-free rings in shared memory.

Layers (each uses only the ones below it):

- ``shmring._core`` -- the C extension over the C++ transport: Endpoint,
  Listener, pair(), connect(). Blocking calls release the GIL; it imports in
  isolated sub-interpreters (PEP 684).
- ``shmring.trio`` -- the trio API: message channels and byte streams,
  listeners, cancellation-safe waits on the endpoint's file descriptors.
- ``shmring.spawn`` -- actors in sub-interpreters on their own threads.

The public channel API of ``_core`` is re-exported here (its spawner types
are used through ``shmring.spawn``), with :class:`ActorError`.
"""

from ._core import AbortedError as AbortedError
from ._core import BusyError as BusyError
from ._core import ChannelError as ChannelError
from ._core import ClosedError as ClosedError
from ._core import CorruptError as CorruptError
from ._core import Endpoint as Endpoint
from ._core import Listener as Listener
from ._core import PeerClosedError as PeerClosedError
from ._core import PeerDiedError as PeerDiedError
from ._core import PendingConnection as PendingConnection
from ._core import TooLargeError as TooLargeError
from ._core import connect as connect
from ._core import default_socket_dir as default_socket_dir
from ._core import pair as pair
from ._core import start_connect as start_connect

__version__ = "0.1.0"


class ActorError(Exception):
    """An actor ended with an exception; ``traceback`` is the child's formatted text."""

    def __init__(self, name: str, traceback: str) -> None:
        super().__init__(f"actor {name!r} failed:\n{traceback}")
        self.name = name
        self.traceback = traceback


__all__ = [
    "AbortedError",
    "ActorError",
    "BusyError",
    "ChannelError",
    "ClosedError",
    "CorruptError",
    "Endpoint",
    "Listener",
    "PeerClosedError",
    "PeerDiedError",
    "PendingConnection",
    "TooLargeError",
    "connect",
    "default_socket_dir",
    "pair",
    "start_connect",
]

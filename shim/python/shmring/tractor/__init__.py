"""shmring for tractor: the 'shm' transport and the 'shm_subint' spawn backend.

Installed with shmring, a start-up hook (``_shmring_tractor_hook``, run by a
``.pth`` file) registers both the moment any process imports tractor, so
every actor process knows 'shm' before it connects to its parent. Set
``SHMRING_TRACTOR=0`` to turn that off. Without tractor nothing happens.
Every name changed inside tractor is a row of ``_table``; a tractor that
does not fit it gets none of them and a ``TractorMismatch`` saying which
rows did not fit (a warning at start-up, the error when 'shm' or
'shm_subint' is asked for).

    async with tractor.open_nursery(enable_transports=["shm"]) as an: ...
    tractor.open_root_actor(start_method="shm_subint")   # actors as sub-interpreters
    shmring.tractor.warm_pool()                          # fill shm_subint's pool now (optional)
"""

from ._address import ShmAddress, close_listener, is_unwrapped_shm, start_listener
from ._mismatch import TractorMismatch

__all__ = ["ShmAddress", "TractorMismatch", "close_listener", "is_unwrapped_shm", "register", "start_listener",
           "warm_pool"]


def warm_pool(timeout: float = 60.0) -> bool:
    """Fills the 'shm_subint' backend's pool of warm interpreters now and waits
    until it is full (it also starts filling by itself when a root actor opens
    with ``start_method='shm_subint'``). Its size is ``SHMRING_TRACTOR_POOL``
    (default 2). False on timeout or if it cannot fill."""
    from ._pool import warm_pool as _warm

    return _warm(timeout)


def register() -> bool:
    """Teaches tractor 'shm' and 'shm_subint', all of ``_table`` or nothing
    (idempotent). False if tractor is not installed; TractorMismatch, naming
    every row that did not fit, if this tractor does not fit the table."""
    from ._register import register as _register

    return _register()

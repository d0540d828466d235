"""What a 'shm_subint' child imports before it is started, so that a start
from the warm pool imports nothing.

The first group is what the child runtime needs. The second is what tractor
imports lazily once a child runs (its log formatter, its process-title
helpers, trio patches), found by comparing a running child's ``sys.modules``
with the first group's; each is optional, so a tractor that stops using one
costs nothing but the import a start then does itself.
"""

import importlib

import msgspec  # noqa: F401
import trio  # noqa: F401
import tractor  # noqa: F401
import tractor._child  # noqa: F401

LAZY_IN_A_CHILD = ("colorlog", "setproctitle", "tractor.devx._proctitle", "tractor.trionics.patches")

for _name in LAZY_IN_A_CHILD:
    try:
        importlib.import_module(_name)
    except ImportError:
        pass

"""Work-arounds tractor's dependencies need inside a CPython 3.13
sub-interpreter. Imported first in every 'shm_subint' child.

- ``contextvars.Token.MISSING`` is missing outside the main interpreter on
  CPython 3.13.0 (the class attribute of a static builtin type is set up for
  the main interpreter only), and tricycle reads it at import. The real
  sentinel is what ``Token.old_value`` returns for a variable that had no
  value; it is made visible under that name only while tricycle is imported.
"""

import contextvars

if not hasattr(contextvars.Token, "MISSING"):
    _real_token = contextvars.Token
    _missing = contextvars.ContextVar("shmring_probe").set(None).old_value
    contextvars.Token = type("Token", (), {"MISSING": _missing})  # type: ignore[misc,assignment]
    try:
        import tricycle  # noqa: F401  (reads contextvars.Token.MISSING once, at import)
    finally:
        contextvars.Token = _real_token  # type: ignore[misc]


def patch_tractor() -> None:
    """What a tractor child in a sub-interpreter must do differently: it runs
    on a thread of a process that is not its own. The rows of ``_table``
    for 'shm_subint' (When.SHM_SUBINT: the cheaper find_caller_info, since
    every actor's CPU shares one GIL) and for its children
    (When.SHM_SUBINT_CHILD: no signal handlers, which CPython allows in
    the main interpreter's main thread only, and no process title, which
    would rename the parent and every sibling). Registers first if the
    start-up hook did not. TractorMismatch if they do not fit this tractor.
    """
    from . import _register
    from ._table import When

    _register.apply_phase(When.SHM_SUBINT)
    _register.apply_phase(When.SHM_SUBINT_CHILD)

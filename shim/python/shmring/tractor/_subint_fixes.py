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

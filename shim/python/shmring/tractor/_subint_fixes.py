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
    """What a tractor child in a sub-interpreter must not do: it runs on a
    thread of a process that is not its own.

    - install signal handlers (``enable_stack_on_sig``, called in debug
      mode): CPython allows that in the main interpreter's main thread
      only, and the ValueError killed the child's runtime right after its
      handshake;
    - retitle the process (``set_actor_proctitle``): that would rename the
      parent process, and every sibling with it.
    """
    import logging

    from . import _caller_info

    _caller_info.install()  # cheaper context opens under the shared GIL
    log = logging.getLogger("shmring.tractor")

    def no_stack_on_sig(*args, **kwargs):
        log.info("shm_subint: a sub-interpreter actor cannot handle signals; no stackscope dump on SIGUSR1")
        return None

    def no_proctitle(*args, **kwargs):
        return None

    for module, name, replacement in (
        ("tractor.devx", "enable_stack_on_sig", no_stack_on_sig),
        ("tractor.devx._stackscope", "enable_stack_on_sig", no_stack_on_sig),
        ("tractor.devx._proctitle", "set_actor_proctitle", no_proctitle),
    ):
        try:
            mod = __import__(module, fromlist=[name])
        except ImportError:
            continue
        if hasattr(mod, name):
            setattr(mod, name, replacement)

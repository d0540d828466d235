"""Teaching tractor 'shm' and 'shm_subint': the rows of ``_table``, applied
as a whole or not at all (docs/tractor.md, "Registration").

- Registration checks every row before it changes anything: each target
  module and attribute exists and holds what the row expects (a dict
  without the key, a function, the very object a module imported by
  name, ...). Rows applied later are checked too, as far as that is
  possible without importing their modules.
- It then applies the When.REGISTRATION rows, verifies each is in place
  (identity), and asks tractor's own lookup functions for 'shm' and
  'shm_subint' (``_lookups``). If anything fails, every row applied is
  undone.
- On any failure tractor is left as it was except for the When.ON_MISMATCH
  rows, which make a request for 'shm' or 'shm_subint' raise the same
  TractorMismatch; register() raises it (now and on every later call).
  The start-up hook turns it into a RuntimeWarning: a program that never
  asks for 'shm' runs as if shmring were not installed.
- The 'shm_subint' rows are checked again and applied as a whole when
  'shm_subint' is selected (TractorMismatch there if they do not fit).
- tractor's test helpers are checked and patched as a whole when tractor's
  test suite imports them; if they do not fit they are left alone with a
  warning (raising would break every test suite that loads tractor's
  pytest plugin, whatever transport it uses).
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import NoReturn

from . import _lookups, _patching
from ._after_import import when_imported
from ._mismatch import Failure, TractorMismatch
from ._table import TABLE, How, When, rows

# Rows in place in this interpreter, by target; the phases applied.
_applied: dict[str, _patching.Applied] = {}
_phases: set[When] = set()
_failure: TractorMismatch | None = None

_COVERED = {(patch.module, patch.name) for patch in TABLE}
_HEADLINE = "shmring could not register its 'shm' transport and 'shm_subint' spawn backend with tractor."


def failure() -> TractorMismatch | None:
    """Why registration failed in this interpreter (None if it did not)."""
    return _failure


def applied_targets() -> tuple[str, ...]:
    """The targets of the rows in place now, in the order applied."""
    return tuple(_applied)


def register() -> bool:
    """Registers 'shm' and 'shm_subint' with tractor, all rows or none. Idempotent.

    False if tractor cannot be imported; TractorMismatch if this tractor
    does not fit the table (then tractor is unchanged but for the refusals).
    """
    if _failure is not None:
        raise _failure
    if When.REGISTRATION in _phases:
        return True
    try:
        import tractor  # noqa: F401
    except ImportError:
        return False
    later = rows(When.ON_IMPORT) + rows(When.SHM_SUBINT) + rows(When.SHM_SUBINT_CHILD)
    failures, stage, applied = _apply_as_a_whole(rows(When.REGISTRATION), also_check=later, ask_tractor=True)
    if failures:
        _fail(failures, {
            "check": "Nothing was changed in tractor: every row is checked before any is applied.",
            "apply": "The rows applied before it were undone: nothing is left changed in tractor.",
            "verify": f"All {applied} rows had been applied; they were undone: tractor is as it was.",
        }[stage])
    _phases.add(When.REGISTRATION)
    for module in dict.fromkeys(patch.module for patch in rows(When.ON_IMPORT)):
        when_imported(module, _apply_on_import)
    return True


def _apply_as_a_whole(patches: tuple, *, also_check: tuple = (), import_modules: bool = True,
                      leftovers: bool = True, ask_tractor: bool = False) -> tuple[list[Failure], str, int]:
    """Checks `patches` (and `also_check`, rows of later phases, without
    applying them), applies them, verifies them: all or none.

    Returns (failures, stage, rows applied): no failures when they are in
    place; else the stage that failed, "check" (nothing was applied),
    "apply" (those applied before it were undone) or "verify" (all had been
    applied; they were undone). `leftovers`: also fail if a tractor module
    outside the table still holds a function a row replaced; `ask_tractor`:
    also ask tractor's own lookups (``_lookups``).
    """
    failures = _patching.check(patches, _applied, import_modules=import_modules)
    failures += _patching.check(also_check, _applied, import_modules=False)
    if failures:
        return failures, "check", 0
    try:
        done = _patching.apply(patches, _applied)
    except _patching.ApplyFailed as exc:
        return [exc.failure], "apply", 0
    failures = _patching.verify(done)
    failures += _patching.left_behind(done, _COVERED) if leftovers else []
    failures += _lookups.run() if ask_tractor else []
    if failures:
        _patching.undo(done, _applied)
        return failures, "verify", len(done)
    return [], "", len(done)


def _fail(failures: list[Failure], outcome: str) -> NoReturn:
    global _failure
    not_refused = _apply_refusals()
    if not_refused:
        outcome += (" Asking tractor for 'shm' or 'shm_subint' raises this error, except where tractor could not "
                    f"be made to: {'; '.join(map(str, not_refused))}.")
    else:
        outcome += (" Asking tractor for 'shm' or 'shm_subint' raises this error "
                    "(open_root_actor, try_set_start_method).")
    _failure = TractorMismatch(_HEADLINE, failures, outcome)
    raise _failure


def _apply_refusals() -> list[Failure]:
    """Applies each When.ON_MISMATCH row that fits (each on its own: one
    that does not fit must not keep the others out); those that do not."""
    not_applied = []
    for patch in rows(When.ON_MISMATCH):
        if patch.how is How.REBIND and patch.same_as not in _applied:
            not_applied.append(Failure(patch.describe(), f"{patch.same_as} could not be changed"))
            continue
        problems = _patching.check((patch,), _applied, import_modules=True)
        if not problems:
            try:
                _patching.apply((patch,), _applied)
            except _patching.ApplyFailed as exc:
                problems = [exc.failure]
        not_applied += problems
    return not_applied


def apply_phase(when: When) -> None:
    """Applies the rows of a later phase (When.SHM_SUBINT, When.SHM_SUBINT_CHILD)
    as a whole, registering first if needed; TractorMismatch if they do not fit."""
    if not register():
        raise ImportError(f"shmring: tractor cannot be imported, so its rows {when.value} cannot be applied")
    if when in _phases:
        return
    failures, stage, _ = _apply_as_a_whole(rows(when))
    if failures:
        raise TractorMismatch(f"shmring could not apply its tractor rows {when.value}.", failures, {
            "check": "None of them was applied.",
            "apply": "The rows of this phase applied before it were undone.",
            "verify": "The rows of this phase were undone.",
        }[stage])
    _phases.add(when)


def _apply_on_import(module: ModuleType) -> None:
    """The When.ON_IMPORT rows of `module`, right after it was imported: all
    or none, and a warning (not an error) when they do not fit."""
    patches = tuple(patch for patch in rows(When.ON_IMPORT) if patch.module == module.__name__)
    failures, _, _ = _apply_as_a_whole(patches, import_modules=False, leftovers=False)
    if failures:
        mismatch = TractorMismatch(
            f"shmring could not teach tractor's test helpers in {module.__name__} about 'shm' and 'shm_subint'.",
            failures, f"{module.__name__} was left as it is: tractor's test suite cannot select them through it.")
        warnings.warn(str(mismatch), RuntimeWarning, stacklevel=2)

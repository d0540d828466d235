"""Applying rows of ``_table`` to tractor: check them before, apply them,
verify them after, undo them. Nothing here knows what a row is for."""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import typing
from types import ModuleType
from typing import Any, Callable, NamedTuple

from ._mismatch import Failure
from ._table import How, Patch

_MISSING = object()


class Applied(NamedTuple):
    """A row in place: what tractor had there (`before`; for an entry, its
    dict or list) and what we put (`value`)."""

    patch: Patch
    module: ModuleType
    before: Any
    value: Any


class ApplyFailed(Exception):
    """Applying a row raised; what was applied before it has been undone."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def _is_literal(value: Any) -> bool:
    return typing.get_origin(value) is typing.Literal


def _is_msgspec_structs(value: Any) -> bool:
    import msgspec.structs

    return value is msgspec.structs


# What How.REPLACE rows expect tractor to have there: (description, test).
EXPECTATIONS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "function": ("a function", callable),
    "Literal": ("a typing.Literal", _is_literal),
    "msgspec.structs": ("the module msgspec.structs", _is_msgspec_structs),
}


def module_exists(name: str) -> bool:
    """Whether `name` could be imported, without importing it nor the
    packages above it that are not imported yet (tractor._testing's
    __init__ imports pytest and ~140 other modules)."""
    return name in sys.modules or _spec_without_import(name) is not None


def _spec_without_import(name: str) -> Any:
    parent, _, _ = name.rpartition(".")
    if not parent:
        return importlib.machinery.PathFinder.find_spec(name)
    if parent in sys.modules:
        path = getattr(sys.modules[parent], "__path__", None)
    else:
        spec = _spec_without_import(parent)
        path = spec.submodule_search_locations if spec is not None else None
    return importlib.machinery.PathFinder.find_spec(name, path) if path is not None else None


def builder(patch: Patch) -> Callable[[ModuleType, Any], Any]:
    module, _, function = patch.build.partition(":")
    return getattr(importlib.import_module(f"shmring.tractor.{module}"), function)


def check(patches: tuple[Patch, ...], applied: dict[str, Applied], *, import_modules: bool) -> list[Failure]:
    """Every way `patches` do not fit the tractor in this interpreter, before
    any of them is applied. `applied` holds rows applied earlier (the source
    of a rebind may be one). A module not imported yet is imported if
    `import_modules`; otherwise only its existence is checked (the rest is
    checked when its row is applied)."""
    failures: list[Failure] = []
    for patch in patches:
        problem = _problem(patch, applied, import_modules)
        if problem:
            failures.append(Failure(patch.describe(), problem))
    return failures


def _problem(patch: Patch, applied: dict[str, Applied], import_modules: bool) -> str | None:
    module = sys.modules.get(patch.module)
    if module is None:
        if not import_modules:
            return None if module_exists(patch.module) else f"there is no module {patch.module}"
        try:
            module = importlib.import_module(patch.module)
        except Exception as exc:  # noqa: BLE001  (a module tractor dropped, or that no longer imports)
            return f"{patch.module} cannot be imported ({type(exc).__name__}: {exc})"
    value = getattr(module, patch.name, _MISSING)
    if value is _MISSING:
        return f"{patch.module} has no attribute {patch.name!r}"
    missing = [need for need in patch.needs if not hasattr(module, need)]
    if missing:
        return f"{patch.module} has no {', '.join(map(repr, missing))}, which what shmring puts there uses"
    if patch.how is How.DICT_ENTRY:
        if not isinstance(value, dict):
            return f"expected a dict, found {type(value).__name__}"
        if patch.key in value:
            return f"tractor already has an entry there: {value[patch.key]!r}"
    elif patch.how is How.LIST_ENTRY:
        if not isinstance(value, list):
            return f"expected a list, found {type(value).__name__}"
    elif patch.how is How.REPLACE:
        description, fits = EXPECTATIONS[patch.expect]
        if not fits(value):
            return f"expected {description}, found {value!r}"
    elif patch.how is How.REBIND:
        return _rebind_problem(patch, value, applied)
    return None


def _rebind_problem(patch: Patch, value: Any, applied: dict[str, Applied]) -> str | None:
    """A module that imported a name by name holds the very object its source
    module holds: tractor's, or ours if the source row was applied before
    this module was imported."""
    source_module, _, source_name = patch.same_as.rpartition(".")
    done = applied.get(patch.same_as)
    if done is not None:
        if value is done.before or value is done.value:
            return None
        expected = f"tractor's {patch.same_as} ({done.before!r}) or ours"
    else:
        module = sys.modules.get(source_module)
        source = getattr(module, source_name, _MISSING) if module is not None else _MISSING
        if source is _MISSING:
            return f"its source {patch.same_as} is missing"
        if value is source:
            return None
        expected = f"the object {patch.same_as} holds ({source!r})"
    return f"expected {expected}, as a module that imported it by name holds; found {value!r}"


def apply(patches: tuple[Patch, ...], applied: dict[str, Applied]) -> list[Applied]:
    """Applies `patches` in order (each rebind after its source), recording
    them in `applied`; if one raises, undoes the others and raises ApplyFailed."""
    done: list[Applied] = []
    for patch in patches:
        try:
            module = importlib.import_module(patch.module)
            before = getattr(module, patch.name)
            if patch.how is How.REBIND:
                value = applied[patch.same_as].value
            else:
                value = builder(patch)(module, before)
            if patch.how is How.DICT_ENTRY:
                before[patch.key] = value
            elif patch.how is How.LIST_ENTRY:
                before.append(value)
            else:
                setattr(module, patch.name, value)
        except Exception as exc:  # noqa: BLE001  (say which row; leave nothing half done)
            undo(done, applied)
            raise ApplyFailed(Failure(patch.describe(), f"applying it raised {type(exc).__name__}: {exc}")) from exc
        done.append(Applied(patch, module, before, value))
        applied[patch.target] = done[-1]
    return done


def verify(done: list[Applied]) -> list[Failure]:
    """Every applied row that is not in place (by identity)."""
    failures = []
    for item in done:
        patch = item.patch
        now = getattr(item.module, patch.name, _MISSING)
        if patch.how is How.DICT_ENTRY:
            ok = now is item.before and now.get(patch.key, _MISSING) is item.value
        elif patch.how is How.LIST_ENTRY:
            ok = now is item.before and any(entry is item.value for entry in now)
        else:
            ok = now is item.value
        if not ok:
            failures.append(Failure(patch.describe(), f"after applying, {patch.target} does not hold what was put "
                                                      f"there (found {now!r})"))
    return failures


def left_behind(done: list[Applied], covered: set[tuple[str, str]]) -> list[Failure]:
    """Every tractor module attribute outside `covered` (the table's (module,
    name) pairs) that still holds a function a row replaced: a module that
    imported it by name, under any name, which no row rebinds. A new
    tractor that starts importing wrap_address somewhere else would
    otherwise take 'shm' addresses for UDS paths there."""
    replaced = {id(item.before): item for item in done
                if item.patch.how is How.REPLACE and item.patch.expect == "function" and item.before is not item.value}
    failures = []
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name == "tractor" or module_name.startswith("tractor.")):
            continue
        for attr, value in list(vars(module).items()):
            item = replaced.get(id(value))
            if item is not None and value is item.before and (module_name, attr) not in covered:
                failures.append(Failure(f"{module_name}.{attr}", f"holds tractor's {item.patch.target}, which was "
                                        f"replaced, and no row rebinds it (imported by name)"))
    return failures


def undo(done: list[Applied], applied: dict[str, Applied]) -> None:
    """Puts back what tractor had, last row first."""
    for item in reversed(done):
        patch = item.patch
        if patch.how is How.DICT_ENTRY:
            if item.before.get(patch.key, _MISSING) is item.value:
                del item.before[patch.key]
        elif patch.how is How.LIST_ENTRY:
            for index, entry in enumerate(item.before):
                if entry is item.value:
                    del item.before[index]
                    break
        else:
            setattr(item.module, patch.name, item.before)
        if applied.get(patch.target) is item:
            del applied[patch.target]

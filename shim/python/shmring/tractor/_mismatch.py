"""The error a tractor that does not fit shmring's table gets: which rows
did not fit and why, which tractor it is, and what was left changed."""

from __future__ import annotations

import os
from typing import NamedTuple


class Failure(NamedTuple):
    what: str  # a row (Patch.describe()) or a lookup through tractor's own functions
    problem: str  # what was expected and what was found

    def __str__(self) -> str:
        return f"{self.what}: {self.problem}"


HOW_TO_FIX = ("Install the tractor this shmring supports, or a shmring that supports this tractor; "
              "SHMRING_TRACTOR=0 turns the plugin off.")


class TractorMismatch(RuntimeError):
    """tractor does not look the way shmring's table of patches (shmring.tractor._table) expects.

    ``failures`` lists every row (and every lookup through tractor's own
    functions) that did not fit; ``tractor`` says which tractor it is.
    """

    def __init__(self, headline: str, failures: list[Failure] | tuple[Failure, ...], outcome: str) -> None:
        self.headline = headline
        self.failures = tuple(failures)
        self.outcome = outcome
        self.tractor = tractor_identity()
        from ._table import WRITTEN_FOR

        lines = [headline, f"This is {self.tractor}; shmring's table was written for {WRITTEN_FOR}.",
                 f"Did not fit ({len(self.failures)}):"]
        lines += [f"  - {failure}" for failure in self.failures]
        lines += [outcome, HOW_TO_FIX]
        super().__init__("\n".join(lines))

    def asked_for(self, what: str) -> TractorMismatch:
        """The same error, raised where a program asks tractor for `what`."""
        return TractorMismatch(f"{what} was asked for, but {self.headline[0].lower()}{self.headline[1:]}",
                               self.failures, self.outcome)


def tractor_identity() -> str:
    """'tractor <version> (<commit or source>) at <dir>', as far as it is knowable."""
    try:
        import tractor

        location = os.path.dirname(os.path.abspath(tractor.__file__ or ""))
    except Exception as exc:  # noqa: BLE001  (a tractor that cannot be imported is a mismatch too)
        return f"a tractor that cannot be imported ({type(exc).__name__}: {exc})"
    try:
        from importlib import metadata

        dist = metadata.distribution("tractor")
        # The installed metadata may describe another copy than the one imported.
        if os.path.realpath(str(dist.locate_file("tractor/__init__.py"))) != os.path.realpath(tractor.__file__):
            raise LookupError
        return f"tractor {dist.version}{_origin(dist.read_text('direct_url.json'))} at {location}"
    except Exception:  # noqa: BLE001
        return f"tractor at {location} (no package metadata for it: version unknown)"


def _origin(direct_url: str | None) -> str:
    """', commit <id>' or ', installed from <url>' (PEP 610's direct_url.json)."""
    if not direct_url:
        return ""
    import json  # here: ~3 ms at start-up otherwise, for an error path

    try:
        info = json.loads(direct_url)
    except ValueError:
        return ""
    commit = info.get("vcs_info", {}).get("commit_id")
    if commit:
        return f", commit {commit[:12]}"
    return f", installed from {info['url']}" if info.get("url") else ""

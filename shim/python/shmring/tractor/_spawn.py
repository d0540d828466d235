"""The 'shm_subint' spawn backend (registered with tractor by register())."""

from __future__ import annotations


def register_backend() -> None:
    """Adds the backend to tractor's spawn methods (see register())."""

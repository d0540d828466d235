"""Shared fixtures for shmring's Python tests."""

import os
import shutil
import tempfile

import pytest


@pytest.fixture
def socket_dir():
    """A fresh private (0700) directory for listener sockets."""
    path = tempfile.mkdtemp(prefix="shmring-py-")
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def socket_path(socket_dir):
    return os.path.join(socket_dir, "test.sock")

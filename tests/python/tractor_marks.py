"""Skip marks for the tests that need tractor (a test dependency that is not
on the package index in its current form) or the start-up hook the wheel
installs. Imported by the tractor test modules."""

import importlib.util

import pytest

HAVE_TRACTOR = importlib.util.find_spec("tractor") is not None

needs_tractor = pytest.mark.skipif(
    not HAVE_TRACTOR,
    reason="tractor is not installed: it is not on the package index in its current form; set "
           "SHMRING_TRACTOR_SDIST to a tractor source tarball and run scripts/tractor-suite install (docs/tractor.md)")

needs_hook = pytest.mark.skipif(
    importlib.util.find_spec("_shmring_tractor_hook") is None,
    reason="the start-up hook is installed with the wheel (pip install .), not in this build",
)

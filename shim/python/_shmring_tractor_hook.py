"""Run at interpreter start-up by shmring's .pth file: when (and only when) a
process imports tractor, register shmring's 'shm' transport with it. Cheap:
it imports nothing of shmring or tractor until tractor itself is imported.
Set SHMRING_TRACTOR=0 to disable.

It never breaks a program: if this tractor does not fit shmring's table of
patches, registration changes nothing in it (but for making a request for
'shm' or 'shm_subint' raise shmring.tractor.TractorMismatch), and the hook
turns the error into a RuntimeWarning naming every row that did not fit."""

import importlib.abc
import importlib.machinery
import os
import sys


class _AfterTractorImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "tractor":
            return None
        sys.meta_path.remove(self)  # once; and let the real finders find it
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return None
        original_exec = spec.loader.exec_module

        def exec_module(module):
            original_exec(module)
            try:
                import shmring.tractor

                shmring.tractor.register()
            except Exception as exc:  # never break tractor (nor a program that never asks for 'shm') because of us
                import warnings

                if type(exc).__name__ == "TractorMismatch":  # its own report: the rows, the tractor version
                    detail = str(exc)
                else:  # a bug of ours
                    detail = f"shmring: could not register with tractor: {exc!r}"
                warnings.warn(detail, RuntimeWarning, stacklevel=2)

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("SHMRING_TRACTOR", "1") != "0" and "tractor" not in sys.modules:
    sys.meta_path.insert(0, _AfterTractorImport())

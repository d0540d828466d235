"""A cheaper ``tractor.devx._frame_stack.find_caller_info`` for
'shm_subint' programs.

tractor calls it each time a context opens (every ``portal.run``, every
``open_context``, and four times while a child starts), and it walks the
stack with ``inspect.stack()``, which reads the source line of every frame
(linecache, ``realpath``, thousands of ``lstat`` calls): ~4.5 ms per call
here, 19 ms of a warm child's 25 ms start. A subprocess child pays that on
a core of its own; a 'shm_subint' child pays it under the GIL every actor
of the process shares. The replacement walks the same frames with
``sys._getframe`` and returns the same ``CallerInfo``; it reads no source.

Installed when a root actor selects 'shm_subint' and in each of its
children; a tractor whose module does not look as expected keeps its own.
"""

from __future__ import annotations

import sys
from typing import Any


def install() -> bool:
    """Replaces find_caller_info; False (and nothing changed) if this tractor differs."""
    try:
        from tractor.devx import _frame_stack as fs
    except ImportError:
        return False
    original = getattr(fs, "find_caller_info", None)
    caller_info = getattr(fs, "CallerInfo", None)
    func_ref = getattr(fs, "func_ref_from_frame", None)
    if original is None or caller_info is None or func_ref is None:
        return False
    if getattr(original, "_shmring", False):
        return True

    def find_caller_info(dunder_var: str = "__runtimeframe__", iframes: int = 1,
                         check_frame_depth: bool = True) -> Any:
        # tractor's walk, frame by frame from here up, without inspect.stack().
        frame = sys._getframe(0)
        while frame is not None:
            frames_up = frame.f_locals.get(dunder_var)
            if frames_up:  # this frame is tractor's API; its caller is `frames_up` above
                return caller_info(_api_frame=frame, _api_func=func_ref(frame), _caller_frames_up=frames_up)
            frame = frame.f_back
        return None

    find_caller_info._shmring = True  # type: ignore[attr-defined]
    find_caller_info.__wrapped__ = original  # type: ignore[attr-defined]
    fs.find_caller_info = find_caller_info
    return True

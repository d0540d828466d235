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

Put in place (a row of ``_table``) when a root actor selects 'shm_subint'
and in each of its children.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any, Callable


def cheaper_find_caller_info(frame_stack: ModuleType) -> Callable[..., Any]:
    """tractor's find_caller_info, walking frames with ``sys._getframe``; the
    ``CallerInfo`` and ``func_ref_from_frame`` it uses are frame_stack's own
    (the row in ``_table`` requires them)."""
    caller_info = frame_stack.CallerInfo
    func_ref = frame_stack.func_ref_from_frame

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

    return find_caller_info

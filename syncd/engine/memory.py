"""Hand freed heap memory back to the OS between the stages of a large recompute.

glibc keeps freed memory in its arenas, and after NumPy frees a large array it raises its own
mmap threshold, so later temporaries of a few MB come from the heap and stay there once freed.
At a million contacts a full recompute left about 450 MB of such free memory in the process
after the features stage alone (RSS 1.2 GB, 0.75 GB after a trim): memory the daemon then keeps
between runs and that stacks under the next stage's peak. ``malloc_trim`` returns it; it costs
milliseconds. Elsewhere than glibc it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # musl and other libcs have no malloc_trim
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Return the heap's free pages to the OS (glibc); False when there is no way to."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True

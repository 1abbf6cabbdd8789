"""Keeping glibc from handing a check's large buffers back to the kernel.

glibc serves allocations over a threshold (dynamic, from 128 KB up) with fresh
mmap()s and returns freed heap tops to the kernel past another; a check
allocates and frees several such buffers (decoded pixels, canvases, PDQ's float
copies), so each check paid for them again as page faults: 2.0-3.9 ms of kernel
time a /check, measured, against 0.5-0.9 with both thresholds raised. Large
arrays (the index's tables) still get their own mappings.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# From glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 * 1024 * 1024
"""Allocations from this size on are mapped on their own."""
TRIM_THRESHOLD = 128 * 1024 * 1024
"""Free memory an arena keeps before giving some back to the kernel."""


def keep_heap() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False where the C
    library is not glibc (nothing is changed there)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None or not hasattr(libc, "gnu_get_libc_version"):
        return False
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if not done:
        log.warning("mallopt refused the thresholds; large buffers stay mmap-backed")
    return done

"""The C allocator told to keep frame-sized blocks in the process.

Every stage makes and drops arrays the size of a frame (masks, guides, coefficients: 1-5 MB at 1024 px). glibc's
malloc hands a block that large to the system when it is freed (blocks over its mmap threshold, 128 KiB at start,
and the heap's top beyond its trim threshold), so the next array of that size may fault its pages in again. What
that costs depends on the machine: on this project's 2-core VM a photo's mask stage took 50 ms against 39 ms with
the blocks kept in one run, and the same in another, when page faults were cheap (docs/benchmarks.md; the guided
filter alone, in a loop, 27 against 13 ms). Raising the two thresholds keeps such blocks for reuse; the process
holds at most ``trim_threshold`` of freed memory beyond what it uses. A process whose environment sets either threshold
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``) keeps its own choice; on another C library this does nothing.
"""
from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)
_MiB = 1 << 20


def keep_frame_blocks(mmap_threshold: int = 64 * _MiB, trim_threshold: int = 256 * _MiB) -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring); True when they were set."""
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    done = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1 and mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1
    log.debug("malloc thresholds %s (mmap %d MiB, trim %d MiB)", "set" if done else "not set",
              mmap_threshold // _MiB, trim_threshold // _MiB)
    return done

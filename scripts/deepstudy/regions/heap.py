"""Freed memory kept in the process for the region walks' next chunk, not handed back to the OS.

The walks make arrays of a few megabytes per chunk and layer, and free them a moment later. glibc
hands freed blocks above its thresholds back to the operating system, so the next chunk's arrays
are fresh pages, each one a page fault (on a virtual machine, a trip through the hypervisor): a
quarter of a 1D count's time here, 7,600 faults a count on the benchmark's 4 x 128 case against
about 200 with the memory kept. Raising glibc's thresholds once per process keeps it; elsewhere
(macOS, musl) nothing changes. The setting is the process's, for good: glibc's adaptive threshold
is off after it, blocks up to 32 MB come from the heap, and each heap keeps up to 128 MB free,
which a later allocation reuses.
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap (glibc's largest mmap threshold on 64-bit systems).
MMAP_THRESHOLD = 32 * 2**20
#: Free memory at the top of a heap is kept up to this much.
TRIM_THRESHOLD = 128 * 2**20


@cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); whether they were set."""
    if not sys.platform.startswith("linux"):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:  # a C library without it
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )

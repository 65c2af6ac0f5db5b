"""Threads for the exact region walks on the CPU: one chunk of work per thread, no OpenMP team.

The compiled kernels are serial and release the GIL, so a pool of Python threads runs chunks of
segments (or planes) side by side, with torch's own intra-op threads set to one meanwhile: the
matrix products run in the same pool threads. Nothing waits at a barrier between kernel calls, so
a job stays steady when a neighbouring process takes a core. Numba's parallel kernels would start
a second OpenMP runtime beside torch's, and on a busy machine the idle threads of two runtimes
spin against each other for the cores (a count ran 25 times slower); with serial kernels there is
one runtime, torch's, and its team sits idle while the pool works.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

from deepstudy.regions.heap import keep_freed_memory

Item = TypeVar("Item")
Result = TypeVar("Result")


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``count`` inside the block, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def map_chunks(function: Callable[[Item], Result], chunks: Iterable[Item], threads: int) -> list[Result]:
    """``function`` applied to each chunk, in order, on up to ``threads`` threads, each chunk on
    one thread. Memory freed by one chunk is kept for the next (see :mod:`deepstudy.regions.heap`)."""
    keep_freed_memory()
    chunks = list(chunks)
    workers = max(1, min(threads, len(chunks)))
    if workers == 1:
        return [function(chunk) for chunk in chunks]
    # each pool thread sets its own count too: OpenMP's is per thread, and a BLAS routine called
    # from a compiled kernel (see :mod:`deepstudy.regions.blas`) reads the calling thread's
    pool = ThreadPoolExecutor(workers, "regions", initializer=torch.set_num_threads, initargs=(1,))
    with torch_threads(1), pool:
        return list(pool.map(function, chunks))


def chunk_size(items: int, threads: int, largest: int) -> int:
    """Items per chunk: at most ``largest`` (a working set that stays in cache), and small enough
    that each thread gets several chunks, so that the last ones finish together even where another
    process takes turns on a core."""
    per_thread = -(-items // (16 * max(threads, 1)))
    return max(1, min(largest, per_thread))

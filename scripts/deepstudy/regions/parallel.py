"""Threads for the exact region walks on the CPU: one chunk of work per thread, no OpenMP team.

The compiled kernels are serial and release the GIL, so the calling thread and a pool of Python
threads, kept for the process, run chunks of segments (or planes) side by side, with torch's own
intra-op threads set to one meanwhile: the matrix products run in the same threads. Nothing waits
at a barrier between kernel calls, so a job stays steady when a neighbouring process takes a core.
Numba's parallel kernels would start a second OpenMP runtime beside torch's, and on a busy machine
the idle threads of two runtimes spin against each other for the cores (a count ran 25 times
slower); with serial kernels there is one runtime, torch's, and its team sits idle while the pool
works.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from functools import cache
from itertools import count
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


_worker = threading.local()  # ``in_pool`` set in the threads running a map's chunks


def _start_worker() -> None:
    """A pool thread's set-up: it marks itself (a map called from it runs in turn) and sets its
    own torch thread count to one: OpenMP's is per thread, and a BLAS routine called from a
    compiled kernel (see :mod:`deepstudy.regions.blas`) reads the calling thread's."""
    _worker.in_pool = True
    torch.set_num_threads(1)


@cache
def _pool(workers: int) -> ThreadPoolExecutor:
    """``workers`` threads kept for the process's counts. Threads started afresh for each count
    cost more than their work once other work has run between counts: a 4 x 128 count's first
    two chunks took 7 ms instead of 4 right after regioncam's count."""
    return ThreadPoolExecutor(workers, "regions", initializer=_start_worker)


# a forked child has the pool's objects but not its threads: it starts its own
os.register_at_fork(after_in_child=_pool.cache_clear)


def together(function: Callable[[], object], threads: int) -> None:
    """``function()`` run on ``threads`` threads at once, the caller's and kept pool threads (once,
    in the caller, where called from one of those threads), with torch's own intra-op threads set
    to one meanwhile; returns when all are done, raising the first failure. Memory freed by one
    chunk is kept for the next (see :mod:`deepstudy.regions.heap`).

    The caller works too, rather than waiting: a pool thread whose core has been idle can take a
    couple of milliseconds to wake on a virtual machine (1.7 ms here after 0.1 s idle), which the
    caller's share covers, and the caller wakes no one when the work is done."""
    keep_freed_memory()
    if threads <= 1 or getattr(_worker, "in_pool", False):
        function()
        return
    with torch_threads(1):
        helpers = [_pool(threads - 1).submit(function) for _ in range(threads - 1)]
        _worker.in_pool = True  # a map called from here runs in turn
        try:
            function()
        finally:
            _worker.in_pool = False
            wait(helpers)
        for helper in helpers:
            helper.result()  # a helper's failure, raised here


def map_chunks(function: Callable[[Item], Result], chunks: Iterable[Item], threads: int) -> list[Result]:
    """``function`` applied to each chunk, in order, on up to ``threads`` threads (see
    :func:`together`), each taking the next chunk as it finishes one."""
    chunks = list(chunks)
    results: list = [None] * len(chunks)
    taken, taking = count(), threading.Lock()  # the next chunk's index, one thread at a time
    failed = threading.Event()

    def drain() -> None:
        while not failed.is_set():
            with taking:
                index = next(taken)
            if index >= len(chunks):
                return
            try:
                results[index] = function(chunks[index])
            except BaseException:
                failed.set()  # the others stop after their current chunk
                raise

    together(drain, max(1, min(threads, len(chunks))))
    return results


def chunk_size(items: int, threads: int, largest: int) -> int:
    """Items per chunk: at most ``largest`` (a working set that stays in cache), and small enough
    that each thread gets several chunks, so that the last ones finish together even where another
    process takes turns on a core."""
    per_thread = -(-items // (16 * max(threads, 1)))
    return max(1, min(largest, per_thread))

"""The exact region walks on several threads: one OpenMP runtime, the same counts, the caller's
torch settings left as they were."""

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from deepstudy import models
from deepstudy.regions import dense_walk, parallel
from deepstudy.regions.lines import breakpoints_1d, count_regions_1d
from numba import njit
from torch import nn

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

_RUNTIMES = """
import sys, torch
sys.path.insert(0, {scripts!r})
from deepstudy import models
from deepstudy.regions.lines import count_regions_1d
from deepstudy.regions import planes
from deepstudy.regions.planes import count_regions_2d
torch.set_num_threads(2)
planes._PARALLEL_NS = 0  # every 2D kernel call on both threads
net = models.build_model({{"architecture": "mlp", "depth": 2, "width": 16, "init": "he"}}, (4,), 3, seed=0)
count_regions_1d(net, torch.randn(64, 4), torch.randn(64, 4))
count_regions_2d(net, torch.randn(2, 3, 4))
names = ("libgomp", "libiomp", "libomp", "libtbb", "omppool", "tbbpool", "workqueue")
print(sorted({{line.split()[-1] for line in open("/proc/self/maps") if any(n in line for n in names)}}))
"""


def test_counting_regions_loads_a_single_threading_runtime():
    # Numba's parallel kernels load a second OpenMP runtime beside torch's, and on a busy machine
    # the idle threads of the two spin against each other: a count ran 25 times slower.
    script = _RUNTIMES.format(scripts=str(SCRIPTS))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    runtimes = eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 - a list literal we printed
    assert len(runtimes) == 1, runtimes


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_counts_and_breakpoints_do_not_depend_on_threads_or_chunks(threads):
    net = models.build_model({"architecture": "mlp", "depth": 3, "width": 24, "init": "he"}, (6,), 3, seed=1)
    generator = torch.Generator().manual_seed(2)
    start, end = torch.randn(37, 6, generator=generator), torch.randn(37, 6, generator=generator)
    before = torch.get_num_threads()
    reference = breakpoints_1d(net, start, end, chunk=37, compiled=True)
    try:
        torch.set_num_threads(threads)
        for chunk in (None, 1, 5):
            found = breakpoints_1d(net, start, end, chunk=chunk)
            assert torch.equal(found.segment, reference.segment)  # the same breakpoints, placed
            torch.testing.assert_close(found.t, reference.t, rtol=0, atol=1e-12)  # to a matmul's rounding
            counts = count_regions_1d(net, start, end, chunk=chunk)
            assert torch.equal(counts, torch.bincount(reference.segment, minlength=37) + 1)
        assert torch.get_num_threads() == threads  # the caller's setting, restored
    finally:
        torch.set_num_threads(before)


def test_a_linear_layer_on_each_row_of_2d_values_is_walked_like_the_tensor_path():
    # Linear(3, 3) acts on each of the two rows of a (2, 3) value, not on the flattened six
    # numbers: the compiled walk must not take it for a dense layer over the whole value.
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6, 2))
    generator = torch.Generator().manual_seed(4)
    start, end = torch.randn(9, 2, 4, generator=generator), torch.randn(9, 2, 4, generator=generator)
    compiled = count_regions_1d(net, start, end, compiled=True)
    assert torch.equal(compiled, count_regions_1d(net, start, end, compiled=False))
    assert bool((compiled > 1).any())


def test_the_pools_threads_are_kept_between_counts_and_nested_maps_run_in_turn():
    seen = []

    def chunk(item: int) -> int:
        seen.append(threading.get_ident())
        # a map from inside a pool thread runs in that thread (else two busy workers would wait
        # for each other's queued chunks)
        inner = parallel.map_chunks(lambda x: (x, threading.get_ident()), range(3), 2)
        assert {ident for _, ident in inner} == {threading.get_ident()}
        return item * 2

    for _ in range(5):
        assert parallel.map_chunks(chunk, range(6), 2) == [0, 2, 4, 6, 8, 10]
    helpers = set(seen) - {threading.get_ident()}  # the caller works too, beside one kept thread
    assert len(helpers) <= 1


_FORKED = """
import os, sys, torch
sys.path.insert(0, {scripts!r})
from deepstudy import models
from deepstudy.regions.lines import count_regions_1d
torch.set_num_threads(2)
net = models.build_model({{"architecture": "mlp", "depth": 3, "width": 16, "init": "he"}}, (4,), 3, seed=0)
start, end = torch.randn(40, 4), torch.randn(40, 4)
parent = count_regions_1d(net, start, end)
child = os.fork()
if child == 0:  # the pool's threads are not in the child: it must start its own, not hang
    os._exit(0 if torch.equal(count_regions_1d(net, start, end), parent) else 3)
print(os.waitpid(child, 0)[1])
"""


def test_a_forked_child_counts_with_threads_of_its_own():
    script = _FORKED.format(scripts=str(SCRIPTS))
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "0"


def test_a_failing_chunk_raises_in_the_caller_and_the_pool_still_works():
    started = []

    def chunk(item: int) -> int:
        started.append(item)
        if item == 1:
            raise ValueError("chunk 1 failed")
        return item

    with pytest.raises(ValueError, match="chunk 1 failed"):
        parallel.map_chunks(chunk, range(40), 2)
    assert parallel.map_chunks(lambda x: x + 1, range(4), 2) == [1, 2, 3, 4]


def test_the_caller_takes_chunks_too():
    # a helper on an idle core can be slow to wake: the caller starts on the chunks meanwhile
    seen = []

    def chunk(item: int) -> int:
        seen.append(threading.get_ident())
        time.sleep(0.005)
        return item

    assert parallel.map_chunks(chunk, range(8), 2) == list(range(8))
    assert threading.get_ident() in seen and len(set(seen)) <= 2


@njit(nogil=True)
def _claim_many(claimed, taken):  # noqa: ANN001, ANN202
    """Numbers of ``claimed`` taken one by one, each written where it was taken."""
    while True:
        number = dense_walk._claim(claimed)
        if number >= len(taken):
            return
        taken[number] += 1


def test_threads_in_one_compiled_loop_each_take_a_chunk_number_once():
    # the 1D count's threads each run one compiled loop, taking the next chunk by an atomic
    # increment that gives the number before it: every chunk once, none skipped, whatever the threads
    claimed, taken = np.zeros(1, dtype=np.int64), np.zeros(2_000_000, dtype=np.int64)
    _claim_many(claimed, taken[:10])  # compiled before the threads start
    claimed[0], taken[:] = 0, 0
    threads = [threading.Thread(target=_claim_many, args=(claimed, taken)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (taken == 1).all()
    assert claimed[0] == len(taken) + 3  # each thread's last number, past the end

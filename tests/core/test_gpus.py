"""The GPU slot allocator, on CPU with fake device ids."""

from __future__ import annotations

import multiprocessing
import os
import time

from deepstudy.gpus import gpu_slot, visible_ids


def hold(ids, lock_dir, seconds, queue, jobs_per_gpu=1):
    with gpu_slot(ids, lock_dir, poll_seconds=0.05, jobs_per_gpu=jobs_per_gpu) as gpu:
        queue.put((gpu, os.environ.get("CUDA_VISIBLE_DEVICES"), time.monotonic()))
        time.sleep(seconds)
    queue.put(("done", None, time.monotonic()))


def test_concurrent_jobs_get_different_gpus_and_a_third_waits(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    ids = ["5", "7"]
    jobs = [context.Process(target=hold, args=(ids, tmp_path, 1.5, queue)) for _ in range(3)]
    for job in jobs:
        job.start()
    events = [queue.get(timeout=30) for _ in range(6)]
    for job in jobs:
        job.join(timeout=30)
    starts = [e for e in events if e[0] != "done"]
    assert all(gpu == visible for gpu, visible, _ in starts)  # exported to CUDA_VISIBLE_DEVICES
    first_two = sorted(starts, key=lambda e: e[2])[:2]
    assert {first_two[0][0], first_two[1][0]} == {"5", "7"}
    third = sorted(starts, key=lambda e: e[2])[2]
    first_done = min(e[2] for e in events if e[0] == "done")
    assert third[2] >= first_done - 0.05  # it waited for a slot to free


def test_a_killed_job_frees_its_gpu(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    job = context.Process(target=hold, args=(["3"], tmp_path, 60, queue))
    job.start()
    assert queue.get(timeout=30)[0] == "3"
    job.kill()
    job.join(timeout=30)
    started = time.monotonic()
    with gpu_slot(["3"], tmp_path, poll_seconds=0.05) as gpu:
        assert gpu == "3" and time.monotonic() - started < 5


def test_nothing_is_done_without_ids_or_under_slurm(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with gpu_slot([], tmp_path) as gpu:
        assert gpu is None and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    with gpu_slot(["0", "1"], tmp_path) as gpu:
        assert gpu is None and os.environ["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert visible_ids("auto") == ["0", "1"] and visible_ids([4, 6]) == ["4", "6"]


def test_jobs_per_gpu_lets_jobs_share_a_gpu_after_spreading_over_all(tmp_path):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    ids = ["5", "7"]
    jobs = [context.Process(target=hold, args=(ids, tmp_path, 2.0, queue, 2)) for _ in range(5)]
    for job in jobs:
        job.start()
        time.sleep(0.3)  # in order, so that the spreading is seen
    events = [queue.get(timeout=60) for _ in range(10)]
    for job in jobs:
        job.join(timeout=30)
    starts = sorted((e for e in events if e[0] != "done"), key=lambda e: e[2])
    assert [gpu for gpu, _, _ in starts[:4]] == ["5", "7", "5", "7"]  # two slots on each GPU
    first_done = min(e[2] for e in events if e[0] == "done")
    assert starts[4][2] >= first_done - 0.05  # the fifth waited for a slot


def test_a_job_runs_on_the_gpu_of_its_slot_and_on_the_cpu_without_one(tmp_path, monkeypatch):
    """Under ``device: auto`` a job that holds a GPU slot computes on CUDA; one that asked the
    scheduler for no GPU (``resources: gpu=0``, as under ``device: cpu``) stays on the CPU even
    where torch sees a GPU, so that it never lands uninvited on a GPU that another job holds.
    CUDA itself is faked: torch only says it is there."""
    # imported here, not above: the slot tests' spawned jobs import this module, and torch would
    # add seconds to each start, out of the order the tests stagger them in
    import torch
    from deepstudy.training import training_slot

    monkeypatch.chdir(tmp_path)  # the slots' lock files
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    with training_slot(1, [3], "auto", 1) as device:
        assert device.type == "cuda" and os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    with training_slot(0, [3], "auto", 1) as device:
        assert device.type == "cpu"
    with training_slot(0, [3], "cpu", 1) as device:
        assert device.type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with training_slot(1, [3], "auto", 1) as device:  # a slot, but no GPU torch can use
        assert device.type == "cpu"

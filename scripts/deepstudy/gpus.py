"""One GPU per concurrent local job: a slot allocator on lock files.

Snakemake's ``--resources gpu=N`` limits how many GPU jobs run at once but does not say which GPU
each one gets, so every job would land on GPU 0 (Snakemake issue #281). A job instead takes the
first free slot among the machine's GPU ids by locking that slot's file (``fcntl.flock``), sets
``CUDA_VISIBLE_DEVICES`` to it before CUDA starts, and holds the lock until it ends. The operating
system drops the lock when the process exits, so a crashed or killed job frees its GPU too.
Under SLURM the scheduler assigns GPUs itself, and nothing is done here.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Where the slots' lock files live, under the workflow's working directory.
LOCK_DIR = Path(".snakemake") / "gpu-slots"


def visible_ids(configured: list[int] | str = "auto") -> list[str]:
    """The GPU ids jobs may use: the configured list, else those this process may see
    (``CUDA_VISIBLE_DEVICES``), else every GPU ``nvidia-smi`` lists. CUDA is not touched: once it
    starts in a process, a later CUDA_VISIBLE_DEVICES has no effect there."""
    if configured != "auto":
        return [str(i) for i in configured]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [i.strip() for i in visible.split(",") if i.strip()]
    try:
        listing = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(i) for i, line in enumerate(listing.stdout.splitlines()) if line.startswith("GPU ")]


def job_gpu_ids(requested: int, configured: list[int] | str = "auto") -> list[str]:
    """The ids a job with ``resources: gpu=requested`` picks its GPU from (none if it asks for none)."""
    return visible_ids(configured) if requested > 0 else []


@contextmanager
def gpu_slot(
    ids: list[str], lock_dir: str | Path = LOCK_DIR, poll_seconds: float = 0.2, jobs_per_gpu: int = 1
) -> Iterator[str | None]:
    """Hold a free slot of a GPU of ``ids`` for the duration of the block, the GPU exported in
    CUDA_VISIBLE_DEVICES. Each GPU has ``jobs_per_gpu`` slots, so that one job's CPU-side work
    (imports, reading and writing stores) overlaps another's GPU work; jobs spread over the GPUs
    before they share one.

    Waits while all are taken. Yields the id, or None (nothing done) when there are no ids or the
    job runs under SLURM.
    """
    if not ids or "SLURM_JOB_ID" in os.environ:
        yield None
        return
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    slots = [
        (gpu, f"gpu{gpu}.lock" if k == 0 else f"gpu{gpu}-{k}.lock")
        for k in range(jobs_per_gpu)
        for gpu in ids
    ]
    while True:
        for gpu, lock_name in slots:
            handle = open(lock_dir / lock_name, "w")  # noqa: SIM115 - held for the whole block
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            previous = os.environ.get("CUDA_VISIBLE_DEVICES")
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
            try:
                yield gpu
            finally:
                if previous is None:
                    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
                else:
                    os.environ["CUDA_VISIBLE_DEVICES"] = previous
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()
            return
        time.sleep(poll_seconds)

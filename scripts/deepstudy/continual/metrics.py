"""Metrics of an accuracy matrix R, where R[i, j] is the accuracy on task j after training through
task i (Lopez-Paz & Ranzato 2017; Chaudhry et al. 2018)."""

from __future__ import annotations

import numpy as np


def summarize(accuracy: np.ndarray, reference: np.ndarray | None = None) -> dict[str, float]:
    """Average accuracy, backward transfer and forgetting of a T × T matrix; forward transfer too
    when ``reference`` (accuracy of a randomly initialised network on each task) is given.

    - ``average_accuracy``: mean_j R[T-1, j]
    - ``backward_transfer``: mean over j < T-1 of R[T-1, j] - R[j, j]
    - ``forgetting``: mean over j < T-1 of max_{i < T-1} R[i, j] - R[T-1, j]
    - ``forward_transfer``: mean over j > 0 of R[j-1, j] - reference[j]

    With a single task the transfer and forgetting terms have nothing to average and are NaN.
    """
    r = np.asarray(accuracy, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise ValueError(f"the accuracy matrix must be square and non-empty, not of shape {r.shape}")
    tasks = r.shape[0]
    final = r[-1]
    earlier = np.arange(tasks - 1)
    result = {
        "average_accuracy": float(final.mean()),
        "backward_transfer": float(np.mean(final[earlier] - r[earlier, earlier])) if tasks > 1 else np.nan,
        "forgetting": float(np.mean(r[:-1, :-1].max(axis=0) - final[:-1])) if tasks > 1 else np.nan,
    }
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float64)
        if reference.shape != (tasks,):
            raise ValueError(f"reference must hold one accuracy per task ({tasks}), not {reference.shape}")
        later = np.arange(1, tasks)
        result["forward_transfer"] = (
            float(np.mean(r[later - 1, later] - reference[later])) if tasks > 1 else np.nan
        )
    return result

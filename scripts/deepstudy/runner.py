"""Glue for the rule scripts: send output to the rule's log, turn expected errors into one line."""

from __future__ import annotations

import os
import shutil
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from deepstudy.errors import StudyInputError

#: Errors caused by the user's input or environment; they get one line, not a traceback.
EXPECTED_ERRORS = (StudyInputError, FileNotFoundError)


def history_path(path: str | Path) -> Path:
    """Where a job's log keeps every run's output: a hidden file beside it, which Snakemake, which
    removes a job's log before the job runs, does not know of."""
    path = Path(path)
    return path.with_name(f".{path.name}.history")


def _reopen_history(path: Path) -> bool:
    """Make the log ``path`` the job's history (:func:`history_path`, hard-linked where the file
    system allows, so that even a killed run's output stays); whether earlier runs wrote to it."""
    history = history_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and not (history.exists() and path.samefile(history)):
        with open(history, "a") as kept:  # a log not linked yet: keep what it holds
            kept.write(path.read_text())
        path.unlink()
    history.touch()
    if not path.exists():
        try:
            os.link(history, path)
        except OSError:  # no hard links here: the log starts with the history, but adds to it no more
            shutil.copyfile(history, path)
    return history.stat().st_size > 0


@contextmanager
def rule_log(path: str) -> Iterator[None]:
    """Write stdout and stderr (progress bars, warnings) to ``path`` while the block runs.

    A rerun of the job appends to its log, below a line saying when it started, so that the log of
    a run that failed or was killed (and the job's resume) stays readable: Snakemake removes the
    log before a job runs, so the log is a hard link to a history that it leaves alone. An expected
    error is reported as one line, in the log and on the terminal, and the script exits with
    status 1 so that Snakemake removes the job's outputs.
    """
    terminal_out, terminal_err = sys.stdout, sys.stderr
    rerun = _reopen_history(Path(path))
    with open(path, "a", buffering=1) as log:
        if rerun:
            print(f"--- rerun at {datetime.now().isoformat(timespec='seconds')} ---", file=log)
        sys.stdout = sys.stderr = log
        try:
            yield
        except EXPECTED_ERRORS as error:
            message = f"error: {error}"
            print(message, file=log)
            print(message, file=terminal_err)
            raise SystemExit(1) from None
        except Exception:
            traceback.print_exc(file=log)  # the log is where the rule's error message points
            raise
        finally:
            sys.stdout, sys.stderr = terminal_out, terminal_err

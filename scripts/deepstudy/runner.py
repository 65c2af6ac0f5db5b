"""Glue for the rule scripts: send output to the rule's log, turn expected errors into one line."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from deepstudy.errors import StudyInputError

#: Errors caused by the user's input or environment; they get one line, not a traceback.
EXPECTED_ERRORS = (StudyInputError, FileNotFoundError)


@contextmanager
def rule_log(path: str) -> Iterator[None]:
    """Write stdout and stderr (progress bars, warnings) to ``path`` while the block runs.

    A rerun of the job appends to its log, below a line saying when it started, so that the log of
    a run that failed or was killed (and the job's resume) stays readable. An expected error is
    reported as one line, in the log and on the terminal, and the script exits with status 1 so
    that Snakemake removes the job's outputs.
    """
    terminal_out, terminal_err = sys.stdout, sys.stderr
    rerun = Path(path).is_file() and Path(path).stat().st_size > 0
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

"""The reproduction table: each paper claim a study reproduces, what this run measured, and whether
the claim holds.

Each study states its claims in its own ``claims`` module (:class:`Statement`: the sentence, the
paper and figure, the paper's number, the criterion) and evaluates them on its summaries into
:class:`Claim` rows. A claim whose study did not run, or whose summary lacks what it compares (one
batch size, one clean-set size), reads "not run" with the reason; a claim that fails reads "fails"
with its numbers, and never fails the workflow.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HOLDS, FAILS, NOT_RUN = "holds", "fails", "not run"
#: The verdicts a claim can take, in the table's order of concern.
VERDICTS = (FAILS, HOLDS, NOT_RUN)


@dataclass(frozen=True)
class Statement:
    """A claim as the paper makes it and the rule it is checked by."""

    study: str
    claim: str
    source: str
    criterion: str
    paper_value: str = ""

    def measured(self, holds: bool, measured: str, value: float = np.nan) -> Claim:
        """The claim checked: ``holds`` by its criterion, ``measured`` as it reads in the table (with
        its spread over seeds), ``value`` the headline number the criterion compares, for machines."""
        return Claim(**asdict(self), measured=measured, value=float(value), verdict=HOLDS if holds else FAILS)

    def not_run(self, why: str) -> Claim:
        """The claim unchecked, and why: its study did not run, or the run lacks what it compares."""
        return Claim(**asdict(self), measured=why, value=np.nan, verdict=NOT_RUN)


@dataclass(frozen=True)
class Claim(Statement):
    """One row of the table: a statement with this run's measurement and verdict."""

    measured: str = ""
    value: float = np.nan
    verdict: str = NOT_RUN


#: The table's columns, in order: what is claimed and where, what this run measured, by which
#: criterion it is judged, and the verdict.
COLUMNS = ("study", "claim", "source", "paper_value", "measured", "value", "criterion", "verdict")


def mean_sd(values: np.ndarray) -> tuple[float, float, int]:
    """Mean, sample standard deviation (0 for one value) and count of the finite ``values``."""
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return np.nan, np.nan, 0
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0, len(values)


def spread_text(values: np.ndarray, digits: int = 3) -> str:
    """Finite ``values`` as "mean ± sd (n=k)"."""
    mean, sd, n = mean_sd(values)
    return f"{mean:.{digits}g} ± {sd:.2g} (n={n})" if n else "no finite value"


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation of the pairs where both are finite (ties take mean ranks)."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < 3:
        return np.nan

    def ranks(values: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        ranked = np.empty(len(values))
        ranked[order] = np.arange(len(values), dtype=float)
        for value in np.unique(values):  # ties share their mean rank
            ranked[values == value] = ranked[values == value].mean()
        return ranked

    rx, ry = ranks(x[keep]), ranks(y[keep])
    if rx.std() == 0 or ry.std() == 0:
        return np.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def write_table(
    claims: list[Claim], csv_path: str | Path, json_path: str | Path, html_path: str | Path
) -> None:
    """The table as CSV, as a JSON list of rows, and as an HTML page for the report."""
    import pandas as pd

    frame = pd.DataFrame([asdict(claim) for claim in claims], columns=list(COLUMNS))
    frame.to_csv(csv_path, index=False)
    Path(json_path).write_text(json.dumps([_finite(asdict(claim)) for claim in claims], indent=1) + "\n")
    Path(html_path).write_text(_html(claims))


def _finite(row: dict) -> dict:
    """A row for JSON: NaN numbers as null."""
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}


#: The HTML page shows every column but the bare number (the measured text holds it).
_SHOWN = tuple(column for column in COLUMNS if column != "value")
_COLOURS = {HOLDS: "#d7f0d2", FAILS: "#f6d0cb", NOT_RUN: "#e8e8e8"}


def _html(claims: list[Claim]) -> str:
    """A self-contained HTML table, one row a claim, coloured by verdict."""
    counts = ", ".join(f"{sum(c.verdict == v for c in claims)} {v}" for v in VERDICTS)
    head = "".join(f"<th>{html.escape(name.replace('_', ' '))}</th>" for name in _SHOWN)
    rows = "".join(
        f'<tr style="background:{_COLOURS[claim.verdict]}">'
        + "".join(f"<td>{html.escape(str(getattr(claim, name)))}</td>" for name in _SHOWN)
        + "</tr>"
        for claim in claims
    )
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Claims</title>'
        "<style>table{border-collapse:collapse;font:13px sans-serif}"
        "td,th{border:1px solid #999;padding:4px;vertical-align:top}</style></head><body>"
        f"<h2>The papers' claims, checked on this run</h2><p>{counts}.</p>"
        f"<table><tr>{head}</tr>{rows}</table></body></html>\n"
    )

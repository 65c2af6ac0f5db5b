"""Compare the Zarr stores of two results folders, number by number.

A change that should not change what the workflow computes (a restructuring) must leave every
stored number as it was. Wall-clock times (``train_seconds``) and provenance attributes
(``git_commit``, ``package_versions``, ``rule``, and ``config``, whose recorded defaults grow with the schema)
differ between runs of two commits and are not compared.

Run: .venv/bin/python tests/workflow/compare_stores.py BEFORE/results AFTER/results [--all]
(default: the summary stores only; ``--all``: every store). Exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import xarray as xr

TIMINGS = ("train_seconds",)
PROVENANCE = ("git_commit", "package_versions", "config", "rule")
SUMMARIES = (
    "noise/summary.zarr",
    "regions/init.zarr",
    "regions/trained.zarr",
    "regions/memorised.zarr",
    "regions/partition.zarr",
    "regions/activation_length.zarr",
    "regions/trainability.zarr",
    "continual/summary.zarr",
)


def differences(before: Path, after: Path) -> list[str]:
    """What differs between two stores, apart from timings and provenance (empty if nothing)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = xr.open_zarr(before).load(), xr.open_zarr(after).load()
    found = []
    a = a.drop_vars([v for v in TIMINGS if v in a.variables])
    b = b.drop_vars([v for v in TIMINGS if v in b.variables])
    for ds in (a, b):
        for key in PROVENANCE:
            ds.attrs.pop(key, None)
    if a.attrs != b.attrs:
        keys = sorted(k for k in a.attrs.keys() | b.attrs.keys() if a.attrs.get(k) != b.attrs.get(k))
        found.append(f"attributes differ: {keys}")
    if not a.identical(b):
        for name in sorted(set(a.variables) | set(b.variables)):
            if name not in a.variables or name not in b.variables or not a[name].identical(b[name]):
                found.append(f"variable {name} differs")
        if not found:
            found.append("datasets differ")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--all", action="store_true", help="every store, not only the summaries")
    args = parser.parse_args()
    names = (
        sorted(str(p.relative_to(args.before)) for p in args.before.rglob("*.zarr"))
        if args.all
        else list(SUMMARIES)
    )
    failed = 0
    for name in names:
        if not (args.after / name).exists():
            print(f"{name}: missing after")
            failed += 1
            continue
        found = differences(args.before / name, args.after / name)
        print(f"{name}: {'equal' if not found else '; '.join(found)}")
        failed += bool(found)
    print(f"{len(names) - failed} of {len(names)} stores equal")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

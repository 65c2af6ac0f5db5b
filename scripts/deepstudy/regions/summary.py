"""Collecting the per-network region analyses on one grid of named dimensions (no torch needed)."""

from __future__ import annotations

import json

import numpy as np
import xarray as xr

#: The factor over which the figures take mean ± sd; ``n_excluded`` counts what each mean leaves out.
SEED = "seed"


def collect(stores: list[xr.Dataset], factors: list[dict]) -> xr.Dataset:
    """Per-network analyses on one grid: a dimension per factor, NaN where a cell has no network.

    A network left out of the analyses (``excluded``, see
    :func:`deepstudy.regions.analysis.excluded_analysis`) keeps its NaN statistics and is counted in
    ``n_excluded``, per cell of the other factors over seeds; the reasons are in its attributes.
    """
    frames, reasons = [], []
    for ds, values in zip(stores, factors, strict=True):
        # without the stored encoding: an integer count's would write NaN cells as a huge integer
        ds = ds.load().drop_encoding()
        excluded = bool(ds["excluded"]) if "excluded" in ds else False  # stores of before the flag
        if excluded:
            reasons.append({**values, "reason": ds["excluded"].attrs.get("reason", "")})
        ds = ds.drop_vars("excluded", errors="ignore")
        cell = {key: [value] for key, value in values.items()}
        ds = ds.expand_dims(cell)
        ds["hidden_neurons"] = xr.DataArray(ds.attrs.get("neurons", np.nan)).expand_dims(cell)
        ds["exact_2d"] = xr.DataArray(ds.attrs.get("patterns_2d_method") == "exact").expand_dims(cell)
        ds["excluded"] = xr.DataArray(excluded).expand_dims(cell)
        ds.attrs = {}
        frames.append(ds)
    combined = xr.combine_by_coords(frames, combine_attrs="drop", join="outer")
    for name, var in stores[0].data_vars.items():
        if name != "excluded":
            combined[name].attrs.update(var.attrs)
    combined["hidden_neurons"].attrs["description"] = (
        "hidden neurons of the network (units followed by a ReLU)"
    )
    combined["exact_2d"].attrs["description"] = "patterns_2d is exact (else the grid estimate)"
    combined["excluded"] = combined["excluded"].fillna(False).astype(bool)
    combined["excluded"].attrs.update(
        description="the network is left out of the analyses, its statistics NaN (a diverged run's"
        " checkpoint); the reasons are in the attribute reasons",
        reasons=json.dumps(reasons),
    )
    if SEED in combined.dims:
        combined["n_excluded"] = combined["excluded"].sum(SEED)
        combined["n_excluded"].attrs.update(
            units="networks", description="networks (seeds) left out of the mean over seeds: excluded"
        )
    return combined

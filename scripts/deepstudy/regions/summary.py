"""Collecting the per-network region analyses on one grid of named dimensions (no torch needed)."""

from __future__ import annotations

import numpy as np
import xarray as xr


def collect(stores: list[xr.Dataset], factors: list[dict]) -> xr.Dataset:
    """Per-network analyses on one grid: a dimension per factor, NaN where a cell has no network."""
    frames = []
    for ds, values in zip(stores, factors, strict=True):
        ds = ds.load().assign_attrs({}).expand_dims({key: [value] for key, value in values.items()})
        ds["hidden_neurons"] = xr.DataArray(ds.attrs.get("neurons", np.nan)).expand_dims(
            {key: [value] for key, value in values.items()}
        )
        ds["exact_2d"] = xr.DataArray(ds.attrs.get("patterns_2d_method") == "exact").expand_dims(
            {key: [value] for key, value in values.items()}
        )
        ds.attrs = {}
        frames.append(ds)
    combined = xr.combine_by_coords(frames, combine_attrs="drop", join="outer")
    combined["hidden_neurons"].attrs["description"] = (
        "hidden neurons of the network (units followed by a ReLU)"
    )
    combined["exact_2d"].attrs["description"] = "patterns_2d is exact (else the grid estimate)"
    for name, var in stores[0].data_vars.items():
        combined[name].attrs.update(var.attrs)
    return combined

"""Inputs on the SMAP + NLDAS-2 grid, shared by the surrogate, soil-moisture and ET experiments.

Forcing for the VIC-style model (and its surrogate) is ``prcp`` (mm/day), ``tmean``
(degC) and ``pet`` (mm/day, Priestley–Taylor from NLDAS-2 radiation and temperature).
The data start on 2015-04-01 with nothing before, so models are spun up by cycling the
first ``spinup`` days once before the record (a standard land-surface-model practice);
the spin-up days carry no observations. Tensors are ``[time, cell, feature]``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..data.normalize import Normalizer
from ..data.splits import TimeWindow
from ..physics.pet import brutsaert_longwave, priestley_taylor
from ..train import SiteTensors

log = logging.getLogger("dplrepro.experiments")

__all__ = ["MODEL_FORCINGS", "NETWORK_FORCINGS", "GRID_ATTRIBUTES", "grid_forcing", "with_spinup",
           "fit_grid_normalizer", "GridInputs", "build_grid_inputs"]

MODEL_FORCINGS = ("prcp", "tmean", "pet")
NETWORK_FORCINGS = ("prcp", "tmean", "pet", "spfh", "dswrf")
GRID_ATTRIBUTES = ("sand", "clay", "silt", "capa", "bulk", "ndvi")


def grid_forcing(ds: xr.Dataset) -> xr.Dataset:
    """Add ``pet`` (Priestley–Taylor, mm/day) to a grid dataset with NLDAS-2-style forcing.

    Without ``dlwrf`` (e.g. the synthetic twin grid), downward long-wave radiation is
    estimated from air temperature and humidity with Brutsaert's (1975) clear-sky
    emissivity ε = 1.24·(e_a/T)^(1/7) (e_a in hPa, T in K), and the dataset says so.
    """
    ds = ds.copy()
    if "dlwrf" not in ds and "pet" not in ds and {"tmean", "spfh"} <= set(ds.data_vars):
        ds["dlwrf"] = brutsaert_longwave(ds["tmean"], ds["spfh"]).assign_attrs(
            units="W/m2", long_name="downward long-wave radiation, estimated (Brutsaert 1975 clear sky)")
        log.info("no dlwrf in the grid data: estimated from tmean and spfh (Brutsaert 1975)")
    if "pet" not in ds:
        missing = [v for v in ("tmean", "dswrf", "dlwrf") if v not in ds]
        if missing:
            raise ValueError(f"cannot compute PET: the grid dataset lacks {missing}")
        ds["pet"] = priestley_taylor(ds["tmean"], ds["dswrf"], ds["dlwrf"]).assign_attrs(
            units="mm/day", long_name="potential ET (Priestley-Taylor)")
    return ds


def with_spinup(arr: np.ndarray, days: int) -> np.ndarray:
    """Prepend the first ``days`` time steps (axis 0) once: a cycled spin-up year."""
    if days > arr.shape[0]:
        raise ValueError(f"spin-up of {days} days is longer than the record ({arr.shape[0]} days)")
    return np.concatenate([arr[:days], arr], axis=0)


def fit_grid_normalizer(train_ds: xr.Dataset, attributes: Sequence[str] = GRID_ATTRIBUTES) -> Normalizer:
    """Statistics from the training period and training cells only."""
    norm = Normalizer(transforms={"prcp": "log1p"}, on_zero_std="unit")
    norm.fit(train_ds[list(NETWORK_FORCINGS)], dims=("cell", "time"))
    norm.fit(train_ds[list(attributes)], dims="cell")
    return norm


@dataclass
class GridInputs:
    """Tensors for one period on a set of cells, with the spin-up/warm-up in front."""

    tensors: SiteTensors
    cells: np.ndarray
    time: np.ndarray       # dates of the period (without the warm-up)
    first_day: int         # index of the period's first day in the tensors


def build_grid_inputs(ds: xr.Dataset, period: TimeWindow, normalizer: Normalizer, warmup: int,
                      attributes: Sequence[str] = GRID_ATTRIBUTES, target: str = "smap_am") -> GridInputs:
    """Network inputs, model forcings and target for ``period`` plus ``warmup`` days before it.

    Where the record does not reach ``warmup`` days before the period (SMAP starts
    2015-04-01), the first ``warmup`` days of the period are cycled as spin-up.
    """
    t0 = pd.Timestamp(period.start)
    start_available = pd.Timestamp(str(ds["time"].values[0]))
    sub = period.select(ds)
    n_before = int((t0 - start_available).days)
    if n_before >= warmup:
        full = ds.sel(time=slice(t0 - pd.Timedelta(days=warmup), pd.Timestamp(period.end)))
        prepend = None
    else:
        full, prepend = sub, warmup
        log.info("no %d days of forcing before %s: cycling the first %d days as spin-up", warmup, period.start, warmup)

    def arr(name: str) -> np.ndarray:
        a = full[name].transpose("time", "cell").values.astype(np.float32)
        return with_spinup(a, prepend) if prepend else a

    forc = [normalizer.transform(arr(v), v) for v in NETWORK_FORCINGS]
    attrs = np.stack([normalizer.transform(ds[a].values.astype(float), a) for a in attributes], -1)
    if np.isnan(attrs).any():
        log.info("%d missing attribute values set to the training mean", int(np.isnan(attrs).sum()))
        attrs = np.nan_to_num(attrs, nan=0.0)
    n_time = forc[0].shape[0]
    x = np.concatenate([np.stack(forc, -1), np.broadcast_to(attrs, (n_time,) + attrs.shape)], -1).astype(np.float32)
    forcing = {v: arr(v) for v in MODEL_FORCINGS}
    y = arr(target)
    if prepend:
        y[:prepend] = np.nan  # the cycled spin-up carries no observations
    return GridInputs(SiteTensors(x=x, forcing=forcing, target=y, site_ids=ds["cell"].values),
                      ds["cell"].values, sub["time"].values, warmup)

"""The data tour's computations: one basin's water year and many basins' long-term water balance.

Precipitation, PET (Hargreaves, :func:`dplrepro.physics.pet.hargreaves`) and streamflow are
in mm/day; totals in mm.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..physics.pet import hargreaves

__all__ = ["WaterYear", "most_complete_basin", "example_water_year", "WaterBalance", "water_balance"]


def most_complete_basin(basins: xr.Dataset) -> str:
    """The basin with the most days of observed streamflow."""
    return str(basins["basin"].values[int(basins["qobs"].notnull().sum("time").argmax())])


@dataclass
class WaterYear:
    """One basin's daily series over a water year (Oct..Sep) and their totals."""

    basin: str
    series: xr.Dataset     # prcp, tmin, tmax, qobs over the water year
    pet: np.ndarray        # Hargreaves PET, mm/day

    @property
    def totals(self) -> dict:
        """P, PET and Q in mm, and the days without streamflow."""
        return {"precipitation_mm": float(np.nansum(self.series["prcp"])),
                "pet_hargreaves_mm": float(np.nansum(self.pet)),
                "streamflow_mm": float(np.nansum(self.series["qobs"])),
                "streamflow_missing_days": int(self.series["qobs"].isnull().sum())}


def example_water_year(basins: xr.Dataset, basin: str | None, year: int) -> WaterYear:
    """Water year ``year`` (ending Sep 30 of ``year``) of ``basin`` (None: :func:`most_complete_basin`);
    the first full water year of the record if ``year`` is not covered (the twin)."""
    basin = most_complete_basin(basins) if basin is None else basin
    b = basins.sel(basin=basin)
    wy = b.sel(time=slice(f"{year - 1}-10-01", f"{year}-09-30"))
    if wy.sizes["time"] == 0:
        first = int(str(b["time"].values[0])[:4]) + 1
        wy = b.sel(time=slice(f"{first}-10-01", f"{first + 1}-09-30"))
    pet = hargreaves(wy["tmin"].values, wy["tmax"].values, float(b["lat"]), wy["time"].dt.dayofyear.values)
    return WaterYear(basin, wy, pet)


@dataclass
class WaterBalance:
    """Long-term means per basin over the days with streamflow: P, Q, PET (mm/day)."""

    basins: np.ndarray
    p_mean: np.ndarray
    q_mean: np.ndarray
    pet_mean: np.ndarray

    @property
    def evaporative_index(self) -> np.ndarray:
        """1 - Q/P."""
        return 1 - self.q_mean / self.p_mean

    @property
    def aridity_index(self) -> np.ndarray:
        """PET/P."""
        return self.pet_mean / self.p_mean

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"p_mean": self.p_mean, "q_mean": self.q_mean, "pet_mean": self.pet_mean,
                             "aridity_index": self.aridity_index, "evaporative_index": self.evaporative_index},
                            index=pd.Index(self.basins, name="basin"))


def water_balance(basins: xr.Dataset, n_basins: int | None) -> WaterBalance:
    """:class:`WaterBalance` of ``n_basins`` basins spread evenly over the basin list (None: all)."""
    n_all = basins.sizes["basin"]
    picks = np.unique(np.linspace(0, n_all - 1, min(n_basins or n_all, n_all)).astype(int))
    ids = basins["basin"].values[picks]
    sub = basins.sel(basin=ids)[["prcp", "tmin", "tmax", "qobs", "lat"]].load()
    doy = sub["time"].dt.dayofyear.values
    pet = hargreaves(sub["tmin"].values, sub["tmax"].values, sub["lat"].values[:, None], doy[None, :])
    valid = np.isfinite(sub["qobs"].values)
    p_mean = np.nanmean(np.where(valid, sub["prcp"].values, np.nan), axis=1)
    q_mean = np.nanmean(sub["qobs"].values, axis=1)
    pet_mean = np.nanmean(np.where(valid, pet, np.nan), axis=1)
    return WaterBalance(ids, p_mean, q_mean, pet_mean)

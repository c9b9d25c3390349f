"""A virtual SMAP-like grid like ``smap_conus.nc``: :func:`make_virtual_grid`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from ...physics.pet import atmospheric_pressure, extraterrestrial_radiation, oudin, saturation_vapour_pressure
from .simulators import SOIL_MOISTURE_SIMULATOR, TwinSimulator, run_with_spinup
from .transfer import (
    GRID_ATTRIBUTE_SCALING,
    TRUE_TRANSFER_GRID,
    transfer_parameters,
    true_parameter_variables,
    twin_attrs,
)
from .weather import (
    check_seed_and_noise,
    daily_times,
    daily_weather,
    random_stream,
    sigmoid,
    site_climate,
    smooth_field,
)

__all__ = ["make_virtual_grid"]


def _revisit_mask(n_time: int, n_site: int, revisit_days: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``[time, site]`` True on overpass days: intervals drawn uniformly from the revisit range."""
    lo, hi = int(revisit_days[0]), int(revisit_days[1])
    mask = np.zeros((n_time, n_site), dtype=bool)
    phase = rng.integers(0, hi, size=n_site)
    steps = rng.integers(lo, hi + 1, size=(n_time // lo + 2, n_site))
    days = phase[None, :] + np.concatenate([np.zeros((1, n_site), dtype=np.int64), np.cumsum(steps, axis=0)], axis=0)
    for s in range(n_site):
        d = days[:, s]
        mask[d[d < n_time], s] = True
    return mask


def make_virtual_grid(
    n_rows: int = 8,
    n_cols: int = 12,
    start: Any = "2015-04-01",
    end: Any = "2017-03-31",
    seed: int = 0,
    revisit_days: tuple[int, int] = (2, 3),
    noise: float = 0.02,
    simulator: TwinSimulator | None = None,
    hole_fraction: float = 0.08,
    mask_frozen: bool = True,
) -> xr.Dataset:
    """Synthetic SMAP-like grid with surface soil moisture from a reference simulator.

    A regular ``n_rows x n_cols`` grid 1.5 degrees apart (like every 4th cell of the 36 km
    SMAP grid), centred on 38.5 N, 97 W; ``round(hole_fraction * n_rows * n_cols)`` cells are
    dropped at random to make holes like a land mask. Row 0 is the southernmost row and
    column 0 the westernmost, as :func:`dplrepro.data.smap.grid_indices` numbers the real grid. Soil and
    vegetation constants are smooth fields: ``sand``, ``clay``, ``silt`` (percent, summing to
    100), ``ndvi``, ``capa`` (field capacity, volumetric, increasing with clay and silt),
    ``bulk`` (g/cm3, decreasing with clay and vegetation).

    Forcings: ``prcp`` mm/day, ``tmean`` degC (same weather generator as the basins),
    ``dswrf`` W/m2 (extraterrestrial radiation times a clear/cloudy transmissivity of
    0.72/0.4), ``spfh`` kg/kg (saturation humidity at a dew point ``tmean - 0.6 * dtr``,
    surface pressure from elevation). PET for the simulator is Oudin from ``tmean``.

    True parameters come from :data:`TRUE_TRANSFER_GRID` over attributes normalised by
    :data:`GRID_ATTRIBUTE_SCALING`. The simulator (default :data:`SOIL_MOISTURE_SIMULATOR`)
    runs after a one-year spin-up; ``smap_true`` is its output and ``smap_am = clip(smap_true
    + noise * e, 0, 1)`` on overpass days only (intervals drawn uniformly from
    ``revisit_days``), NaN elsewhere and -- if ``mask_frozen`` -- on days with ``tmean < 0``
    (SMAP flags frozen ground).
    """
    check_seed_and_noise(seed, noise)
    for name, v in (("n_rows", n_rows), ("n_cols", n_cols)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    if len(revisit_days) != 2 or not (1 <= revisit_days[0] <= revisit_days[1]):
        raise ValueError(f"revisit_days must be (min, max) with 1 <= min <= max; got {revisit_days!r}")
    if not (0.0 <= hole_fraction < 1.0):
        raise ValueError(f"hole_fraction must be in [0, 1); got {hole_fraction!r}")
    sim = simulator or SOIL_MOISTURE_SIMULATOR
    times = daily_times(start, end)
    n_time = len(times)
    doy = times.day_of_year.to_numpy().astype(np.float64)

    rr, cc = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    rr, cc = rr.ravel(), cc.ravel()
    n_holes = int(round(hole_fraction * rr.size))
    if n_holes:
        drop = random_stream(seed, "grid:holes").choice(rr.size, size=n_holes, replace=False)
        keep = np.ones(rr.size, dtype=bool)
        keep[drop] = False
        rr, cc = rr[keep], cc[keep]
    n_cell = rr.size
    lat = 38.5 + 1.5 * (rr - (n_rows - 1) / 2.0)
    lon = -97.0 + 1.5 * (cc - (n_cols - 1) / 2.0)

    def fld(name: str, scale: float = 6.0) -> np.ndarray:
        return smooth_field(lat, lon, random_stream(seed, f"field:{name}"), scale)

    west = sigmoid((-104.0 - lon) / 3.0)
    elev = np.clip(350.0 + 1300.0 * west + 400.0 * fld("elev"), 5.0, 3800.0)
    clim = site_climate(lat, lon, elev, seed)
    sand = 100.0 * sigmoid(-0.6 + 0.7 * fld("sand"))
    clay = (100.0 - sand) * sigmoid(-0.9 + 0.6 * fld("clay"))
    silt = 100.0 - sand - clay
    ndvi = 0.12 + 0.72 * sigmoid(1.6 * (np.log(clim.p_clim) - math.log(1.6)) + 0.6 * fld("ndvi"))
    capa = 0.06 + 0.0045 * clay + 0.0015 * silt + 0.015 * fld("capa")
    bulk = 1.48 - 0.004 * clay - 0.25 * (ndvi - 0.45) + 0.05 * fld("bulk")

    w = daily_weather(clim, doy, seed)
    prcp32 = w["prcp"].astype(np.float32)
    tmean32 = w["tmean"].astype(np.float32)
    ra = extraterrestrial_radiation(lat[None, :], doy[:, None])  # MJ m-2 day-1
    dswrf = ra * 1e6 / 86400.0 * np.where(w["wet"], 0.4, 0.72)
    td = w["tmean"] - 0.6 * w["dtr"]
    e_kpa = saturation_vapour_pressure(td)  # at the dew point
    p_kpa = atmospheric_pressure(elev)
    spfh = 0.622 * e_kpa / (p_kpa[None, :] - 0.378 * e_kpa)

    prcp = prcp32.astype(np.float64)
    tmean = tmean32.astype(np.float64)
    pet = oudin(tmean, lat[None, :], doy[:, None])

    constants = {
        "sand": (sand, "percent", "sand content"),
        "clay": (clay, "percent", "clay content"),
        "silt": (silt, "percent", "silt content (100 - sand - clay)"),
        "ndvi": (ndvi, "-", "mean NDVI"),
        "capa": (capa, "volumetric fraction (field capacity)", "field capacity"),
        "bulk": (bulk, "g/cm3", "bulk density"),
    }
    const_values = {k: v[0].astype(np.float32).astype(np.float64) for k, v in constants.items()}
    theta, transfer = transfer_parameters(const_values, sim.parameters, TRUE_TRANSFER_GRID, GRID_ATTRIBUTE_SCALING)

    spinup = min(365, n_time)
    sm_true = run_with_spinup(sim, {"prcp": prcp, "tmean": tmean, "pet": pet}, theta, spinup)
    eps = random_stream(seed, "obs:noise").normal(0.0, 1.0, size=sm_true.shape)
    observed = _revisit_mask(n_time, n_cell, revisit_days, random_stream(seed, "obs:revisit"))
    if mask_frozen:
        observed &= tmean >= 0.0
    smap = np.where(observed, np.clip(sm_true + noise * eps, 0.0, 1.0), np.nan)

    dims = ("cell", "time")
    data_vars: dict[str, Any] = {
        "prcp": (dims, prcp32.T, {"units": "mm/day", "long_name": "precipitation (synthetic)"}),
        "tmean": (dims, tmean32.T, {"units": "degC", "long_name": "daily mean air temperature (synthetic)"}),
        "dswrf": (dims, dswrf.T.astype(np.float32), {"units": "W/m2", "long_name": "downward shortwave radiation (synthetic)"}),
        "spfh": (dims, spfh.T.astype(np.float32), {"units": "kg/kg", "long_name": "specific humidity (synthetic)"}),
        "smap_am": (dims, smap.T.astype(np.float32), {
            "units": "m3/m3",
            "long_name": "synthetic SMAP-like surface soil moisture (smap_true + noise, 2-3-day revisit)",
        }),
        "smap_true": (dims, sm_true.T.astype(np.float32), {
            "units": "m3/m3",
            "long_name": f"noise-free surface soil moisture of {sim.name} with the true parameters (twin truth; not in real data)",
        }),
        "lat": ("cell", lat.astype(np.float32), {"units": "degrees_north"}),
        "lon": ("cell", lon.astype(np.float32), {"units": "degrees_east"}),
        "row": ("cell", rr.astype(np.int64), {"long_name": "grid row index (0 = south)"}),
        "col": ("cell", cc.astype(np.int64), {"long_name": "grid column index (0 = west)"}),
    }
    for name, (values, units, long_name) in constants.items():
        data_vars[name] = ("cell", values.astype(np.float32), {"units": units, "long_name": long_name})
    data_vars.update(true_parameter_variables(sim.parameters, theta, "cell"))
    ds = xr.Dataset(data_vars, coords={"cell": np.arange(n_cell, dtype=np.int64), "time": times.values.astype("datetime64[ns]")})
    ds.attrs = {
        "title": f"synthetic SMAP-like twin: {n_cell} cells on a {n_rows}x{n_cols} grid, {times[0].date()}..{times[-1].date()}",
        **twin_attrs(sim, transfer, GRID_ATTRIBUTE_SCALING, seed),
        "noise": float(noise),
        "noise_model": "smap_am = clip(smap_true + noise * e, 0, 1), e ~ N(0, 1), on overpass days only",
        "revisit_days": f"{int(revisit_days[0])}-{int(revisit_days[1])}",
        "mask_frozen": int(bool(mask_frozen)),
        "pet_method": "oudin",
        "spinup_days": int(spinup),
    }
    return ds

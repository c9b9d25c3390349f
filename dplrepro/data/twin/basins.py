"""Virtual basins like ``camels_us.nc``: :func:`make_virtual_basins`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import xarray as xr

from ...physics.pet import hargreaves
from .simulators import BUCKET_SIMULATOR, TwinSimulator, run_with_spinup
from .transfer import (
    BASIN_ATTRIBUTE_SCALING,
    TRUE_TRANSFER_BASINS,
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

__all__ = ["make_virtual_basins"]


def _gap_mask(n_time: int, n_site: int, fraction: float, rng: np.random.Generator, min_len: int = 3, max_len: int = 60) -> np.ndarray:
    """``[time, site]`` mask with exactly ``round(fraction * n_time)`` gap days per site, in runs."""
    mask = np.zeros((n_time, n_site), dtype=bool)
    target = int(round(fraction * n_time))
    if target <= 0:
        return mask
    if target >= n_time:
        mask[:] = True
        return mask
    for s in range(n_site):
        col = mask[:, s]
        count = 0
        while count < target:
            length = int(rng.integers(min_len, max_len + 1))
            start = int(rng.integers(0, n_time))
            idx = np.arange(start, min(start + length, n_time))
            new = idx[~col[idx]][: target - count]
            col[new] = True
            count += len(new)
    return mask


def make_virtual_basins(
    n_basins: int = 30,
    start: Any = "1995-10-01",
    end: Any = "2005-09-30",
    seed: int = 0,
    gap_fraction: float = 0.05,
    noise: float = 0.1,
    simulator: TwinSimulator | None = None,
) -> xr.Dataset:
    """Synthetic CAMELS-like basins with streamflow from a reference simulator.

    Basins are scattered uniformly over a CONUS-like box (lat 30-48.5 N, lon 123-70 W).
    Static attributes are smooth random fields (:func:`smooth_field`) with physically
    sensible trends (mountainous dry west, wetter east and Pacific north-west); climate
    attributes are computed from the generated forcings over the whole generated period,
    as CAMELS defines them: ``attr_p_mean`` = mean ``prcp``, ``attr_pet_mean`` = mean
    Hargreaves PET (:func:`dplrepro.physics.pet.hargreaves`), ``attr_aridity`` = pet_mean /
    p_mean, ``attr_frac_snow`` = fraction of precipitation on days with mean temperature
    ``(tmin + tmax)/2 < 0``.

    True parameters ``true_<P>`` come from :data:`TRUE_TRANSFER_BASINS` applied to the
    attributes normalised with :data:`BASIN_ATTRIBUTE_SCALING` (parameters of a simulator
    passed in that the table does not list get a deterministic one-attribute transfer).
    The simulator (default :data:`BUCKET_SIMULATOR`) runs on ``prcp``, ``tmean = (tmin +
    tmax)/2`` and Hargreaves PET after a one-year spin-up (the first 365 days repeated);
    ``q_true`` is its output and ``qobs = q_true * exp(noise * e - noise^2 / 2)``, ``e ~
    N(0, 1)`` (multiplicative lognormal noise with mean 1), with ``round(gap_fraction *
    n_days)`` NaN days per basin in runs of 3-60 days.

    Forcings and ``qobs`` are float32 like the real file; the truth was simulated from the
    stored (float32) forcings, so a model run on ``ds`` sees exactly the truth's inputs.
    """
    check_seed_and_noise(seed, noise)
    if isinstance(n_basins, bool) or not isinstance(n_basins, (int, np.integer)) or n_basins < 1:
        raise ValueError(f"n_basins must be a positive integer; got {n_basins!r}")
    if not (0.0 <= gap_fraction < 1.0):
        raise ValueError(f"gap_fraction must be in [0, 1); got {gap_fraction!r}")
    sim = simulator or BUCKET_SIMULATOR
    times = daily_times(start, end)
    n_time = len(times)
    doy = times.day_of_year.to_numpy().astype(np.float64)

    loc = random_stream(seed, "basins:locations")
    lat = loc.uniform(30.0, 48.5, n_basins)
    lon = loc.uniform(-123.0, -70.0, n_basins)
    area = np.exp(loc.uniform(math.log(20.0), math.log(2000.0), n_basins))

    def fld(name: str, scale: float = 6.0) -> np.ndarray:
        return smooth_field(lat, lon, random_stream(seed, f"field:{name}"), scale)

    west = sigmoid((-104.0 - lon) / 3.0)
    elev = np.clip(350.0 + 1300.0 * west + 400.0 * fld("elev"), 5.0, 3800.0)
    slope = np.exp(math.log(25.0) + 0.5 * fld("slope") + 0.8 * west + 0.0003 * (elev - 600.0))
    sand = 100.0 * sigmoid(-0.6 + 0.7 * fld("sand"))
    clay = (100.0 - sand) * sigmoid(-0.9 + 0.6 * fld("clay"))
    soil_depth = np.clip(np.exp(math.log(5.0) + 0.7 * fld("soil_depth") - 0.4 * west), 0.3, 50.0)

    clim = site_climate(lat, lon, elev, seed)
    forest = sigmoid(-0.3 + 1.8 * (np.log(clim.p_clim) - math.log(2.2)) + 0.7 * fld("forest"))
    w = daily_weather(clim, doy, seed)

    # Stored forcings (float32, as in the real file); simulate from exactly these values.
    prcp32 = w["prcp"].astype(np.float32)
    tmax32 = (w["tmean"] + 0.5 * w["dtr"]).astype(np.float32)
    tmin32 = (w["tmean"] - 0.5 * w["dtr"]).astype(np.float32)
    prcp = prcp32.astype(np.float64)
    tmax = tmax32.astype(np.float64)
    tmin = tmin32.astype(np.float64)
    tmean = 0.5 * (tmin + tmax)
    pet = hargreaves(tmin, tmax, lat[None, :], doy[:, None])

    p_mean = prcp.mean(axis=0)
    pet_mean = pet.mean(axis=0)
    total = prcp.sum(axis=0)
    frac_snow = np.divide((prcp * (tmean < 0.0)).sum(axis=0), total, out=np.zeros(n_basins), where=total > 0)
    attrs = {
        "attr_p_mean": (p_mean, "mm/day", "mean daily precipitation (generated period)"),
        "attr_pet_mean": (pet_mean, "mm/day", "mean daily PET, Hargreaves (generated period)"),
        "attr_aridity": (pet_mean / np.maximum(p_mean, 1e-6), "-", "aridity index pet_mean / p_mean"),
        "attr_frac_snow": (frac_snow, "-", "fraction of precipitation on days with mean temperature < 0 degC"),
        "attr_elev_mean": (elev, "m", "mean elevation"),
        "attr_slope_mean": (slope, "m/km", "mean slope"),
        "attr_sand_frac": (sand, "percent", "sand fraction of the soil"),
        "attr_clay_frac": (clay, "percent", "clay fraction of the soil"),
        "attr_frac_forest": (forest, "-", "forest fraction"),
        "attr_soil_depth_pelletier": (soil_depth, "m", "depth to bedrock (Pelletier-like)"),
    }
    attr_values = {k: v[0].astype(np.float32).astype(np.float64) for k, v in attrs.items()}

    theta, transfer = transfer_parameters(attr_values, sim.parameters, TRUE_TRANSFER_BASINS, BASIN_ATTRIBUTE_SCALING)

    spinup = min(365, n_time)
    q_true = run_with_spinup(sim, {"prcp": prcp, "tmean": tmean, "pet": pet}, theta, spinup)
    eps = random_stream(seed, "obs:noise").normal(0.0, 1.0, size=q_true.shape)
    qobs = q_true * np.exp(noise * eps - 0.5 * noise * noise)
    gaps = _gap_mask(n_time, n_basins, gap_fraction, random_stream(seed, "obs:gaps"))
    qobs = np.where(gaps, np.nan, qobs)

    basin = np.array([f"V{i + 1:04d}" for i in range(n_basins)])
    dims = ("basin", "time")
    data_vars: dict[str, Any] = {
        "prcp": (dims, prcp32.T, {"units": "mm/day", "long_name": "precipitation (synthetic)"}),
        "tmax": (dims, tmax32.T, {"units": "degC", "long_name": "daily maximum air temperature (synthetic)"}),
        "tmin": (dims, tmin32.T, {"units": "degC", "long_name": "daily minimum air temperature (synthetic)"}),
        "qobs": (dims, qobs.T.astype(np.float32), {
            "units": "mm/day",
            "long_name": "observed streamflow (synthetic: q_true with multiplicative noise and gaps)",
        }),
        "q_true": (dims, q_true.T.astype(np.float32), {
            "units": "mm/day",
            "long_name": f"noise-free streamflow of {sim.name} with the true parameters (twin truth; not in real data)",
        }),
        "lat": ("basin", lat.astype(np.float32), {"units": "degrees_north"}),
        "lon": ("basin", lon.astype(np.float32), {"units": "degrees_east"}),
        "area_km2": ("basin", area.astype(np.float32), {"units": "km2"}),
        "in_531": ("basin", np.ones(n_basins, dtype=bool), {"long_name": "in the 531-basin subset (always True here)"}),
    }
    for name, (values, units, long_name) in attrs.items():
        data_vars[name] = ("basin", values.astype(np.float32), {"units": units, "long_name": long_name})
    data_vars.update(true_parameter_variables(sim.parameters, theta, "basin"))
    ds = xr.Dataset(data_vars, coords={"basin": basin, "time": times.values.astype("datetime64[ns]")})
    ds.attrs = {
        "title": f"synthetic CAMELS-like twin: {n_basins} virtual basins, {times[0].date()}..{times[-1].date()}",
        **twin_attrs(sim, transfer, BASIN_ATTRIBUTE_SCALING, seed),
        "gap_fraction": float(gap_fraction),
        "noise": float(noise),
        "noise_model": "qobs = q_true * exp(noise * e - noise**2 / 2), e ~ N(0, 1); NaN gaps in runs of 3-60 days",
        "pet_method": "hargreaves",
        "spinup_days": int(spinup),
    }
    return ds

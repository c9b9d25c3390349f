"""Potential evapotranspiration (PET) from temperature and latitude, in mm/day.

Two temperature-based formulas are provided, both driven by extraterrestrial radiation
``Ra`` (FAO-56, Allen et al. 1998, eq. 21):

* :func:`hargreaves` -- Hargreaves & Samani (1985), FAO-56 eq. 52, needs daily ``tmin`` and
  ``tmax``;
* :func:`oudin` -- Oudin et al. (2005, J. Hydrol. 303:290), needs only the daily mean
  temperature (e.g. CAMELS-GB, where no daily PET is distributed).

Radiation is converted to an equivalent evaporation depth with the latent heat of
vaporisation ``LAMBDA = 2.45 MJ/kg`` and the density of water ``RHO_WATER = 1000 kg/m3``:
``Ra [MJ m-2 day-1] / (lambda * rho) [m/day] * 1000 = Ra / 2.45 [mm/day]`` (FAO-56 writes
the same factor rounded to ``0.408``; here the exact ``1 / 2.45`` is used).

Broadcasting
------------
Every function accepts scalars, NumPy arrays or xarray DataArrays. NumPy inputs follow
NumPy's broadcasting rules, so for a ``(site, time)`` result pass ``lat[:, None]`` and
``doy[None, :]``. DataArrays broadcast by dimension name, so ``lat`` with dim ``basin`` and
``doy`` with dim ``time`` give a ``(basin, time)`` result (DataArray results are ordered:
``lat``'s dims, then ``doy``'s, then any others). :func:`pet_for_dataset` does this
for an analysis-ready dataset and always returns ``(site, time)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .errors import DataFormatError

__all__ = [
    "SOLAR_CONSTANT",
    "LAMBDA",
    "RHO_WATER",
    "PET_METHODS",
    "extraterrestrial_radiation",
    "radiation_to_mm",
    "hargreaves",
    "oudin",
    "pet_for_dataset",
]

#: Solar constant G_sc in MJ m-2 min-1 (FAO-56).
SOLAR_CONSTANT = 0.0820
#: Latent heat of vaporisation, MJ/kg (FAO-56 value).
LAMBDA = 2.45
#: Density of liquid water, kg/m3.
RHO_WATER = 1000.0
#: Methods understood by :func:`pet_for_dataset`.
PET_METHODS = ("hargreaves", "oudin")

_CELSIUS_UNITS = {"degc", "deg c", "degree_celsius", "degrees_celsius", "celsius", "°c", "c"}


def _clip_lower(x: Any, low: float) -> Any:
    """``max(x, low)`` that keeps NaN and works for NumPy and xarray alike."""
    if isinstance(x, xr.DataArray):
        return x.where(~(x < low), low)  # keeps x's dimension order
    return np.where(x < low, low, x)


def _ordered(result: Any, lat_deg: Any, doy: Any) -> Any:
    """DataArray results: ``lat``'s dims first, then ``doy``'s, then any others."""
    if isinstance(result, xr.DataArray):
        order = [d for x in (lat_deg, doy) if isinstance(x, xr.DataArray) for d in x.dims]
        result = result.transpose(*dict.fromkeys(d for d in order if d in result.dims), ...)
    return result


def extraterrestrial_radiation(lat_deg: Any, doy: Any) -> Any:
    """Daily extraterrestrial radiation ``Ra`` in MJ m-2 day-1 (FAO-56 eqs. 21-25).

    ``Ra = 24*60/pi * Gsc * dr * (ws * sin(phi) * sin(delta) + cos(phi) * cos(delta) * sin(ws))``
    with the inverse relative Earth-Sun distance ``dr = 1 + 0.033 cos(2 pi J / 365)``, the
    solar declination ``delta = 0.409 sin(2 pi J / 365 - 1.39)`` and the sunset hour angle
    ``ws = arccos(-tan(phi) tan(delta))``. The arccos argument is clipped to [-1, 1], so polar
    night gives ``ws = 0`` (Ra = 0) and polar day ``ws = pi``.

    Parameters
    ----------
    lat_deg : latitude in decimal degrees (south negative), in [-90, 90].
    doy : day of the year J (1 = 1 January), in [1, 366].
    """
    lat_arr = np.asarray(lat_deg.values if isinstance(lat_deg, xr.DataArray) else lat_deg, dtype=float)
    if np.any(np.abs(lat_arr[np.isfinite(lat_arr)]) > 90.0):
        raise ValueError(f"lat_deg must be latitudes in degrees within [-90, 90]; got values up to {np.nanmax(np.abs(lat_arr))}")
    doy_arr = np.asarray(doy.values if isinstance(doy, xr.DataArray) else doy)
    if doy_arr.size and (np.nanmin(doy_arr) < 1 or np.nanmax(doy_arr) > 366):
        raise ValueError(f"doy must be a day of the year in [1, 366]; got range {np.nanmin(doy_arr)}..{np.nanmax(doy_arr)}")

    phi = np.deg2rad(lat_deg)
    angle = 2.0 * np.pi * doy / 365.0
    dr = 1.0 + 0.033 * np.cos(angle)
    delta = 0.409 * np.sin(angle - 1.39)
    arg = -np.tan(phi) * np.tan(delta)
    arg = np.minimum(np.maximum(arg, -1.0), 1.0)
    ws = np.arccos(arg)
    ra = (24.0 * 60.0 / np.pi) * SOLAR_CONSTANT * dr * (
        ws * np.sin(phi) * np.sin(delta) + np.cos(phi) * np.cos(delta) * np.sin(ws)
    )
    # Rounding can leave -1e-17 at polar night; radiation cannot be negative.
    return _ordered(_clip_lower(ra, 0.0), lat_deg, doy)


def radiation_to_mm(ra_mj: Any) -> Any:
    """Convert an energy flux in MJ m-2 day-1 to an evaporation depth in mm/day.

    ``E = Ra / (lambda * rho) * 1000 = Ra / 2.45``.
    """
    return ra_mj / (LAMBDA * RHO_WATER) * 1000.0


def hargreaves(tmin: Any, tmax: Any, lat_deg: Any, doy: Any) -> Any:
    """Hargreaves-Samani reference evapotranspiration in mm/day (FAO-56 eq. 52).

    ``PET = 0.0023 * Ra/lambda * (Tmean + 17.8) * sqrt(max(Tmax - Tmin, 0))`` with
    ``Tmean = (Tmin + Tmax) / 2`` and ``Ra/lambda`` from :func:`radiation_to_mm`. Negative
    results (Tmean < -17.8 degC) are clipped to 0; NaN temperatures give NaN.

    Parameters
    ----------
    tmin, tmax : daily minimum and maximum air temperature, degC.
    lat_deg : latitude, decimal degrees.
    doy : day of the year.
    """
    ra_mm = radiation_to_mm(extraterrestrial_radiation(lat_deg, doy))
    tmean = 0.5 * (tmin + tmax)
    dtr = _clip_lower(tmax - tmin, 0.0)
    pet = 0.0023 * ra_mm * (tmean + 17.8) * np.sqrt(dtr)
    return _ordered(_clip_lower(pet, 0.0), lat_deg, doy)


def oudin(tmean: Any, lat_deg: Any, doy: Any) -> Any:
    """Oudin et al. (2005) potential evapotranspiration in mm/day.

    ``PET = Ra / (lambda * rho) * (T + 5) / 100`` if ``T + 5 > 0`` else 0, with ``Ra`` in
    MJ m-2 day-1, ``lambda = 2.45 MJ/kg``, ``rho = 1000 kg/m3`` and the result converted from
    m/day to mm/day. NaN temperatures give NaN.

    Parameters
    ----------
    tmean : daily mean air temperature, degC.
    lat_deg : latitude, decimal degrees.
    doy : day of the year.
    """
    ra_mm = radiation_to_mm(extraterrestrial_radiation(lat_deg, doy))
    factor = _clip_lower((tmean + 5.0) / 100.0, 0.0)
    return _ordered(ra_mm * factor, lat_deg, doy)


def _site_dim(ds: xr.Dataset) -> str:
    if "lat" not in ds:
        raise DataFormatError("dataset has no variable 'lat' (latitude in degrees_north, one value per site); needed for PET")
    dims = [d for d in ds["lat"].dims if d != "time"]
    if len(dims) != 1:
        raise DataFormatError(f"variable 'lat' must have exactly one site dimension (e.g. 'basin' or 'cell'); got dims {ds['lat'].dims}")
    return dims[0]


def _temperature(ds: xr.Dataset, name: str) -> xr.DataArray:
    if name not in ds:
        raise DataFormatError(f"dataset has no variable {name!r} (air temperature in degC); needed for PET")
    da = ds[name]
    units = da.attrs.get("units")
    if units is not None and str(units).strip().lower() not in _CELSIUS_UNITS:
        raise DataFormatError(f"variable {name!r} has units {units!r}; PET expects degC (convert at the reader)")
    return da


def pet_for_dataset(ds: xr.Dataset, method: str = "hargreaves") -> xr.DataArray:
    """Daily PET (mm/day) for every site and day of an analysis-ready dataset.

    Uses ``ds.time``'s day of year and ``ds.lat``. ``method="hargreaves"`` reads ``tmin``
    and ``tmax``; ``method="oudin"`` reads ``tmean`` or, if the dataset has only ``tmin``
    and ``tmax``, their mean. Returns a DataArray named ``pet`` with dims ``(site, time)``
    (the site dim is ``lat``'s dimension, e.g. ``basin`` or ``cell``) and ``units="mm/day"``.

    Raises
    ------
    DataFormatError
        a required variable (``lat``, ``time``, ``tmin``/``tmax``/``tmean``) is missing or
        a temperature is not in degC.
    ValueError
        unknown ``method``.
    """
    if method not in PET_METHODS:
        raise ValueError(f"unknown PET method {method!r}; expected one of {PET_METHODS}")
    if "time" not in ds.coords:
        raise DataFormatError("dataset has no 'time' coordinate (daily datetime64); needed for PET")
    if not np.issubdtype(ds["time"].dtype, np.datetime64):
        raise DataFormatError(f"coordinate 'time' must be datetime64 for PET; got dtype {ds['time'].dtype}")
    site = _site_dim(ds)
    lat = ds["lat"].astype("float64")
    doy = ds["time"].dt.dayofyear

    if method == "hargreaves":
        tmin = _temperature(ds, "tmin")
        tmax = _temperature(ds, "tmax")
        pet = hargreaves(tmin, tmax, lat, doy)
        long_name = "potential evapotranspiration (Hargreaves-Samani 1985, FAO-56 eq. 52)"
    else:
        if "tmean" in ds:
            tmean = _temperature(ds, "tmean")
        elif "tmin" in ds and "tmax" in ds:
            tmean = 0.5 * (_temperature(ds, "tmin") + _temperature(ds, "tmax"))
        else:
            raise DataFormatError(
                "dataset has no variable 'tmean' (nor both 'tmin' and 'tmax' to average); needed for Oudin PET"
            )
        pet = oudin(tmean, lat, doy)
        long_name = "potential evapotranspiration (Oudin et al. 2005)"

    pet = pet.transpose(site, "time", ...)
    pet.name = "pet"
    pet.attrs = {"units": "mm/day", "long_name": long_name, "method": method}
    return pet

"""Potential evapotranspiration (PET, mm/day): every formula of the project in one place.

Temperature-based (for the streamflow experiments and the synthetic twin)
-----------------------------------------------------------------------
Driven by the daily extraterrestrial radiation ``Ra`` (MJ m-2 day-1, FAO-56 eqs. 21-25,
:func:`extraterrestrial_radiation`):

* :func:`hargreaves` -- Hargreaves & Samani (1985), FAO-56 eq. 52, from daily ``tmin`` and
  ``tmax`` (degC): ``PET = 0.0023 Ra/lambda (Tmean + 17.8) sqrt(Tmax - Tmin)``;
* :func:`oudin` -- Oudin et al. (2005, J. Hydrol. 303:290), from the daily mean temperature
  only (e.g. CAMELS-GB, where no daily PET is distributed): ``PET = Ra/lambda (T + 5) / 100``;
* :func:`pet_for_dataset` -- either of them for every site and day of an analysis-ready
  dataset, always ``(site, time)``.

Radiation-based (for the VIC-style model, from NLDAS-2-type daily means)
-----------------------------------------------------------------------
Inputs: ``tmean_c`` air temperature at 2 m (degC), ``dswrf``/``dlwrf`` downward short-/long-wave
radiation at the surface (W/m2), ``spfh`` specific humidity at 2 m (kg/kg), ``wind_u``,
``wind_v`` wind components at 10 m (m/s, NLDAS-2 ``ugrd``/``vgrd``), ``pressure_kpa``
surface air pressure (kPa, default 101.3 = sea level; :func:`atmospheric_pressure` gives an
elevation-based value).

* saturation vapour pressure ``e0(T) = 0.6108 exp(17.27 T / (T + 237.3))`` kPa (FAO-56 eq. 11)
  and its slope ``Delta = 4098 e0(T) / (T + 237.3)**2`` kPa/degC (eq. 13);
* psychrometric constant ``gamma = 0.665e-3 P`` kPa/degC (eq. 8);
* actual vapour pressure from specific humidity ``e = q P / (0.622 + 0.378 q)`` kPa
  (``q = 0.622 e / (P - 0.378 e)`` solved for ``e``);
* net radiation ``Rn = (1 - albedo) dswrf + dlwrf - eps sigma (T + 273.15)**4`` W/m2 with the
  surface emissivity ``eps = 0.97``, ``sigma = 5.670374419e-8`` W m-2 K-4 and the surface
  temperature taken equal to the air temperature, times 0.0864 to MJ m-2 day-1
  (86 400 s/day / 1e6 J/MJ); the soil heat flux ``G`` is 0 at the daily step (eq. 42);
* :func:`priestley_taylor` -- Priestley & Taylor (1972):
  ``PET = alpha Delta / (Delta + gamma) Rn / lambda``, ``alpha = 1.26``;
* :func:`penman_monteith_fao56` -- FAO-56 reference crop (eq. 6, ``G = 0``):
  ``ET0 = (Delta Rn / lambda + gamma 900 / (T + 273) u2 (es - ea)) / (Delta + gamma (1 + 0.34 u2))``
  with ``u2 = |u10| 4.87 / ln(67.8 * 10 - 5.42)`` (eq. 47, ``|u10| = sqrt(ugrd**2 + vgrd**2)``)
  and ``es = e0(Tmean)``;
* :func:`brutsaert_longwave` -- clear-sky downward long-wave radiation (W/m2) where a grid
  has none (Brutsaert 1975): ``1.24 (e_a / T)**(1/7) sigma T**4``, ``e_a`` in hPa, ``T`` in K.

Both PET results are clipped at 0 (net long-wave loss exceeding the absorbed short-wave
radiation, e.g. winter nights at high latitude; dew is not modelled).

Energy to depth
---------------
Radiation is converted to an evaporation depth with the latent heat of vaporisation
``LAMBDA = 2.45 MJ/kg`` and the density of water ``RHO_WATER = 1000 kg/m3``:
``E [mm/day] = energy [MJ m-2 day-1] / (lambda rho) [m/day] * 1000 = energy / 2.45`` (FAO-56
writes this factor rounded as 0.408; here ``1 / 2.45`` exactly).

Choices and limits
------------------
* Only the daily mean temperature enters the radiation-based formulas, so ``es = e0(Tmean)``;
  FAO-56 recommends the mean of ``e0(Tmax)`` and ``e0(Tmin)``, which is larger (``e0`` is
  convex), so the vapour-pressure deficit and ET0 come out somewhat low in climates with a
  large diurnal range. The deficit ``es - ea`` is clipped at 0 (daily-mean humidity can
  exceed ``e0(Tmean)``).
* The long-wave emission uses the air temperature for the surface; with a daily mean this
  misses the diurnal cycle (``T**4`` is convex too).
* ``albedo = 0.23`` is FAO-56's grass reference; ``pressure_kpa`` defaults to sea level.

Array types and broadcasting
----------------------------
The temperature-based functions take scalars, NumPy arrays or xarray DataArrays. NumPy
inputs follow NumPy's broadcasting rules, so for a ``(site, time)`` result pass
``lat[:, None]`` and ``doy[None, :]``. DataArrays broadcast by dimension name, so ``lat`` with
dim ``basin`` and ``doy`` with dim ``time`` give a ``(basin, time)`` result (ordered: ``lat``'s
dims, then ``doy``'s, then any others).

The radiation-based functions take floats, NumPy arrays, xarray DataArrays (through NumPy
ufuncs) or torch tensors and return the same kind. With torch, the result is differentiable
and takes the dtype/device of the first tensor argument; NaN inputs give NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..data.errors import DataFormatError

__all__ = [
    "SOLAR_CONSTANT",
    "LAMBDA",
    "RHO_WATER",
    "STEFAN_BOLTZMANN",
    "SURFACE_EMISSIVITY",
    "W_M2_TO_MJ_M2_DAY",
    "PET_METHODS",
    "extraterrestrial_radiation",
    "radiation_to_mm",
    "hargreaves",
    "oudin",
    "pet_for_dataset",
    "atmospheric_pressure",
    "saturation_vapour_pressure",
    "saturation_slope",
    "psychrometric_constant",
    "vapour_pressure_from_specific_humidity",
    "wind_speed_2m",
    "net_radiation",
    "brutsaert_longwave",
    "priestley_taylor",
    "penman_monteith_fao56",
]

#: Solar constant G_sc in MJ m-2 min-1 (FAO-56).
SOLAR_CONSTANT = 0.0820
#: Latent heat of vaporisation, MJ/kg (FAO-56 value).
LAMBDA = 2.45
#: Density of liquid water, kg/m3.
RHO_WATER = 1000.0
#: Stefan-Boltzmann constant, W m-2 K-4.
STEFAN_BOLTZMANN = 5.670374419e-8
#: Emissivity of the land surface used for the outgoing long-wave radiation.
SURFACE_EMISSIVITY = 0.97
#: A daily mean flux of 1 W/m2 is 86 400 J m-2 day-1 = 0.0864 MJ m-2 day-1.
W_M2_TO_MJ_M2_DAY = 0.0864
#: Methods understood by :func:`pet_for_dataset`.
PET_METHODS = ("hargreaves", "oudin")

_KELVIN = 273.15
#: FAO-56 eq. 47 for a 10 m measurement height: u2 = u10 * 4.87 / ln(67.8 * 10 - 5.42).
_U10_TO_U2 = 4.87 / math.log(67.8 * 10.0 - 5.42)
#: Stefan-Boltzmann constant as :func:`brutsaert_longwave` has always used it, rounded to
#: 5.670374e-8 W m-2 K-4 (7e-9 relative below :data:`STEFAN_BOLTZMANN`); kept so that the
#: estimated long-wave radiation, and every PET computed from it, stays bit-identical.
_BRUTSAERT_SIGMA = 5.670374e-8
_CELSIUS_UNITS = {"degc", "deg c", "degree_celsius", "degrees_celsius", "celsius", "°c", "c"}


# =============================================================================================
# Temperature-based PET (NumPy / xarray)
# =============================================================================================

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


def pet_for_dataset(ds: xr.Dataset, method: str = "hargreaves", *, lat_dtype: str | None = "float64") -> xr.DataArray:
    """Daily PET (mm/day) for every site and day of an analysis-ready dataset.

    Uses ``ds.time``'s day of year and ``ds.lat`` (degrees, cast to ``lat_dtype`` first;
    ``None`` keeps the stored dtype, float32 in the project's NetCDF files, which changes
    PET at the ~1e-7 relative level). ``method="hargreaves"`` reads ``tmin`` and ``tmax``
    (degC); ``method="oudin"`` reads ``tmean`` or, if the dataset has only ``tmin`` and
    ``tmax``, their mean. Returns a DataArray named ``pet`` with dims ``(site, time)``
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
    lat = ds["lat"] if lat_dtype is None else ds["lat"].astype(lat_dtype)
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


# =============================================================================================
# Radiation-based PET (NumPy / xarray / torch)
# =============================================================================================

class _Ops:
    """The handful of array functions used here, for NumPy (also xarray, floats) or torch."""

    def __init__(self, args: tuple) -> None:
        self.ref = next((a for a in args if isinstance(a, torch.Tensor)), None)

    @property
    def torch(self) -> bool:
        return self.ref is not None

    def arr(self, x: Any) -> Any:
        """A float or array argument as a tensor of the reference dtype/device (torch only)."""
        if self.ref is None or isinstance(x, torch.Tensor):
            return x
        return torch.as_tensor(x, dtype=self.ref.dtype, device=self.ref.device)

    def exp(self, x):
        return torch.exp(x) if self.torch else np.exp(x)

    def sqrt(self, x):
        return torch.sqrt(x) if self.torch else np.sqrt(x)

    def clip0(self, x):
        """``max(x, 0)`` keeping NaN."""
        return torch.clamp(x, min=0.0) if self.torch else np.maximum(x, 0.0)


def _ops(*args: Any) -> tuple[_Ops, list]:
    ops = _Ops(args)
    return ops, [ops.arr(a) for a in args]


def atmospheric_pressure(elevation_m: Any) -> Any:
    """Mean air pressure (kPa) at ``elevation_m`` metres above sea level (FAO-56 eq. 7).

    ``P = 101.3 ((293 - 0.0065 z) / 293) ** 5.26``.
    """
    ops, (z,) = _ops(elevation_m)
    return 101.3 * ((293.0 - 0.0065 * z) / 293.0) ** 5.26


def saturation_vapour_pressure(tmean_c: Any) -> Any:
    """``e0(T) = 0.6108 exp(17.27 T / (T + 237.3))`` in kPa, ``T`` in degC (FAO-56 eq. 11)."""
    ops, (t,) = _ops(tmean_c)
    return 0.6108 * ops.exp(17.27 * t / (t + 237.3))


def saturation_slope(tmean_c: Any) -> Any:
    """Slope of the saturation vapour-pressure curve, kPa/degC (FAO-56 eq. 13)."""
    ops, (t,) = _ops(tmean_c)
    return 4098.0 * saturation_vapour_pressure(t) / (t + 237.3) ** 2


def psychrometric_constant(pressure_kpa: Any = 101.3) -> Any:
    """``gamma = cp P / (0.622 lambda) = 0.665e-3 P`` kPa/degC, ``P`` in kPa (FAO-56 eq. 8)."""
    return 0.665e-3 * pressure_kpa


def vapour_pressure_from_specific_humidity(spfh: Any, pressure_kpa: Any = 101.3) -> Any:
    """Actual vapour pressure (kPa) from specific humidity ``q`` (kg/kg): ``q P / (0.622 + 0.378 q)``."""
    ops, (q, p) = _ops(spfh, pressure_kpa)
    return q * p / (0.622 + 0.378 * q)


def wind_speed_2m(wind_u: Any, wind_v: Any) -> Any:
    """Wind speed at 2 m (m/s) from the 10 m components (FAO-56 eq. 47 log profile, factor 0.748)."""
    ops, (u, v) = _ops(wind_u, wind_v)
    return ops.sqrt(u * u + v * v) * _U10_TO_U2


def net_radiation(tmean_c: Any, dswrf: Any, dlwrf: Any, albedo: float = 0.23) -> Any:
    """Net radiation in MJ m-2 day-1 (may be negative).

    ``((1 - albedo) dswrf + dlwrf - 0.97 sigma (T + 273.15)**4) x 0.0864`` with the fluxes in W/m2.
    """
    ops, (t, sw, lw) = _ops(tmean_c, dswrf, dlwrf)
    tk = t + _KELVIN
    rn_w = (1.0 - albedo) * sw + lw - SURFACE_EMISSIVITY * STEFAN_BOLTZMANN * tk**4
    return rn_w * W_M2_TO_MJ_M2_DAY


def brutsaert_longwave(tmean_c: Any, spfh: Any, pressure_kpa: Any = 101.3) -> Any:
    """Clear-sky downward long-wave radiation in W/m2 (Brutsaert 1975).

    ``L = 1.24 (e_a / T)**(1/7) sigma T**4`` with the air temperature ``T = tmean_c + 273.15``
    (K), the vapour pressure ``e_a`` (hPa) from specific humidity ``spfh`` (kg/kg) at
    ``pressure_kpa`` (kPa), and ``sigma = 5.670374e-8`` W m-2 K-4. Used where a grid has no
    ``dlwrf`` (e.g. the synthetic twin).
    """
    ops, (t, q, p) = _ops(tmean_c, spfh, pressure_kpa)
    t_k = t + _KELVIN
    e_hpa = 10.0 * vapour_pressure_from_specific_humidity(q, p)  # kPa -> hPa
    return 1.24 * (e_hpa / t_k) ** (1 / 7) * _BRUTSAERT_SIGMA * t_k**4


def priestley_taylor(
    tmean_c: Any,
    dswrf: Any,
    dlwrf: Any,
    spfh: Any = None,
    pressure_kpa: Any = 101.3,
    albedo: float = 0.23,
    alpha: float = 1.26,
) -> Any:
    """Priestley-Taylor potential evapotranspiration in mm/day, clipped at 0.

    ``PET = alpha Delta / (Delta + gamma) Rn / lambda`` (see the module docstring for each term).
    ``spfh`` (kg/kg) is accepted for a uniform call signature with
    :func:`penman_monteith_fao56` but not used: the formula has no humidity term.

    Parameters
    ----------
    tmean_c: daily mean air temperature, degC.
    dswrf, dlwrf: daily mean downward short- and long-wave radiation, W/m2.
    spfh: specific humidity, kg/kg (unused).
    pressure_kpa: surface pressure, kPa.
    albedo: surface short-wave albedo (-).
    alpha: Priestley-Taylor coefficient (-).
    """
    ops, (t, sw, lw, p) = _ops(tmean_c, dswrf, dlwrf, pressure_kpa)
    delta = saturation_slope(t)
    gamma = psychrometric_constant(p)
    rn = net_radiation(t, sw, lw, albedo)
    return ops.clip0(alpha * delta / (delta + gamma) * rn / LAMBDA)


def penman_monteith_fao56(
    tmean_c: Any,
    dswrf: Any,
    dlwrf: Any,
    spfh: Any,
    wind_u: Any,
    wind_v: Any,
    pressure_kpa: Any = 101.3,
    albedo: float = 0.23,
) -> Any:
    """FAO-56 Penman-Monteith reference evapotranspiration (grass, daily, ``G = 0``) in mm/day, clipped at 0.

    ``ET0 = (Delta Rn / lambda + gamma 900 / (T + 273) u2 (es - ea)) / (Delta + gamma (1 + 0.34 u2))``
    with ``es = e0(T)``, ``ea`` from specific humidity, ``u2`` from the 10 m wind components
    (see the module docstring; the 900 / (T + 273) term is FAO-56's, with 273 not 273.15).

    Parameters
    ----------
    tmean_c: daily mean air temperature, degC.
    dswrf, dlwrf: daily mean downward short- and long-wave radiation, W/m2.
    spfh: specific humidity, kg/kg.
    wind_u, wind_v: wind components at 10 m, m/s.
    pressure_kpa: surface pressure, kPa.
    albedo: surface short-wave albedo (-).
    """
    ops, (t, sw, lw, q, u, v, p) = _ops(tmean_c, dswrf, dlwrf, spfh, wind_u, wind_v, pressure_kpa)
    delta = saturation_slope(t)
    gamma = psychrometric_constant(p)
    rn = net_radiation(t, sw, lw, albedo)
    u2 = wind_speed_2m(u, v)
    vpd = ops.clip0(saturation_vapour_pressure(t) - vapour_pressure_from_specific_humidity(q, p))
    numerator = delta * rn / LAMBDA + gamma * 900.0 / (t + 273.0) * u2 * vpd
    return ops.clip0(numerator / (delta + gamma * (1.0 + 0.34 * u2)))

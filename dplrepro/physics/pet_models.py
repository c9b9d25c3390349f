"""Potential evapotranspiration (mm/day) from NLDAS-type daily forcing: radiation, humidity, wind.

Companion of the VIC-style model (:mod:`dplrepro.physics.vic_style`), which takes PET as a
forcing: compute it here, outside the process model, from the daily means that the SMAP /
NLDAS-2 reader delivers. (The temperature-only formulas -- Hargreaves, Oudin -- live in
:mod:`dplrepro.data.pet`.)

Inputs and units (daily means, as after the project's NLDAS-2 reader)
--------------------------------------------------------------------
* ``tmean_c``  air temperature at 2 m, degC
* ``dswrf``    downward short-wave radiation at the surface, W/m2
* ``dlwrf``    downward long-wave radiation at the surface, W/m2
* ``spfh``     specific humidity at 2 m, kg/kg
* ``wind_u``, ``wind_v``  wind components at 10 m, m/s (NLDAS-2 ``ugrd``/``vgrd``)
* ``pressure_kpa``  surface air pressure, kPa (default 101.3, sea level; see
  :func:`atmospheric_pressure` for an elevation-based value)

Equations (FAO-56 = Allen et al. 1998, FAO Irrigation and Drainage Paper 56)
--------------------------------------------------------------------------
* saturation vapour pressure ``e0(T) = 0.6108 exp(17.27 T / (T + 237.3))`` kPa (eq. 11)
* its slope ``Delta = 4098 e0(T) / (T + 237.3)**2`` kPa/degC (eq. 13)
* psychrometric constant ``gamma = 0.665e-3 P`` kPa/degC (eq. 8; ``P`` in kPa)
* actual vapour pressure from specific humidity ``e = q P / (0.622 + 0.378 q)`` kPa
  (``q = 0.622 e / (P - 0.378 e)`` solved for ``e``)
* net radiation ``Rn = (1 - albedo) dswrf + dlwrf - eps sigma (T + 273.15)**4`` W/m2, with the
  surface emissivity ``eps = 0.97``, ``sigma = 5.670374419e-8`` W m-2 K-4 and the surface
  temperature taken equal to the air temperature; converted to MJ m-2 day-1 by ``x 0.0864``
  (86 400 s/day / 1e6 J/MJ)
* latent heat of vaporisation ``lambda = 2.45`` MJ/kg, so ``E [mm/day] = energy [MJ m-2 day-1]
  / 2.45`` (FAO-56 writes this factor rounded as 0.408; here ``1 / 2.45`` exactly, as in
  :mod:`dplrepro.data.pet`)
* the soil heat flux ``G`` is 0 at the daily step (FAO-56 eq. 42)

Priestley & Taylor (1972):
    ``PET = alpha Delta / (Delta + gamma) Rn / lambda``,  ``alpha = 1.26``

FAO-56 reference crop (eq. 6, ``G = 0``):
    ``ET0 = (Delta Rn / lambda + gamma 900 / (T + 273) u2 (es - ea)) / (Delta + gamma (1 + 0.34 u2))``
    with the wind speed at 2 m ``u2 = |u10| 4.87 / ln(67.8 * 10 - 5.42)`` (eq. 47, log profile,
    ``|u10| = sqrt(ugrd**2 + vgrd**2)``) and ``es = e0(Tmean)``.

Both results are clipped at 0 (negative values: net long-wave loss exceeding the absorbed
short-wave radiation, e.g. winter nights at high latitude; dew is not modelled).

Choices and limits
------------------
* Only the daily mean temperature is used, so ``es = e0(Tmean)``; FAO-56 recommends the mean of
  ``e0(Tmax)`` and ``e0(Tmin)``, which is larger (``e0`` is convex), so the vapour-pressure deficit
  and ET0 come out somewhat low in climates with a large diurnal range. The deficit
  ``es - ea`` is clipped at 0 (daily-mean humidity can exceed ``e0(Tmean)``).
* The long-wave emission uses the air temperature for the surface; with a daily mean this
  misses the diurnal cycle (``T**4`` is convex too).
* ``albedo = 0.23`` is FAO-56's grass reference; ``pressure_kpa`` defaults to sea level.

Array types
-----------
Every function takes floats, NumPy arrays, xarray DataArrays (through NumPy ufuncs) or torch
tensors and returns the same kind; broadcasting follows the library's rules. With torch, the
result is differentiable and takes the dtype/device of the first tensor argument; NaN inputs
give NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

__all__ = [
    "LAMBDA",
    "STEFAN_BOLTZMANN",
    "SURFACE_EMISSIVITY",
    "W_M2_TO_MJ_M2_DAY",
    "atmospheric_pressure",
    "saturation_vapour_pressure",
    "saturation_slope",
    "psychrometric_constant",
    "vapour_pressure_from_specific_humidity",
    "wind_speed_2m",
    "net_radiation",
    "priestley_taylor",
    "penman_monteith_fao56",
]

#: Latent heat of vaporisation, MJ/kg (FAO-56).
LAMBDA = 2.45
#: Stefan-Boltzmann constant, W m-2 K-4.
STEFAN_BOLTZMANN = 5.670374419e-8
#: Emissivity of the land surface used for the outgoing long-wave radiation.
SURFACE_EMISSIVITY = 0.97
#: A daily mean flux of 1 W/m2 is 86 400 J m-2 day-1 = 0.0864 MJ m-2 day-1.
W_M2_TO_MJ_M2_DAY = 0.0864
_KELVIN = 273.15
#: FAO-56 eq. 47 for a 10 m measurement height: u2 = u10 * 4.87 / ln(67.8 * 10 - 5.42).
_U10_TO_U2 = 4.87 / math.log(67.8 * 10.0 - 5.42)


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

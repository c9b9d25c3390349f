"""Deterministic synthetic "twin" data with known true parameters.

This module is the project's embedded default data when the real archives are absent, and
the ground truth of twin experiments: forcings and static attributes are generated, hidden
*true* parameters are computed from the attributes by a fixed, documented *true transfer
function*, and a reference simulator turns forcings + true parameters into observations
(plus noise and gaps). A parameter-learning method is then judged on whether it recovers
the observations *and* the hidden parameters.

Two generators mimic the real analysis-ready schemas (``shared/data/README.md``):

* :func:`make_virtual_basins` -- the ``camels_us.nc`` subset: dims ``(basin, time)``,
  ``prcp``/``qobs`` mm/day, ``tmax``/``tmin`` degC, ``lat``, ``lon``, ``area_km2``,
  ``in_531``, ``attr_*`` static attributes;
* :func:`make_virtual_grid` -- ``smap_conus.nc`` after unit conversion: dims ``(cell,
  time)``, ``prcp`` mm/day, ``tmean`` degC, ``dswrf`` W/m2, ``spfh`` kg/kg, ``smap_am`` m3/m3
  with a 2-3-day revisit, ``lat``, ``lon``, ``row``, ``col``, ``sand``/``clay``/``silt``
  (percent), ``ndvi``, ``capa``, ``bulk``.

Both add ``true_<PARAM>`` (hidden parameters, per site) and a noise-free truth
(``q_true`` / ``smap_true``, not present in real data), and global attributes
``data_source``, ``seed``, ``true_transfer_function`` and ``simulator``.

Reference simulators (the twin's "truth" models)
------------------------------------------------
The project's HBV and VIC-style models are passed in through ``simulator=`` (a
:class:`TwinSimulator`). Until then two small NumPy models serve as reference:

* :func:`bucket_streamflow_model` -- degree-day snow, HBV-like nonlinear soil bucket and two
  linear reservoirs; parameters in :data:`BUCKET_PARAMETERS`;
* :func:`surface_soil_moisture_model` -- a single 0-5 cm layer with VIC-like variable
  infiltration and drainage above field capacity; parameters in
  :data:`SOIL_MOISTURE_PARAMETERS`.

Both take arrays laid out ``[time, site]`` (the project's model convention), loop over time
only, and close the water balance exactly (up to float rounding).

Random numbers
--------------
Every component draws from its own stream ``np.random.default_rng([seed, crc32(name)])``,
so the output depends only on the arguments (bitwise-identical for the same arguments) and
changing one component does not reshuffle the others.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np
import pandas as pd
import xarray as xr
from scipy.signal import lfilter

from .pet import extraterrestrial_radiation, hargreaves, oudin

__all__ = [
    "DATA_SOURCE",
    "ParameterBounds",
    "BUCKET_PARAMETERS",
    "SOIL_MOISTURE_PARAMETERS",
    "SOIL_LAYER_DEPTH_MM",
    "THETA_RESIDUAL",
    "SURFACE_ET_FRACTION",
    "SOIL_SNOW_TT",
    "SOIL_SNOW_CFMAX",
    "bucket_streamflow_model",
    "surface_soil_moisture_model",
    "TwinSimulator",
    "bounds_table",
    "BUCKET_SIMULATOR",
    "SOIL_MOISTURE_SIMULATOR",
    "BASIN_ATTRIBUTE_SCALING",
    "GRID_ATTRIBUTE_SCALING",
    "TRUE_TRANSFER_BASINS",
    "TRUE_TRANSFER_GRID",
    "normalise_attributes",
    "true_parameters",
    "describe_transfer",
    "smooth_field",
    "make_virtual_basins",
    "make_virtual_grid",
]

DATA_SOURCE = "synthetic twin (dplrepro.data.synthetic)"


class ParameterBounds(NamedTuple):
    """One row of a parameter table: ``(low, high, unit, description)``."""

    low: float
    high: float
    unit: str
    description: str


# =============================================================================================
# Reference simulator 1: snow + soil bucket + two linear reservoirs -> streamflow
# =============================================================================================

#: Parameters of :func:`bucket_streamflow_model` (name -> low, high, unit, description).
BUCKET_PARAMETERS: dict[str, ParameterBounds] = {
    "TT": ParameterBounds(-2.5, 2.5, "degC", "threshold temperature: snowfall below, snowmelt above"),
    "CFMAX": ParameterBounds(0.5, 7.0, "mm/degC/day", "degree-day snowmelt factor"),
    "FC": ParameterBounds(50.0, 600.0, "mm", "capacity (field capacity) of the soil bucket"),
    "BETA": ParameterBounds(1.0, 6.0, "-", "recharge shape: recharge/input = (SM/FC)^BETA"),
    "LP": ParameterBounds(0.2, 1.0, "-", "fraction of FC above which ET is at the potential rate"),
    "K1": ParameterBounds(0.05, 0.9, "1/day", "recession coefficient of the quick (upper) reservoir"),
    "K2": ParameterBounds(0.002, 0.15, "1/day", "recession coefficient of the slow (lower) reservoir"),
    "PERC": ParameterBounds(0.0, 6.0, "mm/day", "maximum percolation from the upper to the lower reservoir"),
}

_BUCKET_STATES = ("snow", "sm", "suz", "slz")


def _as_time_site(name: str, x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a [time, site] (or [time]) array; got shape {a.shape}")
    return a


def _prepare(forcings: dict[str, Any], params: Mapping[str, Any], table: Mapping[str, ParameterBounds]):
    arrays = {k: _as_time_site(k, v) for k, v in forcings.items()}
    shapes = {k: v.shape for k, v in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"forcings must have the same [time, site] shape; got {shapes}")
    n_time, n_site = next(iter(shapes.values()))
    missing = [p for p in table if p not in params]
    extra = [p for p in params if p not in table]
    if missing or extra:
        raise ValueError(f"params must be exactly {list(table)}; missing {missing}, unknown {extra}")
    p = {}
    for name in table:
        v = np.asarray(params[name], dtype=np.float64)
        if v.ndim > 1 or (v.ndim == 1 and v.shape[0] != n_site):
            raise ValueError(f"parameter {name} must be a scalar or have one value per site ({n_site}); got shape {v.shape}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"parameter {name} has non-finite values")
        p[name] = np.broadcast_to(v, (n_site,)).copy()
    return arrays, p, n_time, n_site


def _require(cond: np.ndarray, message: str) -> None:
    if not np.all(cond):
        raise ValueError(message)


def bucket_streamflow_model(
    prcp: Any,
    tmean: Any,
    pet: Any,
    params: Mapping[str, Any],
    initial_state: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Reference streamflow model of the twin (HBV-like, daily, vectorised over sites).

    Inputs are ``[time, site]`` arrays (a 1-D array is one site): ``prcp`` mm/day,
    ``tmean`` degC, ``pet`` mm/day; ``params`` maps every name of
    :data:`BUCKET_PARAMETERS` to a scalar or a ``(site,)`` array. The table's bounds are the
    sampling/learning range; the model itself only requires physically valid values
    (``FC > 0``, ``0 < LP <= 1``, ``0 <= K1, K2 <= 1``, ``BETA > 0``, ``CFMAX, PERC >= 0``).

    Each day, in this order (storages in mm)::

        rain = P if T > TT else 0;  snowfall = P - rain;   SNOW += snowfall
        melt = min(CFMAX * max(T - TT, 0), SNOW);           SNOW -= melt
        input = rain + melt
        recharge = input * min(SM / FC, 1)^BETA;  SM += input - recharge
        excess = max(SM - FC, 0);                 SM -= excess
        ET = min(PET * min(SM / (LP * FC), 1), SM);          SM -= ET
        SUZ += recharge + excess
        perc = min(PERC, SUZ);                    SUZ -= perc;  SLZ += perc
        Q1 = K1 * SUZ;  Q2 = K2 * SLZ;            SUZ -= Q1;    SLZ -= Q2
        Q = Q1 + Q2

    so ``sum(P) - sum(ET) - sum(Q) - (S_end - S_0) = 0`` with ``S = SNOW + SM + SUZ + SLZ``.

    ``initial_state`` maps ``snow``, ``sm``, ``suz``, ``slz`` (mm) to scalars or ``(site,)``
    arrays; default: no snow, ``SM = 0.5 FC``, empty reservoirs.

    Returns
    -------
    dict of ``[time, site]`` arrays (input shape kept): ``q`` (streamflow, mm/day),
    ``q_quick``, ``q_slow``, ``et``, ``rain``, ``snowfall``, ``melt``, ``recharge``,
    ``perc``, the end-of-day states ``snow``, ``sm``, ``suz``, ``slz`` and their sum
    ``storage``; plus ``storage_initial`` (``(site,)``).
    """
    one_d = np.ndim(prcp) == 1
    f, p, n_time, n_site = _prepare({"prcp": prcp, "tmean": tmean, "pet": pet}, params, BUCKET_PARAMETERS)
    _require(p["FC"] > 0, "parameter FC must be > 0")
    _require((p["LP"] > 0) & (p["LP"] <= 1), "parameter LP must be in (0, 1]")
    _require((p["K1"] >= 0) & (p["K1"] <= 1), "parameter K1 must be in [0, 1] (1/day)")
    _require((p["K2"] >= 0) & (p["K2"] <= 1), "parameter K2 must be in [0, 1] (1/day)")
    _require(p["BETA"] > 0, "parameter BETA must be > 0")
    _require(p["CFMAX"] >= 0, "parameter CFMAX must be >= 0")
    _require(p["PERC"] >= 0, "parameter PERC must be >= 0")
    P, T, E = f["prcp"], f["tmean"], f["pet"]
    for name, a in (("prcp", P), ("pet", E)):
        _require(np.isfinite(a) & (a >= 0), f"{name} must be finite and non-negative (mm/day)")
    _require(np.isfinite(T), "tmean must be finite")

    init = {"snow": 0.0, "sm": 0.5 * p["FC"], "suz": 0.0, "slz": 0.0}
    if initial_state:
        unknown = [k for k in initial_state if k not in _BUCKET_STATES]
        if unknown:
            raise ValueError(f"unknown initial states {unknown}; expected {_BUCKET_STATES}")
        init.update(initial_state)
    snow, sm, suz, slz = (np.broadcast_to(np.asarray(init[k], dtype=np.float64), (n_site,)).copy() for k in _BUCKET_STATES)
    storage0 = snow + sm + suz + slz

    names = ("q", "q_quick", "q_slow", "et", "rain", "snowfall", "melt", "recharge", "perc") + _BUCKET_STATES
    out = {k: np.empty((n_time, n_site)) for k in names}
    TT, CFMAX, FC, BETA, LP, K1, K2, PERC = (p[k] for k in BUCKET_PARAMETERS)
    lp_fc = LP * FC
    for t in range(n_time):
        pt, tt = P[t], T[t]
        rain = np.where(tt > TT, pt, 0.0)
        snowfall = pt - rain
        snow = snow + snowfall
        melt = np.minimum(CFMAX * np.maximum(tt - TT, 0.0), snow)
        snow = snow - melt
        inp = rain + melt
        recharge = inp * np.minimum(sm / FC, 1.0) ** BETA
        sm = sm + inp - recharge
        excess = np.maximum(sm - FC, 0.0)
        sm = sm - excess
        et = np.minimum(E[t] * np.minimum(sm / lp_fc, 1.0), sm)
        sm = sm - et
        suz = suz + recharge + excess
        perc = np.minimum(PERC, suz)
        suz = suz - perc
        slz = slz + perc
        q1 = K1 * suz
        q2 = K2 * slz
        suz = suz - q1
        slz = slz - q2
        o = out
        o["q"][t] = q1 + q2
        o["q_quick"][t] = q1
        o["q_slow"][t] = q2
        o["et"][t] = et
        o["rain"][t] = rain
        o["snowfall"][t] = snowfall
        o["melt"][t] = melt
        o["recharge"][t] = recharge + excess
        o["perc"][t] = perc
        o["snow"][t] = snow
        o["sm"][t] = sm
        o["suz"][t] = suz
        o["slz"][t] = slz
    out["storage"] = out["snow"] + out["sm"] + out["suz"] + out["slz"]
    if one_d:
        out = {k: v[:, 0] for k, v in out.items()}
        out["storage_initial"] = storage0[0]
    else:
        out["storage_initial"] = storage0
    return out


# =============================================================================================
# Reference simulator 2: single surface layer -> volumetric soil moisture
# =============================================================================================

#: Parameters of :func:`surface_soil_moisture_model` (name -> low, high, unit, description).
SOIL_MOISTURE_PARAMETERS: dict[str, ParameterBounds] = {
    "POROSITY": ParameterBounds(0.30, 0.55, "m3/m3", "saturated volumetric water content of the surface layer"),
    "FC_FRAC": ParameterBounds(0.40, 0.85, "-", "field capacity as a fraction of POROSITY"),
    "INFILT": ParameterBounds(0.05, 1.5, "-",
                            "VIC-like infiltration shape: saturated fraction = 1 - (1 - theta/POROSITY)^INFILT; "
                            "larger means more surface runoff"),
    "DRAIN_K": ParameterBounds(0.02, 0.6, "1/day", "drainage rate of water above field capacity"),
}
#: Thickness of the simulated surface layer (SMAP senses about the top 5 cm), mm.
SOIL_LAYER_DEPTH_MM = 50.0
#: Residual water content below which the layer does not evaporate, m3/m3.
THETA_RESIDUAL = 0.03
#: Fraction of PET that the surface layer can supply (the rest of ET comes from deeper roots).
SURFACE_ET_FRACTION = 0.6
#: Fixed snow threshold temperature of the soil-moisture model, degC.
SOIL_SNOW_TT = 0.0
#: Fixed degree-day melt factor of the soil-moisture model, mm/degC/day.
SOIL_SNOW_CFMAX = 3.0


def surface_soil_moisture_model(
    prcp: Any,
    tmean: Any,
    pet: Any,
    params: Mapping[str, Any],
    initial_state: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Reference surface soil-moisture model of the twin (daily, vectorised over sites).

    One layer of depth ``D = SOIL_LAYER_DEPTH_MM`` holding ``W`` mm of water
    (``theta = W / D``), with ``Wsat = POROSITY * D``, ``Wfc = FC_FRAC * Wsat`` and
    ``Wr = THETA_RESIDUAL * D`` and ``c = SURFACE_ET_FRACTION`` (the share of PET the
    surface layer supplies; the rest of ET is drawn by roots from deeper soil). Inputs are ``[time, site]`` (``prcp`` mm/day, ``tmean``
    degC, ``pet`` mm/day); ``params`` maps every name of :data:`SOIL_MOISTURE_PARAMETERS`
    to a scalar or ``(site,)`` array. Each day::

        snow/melt with fixed TT = 0 degC, CFMAX = 3 mm/degC/day  ->  liquid input L
        runoff = L * (1 - (1 - W/Wsat)^INFILT)       (saturated-area fraction, VIC-like)
        W += L - runoff;  overflow = max(W - Wsat, 0);  W -= overflow;  runoff += overflow
        ET = min(c * PET * clip((W - Wr)/(Wfc - Wr), 0, 1), max(W - Wr, 0));  W -= ET
        drainage = DRAIN_K * max(W - Wfc, 0);  W -= drainage

    so ``sum(P) = sum(ET) + sum(runoff) + sum(drainage) + (S_end - S_0)`` with
    ``S = SNOW + W``. ``initial_state``: ``snow`` (mm) and ``theta`` (m3/m3); default no
    snow and ``theta`` at field capacity.

    Returns
    -------
    dict of ``[time, site]`` arrays: ``theta`` (m3/m3, end of day), ``w`` (mm), ``snow``,
    ``et``, ``runoff``, ``drainage``, ``melt``, ``storage`` (``SNOW + W``); plus
    ``storage_initial`` (``(site,)``).
    """
    one_d = np.ndim(prcp) == 1
    f, p, n_time, n_site = _prepare({"prcp": prcp, "tmean": tmean, "pet": pet}, params, SOIL_MOISTURE_PARAMETERS)
    _require((p["POROSITY"] > THETA_RESIDUAL) & (p["POROSITY"] <= 1), f"parameter POROSITY must be in ({THETA_RESIDUAL}, 1]")
    fc_theta = p["FC_FRAC"] * p["POROSITY"]
    _require((p["FC_FRAC"] > 0) & (p["FC_FRAC"] <= 1) & (fc_theta > THETA_RESIDUAL),
             f"parameter FC_FRAC must be in (0, 1] with FC_FRAC * POROSITY > {THETA_RESIDUAL}")
    _require(p["INFILT"] > 0, "parameter INFILT must be > 0")
    _require((p["DRAIN_K"] >= 0) & (p["DRAIN_K"] <= 1), "parameter DRAIN_K must be in [0, 1] (1/day)")
    P, T, E = f["prcp"], f["tmean"], f["pet"]
    for name, a in (("prcp", P), ("pet", E)):
        _require(np.isfinite(a) & (a >= 0), f"{name} must be finite and non-negative (mm/day)")
    _require(np.isfinite(T), "tmean must be finite")

    D = SOIL_LAYER_DEPTH_MM
    wsat = p["POROSITY"] * D
    wfc = fc_theta * D
    wr = THETA_RESIDUAL * D
    init = {"snow": 0.0, "theta": fc_theta}
    if initial_state:
        unknown = [k for k in initial_state if k not in ("snow", "theta")]
        if unknown:
            raise ValueError(f"unknown initial states {unknown}; expected ('snow', 'theta')")
        init.update(initial_state)
    snow = np.broadcast_to(np.asarray(init["snow"], dtype=np.float64), (n_site,)).copy()
    w = np.broadcast_to(np.asarray(init["theta"], dtype=np.float64) * D, (n_site,)).copy()
    _require((w >= 0) & (w <= wsat), "initial theta must be within [0, POROSITY]")
    storage0 = snow + w

    names = ("theta", "w", "snow", "et", "runoff", "drainage", "melt")
    out = {k: np.empty((n_time, n_site)) for k in names}
    b, k_d = p["INFILT"], p["DRAIN_K"]
    for t in range(n_time):
        pt, tt = P[t], T[t]
        rain = np.where(tt > SOIL_SNOW_TT, pt, 0.0)
        snow = snow + (pt - rain)
        melt = np.minimum(SOIL_SNOW_CFMAX * np.maximum(tt - SOIL_SNOW_TT, 0.0), snow)
        snow = snow - melt
        liquid = rain + melt
        rel = np.minimum(w / wsat, 1.0)
        runoff = liquid * (1.0 - (1.0 - rel) ** b)
        w = w + liquid - runoff
        overflow = np.maximum(w - wsat, 0.0)
        w = w - overflow
        runoff = runoff + overflow
        avail = np.maximum(w - wr, 0.0)
        et = np.minimum(SURFACE_ET_FRACTION * E[t] * np.minimum(avail / (wfc - wr), 1.0), avail)
        w = w - et
        drainage = k_d * np.maximum(w - wfc, 0.0)
        w = w - drainage
        out["theta"][t] = w / D
        out["w"][t] = w
        out["snow"][t] = snow
        out["et"][t] = et
        out["runoff"][t] = runoff
        out["drainage"][t] = drainage
        out["melt"][t] = melt
    out["storage"] = out["snow"] + out["w"]
    if one_d:
        out = {k: v[:, 0] for k, v in out.items()}
        out["storage_initial"] = storage0[0]
    else:
        out["storage_initial"] = storage0
    return out


# =============================================================================================
# Simulator wrapper
# =============================================================================================


def bounds_table(parameters: Any) -> dict[str, ParameterBounds]:
    """Normalise a parameter-bounds table to ``{name: ParameterBounds}``.

    Accepts a mapping ``name -> (low, high[, unit[, description]])`` or ``name -> spec``
    with ``low``/``high``/``unit``/``description`` attributes, or a table of specs that
    have a ``name`` attribute (e.g. :class:`dplrepro.physics.parameters.ParameterTable`).
    """

    def one(name: str, spec: Any) -> ParameterBounds:
        if hasattr(spec, "low") and hasattr(spec, "high"):
            low, high = spec.low, spec.high
            unit, desc = getattr(spec, "unit", "-"), getattr(spec, "description", "")
        else:
            t = tuple(spec)
            if not 2 <= len(t) <= 4:
                raise ValueError(f"bounds of parameter {name!r} must be (low, high[, unit[, description]]); got {spec!r}")
            low, high = t[0], t[1]
            unit = t[2] if len(t) > 2 else "-"
            desc = t[3] if len(t) > 3 else ""
        low, high = float(low), float(high)
        if not (np.isfinite(low) and np.isfinite(high) and low < high):
            raise ValueError(f"bounds of parameter {name!r} must satisfy low < high; got ({low}, {high})")
        return ParameterBounds(low, high, str(unit), str(desc))

    if isinstance(parameters, Mapping):
        items = list(parameters.items())
    else:
        items = [(spec.name, spec) for spec in parameters]
    if not items:
        raise ValueError("a simulator needs at least one parameter")
    return {str(name): one(str(name), spec) for name, spec in items}



@dataclass(frozen=True)
class TwinSimulator:
    """A process model usable as the twin's truth.

    ``run(prcp, tmean, pet, params)`` takes ``[time, site]`` float64 arrays (mm/day, degC,
    mm/day) and a dict of ``(site,)`` parameter arrays and returns either the observed
    variable as a ``[time, site]`` array or a dict holding it under ``output``.
    ``parameters`` is the model's bounds table, normalised by :func:`bounds_table` (so a
    :class:`dplrepro.physics.parameters.ParameterTable` can be passed as is); the
    generators draw the true parameters inside these bounds.
    """

    name: str
    run: Callable[..., Any]
    parameters: Any
    output: str
    output_units: str
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "parameters", bounds_table(self.parameters))

    def simulate(self, prcp: np.ndarray, tmean: np.ndarray, pet: np.ndarray, params: Mapping[str, np.ndarray]) -> np.ndarray:
        result = self.run(prcp, tmean, pet, params)
        if isinstance(result, Mapping):
            if self.output not in result:
                raise ValueError(f"simulator {self.name!r} returned no {self.output!r}; keys {sorted(result)}")
            result = result[self.output]
        arr = np.asarray(result, dtype=np.float64)
        if arr.shape != np.shape(prcp):
            raise ValueError(f"simulator {self.name!r} returned shape {arr.shape}; expected [time, site] {np.shape(prcp)}")
        return arr


BUCKET_SIMULATOR = TwinSimulator(
    name="bucket_streamflow_model",
    run=bucket_streamflow_model,
    parameters=BUCKET_PARAMETERS,
    output="q",
    output_units="mm/day",
    description="degree-day snow + HBV-like soil bucket + two linear reservoirs (dplrepro.data.synthetic)",
)
SOIL_MOISTURE_SIMULATOR = TwinSimulator(
    name="surface_soil_moisture_model",
    run=surface_soil_moisture_model,
    parameters=SOIL_MOISTURE_PARAMETERS,
    output="theta",
    output_units="m3/m3",
    description="single 0-5 cm layer, VIC-like infiltration, drainage above field capacity (dplrepro.data.synthetic)",
)


# =============================================================================================
# The true transfer function: normalised attributes -> parameters
# =============================================================================================

#: Fixed normalisation of basin attributes for the true transfer function:
#: ``z = (f(a) - centre) / scale`` with ``f`` = identity or natural log. Fixed numbers (not
#: sample statistics), so the transfer function does not depend on which basins are drawn.
BASIN_ATTRIBUTE_SCALING: dict[str, tuple[str, float, float]] = {
    "attr_p_mean": ("log", math.log(2.5), 0.5),
    "attr_pet_mean": ("identity", 3.0, 0.8),
    "attr_aridity": ("log", 0.0, 0.6),
    "attr_frac_snow": ("identity", 0.15, 0.15),
    "attr_elev_mean": ("identity", 800.0, 600.0),
    "attr_slope_mean": ("log", math.log(40.0), 0.8),
    "attr_sand_frac": ("identity", 40.0, 15.0),
    "attr_clay_frac": ("identity", 20.0, 8.0),
    "attr_frac_forest": ("identity", 0.5, 0.3),
    "attr_soil_depth_pelletier": ("log", math.log(5.0), 0.8),
}
#: Fixed normalisation of grid-cell constants (as :data:`BASIN_ATTRIBUTE_SCALING`).
GRID_ATTRIBUTE_SCALING: dict[str, tuple[str, float, float]] = {
    "sand": ("identity", 50.0, 15.0),
    "clay": ("identity", 15.0, 7.0),
    "silt": ("identity", 30.0, 12.0),
    "bulk": ("identity", 1.45, 0.1),
    "capa": ("identity", 0.15, 0.05),
    "ndvi": ("identity", 0.4, 0.15),
}

#: True transfer function of the basin twin: ``param = low + (high - low) *
#: sigmoid(intercept + sum_j weight_j * z_j)``; the first listed attribute is the driver.
TRUE_TRANSFER_BASINS: dict[str, tuple[float, dict[str, float]]] = {
    "TT": (0.0, {"attr_elev_mean": 1.2, "attr_frac_forest": -0.3}),
    "CFMAX": (0.0, {"attr_frac_forest": -1.2, "attr_elev_mean": 0.3}),
    "FC": (0.0, {"attr_soil_depth_pelletier": 1.2, "attr_clay_frac": 0.4}),
    "BETA": (-0.3, {"attr_clay_frac": 1.2, "attr_aridity": 0.3}),
    "LP": (0.3, {"attr_aridity": 1.2, "attr_frac_forest": 0.3}),
    "K1": (0.0, {"attr_slope_mean": 1.2, "attr_sand_frac": -0.3}),
    "K2": (-1.0, {"attr_soil_depth_pelletier": -1.2, "attr_sand_frac": 0.3}),
    "PERC": (0.0, {"attr_sand_frac": 1.2, "attr_slope_mean": -0.3}),
}
#: True transfer function of the grid twin (same form as :data:`TRUE_TRANSFER_BASINS`).
TRUE_TRANSFER_GRID: dict[str, tuple[float, dict[str, float]]] = {
    "POROSITY": (0.0, {"bulk": -1.2, "clay": 0.3}),
    "FC_FRAC": (0.0, {"capa": 1.2, "sand": -0.3}),
    "INFILT": (-0.5, {"ndvi": -1.2, "clay": 0.4}),
    "DRAIN_K": (0.0, {"sand": 1.2, "clay": -0.3}),
}


def normalise_attributes(values: Mapping[str, Any], scaling: Mapping[str, tuple[str, float, float]]) -> dict[str, np.ndarray]:
    """``z = (f(a) - centre) / scale`` for every attribute of ``scaling`` (see the tables)."""
    out = {}
    for name, (kind, centre, scale) in scaling.items():
        if name not in values:
            raise ValueError(f"attribute {name!r} is needed by the true transfer function but was not generated")
        a = np.asarray(values[name], dtype=np.float64)
        if kind == "log":
            a = np.log(np.maximum(a, 1e-12))
        elif kind != "identity":
            raise ValueError(f"unknown attribute transform {kind!r} for {name!r}")
        out[name] = (a - centre) / scale
    return out


def _generic_transfer(param: str, attributes: list[str]) -> tuple[float, dict[str, float]]:
    """Transfer for a parameter without a table entry (e.g. of a simulator passed in).

    Deterministic from the name: driver = ``sorted(attributes)[crc32(name) % n]``, weight
    ``+1.2`` if ``crc32(name)`` is even else ``-1.2``, intercept 0.
    """
    h = zlib.crc32(param.encode())
    names = sorted(attributes)
    return 0.0, {names[h % len(names)]: 1.2 if h % 2 == 0 else -1.2}


def _resolve_transfer(
    parameters: Mapping[str, tuple], table: Mapping[str, tuple[float, dict[str, float]]], attributes: list[str]
) -> dict[str, tuple[float, dict[str, float]]]:
    return {name: table[name] if name in table else _generic_transfer(name, attributes) for name in parameters}


def true_parameters(
    z: Mapping[str, np.ndarray],
    parameters: Mapping[str, tuple],
    transfer: Mapping[str, tuple[float, Mapping[str, float]]],
) -> dict[str, np.ndarray]:
    """Apply the true transfer function: ``low + (high - low) * sigmoid(b + sum w_j z_j)``."""
    out = {}
    for name, spec in parameters.items():
        low, high = float(spec[0]), float(spec[1])
        if name not in transfer:
            raise ValueError(f"no transfer-function entry for parameter {name!r}")
        intercept, weights = transfer[name]
        eta = np.full(np.shape(next(iter(z.values()))), float(intercept))
        for attr, w in weights.items():
            if attr not in z:
                raise ValueError(f"transfer function of {name!r} uses attribute {attr!r}, which is not available")
            eta = eta + w * z[attr]
        out[name] = low + (high - low) / (1.0 + np.exp(-eta))
    return out


def describe_transfer(
    transfer: Mapping[str, tuple[float, Mapping[str, float]]],
    parameters: Mapping[str, tuple],
    scaling: Mapping[str, tuple[str, float, float]],
) -> str:
    """Human-readable statement of a true transfer function (stored in ``ds.attrs``)."""
    lines = ["param = low + (high - low) * sigmoid(b + sum_j w_j * z_j), z_j = (f(a_j) - centre_j) / scale_j"]
    for name, (kind, centre, scale) in scaling.items():
        f = "log(a)" if kind == "log" else "a"
        lines.append(f"  z[{name}] = ({f} - {centre:.6g}) / {scale:.6g}")
    for name, (b, weights) in transfer.items():
        spec = parameters[name]
        terms = " ".join(f"{w:+.3g}*z[{a}]" for a, w in weights.items())
        lines.append(f"  {name} in [{spec[0]:.6g}, {spec[1]:.6g}] {spec[2]}: sigmoid({b:+.3g} {terms})")
    return "\n".join(lines)


# =============================================================================================
# Random smooth fields and weather
# =============================================================================================


def _rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def smooth_field(lat: Any, lon: Any, rng: np.random.Generator, length_scale_deg: float = 8.0, n_features: int = 128) -> np.ndarray:
    """A spatially smooth random field over (lat, lon), roughly N(0, 1) at every point.

    Random Fourier features (Rahimi & Recht 2007): ``sqrt(2/M) * sum_m a_m cos(w_m . x + b_m)``
    with ``w_m ~ N(0, I / length_scale^2)``, ``b_m ~ U(0, 2 pi)``, ``a_m ~ N(0, 1)``, which
    approximates a Gaussian process with a squared-exponential covariance of that length
    scale. ``x = (lon * cos(38 deg), lat)`` in degrees (a crude equal-distance projection).
    """
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    x = np.stack([lon * math.cos(math.radians(38.0)), lat], axis=-1)
    w = rng.normal(0.0, 1.0 / length_scale_deg, size=(n_features, 2))
    b = rng.uniform(0.0, 2.0 * math.pi, size=n_features)
    a = rng.normal(0.0, 1.0, size=n_features)
    # Half of the variance from cos features gives var(a cos(.)) = 1/2, hence sqrt(2/M).
    return math.sqrt(2.0 / n_features) * np.cos(x @ w.T + b) @ a


def _sigmoid(x: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class _Climate:
    """Per-site climate descriptors that drive the weather generator."""

    p_clim: np.ndarray  # long-term mean precipitation, mm/day
    p_season: np.ndarray  # relative amplitude of a winter (15 Jan) peak, negative = summer peak
    t_mean: np.ndarray  # annual mean temperature, degC
    t_amp: np.ndarray  # seasonal half-amplitude, degC
    dtr: np.ndarray  # mean diurnal temperature range, degC


def _climate(lat: np.ndarray, lon: np.ndarray, elev: np.ndarray, seed: int) -> _Climate:
    z_p = smooth_field(lat, lon, _rng(seed, "field:precipitation"), 10.0)
    z_t = smooth_field(lat, lon, _rng(seed, "field:temperature"), 10.0)
    z_d = smooth_field(lat, lon, _rng(seed, "field:dtr"), 10.0)
    west = _sigmoid((-104.0 - lon) / 3.0)  # 1 in the (dry, mountainous) west
    coast = np.exp(-(((lon + 123.0) / 2.5) ** 2)) * _sigmoid((lat - 40.0) / 2.0)  # Pacific north-west
    log_p = math.log(3.0) + 0.45 * np.tanh((lon + 98.0) / 6.0) + 0.9 * coast + 0.3 * z_p
    p_clim = np.exp(log_p)
    p_season = 0.6 * _sigmoid((-114.0 - lon) / 2.0) - 0.35 * _sigmoid((lon + 104.0) / 3.0) * _sigmoid((-92.0 - lon) / 3.0)
    t_mean = 27.0 - 0.72 * (lat - 25.0) - 0.0065 * elev + 1.0 * z_t
    t_amp = 4.0 + 0.3 * (lat - 25.0) + 3.0 * _sigmoid((lon + 117.0) / 2.0)
    dtr = 9.0 + 5.0 * west + 1.0 * z_d
    return _Climate(p_clim, p_season, t_mean, t_amp, np.maximum(dtr, 4.0))


def _weather(clim: _Climate, doy: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Daily weather ``[time, site]``: precipitation, mean temperature, diurnal range, wet flag.

    Precipitation: two-state (wet/dry) first-order Markov chain with a seasonally varying
    wet-day probability ``pi_t`` and persistence ``rho = 0.35`` (``p11 = pi + rho (1 - pi)``,
    ``p01 = pi (1 - rho)``, so the stationary wet fraction is ``pi``), and gamma wet-day amounts
    (shape 0.8) with mean ``p_clim * season_t / pi_t``. Temperature: seasonal cycle peaking on
    day 200 plus AR(1) anomalies (lag-1 correlation 0.75, standard deviation 2.5 degC).
    """
    n_time, n_site = len(doy), len(clim.p_clim)
    season = 1.0 + clim.p_season[None, :] * np.cos(2.0 * math.pi * (doy[:, None] - 15.0) / 365.25)
    pi0 = np.clip(0.06 + 0.09 * clim.p_clim, 0.06, 0.55)
    pi_t = np.clip(pi0[None, :] * np.sqrt(season), 0.03, 0.8)
    rho = 0.35
    p11 = pi_t + rho * (1.0 - pi_t)
    p01 = pi_t * (1.0 - rho)
    u = _rng(seed, "weather:wet").random((n_time, n_site))
    wet = np.zeros((n_time, n_site), dtype=bool)
    state = u[0] < pi_t[0]
    wet[0] = state
    for t in range(1, n_time):
        state = u[t] < np.where(state, p11[t], p01[t])
        wet[t] = state
    shape = 0.8
    amounts = _rng(seed, "weather:amount").gamma(shape, 1.0, size=(n_time, n_site)) / shape
    mean_wet = clim.p_clim[None, :] * season / pi_t
    prcp = np.where(wet, amounts * mean_wet, 0.0)

    phi, sigma = 0.75, 2.5
    eps = _rng(seed, "weather:temperature").normal(0.0, 1.0, size=(n_time, n_site))
    eps[1:] *= sigma * math.sqrt(1.0 - phi * phi)
    eps[0] *= sigma  # start from the stationary distribution
    anomaly = lfilter([1.0], [1.0, -phi], eps, axis=0)
    cycle = clim.t_amp[None, :] * np.cos(2.0 * math.pi * (doy[:, None] - 200.0) / 365.25)
    tmean = clim.t_mean[None, :] + cycle + anomaly
    dtr_noise = _rng(seed, "weather:dtr").normal(0.0, 0.15, size=(n_time, n_site))
    dtr = clim.dtr[None, :] * np.where(wet, 0.65, 1.0) * np.exp(dtr_noise)
    return {"prcp": prcp, "tmean": tmean, "dtr": dtr, "wet": wet}


def _with_spinup(simulator: TwinSimulator, forcings: dict[str, np.ndarray], params: dict[str, np.ndarray], spinup: int) -> np.ndarray:
    """Run ``simulator`` after repeating the first ``spinup`` days once; drop the spin-up."""
    ext = {k: np.concatenate([v[:spinup], v], axis=0) for k, v in forcings.items()}
    sim = simulator.simulate(ext["prcp"], ext["tmean"], ext["pet"], params)
    return sim[spinup:]


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


def _times(start: Any, end: Any) -> pd.DatetimeIndex:
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    if not t0 < t1:
        raise ValueError(f"start must be before end; got start={t0.date()}, end={t1.date()}")
    return pd.date_range(t0, t1, freq="D")


def _check_common(seed: int, noise: float) -> None:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite non-negative number; got {noise!r}")


def _simulator_attrs(sim: TwinSimulator, transfer_text: str, seed: int) -> dict[str, Any]:
    return {
        "data_source": DATA_SOURCE,
        "seed": int(seed),
        "simulator": sim.name,
        "simulator_description": sim.description,
        "true_transfer_function": transfer_text,
    }


# =============================================================================================
# Virtual basins (camels_us.nc-like)
# =============================================================================================


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
    Hargreaves PET (:func:`dplrepro.data.pet.hargreaves`), ``attr_aridity`` = pet_mean /
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
    _check_common(seed, noise)
    if isinstance(n_basins, bool) or not isinstance(n_basins, (int, np.integer)) or n_basins < 1:
        raise ValueError(f"n_basins must be a positive integer; got {n_basins!r}")
    if not (0.0 <= gap_fraction < 1.0):
        raise ValueError(f"gap_fraction must be in [0, 1); got {gap_fraction!r}")
    sim = simulator or BUCKET_SIMULATOR
    times = _times(start, end)
    n_time = len(times)
    doy = times.day_of_year.to_numpy().astype(np.float64)

    loc = _rng(seed, "basins:locations")
    lat = loc.uniform(30.0, 48.5, n_basins)
    lon = loc.uniform(-123.0, -70.0, n_basins)
    area = np.exp(loc.uniform(math.log(20.0), math.log(2000.0), n_basins))

    def fld(name: str, scale: float = 6.0) -> np.ndarray:
        return smooth_field(lat, lon, _rng(seed, f"field:{name}"), scale)

    west = _sigmoid((-104.0 - lon) / 3.0)
    elev = np.clip(350.0 + 1300.0 * west + 400.0 * fld("elev"), 5.0, 3800.0)
    slope = np.exp(math.log(25.0) + 0.5 * fld("slope") + 0.8 * west + 0.0003 * (elev - 600.0))
    sand = 100.0 * _sigmoid(-0.6 + 0.7 * fld("sand"))
    clay = (100.0 - sand) * _sigmoid(-0.9 + 0.6 * fld("clay"))
    soil_depth = np.clip(np.exp(math.log(5.0) + 0.7 * fld("soil_depth") - 0.4 * west), 0.3, 50.0)

    clim = _climate(lat, lon, elev, seed)
    forest = _sigmoid(-0.3 + 1.8 * (np.log(clim.p_clim) - math.log(2.2)) + 0.7 * fld("forest"))
    w = _weather(clim, doy, seed)

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

    z = normalise_attributes(attr_values, BASIN_ATTRIBUTE_SCALING)
    transfer = _resolve_transfer(sim.parameters, TRUE_TRANSFER_BASINS, list(BASIN_ATTRIBUTE_SCALING))
    theta = true_parameters(z, sim.parameters, transfer)

    spinup = min(365, n_time)
    q_true = _with_spinup(sim, {"prcp": prcp, "tmean": tmean, "pet": pet}, theta, spinup)
    eps = _rng(seed, "obs:noise").normal(0.0, 1.0, size=q_true.shape)
    qobs = q_true * np.exp(noise * eps - 0.5 * noise * noise)
    gaps = _gap_mask(n_time, n_basins, gap_fraction, _rng(seed, "obs:gaps"))
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
    for name, spec in sim.parameters.items():
        data_vars[f"true_{name}"] = ("basin", theta[name], {
            "units": spec[2], "long_name": f"true {name}: {spec[3]}", "low": float(spec[0]), "high": float(spec[1]),
        })
    ds = xr.Dataset(data_vars, coords={"basin": basin, "time": times.values.astype("datetime64[ns]")})
    ds.attrs = {
        "title": f"synthetic CAMELS-like twin: {n_basins} virtual basins, {times[0].date()}..{times[-1].date()}",
        **_simulator_attrs(sim, describe_transfer(transfer, sim.parameters, BASIN_ATTRIBUTE_SCALING), seed),
        "gap_fraction": float(gap_fraction),
        "noise": float(noise),
        "noise_model": "qobs = q_true * exp(noise * e - noise**2 / 2), e ~ N(0, 1); NaN gaps in runs of 3-60 days",
        "pet_method": "hargreaves",
        "spinup_days": int(spinup),
    }
    return ds


# =============================================================================================
# Virtual grid (smap_conus.nc-like)
# =============================================================================================


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
    _check_common(seed, noise)
    for name, v in (("n_rows", n_rows), ("n_cols", n_cols)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer; got {v!r}")
    if len(revisit_days) != 2 or not (1 <= revisit_days[0] <= revisit_days[1]):
        raise ValueError(f"revisit_days must be (min, max) with 1 <= min <= max; got {revisit_days!r}")
    if not (0.0 <= hole_fraction < 1.0):
        raise ValueError(f"hole_fraction must be in [0, 1); got {hole_fraction!r}")
    sim = simulator or SOIL_MOISTURE_SIMULATOR
    times = _times(start, end)
    n_time = len(times)
    doy = times.day_of_year.to_numpy().astype(np.float64)

    rr, cc = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    rr, cc = rr.ravel(), cc.ravel()
    n_holes = int(round(hole_fraction * rr.size))
    if n_holes:
        drop = _rng(seed, "grid:holes").choice(rr.size, size=n_holes, replace=False)
        keep = np.ones(rr.size, dtype=bool)
        keep[drop] = False
        rr, cc = rr[keep], cc[keep]
    n_cell = rr.size
    lat = 38.5 + 1.5 * (rr - (n_rows - 1) / 2.0)
    lon = -97.0 + 1.5 * (cc - (n_cols - 1) / 2.0)

    def fld(name: str, scale: float = 6.0) -> np.ndarray:
        return smooth_field(lat, lon, _rng(seed, f"field:{name}"), scale)

    west = _sigmoid((-104.0 - lon) / 3.0)
    elev = np.clip(350.0 + 1300.0 * west + 400.0 * fld("elev"), 5.0, 3800.0)
    clim = _climate(lat, lon, elev, seed)
    sand = 100.0 * _sigmoid(-0.6 + 0.7 * fld("sand"))
    clay = (100.0 - sand) * _sigmoid(-0.9 + 0.6 * fld("clay"))
    silt = 100.0 - sand - clay
    ndvi = 0.12 + 0.72 * _sigmoid(1.6 * (np.log(clim.p_clim) - math.log(1.6)) + 0.6 * fld("ndvi"))
    capa = 0.06 + 0.0045 * clay + 0.0015 * silt + 0.015 * fld("capa")
    bulk = 1.48 - 0.004 * clay - 0.25 * (ndvi - 0.45) + 0.05 * fld("bulk")

    w = _weather(clim, doy, seed)
    prcp32 = w["prcp"].astype(np.float32)
    tmean32 = w["tmean"].astype(np.float32)
    ra = extraterrestrial_radiation(lat[None, :], doy[:, None])  # MJ m-2 day-1
    dswrf = ra * 1e6 / 86400.0 * np.where(w["wet"], 0.4, 0.72)
    td = w["tmean"] - 0.6 * w["dtr"]
    e_kpa = 0.6108 * np.exp(17.27 * td / (td + 237.3))
    p_kpa = 101.3 * ((293.0 - 0.0065 * elev) / 293.0) ** 5.26
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
    z = normalise_attributes(const_values, GRID_ATTRIBUTE_SCALING)
    transfer = _resolve_transfer(sim.parameters, TRUE_TRANSFER_GRID, list(GRID_ATTRIBUTE_SCALING))
    theta = true_parameters(z, sim.parameters, transfer)

    spinup = min(365, n_time)
    sm_true = _with_spinup(sim, {"prcp": prcp, "tmean": tmean, "pet": pet}, theta, spinup)
    eps = _rng(seed, "obs:noise").normal(0.0, 1.0, size=sm_true.shape)
    observed = _revisit_mask(n_time, n_cell, revisit_days, _rng(seed, "obs:revisit"))
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
    for name, spec in sim.parameters.items():
        data_vars[f"true_{name}"] = ("cell", theta[name], {
            "units": spec[2], "long_name": f"true {name}: {spec[3]}", "low": float(spec[0]), "high": float(spec[1]),
        })
    ds = xr.Dataset(data_vars, coords={"cell": np.arange(n_cell, dtype=np.int64), "time": times.values.astype("datetime64[ns]")})
    ds.attrs = {
        "title": f"synthetic SMAP-like twin: {n_cell} cells on a {n_rows}x{n_cols} grid, {times[0].date()}..{times[-1].date()}",
        **_simulator_attrs(sim, describe_transfer(transfer, sim.parameters, GRID_ATTRIBUTE_SCALING), seed),
        "noise": float(noise),
        "noise_model": "smap_am = clip(smap_true + noise * e, 0, 1), e ~ N(0, 1), on overpass days only",
        "revisit_days": f"{int(revisit_days[0])}-{int(revisit_days[1])}",
        "mask_frozen": int(bool(mask_frozen)),
        "pet_method": "oudin",
        "spinup_days": int(spinup),
    }
    return ds

"""The twin's reference process models ("truth" models) and the :class:`TwinSimulator` wrapper.

* :func:`bucket_streamflow_model` -- degree-day snow, HBV-like nonlinear soil bucket and two
  linear reservoirs -> streamflow (mm/day); parameters in :data:`BUCKET_PARAMETERS`;
* :func:`surface_soil_moisture_model` -- a single 0-5 cm layer with VIC-like variable
  infiltration and drainage above field capacity -> volumetric soil moisture (m3/m3);
  parameters in :data:`SOIL_MOISTURE_PARAMETERS`.

Both take arrays laid out ``[time, site]`` (the project's model convention), loop over time
only, and close the water balance exactly (up to float rounding). Parameter bounds are
:class:`dplrepro.physics.parameters.ParameterSpec` (the one bounds concept of the models and
the twin), held in ``{name: ParameterSpec}`` tables. The project's HBV and VIC-style models can
be the truth instead, passed to the generators as a :class:`TwinSimulator`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ...physics.parameters import ParameterSpec

__all__ = [
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
    "run_with_spinup",
]


def _by_name(*specs: ParameterSpec) -> dict[str, ParameterSpec]:
    """A ``{name: spec}`` table, in the order given."""
    return {s.name: s for s in specs}


# =============================================================================================
# Reference simulator 1: snow + soil bucket + two linear reservoirs -> streamflow
# =============================================================================================

#: Parameters of :func:`bucket_streamflow_model` (name -> :class:`ParameterSpec`).
BUCKET_PARAMETERS: dict[str, ParameterSpec] = _by_name(
    ParameterSpec("TT", -2.5, 2.5, "degC", "threshold temperature: snowfall below, snowmelt above"),
    ParameterSpec("CFMAX", 0.5, 7.0, "mm/degC/day", "degree-day snowmelt factor"),
    ParameterSpec("FC", 50.0, 600.0, "mm", "capacity (field capacity) of the soil bucket"),
    ParameterSpec("BETA", 1.0, 6.0, "-", "recharge shape: recharge/input = (SM/FC)^BETA"),
    ParameterSpec("LP", 0.2, 1.0, "-", "fraction of FC above which ET is at the potential rate"),
    ParameterSpec("K1", 0.05, 0.9, "1/day", "recession coefficient of the quick (upper) reservoir"),
    ParameterSpec("K2", 0.002, 0.15, "1/day", "recession coefficient of the slow (lower) reservoir"),
    ParameterSpec("PERC", 0.0, 6.0, "mm/day", "maximum percolation from the upper to the lower reservoir"),
)

_BUCKET_STATES = ("snow", "sm", "suz", "slz")


def _as_time_site(name: str, x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ValueError(f"{name} must be a [time, site] (or [time]) array; got shape {a.shape}")
    return a


def _prepare(forcings: dict[str, Any], params: Mapping[str, Any], table: Mapping[str, ParameterSpec]):
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

#: Parameters of :func:`surface_soil_moisture_model` (name -> :class:`ParameterSpec`).
SOIL_MOISTURE_PARAMETERS: dict[str, ParameterSpec] = _by_name(
    ParameterSpec("POROSITY", 0.30, 0.55, "m3/m3", "saturated volumetric water content of the surface layer"),
    ParameterSpec("FC_FRAC", 0.40, 0.85, "-", "field capacity as a fraction of POROSITY"),
    ParameterSpec("INFILT", 0.05, 1.5, "-",
                  "VIC-like infiltration shape: saturated fraction = 1 - (1 - theta/POROSITY)^INFILT; "
                  "larger means more surface runoff"),
    ParameterSpec("DRAIN_K", 0.02, 0.6, "1/day", "drainage rate of water above field capacity"),
)
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


def bounds_table(parameters: Any) -> dict[str, ParameterSpec]:
    """Normalise a parameter-bounds table to ``{name: ParameterSpec}``.

    Accepts a mapping ``name -> (low, high[, unit[, description]])`` or ``name -> spec``
    with ``low``/``high``/``unit``/``description`` attributes (e.g. a ``ParameterSpec``), or a
    table of specs that have a ``name`` attribute (e.g. a
    :class:`dplrepro.physics.parameters.ParameterTable`). Bounds become floats.
    """

    def one(name: str, spec: Any) -> ParameterSpec:
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
        return ParameterSpec(name, low, high, str(unit), str(desc))

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
    ``parameters`` is the model's bounds table, normalised by :func:`bounds_table` to
    ``{name: ParameterSpec}`` (so a :class:`dplrepro.physics.parameters.ParameterTable` can
    be passed as is); the generators draw the true parameters inside these bounds.
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
    description="degree-day snow + HBV-like soil bucket + two linear reservoirs (dplrepro.data.twin)",
)
SOIL_MOISTURE_SIMULATOR = TwinSimulator(
    name="surface_soil_moisture_model",
    run=surface_soil_moisture_model,
    parameters=SOIL_MOISTURE_PARAMETERS,
    output="theta",
    output_units="m3/m3",
    description="single 0-5 cm layer, VIC-like infiltration, drainage above field capacity (dplrepro.data.twin)",
)


def run_with_spinup(simulator: TwinSimulator, forcings: dict[str, np.ndarray], params: dict[str, np.ndarray], spinup: int) -> np.ndarray:
    """Run ``simulator`` after repeating the first ``spinup`` days once; drop the spin-up."""
    ext = {k: np.concatenate([v[:spinup], v], axis=0) for k, v in forcings.items()}
    sim = simulator.simulate(ext["prcp"], ext["tmean"], ext["pet"], params)
    return sim[spinup:]

"""What the readers check in a data file -- units and value ranges -- and the notes they leave.

**Units.** Each variable of the dplrepro schema has one unit (:data:`CANONICAL_UNITS`). A
reader looks at the variable's ``units`` attribute: the canonical unit (in any common
spelling) is accepted, a unit with a known conversion (:data:`CONVERSIONS`, e.g. streamflow
in ft3/s with the basin area, temperature in K) is converted and the conversion is noted,
anything else is refused with :class:`~dplrepro.data.errors.DataFormatError` naming the file,
the variable, the unit found and the unit expected. A variable without a ``units`` attribute
is taken to be in the canonical unit, and that assumption is noted.

**Values.** Precipitation and streamflow are never negative, soil moisture lies in [0, 1],
air temperature in [-90, 60] degC, and a basin's long-term runoff ratio
(mean streamflow / mean precipitation) is plausible: a median over the basins above
:data:`MAX_MEDIAN_RUNOFF_RATIO` or one basin above :data:`MAX_RUNOFF_RATIO` (over three years
or more) is refused -- the usual cause is streamflow in volume units (ft3/s, m3/s) stored as
if it were mm/day. The real CAMELS-US and -GB files have medians of 0.35 and 0.55 and
maxima of 1.4 and 2.9.

**Notes.** Whatever a reader or an experiment leaves out (basins, cells, attributes),
fills in or converts is reported through :func:`note`: a logged warning, and a line kept for
the chapter's run record (``summary.json``'s ``run.data_notes``), which the book runner
prints on the terminal after the run.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable

import numpy as np
import xarray as xr

from .errors import DataFormatError

__all__ = ["CANONICAL_UNITS", "CONVERSIONS", "harmonise_units", "check_values", "note", "data_notes",
           "MAX_RUNOFF_RATIO", "MAX_MEDIAN_RUNOFF_RATIO"]

log = logging.getLogger("dplrepro.data")

#: The unit of each variable in the dplrepro schema.
CANONICAL_UNITS: dict[str, str] = {
    "prcp": "mm/day", "qobs": "mm/day", "swe": "mm",
    "tmax": "degC", "tmin": "degC", "tmean": "degC",
    "srad": "W/m2", "vp": "Pa", "dayl": "s", "area_km2": "km2", "smap_am": "m3/m3",
}

# Spellings of one unit, compared after _spelling(): lower case, no spaces, "^"/"**" dropped.
_SAME = {
    "mm/day": {"mm/day", "mm/d", "mmday-1", "mmd-1", "kg/m2/day", "kgm-2day-1", "kgm-2d-1", "kg/m2/d"},
    "mm": {"mm", "kg/m2", "kgm-2"},
    "degC": {"degc", "°c", "celsius", "degreesc", "degree_celsius", "degrees_celsius", "c"},
    "W/m2": {"w/m2", "wm-2"},
    "Pa": {"pa"},
    "s": {"s", "sec", "seconds"},
    "km2": {"km2"},
    "m3/m3": {"m3/m3", "m3m-3", "cm3/cm3", "cm3cm-3"},
}

_FT3_TO_M3 = 0.028316846592  # m3 per cubic foot


def _per_area(factor_m3s: float) -> Callable[[xr.DataArray, xr.Dataset], xr.DataArray]:
    """Volume flow (``factor_m3s`` m3/s per unit) -> depth over the basin, mm/day."""
    def convert(values: xr.DataArray, ds: xr.Dataset) -> xr.DataArray:
        if "area_km2" not in ds:
            raise KeyError("area_km2")
        return values * factor_m3s * 86.4 / ds["area_km2"]  # m3/s * 86400 s / (km2 * 1e6 m2) * 1000 mm/m
    return convert


#: Known other units: variable -> {spelling: conversion to the canonical unit}.
CONVERSIONS: dict[str, dict[str, Callable[[xr.DataArray, xr.Dataset], xr.DataArray]]] = {
    "qobs": {"ft3/s": _per_area(_FT3_TO_M3), "cfs": _per_area(_FT3_TO_M3), "ft3s-1": _per_area(_FT3_TO_M3),
             "m3/s": _per_area(1.0), "m3s-1": _per_area(1.0)},
    "prcp": {"in/day": lambda v, ds: v * 25.4, "m/day": lambda v, ds: v * 1000.0, "cm/day": lambda v, ds: v * 10.0},
    **{t: {"k": lambda v, ds: v - 273.15, "kelvin": lambda v, ds: v - 273.15,
           "degf": lambda v, ds: (v - 32.0) * 5.0 / 9.0, "°f": lambda v, ds: (v - 32.0) * 5.0 / 9.0}
       for t in ("tmax", "tmin", "tmean")},
    "vp": {"kpa": lambda v, ds: v * 1000.0, "hpa": lambda v, ds: v * 100.0},
}

#: Largest long-term runoff ratio accepted for one basin (over three years or more).
MAX_RUNOFF_RATIO = 10.0
#: Largest median runoff ratio over the basins of a file.
MAX_MEDIAN_RUNOFF_RATIO = 3.0

_NOTES: list[str] = []


def note(message: str, detail: str = "") -> None:
    """Report something a reader or experiment left out, filled in or converted: a logged
    warning (with ``detail``, e.g. every id), kept for the chapter's run record and printed on the
    terminal by the book runner (without ``detail``). Said once per process."""
    if message in _NOTES:
        return
    log.warning("%s%s", message, f" ({detail})" if detail else "")
    _NOTES.append(message)


def data_notes(since: int = 0) -> list[str]:
    """The notes of this process from the ``since``-th on (``len(data_notes())`` marks a start)."""
    return list(_NOTES[since:])


def _spelling(units: str) -> str:
    return re.sub(r"\s+", "", str(units).lower()).replace("^", "").replace("**", "")


def harmonise_units(ds: xr.Dataset, path: Path) -> xr.Dataset:
    """``ds`` with every schema variable in its canonical unit (see the module docstring); a
    unit that is neither canonical nor convertible is a :class:`DataFormatError`."""
    for var in [v for v in ds.variables if v in CANONICAL_UNITS]:
        canonical = CANONICAL_UNITS[var]
        given = ds[var].attrs.get("units")
        if given is None:
            note(f"{path.name}: variable '{var}' has no units attribute; taken to be {canonical}")
            ds[var].attrs["units"] = canonical
            continue
        spelt = _spelling(given)
        if spelt in _SAME.get(canonical, {_spelling(canonical)}) or spelt == _spelling(canonical):
            ds[var].attrs["units"] = canonical
            continue
        convert = CONVERSIONS.get(var, {}).get(spelt)
        if convert is None:
            known = sorted(CONVERSIONS.get(var, {}))
            raise DataFormatError(
                f"{path}: variable '{var}' is in {given!r}; expected {canonical}"
                + (f" (or one of {known}, which are converted)" if known else "")
            )
        try:
            converted = convert(ds[var].astype(np.float64), ds)
        except KeyError as exc:
            raise DataFormatError(f"{path}: variable '{var}' is in {given!r}; converting it to {canonical} needs "
                                  f"the variable {exc.args[0]!r}, which the file lacks") from None
        attrs = {**ds[var].attrs, "units": canonical, "converted_from": str(given)}
        ds[var] = converted.astype(ds[var].dtype if ds[var].dtype.kind == "f" else np.float32).assign_attrs(attrs)
        note(f"{path.name}: variable '{var}' converted from {given} to {canonical}")
    return ds


def _first(values: np.ndarray, bad: np.ndarray, ds: xr.Dataset, var: str) -> str:
    """Where the first bad value of ``var`` is, e.g. ``basin 01013500, 1999-10-03: -2.5``."""
    where = np.argwhere(bad)[0]
    parts = []
    for dim, i in zip(ds[var].dims, where):
        label = ds[dim].values[i] if dim in ds.coords else i
        parts.append(f"{dim} {str(label)[:10]}")
    return f"{', '.join(parts)}: {values[tuple(where)]:.4g}"


_RANGES = {
    "prcp": (0.0, None, "precipitation cannot be negative"),
    "qobs": (0.0, None, "streamflow cannot be negative (missing values must be NaN, not a fill number)"),
    "swe": (0.0, None, "snow water equivalent cannot be negative"),
    "smap_am": (0.0, 1.0, "volumetric soil moisture lies in [0, 1] m3/m3"),
    "tmax": (-90.0, 60.0, "air temperature lies in [-90, 60] degC (is it in K or degF without saying so?)"),
    "tmin": (-90.0, 60.0, "air temperature lies in [-90, 60] degC (is it in K or degF without saying so?)"),
    "tmean": (-90.0, 60.0, "air temperature lies in [-90, 60] degC (is it in K or degF without saying so?)"),
}


def check_values(ds: xr.Dataset, path: Path, site_dim: str = "basin") -> None:
    """Refuse values out of their physical range and implausible runoff ratios (module docstring),
    naming the file, the variable, how many values and where the first one is."""
    for var, (low, high, why) in _RANGES.items():
        if var not in ds:
            continue
        values = np.asarray(ds[var].values, dtype=np.float64)
        tolerance = 1e-6 * max(1.0, abs(low))
        bad = values < low - tolerance
        if high is not None:
            bad |= values > high + tolerance
        if bad.any():
            raise DataFormatError(f"{path}: variable '{var}' has {int(bad.sum())} value(s) outside "
                                  f"[{low:g}, {'inf' if high is None else f'{high:g}'}] ({_first(values, bad, ds, var)}); {why}")
    if "qobs" not in ds or "prcp" not in ds or site_dim not in ds.dims or "time" not in ds.dims:
        return
    q, p = ds["qobs"].transpose(site_dim, "time").values, ds["prcp"].transpose(site_dim, "time").values
    both = np.isfinite(q) & np.isfinite(p)
    days = both.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(both, q, 0).sum(axis=1) / np.where(both, p, 0).sum(axis=1)
    usable = (days >= 365) & np.isfinite(ratio)
    if usable.sum() >= 3 and np.median(ratio[usable]) > MAX_MEDIAN_RUNOFF_RATIO:
        raise DataFormatError(
            f"{path}: the median runoff ratio (mean qobs / mean prcp) over {int(usable.sum())} {site_dim}s is "
            f"{np.median(ratio[usable]):.3g} (> {MAX_MEDIAN_RUNOFF_RATIO:g}); qobs must be in mm/day -- is it a volume "
            "flow (ft3/s, m3/s) without a units attribute saying so?")
    extreme = usable & (days >= 3 * 365) & (ratio > MAX_RUNOFF_RATIO)
    if extreme.any():
        sites = ds[site_dim].values[extreme]
        raise DataFormatError(
            f"{path}: {int(extreme.sum())} {site_dim}(s) have a runoff ratio above {MAX_RUNOFF_RATIO:g} "
            f"(e.g. {site_dim} {sites[0]}: {ratio[extreme][0]:.3g}); qobs must be in mm/day")

"""Evapotranspiration tools for the ET chapter: MOD16A2 8-day compositing and a reader.

MODIS MOD16A2 (Running et al.) is **not** part of the project's data folder (only a
3-pixel sample exists publicly). This module lets a user who has MOD16A2-style data bring
it in, and lets the chapter put any daily ET series (a model's, a stand-in's) on the same
8-day footing.

MOD16A2 compositing convention
------------------------------
* Composite periods start on day-of-year 1, 9, 17, ..., 361 of **every** year; periods
  never cross 31 December. 46 periods per year; the last one (DOY 361) is shorter:
  5 days in a 365-day year (361..365), 6 days in a leap year (361..366).
* The ``time`` label of a composite is its **start date**.
* MOD16A2 ``ET`` is the **sum** of daily ET over the composite, in kg/m2/8day, i.e. mm per
  composite (1 kg of water per m2 = 1 mm). The last composite of a year is the sum over
  its 5 or 6 days, not rescaled to 8 days. Divide by the ``n_days`` coordinate that both
  functions attach to get mm/day.

Public API
----------
* :func:`composite_start` -- the composite start date of each date.
* :func:`aggregate_8day` -- daily series -> 8-day composites (``how="sum"`` in mm per
  composite, MOD16A2's convention; ``how="mean"`` in mm/day).
* :func:`load_mod16a2` -- read a MOD16A2-style NetCDF (``(site, time)``, possibly int16
  packed with ``scale_factor`` 0.1 and fill values 32761..32767), validated, to mm per
  composite with NaN for fill values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataFormatError, DataNotFoundError

__all__ = [
    "COMPOSITE_DAYS",
    "MOD16A2_FILL_RANGE",
    "MOD16A2_SCALE_FACTOR",
    "MOD16A2_UNITS",
    "aggregate_8day",
    "composite_length",
    "composite_start",
    "load_mod16a2",
]

#: Nominal length of a composite period (days).
COMPOSITE_DAYS = 8
#: Raw (packed) values in this inclusive range are MOD16A2 fill/flag values: 32761 land
#: cover assigned as perennial salt or water bodies, 32762 barren/sparse vegetation,
#: 32763 permanent wetland, 32764 permanent snow/ice, 32765 unclassified, 32766 urban,
#: 32767 no data. All become NaN.
MOD16A2_FILL_RANGE = (32761, 32767)
#: Scale factor of the packed int16 ``ET`` layer of MOD16A2 (kg/m2/8day per count).
MOD16A2_SCALE_FACTOR = 0.1
#: Units we write on the returned ET: mm per composite (= kg/m2/8day).
MOD16A2_UNITS = "mm/8day"

# Spellings accepted for "kg/m2 (or mm) per composite". Compared after lower-casing and
# removing spaces; "^" and "**" are dropped so "kg/m^2/8day" == "kg/m2/8day".
_ACCEPTED_UNITS = {
    "kg/m2/8day", "kg/m2/8days", "kgm-28day-1", "kgm-2(8day)-1", "kg/m2/8-day",
    "mm/8day", "mm/8days", "mm/8-day", "mm8day-1", "mm(8day)-1",
    "kg/m2", "kgm-2", "mm",
}

_SITE_DIM = "site"


# --------------------------------------------------------------------------- periods
def _as_dates(times: Any) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(np.asarray(times))
    return idx


def composite_start(times: Any) -> pd.DatetimeIndex:
    """Start date of the MOD16A2 composite containing each date of ``times``.

    ``start = 1 January + 8 * ((day_of_year - 1) // 8)`` days: DOY 1, 9, ..., 361.
    """
    idx = _as_dates(times).normalize()
    back = (idx.day_of_year.to_numpy() - 1) % COMPOSITE_DAYS
    return idx - pd.to_timedelta(back, unit="D")


def composite_length(starts: Any) -> np.ndarray:
    """Number of days of the composite starting at each of ``starts`` (8, or 5/6 at DOY 361)."""
    idx = _as_dates(starts)
    days_in_year = np.where(idx.is_leap_year, 366, 365)
    doy = idx.day_of_year.to_numpy()
    return np.minimum(COMPOSITE_DAYS, days_in_year - doy + 1).astype(np.int64)


def _is_composite_start(idx: pd.DatetimeIndex) -> np.ndarray:
    return (idx == idx.normalize()) & ((idx.day_of_year.to_numpy() - 1) % COMPOSITE_DAYS == 0)


def _next_start(idx: pd.DatetimeIndex) -> pd.DatetimeIndex:
    return idx + pd.to_timedelta(composite_length(idx), unit="D")


# --------------------------------------------------------------------------- aggregation
def aggregate_8day(
    daily: xr.DataArray,
    dim: str = "time",
    *,
    how: str = "sum",
    min_valid: float | None = None,
) -> xr.DataArray:
    """Aggregate a daily series to MOD16A2 8-day composites.

    Parameters
    ----------
    daily : DataArray with a daily datetime coordinate ``dim`` (e.g. ET in mm/day). Dates
        absent from the series count as missing days, like NaN values.
    dim : the time dimension.
    how : ``"sum"`` (default, MOD16A2's convention: mm per composite from mm/day) or
        ``"mean"`` (mm/day).
    min_valid : ``None`` (default): a composite with **any** missing day is NaN. A fraction
        in (0, 1]: a composite is computed when at least that fraction of its days is
        valid; then ``"mean"`` is the mean of the valid days and ``"sum"`` is that mean
        times the composite length (missing days filled with the composite mean).

    Returns
    -------
    DataArray with ``dim`` labelled by the composite **start** dates (DOY 1, 9, ..., 361),
    covering every composite that overlaps the input (partial composites at the ends of the
    record count their outside days as missing), with coordinates ``n_days`` (composite
    length: 8, or 5/6 for the last of a year) and ``n_valid`` (valid days). The other
    dimensions keep their order and coordinates.
    """
    if not isinstance(daily, xr.DataArray):
        raise TypeError(f"aggregate_8day expects an xarray.DataArray; got {type(daily).__name__}")
    if how not in ("sum", "mean"):
        raise ValueError(f"how must be 'sum' (mm per composite) or 'mean' (mm/day); got {how!r}")
    if min_valid is not None:
        min_valid = float(min_valid)
        if not 0.0 < min_valid <= 1.0:
            raise ValueError(f"min_valid must be a fraction in (0, 1]; got {min_valid}")
    name = daily.name or "variable"
    if dim not in daily.dims:
        raise ValueError(f"{name!r} has no dimension {dim!r} (dims {daily.dims})")
    if dim not in daily.coords or not np.issubdtype(daily[dim].dtype, np.datetime64):
        raise ValueError(f"{name!r}: dimension {dim!r} needs a datetime coordinate to be aggregated to 8-day composites")
    if not np.issubdtype(daily.dtype, np.number) or np.issubdtype(daily.dtype, np.bool_):
        raise ValueError(f"{name!r} is not numeric (dtype {daily.dtype})")
    times = pd.DatetimeIndex(daily[dim].values)
    if len(times) == 0:
        raise ValueError(f"{name!r}: dimension {dim!r} is empty")
    if not (times == times.normalize()).all():
        raise ValueError(f"{name!r}: {dim!r} must hold whole days (daily data at 00:00); got e.g. {times[times != times.normalize()][0]}")
    if times.has_duplicates:
        raise ValueError(f"{name!r}: {dim!r} has duplicate dates, e.g. {times[times.duplicated()][0].date()}")

    # full daily range covering every composite touched by the record
    first = composite_start([times.min()])[0]
    last_start = composite_start([times.max()])[0]
    last = last_start + pd.Timedelta(days=int(composite_length([last_start])[0]) - 1)
    full = pd.date_range(first, last, freq="D")
    arr = daily.reindex({dim: full})  # absent dates -> NaN
    other = [d for d in daily.dims if d != dim]
    values = np.asarray(arr.transpose(*other, dim).values, dtype=np.float64)

    starts_daily = composite_start(full)
    starts, first_idx = np.unique(starts_daily.values, return_index=True)
    starts = pd.DatetimeIndex(starts)
    n_days = composite_length(starts)
    valid = np.isfinite(values)
    n_valid = np.add.reduceat(valid.astype(np.int64), first_idx, axis=-1)
    total = np.add.reduceat(np.where(valid, values, 0.0), first_idx, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n_valid
    need = n_days if min_valid is None else np.ceil(min_valid * n_days - 1e-9)
    ok = n_valid >= need
    ok &= n_valid > 0
    out = mean if how == "mean" else mean * n_days
    out = np.where(ok, out, np.nan).astype(np.result_type(daily.dtype, np.float32))

    coords: dict[str, Any] = {k: c for k, c in daily.coords.items() if dim not in c.dims}
    coords[dim] = starts.values.astype("datetime64[ns]")
    coords["n_days"] = (dim, n_days)
    result = xr.DataArray(out, dims=(*other, dim), coords=coords, name=daily.name)
    result = result.assign_coords(n_valid=((*other, dim), n_valid)).transpose(*daily.dims)
    attrs = dict(daily.attrs)
    units = attrs.get("units")
    if how == "sum":
        if units in ("mm/day", "mm d-1", "mm day-1", "mm/d", "kg/m2/day", "kg m-2 d-1"):
            attrs["units"] = MOD16A2_UNITS
        elif units is not None:
            attrs["units"] = f"({units}) * day per composite"
        attrs["cell_methods"] = f"{dim}: sum (MOD16A2 8-day composite; last of year 5/6 days)"
    else:
        attrs["cell_methods"] = f"{dim}: mean (MOD16A2 8-day composite; last of year 5/6 days)"
    attrs["composite_convention"] = "MOD16A2: periods start on DOY 1, 9, ..., 361; label = start date"
    attrs["min_valid"] = "all days" if min_valid is None else min_valid
    result.attrs = attrs
    return result


# --------------------------------------------------------------------------- reader
def _norm_units(units: str) -> str:
    return str(units).strip().lower().replace(" ", "").replace("^", "").replace("**", "").replace("²", "2")


def load_mod16a2(
    path: str | Path,
    *,
    variable: str = "ET",
    scale_factor: float | None = None,
) -> xr.DataArray:
    """Read a MOD16A2-style NetCDF file of 8-day ET into a ``(site, time)`` DataArray.

    Expected layout: a variable ``variable`` (default ``"ET"``) with two dimensions, ``time``
    and one site-like dimension (any name: ``site``, ``pixel``, ``cell``, ``basin``...,
    renamed ``site``); ``time`` decodable to dates, each a composite start (DOY 1, 9, ...,
    361) and consecutive (no missing or repeated composites); units of kg/m2/8day (≡ mm per
    composite; spellings such as ``kg/m^2/8day``, ``mm/8day``, ``kg m-2`` are accepted).

    Packing: raw values in 32761..32767 (MOD16A2 land-cover/water/no-data flags) and the
    variable's ``_FillValue``/``missing_value`` become NaN; the rest are multiplied by
    ``scale_factor`` (argument, else the file's ``scale_factor`` attribute, else 1 for float
    data) and the file's ``add_offset`` is added. Integer data without any scale factor are
    an error (MOD16A2's is 0.1: pass ``scale_factor=0.1``).

    Returns float32 ET in mm per composite (attrs ``units="mm/8day"``), with coordinate
    ``n_days`` (8, or 5/6 for the last composite of a year; divide by it for mm/day) and the
    file's site coordinates. Raises :class:`DataNotFoundError` if the file is missing and
    :class:`DataFormatError` naming the file and the problem otherwise.
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"MOD16A2 file {path} does not exist")
    try:
        ds = xr.open_dataset(path, mask_and_scale=False, decode_times=True)
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path} is not a readable NetCDF file (or its time cannot be decoded): {exc}") from exc
    with ds:
        if variable not in ds.data_vars:
            raise DataFormatError(
                f"{path}: variable {variable!r} not found; variables present: {sorted(ds.data_vars)}"
                " (pass variable=... to choose another)"
            )
        raw = ds[variable].load()
        # per-site position variables (often data variables in such files) come along as coords
        extra = {n: ds[n].load() for n in ("lat", "lon", "latitude", "longitude")
                 if n in ds.data_vars and n != variable and ds[n].ndim == 1 and ds[n].dims[0] in raw.dims
                 and ds[n].dims[0] != "time"}
    dims = raw.dims
    if "time" not in dims:
        raise DataFormatError(f"{path}: variable {variable!r} has dims {dims}, expected ('site', 'time') -- no 'time' dimension")
    if len(dims) != 2:
        raise DataFormatError(
            f"{path}: variable {variable!r} has dims {dims}; expected exactly two, a site-like dimension and "
            "'time' (stack gridded y/x into one site dimension first)"
        )
    site_dim = next(d for d in dims if d != "time")

    # time axis: composite starts, consecutive
    if "time" not in raw.coords or not np.issubdtype(raw["time"].dtype, np.datetime64):
        raise DataFormatError(
            f"{path}: variable {variable!r}: 'time' is not a decodable date coordinate "
            f"(dtype {raw['time'].dtype if 'time' in raw.coords else 'missing'}); give it CF units such as 'days since 2000-01-01'"
        )
    times = pd.DatetimeIndex(raw["time"].values)
    if len(times) == 0:
        raise DataFormatError(f"{path}: variable {variable!r} has an empty 'time' dimension")
    bad = ~_is_composite_start(times)
    if bad.any():
        t = times[bad][0]
        raise DataFormatError(
            f"{path}: irregular time steps for {variable!r}: {t} is not an 8-day composite start "
            "(MOD16A2 composites start at 00:00 on day-of-year 1, 9, 17, ..., 361); "
            f"{int(bad.sum())} of {len(times)} time steps are off the convention"
        )
    if len(times) > 1:
        expected = _next_start(times[:-1])
        wrong = np.flatnonzero(times[1:] != expected)
        if wrong.size:
            i = int(wrong[0])
            raise DataFormatError(
                f"{path}: irregular time steps for {variable!r}: after {times[i].date()} comes "
                f"{times[i + 1].date()}, expected {expected[i].date()} (composites must be consecutive and "
                f"increasing, no gaps or repeats; {wrong.size} break(s) in all)"
            )

    # units
    units = raw.attrs.get("units")
    if units is None:
        raise DataFormatError(
            f"{path}: variable {variable!r} has no 'units' attribute; expected kg/m2/8day (= mm per 8-day composite)"
        )
    if _norm_units(units) not in _ACCEPTED_UNITS:
        raise DataFormatError(
            f"{path}: variable {variable!r} has units {units!r}; expected kg/m2/8day (= mm per 8-day composite, "
            "the MOD16A2 convention). Convert first (e.g. mm/day x composite length; see aggregate_8day)"
        )

    # unpack
    data = np.asarray(raw.values)
    if not np.issubdtype(data.dtype, np.number) or np.issubdtype(data.dtype, np.bool_):
        raise DataFormatError(f"{path}: variable {variable!r} is not numeric (dtype {data.dtype})")
    integer = np.issubdtype(data.dtype, np.integer)
    if scale_factor is None:
        scale_factor = raw.attrs.get("scale_factor")
    if scale_factor is None:
        if integer:
            raise DataFormatError(
                f"{path}: variable {variable!r} is integer-packed ({data.dtype}) but has no 'scale_factor' "
                f"attribute; pass scale_factor= (MOD16A2 uses {MOD16A2_SCALE_FACTOR})"
            )
        scale_factor = 1.0
    try:
        scale = float(np.asarray(scale_factor).item())
    except (TypeError, ValueError) as exc:
        raise DataFormatError(f"{path}: variable {variable!r}: scale_factor {scale_factor!r} is not a number") from exc
    if not np.isfinite(scale) or scale <= 0:
        raise DataFormatError(f"{path}: variable {variable!r}: scale_factor must be a positive number; got {scale}")
    offset = float(np.asarray(raw.attrs.get("add_offset", 0.0)).item())

    raw_f = data.astype(np.float64)
    missing = ~np.isfinite(raw_f)
    missing |= (raw_f >= MOD16A2_FILL_RANGE[0]) & (raw_f <= MOD16A2_FILL_RANGE[1])
    for key in ("_FillValue", "missing_value"):
        if key in raw.attrs:
            for fv in np.atleast_1d(np.asarray(raw.attrs[key], dtype=np.float64)):
                missing |= raw_f == fv
    values = np.where(missing, np.nan, raw_f * scale + offset).astype(np.float32)

    coords: dict[str, Any] = {}
    for name, c in [*raw.coords.items(), *extra.items()]:
        if c.dims == (site_dim,):
            coords[_SITE_DIM if name == site_dim else name] = (_SITE_DIM, c.values, c.attrs)
    coords["time"] = times.values.astype("datetime64[ns]")
    coords["n_days"] = ("time", composite_length(times))
    out = xr.DataArray(values, dims=tuple(_SITE_DIM if d == site_dim else d for d in dims), coords=coords, name=variable)
    out = out.transpose(_SITE_DIM, "time")
    keep = {k: v for k, v in raw.attrs.items() if k not in ("scale_factor", "add_offset", "_FillValue", "missing_value", "units", "valid_range")}
    out.attrs = {
        **keep,
        "units": MOD16A2_UNITS,
        "units_in_file": str(units),
        "long_name": raw.attrs.get("long_name", "evapotranspiration, sum over the 8-day composite (last of year 5/6 days)"),
        "source_file": str(path),
        "scale_factor_applied": scale,
        "fill_values_masked": int(missing.sum()),
        "composite_convention": "MOD16A2: periods start on DOY 1, 9, ..., 361; label = start date",
    }
    return out

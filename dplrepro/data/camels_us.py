"""Reader for ``camels_us.nc``: CAMELS-US forcing, streamflow and attributes.

The file (see ``data/README.md``) has dimensions ``(basin, time)`` with daily Daymet
basin-mean forcing (``prcp`` mm/day, ``tmax``/``tmin`` degC, ``srad`` W/m2, ``vp`` Pa,
``dayl`` s, ``swe`` mm), observed streamflow ``qobs`` (mm/day), per-basin metadata
(``lat``, ``lon``, ``area_km2``, ``in_531``, ``qobs_source``) and every CAMELS attribute
column as ``attr_<name>``.

It is produced either by the project's data maintainers or by
:func:`dplrepro.data.prepare.prepare_camels_us` from the original archive; both write the
same schema.

Leakage: the ``camels_hydro`` signatures (:data:`HYDRO_SIGNATURE_ATTRIBUTES`) are computed
from the streamflow record itself; :func:`static_attributes` refuses them unless asked
explicitly, because a model that predicts streamflow must never see them as inputs.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .checks import check_values, harmonise_units, note
from .errors import DataFormatError, UnknownSiteError
from .paths import require

__all__ = [
    "CAMELS_US_FILE",
    "HYDRO_SIGNATURE_ATTRIBUTES",
    "load_camels_us",
    "static_attributes",
]

log = logging.getLogger("dplrepro.data")

#: File name inside the data folder.
CAMELS_US_FILE = "camels_us.nc"

#: ``camels_hydro`` columns: streamflow signatures computed FROM the observed record
#: (1989-10-01..2009-09-30). Use them for checks, never as inputs of a streamflow model.
HYDRO_SIGNATURE_ATTRIBUTES: tuple[str, ...] = (
    "attr_q_mean",
    "attr_runoff_ratio",
    "attr_slope_fdc",
    "attr_baseflow_index",
    "attr_stream_elas",
    "attr_q5",
    "attr_q95",
    "attr_high_q_freq",
    "attr_high_q_dur",
    "attr_low_q_freq",
    "attr_low_q_dur",
    "attr_zero_q_freq",
    "attr_hfd_mean",
)

#: Per-basin metadata always returned with any variable selection (when present).
_US_METADATA = ("lat", "lon", "area_km2", "in_531", "qobs_source")

_MAX_LISTED = 8


# --------------------------------------------------------------------------------------
# helpers shared with the other readers of this package (camels_gb, smap)
# --------------------------------------------------------------------------------------
def _short_list(items: Sequence, limit: int = _MAX_LISTED) -> str:
    items = [str(i) for i in items]
    if len(items) <= limit:
        return ", ".join(items)
    return ", ".join(items[:limit]) + f", ... ({len(items)} in all)"


def _open_dataset(path: Path) -> xr.Dataset:
    """Open a NetCDF file lazily; unreadable content becomes a :class:`DataFormatError`."""
    try:
        return xr.open_dataset(path)
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{path} is not a readable NetCDF file: {exc}") from exc


def _require_dims(ds: xr.Dataset, dims: Sequence[str], path: Path) -> None:
    missing = [d for d in dims if d not in ds.dims]
    if missing:
        raise DataFormatError(
            f"{path} lacks dimension(s) {missing}; expected dimensions {list(dims)}, "
            f"found {dict(ds.sizes)}"
        )


def _normalise_ids(ids: Iterable, *, width: int | None = None) -> list[str]:
    """Return ids as strings; integers are zero-padded to ``width`` when given."""
    if isinstance(ids, (str, bytes, int, np.integer)):
        ids = [ids]
    out = []
    for value in ids:
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, (int, np.integer)):
            text = str(int(value))
            out.append(text.zfill(width) if width else text)
        else:
            out.append(str(value).strip())
    return out


def _check_sites(requested: Sequence, available: Sequence, path: Path, dim: str) -> None:
    known = set(available.tolist() if hasattr(available, "tolist") else available)
    unknown = [s for s in requested if s not in known]
    if unknown:
        raise UnknownSiteError(
            f"{len(unknown)} unknown {dim} id(s) not in {path}: {_short_list(unknown)}. "
            f"The file has {len(known)} {dim}s (e.g. {_short_list(sorted(known)[:3], 3)})."
        )
    dupes = sorted(s for s, n in Counter(requested).items() if n > 1)
    if dupes:
        raise ValueError(f"{dim} id(s) requested more than once: {_short_list(dupes)}")


def _check_variables(
    ds: xr.Dataset,
    variables: Sequence[str] | str | None,
    path: Path,
    *,
    keep: Sequence[str] = (),
    hints: dict[str, str] | None = None,
) -> list[str] | None:
    """Validate ``variables`` against ``ds``; return the variable names to keep."""
    if variables is None:
        return None
    if isinstance(variables, str):
        variables = [variables]
    variables = list(variables)
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        hint = ""
        if hints:
            hint = "".join(f" {hints[v]}" for v in missing if v in hints)
        raise DataFormatError(
            f"variable(s) {missing} not found in {path}.{hint} "
            f"Variables present: {_short_list(sorted(ds.data_vars), 40)}"
        )
    extra = [k for k in keep if k in ds.data_vars and k not in variables]
    return variables + extra


def _subset(raw: xr.Dataset, keep: list[str] | None) -> xr.Dataset:
    """``raw[keep]``, keeping the ``time`` coordinate even when only static variables are kept."""
    if keep is None:
        return raw
    ds = raw[keep]
    if "time" in raw.coords and "time" not in ds.coords:
        ds = ds.assign_coords(time=raw["time"])
    return ds


def _to_timestamp(value, label: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{label}={value!r} is not a date") from exc


def _select_time(ds: xr.Dataset, start, end, path: Path) -> xr.Dataset:
    """Slice ``time`` to ``[start, end]``; a period outside the file is an error."""
    if start is None and end is None:
        return ds
    first = pd.Timestamp(ds.time.values[0])
    last = pd.Timestamp(ds.time.values[-1])
    t0 = _to_timestamp(start, "start") if start is not None else first
    t1 = _to_timestamp(end, "end") if end is not None else last
    if t0 > t1:
        raise ValueError(f"start {t0.date()} is after end {t1.date()}")
    if t0 < first or t1 > last:
        raise DataFormatError(
            f"requested period {t0.date()}..{t1.date()} is outside the record of {path} "
            f"({first.date()}..{last.date()})"
        )
    return ds.sel(time=slice(t0, t1))


def _filter_by_valid_q(
    ds: xr.Dataset,
    *,
    explicit: bool,
    min_valid: int,
    path: Path,
    dim: str = "basin",
    var: str = "qobs",
) -> xr.Dataset:
    """Apply the all-NaN / ``min_valid`` rules for observed streamflow (see readers)."""
    if var not in ds.data_vars or ds.sizes.get(dim, 0) == 0:
        return ds
    period = f"{pd.Timestamp(ds.time.values[0]).date()}..{pd.Timestamp(ds.time.values[-1]).date()}"
    counts = ds[var].notnull().sum("time").values
    ids = ds[dim].values
    if explicit:
        threshold = max(1, int(min_valid))
        bad = [str(b) for b, n in zip(ids, counts) if n < threshold]
        if bad:
            what = "no valid" if threshold == 1 else f"fewer than {threshold} valid"
            raise DataFormatError(
                f"{dim}(s) {_short_list(bad)} have {what} '{var}' values in {period} "
                f"in {path.name} ({path}); choose another period or other {dim}s"
            )
        return ds
    if min_valid and min_valid > 0:
        keep = counts >= int(min_valid)
        dropped = [str(b) for b, k in zip(ids, keep) if not k]
        if dropped:
            note(f"{path.name}: dropped {len(dropped)} of {len(ids)} {dim}s with fewer than {int(min_valid)} "
                 f"valid '{var}' days in {period}: {_short_list(dropped)}", "all: " + ", ".join(dropped))
            ds = ds.isel({dim: np.flatnonzero(keep)})
            ds.attrs[f"dropped_{dim}s"] = ",".join(dropped)
        return ds
    empty = [str(b) for b, n in zip(ids, counts) if n == 0]
    if empty:
        note(f"{path.name}: {len(empty)} of {len(ids)} {dim}s have no valid '{var}' value in {period} (kept; "
             f"pass min_valid_qobs to drop them): {_short_list(empty)}", "all: " + ", ".join(empty))
    return ds


def _keep_flagged(ds: xr.Dataset, raw: xr.Dataset, flag: str, explicit: bool, problem: str) -> xr.Dataset:
    """Keep the basins whose boolean ``flag`` is set; explicitly requested unflagged ones are an error."""
    flags = raw[flag].sel(basin=ds.basin.values).values.astype(bool)
    if explicit and not flags.all():
        outside = [str(b) for b, f in zip(ds.basin.values, flags) if not f]
        raise ValueError(f"basin(s) {_short_list(outside)} {problem}")
    return ds.isel(basin=np.flatnonzero(flags))


def _finish(ds: xr.Dataset, path: Path, *, site_dim: str = "basin", check: bool = True) -> xr.Dataset:
    """Load the (already selected) data into memory, bring units to the schema's and check the
    values (``check``; :mod:`dplrepro.data.checks`), and record provenance."""
    ds = ds.load()
    if check:
        ds = harmonise_units(ds, path)
        check_values(ds, path, site_dim)
    ds.attrs["source_file"] = str(path)
    return ds


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------
def load_camels_us(
    basins: Sequence[str] | str | None = None,
    *,
    variables: Sequence[str] | str | None = None,
    start=None,
    end=None,
    subset_531: bool = False,
    min_valid_qobs: int = 0,
) -> xr.Dataset:
    """Read CAMELS-US from ``$DPLREPRO_DATA/camels_us.nc`` into memory.

    Parameters
    ----------
    basins
        8-digit USGS ids (strings; integers are zero-padded). ``None`` = every basin.
        Unknown ids raise :class:`UnknownSiteError`.
    variables
        Variables to return (e.g. ``["prcp", "tmax", "qobs"]``). The per-basin metadata
        ``lat``, ``lon``, ``area_km2``, ``in_531``, ``qobs_source`` always come along.
        A name missing from the file raises :class:`DataFormatError`.
    start, end
        Inclusive period; must lie within 1980-10-01..2014-12-31.
    subset_531
        Keep only the 531-basin subset of Newman et al. (2017) (``in_531``).
    min_valid_qobs
        With ``basins=None``: drop basins with fewer valid ``qobs`` days in the period
        and log them (logger ``dplrepro.data``). With explicit ``basins``: any basin with
        fewer valid days (at least one is always required) raises
        :class:`DataFormatError`. Only applies when ``qobs`` is returned.

    Returns
    -------
    xarray.Dataset with dims ``(basin, time)``; units are in each variable's ``attrs``.
    """
    path = require(CAMELS_US_FILE)
    explicit = basins is not None
    with _open_dataset(path) as raw:
        _require_dims(raw, ("basin", "time"), path)
        keep = _check_variables(raw, variables, path, keep=_US_METADATA)
        ds = _subset(raw, keep)
        if explicit:
            ids = _normalise_ids(basins, width=8)
            _check_sites(ids, raw.basin.values, path, "basin")
            ds = ds.sel(basin=ids)
        if subset_531:
            if "in_531" not in raw.data_vars or raw.attrs.get("in_531_source") == "unavailable":
                raise DataFormatError(
                    f"{path} does not say which basins belong to the 531-basin subset "
                    "(no 531_basin_list.txt was available when it was prepared)"
                )
            ds = _keep_flagged(ds, raw, "in_531", explicit, "requested with subset_531=True are not in the 531-basin subset")
        ds = _select_time(ds, start, end, path)
        ds = _finish(ds, path)
    return _filter_by_valid_q(ds, explicit=explicit, min_valid=min_valid_qobs, path=path)


def static_attributes(
    ds: xr.Dataset,
    names: Sequence[str] | str,
    *,
    allow_signatures: bool = False,
) -> xr.DataArray:
    """Stack per-basin attributes into a float32 ``(basin, attribute)`` DataArray.

    ``names`` may be given with or without the ``attr_`` prefix (``"aridity"`` or
    ``"attr_aridity"``); per-basin variables such as ``lat``, ``lon`` and ``area_km2`` are
    accepted too. The ``attribute`` coordinate keeps the names as given.

    Raises :class:`DataFormatError` for a missing name (listing the available ones) or a
    non-numeric one (e.g. ``attr_gauge_name``), and :class:`ValueError` for a streamflow
    signature (:data:`HYDRO_SIGNATURE_ATTRIBUTES`) unless ``allow_signatures=True``.
    """
    if isinstance(names, str):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError("static_attributes needs at least one attribute name")
    site_dim = "basin" if "basin" in ds.dims else ("cell" if "cell" in ds.dims else None)
    if site_dim is None:
        raise DataFormatError(f"dataset has no 'basin' or 'cell' dimension (dims: {dict(ds.sizes)})")
    per_site = [v for v in ds.data_vars if ds[v].dims == (site_dim,)]
    columns = []
    for name in names:
        var = name if name in per_site else (f"attr_{name}" if f"attr_{name}" in per_site else None)
        if var is None:
            raise DataFormatError(
                f"attribute {name!r} not found; per-{site_dim} variables available: "
                f"{_short_list(sorted(per_site), 200)}"
            )
        if var in HYDRO_SIGNATURE_ATTRIBUTES and not allow_signatures:
            raise ValueError(
                f"{var} is a streamflow signature computed from the observed record "
                "(leakage if used as a model input); pass allow_signatures=True for checks"
            )
        values = ds[var].values
        if values.dtype.kind not in "fiub":
            raise DataFormatError(
                f"attribute {var!r} is not numeric (dtype {values.dtype}, e.g. "
                f"{values[0]!r}); only numeric attributes can be stacked"
            )
        columns.append(values.astype(np.float32))
    data = np.stack(columns, axis=1) if columns else np.empty((ds.sizes[site_dim], 0), np.float32)
    return xr.DataArray(
        data,
        dims=(site_dim, "attribute"),
        coords={site_dim: ds[site_dim].values, "attribute": names},
        name="static_attributes",
    )

"""Reader for ``smap_conus.nc``: SMAP L3 surface soil moisture with NLDAS-2 forcing.

412 CONUS cells (a regular sub-sample, every 4th cell, of the SMAP 36 km EASE-Grid 2.0),
2015-04-01..2018-03-31. Dimensions ``(cell, time)``.

Unit conversions are done HERE, once, and the original variables are not kept (one name
per concept):

* ``apcp`` (kg/m2 per hour, daily mean of hourly accumulations) -> ``prcp`` = apcp x 24,
  mm/day;
* ``tmp`` (K) -> ``tmean`` = tmp - 273.15, degC.

The other variables keep their names and units: ``smap_am`` m3/m3 (NaN after
2017-03-31), ``spfh`` kg/kg, ``dswrf``/``dlwrf`` W/m2, ``ugrd``/``vgrd`` m/s; per cell
``lat``, ``lon``, soil/vegetation constants and quality flags. :func:`load_smap_conus`
adds integer ``row``/``col`` grid positions (see :func:`grid_indices`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import xarray as xr

from .camels_us import (
    _check_sites,
    _check_variables,
    _finish,
    _normalise_ids,
    _open_dataset,
    _require_dims,
    _select_time,
    _subset,
)
from .checks import check_values, harmonise_units
from .errors import DataFormatError
from .paths import require

__all__ = ["SMAP_FILE", "SMAP_LON_SPACING_DEG", "RENAMES", "grid_indices", "load_smap_conus"]

#: File name inside the data folder.
SMAP_FILE = "smap_conus.nc"

#: Longitude spacing of the sub-sampled grid: 4 columns of the 964-column global
#: EASE-Grid 2.0 (36 km) = 4 x 360/964 degrees (about 1.494).
SMAP_LON_SPACING_DEG = 4 * 360.0 / 964.0

#: Conversions applied by the reader: new name -> (original name, factor, offset, units, text).
RENAMES = {
    "prcp": ("apcp", 24.0, 0.0, "mm/day",
             "NLDAS-2 precipitation, daily total (apcp kg/m2 per hour x 24)"),
    "tmean": ("tmp", 1.0, -273.15, "degC",
              "NLDAS-2 2 m air temperature, daily mean (tmp K - 273.15)"),
}
#: The units the reader expects on the original variables (the start of their ``units`` text).
SOURCE_UNITS = {"apcp": "kg/m2 per hour", "tmp": "K"}
_HINTS = {old: f"'{old}' is provided converted as '{new}' ({units})."
          for new, (old, _, _, units, _) in RENAMES.items()}

_CELL_METADATA = ("lat", "lon")


def grid_indices(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Return integer ``(row, col)`` arrays placing each cell on its regular grid.

    Rows: rank of the cell's latitude among the unique latitudes rounded to 0.01 degree
    (row 0 = southernmost). EASE-Grid rows are equal-area, so their latitude spacing is
    not uniform (1.26 deg in the south, 1.71 deg in the north of CONUS); hence the rank.
    Columns: ``round((lon - min lon) / spacing)`` with the median spacing between
    neighbouring cells of the same row (about 1.494 deg; :data:`SMAP_LON_SPACING_DEG` when
    no row has two cells).

    Indices are relative to the cells in ``ds``: :func:`load_smap_conus` computes them on
    all 412 cells before any selection so that they do not depend on the selection.
    Raises :class:`DataFormatError` if two cells land on the same grid position.
    """
    for name in ("lat", "lon"):
        if name not in ds.variables:
            raise DataFormatError(f"dataset has no '{name}' variable; cannot place cells on the grid")
    lat = np.asarray(ds["lat"].values, dtype=np.float64)
    lon = np.asarray(ds["lon"].values, dtype=np.float64)
    if lat.ndim != 1 or lat.size == 0:
        raise DataFormatError("grid_indices needs one-dimensional, non-empty lat/lon per cell")
    if np.isnan(lat).any() or np.isnan(lon).any():
        raise DataFormatError("some cells have NaN lat/lon; cannot place them on the grid")
    lat_key = np.round(lat, 2)
    unique_lat, row = np.unique(lat_key, return_inverse=True)
    diffs = []
    for r in range(unique_lat.size):
        lons = np.sort(lon[row == r])
        d = np.diff(lons)
        diffs.extend(d[d > 1e-6].tolist())
    if diffs:
        diffs = np.asarray(diffs)
        # neighbours only: gaps of several columns would bias the median upwards
        spacing = float(np.median(diffs[diffs < 1.5 * diffs.min()]))
    else:
        spacing = SMAP_LON_SPACING_DEG
    col = np.rint((lon - lon.min()) / spacing).astype(np.int64)
    row = row.astype(np.int64)
    pairs = row * (col.max() + 1) + col
    if np.unique(pairs).size != pairs.size:
        raise DataFormatError(
            "two or more cells fall on the same (row, col) grid position; lat/lon are not "
            f"on a regular grid with lon spacing {spacing:.4f} deg"
        )
    return row, col


def load_smap_conus(
    cells: Sequence[int] | int | None = None,
    *,
    variables: Sequence[str] | str | None = None,
    start=None,
    end=None,
) -> xr.Dataset:
    """Read ``$DPLREPRO_DATA/smap_conus.nc`` into memory, converting units.

    ``cells`` are the integer cell ids (0..411); unknown ids raise
    :class:`UnknownSiteError`. ``variables`` use the converted names (``prcp``,
    ``tmean``, ``smap_am``, ...); asking for ``apcp``/``tmp`` raises
    :class:`DataFormatError` pointing at the new names. ``lat``, ``lon``, ``row`` and
    ``col`` always come along. ``start``/``end`` must lie in 2015-04-01..2018-03-31.

    Renames (recorded in ``ds.attrs['unit_conversions']``): ``apcp`` kg/m2 per hour ->
    ``prcp`` mm/day (x24); ``tmp`` K -> ``tmean`` degC (-273.15).
    """
    path = require(SMAP_FILE)
    with _open_dataset(path) as raw:
        _require_dims(raw, ("cell", "time"), path)
        raw_vars = set(raw.data_vars)
        missing_sources = [old for old, *_ in RENAMES.values() if old not in raw_vars]
        if missing_sources:
            raise DataFormatError(
                f"variable(s) {missing_sources} not found in {path}; variables present: "
                f"{sorted(raw_vars)}"
            )
        # the file's names as the user sees them (after renaming)
        view = raw.rename({old: new for new, (old, *_) in RENAMES.items()})
        keep = _check_variables(view, variables, path, keep=_CELL_METADATA, hints=_HINTS)
        row, col = grid_indices(raw)  # on all cells: stable under selection
        ds = _subset(view, keep)
        ds = ds.assign(
            row=("cell", row, {"long_name": "grid row (rank of unique latitude, 0 = south)"}),
            col=("cell", col, {"long_name": "grid column (lon spacing about 1.494 deg)"}),
        )
        if cells is not None:
            try:
                ids = [int(c) for c in _normalise_ids(cells)]
            except ValueError as exc:
                raise ValueError(f"cell ids must be integers, got {cells!r}") from exc
            _check_sites(ids, raw.cell.values, path, "cell")
            ds = ds.sel(cell=ids)
        ds = _select_time(ds, start, end, path)
        ds = _finish(ds, path, check=False)  # checked below, after the conversions
    for new, (old, factor, offset, units, text) in RENAMES.items():
        if new not in ds:
            continue
        given = str(ds[new].attrs.get("units", SOURCE_UNITS[old]))
        if given.split("(")[0].strip().lower() != SOURCE_UNITS[old].lower():
            raise DataFormatError(f"{path}: variable '{old}' is in {given!r}; expected {SOURCE_UNITS[old]!r} "
                                  f"(converted to '{new}' in {units})")
        attrs = {
            "units": units,
            "long_name": text,
            "converted_from": f"{old} [{ds[new].attrs.get('units', '?')}]",
        }
        converted = ds[new].astype(np.float32) * np.float32(factor) + np.float32(offset)
        ds[new] = converted.astype(np.float32).assign_attrs(attrs)
    ds.attrs["unit_conversions"] = (
        "apcp (kg/m2 per hour) -> prcp (mm/day) = apcp*24; tmp (K) -> tmean (degC) = tmp-273.15; "
        "original names not kept"
    )
    ds = harmonise_units(ds, path)
    check_values(ds, path, "cell")
    return ds

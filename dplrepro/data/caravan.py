"""Reader for the Caravan attribute tables (Kratzert et al. 2023, CC-BY-4.0).

Layout (official Caravan): ``caravan_attributes/<source>/attributes_{other,caravan,
hydroatlas}_<source>.csv`` with key column ``gauge_id`` (``<source>_<id>``).

* ``other``: ``gauge_name``, ``country``, ``gauge_lat``, ``gauge_lon``, ``area`` (km2)
* ``caravan``: ERA5-Land climate indices (``p_mean``, ``pet_mean``, ``aridity``, ...)
* ``hydroatlas``: HydroATLAS attributes (``slp_dg_sav``, ``snd_pc_sav``, ...)

No time series are read here.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataFormatError, DataNotFoundError
from .paths import require
from .checks import note

__all__ = ["CARAVAN_DIR", "CARAVAN_TABLES", "available_caravan_sources", "load_caravan_attributes"]

log = logging.getLogger("dplrepro.data")

#: Folder inside the data folder.
CARAVAN_DIR = "caravan_attributes"
#: The three attribute tables of each source, in merge order.
CARAVAN_TABLES = ("other", "caravan", "hydroatlas")


def available_caravan_sources() -> list[str]:
    """Sources (sub-folders holding ``attributes_*_<source>.csv``) present in the data folder."""
    root = require(CARAVAN_DIR)
    return sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and any(p.glob(f"attributes_*_{p.name}.csv"))
    )


def _read_table(path: Path, source: str) -> pd.DataFrame | None:
    if path.stat().st_size == 0:
        note(f"{path} is empty: no {path.name.split('_')[1]} attributes for source {source!r} (values left NaN)")
        return None
    try:
        frame = pd.read_csv(path, dtype={"gauge_id": str}, low_memory=False)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataFormatError(f"{path} is not a readable CSV file: {exc}") from exc
    if "gauge_id" not in frame.columns:
        raise DataFormatError(
            f"{path} has no 'gauge_id' column (columns: {list(frame.columns)[:10]}); "
            "every Caravan attribute table is keyed by gauge_id"
        )
    frame["gauge_id"] = frame["gauge_id"].astype(str).str.strip()
    dupes = frame["gauge_id"][frame["gauge_id"].duplicated()].unique().tolist()
    if dupes:
        raise DataFormatError(f"{path} lists gauge_id(s) more than once: {dupes[:8]}")
    return frame.set_index("gauge_id")


def _source_frame(root: Path, source: str) -> tuple[pd.DataFrame, dict[str, str]]:
    frames = []
    table_of: dict[str, str] = {}
    for table in CARAVAN_TABLES:
        path = root / source / f"attributes_{table}_{source}.csv"
        if not path.exists():
            raise DataFormatError(
                f"{path} is missing; expected attributes_{{{','.join(CARAVAN_TABLES)}}}_{source}.csv "
                f"in {root / source}"
            )
        frame = _read_table(path, source)
        if frame is None:
            continue
        clash = [c for c in frame.columns if c in table_of]
        if clash:
            raise DataFormatError(f"{path} repeats column(s) {clash} of another table")
        table_of.update({c: table for c in frame.columns})
        frames.append(frame)
    if not frames:
        raise DataFormatError(f"no attribute table of source {source!r} in {root / source} has data")
    merged = pd.concat(frames, axis=1, join="outer", sort=False)
    merged = pd.concat([pd.Series(source, index=merged.index, name="source"), merged], axis=1)
    return merged, table_of


def load_caravan_attributes(sources: Sequence[str] | str | None = None) -> xr.Dataset:
    """Merge the Caravan attribute tables into one Dataset with dimension ``basin``.

    ``basin`` holds the ``gauge_id`` strings (e.g. ``"camels_01022500"``); a ``source``
    variable names the source dataset of each basin. Numeric columns become float64
    variables, text columns strings. Each variable's ``table`` attribute says which CSV
    it came from. A source lacking a table (an empty file, as HYSETS' HydroATLAS table in
    some releases) gets NaN there; the gap is logged and listed in ``ds.attrs``.

    Raises :class:`DataNotFoundError` for an unknown source (listing the available ones)
    and :class:`DataFormatError` for a table without a ``gauge_id`` column.
    """
    root = require(CARAVAN_DIR)
    available = available_caravan_sources()
    if sources is None:
        sources = available
    elif isinstance(sources, str):
        sources = [sources]
    sources = list(sources)
    unknown = [s for s in sources if s not in available]
    if unknown:
        raise DataNotFoundError(
            f"unknown Caravan source(s) {unknown} in {root}; available sources: "
            f"{', '.join(available) or '(none)'}"
        )
    if not sources:
        raise ValueError("no Caravan source selected")
    frames, table_of, empty = [], {}, []
    for source in sources:
        frame, tables = _source_frame(root, source)
        for table in CARAVAN_TABLES:
            if table not in tables.values():
                empty.append(f"{source}:{table}")
        table_of.update(tables)
        frames.append(frame)
    merged = pd.concat(frames, axis=0, join="outer", sort=False)
    dupes = merged.index[merged.index.duplicated()].unique().tolist()
    if dupes:
        raise DataFormatError(f"gauge_id(s) listed by several sources: {dupes[:8]}")
    data_vars = {}
    for column in merged.columns:
        series = merged[column]
        if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = series.fillna("").astype(str).to_numpy(dtype=str)
        attrs = {"table": table_of.get(column, "index")}
        data_vars[column] = ("basin", values, attrs)
    ds = xr.Dataset(data_vars, coords={"basin": merged.index.to_numpy(dtype=str)})
    ds.attrs.update(
        source_folder=str(root),
        sources=",".join(sources),
        missing_tables=",".join(empty),
        license="Caravan data CC-BY-4.0 (Kratzert et al. 2023, Sci Data 10:61); HydroATLAS CC-BY-4.0",
    )
    if "area" in ds:
        ds["area"].attrs["units"] = "km2"
    for name in ("gauge_lat",):
        if name in ds:
            ds[name].attrs["units"] = "degrees_north"
    if "gauge_lon" in ds:
        ds["gauge_lon"].attrs["units"] = "degrees_east"
    return ds

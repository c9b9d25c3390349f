"""Build ``camels_us.nc`` from the ORIGINAL CAMELS-US archive layout.

Input layout (``raw_dir``; the archive's own top folder ``basin_dataset_public_v1p2/`` may
sit in between and is found automatically)::

    basin_mean_forcing/daymet/<HUC02>/<id>_lump_cida_forcing_leap.txt
    usgs_streamflow/<HUC02>/<id>_streamflow_qc.txt
    camels_attributes_v2.0/camels_{clim,geol,hydro,name,soil,topo,vege}.txt
    531_basin_list.txt            (optional: in_531 is then unknown, see below)

* Forcing file: line 1 latitude, line 2 elevation (m), line 3 basin area (m2), line 4 the
  column header ``Year Mnth Day Hr dayl(s) prcp(mm/day) srad(W/m2) swe(mm) tmax(C)
  tmin(C) vp(Pa)``, then one whitespace-separated row per day.
* Streamflow file: ``<id> <year> <month> <day> <discharge cfs> <QC flag>`` per day, flag
  ``A`` (approved), ``A:e`` (approved, estimated) or ``M`` (missing); -999 = missing.

Output: the schema of ``camels_us.nc`` (see :mod:`dplrepro.data.camels_us`): float32
``(basin, time)`` ``prcp tmax tmin srad vp dayl swe qobs`` with units attributes,
``qobs`` in mm/day as ``cfs x 0.0283168 x 86400 x 1000 / area_m2`` with the area from line
3 of the forcing file, ``lat``/``lon`` = the gauge location (``gauge_lat``/``gauge_lon`` of
``camels_topo.txt``), ``area_km2`` = ``area_gages2``, ``in_531``, ``qobs_source`` =
``"camels_usgs"``, and every other attribute column as ``attr_<name>`` (numeric columns
float32, text columns strings, ``NA`` -> NaN or ``""``). Time axis 1980-10-01..2014-12-31
(the packed file's), days absent from a file are NaN.

Unlike the packed file, values are stored without lossy quantisation (the packed file
rounds forcings to 1/128 and ``qobs`` to 1/1024 of a unit; see the tests).
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..utils import atomic_path
from .errors import DataError, DataFormatError, DataNotFoundError
from .paths import data_dir, require

__all__ = [
    "CFS_TO_M3S",
    "FORCING_VARIABLES",
    "OutputExistsError",
    "prepare_camels_us",
    "read_camels_attributes",
    "read_forcing_file",
    "read_streamflow_file",
]

log = logging.getLogger("dplrepro.data")

#: Cubic feet to cubic metres.
CFS_TO_M3S = 0.0283168
#: Daymet forcing variables in the order of camels_us.nc.
FORCING_VARIABLES = ("prcp", "tmax", "tmin", "srad", "vp", "dayl", "swe")
#: Default time axis (the packed camels_us.nc's).
DEFAULT_START = "1980-10-01"
DEFAULT_END = "2014-12-31"

ATTRIBUTE_FILES = ("clim", "geol", "hydro", "name", "soil", "topo", "vege")
#: Attribute columns that are text even when they look numeric (``huc_02`` = "01").
TEXT_ATTRIBUTES = frozenset(
    {"huc_02", "gauge_name", "high_prec_timing", "low_prec_timing", "geol_1st_class",
     "geol_2nd_class", "dom_land_cover"}
)
_NA = ("NA", "", "NaN", "nan")

_VAR_ATTRS = {
    "prcp": {"units": "mm/day", "long_name": "precipitation (Daymet basin mean)"},
    "tmax": {"units": "degC", "long_name": "daily maximum air temperature"},
    "tmin": {"units": "degC", "long_name": "daily minimum air temperature"},
    "srad": {"units": "W/m2", "long_name": "shortwave radiation (daylight mean)"},
    "vp": {"units": "Pa", "long_name": "water vapour pressure"},
    "dayl": {"units": "s", "long_name": "day length"},
    "swe": {"units": "mm", "long_name": "snow water equivalent (Daymet)"},
    "qobs": {"units": "mm/day", "long_name": "observed streamflow (USGS), depth over the basin area"},
    "qobs_source": {"long_name": "camels_usgs: original CAMELS file (cfs converted with the Daymet "
                    "header area); caravan: Caravan streamflow (same USGS record, mm/day)"},
    "in_531": {"long_name": "in the 531-basin subset (Newman et al. 2017)"},
    "lat": {"units": "degrees_north"},
    "lon": {"units": "degrees_east"},
    "area_km2": {"units": "km2"},
}

_FORCING_HEADER = "Year Mnth Day Hr dayl(s) prcp(mm/day) srad(W/m2) swe(mm) tmax(C) tmin(C) vp(Pa)"
_FLAG = re.compile(r"^[A-Z](:[A-Za-z<>]+)?$")

EXPECTED_LAYOUT = """expected layout of the CAMELS-US archive (folder given, or its basin_dataset_public_v1p2/):
  basin_mean_forcing/daymet/<HUC02>/<id>_lump_cida_forcing_leap.txt
  usgs_streamflow/<HUC02>/<id>_streamflow_qc.txt
  camels_attributes_v2.0/camels_{clim,geol,hydro,name,soil,topo,vege}.txt
  531_basin_list.txt (optional)
obtain it with: dplrepro data download camels-us"""


class OutputExistsError(DataError, FileExistsError):
    """The output file exists and ``overwrite`` was not requested."""


# --------------------------------------------------------------------------------------
# layout
# --------------------------------------------------------------------------------------
def _first_existing(candidates: Sequence[Path]) -> Path | None:
    for path in candidates:
        if path.exists():
            return path
    return None


def _layout(raw_dir: Path) -> dict[str, Path | None]:
    if not raw_dir.is_dir():
        raise DataNotFoundError(f"raw CAMELS-US folder {raw_dir} does not exist.\n{EXPECTED_LAYOUT}")
    # the folder itself, the archive's own top folder, or any sub-folder holding the series
    roots = [raw_dir, raw_dir / "basin_dataset_public_v1p2"]
    roots += sorted(
        p for p in raw_dir.iterdir()
        if p.is_dir() and p not in roots and ((p / "basin_mean_forcing").is_dir() or (p / "usgs_streamflow").is_dir())
    )
    found: dict[str, Path | None] = {}
    for key, rel in (("forcing", "basin_mean_forcing/daymet"), ("streamflow", "usgs_streamflow"),
                     ("attributes", "camels_attributes_v2.0")):
        path = _first_existing([r / rel for r in roots])
        if path is None or not path.is_dir():
            raise DataFormatError(
                f"{raw_dir} has no {rel}/ folder (looked in {', '.join(str(r) for r in roots)}).\n"
                f"{EXPECTED_LAYOUT}"
            )
        found[key] = path
    for name in ATTRIBUTE_FILES:
        path = found["attributes"] / f"camels_{name}.txt"
        if not path.is_file():
            raise DataFormatError(f"attribute file {path} is missing.\n{EXPECTED_LAYOUT}")
    found["list531"] = _first_existing([r / "531_basin_list.txt" for r in roots])
    return found


def _index_files(folder: Path, suffix: str) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in sorted(folder.glob(f"*/*{suffix}")):
        basin = path.name[: -len(suffix)]
        if basin in files:
            raise DataFormatError(f"basin {basin} has two files: {files[basin]} and {path}")
        files[basin] = path
    return files


# --------------------------------------------------------------------------------------
# single-file readers (strict: every problem names the file and the line)
# --------------------------------------------------------------------------------------
def _date(path: Path, lineno: int, y: str, m: str, d: str, line: str) -> _dt.date:
    try:
        return _dt.date(int(y), int(m), int(d))
    except ValueError:
        raise DataFormatError(
            f"{path}, line {lineno}: expected a valid date as year month day, found "
            f"{y!r} {m!r} {d!r} in {line.strip()!r}"
        ) from None


def _check_dates(path: Path, dates: list, linenos: list) -> None:
    for i in range(1, len(dates)):
        if dates[i] <= dates[i - 1]:
            what = "repeats" if dates[i] == dates[i - 1] else "goes back to"
            raise DataFormatError(
                f"{path}, line {linenos[i]}: date {what} {dates[i]} after {dates[i - 1]}; "
                "expected one row per day in increasing order"
            )


def read_forcing_file(path: str | Path) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
    """Read a ``*_lump_cida_forcing_leap.txt`` file.

    Returns ``(dates, values, header)``: ``dates`` datetime64[D], ``values`` maps each of
    :data:`FORCING_VARIABLES` to a float64 array, ``header`` has ``lat``, ``elevation`` and
    ``area_m2``. A malformed line raises :class:`DataFormatError` naming the file, the line
    number and what was expected.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if len(lines) < 5:
        raise DataFormatError(
            f"{path}: {len(lines)} lines; expected 3 header lines (latitude, elevation, area in "
            f"m2), the column header '{_FORCING_HEADER}' and one row per day"
        )
    header = {}
    for lineno, (key, what) in enumerate((("lat", "the gauge latitude"),
                                          ("elevation", "the mean elevation (m)"),
                                          ("area_m2", "the basin area in m2")), start=1):
        text = lines[lineno - 1].strip()
        try:
            header[key] = float(text)
        except ValueError:
            raise DataFormatError(f"{path}, line {lineno}: expected {what} (one number), found {text!r}") from None
    if not header["area_m2"] > 0:
        raise DataFormatError(f"{path}, line 3: expected a positive basin area in m2, found {lines[2].strip()!r}")
    names = [re.sub(r"\(.*\)$", "", tok).lower() for tok in lines[3].split()]
    needed = ("year", "mnth", "day") + FORCING_VARIABLES
    if any(n not in names for n in needed):
        raise DataFormatError(
            f"{path}, line 4: expected the column header '{_FORCING_HEADER}', found {lines[3].strip()!r}"
        )
    columns = lines[3].split()
    ncol = len(names)
    iy, im, iday = names.index("year"), names.index("mnth"), names.index("day")
    ivar = [names.index(v) for v in FORCING_VARIABLES]
    dates, linenos, rows = [], [], []
    for lineno, line in enumerate(lines[4:], start=5):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != ncol:
            raise DataFormatError(
                f"{path}, line {lineno}: expected {ncol} whitespace-separated values "
                f"({lines[3].strip()}), found {len(tokens)}: {line.strip()!r}"
            )
        dates.append(_date(path, lineno, tokens[iy], tokens[im], tokens[iday], line))
        linenos.append(lineno)
        try:
            rows.append([float(tokens[i]) for i in ivar])
        except ValueError:
            i = next(i for i in ivar if not _is_number(tokens[i]))
            raise DataFormatError(
                f"{path}, line {lineno}: expected a number for {columns[i]}, found "
                f"{tokens[i]!r} in {line.strip()!r}"
            ) from None
    if not rows:
        raise DataFormatError(f"{path}: no data rows after the column header (line 4)")
    _check_dates(path, dates, linenos)
    data = np.asarray(rows, dtype=np.float64)
    values = {v: data[:, j] for j, v in enumerate(FORCING_VARIABLES)}
    return np.asarray(dates, dtype="datetime64[D]"), values, header


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_streamflow_file(path: str | Path, basin: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a ``*_streamflow_qc.txt`` file: ``(dates, discharge_cfs, flags)``.

    -999 becomes NaN. Every line must read ``<id> <year> <month> <day> <cfs> <flag>`` with
    ``id`` equal to ``basin`` (default: taken from the file name), separated by spaces or by
    tabs; in the tab-separated dialect (e.g. 02342933, 03574500) a missing day has empty
    discharge and flag fields. Anything else raises :class:`DataFormatError` naming the file
    and the line number.
    """
    path = Path(path)
    if basin is None:
        basin = path.name.split("_")[0]
    dates, linenos, values, flags = [], [], [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, start=1):
            # two dialects occur in the official archive: space-aligned columns, and
            # tab-separated columns where a missing day has empty discharge and flag fields
            if "\t" in line:
                tokens = [t.strip() for t in line.rstrip("\r\n").split("\t")]
            else:
                tokens = line.split()
            if not any(tokens):
                continue
            if len(tokens) != 6:
                raise DataFormatError(
                    f"{path}, line {lineno}: expected 6 fields '<gauge id> <year> <month> <day> "
                    f"<discharge cfs> <QC flag A|A:e|M>' (space- or tab-separated; empty discharge "
                    f"and flag = missing), found {len(tokens)}: {line.strip()!r}"
                )
            if tokens[0] != basin:
                raise DataFormatError(
                    f"{path}, line {lineno}: expected gauge id {basin}, found {tokens[0]!r}"
                )
            dates.append(_date(path, lineno, tokens[1], tokens[2], tokens[3], line))
            linenos.append(lineno)
            value, flag = tokens[4], tokens[5]
            if value == "":
                if flag not in ("", "M"):
                    raise DataFormatError(
                        f"{path}, line {lineno}: empty discharge with QC flag {flag!r}; expected "
                        "a number, or an empty/M flag for a missing day"
                    )
                values.append(np.nan)
                flags.append(flag or "M")
                continue
            try:
                q = float(value)
            except ValueError:
                raise DataFormatError(
                    f"{path}, line {lineno}: expected the discharge in cfs (a number, -999 = "
                    f"missing), found {value!r}"
                ) from None
            if q == -999.0:
                q = np.nan
            elif q < 0 or not np.isfinite(q):
                raise DataFormatError(
                    f"{path}, line {lineno}: expected a non-negative discharge or -999 (missing), "
                    f"found {value!r}"
                )
            if not _FLAG.match(flag):
                raise DataFormatError(
                    f"{path}, line {lineno}: expected a QC flag (A, A:e or M), found {flag!r}"
                )
            values.append(q)
            flags.append(flag)
    if not values:
        raise DataFormatError(f"{path}: no data lines; expected one line per day")
    _check_dates(path, dates, linenos)
    return (np.asarray(dates, dtype="datetime64[D]"), np.asarray(values, dtype=np.float64),
            np.asarray(flags, dtype=str))


def read_camels_attributes(folder: str | Path) -> pd.DataFrame:
    """Merge ``camels_{clim,geol,hydro,name,soil,topo,vege}.txt`` (``;``-separated).

    Returns a DataFrame indexed by the 8-digit ``gauge_id`` with the columns in file order;
    numeric columns float64 (``NA`` -> NaN), text columns (:data:`TEXT_ATTRIBUTES` and any
    non-numeric column) strings with ``NA`` -> ``""``.
    """
    folder = Path(folder)
    frames = []
    seen: dict[str, str] = {}
    for name in ATTRIBUTE_FILES:
        path = folder / f"camels_{name}.txt"
        try:
            frame = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"{path}: not a ';'-separated table: {exc}") from exc
        if "gauge_id" not in frame.columns:
            raise DataFormatError(
                f"{path}: first line must be a ';'-separated header starting with gauge_id, "
                f"found {list(frame.columns)[:5]}"
            )
        frame["gauge_id"] = frame["gauge_id"].str.strip()
        bad = frame["gauge_id"][~frame["gauge_id"].str.fullmatch(r"\d{8}")]
        if len(bad):
            raise DataFormatError(f"{path}: gauge_id must be 8 digits, found {bad.iloc[0]!r}")
        if frame["gauge_id"].duplicated().any():
            raise DataFormatError(f"{path}: gauge_id {frame['gauge_id'][frame['gauge_id'].duplicated()].iloc[0]} repeated")
        frame = frame.set_index("gauge_id")
        for column in frame.columns:
            if column in seen:
                raise DataFormatError(f"{path}: column {column} also in {seen[column]}")
            seen[column] = path.name
            raw = frame[column]
            if column not in TEXT_ATTRIBUTES:
                numeric = pd.to_numeric(raw.where(~raw.str.strip().isin(_NA)), errors="coerce")
                unparsable = numeric.isna() & ~raw.str.strip().isin(_NA)
                if not unparsable.any():
                    frame[column] = numeric.astype(np.float64)
                    continue
                log.info("%s: column %s is not numeric (e.g. %r); kept as text",
                         path.name, column, raw[unparsable].iloc[0])
            frame[column] = raw.where(~raw.str.strip().isin(_NA), "").astype(object)
        frames.append(frame)
    merged = pd.concat(frames, axis=1, join="outer", sort=False)
    for column in merged.columns:
        if merged[column].dtype.kind != "f":  # a basin absent from one file: "" not NaN
            merged[column] = merged[column].fillna("").astype(object)
    return merged


def _read_531(path: Path | None) -> set[str] | None:
    if path is None:
        return None
    ids = set()
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        token = line.strip()
        if not token:
            continue
        if not re.fullmatch(r"\d{7,8}", token):
            raise DataFormatError(f"{path}, line {lineno}: expected one 8-digit gauge id, found {token!r}")
        ids.add(token.zfill(8))
    return ids


# --------------------------------------------------------------------------------------
# main entry point
# --------------------------------------------------------------------------------------
def _write_netcdf(ds: xr.Dataset, target: Path) -> None:
    encoding = {}
    nb, nt = ds.sizes["basin"], ds.sizes["time"]
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "f":
            enc = {"zlib": True, "complevel": 5, "shuffle": True, "_FillValue": np.float32(np.nan),
                   "dtype": "float32"}
            if var.dims == ("basin", "time"):
                enc["chunksizes"] = (min(nb, 16), nt)
            encoding[name] = enc
    encoding["time"] = {"units": f"days since {pd.Timestamp(ds.time.values[0]):%Y-%m-%d} 00:00:00",
                        "calendar": "proleptic_gregorian", "dtype": "int64"}
    ds.to_netcdf(target, format="NETCDF4", engine="netcdf4", encoding=encoding)


def _default_permissions(path: Path) -> None:
    """Give ``path`` the permissions of a normally created file (mkstemp makes it 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def prepare_camels_us(
    raw_dir: str | Path | None = None,
    out_path: str | Path | None = None,
    basins: Sequence[str] | None = None,
    *,
    overwrite: bool = False,
    start: str = DEFAULT_START,
    end: str = DEFAULT_END,
    progress: bool = True,
) -> Path:
    """Convert the original CAMELS-US files into ``camels_us.nc`` (the readers' schema).

    Parameters
    ----------
    raw_dir
        Folder with the original layout (see module docstring); default
        ``$DPLREPRO_DATA/camels_us_raw``.
    out_path
        Output NetCDF; default ``data_dir()/"camels_us.nc"``.
    basins
        8-digit ids; default every basin that has both a forcing and a streamflow file
        (basins with only one of them are logged and skipped). An explicit basin without
        its files raises :class:`DataFormatError`.
    overwrite
        Replace an existing ``out_path``; otherwise :class:`OutputExistsError`.
    start, end
        Time axis (default 1980-10-01..2014-12-31, as the packed file).
    progress
        Show a tqdm progress bar over basins.

    The file is written to a temporary name next to ``out_path`` and moved into place
    only when complete: a failure (e.g. a malformed line, reported with file and line
    number) leaves no output behind and an existing file untouched.
    """
    from tqdm.auto import tqdm

    raw_dir = require("camels_us_raw") if raw_dir is None else Path(raw_dir)
    out_path = data_dir() / "camels_us.nc" if out_path is None else Path(out_path)
    if out_path.exists() and not overwrite:
        raise OutputExistsError(
            f"{out_path} already exists; pass overwrite=True (CLI: --overwrite) to replace it"
        )
    layout = _layout(raw_dir)
    forcing_files = _index_files(layout["forcing"], "_lump_cida_forcing_leap.txt")
    flow_files = _index_files(layout["streamflow"], "_streamflow_qc.txt")
    attrs = read_camels_attributes(layout["attributes"])
    in531 = _read_531(layout["list531"])
    if in531 is None:
        log.warning("%s: no 531_basin_list.txt; in_531 is set to False everywhere and the "
                    "file is marked in_531_source='unavailable'", raw_dir)

    if basins is None:
        both = sorted(set(forcing_files) & set(flow_files))
        lonely = sorted(set(forcing_files) ^ set(flow_files))
        if lonely:
            log.warning("%s: %d basin(s) have only a forcing or only a streamflow file and are "
                        "skipped: %s", raw_dir, len(lonely), ", ".join(lonely))
        ids = both
        if not ids:
            raise DataFormatError(
                f"no basin in {raw_dir} has both a forcing and a streamflow file.\n{EXPECTED_LAYOUT}"
            )
    else:
        ids = sorted({str(b).strip().zfill(8) for b in ([basins] if isinstance(basins, str) else basins)})
        for b in ids:
            if b not in forcing_files:
                raise DataFormatError(
                    f"basin {b}: no forcing file {layout['forcing']}/<HUC02>/{b}_lump_cida_forcing_leap.txt"
                )
            if b not in flow_files:
                raise DataFormatError(
                    f"basin {b}: no streamflow file {layout['streamflow']}/<HUC02>/{b}_streamflow_qc.txt"
                )
    no_attrs = [b for b in ids if b not in attrs.index]
    if no_attrs:
        raise DataFormatError(
            f"basin(s) {', '.join(no_attrs[:8])} missing from the attribute files in {layout['attributes']}"
        )

    time = pd.date_range(start, end, freq="D")
    axis = time.values.astype("datetime64[D]")
    nb, nt = len(ids), len(time)
    arrays = {v: np.full((nb, nt), np.nan, dtype=np.float32) for v in FORCING_VARIABLES + ("qobs",)}
    for i, basin in enumerate(tqdm(ids, desc="CAMELS-US basins", unit="basin", disable=not progress)):
        dates, values, header = read_forcing_file(forcing_files[basin])
        pos = np.searchsorted(axis, dates)
        ok = (pos < nt) & (axis[np.minimum(pos, nt - 1)] == dates)
        if ok.sum() < nt:
            log.warning("%s: forcing covers %d of %d days of %s..%s", forcing_files[basin].name,
                        int(ok.sum()), nt, start, end)
        for v in FORCING_VARIABLES:
            arrays[v][i, pos[ok]] = values[v][ok]
        qdates, cfs, _flags = read_streamflow_file(flow_files[basin], basin)
        qpos = np.searchsorted(axis, qdates)
        qok = (qpos < nt) & (axis[np.minimum(qpos, nt - 1)] == qdates)
        mm = cfs * CFS_TO_M3S * 86400.0 * 1000.0 / header["area_m2"]
        arrays["qobs"][i, qpos[qok]] = mm[qok]

    table = attrs.loc[ids]
    data_vars = {v: (("basin", "time"), arrays[v], _VAR_ATTRS[v]) for v in FORCING_VARIABLES + ("qobs",)}
    data_vars["qobs_source"] = ("basin", np.array(["camels_usgs"] * nb, dtype=str), _VAR_ATTRS["qobs_source"])
    flags = np.array([in531 is not None and b in in531 for b in ids], dtype=bool)
    data_vars["in_531"] = ("basin", flags, _VAR_ATTRS["in_531"])
    data_vars["lat"] = ("basin", table["gauge_lat"].to_numpy(np.float32), _VAR_ATTRS["lat"])
    data_vars["lon"] = ("basin", table["gauge_lon"].to_numpy(np.float32), _VAR_ATTRS["lon"])
    data_vars["area_km2"] = ("basin", table["area_gages2"].to_numpy(np.float32), _VAR_ATTRS["area_km2"])
    for column in table.columns:
        if column in ("gauge_lat", "gauge_lon"):
            continue
        series = table[column]
        if series.dtype.kind == "f":
            values = series.to_numpy(np.float32)
        else:
            values = series.astype(str).to_numpy(dtype=str)
        data_vars[f"attr_{column}"] = ("basin", values)
    ds = xr.Dataset(data_vars, coords={"basin": np.array(ids, dtype=str), "time": time})
    ds.attrs = {
        "title": "CAMELS-US prepared from the original archive by dplrepro.data.prepare",
        "sources": "Daymet basin-mean forcing and usgs_streamflow from CAMELS-US v1p2 "
                   "(Newman et al. 2015); attributes CAMELS v2.0 (Addor et al. 2017)",
        "licenses": "CAMELS-US: CC-BY-4.0 (NSF NCAR, Zenodo record 15529996); cite the sources",
        "citations": "Newman et al. 2015 HESS 19:209; Addor et al. 2017 HESS 21:5293",
        "history": f"prepare_camels_us from {raw_dir} ({nb} basins)",
        "qobs_conversion": "q_mm = cfs * 0.0283168 * 86400 * 1000 / area_m2 (area from line 3 "
                           "of the Daymet forcing file)",
        "in_531_source": "531_basin_list.txt" if in531 is not None else "unavailable",
    }
    with atomic_path(out_path) as tmp:
        _write_netcdf(ds, tmp)
        _default_permissions(tmp)
    log.info("wrote %s (%d basins x %d days)", out_path, nb, nt)
    return out_path

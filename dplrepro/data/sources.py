"""Choose between real data and the synthetic twin, and say which was chosen.

Chapters call :func:`open_basins` or :func:`open_grid` with their ``data_source``
parameter: ``real`` requires the real dataset (a missing file is an error naming it),
``synthetic`` uses the deterministic twin, ``auto`` uses real data when present and
otherwise falls back to the twin with a logged warning. The returned
:class:`DataChoice` carries a human-readable description every chapter prints.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import xarray as xr

from .camels_us import load_camels_us
from .errors import DataNotFoundError
from .paths import data_dir
from .smap import load_smap_conus
from .twin import make_virtual_basins, make_virtual_grid

log = logging.getLogger("dplrepro.data")

__all__ = ["DataChoice", "open_basins", "open_grid", "DATA_SOURCES"]

DATA_SOURCES = ("auto", "real", "synthetic")


@dataclass(frozen=True)
class DataChoice:
    """Which data a run uses: ``source`` is ``real`` or ``synthetic``."""

    source: str
    description: str

    @property
    def is_real(self) -> bool:
        return self.source == "real"


def _check(data_source: str) -> None:
    if data_source not in DATA_SOURCES:
        raise ValueError(f"data_source must be one of {DATA_SOURCES}, got {data_source!r}")


def _period(ds: xr.Dataset) -> str:
    t = ds["time"].values
    return f"{str(t[0])[:10]} … {str(t[-1])[:10]}"


def open_basins(
    data_source: str = "auto",
    *,
    basins=None,
    start=None,
    end=None,
    subset_531: bool = False,
    n_synthetic: int = 30,
    seed: int = 0,
) -> tuple[xr.Dataset, DataChoice]:
    """CAMELS-US basins (real) or virtual basins (twin) with the same schema."""
    _check(data_source)
    if data_source in ("auto", "real"):
        try:
            ds = load_camels_us(basins, start=start, end=end, subset_531=subset_531)
        except DataNotFoundError:
            if data_source == "real":
                raise
            log.warning("camels_us.nc not found in %s: using the synthetic twin instead", data_dir())
        else:
            desc = f"CAMELS-US (camels_us.nc in {data_dir()}), {ds.sizes['basin']} basins, {_period(ds)}"
            return ds, DataChoice("real", desc)
    kwargs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    ds = make_virtual_basins(n_basins=n_synthetic, seed=seed, **kwargs)
    desc = (
        f"synthetic twin (dplrepro.data.twin, seed {seed}): {ds.sizes['basin']} virtual basins, "
        f"{_period(ds)}; streamflow simulated from hidden true parameters"
    )
    return ds, DataChoice("synthetic", desc)


def open_grid(
    data_source: str = "auto",
    *,
    cells=None,
    start=None,
    end=None,
    n_rows: int = 8,
    n_cols: int = 12,
    seed: int = 0,
) -> tuple[xr.Dataset, DataChoice]:
    """SMAP + NLDAS-2 cells (real) or a virtual grid (twin) with the same schema."""
    _check(data_source)
    if data_source in ("auto", "real"):
        try:
            ds = load_smap_conus(cells, start=start, end=end)
        except DataNotFoundError:
            if data_source == "real":
                raise
            log.warning("smap_conus.nc not found in %s: using the synthetic twin instead", data_dir())
        else:
            desc = f"SMAP L3 + NLDAS-2 (smap_conus.nc in {data_dir()}), {ds.sizes['cell']} cells, {_period(ds)}"
            return ds, DataChoice("real", desc)
    kwargs = {k: v for k, v in (("start", start), ("end", end)) if v is not None}
    ds = make_virtual_grid(n_rows=n_rows, n_cols=n_cols, seed=seed, **kwargs)
    desc = (
        f"synthetic twin (dplrepro.data.twin, seed {seed}): {ds.sizes['cell']} virtual cells, "
        f"{_period(ds)}; soil moisture simulated from hidden true parameters"
    )
    return ds, DataChoice("synthetic", desc)

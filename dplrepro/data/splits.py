"""Time windows, training-density masks, spatial neighbours and site folds used by the paper.

Time windows
------------
:class:`TimeWindow` is an inclusive ``[start, end]`` date range. Named windows:

* CAMELS (Experiment 3, temporal test): :data:`CAMELS_TRAIN` = 1999-10-01..2008-09-30 and
  :data:`CAMELS_TEST` = 1989-10-01..1999-09-30 -- the usual split of the 531-basin
  benchmark (Newman et al. 2017; Kratzert et al. 2019; Feng et al. 2020).
* SMAP (Experiment 1): training starts 2015-04-01 (start of SMAP L3). One year of training
  is :data:`SMAP_TRAIN_1Y` = 2015-04-01..2016-03-31, two years :data:`SMAP_TRAIN_2Y` =
  2015-04-01..2017-03-31. SMAP data in ``smap_conus.nc`` end 2017-03-31
  (:data:`SMAP_DATA_END`), so the temporal test of the 1-year runs is the following year,
  :data:`SMAP_TEST_1Y` = 2016-04-01..2017-03-31. **This is our choice** (the paper's exact
  dates are not stated); the 2-year runs have no later SMAP period in our data and are
  evaluated with the spatial (neighbour-cell) test over their training period.

Training density
----------------
The paper's ``sN`` keeps one training cell in every N x N block of the 36 km SMAP grid.
Our 412-cell grid (``smap_conus.nc``) is already every 4th cell of that grid, so a block of
``n`` cells of *our* grid spans ``4 n`` SMAP cells: ``n=1`` (all cells) is the paper's s4,
``n=2`` is s8, ``n=4`` is s16 -- :data:`PAPER_DENSITY`.

Folds
-----
:func:`pub_folds` builds the seeded k-fold cross-validation of the ungauged-basin experiment,
optionally within climate groups (Beck et al. 2020 train one transfer function per group);
:func:`subsample_basins` gives nested random subsets for the data-fraction experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataFormatError

__all__ = [
    "TimeWindow",
    "CAMELS_TRAIN",
    "CAMELS_TEST",
    "SMAP_DATA_START",
    "SMAP_DATA_END",
    "SMAP_TRAIN_1Y",
    "SMAP_TRAIN_2Y",
    "SMAP_TEST_1Y",
    "SMAP_WINDOWS",
    "PAPER_DENSITY",
    "density_mask",
    "neighbour_cells",
    "pub_folds",
    "subsample_basins",
]


@dataclass(frozen=True)
class TimeWindow:
    """An inclusive date range ``[start, end]`` (daily resolution).

    ``start`` and ``end`` may be given as strings, ``datetime`` or ``pd.Timestamp``; they are
    stored as ISO date strings (``"YYYY-MM-DD"``) so the window is hashable and serialises
    to JSON/YAML unchanged.
    """

    start: str
    end: str

    def __post_init__(self) -> None:
        try:
            start = pd.Timestamp(self.start)
            end = pd.Timestamp(self.end)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"TimeWindow needs two dates; got start={self.start!r}, end={self.end!r}: {exc}") from exc
        if start.normalize() != start or end.normalize() != end:
            raise ValueError(f"TimeWindow takes whole days; got start={self.start!r}, end={self.end!r}")
        if not start < end:
            raise ValueError(f"TimeWindow start must be before end; got start={start.date()}, end={end.date()}")
        object.__setattr__(self, "start", start.strftime("%Y-%m-%d"))
        object.__setattr__(self, "end", end.strftime("%Y-%m-%d"))

    @property
    def start_ts(self) -> pd.Timestamp:
        return pd.Timestamp(self.start)

    @property
    def end_ts(self) -> pd.Timestamp:
        return pd.Timestamp(self.end)

    @property
    def n_days(self) -> int:
        """Number of days in the window, both ends included."""
        return (self.end_ts - self.start_ts).days + 1

    def contains(self, date: Any) -> bool:
        ts = pd.Timestamp(date)
        return self.start_ts <= ts < self.end_ts + pd.Timedelta(days=1)

    def select(self, ds: xr.Dataset | xr.DataArray, dim: str = "time") -> xr.Dataset | xr.DataArray:
        """Return ``ds`` restricted to this window (both ends included).

        Raises :class:`DataFormatError` if ``ds`` has no ``dim`` coordinate or if the window
        is not entirely inside the data's time range (the message names both), so a
        training period is never silently shortened.
        """
        if dim not in ds.coords:
            raise DataFormatError(f"cannot select window {self}: data have no {dim!r} coordinate")
        times = pd.DatetimeIndex(ds[dim].values)
        if len(times) == 0:
            raise DataFormatError(f"cannot select window {self}: coordinate {dim!r} is empty")
        first, last = times.min(), times.max()
        if self.start_ts < first.normalize() or self.end_ts > last.normalize():
            raise DataFormatError(
                f"window {self.start}..{self.end} is outside the data's time range "
                f"{first.strftime('%Y-%m-%d')}..{last.strftime('%Y-%m-%d')}"
            )
        stop = self.end_ts + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
        return ds.sel({dim: slice(self.start_ts, stop)})

    def __str__(self) -> str:
        return f"{self.start}..{self.end}"

    def to_json(self) -> list[str]:
        """``[start, end]``: how configurations write a window (:func:`dplrepro.utils.config_dict`)."""
        return [self.start, self.end]


#: Training period of the usual CAMELS 531-basin benchmark (water years 2000-2008).
CAMELS_TRAIN = TimeWindow("1999-10-01", "2008-09-30")
#: Test period of the usual CAMELS 531-basin benchmark (water years 1990-1999).
CAMELS_TEST = TimeWindow("1989-10-01", "1999-09-30")

#: First and last day with SMAP observations in ``smap_conus.nc``.
SMAP_DATA_START = "2015-04-01"
SMAP_DATA_END = "2017-03-31"
#: One year of SMAP training.
SMAP_TRAIN_1Y = TimeWindow("2015-04-01", "2016-03-31")
#: Two years of SMAP training (all SMAP data in our file).
SMAP_TRAIN_2Y = TimeWindow("2015-04-01", "2017-03-31")
#: Temporal test of the 1-year runs (our choice: the year after training).
SMAP_TEST_1Y = TimeWindow("2016-04-01", "2017-03-31")
SMAP_WINDOWS = {"train_1y": SMAP_TRAIN_1Y, "train_2y": SMAP_TRAIN_2Y, "test_1y": SMAP_TEST_1Y}

#: Paper density label -> block size ``n`` on our grid (already every 4th SMAP cell).
PAPER_DENSITY = {"s4": 1, "s8": 2, "s16": 4}


def _grid_indices(row: Any, col: Any) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(row.values if isinstance(row, xr.DataArray) else row)
    c = np.asarray(col.values if isinstance(col, xr.DataArray) else col)
    if r.ndim != 1 or c.ndim != 1 or r.shape != c.shape:
        raise ValueError(f"row and col must be 1-D arrays of equal length (one entry per cell); got shapes {r.shape} and {c.shape}")
    for name, a in (("row", r), ("col", c)):
        if a.size and (not np.all(np.isfinite(a)) or not np.all(a == np.round(a))):
            raise ValueError(f"{name} must hold integer grid indices")
    r = r.astype(np.int64)
    c = c.astype(np.int64)
    if r.size:
        keys = np.stack([r, c], axis=1)
        if len(np.unique(keys, axis=0)) != len(keys):
            raise ValueError("row/col contain duplicate cells (the same (row, col) twice)")
    return r, c


def density_mask(row: Any, col: Any, n: int, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Training cells at density ``n``: one cell per ``n x n`` block of the grid.

    Blocks are the tiles ``(row // n, col // n)``. Each block's *anchor* is the position
    ``(block_row * n + offset[0], block_col * n + offset[1])``, i.e. the cell with
    ``row % n == offset[0]`` and ``col % n == offset[1]``. If the anchor cell exists it is
    chosen; if the grid has a hole there (land mask), the block's cell closest to the anchor
    is chosen instead -- smallest squared Euclidean distance in grid units, ties broken by
    smaller row, then smaller column -- so every non-empty block contributes exactly one cell
    and the result is deterministic.

    Parameters
    ----------
    row, col : integer grid indices of every cell (1-D, same length).
    n : block size (``n=1`` keeps every cell). See :data:`PAPER_DENSITY`.
    offset : position of the anchor inside each block, ``0 <= offset[i] < n``.

    Returns
    -------
    Boolean array, one entry per cell, True for training cells.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"density block size n must be a positive integer; got {n!r}")
    if len(offset) != 2 or not all(isinstance(o, (int, np.integer)) and 0 <= o < n for o in offset):
        raise ValueError(f"offset must be two integers in [0, {n}); got {offset!r}")
    r, c = _grid_indices(row, col)
    mask = np.zeros(r.shape, dtype=bool)
    if r.size == 0:
        return mask
    br, bc = r // n, c // n
    d2 = (r - (br * n + offset[0])) ** 2 + (c - (bc * n + offset[1])) ** 2
    # Sort by block, then distance, then row, then col; the first cell of each block wins.
    order = np.lexsort((c, r, d2, bc, br))
    blocks = np.stack([br[order], bc[order]], axis=1)
    first = np.ones(len(order), dtype=bool)
    first[1:] = np.any(blocks[1:] != blocks[:-1], axis=1)
    mask[order[first]] = True
    return mask


def neighbour_cells(train_mask: Any, row: Any, col: Any, radius: int = 1) -> np.ndarray:
    """Spatial-test cells: not in training but within Chebyshev distance ``radius`` of one.

    A cell ``i`` is selected if ``train_mask[i]`` is False and some training cell ``j`` has
    ``max(|row_i - row_j|, |col_i - col_j|) <= radius``.
    """
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or radius < 1:
        raise ValueError(f"radius must be a positive integer (grid cells); got {radius!r}")
    r, c = _grid_indices(row, col)
    train = np.asarray(train_mask, dtype=bool)
    if train.shape != r.shape:
        raise ValueError(f"train_mask must have one entry per cell ({r.shape}); got shape {train.shape}")
    out = np.zeros(r.shape, dtype=bool)
    if not train.any():
        return out
    # Dense occupancy grid of training cells, padded by the radius.
    r0, c0 = r.min() - radius, c.min() - radius
    occ = np.zeros((r.max() - r0 + radius + 1, c.max() - c0 + radius + 1), dtype=bool)
    occ[r[train] - r0, c[train] - c0] = True
    near = np.zeros_like(occ)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            near |= np.roll(np.roll(occ, dr, axis=0), dc, axis=1)  # padding prevents wrap-around
    out = near[r - r0, c - c0] & ~train
    return out


def pub_folds(
    basin_ids: Sequence[Any],
    k: int,
    seed: int,
    groups: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Seeded random k-fold split of sites for prediction in ungauged basins (PUB).

    Folds are made independently inside each group (e.g. the three climate groups of Beck
    et al. 2020); without ``groups`` every basin is in the single group ``None``. Within a
    group the ids are sorted, permuted with ``np.random.default_rng([seed, group_index])``
    (``group_index`` = position of the group among the sorted group labels) and cut into
    ``k`` near-equal parts, so the folds do not depend on the input order and the same seed
    always gives identical folds.

    Returns
    -------
    A list of dicts ``{"group": g, "fold": i, "train": ids, "test": ids}`` ordered by group,
    then fold. ``test`` sets of one group are disjoint and cover every basin of that group
    exactly once; ``train`` is the rest of the group. Ids are NumPy arrays, sorted.
    """
    ids = np.asarray(basin_ids)
    if ids.ndim != 1:
        raise ValueError(f"basin_ids must be 1-D; got shape {ids.shape}")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("basin_ids contain duplicates")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer >= 2; got {k!r}")
    if groups is None:
        labels = np.zeros(len(ids), dtype=np.int64)
        group_values: list[Any] = [None]
    else:
        g = np.asarray(groups)
        if g.shape != ids.shape:
            raise ValueError(f"groups must have one label per basin ({ids.shape}); got shape {g.shape}")
        group_values = list(np.unique(g))
        labels = np.searchsorted(np.asarray(group_values), g)

    folds: list[dict[str, Any]] = []
    for gi, gval in enumerate(group_values):
        gval = gval.item() if isinstance(gval, np.generic) else gval
        members = np.sort(ids[labels == gi])
        if len(members) < k:
            raise ValueError(f"group {gval!r} has {len(members)} basins, fewer than k={k} folds")
        rng = np.random.default_rng([int(seed), gi])
        perm = members[rng.permutation(len(members))]
        parts = np.array_split(perm, k)
        for fi, test in enumerate(parts):
            test = np.sort(test)
            train = np.sort(np.setdiff1d(members, test))
            folds.append({"group": gval, "fold": fi, "train": train, "test": test})
    return folds


def subsample_basins(ids: Sequence[Any], fraction: float, seed: int) -> np.ndarray:
    """A deterministic random subset holding ``fraction`` of ``ids`` (data-fraction runs).

    The ids are sorted and permuted with ``np.random.default_rng(seed)``; the subset is the
    first ``max(1, floor(fraction * n + 0.5))`` of that permutation, returned in the input
    order. Subsets for the same ids and seed are therefore nested across fractions
    (12.5 % within 25 % within 50 % within 100 %).
    """
    arr = np.asarray(ids)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"ids must be a non-empty 1-D sequence; got shape {arr.shape}")
    if len(np.unique(arr)) != len(arr):
        raise ValueError("ids contain duplicates")
    fraction = float(fraction)
    if not (0.0 < fraction <= 1.0) or math.isnan(fraction):
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}")
    n = len(arr)
    n_keep = max(1, int(math.floor(fraction * n + 0.5)))
    ranked = np.sort(arr)[np.random.default_rng(int(seed)).permutation(n)]
    keep = set(ranked[:n_keep].tolist())
    return arr[np.array([x in keep for x in arr.tolist()], dtype=bool)]

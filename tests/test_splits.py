"""Splits and sampling: exact expected outputs on small hand-made grids and id lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dplrepro.data.errors import DataFormatError
from dplrepro.data.splits import (
    CAMELS_TEST,
    CAMELS_TRAIN,
    PAPER_DENSITY,
    SMAP_DATA_END,
    SMAP_TEST_1Y,
    SMAP_TRAIN_1Y,
    SMAP_TRAIN_2Y,
    TimeWindow,
    density_mask,
    neighbour_cells,
    pub_folds,
    subsample_basins,
)


def grid(n_rows: int, n_cols: int, holes=()):
    rr, cc = np.meshgrid(np.arange(n_rows), np.arange(n_cols), indexing="ij")
    cells = [(r, c) for r, c in zip(rr.ravel(), cc.ravel()) if (r, c) not in set(holes)]
    return np.array([r for r, _ in cells]), np.array([c for _, c in cells])


def chosen(row, col, mask):
    return sorted(zip(row[mask].tolist(), col[mask].tolist()))


# ----------------------------------------------------------------------------- time windows
def test_named_windows():
    assert (CAMELS_TRAIN.start, CAMELS_TRAIN.end) == ("1999-10-01", "2008-09-30")
    assert (CAMELS_TEST.start, CAMELS_TEST.end) == ("1989-10-01", "1999-09-30")
    # 9 water years with leap days in 2000, 2004, 2008: 9 * 365 + 3 = 3288
    assert CAMELS_TRAIN.n_days == 3288
    # 10 water years with leap days in 1992, 1996: 3650 + 2 = 3652
    assert CAMELS_TEST.n_days == 3652
    # 2015-04-01..2016-03-31 contains 2016-02-29 -> 366 days
    assert SMAP_TRAIN_1Y.n_days == 366
    assert SMAP_TRAIN_2Y.n_days == 366 + 365
    assert SMAP_TEST_1Y.n_days == 365
    assert SMAP_TRAIN_2Y.end == SMAP_DATA_END == SMAP_TEST_1Y.end
    assert PAPER_DENSITY == {"s4": 1, "s8": 2, "s16": 4}


def test_window_validation():
    with pytest.raises(ValueError, match="before end"):
        TimeWindow("2000-01-02", "2000-01-01")
    with pytest.raises(ValueError, match="before end"):
        TimeWindow("2000-01-01", "2000-01-01")
    w = TimeWindow(pd.Timestamp("2000-01-01"), "2000-01-31")
    assert w.start == "2000-01-01" and w.n_days == 31
    assert w.contains("2000-01-31") and not w.contains("2000-02-01")


def _daily(start: str, end: str) -> xr.Dataset:
    time = pd.date_range(start, end, freq="D")
    return xr.Dataset({"x": (("basin", "time"), np.ones((2, len(time))))}, coords={"basin": ["a", "b"], "time": time})


def test_window_select_inclusive():
    ds = _daily("1989-01-01", "2010-12-31")
    sel = CAMELS_TRAIN.select(ds)
    assert sel.sizes["time"] == 3288
    assert str(sel.time.values[0])[:10] == "1999-10-01"
    assert str(sel.time.values[-1])[:10] == "2008-09-30"
    # the test window shares no day with the training window
    assert len(np.intersect1d(sel.time.values, CAMELS_TEST.select(ds).time.values)) == 0


def test_window_outside_data_raises():
    ds = _daily("2015-04-01", "2016-12-31")
    with pytest.raises(DataFormatError, match=r"2015-04-01\.\.2017-03-31.*2015-04-01\.\.2016-12-31"):
        SMAP_TRAIN_2Y.select(ds)
    with pytest.raises(DataFormatError, match="outside"):
        CAMELS_TRAIN.select(ds)
    with pytest.raises(DataFormatError, match="time"):
        SMAP_TRAIN_1Y.select(ds.rename({"time": "t"}))


# ----------------------------------------------------------------------------- density
def test_density_full_grid_4x4():
    r, c = grid(4, 4)
    m = density_mask(r, c, 2)
    assert m.sum() == 4
    assert chosen(r, c, m) == [(0, 0), (0, 2), (2, 0), (2, 2)]
    assert chosen(r, c, density_mask(r, c, 2, offset=(1, 1))) == [(1, 1), (1, 3), (3, 1), (3, 3)]
    assert chosen(r, c, density_mask(r, c, 2, offset=(0, 1))) == [(0, 1), (0, 3), (2, 1), (2, 3)]
    # n = 1 keeps every cell; n = 4 one cell for the whole grid
    assert density_mask(r, c, 1).all()
    assert chosen(r, c, density_mask(r, c, 4)) == [(0, 0)]


def test_density_hole_still_one_cell_per_block():
    # Anchor (0, 0) missing: block {(0,1), (1,0), (1,1)}; squared distances 1, 1, 2;
    # tie between (0,1) and (1,0) broken by the smaller row -> (0, 1).
    r, c = grid(4, 4, holes=[(0, 0)])
    assert chosen(r, c, density_mask(r, c, 2)) == [(0, 1), (0, 2), (2, 0), (2, 2)]
    # Anchor (0,0) and (0,1) missing -> (1,0) (distance 1) beats (1,1) (distance 2).
    r, c = grid(4, 4, holes=[(0, 0), (0, 1)])
    assert chosen(r, c, density_mask(r, c, 2)) == [(0, 2), (1, 0), (2, 0), (2, 2)]
    # A fully empty block contributes nothing; the others still one each.
    r, c = grid(4, 4, holes=[(0, 0), (0, 1), (1, 0), (1, 1)])
    assert chosen(r, c, density_mask(r, c, 2)) == [(0, 2), (2, 0), (2, 2)]


def test_density_partial_edge_blocks_5x5():
    # Blocks by row // 2 and col // 2: rows {0,1}, {2,3}, {4} x the same for columns -> 9 blocks
    r, c = grid(5, 5)
    m = density_mask(r, c, 2)
    assert chosen(r, c, m) == [(i, j) for i in (0, 2, 4) for j in (0, 2, 4)]
    # offset (1, 1): edge blocks (row 4 / col 4 only) lack their anchor (5, *) and pick the closest cell
    m = density_mask(r, c, 2, offset=(1, 1))
    assert chosen(r, c, m) == [(1, 1), (1, 3), (1, 4), (3, 1), (3, 3), (3, 4), (4, 1), (4, 3), (4, 4)]


def test_density_deterministic_and_order_free():
    r, c = grid(6, 7, holes=[(0, 0), (3, 3), (5, 6)])
    m = density_mask(r, c, 3)
    perm = np.random.default_rng(1).permutation(len(r))
    m_perm = density_mask(r[perm], c[perm], 3)
    assert chosen(r[perm], c[perm], m_perm) == chosen(r, c, m)


def test_density_errors():
    r, c = grid(3, 3)
    with pytest.raises(ValueError, match="positive integer"):
        density_mask(r, c, 0)
    with pytest.raises(ValueError, match="offset"):
        density_mask(r, c, 2, offset=(2, 0))
    with pytest.raises(ValueError, match="duplicate"):
        density_mask(np.array([0, 0]), np.array([1, 1]), 1)


# ----------------------------------------------------------------------------- neighbours
def test_neighbours_single_training_cell_5x5():
    r, c = grid(5, 5)
    train = (r == 2) & (c == 2)
    nb = neighbour_cells(train, r, c, radius=1)
    assert chosen(r, c, nb) == [(i, j) for i in (1, 2, 3) for j in (1, 2, 3) if (i, j) != (2, 2)]
    nb2 = neighbour_cells(train, r, c, radius=2)
    assert nb2.sum() == 24 and not nb2[train].any()


def test_neighbours_corner_training_cells_5x5():
    r, c = grid(5, 5)
    train = density_mask(r, c, 4)  # blocks rows {0..3},{4} x cols {0..3},{4} -> the 4 corners
    assert chosen(r, c, train) == [(0, 0), (0, 4), (4, 0), (4, 4)]
    nb = neighbour_cells(train, r, c)
    expected = [(0, 1), (0, 3), (1, 0), (1, 1), (1, 3), (1, 4), (3, 0), (3, 1), (3, 3), (3, 4), (4, 1), (4, 3)]
    assert chosen(r, c, nb) == expected
    # no wrap-around: (0, 4) is not a neighbour of (0, 0) through the edge
    assert not (nb & train).any()


def test_neighbours_with_holes_and_no_training():
    r, c = grid(3, 3, holes=[(1, 1)])
    train = (r == 0) & (c == 0)
    assert chosen(r, c, neighbour_cells(train, r, c)) == [(0, 1), (1, 0)]
    assert not neighbour_cells(np.zeros(len(r), bool), r, c).any()
    with pytest.raises(ValueError, match="train_mask"):
        neighbour_cells(np.zeros(3, bool), r, c)


# ----------------------------------------------------------------------------- folds
def _ids(n):
    return np.array([f"{i:08d}" for i in range(n)])


def test_pub_folds_cover_disjoint_deterministic():
    ids = _ids(23)
    folds = pub_folds(ids, k=5, seed=3)
    assert [f["fold"] for f in folds] == [0, 1, 2, 3, 4]
    assert all(f["group"] is None for f in folds)
    tests = [f["test"] for f in folds]
    assert sorted(len(t) for t in tests) == [4, 4, 5, 5, 5]
    allt = np.concatenate(tests)
    assert len(allt) == 23 and set(allt) == set(ids)  # each basin tested exactly once
    for f in folds:
        assert set(f["train"]) | set(f["test"]) == set(ids)
        assert not set(f["train"]) & set(f["test"])
    again = pub_folds(list(reversed(ids)), k=5, seed=3)  # input order does not matter
    for a, b in zip(folds, again):
        np.testing.assert_array_equal(a["test"], b["test"])
        np.testing.assert_array_equal(a["train"], b["train"])
    other = pub_folds(ids, k=5, seed=4)
    assert any(not np.array_equal(a["test"], b["test"]) for a, b in zip(folds, other))


def test_pub_folds_within_groups():
    ids = _ids(20)
    groups = np.array([1] * 7 + [2] * 8 + [3] * 5)
    folds = pub_folds(ids, k=3, seed=0, groups=groups)
    assert [(f["group"], f["fold"]) for f in folds] == [(g, i) for g in (1, 2, 3) for i in range(3)]
    for g in (1, 2, 3):
        members = set(ids[groups == g])
        gf = [f for f in folds if f["group"] == g]
        tests = np.concatenate([f["test"] for f in gf])
        assert len(tests) == len(members) and set(tests) == members
        for f in gf:
            assert set(f["train"]) == members - set(f["test"])  # training stays inside the group
    with pytest.raises(ValueError, match="group 3 has 5 basins"):
        pub_folds(ids, k=6, seed=0, groups=groups)
    with pytest.raises(ValueError, match="k must be"):
        pub_folds(ids, k=1, seed=0)


# ----------------------------------------------------------------------------- subsampling
def test_subsample_nested_sizes_deterministic():
    ids = _ids(40)
    subsets = {f: subsample_basins(ids, f, seed=7) for f in (0.125, 0.25, 0.5, 1.0)}
    assert [len(subsets[f]) for f in (0.125, 0.25, 0.5, 1.0)] == [5, 10, 20, 40]
    assert set(subsets[0.125]) <= set(subsets[0.25]) <= set(subsets[0.5]) <= set(subsets[1.0]) == set(ids)
    np.testing.assert_array_equal(subsample_basins(ids, 0.25, seed=7), subsets[0.25])
    assert set(subsample_basins(ids, 0.25, seed=8)) != set(subsets[0.25])
    # returned in the input order
    sub = subsets[0.5]
    assert list(sub) == [i for i in ids if i in set(sub)]
    # independent of the input order
    assert set(subsample_basins(ids[::-1], 0.25, seed=7)) == set(subsets[0.25])
    assert len(subsample_basins(ids, 0.001, seed=7)) == 1
    with pytest.raises(ValueError, match="fraction"):
        subsample_basins(ids, 0.0, seed=7)
    with pytest.raises(ValueError, match="fraction"):
        subsample_basins(ids, 1.5, seed=7)


def test_config_dict_writes_time_windows_as_lists():
    from dataclasses import dataclass, field

    from dplrepro.data.splits import TimeWindow
    from dplrepro.utils import config_dict

    @dataclass
    class Inner:
        lr: float = 0.1

    @dataclass
    class Config:
        train: TimeWindow = field(default_factory=lambda: TimeWindow("2001-10-01", "2004-09-30"))
        inner: Inner = field(default_factory=Inner)
        n: int = 3

    assert config_dict(Config()) == {"train": ["2001-10-01", "2004-09-30"], "inner": {"lr": 0.1}, "n": 3}

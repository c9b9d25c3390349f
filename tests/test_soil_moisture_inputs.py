"""Inputs of the soil-moisture experiments (dplrepro.experiments.soil_moisture).

Spin-up cycling, PET from NLDAS-2 radiation, and -- on the real SMAP file -- the tensors
for the 1-year training window (2015-04-01..2016-03-31, no data before it: cycled spin-up)
and the test year (2016-04-01..2017-03-31, warmed up on the real preceding 365 days).
2016 is a leap year: the training window has 366 days, and 365 days before 2016-04-01 is
2015-04-02.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dplrepro.data.smap import load_smap_conus
from dplrepro.data.splits import TimeWindow
from dplrepro.experiments.grid import (
    GRID_ATTRIBUTES, MODEL_FORCINGS, build_grid_inputs, fit_grid_normalizer, grid_forcing, with_spinup,
)
from dplrepro.physics.pet import priestley_taylor

NETWORK_FORCINGS = ("prcp", "tmean", "pet", "spfh", "dswrf")
TRAIN = TimeWindow("2015-04-01", "2016-03-31")
TEST = TimeWindow("2016-04-01", "2017-03-31")
CELLS = [0, 57, 203, 350]  # cell 57 has no soil attributes (NaN) in smap_conus.nc


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: threads only add overhead


# ---------------------------------------------------------------------------- synthetic
def test_with_spinup_prepends_first_days():
    arr = np.arange(30, dtype=np.float32).reshape(10, 3)
    out = with_spinup(arr, 4)
    assert out.shape == (14, 3)
    np.testing.assert_array_equal(out[:4], arr[:4])
    np.testing.assert_array_equal(out[4:], arr)
    np.testing.assert_array_equal(out[:, 1], [1, 4, 7, 10, 1, 4, 7, 10, 13, 16, 19, 22, 25, 28])
    # 3-D arrays, a spin-up of the whole record, and no spin-up
    arr3 = np.random.default_rng(0).random((5, 2, 4))
    np.testing.assert_array_equal(with_spinup(arr3, 5), np.concatenate([arr3, arr3]))
    np.testing.assert_array_equal(with_spinup(arr3, 0), arr3)
    with pytest.raises(ValueError, match="spin-up of 11 days is longer than the record \\(10 days\\)"):
        with_spinup(arr, 11)


def _grid(n_time: int = 6, n_cell: int = 2) -> xr.Dataset:
    rng = np.random.default_rng(0)
    times = pd.date_range("2015-06-01", periods=n_time)
    da = lambda v: xr.DataArray(v.astype(np.float32), dims=("cell", "time"), coords={"time": times})  # noqa: E731
    tmean = np.array([[-25.0] * n_time, [25.0] * n_time])
    dswrf = np.array([[0.0] * n_time, [300.0] * n_time]) + rng.uniform(0, 5, (n_cell, n_time))
    dlwrf = np.array([[150.0] * n_time, [380.0] * n_time])
    return xr.Dataset({"tmean": da(tmean), "dswrf": da(dswrf), "dlwrf": da(dlwrf)})


def test_grid_forcing_adds_priestley_taylor_pet():
    ds = _grid()
    out = grid_forcing(ds)
    assert "pet" not in ds  # the input is not modified
    pet = out["pet"]
    assert pet.attrs["units"] == "mm/day"
    assert pet.dims == ("cell", "time")
    assert float(pet.min()) >= 0.0
    # a cold, dark cell loses net radiation: PET clipped to exactly 0; a warm sunny one 3-8 mm/day
    assert float(pet.isel(cell=0).max()) == 0.0
    summer = pet.isel(cell=1).values
    assert np.all((summer > 3.0) & (summer < 8.0)), summer
    np.testing.assert_allclose(pet.values, priestley_taylor(ds["tmean"], ds["dswrf"], ds["dlwrf"]).values, rtol=1e-6)
    # an existing pet is kept, not recomputed
    given = ds.assign(pet=ds["tmean"] * 0 + 1.5)
    np.testing.assert_array_equal(grid_forcing(given)["pet"].values, 1.5)


@pytest.mark.parametrize("drop", [("dlwrf",), ("tmean", "dswrf")])
def test_grid_forcing_names_missing_variables(drop):
    ds = _grid().drop_vars(list(drop))
    with pytest.raises(ValueError, match="lacks " + repr(list(drop)).replace("[", r"\[").replace("]", r"\]")):
        grid_forcing(ds)


# ---------------------------------------------------------------------------- real SMAP
@pytest.fixture(scope="module")
def smap(smap_path) -> xr.Dataset:
    return grid_forcing(load_smap_conus(CELLS))


@pytest.fixture(scope="module")
def normalizer(smap):
    return fit_grid_normalizer(TRAIN.select(smap))


def _series(ds: xr.Dataset, name: str, start: str, end: str) -> np.ndarray:
    return ds[name].sel(time=slice(start, end)).transpose("time", "cell").values.astype(np.float32)


def test_real_grid_forcing_pet(smap):
    pet = smap["pet"]
    assert pet.attrs["units"] == "mm/day"
    assert float(pet.min()) >= 0.0 and np.isfinite(pet.values).all()
    july = float(pet.sel(time="2015-07").mean())
    january = float(pet.sel(time="2016-01").mean())
    assert 2.0 < july < 8.0 and january < 0.5 * july, (july, january)


def test_training_window_cycles_spinup(smap, normalizer):
    warmup = 365
    gi = build_grid_inputs(smap, TRAIN, normalizer, warmup)
    n_period = TRAIN.n_days
    assert n_period == 366  # includes 2016-02-29
    t = gi.tensors
    assert t.n_time == warmup + n_period == 731
    assert t.x.shape == (731, len(CELLS), len(NETWORK_FORCINGS) + len(GRID_ATTRIBUTES))
    assert gi.first_day == warmup
    assert pd.Timestamp(gi.time[0]) == pd.Timestamp("2015-04-01") and len(gi.time) == n_period
    np.testing.assert_array_equal(gi.cells, CELLS)
    np.testing.assert_array_equal(t.site_ids, CELLS)
    assert set(t.forcing) == set(MODEL_FORCINGS)

    smap_am = _series(smap, "smap_am", TRAIN.start, TRAIN.end)
    assert np.isnan(t.target[:warmup]).all()  # the cycled spin-up carries no observations
    np.testing.assert_array_equal(t.target[warmup:], smap_am)
    assert np.isfinite(t.target[warmup:]).sum() > 300  # SMAP AM: roughly every 2-3 days
    for v in MODEL_FORCINGS:
        rec = _series(smap, v, TRAIN.start, TRAIN.end)
        np.testing.assert_array_equal(t.forcing[v][warmup:], rec)
        np.testing.assert_array_equal(t.forcing[v][:warmup], rec[:warmup])  # 2015-04-01..2016-03-30 again
    # network inputs: the same cycle, normalised with the training statistics
    np.testing.assert_array_equal(t.x[:warmup], t.x[warmup:2 * warmup])
    prcp = _series(smap, "prcp", TRAIN.start, TRAIN.end)
    np.testing.assert_allclose(t.x[warmup:, :, 0],
                               (np.log1p(prcp) - normalizer.mean("prcp")) / normalizer.std("prcp"), rtol=1e-5, atol=1e-5)
    # fitted on exactly this window and these cells: tmean is standardised to mean 0, std 1 here
    tm = t.x[warmup:, :, 1].astype(np.float64)
    assert abs(tm.mean()) < 1e-4 and tm.std() == pytest.approx(1.0, abs=1e-4)
    # attributes: constant in time; cell 57's missing attributes set to the training mean (0)
    attrs = t.x[:, :, len(NETWORK_FORCINGS):]
    np.testing.assert_array_equal(attrs, np.broadcast_to(attrs[0], attrs.shape))
    assert np.isnan(smap["sand"].sel(cell=57).values) and (attrs[0, 1, :5] == 0).all()
    sand = smap["sand"].values.astype(float)
    np.testing.assert_allclose(attrs[0, [0, 2, 3], 0], (sand[[0, 2, 3]] - np.nanmean(sand)) / np.nanstd(sand), rtol=1e-5)


def test_test_window_warms_up_on_real_preceding_year(smap, normalizer):
    warmup = 365
    state_before = normalizer.to_dict()
    gi = build_grid_inputs(smap, TEST, normalizer, warmup)
    assert normalizer.to_dict() == state_before  # building test inputs never refits
    t = gi.tensors
    assert TEST.n_days == 365
    assert t.n_time == 730 and gi.first_day == 365
    assert pd.Timestamp(gi.time[0]) == pd.Timestamp("2016-04-01") and len(gi.time) == 365
    # 365 days before 2016-04-01 (leap year in between) is 2015-04-02, not 2015-04-01
    first = pd.Timestamp("2016-04-01") - pd.Timedelta(days=365)
    assert first == pd.Timestamp("2015-04-02")
    for v in MODEL_FORCINGS:
        np.testing.assert_array_equal(t.forcing[v][0], smap[v].sel(time="2015-04-02").values)
        np.testing.assert_array_equal(t.forcing[v], _series(smap, v, "2015-04-02", TEST.end))
        np.testing.assert_array_equal(t.forcing[v][gi.first_day], smap[v].sel(time="2016-04-01").values)
    # the warm-up keeps the real observations (not a cycled copy of the test year)
    np.testing.assert_array_equal(t.target, _series(smap, "smap_am", "2015-04-02", TEST.end))
    assert np.isfinite(t.target[:365]).any()
    assert not np.array_equal(t.forcing["prcp"][:365], t.forcing["prcp"][365:])
    # test-period inputs use the training statistics (not re-centred on the test year)
    tmean = _series(smap, "tmean", TEST.start, TEST.end)
    expected = (tmean - normalizer.mean("tmean")) / normalizer.std("tmean")
    np.testing.assert_allclose(t.x[365:, :, 1], expected, rtol=1e-5, atol=1e-5)


def test_normalizer_ignores_values_outside_training_window(smap, normalizer):
    changed = smap.copy(deep=True)
    later = changed["time"] > np.datetime64("2016-03-31")
    for v in NETWORK_FORCINGS:
        changed[v] = changed[v].where(~later, changed[v] * 10.0 + 100.0)
    refit = fit_grid_normalizer(TRAIN.select(changed))
    assert refit.to_dict() == normalizer.to_dict()
    # whereas a change inside the window does move the statistics
    inside = smap.copy(deep=True)
    inside["tmean"] = inside["tmean"] + 1.0
    assert fit_grid_normalizer(TRAIN.select(inside)).mean("tmean") == pytest.approx(normalizer.mean("tmean") + 1.0, abs=1e-4)
    # statistics are those of the training window: prcp in log1p space, tmean plain
    train = TRAIN.select(smap)
    assert normalizer.mean("tmean") == pytest.approx(float(np.nanmean(train["tmean"].values.astype(np.float64))), rel=1e-6)
    assert normalizer.mean("prcp") == pytest.approx(float(np.nanmean(np.log1p(train["prcp"].values.astype(np.float64)))),
                                                    rel=1e-6)
    full_mean = float(np.nanmean(smap["tmean"].values.astype(np.float64)))
    assert abs(full_mean - normalizer.mean("tmean")) > 1e-3


def test_spinup_longer_than_period_raises(smap, normalizer):
    short = TimeWindow("2015-04-01", "2015-06-30")  # 91 days, nothing before
    with pytest.raises(ValueError, match="spin-up of 365 days is longer than the record \\(91 days\\)"):
        build_grid_inputs(smap, short, normalizer, 365)
    gi = build_grid_inputs(smap, short, normalizer, 60)
    assert gi.tensors.n_time == 151 and np.isnan(gi.tensors.target[:60]).all()

"""MOD16A2 8-day compositing and the MOD16A2-style NetCDF reader."""

from __future__ import annotations

import netCDF4
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dplrepro.data.errors import DataFormatError, DataNotFoundError
from dplrepro.data.et import aggregate_8day, composite_length, composite_start, load_mod16a2

nan = np.nan


def _daily(values=None, start="2015-01-01", end="2016-12-31", units="mm/day") -> xr.DataArray:
    t = pd.date_range(start, end, freq="D")
    v = np.arange(len(t), dtype=np.float64) if values is None else values
    return xr.DataArray(v, dims=("time",), coords={"time": t}, name="et", attrs={"units": units})


# ----------------------------------------------------------------------------- periods
def test_composite_start_and_length_by_hand():
    starts = composite_start(pd.to_datetime(["2015-01-01", "2015-01-08", "2015-01-09", "2015-12-31", "2016-12-25",
                                             "2016-12-26", "2016-12-31", "2016-02-29"]))
    assert [d.strftime("%Y-%m-%d") for d in starts] == [
        "2015-01-01", "2015-01-01", "2015-01-09", "2015-12-27", "2016-12-18", "2016-12-26", "2016-12-26",
        "2016-02-26",  # DOY 57 = 1 + 8*7
    ]
    np.testing.assert_array_equal(composite_length(pd.to_datetime(["2015-01-01", "2015-12-27", "2016-12-26", "2016-12-18"])),
                                  [8, 5, 6, 8])


# ----------------------------------------------------------------------------- aggregation
def test_aggregate_two_years_boundaries_lengths_and_sums():
    daily = _daily()  # value = day index 0..730; 2015 has 365 days, 2016 (leap) 366
    out = aggregate_8day(daily)
    assert out.sizes["time"] == 92  # 46 composites per year
    t = pd.DatetimeIndex(out["time"].values)
    assert t[0] == pd.Timestamp("2015-01-01") and t[1] == pd.Timestamp("2015-01-09")
    assert t[45] == pd.Timestamp("2015-12-27") and t[46] == pd.Timestamp("2016-01-01")
    assert t[91] == pd.Timestamp("2016-12-26")
    assert set(t.day_of_year) == set(range(1, 362, 8))
    n = out["n_days"].values
    assert (n[:45] == 8).all() and n[45] == 5 and (n[46:91] == 8).all() and n[91] == 6
    assert n.sum() == 731
    # sums by hand
    assert out.values[0] == sum(range(0, 8)) == 28
    assert out.values[45] == sum(range(360, 365)) == 1810  # short period, not crossing the year
    assert out.values[46] == sum(range(365, 373)) == 2948
    assert out.values[91] == sum(range(725, 731)) == 4365
    assert out.attrs["units"] == "mm/8day"
    np.testing.assert_allclose(out.sum().item(), daily.sum().item())
    mean = aggregate_8day(daily, how="mean")
    assert mean.values[91] == pytest.approx(4365 / 6)
    assert mean.values[0] == pytest.approx(3.5)
    assert mean.attrs["units"] == "mm/day"


def test_aggregate_nan_and_missing_days():
    v = np.ones(731)
    v[10] = nan  # inside the composite of 2015-01-09 (index 8..15)
    daily = _daily(v)
    out = aggregate_8day(daily)
    assert np.isnan(out.values[1]) and out["n_valid"].values[1] == 7
    assert np.isfinite(np.delete(out.values, 1)).all()
    relaxed = aggregate_8day(daily, min_valid=0.8)  # 7/8 = 0.875 valid -> kept
    assert relaxed.values[1] == pytest.approx(8.0)  # valid-day mean x composite length
    assert np.isnan(aggregate_8day(daily, min_valid=0.9).values[1])
    # an absent date counts as a missing day; so do days outside the record
    dropped = daily.drop_sel(time=pd.Timestamp("2016-03-01"))
    out2 = aggregate_8day(dropped)
    i = int(np.flatnonzero(pd.DatetimeIndex(out2["time"].values) == pd.Timestamp("2016-02-26"))[0])
    assert np.isnan(out2.values[i])
    part = aggregate_8day(_daily(start="2015-01-05", end="2015-01-20"))
    assert [str(d)[:10] for d in part["time"].values] == ["2015-01-01", "2015-01-09", "2015-01-17"]
    assert np.isnan(part.values[0]) and np.isfinite(part.values[1]) and np.isnan(part.values[2])


def test_aggregate_keeps_other_dims_and_order():
    t = pd.date_range("2016-12-20", "2017-01-16", freq="D")
    da = xr.DataArray(np.ones((len(t), 3)), dims=("time", "site"), coords={"time": t, "site": ["a", "b", "c"]})
    out = aggregate_8day(da)
    assert out.dims == ("time", "site") and list(out["site"].values) == ["a", "b", "c"]
    assert [str(x)[:10] for x in out["time"].values] == ["2016-12-18", "2016-12-26", "2017-01-01", "2017-01-09"]
    np.testing.assert_array_equal(out.values[1:], [[6.0] * 3, [8.0] * 3, [8.0] * 3])


def test_aggregate_errors():
    daily = _daily()
    with pytest.raises(ValueError, match="how"):
        aggregate_8day(daily, how="median")
    with pytest.raises(ValueError, match="min_valid"):
        aggregate_8day(daily, min_valid=0)
    with pytest.raises(ValueError, match="duplicate"):
        aggregate_8day(xr.concat([daily[:5], daily[4:10]], dim="time"))
    with pytest.raises(ValueError, match="datetime"):
        aggregate_8day(xr.DataArray(np.ones(5), dims=("time",)))
    with pytest.raises(ValueError, match="no dimension 'day'"):
        aggregate_8day(daily, dim="day")


# ----------------------------------------------------------------------------- reader
TIMES = pd.to_datetime(["2015-12-11", "2015-12-19", "2015-12-27", "2016-01-01", "2016-01-09"])


def _write(path, *, raw=None, times=TIMES, units="kg/m^2/8day", scale=0.1, dtype="i2", variable="ET",
           dims=("pixel", "time"), extra_dim=False):
    n_site = 3
    if raw is None:
        raw = np.array(
            [
                [123, 0, 32761, 250, 77],
                [32767, 45, 80, 32766, 12],
                [1000, 999, 5, 6, -3],
            ]
        )
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("pixel", n_site)
        nc.createDimension("time", len(times))
        if extra_dim:
            nc.createDimension("y", 2)
        tv = nc.createVariable("time", "i4", ("time",))
        tv.units = "days since 2000-01-01"
        tv.calendar = "standard"
        tv[:] = (pd.DatetimeIndex(times) - pd.Timestamp("2000-01-01")).days.to_numpy()
        pv = nc.createVariable("pixel", "i4", ("pixel",))
        pv[:] = [101, 102, 103]
        lat = nc.createVariable("lat", "f4", ("pixel",))
        lat[:] = [40.0, 41.0, 42.0]
        vdims = (("y",) if extra_dim else ()) + dims
        fill = 32767 if dtype == "i2" else None
        v = nc.createVariable(variable, dtype, vdims, fill_value=fill)
        v.set_auto_maskandscale(False)
        if units is not None:
            v.units = units
        if scale is not None:
            v.scale_factor = scale
        data = raw if dims == ("pixel", "time") else raw.T
        v[:] = np.broadcast_to(data, v.shape) if extra_dim else data
    return path


def test_load_mod16a2_unpacks_and_masks(tmp_path):
    path = _write(tmp_path / "mod16.nc")
    et = load_mod16a2(path)
    assert et.dims == ("site", "time") and et.name == "ET" and et.dtype == np.float32
    assert list(et["site"].values) == [101, 102, 103]
    np.testing.assert_allclose(et["lat"].values, [40.0, 41.0, 42.0])
    assert pd.DatetimeIndex(et["time"].values).equals(TIMES)
    np.testing.assert_array_equal(et["n_days"].values, [8, 8, 5, 8, 8])
    expected = np.array(
        [
            [12.3, 0.0, nan, 25.0, 7.7],
            [nan, 4.5, 8.0, nan, 1.2],
            [100.0, 99.9, 0.5, 0.6, -0.3],
        ],
        dtype=np.float32,
    )
    np.testing.assert_allclose(et.values, expected, rtol=1e-6, equal_nan=True)
    assert et.attrs["units"] == "mm/8day" and et.attrs["units_in_file"] == "kg/m^2/8day"
    assert et.attrs["fill_values_masked"] == 3
    assert str(path) in et.attrs["source_file"]


def test_load_mod16a2_time_major_file_and_scale_override(tmp_path):
    path = _write(tmp_path / "tm.nc", dims=("time", "pixel"))
    et = load_mod16a2(path, scale_factor=0.01)
    assert et.dims == ("site", "time")
    assert et.values[0, 0] == pytest.approx(1.23)
    # unpacked float file, no scale factor needed
    fpath = _write(tmp_path / "f.nc", raw=np.full((3, 5), 2.5), dtype="f4", scale=None, units="mm/8day")
    np.testing.assert_allclose(load_mod16a2(fpath).values, 2.5)


def test_roundtrip_with_aggregate_8day(tmp_path):
    t = pd.date_range("2015-12-11", "2016-01-16", freq="D")
    daily = xr.DataArray(np.full((3, len(t)), 1.5), dims=("pixel", "time"), coords={"time": t}, attrs={"units": "mm/day"})
    comp = aggregate_8day(daily)
    raw = np.rint(comp.values / 0.1).astype(np.int16)
    et = load_mod16a2(_write(tmp_path / "rt.nc", raw=raw))
    np.testing.assert_allclose(et.values, comp.values, rtol=1e-6)
    np.testing.assert_allclose((et / et["n_days"]).values, 1.5, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, load_kw, match",
    [
        ({}, {"variable": "LE"}, r"variable 'LE' not found; variables present: \['ET', 'lat'\]"),
        ({"extra_dim": True}, {}, r"dims \('y', 'pixel', 'time'\); expected exactly two"),
        ({"times": pd.to_datetime(["2015-12-11", "2015-12-19", "2015-12-27", "2016-01-09", "2016-01-17"])}, {},
         r"irregular time steps .* after 2015-12-27 comes 2016-01-09, expected 2016-01-01"),
        ({"times": pd.to_datetime(["2015-12-11", "2015-12-19", "2015-12-27", "2016-01-02", "2016-01-10"])}, {},
         r"irregular time steps .* 2016-01-02 00:00:00 is not an 8-day composite start"),
        ({"times": pd.to_datetime(["2015-12-11", "2015-12-11", "2015-12-19", "2015-12-27", "2016-01-01"])}, {},
         r"irregular time steps"),
        ({"units": "mm/day"}, {}, r"units 'mm/day'; expected kg/m2/8day"),
        ({"units": None}, {}, r"no 'units' attribute"),
        ({"scale": None}, {}, r"integer-packed \(int16\) but has no 'scale_factor'.*0\.1"),
    ],
)
def test_load_mod16a2_bad_files(tmp_path, kwargs, load_kw, match):
    path = _write(tmp_path / "bad.nc", **kwargs)
    with pytest.raises(DataFormatError, match=match) as info:
        load_mod16a2(path, **load_kw)
    assert str(path) in str(info.value)


def test_load_mod16a2_no_time_dim_missing_file_and_garbage(tmp_path):
    path = tmp_path / "notime.nc"
    with netCDF4.Dataset(path, "w") as nc:
        nc.createDimension("pixel", 2)
        nc.createDimension("step", 2)
        v = nc.createVariable("ET", "f4", ("pixel", "step"))
        v.units = "kg/m2/8day"
        v[:] = 1.0
    with pytest.raises(DataFormatError, match=r"no 'time' dimension") as info:
        load_mod16a2(path)
    assert str(path) in str(info.value)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_mod16a2(tmp_path / "absent.nc")
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netcdf file")
    with pytest.raises(DataFormatError, match="not a readable NetCDF"):
        load_mod16a2(junk)


# ----------------------------------------------------------------------------- the ET twin (et_twin)
@pytest.fixture(scope="module")
def twin_grid():
    from dplrepro.data.sources import open_grid
    from dplrepro.experiments.grid import grid_forcing

    grid, _ = open_grid("synthetic", n_rows=6, n_cols=8, seed=0)
    return grid_forcing(grid)


def test_correlated_field_is_standardised_and_spatially_smooth():
    from dplrepro.experiments.et_twin import correlated_field

    row, col = np.divmod(np.arange(30 * 30), 30)
    smooth = correlated_field(row, col, 2, 3.0, np.random.default_rng(0))
    white = correlated_field(row, col, 2, 0.01, np.random.default_rng(0))
    assert smooth.shape == (900, 2)
    np.testing.assert_allclose(smooth.mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(smooth.std(0), 1.0, rtol=1e-12)

    def neighbour_corr(f):
        g = f[:, 0].reshape(30, 30)
        return np.corrcoef(g[:, :-1].ravel(), g[:, 1:].ravel())[0, 1]

    assert neighbour_corr(smooth) > 0.8 and abs(neighbour_corr(white)) < 0.2
    assert not np.allclose(smooth[:, 0], smooth[:, 1])  # one independent field per parameter
    with pytest.raises(ValueError, match="correlation_cells"):
        correlated_field(row, col, 1, 0.0, np.random.default_rng(0))


def test_true_parameters_have_an_unexplained_part(twin_grid):
    from dplrepro.experiments.et_twin import attribute_share, true_parameters, twin_model

    model = twin_model(30)
    smooth = true_parameters(twin_grid, model, seed=1, unexplained_share=0.0)
    noisy = true_parameters(twin_grid, model, seed=1, unexplained_share=0.3)
    np.testing.assert_allclose(attribute_share(smooth), 1.0, atol=1e-9)  # the attributes explain it all
    # the field is orthogonal to the attributes and holds 30 % of every parameter's logit variance
    np.testing.assert_allclose(attribute_share(noisy), 0.7, atol=1e-6)
    np.testing.assert_array_equal(smooth.weights, noisy.weights)  # same attribute part, plus the field
    for name in model.parameter_table.names:
        spec = model.parameter_table[name]
        for t in (smooth, noisy):
            v = t.physical[name]
            assert v.shape == (twin_grid.sizes["cell"],) and np.all(v > spec.low) and np.all(v < spec.high), name
    other = true_parameters(twin_grid, model, seed=2)
    assert not np.allclose(other.unit, noisy.unit)
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="unexplained_share"):
            true_parameters(twin_grid, model, unexplained_share=bad)


def test_twin_scores_the_truth_perfectly_and_counts_water_limited_days(twin_grid):
    from dplrepro.experiments.et_twin import (et_table, make_split, score_et, true_parameters, twin_model,
                                              water_limited_fraction)

    model = twin_model(365)
    split = make_split(twin_grid, 2, 365)
    assert split.test_cells.size and not set(split.test_cells) & set(split.train_cells)
    assert np.all(split.nearest < split.train_cells.size)
    truth = {k: v[split.train_cells] for k, v in true_parameters(twin_grid, model, seed=0).physical.items()}
    mid = {n: np.full((1, split.train_cells.size), model.parameter_table[n].scale(0.5), np.float32)
           for n in model.parameter_table.names}
    scores = score_et(model, split.test, {"truth": {k: np.stack([v, v]) for k, v in truth.items()}, "mid": mid}, truth)
    assert scores["truth"]["nse"].shape == (2, split.train_cells.size) and scores["mid"]["nse"].shape[0] == 1
    np.testing.assert_allclose(scores["truth"]["nse"], 1.0)
    np.testing.assert_allclose(scores["truth"]["corr"], 1.0, atol=1e-6)
    table = et_table(scores)
    assert table.loc["truth", "median ET NSE"] == pytest.approx(1.0) and table.loc["mid", "median ET NSE"] < 1.0
    water = water_limited_fraction(model, split.test, truth)
    assert 0.0 <= water["fraction"] <= 1.0 and water["per_cell"].shape == (split.train_cells.size,)
    assert 0.0 < water["et_over_pet"] <= 1.0
    # wilting and critical points near zero (EXPT at its lower bound): far fewer stressed days
    wet = dict(truth, EXPT_1=np.full_like(truth["EXPT_1"], 4.0), EXPT_2=np.full_like(truth["EXPT_2"], 4.0),
               EXPT_3=np.full_like(truth["EXPT_3"], 4.0))
    assert water_limited_fraction(model, split.test, wet)["fraction"] < water["fraction"]

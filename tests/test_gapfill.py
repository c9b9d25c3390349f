"""SMAP gap filling: the causal DI input, the LSTM forecaster, fill() and score()."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from dplrepro.data.errors import DataFormatError
from dplrepro.data.splits import SMAP_TEST_1Y, SMAP_TRAIN_1Y, TimeWindow
from dplrepro.nets.gapfill import (
    DEFAULT_FORCINGS,
    DEFAULT_STATICS,
    GapFillModel,
    SmapForecaster,
    fit_gapfill,
    latest_observation,
)

nan = np.nan


# ----------------------------------------------------------------------------- latest_observation
def test_latest_observation_by_hand_1d():
    obs = np.array([nan, 0.20, nan, nan, 0.30, 0.25, nan])
    value, age = latest_observation(obs, max_age=30, fill=0.5)
    # day 0: nothing before -> fill/cap; day 1 does NOT see its own 0.20
    np.testing.assert_array_equal(value, [0.5, 0.5, 0.20, 0.20, 0.20, 0.30, 0.25])
    np.testing.assert_array_equal(age, [30, 30, 1, 2, 3, 1, 1])


def test_latest_observation_by_hand_2d_fill_per_site_and_max_age():
    obs = np.array(
        [
            [0.1, nan],
            [nan, nan],
            [nan, 0.4],
            [nan, nan],
            [nan, nan],
        ]
    )
    value, age = latest_observation(obs, max_age=3, fill=np.array([0.15, 0.35]))
    # site 0: obs on day 0; ages 1, 2 on days 1, 2; day 3 would be age 3 = max_age -> forgotten
    np.testing.assert_array_equal(value[:, 0], [0.15, 0.1, 0.1, 0.15, 0.15])
    np.testing.assert_array_equal(age[:, 0], [3, 1, 2, 3, 3])
    np.testing.assert_array_equal(value[:, 1], [0.35, 0.35, 0.35, 0.4, 0.4])
    np.testing.assert_array_equal(age[:, 1], [3, 3, 3, 1, 2])


def test_latest_observation_default_fill_is_nan_and_bad_input():
    value, age = latest_observation(np.array([nan, nan, 0.3]))
    assert np.isnan(value[:3]).all() and (age == 30).all()
    with pytest.raises(ValueError, match=r"\[time\] or \[time, site\]"):
        latest_observation(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="max_age"):
        latest_observation(np.zeros(3), max_age=1)
    with pytest.raises(ValueError, match="one value per site"):
        latest_observation(np.zeros((3, 2)), fill=[0.1, 0.2, 0.3])


def test_latest_observation_is_causal():
    rng = np.random.default_rng(1)
    obs = np.where(rng.random((40, 3)) < 0.4, rng.random((40, 3)), nan)
    base_v, base_a = latest_observation(obs, fill=0.2)
    for t in (0, 7, 39):
        changed = obs.copy()
        changed[t, 1] = 0.99
        v, a = latest_observation(changed, fill=0.2)
        np.testing.assert_array_equal(v[: t + 1], base_v[: t + 1])
        np.testing.assert_array_equal(a[: t + 1], base_a[: t + 1])
        if t + 1 < len(obs):
            assert v[t + 1, 1] == 0.99 and a[t + 1, 1] == 1


# ----------------------------------------------------------------------------- network
def test_forecaster_causality_and_units():
    torch.manual_seed(0)
    n_t, n_s, n_x = 50, 4, 5
    net = SmapForecaster(n_x, hidden_size=8, smap_mean=0.25, smap_std=0.08, max_age=30).eval()
    x = torch.randn(n_t, n_s, n_x)
    rng = np.random.default_rng(0)
    obs = np.where(rng.random((n_t, n_s)) < 0.4, 0.1 + 0.3 * rng.random((n_t, n_s)), nan)

    def run(o):
        v, a = latest_observation(o, fill=0.25)
        with torch.no_grad():
            return net(x, torch.tensor(v, dtype=torch.float32), torch.tensor(a, dtype=torch.float32)).numpy()

    base = run(obs)
    assert base.shape == (n_t, n_s) and np.isfinite(base).all()
    t = 20
    changed = obs.copy()
    changed[t, 2] = 0.45
    out = run(changed)
    np.testing.assert_array_equal(out[: t + 1], base[: t + 1])  # days <= t unchanged
    assert not np.allclose(out[t + 1 :, 2], base[t + 1 :, 2])  # later days do see it
    np.testing.assert_array_equal(out[:, [0, 1, 3]], base[:, [0, 1, 3]])  # other sites untouched
    with pytest.raises(ValueError, match=r"\[time, site, 5\]"):
        net(torch.zeros(3, 2, 4), torch.zeros(3, 2), torch.zeros(3, 2))


# ----------------------------------------------------------------------------- synthetic pipeline
def _synthetic(n_cells: int = 6, n_days: int = 220, seed: int = 0) -> xr.Dataset:
    """A tiny SMAP-like dataset: a leaky bucket driven by rain, observed every ~2.5 days."""
    rng = np.random.default_rng(seed)
    time_ = pd.date_range("2015-04-01", periods=n_days, freq="D")
    prcp = rng.gamma(0.4, 8.0, size=(n_cells, n_days)) * (rng.random((n_cells, n_days)) < 0.35)
    sm = np.empty((n_cells, n_days))
    s = np.full(n_cells, 0.2)
    for t in range(n_days):
        s = 0.05 + (s - 0.05) * 0.93 + 0.004 * prcp[:, t]
        s = np.minimum(s, 0.45)
        sm[:, t] = s
    smap = np.where(rng.random((n_cells, n_days)) < 0.4, sm + rng.normal(0, 0.01, sm.shape), nan).astype(np.float32)
    data = {
        "smap_am": (("cell", "time"), smap, {"units": "m3/m3"}),
        "prcp": (("cell", "time"), prcp.astype(np.float32), {"units": "mm/day"}),
    }
    for v in DEFAULT_FORCINGS[1:]:
        data[v] = (("cell", "time"), rng.normal(size=(n_cells, n_days)).astype(np.float32))
    for v in DEFAULT_STATICS:
        data[v] = (("cell",), rng.random(n_cells).astype(np.float32))
    return xr.Dataset(data, coords={"cell": np.arange(n_cells), "time": time_})


SYN_TRAIN = TimeWindow("2015-04-01", "2015-08-31")
SYN_TEST = TimeWindow("2015-09-01", "2015-11-06")


@pytest.fixture(scope="module")
def synthetic_model():
    ds = _synthetic()
    model = fit_gapfill(ds, SYN_TRAIN, epochs=3, hidden_size=8, seed=3, device="cpu", progress=False, rho=60)
    return ds, model


def test_fit_is_seeded(synthetic_model):
    ds, model = synthetic_model
    again = fit_gapfill(ds, SYN_TRAIN, epochs=3, hidden_size=8, seed=3, device="cpu", progress=False, rho=60)
    assert again.history.loss == model.history.loss
    xr.testing.assert_equal(again.forecast(ds), model.forecast(ds))


def test_fill_keeps_observations_and_flags_forecasts(synthetic_model):
    ds, model = synthetic_model
    filled = model.fill(ds)
    assert filled.name == "smap_filled" and filled.dims == ("cell", "time") and filled.attrs["units"] == "m3/m3"
    assert not filled.isnull().any()
    observed = np.isfinite(ds["smap_am"].values)
    np.testing.assert_array_equal(filled.values[observed], ds["smap_am"].values[observed])
    np.testing.assert_array_equal(filled["is_forecast"].values, ~observed)


def test_score_structure_and_seed(synthetic_model):
    ds, model = synthetic_model
    s = model.score(ds, SYN_TEST, seed=1, per_cell=True)
    for name in ("lstm", "persistence", "climatology"):
        assert set(s[name]) == {"rmse", "ubrmse", "bias", "corr"}
        assert np.isfinite(s[name]["rmse"])
    assert np.isnan(s["climatology"]["corr"])  # constant series
    n_obs_test = int(np.isfinite(SYN_TEST.select(ds)["smap_am"].values).sum())
    assert abs(s["n_held_out"] - 0.2 * n_obs_test) <= ds.sizes["cell"]
    assert s["per_cell"]["lstm_rmse"].sizes["cell"] == ds.sizes["cell"]
    assert model.score(ds, SYN_TEST, seed=1)["lstm"] == s["lstm"]
    with pytest.raises(DataFormatError, match="outside"):
        model.score(ds, ("2014-01-01", "2014-02-01"))


def test_save_load_roundtrip(synthetic_model, tmp_path):
    ds, model = synthetic_model
    path = model.save(tmp_path / "gapfill.pt")
    loaded = GapFillModel.load(path, device="cpu")
    xr.testing.assert_equal(loaded.forecast(ds), model.forecast(ds))
    info = loaded.describe()
    assert info["config"]["seed"] == 3 and info["train_window"] == str(SYN_TRAIN) and info["device"] == "cpu"


def test_clear_errors_on_bad_inputs(synthetic_model):
    ds, model = synthetic_model
    with pytest.raises(DataFormatError, match="dswrf"):
        fit_gapfill(ds.drop_vars("dswrf"), SYN_TRAIN, epochs=1, progress=False)
    bad = ds.copy()
    bad["tmean"] = bad["tmean"].where(bad["time"] != bad["time"][5])
    with pytest.raises(DataFormatError, match="'tmean' has 6 missing"):
        model.fill(bad)
    with pytest.raises(TypeError, match="unknown fit_gapfill option"):
        fit_gapfill(ds, SYN_TRAIN, epochs=1, progress=False, bogus=1)
    with pytest.raises(DataFormatError, match="no 'smap_am' observations"):
        fit_gapfill(ds.assign(smap_am=ds["smap_am"] * nan), SYN_TRAIN, epochs=1, progress=False)


# ----------------------------------------------------------------------------- real SMAP
#: 60 cells drawn once (seeded) from the 412 CONUS cells.
REAL_CELLS = sorted(np.random.default_rng(0).choice(412, 60, replace=False).tolist())


@pytest.fixture(scope="module")
def real_run(smap_path):
    from dplrepro.data.smap import load_smap_conus

    ds = load_smap_conus(REAL_CELLS, end="2017-03-31")
    t0 = time.time()
    model = fit_gapfill(ds, SMAP_TRAIN_1Y, epochs=30, hidden_size=64, seed=0, device="cpu", progress=False)
    train_s = time.time() - t0
    scores = model.score(ds, SMAP_TEST_1Y, seed=0)
    print(f"\ngap-fill on 60 cells, trained {train_s:.1f}s; held-out median scores:")
    for name in ("lstm", "persistence", "climatology"):
        print(f"  {name:12s} " + " ".join(f"{k}={v:.4f}" for k, v in scores[name].items()))
    return ds, model, scores


@pytest.mark.real_data
@pytest.mark.slow
def test_real_smap_lstm_beats_baselines(real_run):
    ds, model, s = real_run
    assert s["n_cells"] == 60 and s["n_held_out"] > 1000
    lstm, pers, clim = s["lstm"], s["persistence"], s["climatology"]
    # measured (30 epochs, hidden 64, ~3 s on 2 CPU cores), median RMSE over cells, m3/m3:
    # LSTM 0.030-0.033 (seeds 0-4), persistence 0.044-0.047, climatology 0.055-0.059
    assert lstm["rmse"] < 0.05
    assert lstm["rmse"] < clim["rmse"]
    assert lstm["rmse"] < pers["rmse"]
    assert lstm["corr"] > pers["corr"]
    assert abs(lstm["bias"]) < 0.02


@pytest.mark.real_data
@pytest.mark.slow
def test_real_smap_fill_is_complete_and_keeps_observations(real_run):
    ds, model, _ = real_run
    filled = model.fill(ds)
    smap_period = filled.sel(time=slice("2015-04-01", "2017-03-31"))
    assert not smap_period.isnull().any()
    obs = ds["smap_am"].transpose("cell", "time").values
    observed = np.isfinite(obs)
    assert observed.mean() > 0.3
    np.testing.assert_array_equal(filled.values[observed], obs[observed])
    assert filled["is_forecast"].values.sum() == (~observed).sum()
    # forecasts are physically plausible soil moisture
    fc = filled.values[~observed]
    assert np.nanmin(fc) > -0.05 and np.nanmax(fc) < 0.8


@pytest.mark.real_data
@pytest.mark.slow
def test_real_smap_forecast_is_causal(real_run):
    ds, model, _ = real_run
    ds = ds.sel(time=slice(None, "2015-09-30"))
    base = model.forecast(ds)
    obs = ds["smap_am"].copy(deep=True)
    t = 100
    obs[{"cell": 3, "time": t}] = 0.49
    changed = model.forecast(ds, obs)
    np.testing.assert_array_equal(changed.values[:, : t + 1], base.values[:, : t + 1])
    assert not np.allclose(changed.values[3, t + 1 :], base.values[3, t + 1 :])

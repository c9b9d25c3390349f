"""Normalizer: training-only statistics, exact persistence, NumPy/xarray/torch agreement."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from dplrepro.data.errors import DataFormatError
from dplrepro.data.normalize import Normalizer, NotFittedError
from dplrepro.data.splits import TimeWindow

TRAIN = TimeWindow("2000-01-01", "2000-12-31")


def make_ds(seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    time = pd.date_range("2000-01-01", "2001-12-31", freq="D")
    n = len(time)
    prcp = rng.gamma(0.7, 4.0, (3, n)) * (rng.random((3, n)) < 0.4)
    prcp[0, 10:20] = np.nan
    tmean = 10 + 8 * rng.standard_normal((3, n))
    tmean[1, 5] = np.nan
    return xr.Dataset(
        {
            "prcp": (("basin", "time"), prcp, {"units": "mm/day"}),
            "tmean": (("basin", "time"), tmean, {"units": "degC"}),
            "elev": ("basin", [100.0, 500.0, 1500.0], {"units": "m"}),
        },
        coords={"basin": ["a", "b", "c"], "time": time},
    )


def fitted(ds=None) -> Normalizer:
    ds = make_ds() if ds is None else ds
    return Normalizer(transforms={"prcp": "log1p"}).fit(TRAIN.select(ds), ["prcp", "tmean", "elev"])


def test_stats_equal_numpy_on_training_slice_only():
    ds = make_ds()
    norm = fitted(ds)
    train = TRAIN.select(ds)
    assert norm.mean("tmean") == np.nanmean(train.tmean.values)
    assert norm.std("tmean") == np.nanstd(train.tmean.values)
    assert norm.mean("prcp") == np.nanmean(np.log1p(train.prcp.values))
    assert norm.std("prcp") == np.nanstd(np.log1p(train.prcp.values))
    assert norm.mean("elev") == np.mean([100.0, 500.0, 1500.0])
    assert norm.stats("tmean")["count"] == 3 * 366 - 1
    # Test-period values must not influence the statistics.
    spoiled = ds.copy(deep=True)
    late = spoiled.time > np.datetime64("2000-12-31")
    spoiled["tmean"] = spoiled.tmean.where(~late, 1e6)
    spoiled["prcp"] = spoiled.prcp.where(~late, 500.0)
    norm2 = fitted(spoiled)
    assert norm2.to_dict() == norm.to_dict()
    # ... whereas fitting on the full record would differ.
    full = Normalizer(transforms={"prcp": "log1p"}).fit(spoiled, ["tmean"])
    assert full.mean("tmean") != norm.mean("tmean")


def test_roundtrip_numpy_xarray_and_agreement():
    ds = make_ds()
    norm = fitted(ds)
    for var in ("prcp", "tmean"):
        x = ds[var].values
        z = norm.transform(x, var)
        back = norm.inverse_transform(z, var)
        np.testing.assert_allclose(back, x, rtol=1e-12, atol=1e-12, equal_nan=True)
        zda = norm.transform(ds[var], var)
        assert isinstance(zda, xr.DataArray) and zda.dims == ds[var].dims
        np.testing.assert_array_equal(zda.values, z)
        assert zda.attrs["units"] == "1" and zda.attrs["units_physical"] == ds[var].attrs["units"]
        back_da = norm.inverse_transform(zda, var)
        assert back_da.attrs["units"] == ds[var].attrs["units"]
    # training slice is standardised
    zt = norm.transform(TRAIN.select(ds).tmean.values, "tmean")
    assert np.nanmean(zt) == pytest.approx(0.0, abs=1e-12)
    assert np.nanstd(zt) == pytest.approx(1.0, abs=1e-12)


def test_torch_agrees_with_numpy_and_keeps_gradients():
    ds = make_ds()
    norm = fitted(ds)
    x = ds.prcp.values[:, :50].T  # [time, site]
    zt = norm.transform(torch.tensor(x, dtype=torch.float64), "prcp")
    np.testing.assert_allclose(zt.numpy(), norm.transform(x, "prcp"), rtol=1e-12, equal_nan=True)
    xt = torch.tensor(np.nan_to_num(x), dtype=torch.float32, requires_grad=True)
    back = norm.inverse_transform(norm.transform(xt, "prcp"), "prcp")
    back.sum().backward()
    assert xt.grad is not None and torch.allclose(back, xt, atol=1e-4)
    # stacked [time, site, feature] with a variable list on the last axis
    stacked = np.stack([np.nan_to_num(ds.prcp.values.T), ds.tmean.values.T], axis=-1)
    zs = norm.transform(torch.tensor(stacked), ["prcp", "tmean"])
    np.testing.assert_allclose(zs[..., 1].numpy(), norm.transform(stacked[..., 1], "tmean"), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(norm.inverse_transform(zs, ["prcp", "tmean"]).numpy(), stacked, rtol=1e-10, atol=1e-10,
                               equal_nan=True)


def test_transform_dataset_roundtrip():
    ds = make_ds()
    norm = fitted(ds)
    z = norm.transform_dataset(ds)
    assert z.tmean.attrs["normalized"] == "none" and z.prcp.attrs["normalized"] == "log1p"
    back = norm.inverse_transform_dataset(z)
    xr.testing.assert_allclose(back, ds)
    assert back.prcp.attrs == ds.prcp.attrs
    with pytest.raises(DataFormatError, match="nope"):
        norm.transform_dataset(ds, ["nope"])


def test_json_and_state_dict_roundtrip_exact(tmp_path):
    ds = make_ds()
    norm = fitted(ds)
    text = json.dumps(norm.to_dict())
    restored = Normalizer.from_dict(json.loads(text))
    assert restored.to_dict() == norm.to_dict()
    for var in ("prcp", "tmean", "elev"):
        assert restored.mean(var) == norm.mean(var) and restored.std(var) == norm.std(var)
    np.testing.assert_array_equal(restored.transform(ds.prcp.values, "prcp"), norm.transform(ds.prcp.values, "prcp"))
    # inside a torch checkpoint
    path = tmp_path / "ckpt.pt"
    torch.save({"normalizer": norm.state_dict(), "model": {}}, path)
    loaded = Normalizer()
    loaded.load_state_dict(torch.load(path, weights_only=True)["normalizer"])
    assert loaded.to_dict() == norm.to_dict()


def test_per_site_statistics():
    ds = make_ds()
    norm = Normalizer().fit(TRAIN.select(ds), ["tmean"], dims="time")
    train = TRAIN.select(ds).tmean.values
    np.testing.assert_array_equal(norm.mean("tmean"), np.nanmean(train, axis=1))
    z = norm.transform(ds.tmean, "tmean")
    np.testing.assert_allclose(z.values, (ds.tmean.values - np.nanmean(train, axis=1)[:, None]) / np.nanstd(train, axis=1)[:, None])
    # a subset of basins is matched by name, not position
    zb = norm.transform(ds.tmean.sel(basin=["c", "a"]), "tmean")
    np.testing.assert_allclose(zb.sel(basin="a").values, z.sel(basin="a").values)
    # numpy [time, site] broadcasts against per-site statistics
    np.testing.assert_allclose(norm.transform(ds.tmean.values.T, "tmean"), z.values.T)
    restored = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    xr.testing.assert_equal(restored.transform(ds.tmean, "tmean"), z)
    with pytest.raises(ValueError, match="basin.*'x'"):
        norm.transform(ds.tmean.assign_coords(basin=["a", "b", "x"]), "tmean")


def test_refusals():
    ds = make_ds()
    with pytest.raises(NotFittedError, match="not fitted"):
        Normalizer().transform(np.ones(3), "prcp")
    norm = fitted(ds)
    with pytest.raises(ValueError, match="'qobs'"):
        norm.transform(np.ones(3), "qobs")
    const = ds.assign(flat=(("basin",), np.ones(3)))
    with pytest.raises(DataFormatError, match="'flat'.*standard deviation"):
        Normalizer().fit(const, ["flat"])
    unit = Normalizer(on_zero_std="unit").fit(const, ["flat"])
    assert unit.std("flat") == 1.0
    with pytest.raises(DataFormatError, match="'tmean'.*negative"):
        Normalizer(transforms={"tmean": "sqrt"}).fit(ds, ["tmean"])
    with pytest.raises(DataFormatError, match="'prcp'.*negative"):
        norm.transform(np.array([-1.0]), "prcp")
    with pytest.raises(ValueError, match="unknown transform"):
        Normalizer(transforms={"prcp": "log10"})
    with pytest.raises(DataFormatError, match="'missing'"):
        Normalizer().fit(ds, ["missing"])
    with pytest.raises(DataFormatError, match="no finite"):
        Normalizer().fit(ds.assign(allnan=(("basin",), [np.nan] * 3)), ["allnan"])


def test_sqrt_transform():
    ds = make_ds()
    norm = Normalizer(transforms={"prcp": "sqrt"}).fit(TRAIN.select(ds), ["prcp"])
    assert norm.mean("prcp") == np.nanmean(np.sqrt(TRAIN.select(ds).prcp.values))
    x = ds.prcp.values
    np.testing.assert_allclose(norm.inverse_transform(norm.transform(x, "prcp"), "prcp"), x, atol=1e-12, equal_nan=True)
    # values below the transform's range come back as 0, not as a positive square
    assert norm.inverse_transform(np.array([-1e3]), "prcp")[0] == 0.0

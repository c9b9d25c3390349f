"""Synthetic twin data: schema, determinism, smoothness, noise/gaps, truth and mass balance."""

from __future__ import annotations

import time

import numpy as np
import pytest
import xarray as xr

from dplrepro.data.twin import (
    BUCKET_PARAMETERS,
    DATA_SOURCE,
    SOIL_MOISTURE_PARAMETERS,
    TRUE_TRANSFER_BASINS,
    TRUE_TRANSFER_GRID,
    TwinSimulator,
    bucket_streamflow_model,
    make_virtual_basins,
    make_virtual_grid,
    surface_soil_moisture_model,
)
from dplrepro.physics.parameters import ParameterSpec
from dplrepro.physics.pet import pet_for_dataset

BASIN_ATTRS = [
    "attr_p_mean", "attr_pet_mean", "attr_aridity", "attr_frac_snow", "attr_elev_mean", "attr_slope_mean",
    "attr_sand_frac", "attr_clay_frac", "attr_frac_forest", "attr_soil_depth_pelletier",
]


@pytest.fixture(scope="module")
def basins() -> xr.Dataset:
    return make_virtual_basins()


@pytest.fixture(scope="module")
def grid() -> xr.Dataset:
    return make_virtual_grid()


@pytest.fixture(scope="module")
def many_basins() -> xr.Dataset:
    return make_virtual_basins(n_basins=150, start="2000-10-01", end="2002-09-30", seed=5)


# ----------------------------------------------------------------------------- schema
def test_basin_schema(basins):
    ds = basins
    assert dict(ds.sizes) == {"basin": 30, "time": 3653}
    assert np.issubdtype(ds.time.dtype, np.datetime64)
    assert str(ds.time.values[0])[:10] == "1995-10-01" and str(ds.time.values[-1])[:10] == "2005-09-30"
    assert list(ds.basin.values[:2]) == ["V0001", "V0002"] and ds.basin.values[-1] == "V0030"
    units = {"prcp": "mm/day", "tmax": "degC", "tmin": "degC", "qobs": "mm/day", "lat": "degrees_north",
             "lon": "degrees_east", "area_km2": "km2"}
    for var, unit in units.items():
        assert ds[var].attrs["units"] == unit, var
    for var in ("prcp", "tmax", "tmin", "qobs"):
        assert ds[var].dims == ("basin", "time") and ds[var].dtype == np.float32
    for var in ["lat", "lon", "area_km2", "in_531", *BASIN_ATTRS]:
        assert ds[var].dims == ("basin",), var
    assert ds.in_531.dtype == bool and ds.in_531.all()
    assert ((ds.lat > 25) & (ds.lat < 50)).all() and ((ds.lon > -125) & (ds.lon < -66)).all()
    assert (ds.tmax >= ds.tmin).all() and (ds.prcp >= 0).all()
    for name in BUCKET_PARAMETERS:
        assert ds[f"true_{name}"].dims == ("basin",)
    assert ds.attrs["data_source"] == DATA_SOURCE == "synthetic twin (dplrepro.data.twin)"
    assert ds.attrs["seed"] == 0 and ds.attrs["simulator"] == "bucket_streamflow_model"
    assert "sigmoid" in ds.attrs["true_transfer_function"] and "attr_aridity" in ds.attrs["true_transfer_function"]


def test_grid_schema(grid):
    ds = grid
    assert set(ds.dims) == {"cell", "time"} and ds.sizes["time"] == 731
    assert ds.sizes["cell"] < 8 * 12  # holes like a land mask
    assert ds.cell.dtype == np.int64
    units = {"prcp": "mm/day", "tmean": "degC", "dswrf": "W/m2", "spfh": "kg/kg", "smap_am": "m3/m3",
             "sand": "percent", "clay": "percent", "silt": "percent", "bulk": "g/cm3"}
    for var, unit in units.items():
        assert ds[var].attrs["units"] == unit, var
    for var in ("prcp", "tmean", "dswrf", "spfh", "smap_am"):
        assert ds[var].dims == ("cell", "time"), var
    for var in ("lat", "lon", "row", "col", "sand", "clay", "silt", "ndvi", "capa", "bulk"):
        assert ds[var].dims == ("cell",), var
    np.testing.assert_allclose(ds.sand + ds.clay + ds.silt, 100.0, atol=1e-3)
    assert (ds.sand > 0).all() and (ds.clay > 0).all() and (ds.silt > 0).all()
    # regular 1.5-degree grid, row 0 south, col 0 west (as the real reader numbers them)
    np.testing.assert_allclose(np.diff(np.unique(ds.lat.values)), 1.5, atol=1e-4)
    assert ds.lat.values[np.argmin(ds.row.values)] == ds.lat.min()
    assert ds.lon.values[np.argmin(ds.col.values)] == ds.lon.min()
    assert len({(r, c) for r, c in zip(ds.row.values, ds.col.values)}) == ds.sizes["cell"]
    assert 0 < float(ds.spfh.mean()) < 0.03 and 0 < float(ds.dswrf.mean()) < 400
    assert ((ds.ndvi > 0) & (ds.ndvi < 1)).all() and ((ds.capa > 0) & (ds.capa < 0.5)).all()
    for name in SOIL_MOISTURE_PARAMETERS:
        assert f"true_{name}" in ds
    assert ds.attrs["data_source"] == DATA_SOURCE and ds.attrs["simulator"] == "surface_soil_moisture_model"


def test_netcdf_roundtrip(tmp_path):
    ds = make_virtual_basins(n_basins=3, start="2000-01-01", end="2000-12-31")
    path = tmp_path / "twin.nc"
    ds.to_netcdf(path)
    with xr.open_dataset(path) as back:
        xr.testing.assert_identical(back.load(), ds)


# ----------------------------------------------------------------------------- determinism
def test_determinism():
    xr.testing.assert_identical(make_virtual_basins(seed=3), make_virtual_basins(seed=3))
    xr.testing.assert_identical(make_virtual_grid(seed=3), make_virtual_grid(seed=3))
    a, b = make_virtual_basins(n_basins=5, seed=1), make_virtual_basins(n_basins=5, seed=2)
    assert not np.array_equal(a.prcp.values, b.prcp.values)
    assert not np.array_equal(a.lat.values, b.lat.values)
    assert not np.array_equal(make_virtual_grid(seed=1).sand.values, make_virtual_grid(seed=2).sand.values)


def test_speed():
    t0 = time.perf_counter()
    make_virtual_basins()
    make_virtual_grid()
    assert time.perf_counter() - t0 < 5.0


# ----------------------------------------------------------------------------- consistency
def test_climate_attributes_consistent(basins):
    ds = basins
    np.testing.assert_allclose(ds.attr_p_mean, ds.prcp.astype("float64").mean("time"), rtol=1e-5)
    pet = pet_for_dataset(ds, "hargreaves")
    np.testing.assert_allclose(ds.attr_pet_mean, pet.mean("time"), rtol=1e-5)
    np.testing.assert_allclose(ds.attr_aridity, ds.attr_pet_mean / ds.attr_p_mean, rtol=1e-5)
    tmean = (ds.tmin.astype("float64") + ds.tmax) / 2
    frac = ds.prcp.where(tmean < 0, 0.0).sum("time") / ds.prcp.sum("time")
    np.testing.assert_allclose(ds.attr_frac_snow, frac, rtol=1e-4, atol=1e-6)
    # latitude-dependent seasonal cycle: northern basins have a larger summer-winter contrast
    t = tmean.groupby("time.month").mean()
    contrast = t.sel(month=7) - t.sel(month=1)
    assert np.corrcoef(contrast, ds.lat)[0, 1] > 0.5
    assert (contrast > 0).all()
    assert np.corrcoef(ds.attr_frac_snow, ds.lat)[0, 1] > 0.3


def test_precipitation_intermittent(basins):
    wet = basins.prcp > 0
    frac_wet = wet.mean("time")
    assert ((frac_wet > 0.03) & (frac_wet < 0.7)).all()
    # wet days cluster (Markov persistence): P(wet | wet yesterday) > P(wet)
    w = wet.values
    p_ww = (w[:, 1:] & w[:, :-1]).sum(1) / w[:, :-1].sum(1)
    assert np.median(p_ww - w.mean(1)) > 0.1


def _semivariance(values, lat, lon, d_lo, d_hi):
    z = (values - values.mean()) / values.std()
    d = np.hypot(lat[:, None] - lat[None, :], (lon[:, None] - lon[None, :]) * np.cos(np.radians(38)))
    pair = (d > d_lo) & (d <= d_hi) & np.triu(np.ones_like(d, bool), 1)
    return 0.5 * np.mean((z[:, None] - z[None, :])[pair] ** 2)


def test_attributes_spatially_smooth(many_basins):
    ds = many_basins
    lat, lon = ds.lat.values.astype(float), ds.lon.values.astype(float)
    for name in ["attr_elev_mean", "attr_sand_frac", "attr_clay_frac", "attr_frac_forest",
                 "attr_soil_depth_pelletier", "attr_slope_mean", "attr_p_mean", "attr_aridity"]:
        v = ds[name].values.astype(float)
        near = _semivariance(v, lat, lon, 0.0, 3.0)
        mid = _semivariance(v, lat, lon, 3.0, 8.0)
        far = _semivariance(v, lat, lon, 15.0, 100.0)
        assert near < mid < far, (name, near, mid, far)  # variogram increases with distance
        assert near < 0.5, (name, near)  # neighbours are strongly correlated
    g = make_virtual_grid(n_rows=10, n_cols=20, start="2015-04-01", end="2015-06-30")
    for name in ("sand", "clay", "ndvi", "bulk"):
        v = g[name].values.astype(float)
        assert _semivariance(v, g.lat.values, g.lon.values, 0, 1.6) < _semivariance(v, g.lat.values, g.lon.values, 8, 100)


# ----------------------------------------------------------------------------- noise and gaps
def test_gaps_and_noise_basins():
    ds = make_virtual_basins(n_basins=10, gap_fraction=0.1, noise=0.2, seed=4)
    n_time = ds.sizes["time"]
    missing = ds.qobs.isnull().sum("time").values
    np.testing.assert_array_equal(missing, round(0.1 * n_time))
    # gaps come in runs: far fewer run starts than missing days
    m = ds.qobs.isnull().values
    starts = (m[:, 1:] & ~m[:, :-1]).sum() + m[:, 0].sum()
    assert m.sum() / starts > 3
    assert not ds.q_true.isnull().any() and not ds.prcp.isnull().any()
    ok = ds.qobs.notnull() & (ds.q_true > 1e-4)
    log_ratio = np.log(ds.qobs.where(ok) / ds.q_true.where(ok))
    assert float(log_ratio.std()) == pytest.approx(0.2, rel=0.05)
    assert float(np.exp(log_ratio).mean()) == pytest.approx(1.0, abs=0.01)  # mean-one multiplicative noise
    clean = make_virtual_basins(n_basins=3, gap_fraction=0.0, noise=0.0, seed=4)
    assert not clean.qobs.isnull().any()
    np.testing.assert_array_equal(clean.qobs.values, clean.q_true.values)


def test_runoff_ratio_plausible(basins):
    ok = basins.qobs.notnull()
    ratio = basins.qobs.where(ok).sum("time") / basins.prcp.where(ok).sum("time")
    assert 0.05 < float(ratio.median()) < 0.9
    assert (ratio > 0).all() and (ratio < 1).all()


def test_grid_sampling_and_noise():
    ds = make_virtual_grid(noise=0.03, mask_frozen=False, seed=2)
    obs = ds.smap_am.notnull().values
    frac = obs.mean()
    assert 0.36 < frac < 0.45  # one overpass every 2-3 days (real file: ~42 %)
    for row in obs[:10]:
        gaps = np.diff(np.flatnonzero(row))
        assert set(gaps.tolist()) <= {2, 3}
    good = ds.smap_am.notnull() & (ds.smap_true > 0.1) & (ds.smap_true < 0.9)
    resid = (ds.smap_am - ds.smap_true).where(good)
    assert float(resid.std()) == pytest.approx(0.03, rel=0.05)
    assert abs(float(resid.mean())) < 0.002
    frozen = make_virtual_grid(seed=2)  # default masks frozen days
    assert not (frozen.smap_am.notnull() & (frozen.tmean < 0)).any()
    assert float(ds.smap_true.min()) >= 0.0 and float(ds.smap_true.max()) <= 0.6


# ----------------------------------------------------------------------------- true parameters
def _check_true_params(ds, table, transfer, min_corr=0.5):
    for name, spec in table.items():
        v = ds[f"true_{name}"].values
        assert (v >= spec.low).all() and (v <= spec.high).all(), name
        assert ds[f"true_{name}"].attrs["units"] == spec.unit
        intercept, weights = transfer[name]
        driver, weight = next(iter(weights.items()))
        r = np.corrcoef(v, ds[driver].values.astype(float))[0, 1]
        assert np.sign(r) == np.sign(weight) and abs(r) > min_corr, (name, driver, r)
        assert v.std() > 0.05 * (spec.high - spec.low), name  # actually varies


def test_true_parameters_basins(basins, many_basins):
    _check_true_params(basins, BUCKET_PARAMETERS, TRUE_TRANSFER_BASINS)
    _check_true_params(many_basins, BUCKET_PARAMETERS, TRUE_TRANSFER_BASINS)


def test_true_parameters_grid(grid):
    _check_true_params(grid, SOIL_MOISTURE_PARAMETERS, TRUE_TRANSFER_GRID)


def test_custom_simulator():
    def linear_reservoir(prcp, tmean, pet, params):
        k = params["KX"]
        q = np.empty_like(prcp)
        s = np.zeros(prcp.shape[1])
        for t in range(prcp.shape[0]):
            s = s + prcp[t]
            q[t] = k * s
            s = s - q[t]
        return q

    sim = TwinSimulator("linres", linear_reservoir, {"KX": ParameterSpec("KX", 0.01, 0.5, "1/day", "recession")}, "q", "mm/day")
    ds = make_virtual_basins(n_basins=8, start="2000-01-01", end="2001-12-31", simulator=sim, noise=0.0, gap_fraction=0.0)
    assert ds.attrs["simulator"] == "linres"
    assert ((ds.true_KX > 0.01) & (ds.true_KX < 0.5)).all() and float(ds.true_KX.std()) > 0
    assert "true_TT" not in ds and "KX" in ds.attrs["true_transfer_function"]
    np.testing.assert_allclose(ds.qobs.mean("time"), ds.prcp.mean("time"), rtol=0.2)
    # a table of spec objects with a ``name`` (like models.parameters.ParameterTable) works too
    from types import SimpleNamespace

    table = [SimpleNamespace(name="KX", low=0.01, high=0.5, unit="1/day", description="recession")]
    sim2 = TwinSimulator("linres", linear_reservoir, table, "q", "mm/day")
    assert sim2.parameters == sim.parameters
    with pytest.raises(ValueError, match="'KX'.*low < high"):
        TwinSimulator("bad", linear_reservoir, {"KX": (0.5, 0.1)}, "q", "mm/day")


# ----------------------------------------------------------------------------- mass balance
def _forcings(n_time=1500, n_site=7, seed=0):
    rng = np.random.default_rng(seed)
    doy = np.arange(n_time) % 365
    prcp = rng.gamma(0.6, 6.0, (n_time, n_site)) * (rng.random((n_time, n_site)) < 0.4)
    tmean = 5 + 15 * np.sin(2 * np.pi * (doy - 100) / 365)[:, None] + rng.normal(0, 3, (n_time, n_site))
    pet = np.maximum(0.0, 0.15 * (tmean + 5))
    return prcp, tmean, pet


def _random_params(table, n_site, seed=1):
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(s.low, s.high, n_site) for k, s in table.items()}


def test_bucket_model_mass_balance():
    prcp, tmean, pet = _forcings()
    out = bucket_streamflow_model(prcp, tmean, pet, _random_params(BUCKET_PARAMETERS, prcp.shape[1]))
    assert out["q"].shape == prcp.shape
    residual = prcp.sum(0) - out["et"].sum(0) - out["q"].sum(0) - (out["storage"][-1] - out["storage_initial"])
    assert np.all(np.abs(residual) / prcp.sum(0) < 1e-8)
    for k in ("q", "et", "snow", "sm", "suz", "slz"):
        assert (out[k] >= 0).all(), k
    assert out["snow"].max() > 0 and out["melt"].sum() > 0  # the snow routine is exercised
    # single-site 1-D input gives 1-D output, same numbers
    p1 = {k: v[2] for k, v in _random_params(BUCKET_PARAMETERS, prcp.shape[1]).items()}
    one = bucket_streamflow_model(prcp[:, 2], tmean[:, 2], pet[:, 2], p1)
    np.testing.assert_array_equal(one["q"], out["q"][:, 2])
    with pytest.raises(ValueError, match="missing \\['PERC'\\]"):
        bucket_streamflow_model(prcp, tmean, pet, {k: 1.0 for k in list(BUCKET_PARAMETERS)[:-1]})


def test_soil_moisture_model_mass_balance():
    prcp, tmean, pet = _forcings(seed=3)
    params = _random_params(SOIL_MOISTURE_PARAMETERS, prcp.shape[1], seed=4)
    out = surface_soil_moisture_model(prcp, tmean, pet, params)
    fluxes = out["et"].sum(0) + out["runoff"].sum(0) + out["drainage"].sum(0)
    residual = prcp.sum(0) - fluxes - (out["storage"][-1] - out["storage_initial"])
    assert np.all(np.abs(residual) / prcp.sum(0) < 1e-8)
    theta = out["theta"]
    assert (theta >= 0).all() and (theta <= params["POROSITY"][None, :] + 1e-12).all()
    assert theta.std(0).min() > 0.01  # responds to the weather
    with pytest.raises(ValueError, match="INFILT"):
        surface_soil_moisture_model(prcp, tmean, pet, {**params, "INFILT": -1.0})

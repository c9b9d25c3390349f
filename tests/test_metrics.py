"""Tests for dplrepro.metrics: hand-computed values, NaN handling, vectorisation,
torch (values + gradients), xarray, and cross-checks against HydroErr / hydroeval."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import xarray as xr

from dplrepro import metrics as M

SIM = np.array([1.0, 2.0, 3.0, 4.0])
OBS = np.array([2.0, 2.0, 4.0, 4.0])
# Hand computation for SIM/OBS:
#   e = sim - obs = [-1, 0, -1, 0]           -> bias = -0.5, rmse = sqrt(2/4) = sqrt(0.5)
#   mean(sim) = 2.5, mean(obs) = 3
#   ds = [-1.5, -0.5, 0.5, 1.5], do = [-1, -1, 1, 1]
#   ds - do = [-0.5, 0.5, -0.5, 0.5]         -> ubrmse = 0.5 (and 0.5 = 0.25 + 0.25 = bias²+ub²)
#   Σds·do = 1.5+0.5+0.5+1.5 = 4, Σds² = 5, Σdo² = 4 -> r = 4/sqrt(20) = 2/sqrt(5)
#   nse = 1 - Σe²/Σdo² = 1 - 2/4 = 0.5
#   beta = 2.5/3 = 5/6
#   σs = sqrt(5/4), σo = 1 (ddof=0) -> gamma = (sqrt(1.25)/2.5) / (1/3) = 3/sqrt(5)
R_HAND = 2 / math.sqrt(5)
BETA_HAND = 5 / 6
GAMMA_HAND = 3 / math.sqrt(5)
KGE_HAND = 1 - math.sqrt((R_HAND - 1) ** 2 + (BETA_HAND - 1) ** 2 + (GAMMA_HAND - 1) ** 2)
HAND = {
    "bias": -0.5,
    "rmse": math.sqrt(0.5),
    "ubrmse": 0.5,
    "corr": R_HAND,
    "nse": 0.5,
    "kge": KGE_HAND,
}


def test_hand_computed_values():
    for name, expected in HAND.items():
        assert M.METRICS[name].func(SIM, OBS) == pytest.approx(expected, rel=1e-12), name
    assert KGE_HAND == pytest.approx(0.6054853326, rel=1e-9)  # guard the closed form itself
    comp = M.kge(SIM, OBS, return_components=True)
    assert set(comp) == {"kge", "r", "beta", "gamma"}
    assert comp["kge"] == pytest.approx(KGE_HAND, rel=1e-12)
    assert comp["r"] == pytest.approx(R_HAND, rel=1e-12)
    assert comp["beta"] == pytest.approx(BETA_HAND, rel=1e-12)
    assert comp["gamma"] == pytest.approx(GAMMA_HAND, rel=1e-12)
    # argument order matters: swapping sim/obs changes bias sign and NSE
    assert M.bias(OBS, SIM) == pytest.approx(0.5)
    # swapped: 1 - Σe²/Σds² = 1 - 2/5
    assert M.nse(OBS, SIM) == pytest.approx(0.6)


def test_perfect_and_mean_simulation():
    obs = np.array([0.5, 1.0, 3.0, 2.0, 7.0])
    assert M.nse(obs, obs) == pytest.approx(1.0)
    assert M.kge(obs, obs) == pytest.approx(1.0)
    assert M.corr(obs, obs) == pytest.approx(1.0)
    assert M.bias(obs, obs) == 0.0
    assert M.rmse(obs, obs) == 0.0
    assert M.ubrmse(obs, obs) == 0.0
    assert M.fhv(obs, obs) == 0.0
    # sim = mean(obs): NSE = 0 exactly; corr undefined (constant sim) -> NaN
    sim = np.full_like(obs, obs.mean())
    assert M.nse(sim, obs) == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(M.corr(sim, obs))
    assert np.isnan(M.kge(sim, obs))
    # RMSE identity rmse² = bias² + ubrmse² on arbitrary data
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50) + 0.3
    assert M.rmse(a, b) ** 2 == pytest.approx(M.bias(a, b) ** 2 + M.ubrmse(a, b) ** 2)


def test_nan_pairs_are_skipped():
    # Same as SIM/OBS once the pairs (nan, 5) and (10, nan) and (nan, nan) are removed.
    sim = np.array([1.0, np.nan, 2.0, 3.0, 10.0, 4.0, np.nan])
    obs = np.array([2.0, 5.0, 2.0, 4.0, np.nan, 4.0, np.nan])
    for name, expected in HAND.items():
        assert M.METRICS[name].func(sim, obs) == pytest.approx(expected, rel=1e-12), name
    # a naive nanmean-of-each-series would give a different bias (mean 4 vs 3.4)
    assert np.nanmean(sim) - np.nanmean(obs) != pytest.approx(-0.5)
    # inf is treated like NaN
    sim_inf = sim.copy()
    sim_inf[1] = np.inf
    assert M.rmse(sim_inf, obs) == pytest.approx(HAND["rmse"])


def test_fhv_hand_cases():
    obs = np.arange(1.0, 51.0)  # 50 values: top 2% = exactly the largest value
    sim = obs.copy()
    sim[10] = 60.0  # replaces 11 -> largest sim flow 60, largest obs flow 50
    # FHV = 100 (60 - 50) / 50 = 20 %
    assert M.fhv(sim, obs) == pytest.approx(20.0)
    # sim sorted separately: a time-shuffled perfect sim has FHV = 0 (and FLV = 0)
    shuffled = obs[::-1].copy()
    assert M.fhv(shuffled, obs) == pytest.approx(0.0)
    assert M.flv(shuffled, obs) == pytest.approx(0.0)
    assert M.nse(shuffled, obs) < -0.5  # while the timing is terrible
    # h = 0.2 on 10 values -> top 2: obs 10 + 9 = 19, sim 12 + 11 = 23 -> 100*4/19
    obs10 = np.arange(1.0, 11.0)
    sim10 = np.array([12.0, 1, 2, 3, 4, 5, 6, 7, 8, 11])
    assert M.fhv(sim10, obs10, h=0.2) == pytest.approx(100 * 4 / 19)
    # tiny series: at least one value is used (h*n < 1)
    assert M.fhv(np.array([3.0, 1.0]), np.array([2.0, 1.0])) == pytest.approx(50.0)
    # NaN pairs are dropped before building the duration curves:
    # the 1000 in sim is paired with a NaN obs and must not enter the top segment
    sim_n = np.append(sim, 1000.0)
    obs_n = np.append(obs, np.nan)
    assert M.fhv(sim_n, obs_n) == pytest.approx(20.0)


def test_flv_hand_cases():
    obs = np.array([1.0, 2, 4, 8, 16, 32, 64, 128, 256, 512])  # 10 values, low 30% = 3
    # scaling sim by a constant leaves log-differences unchanged -> FLV = 0
    assert M.flv(2 * obs, obs) == pytest.approx(0.0, abs=1e-12)
    # low segments: obs [1, 2, 4]   -> Σ ln(q/q_min) = ln2 + ln4  = 3 ln2
    #               sim [1, 4, 16]  -> Σ ln(q/q_min) = ln4 + ln16 = 6 ln2
    # FLV = -100 (6 - 3)/3 = -100 %
    sim = np.array([1.0, 4, 16, 20, 30, 40, 64, 128, 256, 512])
    assert M.flv(sim, obs) == pytest.approx(-100.0)
    assert M.flv(obs, sim) == pytest.approx(50.0)  # -100 (3 - 6)/6
    # log floor 1e-6: zeros are clipped to 1e-6.
    # obs low [0, 1e-5, 1e-4] -> logs/ln10 [-6, -5, -4] -> Σ = 1 + 2 = 3 ln10
    # sim low [0, 1e-4, 1e-2] -> logs/ln10 [-6, -4, -2] -> Σ = 2 + 4 = 6 ln10
    obs0 = np.array([0.0, 1e-5, 1e-4, 1, 2, 3, 4, 5, 6, 7])
    sim0 = np.array([0.0, 1e-4, 1e-2, 1, 2, 3, 4, 5, 6, 7])
    assert M.LOG_FLOOR == 1e-6
    assert M.flv(sim0, obs0) == pytest.approx(-100.0)
    # a negative flow is clipped to the floor as well (same answer)
    sim_neg = sim0.copy()
    sim_neg[0] = -3.0
    assert M.flv(sim_neg, obs0) == pytest.approx(-100.0)
    # flat observed low segment -> denominator 0 -> NaN (no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(M.flv(sim, np.ones(10)))
    with pytest.raises(ValueError):
        M.flv(sim, obs, l=0.0)


def _random_flows(n_sites=20, n_time=500, nan_frac=0.1, seed=42):
    rng = np.random.default_rng(seed)
    obs = rng.gamma(shape=1.5, scale=2.0, size=(n_sites, n_time))
    sim = obs * rng.lognormal(0.0, 0.4, size=obs.shape) + rng.gamma(1.0, 0.3, size=obs.shape)
    obs[rng.random(obs.shape) < nan_frac] = np.nan
    sim[rng.random(sim.shape) < nan_frac / 2] = np.nan
    return sim, obs


ALL = ("bias", "corr", "rmse", "ubrmse", "nse", "kge", "fhv", "flv")


def test_vectorisation_and_axis():
    sim, obs = _random_flows(n_sites=7, n_time=120)
    res = M.evaluate(sim, obs)
    assert set(res) == set(ALL) | {"kge_r", "kge_beta", "kge_gamma"}
    for name in ALL:
        looped = np.array([M.METRICS[name].func(sim[i], obs[i]) for i in range(7)])
        assert res[name].shape == (7,)
        np.testing.assert_allclose(res[name], looped, rtol=1e-12, err_msg=name)
        # [time, site] layout with axis=0
        np.testing.assert_allclose(
            M.METRICS[name].func(sim.T, obs.T, axis=0), res[name], rtol=1e-12, err_msg=name
        )
    # 3-D input (a, b, time) and broadcasting of a single obs series to several sims
    sim3 = sim.reshape(1, 7, 120).repeat(2, axis=0)
    np.testing.assert_allclose(M.nse(sim3, obs[None]), np.stack([res["nse"]] * 2), rtol=1e-12)
    ens = np.stack([sim[0], sim[1]])
    np.testing.assert_allclose(
        M.rmse(ens, obs[0]), [M.rmse(sim[0], obs[0]), M.rmse(sim[1], obs[0])], rtol=1e-12
    )


def test_too_few_valid_pairs_gives_nan_without_warnings():
    sim = np.array(
        [
            [1.0, 2.0, 3.0, 4.0],  # ok
            [np.nan, np.nan, np.nan, np.nan],  # 0 valid
            [1.0, np.nan, np.nan, np.nan],  # 1 valid
            [1.0, 2.0, 3.0, 4.0],  # obs constant -> NSE/KGE/corr NaN
        ]
    )
    obs = np.array(
        [
            [2.0, 2.0, 4.0, 4.0],
            [1.0, 2.0, 3.0, 4.0],
            [1.0, 2.0, 3.0, 4.0],
            [0.3, 0.3, 0.3, 0.3],  # 0.3 is not exact in binary: mean has round-off
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = M.evaluate(sim, obs)
        res_t = M.evaluate(torch.tensor(sim), torch.tensor(obs))
    for name, v in res.items():
        assert np.isnan(v[1]) and np.isnan(v[2]), name
        assert np.allclose(res_t[name].numpy(), v, equal_nan=True), name
    for name in ("bias", "rmse", "ubrmse", "nse", "kge", "corr"):
        assert res[name][0] == pytest.approx(HAND[name]), name
    for name in ("nse", "kge", "corr", "kge_gamma", "kge_r"):
        assert np.isnan(res[name][3]), name
    assert res["bias"][3] == pytest.approx(2.5 - 0.3)
    assert res["kge_beta"][3] == pytest.approx(2.5 / 0.3)
    # zero-length time axis
    assert np.isnan(M.rmse(np.zeros((3, 0)), np.zeros((3, 0)))).all()


def test_torch_matches_numpy_and_keeps_type():
    sim, obs = _random_flows(n_sites=5, n_time=200, seed=3)
    ref = M.evaluate(sim, obs)
    got = M.evaluate(torch.from_numpy(sim.T.copy()), torch.from_numpy(obs.T.copy()), axis=0)
    for name, v in ref.items():
        assert isinstance(got[name], torch.Tensor), name
        assert got[name].dtype == torch.float64
        np.testing.assert_allclose(got[name].numpy(), v, rtol=1e-10, err_msg=name)
    # float32 tensors stay float32
    out32 = M.nse(torch.tensor(SIM, dtype=torch.float32), torch.tensor(OBS, dtype=torch.float32))
    assert out32.dtype == torch.float32 and out32.item() == pytest.approx(0.5, rel=1e-6)
    # numpy stays numpy
    assert isinstance(M.nse(sim, obs), np.ndarray)


@pytest.mark.parametrize("name", ["rmse", "nse", "kge", "corr", "ubrmse", "bias", "fhv", "flv"])
def test_torch_gradients_finite_with_nans(name):
    sim, obs = _random_flows(n_sites=4, n_time=60, nan_frac=0.2, seed=7)
    sim = np.nan_to_num(sim, nan=1.0)  # model output has no NaN; obs has many
    obs[3, 1:] = np.nan  # a degenerate site (1 valid pair) -> NaN value
    obs[2, 5] = 0.0  # a zero flow (log floor in FLV)
    s = torch.tensor(sim.T.copy(), requires_grad=True)  # [time, site]
    o = torch.tensor(obs.T.copy())
    val = M.METRICS[name].func(s, o, axis=0)
    assert val.shape == (4,)
    assert torch.isnan(val[3])
    loss = val[:3].sum()  # typical loss: drop the NaN site
    loss.backward()
    assert torch.isfinite(s.grad).all(), name
    assert (s.grad[:, 3] == 0).all()  # nothing flows into the degenerate site
    if name not in ("fhv", "flv"):
        # entries whose obs is NaN get exactly zero gradient
        assert (s.grad[torch.isnan(o)] == 0).all()
        assert s.grad.abs().sum() > 0


def test_torch_gradient_values_and_perfect_fit():
    # analytic gradient check (double precision) for the training-loss metrics
    g = torch.Generator().manual_seed(0)
    obs = torch.rand(30, 3, generator=g, dtype=torch.float64) + 0.5
    obs[::4, 1] = float("nan")
    sim = (obs.nan_to_num(1.0) + 0.3 * torch.rand(30, 3, generator=g, dtype=torch.float64))
    sim.requires_grad_(True)
    for name in ("rmse", "nse", "kge", "ubrmse", "corr"):
        f = M.METRICS[name].func
        assert torch.autograd.gradcheck(lambda x, f=f: f(x, obs, axis=0), (sim,)), name
    # a perfect fit: rmse = 0 must not produce NaN/inf gradients (guarded sqrt)
    s = obs.nan_to_num(1.0).clone().requires_grad_(True)
    M.rmse(s, obs, axis=0).sum().backward()
    assert torch.isfinite(s.grad).all()
    s.grad = None
    M.kge(s, obs, axis=0).sum().backward()
    assert torch.isfinite(s.grad).all()


def test_xarray_input():
    sim, obs = _random_flows(n_sites=4, n_time=50, seed=11)
    coords = {"basin": ["a", "b", "c", "d"], "time": np.arange(50)}
    da_s = xr.DataArray(sim, dims=("basin", "time"), coords=coords)
    da_o = xr.DataArray(obs, dims=("basin", "time"), coords=coords)
    ref = M.evaluate(sim, obs)
    got = M.evaluate(da_s, da_o)
    for name, v in ref.items():
        assert isinstance(got[name], xr.DataArray), name
        assert got[name].dims == ("basin",)
        assert list(got[name].basin.values) == ["a", "b", "c", "d"]
        np.testing.assert_allclose(got[name].values, v, rtol=1e-12, err_msg=name)
    # (time, basin) layout is reduced over "time" regardless of order
    np.testing.assert_allclose(M.nse(da_s.T, da_o.T).values, ref["nse"], rtol=1e-12)
    assert M.nse(da_s, da_o).sel(basin="c") == pytest.approx(ref["nse"][2])
    comp = M.kge(da_s, da_o, return_components=True)
    np.testing.assert_allclose(comp["beta"].values, ref["kge_beta"], rtol=1e-12)
    # explicit dim name
    da_s2 = da_s.rename(time="date")
    da_o2 = da_o.rename(time="date")
    np.testing.assert_allclose(M.rmse(da_s2, da_o2, dim="date").values, ref["rmse"], rtol=1e-12)
    with pytest.raises(ValueError):
        M.rmse(sim, obs, dim="time")  # dim is for xarray only


def _valid(s, o):
    m = np.isfinite(s) & np.isfinite(o)
    return s[m], o[m]


def test_cross_check_hydroerr():
    he = pytest.importorskip("HydroErr")
    # HydroErr functions take (simulated_array, observed_array); they warn on NaN, so the
    # NaN pairs are removed first. kge_2012 uses np.std (population, ddof=0) like us, and
    # return_all=True gives (r, gamma, beta, kge).
    sim, obs = _random_flows()
    res = M.evaluate(sim, obs)
    for i in range(sim.shape[0]):
        s, o = _valid(sim[i], obs[i])
        assert res["nse"][i] == pytest.approx(he.nse(s, o), rel=1e-6)
        assert res["rmse"][i] == pytest.approx(he.rmse(s, o), rel=1e-6)
        assert res["corr"][i] == pytest.approx(he.pearson_r(s, o), rel=1e-6)
        assert res["bias"][i] == pytest.approx(he.me(s, o), rel=1e-6)
        r, gamma, beta, k = he.kge_2012(s, o, return_all=True)
        assert res["kge"][i] == pytest.approx(k, rel=1e-6)
        assert res["kge_r"][i] == pytest.approx(r, rel=1e-6)
        assert res["kge_gamma"][i] == pytest.approx(gamma, rel=1e-6)
        assert res["kge_beta"][i] == pytest.approx(beta, rel=1e-6)


def test_cross_check_hydroeval():
    he = pytest.importorskip("hydroeval")
    # hydroeval.evaluator(obj_fn, simulations, evaluation): simulations first. It only
    # drops time steps where *evaluation* is NaN (not sim), so pairs are filtered here.
    # kgeprime returns rows [KGE', r, gamma, beta]; gamma uses np.std (ddof=0).
    sim, obs = _random_flows(seed=5)
    res = M.evaluate(sim, obs)
    for i in range(sim.shape[0]):
        s, o = _valid(sim[i], obs[i])
        kp, r, gamma, beta = he.evaluator(he.kgeprime, s, o).ravel()
        assert res["kge"][i] == pytest.approx(kp, rel=1e-6)
        assert res["kge_r"][i] == pytest.approx(r, rel=1e-6)
        assert res["kge_gamma"][i] == pytest.approx(gamma, rel=1e-6)
        assert res["kge_beta"][i] == pytest.approx(beta, rel=1e-6)
        assert res["nse"][i] == pytest.approx(he.evaluator(he.nse, s, o)[0], rel=1e-6)
        assert res["rmse"][i] == pytest.approx(he.evaluator(he.rmse, s, o)[0], rel=1e-6)


def test_fhv_flv_against_direct_per_site_implementation():
    # Independent straightforward per-site computation (sort valid values, slice).
    sim, obs = _random_flows(n_sites=6, n_time=300, seed=9)
    sim[0, :40] = 0.0  # zero flows exercise the log floor
    res_h, res_l = M.fhv(sim, obs), M.flv(sim, obs)
    for i in range(6):
        s, o = _valid(sim[i], obs[i])
        n = s.size
        kh, kl = max(1, int(np.floor(0.02 * n + 1e-9))), max(1, int(np.floor(0.3 * n + 1e-9)))
        qs, qo = np.sort(s)[::-1][:kh], np.sort(o)[::-1][:kh]
        assert res_h[i] == pytest.approx(100 * (qs.sum() - qo.sum()) / qo.sum(), rel=1e-10)
        ls = np.log(np.maximum(np.sort(s)[:kl], 1e-6))
        lo = np.log(np.maximum(np.sort(o)[:kl], 1e-6))
        a, b = (ls - ls.min()).sum(), (lo - lo.min()).sum()
        assert res_l[i] == pytest.approx(-100 * (a - b) / b, rel=1e-10)


def test_registry():
    assert set(M.METRICS) == set(ALL)
    for name, info in M.METRICS.items():
        assert callable(info.func) and info.description and info.unit
    assert M.METRICS["fhv"].unit == "percent"
    assert M.METRICS["nse"].unit == "dimensionless"
    assert M.METRICS["rmse"].unit == "same unit as the input"
    sub = M.evaluate(SIM, OBS, metrics=("nse",))
    assert set(sub) == {"nse"} and sub["nse"] == pytest.approx(0.5)
    with pytest.raises(KeyError):
        M.evaluate(SIM, OBS, metrics=("nope",))


def test_combined_rmse_by_site_is_the_batch_loss_of_each_site_alone():
    import torch

    from dplrepro.losses import combined_rmse_by_site, combined_rmse_loss
    g = torch.Generator().manual_seed(0)
    sim = torch.rand(50, 3, generator=g) * 4
    obs = torch.rand(50, 3, generator=g) * 4
    obs[::7, 1] = float("nan")
    obs[:, 2] = float("nan")
    per_site = combined_rmse_by_site(sim, obs)
    for j in range(2):
        assert float(per_site[j]) == pytest.approx(float(combined_rmse_loss(sim[:, j:j + 1], obs[:, j:j + 1])), rel=1e-5)
    assert torch.isnan(per_site[2])
    # by hand: one site, errors 1 and 0 (sqrt terms 0 and 0), alpha 0.25
    one = combined_rmse_by_site(torch.tensor([[1.0], [4.0]]), torch.tensor([[0.0], [4.0]]))
    assert float(one[0]) == pytest.approx(0.75 * (0.5 ** 0.5) + 0.25 * ((1.0 - 0.001) ** 2 / 2) ** 0.5, rel=1e-3)


def test_kge_is_nan_where_the_observed_mean_is_rounding_noise():
    """An observed mean within float rounding of zero makes beta and gamma rounding noise
    (before: KGE ~ -1e16); a small but real mean still scores, the same at any scale."""
    obs = np.array([1.0, -1.0, 1.0, -1.0 + 4e-16])  # mean 1.1e-16: below 16 eps sqrt(4) of max |obs|
    sim = np.array([1.1, 0.9, 1.2, 0.8])
    assert 0 < obs.mean() < 1e-15
    assert np.isnan(M.kge(sim, obs)) and np.isnan(M.kge(torch.tensor(sim), torch.tensor(obs)).item())
    comps = M.kge(sim, obs, return_components=True)
    assert np.isnan(comps["beta"]) and np.isnan(comps["kge"])
    assert np.isnan(M.kge(obs, sim))  # the same for a simulated mean at rounding level
    base = np.array([1.0, 2.0, 3.0, 4.0])
    assert M.kge(sim, base) == pytest.approx(M.kge(sim * 1e-12, base * 1e-12), rel=1e-12)
    tiny_mean = np.array([1.0, -1.0, 1.0, -0.9])  # mean 0.025: real, scored
    assert np.isfinite(M.kge(sim, tiny_mean))

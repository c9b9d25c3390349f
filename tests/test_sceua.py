"""Batched SCE-UA (dplrepro.calibrate.sceua): test functions of Duan et al. (1992),
exactness of batching, stopping rules, comparison with spotpy, process-model helper."""

from __future__ import annotations

import contextlib
import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from dplrepro.calibrate import SceuaSettings, calibrate_process_model, nan_rmse, sceua

F64 = torch.float64


# --------------------------------------------------------------------------- test functions
def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    a, b = x[..., 0], x[..., 1]
    return 100.0 * (b - a**2) ** 2 + (1.0 - a) ** 2


def griewank(x: torch.Tensor) -> torch.Tensor:
    i = torch.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    return 1.0 + (x**2).sum(-1) / 4000.0 - torch.cos(x / torch.sqrt(i)).prod(-1)


_H_A = torch.tensor(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]],
    dtype=F64,
)
_H_P = 1e-4 * torch.tensor(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ],
    dtype=F64,
)
_H_ALPHA = torch.tensor([1.0, 1.2, 3.0, 3.2], dtype=F64)
HARTMANN6_MIN = -3.32237
HARTMANN6_XMIN = torch.tensor([0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573], dtype=F64)


def hartmann6(x: torch.Tensor) -> torch.Tensor:
    e = (_H_A * (x[..., None, :] - _H_P) ** 2).sum(-1)
    return -(_H_ALPHA * torch.exp(-e)).sum(-1)


# --------------------------------------------------------------------------- analytic problems
def test_rosenbrock_8_sites_with_different_bounds():
    S = 8
    shift = torch.linspace(-0.8, 0.8, S, dtype=F64)
    lower = torch.stack([-2.0 + shift, -2.0 - 0.5 * shift], dim=1)  # every site's box differs
    upper = lower + torch.stack([torch.full_like(shift, 4.0), 4.0 + shift], dim=1)  # (1, 1) inside
    res = sceua(rosenbrock, lower, upper, SceuaSettings(seed=1), progress=False)  # defaults: ngs=2
    assert res.x.shape == (S, 2) and res.f.shape == (S,)
    assert bool((res.f < 1e-3).all()), res.f
    assert bool(((res.x - 1.0).abs() < 0.05).all()), res.x
    assert bool(((res.x >= lower) & (res.x <= upper)).all())
    assert torch.allclose(rosenbrock(res.x), res.f)
    assert all(res.converged.tolist())
    # the paper's "error vs forward runs" curve: monotone per site
    assert res.history_f.shape == res.history_n_evaluations.shape == (int(res.n_loops.max()) + 1, S)
    assert bool((res.history_f[1:] <= res.history_f[:-1]).all())
    assert bool((res.history_n_evaluations[1:] >= res.history_n_evaluations[:-1]).all())
    assert torch.equal(res.history_f[-1], res.f) and torch.equal(res.history_n_evaluations[-1], res.n_evaluations)


def test_griewank_10d_600():
    # Duan et al. (1992) use Griewank in 10-D on [-600, 600]^10. Local minima next to
    # the global one (f = 0 at the origin) have f ~ 0.0099; 8 independent sites.
    S, d = 8, 10
    settings = SceuaSettings(ngs=5, maxn=20000, peps=1e-5, seed=3)
    res = sceua(griewank, torch.full((d,), -600.0), torch.full((d,), 600.0), settings, n_sites=S, progress=False)
    assert bool((res.f < 1e-4).all()), res.f
    assert bool((res.x.abs() < 0.05).all()), res.x.abs().amax(dim=1)
    assert res.reason == ["peps"] * S  # converged well before the budget


def test_hartmann6_most_sites():
    S = 10  # ten independent random streams in one batched run
    res = sceua(hartmann6, torch.zeros(6), torch.ones(6), SceuaSettings(ngs=5, seed=7), n_sites=S, progress=False)
    hit = (res.f - HARTMANN6_MIN).abs() < 1e-2
    assert int(hit.sum()) >= 8, res.f
    assert bool(((res.x[hit] - HARTMANN6_XMIN).abs() < 0.02).all())


# --------------------------------------------------------------------------- batching
def _shifted_rosenbrock(offsets: torch.Tensor, calls: list):
    """Rosenbrock with per-site optimum ``1 + offset``; records each call's x.shape."""

    def f(x):
        calls.append(tuple(x.shape))
        return rosenbrock(x - offsets[:, None, :])

    return f


def _shifted_problem(n_sites: int, seed: int):
    """Per-site Rosenbrock offsets and bounds ``[n_sites, 2]`` (a 4-wide box near the origin)."""
    g = torch.Generator().manual_seed(seed)
    offsets = 0.6 * torch.rand(n_sites, 2, generator=g, dtype=F64) - 0.3
    lower = -2.0 + 0.5 * torch.rand(n_sites, 2, generator=g, dtype=F64)
    return offsets, lower, lower + 4.0


def test_batch_is_bit_identical_to_single_site_runs_and_calls_do_not_grow():
    S = 5
    offsets, lower, upper = _shifted_problem(S, seed=0)
    settings = SceuaSettings(ngs=3, kstop=5, seed=11)

    calls: list = []
    batch = sceua(_shifted_rosenbrock(offsets, calls), lower, upper, settings, progress=False)
    assert all(c[0] == S for c in calls)  # every call carries all sites
    nspl = batch.settings.nspl
    assert batch.n_objective_calls == len(calls) == 1 + nspl * int(batch.n_loops.max())

    alone_calls = []
    for k in range(S):
        ck: list = []
        one = sceua(
            _shifted_rosenbrock(offsets[k : k + 1], ck), lower[k], upper[k], settings, streams=[k], progress=False
        )
        alone_calls.append(one.n_objective_calls)
        assert torch.equal(one.x[0], batch.x[k])
        assert torch.equal(one.f[0], batch.f[k])
        assert int(one.n_evaluations[0]) == int(batch.n_evaluations[k])
        assert int(one.n_loops[0]) == int(batch.n_loops[k])
        assert one.reason[0] == batch.reason[k]
        L = int(one.n_loops[0])
        assert torch.equal(one.history_f[:, 0], batch.history_f[: L + 1, k])
    # the batch needs exactly as many calls as its slowest site alone
    assert batch.n_objective_calls == max(alone_calls)
    assert len(set(batch.n_loops.tolist())) > 1  # sites really stopped at different loops


def test_lazy_candidates_make_the_same_search_with_fewer_points():
    """Evaluating contraction and random point only where needed changes nothing but the cost."""
    S = 6
    offsets, lower, upper = _shifted_problem(S, seed=3)
    together = sceua(_shifted_rosenbrock(offsets, []), lower, upper, SceuaSettings(ngs=3, kstop=5, seed=2),
                     progress=False)

    def lazy_objective(x, sites=None):
        rows = torch.arange(x.shape[0]) if sites is None else sites
        seen.append(rows.numel() * x.shape[1])
        return rosenbrock(x - offsets[rows].unsqueeze(1))

    seen: list = []
    lazy = sceua(lazy_objective, lower, upper, SceuaSettings(ngs=3, kstop=5, seed=2, lazy_candidates=True),
                 progress=False)
    for name in ("x", "f", "n_evaluations", "n_loops", "history_f", "history_n_evaluations"):
        assert torch.equal(getattr(lazy, name), getattr(together, name)), name
    assert lazy.reason == together.reason
    # the points really computed are exactly what a serial SCE-UA counts
    assert sum(seen) == int(lazy.n_evaluations.sum())
    assert sum(seen) < 0.6 * together.n_points_evaluated * S


def test_determinism_and_seed():
    s = SceuaSettings(ngs=2, seed=5)
    a = sceua(hartmann6, torch.zeros(6), torch.ones(6), s, n_sites=3, progress=False)
    b = sceua(hartmann6, torch.zeros(6), torch.ones(6), s, n_sites=3, progress=False)
    c = sceua(hartmann6, torch.zeros(6), torch.ones(6), SceuaSettings(ngs=2, seed=6), n_sites=3, progress=False)
    assert torch.equal(a.x, b.x) and torch.equal(a.history_f, b.history_f)
    assert not torch.equal(a.history_f[0], c.history_f[0])
    # distinct sites with identical problems follow distinct streams
    assert len({tuple(r) for r in a.history_f[:2].T.tolist()}) == 3


def test_x0_is_used_with_iniflg():
    x0 = torch.tensor([1.0, 1.0], dtype=F64)  # the optimum itself
    res = sceua(rosenbrock, torch.full((2,), -2.0), torch.full((2,), 2.0), SceuaSettings(maxn=10), x0=x0, progress=False)
    assert float(res.history_f[0, 0]) == 0.0 and float(res.f[0]) == 0.0
    with pytest.raises(ValueError):
        sceua(rosenbrock, torch.full((2,), -2.0), torch.full((2,), 2.0), x0=torch.tensor([3.0, 0.0]), progress=False)


# --------------------------------------------------------------------------- stopping rules
@pytest.mark.parametrize("level", [1.0, 0.0])
def test_flat_objective_stops_by_pcento_after_kstop_loops(level):
    S, n = 4, 3
    s = SceuaSettings(ngs=2, kstop=10, maxn=100000, seed=0).resolved(n)

    def flat(x):
        return torch.full(x.shape[:2], level, dtype=x.dtype)

    res = sceua(flat, torch.zeros(n), torch.ones(n), s, n_sites=S, progress=False)
    assert res.reason == ["pcento"] * S and bool(res.converged.all())
    assert res.n_loops.tolist() == [10] * S
    # nothing ever improves: reflection, contraction and random point are all counted
    expected = s.ngs * s.npg + 10 * s.ngs * s.nspl * 3
    assert res.n_evaluations.tolist() == [expected] * S
    assert expected < s.maxn / 50


def test_budget_maxn_is_respected_per_site():
    n, maxn = 5, 1000
    s = SceuaSettings(ngs=3, maxn=maxn, kstop=10**6, pcento=-1.0, peps=0.0, seed=2).resolved(n)

    def sphere(x):
        return (x**2).sum(-1)

    res = sceua(sphere, -torch.ones(n), torch.ones(n), s, n_sites=6, progress=False)
    assert res.reason == ["maxn"] * 6 and not bool(res.converged.any())
    # stop is checked after each shuffling loop: overshoot < one loop's worth
    assert bool((res.n_evaluations >= maxn).all())
    assert bool((res.n_evaluations <= maxn - 1 + 3 * s.ngs * s.nspl).all())
    before_last = res.history_n_evaluations[res.n_loops - 1, torch.arange(6)]
    assert bool((before_last < maxn).all())
    # a budget below the initial sample stops right after it
    tiny = sceua(sphere, -torch.ones(n), torch.ones(n), SceuaSettings(ngs=3, maxn=10), n_sites=2, progress=False)
    assert tiny.n_loops.tolist() == [0, 0] and tiny.n_evaluations.tolist() == [3 * (2 * n + 1)] * 2
    assert tiny.n_objective_calls == 1


def test_converged_site_is_frozen_while_others_continue():
    def mixed(x):  # site 0 flat (stops after kstop loops), site 1 a sphere (stops by peps)
        f = ((x - 0.3) ** 2).sum(-1)
        f[0] = 5.0
        return f

    res = sceua(
        mixed, torch.full((2,), -2.0), torch.full((2,), 2.0), SceuaSettings(kstop=3, seed=4), n_sites=2, progress=False
    )
    L0, L1 = res.n_loops.tolist()
    assert res.reason[0] == "pcento" and L0 == 3 and L1 > L0
    assert bool((res.history_f[L0:, 0] == res.f[0]).all())
    assert bool((res.history_n_evaluations[L0:, 0] == res.n_evaluations[0]).all())
    assert res.n_points_evaluated > int(res.n_evaluations[0])  # it was still evaluated
    assert res.reason[1] == "peps" and float(res.f[1]) < 1e-6


# --------------------------------------------------------------------------- toy hydrology model
TOY_NAMES = ("kd", "s50", "beta", "uh_scale", "bf", "k_slow")
TOY_LOWS = (1.0, 5.0, 0.3, 0.3, 0.05, 5.0)
TOY_HIGHS = (20.0, 150.0, 3.0, 4.0, 0.9, 80.0)
TOY_TRUE = torch.tensor(
    [[6.0, 40.0, 1.5, 1.5, 0.4, 30.0], [3.0, 90.0, 0.8, 2.5, 0.6, 50.0], [12.0, 20.0, 2.2, 0.8, 0.2, 15.0]], dtype=F64
)
TOY_TABLE = SimpleNamespace(names=TOY_NAMES, lows=TOY_LOWS, highs=TOY_HIGHS)
WARMUP = 60


def _causal_conv(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``y[t, v] = sum_k w[v, k] x[t-k, v]`` via FFT; x ``[T, V]``, w ``[V, K]``."""
    T, K = x.shape[0], w.shape[1]
    N = T + K
    y = torch.fft.irfft(torch.fft.rfft(x, n=N, dim=0) * torch.fft.rfft(w.T, n=N, dim=0), n=N, dim=0)
    return y[:T]


class ToyModel:
    """Six-parameter rainfall-runoff toy (not HBV): antecedent-precipitation-index runoff
    coefficient ``(API/(API+s50))**beta`` (API decay ``kd`` days), effective rain split
    into a gamma unit-hydrograph quick flow (scale ``uh_scale``) and a linear-reservoir
    slow flow (fraction ``bf``, time constant ``k_slow``). Vectorised over time (FFT
    convolutions) and over sites; ``forward(forcing, params) -> {"q": [time, site]}``."""

    parameter_table = TOY_TABLE

    def __init__(self):
        self.batch_sizes: list[int] = []

    def __call__(self, forcing, params):
        P = forcing["P"]
        self.batch_sizes.append(P.shape[1])
        dt = P.dtype
        k1 = torch.arange(60, dtype=dt)
        k2 = torch.arange(30, dtype=dt) + 0.5
        k3 = torch.arange(200, dtype=dt)
        kd, s50, beta, sc, bf, ks = (params[nm].to(dt)[:, None] for nm in TOY_NAMES)
        api = _causal_conv(P, torch.exp(-k1 / kd)).clamp_min(0.0)
        pe = (api / (api + s50.T)) ** beta.T * P
        wq = k2**1.5 * torch.exp(-k2 / sc)
        ws = torch.exp(-k3 / ks)
        q = _causal_conv(pe * (1 - bf.T), wq / wq.sum(1, keepdim=True))
        q = q + _causal_conv(pe * bf.T, ws / ws.sum(1, keepdim=True))
        return {"q": q}


def toy_data(T: int = 500, n_sites: int = 3, seed: int = 0, noise: float = 0.15):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T, dtype=F64)[:, None]
    wet = torch.rand(T, n_sites, generator=g, dtype=F64) < 0.25 + 0.15 * torch.sin(2 * math.pi * t / 365.25)
    P = torch.where(wet, -8.0 * torch.log(torch.rand(T, n_sites, generator=g, dtype=F64)), torch.zeros(T, n_sites, dtype=F64))
    q = ToyModel()({"P": P}, {nm: TOY_TRUE[:n_sites, i] for i, nm in enumerate(TOY_NAMES)})["q"]
    obs = q * torch.exp(noise * torch.randn(q.shape, generator=g, dtype=F64))
    obs[100:130, 0] = float("nan")  # a gap
    return P, obs, q


def test_calibrate_process_model_flattens_points_into_virtual_sites():
    P, obs, q_true = toy_data(T=400, n_sites=3)
    model = ToyModel()
    s = SceuaSettings(ngs=3, maxn=1500, seed=0)
    out = calibrate_process_model(model, {"P": P}, obs, TOY_TABLE, settings=s, warmup=WARMUP, progress=False)
    res = out.result
    npt = 3 * (2 * 6 + 1)
    assert model.batch_sizes[0] == 3 * npt and set(model.batch_sizes[1:]) == {3 * 3 * 3}
    assert set(out.params) == set(TOY_NAMES)
    for i, nm in enumerate(TOY_NAMES):
        assert bool(((out.params[nm] >= TOY_LOWS[i]) & (out.params[nm] <= TOY_HIGHS[i])).all())
    # the reported loss is the model's loss at the reported physical parameters
    q = ToyModel()({"P": P}, out.params)["q"]
    assert torch.allclose(nan_rmse(q[WARMUP:], obs[WARMUP:]), res.f, rtol=1e-10)
    # calibration fits at least as well as the true parameters (it may fit the noise)
    truth = nan_rmse(q_true[WARMUP:], obs[WARMUP:])
    assert bool((res.f <= truth * 1.01).all()), (res.f, truth)

    # ParameterTable-like object with table[name].low/.high, chunked model runs
    spec = {nm: SimpleNamespace(low=lo, high=hi) for nm, lo, hi in zip(TOY_NAMES, TOY_LOWS, TOY_HIGHS)}
    table2 = type("T", (), {"names": TOY_NAMES, "__getitem__": lambda self, k: spec[k]})()
    model2 = ToyModel()
    out2 = calibrate_process_model(
        model2, {"P": P}, obs, table2, settings=SceuaSettings(ngs=3, maxn=200), warmup=WARMUP,
        max_virtual_sites=20, progress=False,
    )
    assert max(model2.batch_sizes) == 20
    assert bool((out2.result.n_evaluations >= 200).all())


def test_comparable_to_spotpy_on_toy_hydrology_model():
    import spotpy  # a declared dev dependency: a missing install must fail, not skip
    P, obs, _ = toy_data(T=500, n_sites=1)
    maxn, ngs = 1500, 5
    model = ToyModel()

    class Setup:
        def __init__(self):
            self.params = [spotpy.parameter.Uniform(nm, lo, hi) for nm, lo, hi in zip(TOY_NAMES, TOY_LOWS, TOY_HIGHS)]

        def parameters(self):
            return spotpy.parameter.generate(self.params)

        def simulation(self, v):
            p = {nm: torch.tensor([float(v[i])], dtype=F64) for i, nm in enumerate(TOY_NAMES)}
            return model({"P": P}, p)["q"][WARMUP:, 0].numpy()

        def evaluation(self):
            return obs[WARMUP:, 0].numpy()

        def objectivefunction(self, simulation, evaluation):
            ok = ~np.isnan(evaluation)
            return float(np.sqrt(np.mean((np.asarray(simulation)[ok] - evaluation[ok]) ** 2)))

    spot_best, spot_n = [], []
    for seed in (1, 2, 3):
        with contextlib.redirect_stdout(io.StringIO()):
            sampler = spotpy.algorithms.sceua(Setup(), dbname="sceua_cmp", dbformat="ram", save_sim=False, random_state=seed)
            # spotpy's defaults for kstop/pcento/peps: effectively "run to the budget"
            sampler.sample(maxn, ngs=ngs, kstop=100, pcento=1e-7, peps=1e-7)
        spot_best.append(sampler.status.objectivefunction_min)
        spot_n.append(sampler.status.rep)

    settings = SceuaSettings(ngs=ngs, maxn=maxn, kstop=100, pcento=1e-7, peps=1e-7, seed=1)
    ours = calibrate_process_model(
        ToyModel(), {"P": P.expand(-1, 3)}, obs.expand(-1, 3), TOY_TABLE, settings=settings, warmup=WARMUP,
        streams=[0, 1, 2], progress=False,
    ).result
    spot_med, our_med = float(np.median(spot_best)), float(ours.f.median())
    assert our_med <= 1.03 * spot_med, (ours.f.tolist(), spot_best)
    # same budget (both stop after the loop in which maxn is reached)
    assert all(maxn <= n < maxn + 3 * ngs * 13 for n in ours.n_evaluations.tolist() + spot_n)

    # the problem is not trivial: pure random search with the same budget is clearly worse
    g = torch.Generator().manual_seed(0)
    u = torch.rand(maxn, 6, generator=g, dtype=F64)
    phys = torch.tensor(TOY_LOWS, dtype=F64) + u * (torch.tensor(TOY_HIGHS, dtype=F64) - torch.tensor(TOY_LOWS, dtype=F64))
    q = ToyModel()({"P": P.expand(-1, maxn)}, {nm: phys[:, i] for i, nm in enumerate(TOY_NAMES)})["q"]
    random_best = float(nan_rmse(q[WARMUP:], obs[WARMUP:].expand(-1, maxn)).min())
    assert random_best > 1.03 * spot_med, (random_best, spot_med)

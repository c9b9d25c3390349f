"""LSTM surrogate of the VIC-style model and the tools that build it (dplrepro.experiments.surrogate).

Tiny synthetic settings (a few cells, 60-day warm-up + 120 days, hidden size 16) so the
whole file runs in well under a minute on two cores. The accuracy thresholds were set from
runs with seeds 0, 1 and 2 (numbers in the comments).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dplrepro.experiments.surrogate import (
    SurrogateConfig, build_surrogate, evaluate_surrogate, fit_cell_parameters, latin_hypercube, make_surrogate,
    run_process_model, sample_around, train_surrogate,
)
from dplrepro.nets.dpl import DplModel
from dplrepro.nets.param_nets import GA
from dplrepro.physics.parameters import ParameterSpec, ParameterTable
from dplrepro.nets.lstm_surrogate import LSTMSurrogate
from dplrepro.physics.vic_style import VICStyle
from dplrepro.train import TrainConfig

WARMUP = 60
N_TIME = WARMUP + 120
OUTPUTS = ("sm_surface", "et")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: threads only add overhead


# ---------------------------------------------------------------------------- helpers
def smooth_forcing(n_time: int, n_cell: int, seed: int = 0) -> dict[str, np.ndarray]:
    """``{prcp, tmean, pet}`` float32 ``[time, cell]``: gamma rain on wet days, seasonal tmean and PET."""
    rng = np.random.default_rng(seed)
    day = np.arange(n_time)[:, None]
    phase = rng.uniform(0.0, 2 * np.pi, n_cell)
    season = np.sin(2 * np.pi * day / 365.0 + phase)
    tmean = 12.0 + 10.0 * season + rng.normal(0.0, 2.0, (n_time, n_cell))
    wet = rng.random((n_time, n_cell)) < rng.uniform(0.2, 0.5, n_cell)
    prcp = np.where(wet, rng.gamma(0.8, 8.0, (n_time, n_cell)), 0.0)
    pet = np.clip(2.5 + 2.0 * season + rng.normal(0.0, 0.3, (n_time, n_cell)), 0.0, None)
    return {k: v.astype(np.float32) for k, v in {"prcp": prcp, "tmean": tmean, "pet": pet}.items()}


def vic(warmup: int = WARMUP) -> VICStyle:
    return VICStyle(warmup=warmup, fixed=VICStyle.DEFAULT_FIXED)


def small_table() -> ParameterTable:
    return ParameterTable([ParameterSpec("A", 2.0, 10.0), ParameterSpec("B", -1.0, 1.0)])


def small_surrogate(warmup: int = 5, hidden: int = 16) -> LSTMSurrogate:
    torch.manual_seed(0)
    return LSTMSurrogate(
        small_table(), ("prcp", "tmean"), ("sm_surface", "et"),
        forcing_mean=[3.0, 10.0], forcing_std=[2.0, 5.0], output_mean=[0.3, 1.5], output_std=[0.1, 2.0],
        hidden_size=hidden, warmup=warmup,
    )


def small_inputs(n_time: int = 20, n_site: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    forcing = {"prcp": 5.0 * torch.rand(n_time, n_site, generator=g),
               "tmean": 10.0 + 5.0 * torch.randn(n_time, n_site, generator=g)}
    params = {"A": torch.tensor([2.0, 6.0, 10.0])[:n_site], "B": torch.tensor([-1.0, 0.5, 0.9])[:n_site]}
    return forcing, params


# ---------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("n,d", [(7, 3), (50, 10), (1, 4)])
def test_latin_hypercube_one_point_per_stratum(n, d):
    x = latin_hypercube(n, d, np.random.default_rng(3))
    assert x.shape == (n, d) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() < 1.0
    strata = np.floor(x.astype(np.float64) * n).astype(int)
    for j in range(d):
        assert sorted(strata[:, j].tolist()) == list(range(n)), f"column {j}: strata {sorted(strata[:, j])}"
    # not degenerate: the position inside each stratum is random, not the stratum centre
    within = x.astype(np.float64) * n - strata
    if n * d > 1:
        assert np.std(within) > 0.1


def test_latin_hypercube_is_seeded():
    a = latin_hypercube(20, 5, np.random.default_rng(11))
    b = latin_hypercube(20, 5, np.random.default_rng(11))
    c = latin_hypercube(20, 5, np.random.default_rng(12))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1
    # columns are permuted independently (not the same stratum order in every column)
    order = np.argsort(a, axis=0)
    assert any(not np.array_equal(order[:, 0], order[:, j]) for j in range(1, 5))


def test_latin_hypercube_strata_exact_at_paper_size():
    n, d = 1648, 10
    x = latin_hypercube(n, d, np.random.default_rng(0))
    strata = np.floor(x.astype(np.float64) * n).astype(int)
    for j in range(d):
        assert len(np.unique(strata[:, j])) == n, f"column {j} has {len(np.unique(strata[:, j]))} of {n} strata"
    for seed in range(1, 20):  # the float32 edge case, many draws
        x = latin_hypercube(n, d, np.random.default_rng(seed))
        strata = np.floor(x.astype(np.float64) * n).astype(int)
        assert all(len(np.unique(strata[:, j])) == n for j in range(d))


def test_sample_around_shape_spread_and_clipping():
    rng = np.random.default_rng(0)
    center = np.array([[0.5, 0.5, 0.4], [0.02, 0.98, 0.5]], dtype=np.float32)
    k, spread = 20000, 0.1
    s = sample_around(center, k, spread, rng)
    assert s.shape == (2, k, 3) and s.dtype == np.float32
    assert s.min() >= 0.0 and s.max() <= 1.0
    # interior centre: mean = centre, std = spread (standard error ~0.0007 and ~0.0005)
    interior = s[0].astype(np.float64)
    np.testing.assert_allclose(interior.mean(0), center[0], atol=0.004)
    np.testing.assert_allclose(interior.std(0), spread, atol=0.003)

    wide = sample_around(center, k, 0.3, np.random.default_rng(1)).astype(np.float64)
    # centre 0.02, std 0.3: P(N < 0) = Phi(-0.0667) = 0.473 of the draws clipped to exactly 0
    frac_zero = np.mean(wide[1, :, 0] == 0.0)
    assert frac_zero == pytest.approx(0.5 - 0.0266, abs=0.015)
    assert np.mean(wide[1, :, 1] == 1.0) == pytest.approx(0.5 - 0.0266, abs=0.015)
    assert wide[1, :, 0].max() <= 1.0 and wide[1, :, 1].min() >= 0.0
    # seeded
    np.testing.assert_array_equal(sample_around(center, 5, 0.2, np.random.default_rng(4)),
                                  sample_around(center, 5, 0.2, np.random.default_rng(4)))


# ---------------------------------------------------------------------------- LSTMSurrogate
def test_surrogate_outputs_names_and_shapes():
    sur = small_surrogate(warmup=5)
    forcing, params = small_inputs(20, 3)
    out = sur(forcing, params)
    assert set(out) == {"sm_surface", "et"}
    assert all(v.shape == (15, 3) for v in out.values())
    assert all(torch.isfinite(v).all() for v in out.values())
    with pytest.raises(ValueError, match="need more than warmup=5"):
        sur({k: v[:5] for k, v in forcing.items()}, params)


def test_surrogate_destandardises_outputs():
    sur = small_surrogate()
    forcing, params = small_inputs()
    with torch.no_grad():
        sur.head.weight.zero_()
        sur.head.bias.zero_()
    out = sur(forcing, params)
    assert torch.equal(out["sm_surface"], torch.full((15, 3), 0.3))
    assert torch.equal(out["et"], torch.full((15, 3), 1.5))
    with torch.no_grad():
        sur.head.bias.copy_(torch.tensor([1.0, -2.0]))
    out = sur(forcing, params)
    torch.testing.assert_close(out["sm_surface"], torch.full((15, 3), 0.3 + 1.0 * 0.1))
    torch.testing.assert_close(out["et"], torch.full((15, 3), 1.5 - 2.0 * 2.0))


def test_surrogate_inputs_standardise_forcing_and_map_parameters_to_unit():
    sur = small_surrogate()
    forcing, params = small_inputs()
    x = sur.inputs(forcing, params)
    assert x.shape == (20, 3, 4)
    torch.testing.assert_close(x[..., 0], (forcing["prcp"] - 3.0) / 2.0)
    torch.testing.assert_close(x[..., 1], (forcing["tmean"] - 10.0) / 5.0)
    # parameters given in physical units -> (p - low) / (high - low), same at every step
    expected_a = torch.tensor([0.0, 0.5, 1.0])
    expected_b = torch.tensor([0.0, 0.75, 0.95])
    torch.testing.assert_close(x[..., 2], expected_a.expand(20, 3))
    torch.testing.assert_close(x[..., 3], expected_b.expand(20, 3))
    # dynamic [time, site] parameters are taken step by step; constant series == static
    dyn = {k: v.expand(20, 3) for k, v in params.items()}
    torch.testing.assert_close(sur.inputs(forcing, dyn), x)
    # forcing order inside the dict does not matter: selected by name
    swapped = {"tmean": forcing["tmean"], "prcp": forcing["prcp"]}
    torch.testing.assert_close(sur.inputs(swapped, params), x)


def test_surrogate_missing_names_and_bad_stats():
    sur = small_surrogate()
    forcing, params = small_inputs()
    with pytest.raises(KeyError, match="tmean"):
        sur({"prcp": forcing["prcp"]}, params)
    with pytest.raises(KeyError, match=r"\['B'\]"):
        sur(forcing, {"A": params["A"]})
    kwargs = dict(forcing_mean=[0.0, 0.0], forcing_std=[1.0, 1.0], output_mean=[0.0, 0.0], output_std=[1.0, 1.0])
    for name, bad in (("forcing_mean", [0.0]), ("forcing_std", [1.0, 1.0, 1.0]), ("output_mean", [0.0]),
                      ("output_std", [[1.0, 1.0]])):
        with pytest.raises(ValueError, match=f"{name} must have 2 values"):
            LSTMSurrogate(small_table(), ("prcp", "tmean"), ("a", "b"), **{**kwargs, name: bad})


def test_surrogate_gradients_reach_parameters_and_parameter_network():
    sur = small_surrogate()
    forcing, params = small_inputs()
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    out = sur(forcing, p)
    ga, gb = torch.autograd.grad(out["sm_surface"].sum(), [p["A"], p["B"]])
    for g in (ga, gb):
        assert torch.isfinite(g).all() and (g.abs() > 0).all()

    # DplModel(g, surrogate): the surrogate stands in for the process model
    torch.manual_seed(1)
    net = GA(2, sur.parameter_table.names, nmul=1, hidden_size=8, dropout=0.0)
    dpl = DplModel(net, sur)
    x = torch.randn(20, 3, 2)
    res = dpl(x, forcing)
    assert res["sm_surface"].shape == (15, 3)
    a = res["params"]["A"]
    assert a.shape == (3,) and bool(((a >= 2.0) & (a <= 10.0)).all())
    res["sm_surface"].sum().backward()
    grads = [q.grad for q in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


# ---------------------------------------------------------------------------- process-model runs
def test_run_process_model_matches_direct_vic_and_chunking():
    model = vic(warmup=20)
    forcing = smooth_forcing(80, 4, seed=5)
    cell = np.array([0, 2, 1, 2, 3, 0, 3])
    unit = latin_hypercube(len(cell), len(model.parameter_table), np.random.default_rng(0))
    big = run_process_model(model, forcing, cell, unit, OUTPUTS)
    small = run_process_model(model, forcing, cell, unit, OUTPUTS, chunk=3)
    table = model.parameter_table
    with torch.no_grad():
        direct = model({k: torch.as_tensor(v[:, cell]) for k, v in forcing.items()},
                       {n: table[n].scale(torch.as_tensor(unit[:, i])) for i, n in enumerate(table.names)})
    for o in OUTPUTS:
        assert big[o].shape == (60, 7) and big[o].dtype == np.float32
        np.testing.assert_array_equal(big[o], direct[o].numpy())
        np.testing.assert_array_equal(small[o], big[o])
    # virtual sites with the same cell but different parameters differ; same cell and params agree
    assert np.abs(big["sm_surface"][:, 1] - big["sm_surface"][:, 3]).max() > 1e-3
    dup = run_process_model(model, forcing, np.array([2, 2]), np.repeat(unit[1:2], 2, 0), OUTPUTS)
    np.testing.assert_array_equal(dup["sm_surface"][:, 0], dup["sm_surface"][:, 1])
    np.testing.assert_array_equal(dup["sm_surface"][:, 0], big["sm_surface"][:, 1])


# ---------------------------------------------------------------------------- training
@pytest.mark.parametrize("seed", [0])
def test_train_surrogate_beats_untrained_on_heldout(seed):
    # measured (seeds 0, 1, 2): untrained median corr 0.38, -0.66, -0.69; after 150 epochs
    # (about 2.5 s) 0.84, 0.83, 0.85 (minimum over held-out runs 0.81, 0.73, 0.79)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = vic()
    forcing = smooth_forcing(N_TIME, 8, seed=seed)
    d = len(model.parameter_table)
    cell = np.repeat(np.arange(6), 8)
    unit = latin_hypercube(len(cell), d, rng)
    runs = run_process_model(model, forcing, cell, unit, OUTPUTS)
    h_cell = np.repeat(np.array([6, 7]), 4)  # cells never seen in training
    h_unit = latin_hypercube(len(h_cell), d, rng)
    h_runs = run_process_model(model, forcing, h_cell, h_unit, OUTPUTS)

    sur = make_surrogate(model.parameter_table, forcing, runs, SurrogateConfig(hidden_size=16, warmup=WARMUP))
    np.testing.assert_allclose(sur.output_mean.numpy(), [runs[o].mean() for o in OUTPUTS], rtol=1e-5)
    np.testing.assert_allclose(sur.forcing_mean.numpy(), [forcing[k].mean() for k in forcing], rtol=1e-5)
    before = evaluate_surrogate(sur, forcing, h_cell, h_unit, h_runs)
    assert before["sm_surface_corr"].shape == (8,)

    tc = TrainConfig(epochs=150, batch_sites=64, window=365, warmup=WARMUP, loss="rmse", optimizer="adam",
                     learning_rate=0.01, output="y", seed=seed)
    trainer = train_surrogate(sur, forcing, cell, unit, runs, tc, device="cpu", progress=False)
    assert trainer.model.surrogate is sur
    assert trainer.config.window == 120  # clipped to the days after the warm-up
    loss = trainer.history.loss
    assert len(loss) == 150 and loss[-1] < 0.4 * loss[0]  # measured 1.0 -> 0.21, 0.15, 0.16
    after = evaluate_surrogate(sur, forcing, h_cell, h_unit, h_runs)
    med_before = float(np.nanmedian(before["sm_surface_corr"]))
    med_after = float(np.nanmedian(after["sm_surface_corr"]))
    assert med_after > 0.7
    assert med_after > med_before + 0.25
    assert np.nanmedian(after["sm_surface_rmse"]) < np.nanmedian(before["sm_surface_rmse"])
    # the scores are those of the surrogate's own forward pass
    with torch.no_grad():
        table = model.parameter_table
        out = sur({k: torch.as_tensor(v[:, h_cell]) for k, v in forcing.items()},
                  {n: table[n].scale(torch.as_tensor(h_unit[:, i])) for i, n in enumerate(table.names)})
    sim, obs = out["sm_surface"].numpy()[:, 0].astype(np.float64), h_runs["sm_surface"][:, 0].astype(np.float64)
    assert after["sm_surface_corr"][0] == pytest.approx(np.corrcoef(sim, obs)[0, 1], abs=1e-4)
    assert after["sm_surface_rmse"][0] == pytest.approx(math.sqrt(np.mean((sim - obs) ** 2)), rel=1e-4)


def test_fit_cell_parameters_recovers_vic_soil_moisture():
    # measured (forcing seeds 0, 1, 2): start RMSE 0.03-0.095 m3/m3 per cell, fitted <= 0.0051
    warmup, n_time = 30, 120
    model = vic(warmup)
    forcing = smooth_forcing(n_time, 3, seed=0)
    rng = np.random.default_rng(0)
    true_u = rng.uniform(0.25, 0.75, (3, 10)).astype(np.float32)
    true_u[:, 7] = [0.1, 0.9, 0.2]     # DEPTH_1 away from the starting point 0.5
    true_u[:, 4] = [0.85, 0.15, 0.8]   # EXPT_1
    cells = np.arange(3)
    obs = run_process_model(model, forcing, cells, true_u, ("sm_surface",))["sm_surface"]

    def sm_rmse(u):
        sim = run_process_model(model, forcing, cells, u.astype(np.float32), ("sm_surface",))["sm_surface"]
        return np.sqrt(np.mean((sim - obs) ** 2, axis=0))

    start = torch.sigmoid(0.1 * torch.randn(3, 10, generator=torch.Generator().manual_seed(0))).numpy()
    u = fit_cell_parameters(model, forcing, obs, "sm_surface", steps=25, lr=0.2, seed=0)
    assert u.shape == (3, 10) and u.min() > 0.0 and u.max() < 1.0
    r0, r1 = sm_rmse(start), sm_rmse(u)
    assert (r0 > 0.02).all()
    assert (r1 < 0.01).all(), r1
    assert (r1 < 0.25 * r0).all(), (r0, r1)
    # NaN observations are ignored: the same fit with half the days missing still works
    gappy = obs.copy()
    gappy[::2] = np.nan
    u2 = fit_cell_parameters(model, forcing, gappy, "sm_surface", steps=5, lr=0.2, seed=0)
    assert np.isfinite(u2).all() and (sm_rmse(u2) < r0).all()


def test_build_surrogate_one_refinement_round():
    model = vic()
    forcing = smooth_forcing(N_TIME, 6, seed=1)
    obs_u = np.full((6, 10), 0.5, dtype=np.float32)
    obs = run_process_model(model, forcing, np.arange(6), obs_u, ("sm_surface",))["sm_surface"]
    obs[::3] = np.nan
    train_cells, heldout_cells = np.array([0, 1, 2, 3]), np.array([4, 5])
    cfg = SurrogateConfig(
        samples_per_cell=4, refine_samples_per_cell=2, rounds=1, refine_spread=(0.2,), hidden_size=16,
        warmup=WARMUP, refine_epochs=5, calibration_steps=10, seed=0,
        training=TrainConfig(epochs=15, batch_sites=64, window=120, warmup=WARMUP, loss="rmse", optimizer="adam",
                          learning_rate=0.01, output="y"),
    )
    seen = []
    rep = build_surrogate(model, forcing, obs, train_cells, heldout_cells, cfg, device="cpu", progress=False,
                          on_round=lambda r, s: seen.append((r, s)))
    assert [r["round"] for r in rep.rounds] == [0, 1]
    assert [r["n_runs"] for r in rep.rounds] == [16, 24]  # 4 cells x 4 LHS, then + 4 cells x 2 refined
    for r in rep.rounds:
        assert r["train_seconds"] > 0 and math.isfinite(r["final_loss"]) and r["final_loss"] > 0
        assert -1.0 <= r["heldout_median_corr"] <= 1.0 and r["heldout_median_rmse"] > 0
    assert [r for r, _ in seen] == [0, 1] and seen[-1][1] is rep.surrogate
    assert set(rep.heldout) == {"sm_surface_corr", "sm_surface_rmse", "et_corr", "et_rmse"}
    # held-out virtual sites: 2 LHS per held-out cell + 1 near their estimate after round 0
    assert all(v.shape == (2 * 2 + 2,) for v in rep.heldout.values())
    assert np.isfinite(rep.heldout["sm_surface_corr"]).all()
    assert float(np.median(rep.heldout["sm_surface_rmse"])) == pytest.approx(rep.rounds[-1]["heldout_median_rmse"],
                                                                             rel=1e-5)
    assert rep.process_seconds_per_run > 0 and rep.surrogate_seconds_per_run > 0
    assert isinstance(rep.surrogate, LSTMSurrogate) and rep.surrogate.warmup == WARMUP

"""Soil-moisture experiments on the SMAP + NLDAS-2 grid: densities, dPL and SCE-UA, tests.

The grid's inputs (forcing, PET, spin-up, normalisation) come from :mod:`.grid`; the
surrogate from :mod:`.surrogate`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..calibrate.sceua import SceuaSettings, calibrate_process_model
from ..data.normalize import Normalizer
from ..data.splits import SMAP_TEST_1Y, SMAP_TRAIN_1Y, SMAP_TRAIN_2Y, TimeWindow, density_mask, neighbour_cells
from ..metrics import bias, corr, rmse, ubrmse
from ..losses import get_loss
from ..nets.dpl import DplModel, SeedEnsemble
from ..nets.lstm_surrogate import LSTMSurrogate
from ..nets.param_nets import GA, GZ
from ..evidence import convergence, paired_evidence
from ..results import cache_dir, result_key
from ..train import TrainConfig, Trainer
from ..utils import resolve_device
from . import surrogate as sx
from .grid import GridInputs, build_grid_inputs, fit_grid_normalizer

log = logging.getLogger("dplrepro.experiments")

__all__ = [
    "SoilMoistureConfig", "PROFILES", "GZ_HISTORY_DAYS", "with_gz_history", "observation_stats",
    "with_comparison_density", "train_grid_dpl",
    "calibrate_grid_sceua", "simulate_grid", "grid_scores", "nearest_training_cell", "runs_to_reach",
    "DENSITY_LABEL", "METHOD_KIND", "setting_label", "chapter_surrogate", "TrainingSetting", "training_setting",
    "setting_inputs", "test_windows", "MethodOutcome", "train_setting_method", "COMPARISON_METHODS", "SettingResults",
    "train_every_setting", "DEFAULT_METHOD", "default_scores", "PAPER_REFERENCE", "chapter_summary", "seed_matrix", "median_of_seed_means", "curve_convergence",
    "smap_claims",
]

# ---------------------------------------------------------------------------- experiments
@dataclass
class SoilMoistureConfig:
    """Settings of the soil-moisture experiments (see the chapter for the profiles)."""

    densities: tuple = (4, 2)             # n of the n×n blocks: 4 ~ paper s16, 2 ~ s8, 1 ~ s4
    train_years: tuple = (1,)             # 1: train 2015-04..2016-03, test 2016-04..2017-03; 2: train both years
    comparison_density: int = 2           # where every method is run (gz, SCE-UA, VIC-style direct)
    warmup: int = 365
    hidden_size: int = 64
    training: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=60, batch_sites=10_000, window=365, warmup=365, loss="rmse", optimizer="adam",
        learning_rate=1e-2, output="sm_surface", clip_grad_norm=1.0))
    sceua_maxn: int = 400
    sceua_ngs: int = 2
    gapfill_epochs: int = 30              # the SMAP gap-filling forecaster's epochs
    surrogate_rounds: int | None = None   # the surrogate's refinement rounds (None: the surrogate profile's)
    surrogate_epochs: int | None = None   # the surrogate's round-0 epochs (None: the surrogate profile's)
    seed: int = 0
    n_seeds: int = 3                      # seeds (seed, seed + 1, ...) every method runs with
    direct_epochs: int | None = 20        # the extra row dPL gA (VIC-style direct): epochs, first seed only
                                          # (None: as every method)

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_seeds)]


PROFILES = {
    "quick": SoilMoistureConfig(comparison_density=4),   # every method at s16: 3 seeds fit a CPU
    "full": SoilMoistureConfig(
        n_seeds=1, direct_epochs=None, densities=(4, 2, 1), train_years=(1, 2), hidden_size=256, sceua_maxn=5000, sceua_ngs=4, gapfill_epochs=100,
        training=TrainConfig(epochs=300, batch_sites=10_000, window=365, warmup=365, loss="rmse", optimizer="adam",
                          learning_rate=5e-3, output="sm_surface", clip_grad_norm=1.0)),
}


#: gz's observation history: the first ``GZ_HISTORY_DAYS`` of SMAP of the year that ends on
#: the day before the first day in the loss (training) or in the score (a test) -- April to
#: September in both, so the history is of the same season in training and testing. Those
#: days are never scored nor in the loss themselves.
GZ_HISTORY_DAYS = 182


def with_gz_history(inputs: GridInputs, *, training: bool, days: int = GZ_HISTORY_DAYS) -> GridInputs:
    """``inputs`` for gz, with an observation history ``z [days, cell]`` that no loss or score sees.

    ``training=True``: ``z`` is the first ``days`` of the period's observations, and those
    days leave the loss target (set to NaN): the loss is on the rest of the period.
    ``training=False`` (a test): ``z`` is the first ``days`` of the 365 days before the
    period (inside its warm-up), and the whole period is scored.
    """
    t, first = inputs.tensors.target, inputs.first_day
    if training:
        if t.shape[0] - first <= days:
            raise ValueError(f"a {t.shape[0] - first}-day training period leaves no loss days after a {days}-day history")
        z = t[first:first + days].copy()
        target = t.copy()
        target[first:first + days] = np.nan
    else:
        if first < 365 or days > 365:
            raise ValueError(f"the test inputs have {first} warm-up days; gz's history needs the 365 days before "
                             f"the test (and at most 365 history days, got {days})")
        z, target = t[first - 365:first - 365 + days].copy(), t
    if not np.isfinite(z).any():
        raise ValueError(f"gz's {days}-day history holds no observation (period starting at day {first}); "
                         "a test needs observed days in the year before the scored period")
    return replace(inputs, tensors=replace(inputs.tensors, z=z, target=target))


def make_grid_dpl(kind: str, n_inputs: int, process_model, config: SoilMoistureConfig, *,
                  z_stats: tuple[float, float] = (0.0, 1.0)) -> DplModel:
    """gA or gz (one component) around the VIC-style model or its surrogate. Static parameters are
    read after the warm-up (``static_step``); ``z_stats``: mean and std of gz's history (m³/m³)."""
    names = process_model.parameter_table.names
    kw = dict(nmul=1, hidden_size=config.hidden_size, dropout=0.0, static_step=config.warmup)
    net = GA(n_inputs, names, **kw) if kind == "gA" else GZ(n_inputs, names, n_z=1, z_mean=z_stats[0],
                                                             z_std=z_stats[1], **kw)
    return DplModel(net, process_model)


def observation_stats(inputs: GridInputs) -> tuple[float, float]:
    """Mean and std of the observations of ``inputs`` after the warm-up (gz's ``z_stats``)."""
    obs = inputs.tensors.target[inputs.first_day:]
    return float(np.nanmean(obs)), float(np.nanstd(obs) + 1e-6)


def train_grid_dpl(kind: str, process_model, train: GridInputs, config: SoilMoistureConfig, *,
                   checkpoint_dir: Path | None = None, device: str = "auto", progress: bool = True,
                   seeds: Sequence[int] | None = None) -> Trainer:
    """Train dPL on the training cells; every epoch records the training RMSE (all cells, whole
    period; m³/m³, median over cells). With ``seeds``, one member per seed of a
    :class:`~dplrepro.nets.dpl.SeedEnsemble` (member ``k`` initialised with ``seeds[k]``):
    outputs then carry a trailing seed axis and ``rmse`` is a list, one per seed."""
    z_stats = observation_stats(train)
    if seeds is None:
        torch.manual_seed(config.seed)
        model = make_grid_dpl(kind, train.tensors.x.shape[-1], process_model, config, z_stats=z_stats)
        loss_fn = None
    else:
        nets = []
        for s in seeds:
            torch.manual_seed(s)
            nets.append(make_grid_dpl(kind, train.tensors.x.shape[-1], process_model, config,
                                      z_stats=z_stats).parameter_network)
        model = SeedEnsemble(nets, process_model)
        loss_fn = SeedEnsemble.loss(get_loss(config.training.loss))
    tc = replace(config.training, seed=config.seed, device=device, progress=progress,
                 window=train.tensors.n_time - train.first_day)
    trainer = Trainer(model, tc, checkpoint_dir=checkpoint_dir, loss_fn=loss_fn)
    obs = train.tensors.target[train.first_day:]

    def evaluate(tr: Trainer) -> dict:
        sim = tr.predict(train.tensors, start=train.first_day)["sm_surface"]
        if seeds is None:
            value = float(np.nanmedian(rmse(sim, obs, axis=0)))
        else:
            value = [float(np.nanmedian(rmse(sim[..., k], obs, axis=0))) for k in range(sim.shape[-1])]
        return {"rmse": value, "wall_time_s": time.time() - t0}

    t0 = time.time()
    trainer.fit(train.tensors, on_epoch_end=evaluate)
    return trainer


def simulate_grid(process_model, params: dict[str, np.ndarray], inputs: GridInputs,
                  output: str | None = "sm_surface", device: str = "auto"):
    """Run a model with per-cell physical parameters ``{name: [cell]}``: ``output`` as
    ``[time, cell]`` after warm-up, or every output (``{name: [time, cell]}``) for ``None``."""
    device = resolve_device(device)
    with torch.no_grad():
        f = {k: torch.as_tensor(v, device=device) for k, v in inputs.tensors.forcing.items()}
        p = {n: torch.as_tensor(np.asarray(params[n], np.float32), device=device)
             for n in process_model.parameter_table.names}
        out = process_model.to(device)(f, p)
    if output is not None:
        return out[output].cpu().numpy()
    return {k: v.cpu().numpy() for k, v in out.items()}


def calibrate_grid_sceua(process_model, train: GridInputs, config: SoilMoistureConfig, *, device: str = "auto",
                         progress: bool = True, n_seeds: int | None = None):
    """Per-cell SCE-UA (RMSE on SMAP days) through ``process_model``; returns (params, result, seconds).

    With ``n_seeds``, every cell is calibrated ``n_seeds`` times in the same batched run, copy
    ``r`` with its own random stream (seed ``config.seed + r``): parameters ``{name: [seed, cell]}``
    and the result's per-site arrays seed-major (``[seed * cell]``). Through an LSTM surrogate,
    whose cost grows with the sites of a call, the candidates are evaluated lazily (same search,
    fewer runs: :class:`~dplrepro.calibrate.sceua.SceuaSettings`)."""
    device = resolve_device(device)
    process_model = process_model.to(device)
    k = 1 if n_seeds is None else int(n_seeds)
    f = {name: torch.as_tensor(v, device=device).repeat(1, k) for name, v in train.tensors.forcing.items()}
    obs = torch.as_tensor(train.tensors.target[train.first_day:], device=device).repeat(1, k)
    settings = SceuaSettings(ngs=config.sceua_ngs, maxn=config.sceua_maxn, kstop=10, seed=config.seed,
                             lazy_candidates=isinstance(process_model, LSTMSurrogate))
    t0 = time.time()
    cal = calibrate_process_model(process_model, f, obs, process_model.parameter_table, None, settings,
                                  output="sm_surface", param_transform=lambda n, v: v.reshape(-1).float(),
                                  max_virtual_sites=8192, progress=progress, streams=torch.arange(obs.shape[1]))
    params = {name: v.detach().cpu().numpy() for name, v in cal.params.items()}
    if n_seeds is not None:
        params = {name: v.reshape(k, -1) for name, v in params.items()}
    return params, cal.result, time.time() - t0


def grid_scores(sim: np.ndarray, obs: np.ndarray, cells: np.ndarray) -> pd.DataFrame:
    """Per-cell Bias, Corr, RMSE, ubRMSE of ``[time, cell]`` arrays (SMAP days only)."""
    return pd.DataFrame({"bias": bias(sim, obs, axis=0), "corr": corr(sim, obs, axis=0),
                         "rmse": rmse(sim, obs, axis=0), "ubrmse": ubrmse(sim, obs, axis=0)},
                        index=pd.Index(cells, name="cell"))


def nearest_training_cell(row: np.ndarray, col: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """For each test cell, the training cell nearest on the grid (SCE-UA's spatial transfer)."""
    d = (row[test, None] - row[None, train]) ** 2 + (col[test, None] - col[None, train]) ** 2
    return train[np.argmin(d, axis=1)]


def runs_to_reach(runs: np.ndarray, error: np.ndarray, threshold: float = 0.05) -> float:
    """First cost (forward runs per cell) at which ``error`` falls below ``threshold``; NaN if never."""
    hit = np.flatnonzero(np.asarray(error) < threshold)
    return float(np.asarray(runs)[hit[0]]) if hit.size else float("nan")


# ------------------------------------------------------------- one training setting, one method
# The soil-moisture chapter and the scaling-curves chapter both train through these, so a
# point of a scaling curve is the same computation whichever chapter made it.

#: Block size ``n`` on our grid -> the paper's density name (inverse of ``splits.PAPER_DENSITY``).
DENSITY_LABEL = {1: "s4", 2: "s8", 4: "s16"}
#: Method name (as in the chapter's tables and ``summary.json``) -> how it is trained.
METHOD_KIND = {"dPL gA (surrogate)": "gA", "dPL gz (surrogate)": "gz", "dPL gA (VIC-style direct)": "gA",
               "SCE-UA (surrogate)": "sceua"}


def setting_label(density_n: int, years: int) -> str:
    """``"s16, 1 yr"``: the paper's density name (``n<k>`` if it has none) and the training years."""
    return f"{DENSITY_LABEL.get(int(density_n), f'n{density_n}')}, {int(years)} yr"


def with_comparison_density(cfg: SoilMoistureConfig) -> SoilMoistureConfig:
    """``cfg`` whose comparison density (where every method runs) is one of its densities: the
    last one when the profile's is not run."""
    return cfg if cfg.comparison_density in cfg.densities else replace(cfg, comparison_density=cfg.densities[-1])


def chapter_surrogate(grid: xr.Dataset, data_source: str, profile: str, config: SoilMoistureConfig, *,
                      device: str = "auto", progress: bool = True):
    """The surrogate chapter's surrogate for ``profile`` (with ``config``'s surrogate rounds and
    epochs where set), loaded from the surrogate chapter's cache folder
    (:func:`dplrepro.results.cache_dir`) or built and cached there.

    Returns ``(bundle, build)``: the :class:`~dplrepro.experiments.surrogate.SurrogateBundle` and
    the build settings used (their values identify the cached file).
    """
    exp = sx.PROFILES[profile]
    build = replace(exp.build, seed=int(config.seed))
    if config.surrogate_rounds is not None:
        build = replace(build, rounds=int(config.surrogate_rounds))
    if config.surrogate_epochs is not None:
        build = replace(build, training=replace(build.training, epochs=int(config.surrogate_epochs)))
    bundle = sx.obtain_surrogate(grid, data_source, exp, build, cache_dir("surrogate", profile),
                                 device=device, progress=progress)
    return bundle, build


@dataclass
class TrainingSetting:
    """One training setting: density (one cell per n×n block), training years, cells, normaliser."""

    density_n: int
    years: int
    window: TimeWindow                 # the training period
    train_cells: np.ndarray            # indices into the grid's ``cell`` dimension
    near_cells: np.ndarray             # untrained neighbours of training cells (the spatial test)
    normalizer: Normalizer             # fitted on the training cells and period only

    @property
    def label(self) -> str:
        return setting_label(self.density_n, self.years)


def training_setting(grid: xr.Dataset, density_n: int, years: int) -> TrainingSetting:
    """Training cells (``density_mask``), neighbours and normaliser for ``years`` (1 or 2) of training."""
    if int(years) not in (1, 2):
        raise ValueError(f"training years must be 1 or 2 (SMAP 2015-04..2017-03), got {years!r}")
    window = SMAP_TRAIN_1Y if int(years) == 1 else SMAP_TRAIN_2Y
    row, col = grid["row"].values, grid["col"].values
    mask = density_mask(row, col, int(density_n))
    train_cells = np.flatnonzero(mask)
    near = np.flatnonzero(neighbour_cells(mask, row, col, radius=1))
    norm = fit_grid_normalizer(window.select(grid).isel(cell=train_cells))
    return TrainingSetting(int(density_n), int(years), window, train_cells, near, norm)


def setting_inputs(grid: xr.Dataset, setting: TrainingSetting, cells: np.ndarray, window: TimeWindow,
                   warmup: int) -> GridInputs:
    """Inputs of ``cells`` over ``window``, normalised with the setting's training statistics."""
    return build_grid_inputs(grid.isel(cell=cells), window, setting.normalizer, warmup)


@dataclass
class MethodOutcome:
    """What training one method in one setting, with every seed, gives.

    ``records``: one row of ``summary.json``'s ``training`` list per seed
    (``final_train_rmse`` in m³/m³, ``runs_to_rmse_0.05`` in forward runs per cell, NaN if
    never reached, the cost curve ``curve_runs``/``curve_rmse``, the final per-cell training
    RMSE ``cell_rmse``, ``wall_time_s`` in s for all seeds together). ``curves``: per seed
    (forward runs per cell, median training RMSE in m³/m³, wall time in s). ``params``: the
    first seed's (cell indices, ``{name: values}``) or None. ``scores``: per test
    (``temporal``, ``spatial``) a per-cell table of every seed (``cell`` index, ``seed`` column).
    """

    records: list
    curves: list
    params: tuple | None
    scores: dict


def test_windows(setting: TrainingSetting, tests: Sequence[str] = ("temporal", "spatial")) -> dict:
    """Test name -> (cells, scored window). Temporal: the training cells in the following year
    (1-year training only). Spatial: the untrained neighbour cells, in the following year
    when there is one (so gz's history, the days before it, is never scored), else in the
    training period (2-year training: gz has no spatial test there)."""
    out = {}
    if "temporal" in tests and setting.years == 1:
        out["temporal"] = (setting.train_cells, SMAP_TEST_1Y)
    if "spatial" in tests and setting.near_cells.size:
        out["spatial"] = (setting.near_cells, SMAP_TEST_1Y if setting.years == 1 else setting.window)
    return out


def _stack_seeds(frames: Sequence[pd.DataFrame], seeds: Sequence[int]) -> pd.DataFrame:
    return pd.concat([f.assign(seed=int(s)) for f, s in zip(frames, seeds)])


def train_setting_method(grid: xr.Dataset, setting: TrainingSetting, name: str, model, config: SoilMoistureConfig,
                         *, device: str = "auto", tests: Sequence[str] = ("temporal", "spatial"),
                         progress: bool = True) -> MethodOutcome:
    """Train method ``name`` (a key of :data:`METHOD_KIND`) through ``model`` in ``setting`` with
    every seed of ``config.seeds`` at once, then test it.

    dPL is trained on the training cells (:func:`train_grid_dpl`, the seeds as members of one
    ensemble); SCE-UA calibrates each training cell alone (:func:`calibrate_grid_sceua`, the
    seeds as copies with their own random streams) and, in the spatial test, lends each test
    cell the parameters of its nearest calibrated cell. Tests: :func:`test_windows`. gz reads
    an observation history that is never in its loss or its scores (:func:`with_gz_history`).
    ``tests=()`` skips testing.
    """
    if name not in METHOD_KIND:
        raise ValueError(f"unknown method {name!r}; one of {sorted(METHOD_KIND)}")
    kind, warmup, seeds = METHOD_KIND[name], config.warmup, config.seeds
    row, col = grid["row"].values, grid["col"].values
    cells_all = setting.train_cells
    t0 = time.time()
    train = setting_inputs(grid, setting, cells_all, setting.window, warmup)
    test_sets = test_windows(setting, tests)
    test_inputs = {test: setting_inputs(grid, setting, cells, window, warmup)
                   for test, (cells, window) in test_sets.items()}
    if kind == "gz":  # a test needs observed days in the year before its scored period
        test_inputs = {t: inp for t, inp in test_inputs.items() if inp.first_day >= 365 and
                       np.isfinite(inp.tensors.target[inp.first_day - 365:inp.first_day - 365 + GZ_HISTORY_DAYS]).any()}
    predict, params = {}, None   # predict: test -> [time, cell, seed]
    if kind == "sceua":
        p_train, result, seconds = calibrate_grid_sceua(model, train, config, progress=progress, n_seeds=len(seeds))
        n_cells = cells_all.size
        hist_f = result.history_f.reshape(result.history_f.shape[0], len(seeds), n_cells)
        hist_n = result.history_n_evaluations.float().reshape(hist_f.shape)
        curves = [(hist_n[:, i].median(dim=1).values.cpu().numpy(), hist_f[:, i].median(dim=1).values.cpu().numpy())
                  for i in range(len(seeds))]
        curves = [(n, f, seconds * n / max(n[-1], 1)) for n, f in curves]
        cell_rmse = result.f.reshape(len(seeds), n_cells).cpu().numpy()
        params = (cells_all, {k: v[0] for k, v in p_train.items()})
        lookup = {c: i for i, c in enumerate(cells_all)}
        for test, inp in test_inputs.items():
            src = [lookup[c] for c in nearest_training_cell(row, col, cells_all, test_sets[test][0])]
            predict[test] = np.stack([simulate_grid(model, {k: v[i][src] for k, v in p_train.items()}, inp)
                                      for i in range(len(seeds))], -1)
    else:
        fit_on = with_gz_history(train, training=True) if kind == "gz" else train
        trainer = train_grid_dpl(kind, model, fit_on, config, device=device, progress=progress, seeds=seeds)
        ev = trainer.history.evaluations
        runs, wall = np.array([e["forward_runs_per_site"] for e in ev]), np.array([e["wall_time_s"] for e in ev])
        err = np.array([e["rmse"] for e in ev])   # [epoch, seed]
        curves = [(runs, err[:, i], wall) for i in range(len(seeds))]
        sim = trainer.predict(fit_on.tensors, start=fit_on.first_day)["sm_surface"]
        obs_fit = fit_on.tensors.target[fit_on.first_day:]
        cell_rmse = np.stack([rmse(sim[..., i], obs_fit, axis=0) for i in range(len(seeds))])
        for test, inp in test_inputs.items():
            inp = with_gz_history(inp, training=False) if kind == "gz" else inp
            predict[test] = trainer.predict(inp.tensors, start=inp.first_day)["sm_surface"]
        if kind == "gA" and isinstance(model, LSTMSurrogate):  # parameters for every cell: dPL generalises in space
            every_cell = np.arange(grid.sizes["cell"])
            every = setting_inputs(grid, setting, every_cell, setting.window, warmup)
            out = trainer.predict(every.tensors, start=every.first_day)
            params = (every_cell, {k.removeprefix("param_"): v[:, 0] for k, v in out.items() if k.startswith("param_")})
    scores = {}
    for test, sim in predict.items():
        inp = test_inputs[test]
        obs = inp.tensors.target[inp.first_day:]
        cells = grid["cell"].values[test_sets[test][0]]
        scores[test] = _stack_seeds([grid_scores(sim[..., i], obs, cells) for i in range(len(seeds))], seeds)
    wall_s = round(time.time() - t0, 1)
    records = []
    for i, s in enumerate(seeds):
        runs_i, err_i, _ = curves[i]
        records.append({"setting": setting.label, "density_n": setting.density_n, "train_years": setting.years,
                        "method": name, "seed": int(s), "train_cells": int(cells_all.size),
                        "final_train_rmse": float(err_i[-1]), "runs_to_rmse_0.05": runs_to_reach(runs_i, err_i, 0.05),
                        "curve_runs": [float(v) for v in runs_i], "curve_rmse": [float(v) for v in err_i],
                        "cell_rmse": [float(v) for v in cell_rmse[i]], "wall_time_s": wall_s})
    return MethodOutcome(records, curves, params, scores)


#: The extra row (beyond the paper): dPL trained directly through the differentiable VIC-style model.
DIRECT_METHOD = "dPL gA (VIC-style direct)"
#: The reference row: every cell at the middle of every parameter's range, through the surrogate.
DEFAULT_METHOD = "mid-range default (surrogate)"


def default_scores(grid: xr.Dataset, setting: TrainingSetting, model, config: SoilMoistureConfig,
                   tests: Sequence[str] = ("temporal", "spatial")) -> dict[str, pd.DataFrame]:
    """Test scores (as :func:`train_setting_method`'s) of mid-range parameters at every cell:
    the baseline a calibration has to beat."""
    out = {}
    for test, (cells, window) in test_windows(setting, tests).items():
        inp = setting_inputs(grid, setting, cells, window, config.warmup)
        mid = {n: np.full(cells.size, float(model.parameter_table[n].scale(0.5)), np.float32)
               for n in model.parameter_table.names}
        sim = simulate_grid(model, mid, inp)
        out[test] = grid_scores(sim, inp.tensors.target[inp.first_day:], grid["cell"].values[cells]).assign(seed=0)
    return out


#: Methods run at the comparison setting besides dPL gA (surrogate), which runs at every setting.
COMPARISON_METHODS = ("dPL gz (surrogate)", "dPL gA (VIC-style direct)", "SCE-UA (surrogate)")


@dataclass
class SettingResults:
    """Every (setting, method) the chapter trains: ``records`` (one row each, see
    :class:`MethodOutcome`), ``curves`` and ``params`` keyed by ``(setting label, method)``,
    ``scores`` keyed by ``(setting label, method, test)``."""

    records: pd.DataFrame
    curves: dict
    scores: dict
    params: dict


def train_every_setting(grid: xr.Dataset, config: SoilMoistureConfig, models: dict, *, device: str = "auto",
                        progress: bool = True) -> SettingResults:
    """dPL gA (surrogate) at every density and training length of ``config``; every method of
    :data:`COMPARISON_METHODS` too at the comparison density with the first training length;
    every one with every seed of ``config.seeds``. ``models``: method name -> the model it
    trains through (surrogate or VIC-style). ``curves`` hold one curve per seed."""
    records, curves, scores, params = [], {}, {}, {}
    for years in config.train_years:
        for n in config.densities:
            setting = training_setting(grid, n, years)
            methods = ["dPL gA (surrogate)"]
            if n == config.comparison_density and years == config.train_years[0]:
                methods += list(COMPARISON_METHODS)
            if len(methods) > 1:
                scores.update({(setting.label, DEFAULT_METHOD, test): v for test, v in
                               default_scores(grid, setting, models["SCE-UA (surrogate)"], config).items()})
            for name in methods:
                cfg = config
                if name == DIRECT_METHOD and config.direct_epochs is not None:   # a labelled extra: cheaper
                    cfg = replace(config, n_seeds=1, training=replace(config.training, epochs=config.direct_epochs))
                out = train_setting_method(grid, setting, name, models[name], cfg, device=device, progress=progress)
                key = (setting.label, name)
                curves[key] = out.curves
                if out.params is not None:
                    params[key] = out.params
                scores.update({(setting.label, name, test): s for test, s in out.scores.items()})
                records.extend(out.records)
                log.info("%s | %s: train RMSE %s, %.1f s", setting.label, name,
                         [round(r["final_train_rmse"], 4) for r in out.records], out.records[0]["wall_time_s"])
    return SettingResults(pd.DataFrame(records), curves, scores, params)


def curve_convergence(per_seed: Sequence[tuple]) -> dict:
    """:func:`dplrepro.evidence.convergence` of the seed-mean error curve of ``(runs, error, wall)`` tuples."""
    n = min(len(c[1]) for c in per_seed)
    return convergence(np.mean([np.asarray(c[1][:n], float) for c in per_seed], axis=0))


def seed_matrix(scores: pd.DataFrame, metric: str) -> np.ndarray:
    """``[seed, cell]`` array of one metric from a per-cell table of every seed."""
    return scores.reset_index().pivot(index="seed", columns="cell", values=metric).values


def median_of_seed_means(scores: pd.DataFrame, metric: str) -> float:
    """Median over cells of the seed-mean ``metric``."""
    return float(np.nanmedian(np.nanmean(seed_matrix(scores, metric), axis=0)))


def smap_claims(trained: SettingResults, config: SoilMoistureConfig) -> dict:
    """The soil-moisture claims' evidence (:mod:`dplrepro.evidence`): dPL gA − SCE-UA (both
    through the surrogate) in per-cell test RMSE, paired over cells, at the comparison setting."""
    label = setting_label(config.comparison_density, config.train_years[0])
    out = {}
    for test in ("temporal", "spatial"):
        a, b = (trained.scores.get((label, m, test)) for m in ("dPL gA (surrogate)", "SCE-UA (surrogate)"))
        if a is not None and b is not None:
            out[f"smap_{test}"] = paired_evidence(f"smap_{test}", seed_matrix(a, "rmse"), seed_matrix(b, "rmse"),
                                                  config.seeds, seed=config.seed)
    return out


#: The paper's Fig. 9a numbers: median RMSE (m3/m3) and forward runs per cell to RMSE 0.05 at s16 and s4.
PAPER_REFERENCE = {"rmse_s16": 0.047, "rmse_s4": 0.044, "runs_to_0.05_s16": 900, "runs_to_0.05_s4": 50}


def chapter_summary(config: SoilMoistureConfig, build, trained: SettingResults, infilt_roughness: dict,
                    gapfill_scores: dict, surrogate_file: str) -> dict:
    """The soil-moisture chapter's ``summary.json`` content (keys: :data:`dplrepro.results.SCHEMAS`):
    median test scores per (setting, method, test), the training records, INFILT roughness,
    gap-filling scores, and the settings the scaling-curves chapter reuses (``build``: the
    surrogate's :class:`~dplrepro.experiments.surrogate.SurrogateConfig`)."""
    results = {result_key(*k): {m: median_of_seed_means(v, m) for m in ("rmse", "ubrmse", "corr", "bias")}
               for k, v in trained.scores.items()}
    return {
        "seeds": list(config.seeds), "claims": smap_claims(trained, config),
        "gz_history_days": GZ_HISTORY_DAYS,
        "densities": list(config.densities), "train_years": list(config.train_years),
        "comparison": setting_label(config.comparison_density, config.train_years[0]),
        "results": results,
        "training": trained.records.replace({np.nan: None}).to_dict(orient="records"),
        "infilt_roughness": infilt_roughness,
        "gapfill": {k: gapfill_scores[k] for k in ("lstm", "persistence", "climatology")},
        "surrogate_file": surrogate_file,
        "convergence": {f"{name}, {label}": curve_convergence(c) for (label, name), c in trained.curves.items()},
        "settings": {"epochs": config.training.epochs, "sceua_maxn": config.sceua_maxn, "sceua_ngs": config.sceua_ngs,
                     "n_seeds": config.n_seeds,
                     "hidden_size": config.hidden_size, "surrogate_rounds": build.rounds,
                     "surrogate_epochs": build.training.epochs},
        "paper_reference": PAPER_REFERENCE,
    }

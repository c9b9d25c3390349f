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
from ..nets.dpl import DplModel
from ..nets.lstm_surrogate import LSTMSurrogate
from ..nets.param_nets import GA, GZ
from ..results import result_key
from ..train import TrainConfig, Trainer
from ..utils import resolve_device
from . import surrogate as sx
from .grid import GridInputs, build_grid_inputs, fit_grid_normalizer

log = logging.getLogger("dplrepro.experiments")

__all__ = [
    "SoilMoistureConfig", "PROFILES", "with_comparison_density", "train_grid_dpl",
    "calibrate_grid_sceua", "simulate_grid", "grid_scores", "nearest_training_cell", "runs_to_reach",
    "DENSITY_LABEL", "METHOD_KIND", "setting_label", "chapter_surrogate", "TrainingSetting", "training_setting",
    "setting_inputs", "MethodOutcome", "train_setting_method", "COMPARISON_METHODS", "SettingResults",
    "train_every_setting", "PAPER_REFERENCE", "chapter_summary",
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


PROFILES = {
    "quick": SoilMoistureConfig(),
    "full": SoilMoistureConfig(
        densities=(4, 2, 1), train_years=(1, 2), hidden_size=256, sceua_maxn=5000, sceua_ngs=4, gapfill_epochs=100,
        training=TrainConfig(epochs=300, batch_sites=10_000, window=365, warmup=365, loss="rmse", optimizer="adam",
                          learning_rate=5e-3, output="sm_surface", clip_grad_norm=1.0)),
}


def make_grid_dpl(kind: str, n_inputs: int, process_model, config: SoilMoistureConfig) -> DplModel:
    """gA or gz (one component) around the VIC-style model or its surrogate."""
    names = process_model.parameter_table.names
    kw = dict(nmul=1, hidden_size=config.hidden_size, dropout=0.0)
    net = GA(n_inputs, names, **kw) if kind == "gA" else GZ(n_inputs, names, n_z=1, **kw)
    return DplModel(net, process_model)


def train_grid_dpl(kind: str, process_model, train: GridInputs, config: SoilMoistureConfig, *,
                   checkpoint_dir: Path | None = None, device: str = "auto", progress: bool = True) -> Trainer:
    """Train dPL on the training cells; every epoch records the training RMSE (all cells, whole period)."""
    torch.manual_seed(config.seed)
    model = make_grid_dpl(kind, train.tensors.x.shape[-1], process_model, config)
    tc = replace(config.training, seed=config.seed, device=device, progress=progress,
                 window=train.tensors.n_time - train.first_day)
    trainer = Trainer(model, tc, checkpoint_dir=checkpoint_dir)
    obs = train.tensors.target[train.first_day:]

    def evaluate(tr: Trainer) -> dict:
        sim = tr.predict(train.tensors, start=train.first_day)["sm_surface"]
        return {"rmse": float(np.nanmedian(rmse(sim, obs, axis=0))), "wall_time_s": time.time() - t0}

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
                         progress: bool = True):
    """Per-cell SCE-UA (RMSE on SMAP days) through ``process_model``; returns (params, result, seconds)."""
    device = resolve_device(device)
    process_model = process_model.to(device)
    f = {k: torch.as_tensor(v, device=device) for k, v in train.tensors.forcing.items()}
    obs = torch.as_tensor(train.tensors.target[train.first_day:], device=device)
    settings = SceuaSettings(ngs=config.sceua_ngs, maxn=config.sceua_maxn, kstop=10, seed=config.seed)
    t0 = time.time()
    cal = calibrate_process_model(process_model, f, obs, process_model.parameter_table, None, settings,
                                  output="sm_surface", param_transform=lambda n, v: v.reshape(-1).float(),
                                  max_virtual_sites=8192, progress=progress)
    params = {k: v.detach().cpu().numpy() for k, v in cal.params.items()}
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


def chapter_surrogate(grid: xr.Dataset, data_source: str, profile: str, results_root: Path,
                      config: SoilMoistureConfig, *, device: str = "auto", progress: bool = True):
    """The surrogate chapter's surrogate for ``profile`` (with ``config``'s surrogate rounds and
    epochs where set), loaded from ``<results_root>/surrogate/<profile>/`` or built and cached there.

    Returns ``(bundle, build)``: the :class:`~dplrepro.experiments.surrogate.SurrogateBundle` and
    the build settings used (their values identify the cached file).
    """
    exp = sx.PROFILES[profile]
    build = replace(exp.build, seed=int(config.seed))
    if config.surrogate_rounds is not None:
        build = replace(build, rounds=int(config.surrogate_rounds))
    if config.surrogate_epochs is not None:
        build = replace(build, training=replace(build.training, epochs=int(config.surrogate_epochs)))
    bundle = sx.obtain_surrogate(grid, data_source, exp, build, Path(results_root) / "surrogate" / profile,
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
    """What training one method in one setting gives.

    ``record``: the row of ``summary.json``'s ``training`` list (``final_train_rmse`` in
    m³/m³, ``runs_to_rmse_0.05`` in forward runs per cell, NaN if never reached,
    ``wall_time_s`` in s). ``curve``: (forward runs per cell, median training RMSE in m³/m³,
    wall time in s). ``params``: (cell indices, ``{name: values}``) or None. ``scores``:
    per-cell test scores, one DataFrame per test (``temporal``, ``spatial``).
    """

    record: dict
    curve: tuple
    params: tuple | None
    scores: dict


def train_setting_method(grid: xr.Dataset, setting: TrainingSetting, name: str, model, config: SoilMoistureConfig,
                         *, device: str = "auto", tests: Sequence[str] = ("temporal", "spatial"),
                         progress: bool = True) -> MethodOutcome:
    """Train method ``name`` (a key of :data:`METHOD_KIND`) through ``model`` in ``setting``, then test it.

    dPL is trained on the training cells (:func:`train_grid_dpl`); SCE-UA calibrates each
    training cell alone (:func:`calibrate_grid_sceua`) and, in the spatial test, lends each
    test cell the parameters of its nearest calibrated cell. The temporal test (same cells,
    the following year) exists only for 1-year training. ``tests=()`` skips testing.
    """
    if name not in METHOD_KIND:
        raise ValueError(f"unknown method {name!r}; one of {sorted(METHOD_KIND)}")
    kind, warmup = METHOD_KIND[name], config.warmup
    row, col = grid["row"].values, grid["col"].values
    cells_all = setting.train_cells
    t0 = time.time()
    train = setting_inputs(grid, setting, cells_all, setting.window, warmup)
    z_train = train.tensors.target[train.first_day:]
    test_sets = {}
    if "temporal" in tests and setting.years == 1:
        test_sets["temporal"] = (cells_all, SMAP_TEST_1Y, z_train)
    if "spatial" in tests and setting.near_cells.size:
        test_sets["spatial"] = (setting.near_cells, setting.window, None)
    predict, params = {}, None
    if kind == "sceua":
        p_train, result, seconds = calibrate_grid_sceua(model, train, config, progress=progress)
        hist_f = result.history_f.median(dim=1).values.cpu().numpy()
        hist_n = result.history_n_evaluations.float().median(dim=1).values.cpu().numpy()
        curve = (hist_n, hist_f, seconds * hist_n / max(hist_n[-1], 1))
        final_rmse = float(np.median(result.f.cpu().numpy()))
        params = (cells_all, p_train)
        lookup = {c: i for i, c in enumerate(cells_all)}
        for test, (cells, window, _) in test_sets.items():
            src = nearest_training_cell(row, col, cells_all, cells)  # spatial: nearest calibrated cell
            p = {k: v[[lookup[c] for c in src]] for k, v in p_train.items()}
            predict[test] = simulate_grid(model, p, setting_inputs(grid, setting, cells, window, warmup))
    else:
        if kind == "gz":  # gz reads each cell's SMAP series of the training period
            train.tensors.z = z_train
        trainer = train_grid_dpl(kind, model, train, config, device=device, progress=progress)
        train.tensors.z = None
        ev = trainer.history.evaluations
        curve = (np.array([e["forward_runs_per_site"] for e in ev]), np.array([e["rmse"] for e in ev]),
                 np.array([e["wall_time_s"] for e in ev]))
        final_rmse = float(ev[-1]["rmse"])
        for test, (cells, window, z) in test_sets.items():
            inp = setting_inputs(grid, setting, cells, window, warmup)
            if kind == "gz":
                inp.tensors.z = z if z is not None else \
                    setting_inputs(grid, setting, cells, setting.window, warmup).tensors.target[warmup:]
            predict[test] = trainer.predict(inp.tensors, start=inp.first_day)["sm_surface"]
        if kind == "gA" and isinstance(model, LSTMSurrogate):  # parameters for every cell: dPL generalises in space
            every_cell = np.arange(grid.sizes["cell"])
            every = setting_inputs(grid, setting, every_cell, setting.window, warmup)
            out = trainer.predict(every.tensors, start=every.first_day)
            params = (every_cell, {k.removeprefix("param_"): v for k, v in out.items() if k.startswith("param_")})
    scores = {}
    for test, sim in predict.items():
        cells, window, _ = test_sets[test]
        obs = setting_inputs(grid, setting, cells, window, warmup).tensors.target[warmup:]
        scores[test] = grid_scores(sim, obs, grid["cell"].values[cells])
    runs, err, _ = curve
    record = {"setting": setting.label, "density_n": setting.density_n, "train_years": setting.years, "method": name,
              "train_cells": int(cells_all.size), "final_train_rmse": final_rmse,
              "runs_to_rmse_0.05": runs_to_reach(runs, err, 0.05), "wall_time_s": round(time.time() - t0, 1)}
    return MethodOutcome(record, curve, params, scores)


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
    :data:`COMPARISON_METHODS` too at the comparison density with the first training length.
    ``models``: method name -> the model it trains through (surrogate or VIC-style)."""
    records, curves, scores, params = [], {}, {}, {}
    for years in config.train_years:
        for n in config.densities:
            setting = training_setting(grid, n, years)
            methods = ["dPL gA (surrogate)"]
            if n == config.comparison_density and years == config.train_years[0]:
                methods += list(COMPARISON_METHODS)
            for name in methods:
                out = train_setting_method(grid, setting, name, models[name], config, device=device, progress=progress)
                key = (setting.label, name)
                curves[key] = out.curve
                if out.params is not None:
                    params[key] = out.params
                scores.update({(setting.label, name, test): s for test, s in out.scores.items()})
                records.append(out.record)
                log.info("%s | %s: train RMSE %.4f, %.1f s", setting.label, name, out.record["final_train_rmse"],
                         out.record["wall_time_s"])
    return SettingResults(pd.DataFrame(records), curves, scores, params)


#: The paper's Fig. 9a numbers: median RMSE (m3/m3) and forward runs per cell to RMSE 0.05 at s16 and s4.
PAPER_REFERENCE = {"rmse_s16": 0.047, "rmse_s4": 0.044, "runs_to_0.05_s16": 900, "runs_to_0.05_s4": 50}


def chapter_summary(config: SoilMoistureConfig, build, trained: SettingResults, infilt_roughness: dict,
                    gapfill_scores: dict, surrogate_file: str) -> dict:
    """The soil-moisture chapter's ``summary.json`` content (keys: :data:`dplrepro.results.SCHEMAS`):
    median test scores per (setting, method, test), the training records, INFILT roughness,
    gap-filling scores, and the settings the scaling-curves chapter reuses (``build``: the
    surrogate's :class:`~dplrepro.experiments.surrogate.SurrogateConfig`)."""
    results = {result_key(*k): {m: float(v[m].median()) for m in ("rmse", "ubrmse", "corr", "bias")}
               for k, v in trained.scores.items()}
    return {
        "densities": list(config.densities), "train_years": list(config.train_years),
        "comparison": setting_label(config.comparison_density, config.train_years[0]),
        "results": results,
        "training": trained.records.replace({np.nan: None}).to_dict(orient="records"),
        "infilt_roughness": infilt_roughness,
        "gapfill": {k: gapfill_scores[k] for k in ("lstm", "persistence", "climatology")},
        "surrogate_file": surrogate_file,
        "settings": {"epochs": config.training.epochs, "sceua_maxn": config.sceua_maxn, "sceua_ngs": config.sceua_ngs,
                     "hidden_size": config.hidden_size, "surrogate_rounds": build.rounds,
                     "surrogate_epochs": build.training.epochs},
        "paper_reference": PAPER_REFERENCE,
    }

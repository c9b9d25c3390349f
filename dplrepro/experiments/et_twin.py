"""ET as an uncalibrated variable: a twin experiment on the real NLDAS-2 forcing.

MODIS MOD16A2 ET is not available here, so the paper's logic runs as a *twin*:

1. The model is the VIC-style model with VIC's soil-moisture stress of ET
   (``VICStyle(et_stress="vic")``: wilting and critical points from each layer's
   Brooks-Corey exponent and capacity, fixed root fractions), so ET is limited by soil
   water and the calibrated parameters control it.
2. Hidden "true" parameter fields (:func:`true_parameters`), in the unit cube::

       u = 0.05 + 0.9 sigmoid(b + sum_a w_a z_a + s e)

   ``z`` the standardised sand, clay, NDVI, field capacity and bulk density of the cells
   (attributes the networks also see), weights ``w ~ N(0, 0.8)`` and ``b ~ N(0, 0.5)``
   seeded; PLUS ``s e``, one spatially correlated random field per parameter that no
   attribute explains: white noise on the (row, col) grid smoothed with a Gaussian kernel
   whose standard deviation is ``correlation_cells`` cells, standardised over the cells
   to mean 0 and std 1, made orthogonal to the attributes (least-squares residual), and
   scaled per parameter so that it holds ``unexplained_share`` of
   the logit's spatial variance (``s² = share / (1 - share) · var(w·z)``). The unit values are scaled to
   each parameter's bounds; the 0.05/0.9 margin keeps the truth off the bounds, where
   recovery is ill-posed. :func:`attribute_share` measures how much of the truth's
   spatial variance the attributes explain.
3. The model run with the true parameters on the real forcing gives the true surface soil
   moisture and ET. "SMAP-like" observations keep the true soil moisture only on days the
   real SMAP observed that cell, plus Gaussian noise (0.02 m³/m³, the SMAP mission's
   accuracy target) -- the real sampling mask, a synthetic signal.
4. dPL (gA, gz) and SCE-UA are calibrated on those soil-moisture observations of the
   training cells and year only, once per seed; ET is never seen. Their ET over the test
   year is scored against the true 8-day ET (MOD16A2 convention) at the training cells and
   at their untrained neighbours (spatial test: dPL predicts parameters from the cells'
   own inputs, SCE-UA lends each the parameters of its nearest calibrated cell, the
   default is mid-range everywhere). gz's observation history never overlaps what it is
   trained or scored on (:func:`~dplrepro.experiments.soil_moisture.with_gz_history`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr
from scipy.ndimage import gaussian_filter

from ..data.et import aggregate_8day
from ..data.splits import SMAP_TEST_1Y, SMAP_TRAIN_1Y, density_mask, neighbour_cells
from ..evidence import convergence, paired_evidence
from ..metrics import corr, nse
from ..physics.vic_style import VICStyle
from . import soil_moisture as sm
from .grid import GridInputs, build_grid_inputs, fit_grid_normalizer

__all__ = ["TRUTH_ATTRIBUTES", "DEFAULT", "METHODS", "NETWORK_READ_DAYS", "WATER_LIMITED_MIN", "TwinTruth",
           "twin_model", "correlated_field", "true_parameters", "attribute_share", "make_twin_observations",
           "TwinSplit", "make_split", "Calibration", "calibrate_methods", "water_limited_fraction", "eight_day",
           "score_et", "et_table", "recovery_table", "dpl_curves", "sceua_curve", "convergence_summary",
           "PAPER_REFERENCE", "SUMMARY_METHODS", "chapter_summary"]

TRUTH_ATTRIBUTES = ("sand", "clay", "ndvi", "capa", "bulk")
#: The reference "method": every parameter at the middle of its range.
DEFAULT = "default (mid-range)"
METHODS = ("dPL gA", "dPL gz", "SCE-UA", DEFAULT)
#: Floor of PET (mm per 8 days) in the evaporative fraction ET/PET.
_PET_FLOOR = 1e-3
#: A (cell, day) is water-limited where the root-weighted stress ``beta`` is below 1 (less round-off).
_UNSTRESSED = 1.0 - 1e-6
#: The water-limited fraction the twin must reach to discriminate on ET (the chapter's test checks it).
WATER_LIMITED_MIN = 0.30
#: Days of each cell's warm-up window that dPL's network reads (its static parameters are a
#: function of them and of the attributes); the model still spins up over the whole warm-up.
#: On the CPU the LSTM's backward pass becomes an order of magnitude slower beyond about 190
#: steps (profiled, see the chapter), so the network reads the first half-year: April to
#: September of the year before the loss or score, in training and testing alike.
NETWORK_READ_DAYS = 182


@dataclass
class TwinTruth:
    """The hidden truth: unit-cube and physical parameters per cell, the attribute weights,
    the unexplained random field (logit units) and the standardised attributes."""

    unit: np.ndarray                 # [cell, n_params]
    physical: dict[str, np.ndarray]  # name -> [cell]
    weights: np.ndarray              # [n_attributes, n_params]
    bias: np.ndarray                 # [n_params]
    field: np.ndarray                # [cell, n_params], s * e (logit units)
    z: np.ndarray                    # [cell, n_attributes]
    attributes: tuple[str, ...] = TRUTH_ATTRIBUTES


def twin_model(warmup: int) -> VICStyle:
    """The twin's model (truth and every method): VIC-style, ten calibrated parameters, VIC ET stress."""
    return VICStyle(warmup=warmup, fixed=VICStyle.DEFAULT_FIXED, et_stress="vic")


def correlated_field(row: np.ndarray, col: np.ndarray, n_fields: int, correlation_cells: float,
                     rng: np.random.Generator) -> np.ndarray:
    """``[cell, n_fields]`` Gaussian random fields on the grid: white noise on the (row, col)
    bounding box smoothed with a Gaussian kernel of standard deviation ``correlation_cells``
    (cells), read at the cells and standardised to mean 0, std 1 over them."""
    if not correlation_cells > 0:
        raise ValueError(f"correlation_cells must be > 0 (grid cells), got {correlation_cells!r}")
    r = np.asarray(row, int) - int(np.min(row))
    c = np.asarray(col, int) - int(np.min(col))
    out = np.empty((r.size, n_fields))
    for k in range(n_fields):
        noise = rng.standard_normal((r.max() + 1, c.max() + 1))
        smooth = gaussian_filter(noise, sigma=correlation_cells, mode="reflect")[r, c]
        out[:, k] = (smooth - smooth.mean()) / smooth.std()
    return out


def true_parameters(grid: xr.Dataset, model: VICStyle, seed: int = 0, *, unexplained_share: float = 0.3,
                    correlation_cells: float = 3.0) -> TwinTruth:
    """Hidden parameter fields: a smooth function of the attributes plus a spatially correlated
    field no attribute explains, holding ``unexplained_share`` (0 <= share < 1) of each
    parameter's logit variance over the cells; ``correlation_cells`` in grid cells."""
    if not 0.0 <= unexplained_share < 1.0:
        raise ValueError(f"unexplained_share must be in [0, 1) (share of the logit variance), got {unexplained_share!r}")
    z = np.stack([grid[a].values.astype(np.float64) for a in TRUTH_ATTRIBUTES], -1)
    z = np.where(np.isfinite(z), z, np.nanmean(z, axis=0))
    z = (z - z.mean(0)) / (z.std(0) + 1e-9)
    rng = np.random.default_rng(seed)
    names = model.parameter_table.names
    weights = rng.normal(0.0, 0.8, size=(len(TRUTH_ATTRIBUTES), len(names)))
    bias = rng.normal(0.0, 0.5, size=len(names))
    e = correlated_field(grid["row"].values, grid["col"].values, len(names), correlation_cells, rng)
    design = np.column_stack([np.ones(len(z)), z])  # remove the field's chance overlap with the attributes
    e = e - design @ np.linalg.lstsq(design, e, rcond=None)[0]
    e = e / (e.std(0) + 1e-12)
    scale = np.sqrt(unexplained_share / (1.0 - unexplained_share)) * (z @ weights).std(0)
    field = e * scale
    unit = 0.05 + 0.9 / (1.0 + np.exp(-(bias + z @ weights + field)))
    physical = {n: np.asarray(model.parameter_table[n].scale(unit[:, i]), np.float32) for i, n in enumerate(names)}
    return TwinTruth(unit.astype(np.float32), physical, weights, bias, field, z)


def attribute_share(truth: TwinTruth) -> pd.Series:
    """Per parameter, the R² of the true logit ``b + w·z + s e`` regressed (least squares) on the
    attributes ``z``: the share of the truth's spatial variance that the attributes explain."""
    logit = truth.bias + truth.z @ truth.weights + truth.field
    design = np.column_stack([np.ones(len(truth.z)), truth.z])
    fit = design @ np.linalg.lstsq(design, logit, rcond=None)[0]
    r2 = 1.0 - ((logit - fit) ** 2).sum(0) / ((logit - logit.mean(0)) ** 2).sum(0)
    return pd.Series(r2, index=list(truth.physical), name="R² of the true logit on the attributes")


def make_twin_observations(forcing: dict[str, np.ndarray], smap_mask: np.ndarray, truth: TwinTruth,
                           model: VICStyle, *, noise: float = 0.02, seed: int = 0) -> dict[str, np.ndarray]:
    """True soil moisture/ET and SMAP-like observations (m³/m³, noise std ``noise``), ``[time - warmup, cell]``."""
    with torch.no_grad():
        f = {k: torch.as_tensor(v) for k, v in forcing.items()}
        out = model(f, {k: torch.as_tensor(v) for k, v in truth.physical.items()})
    sm_true = out["sm_surface"].numpy()
    et_true = out["et"].numpy()
    if smap_mask.shape != sm_true.shape:
        raise ValueError(f"SMAP mask {smap_mask.shape} does not match the simulation {sm_true.shape}")
    rng = np.random.default_rng(seed)
    obs = np.where(smap_mask, sm_true + rng.normal(0.0, noise, sm_true.shape), np.nan).astype(np.float32)
    return {"sm_true": sm_true, "et_true": et_true, "sm_obs": np.clip(obs, 0.0, None)}


# ----------------------------------------------------------------------------- cells and inputs
@dataclass
class TwinSplit:
    """Training cells and their untrained neighbours (spatial test), and the inputs of each period.

    ``train``: training cells, training year (SMAP_TRAIN_1Y); ``test``: training cells, test
    year (SMAP_TEST_1Y); ``spatial``: neighbour cells, test year. ``nearest``: for each
    neighbour cell, the position in ``train_cells`` of its nearest training cell.
    """

    train_cells: np.ndarray
    test_cells: np.ndarray
    nearest: np.ndarray
    train: GridInputs
    test: GridInputs
    spatial: GridInputs


def make_split(grid: xr.Dataset, density_n: int, warmup: int) -> TwinSplit:
    """Training cells one per ``density_n`` × ``density_n`` block, neighbours within one cell
    (Chebyshev), inputs normalised with the training cells' training-year statistics."""
    row, col = grid["row"].values, grid["col"].values
    mask = density_mask(row, col, int(density_n))
    train_cells = np.flatnonzero(mask)
    test_cells = np.flatnonzero(neighbour_cells(mask, row, col, radius=1))
    if test_cells.size == 0:
        raise ValueError(f"density n={density_n} leaves no untrained neighbour cell for the spatial test")
    position = {c: i for i, c in enumerate(train_cells)}
    nearest = np.array([position[c] for c in sm.nearest_training_cell(row, col, train_cells, test_cells)])
    norm = fit_grid_normalizer(SMAP_TRAIN_1Y.select(grid).isel(cell=train_cells))
    inputs = {name: build_grid_inputs(grid.isel(cell=cells), window, norm, warmup)
              for name, cells, window in (("train", train_cells, SMAP_TRAIN_1Y), ("test", train_cells, SMAP_TEST_1Y),
                                          ("spatial", test_cells, SMAP_TEST_1Y))}
    return TwinSplit(train_cells, test_cells, nearest, **inputs)


# ----------------------------------------------------------------------------- calibration
@dataclass
class Calibration:
    """Every method's parameters ``{method: {name: [seed, cell]}}`` at the training cells
    (``train``) and the spatial-test cells (``spatial``), the trainers and the SCE-UA result
    (for the convergence curves), and wall times (s). The default has a single "seed"."""

    train: dict[str, dict[str, np.ndarray]]
    spatial: dict[str, dict[str, np.ndarray]]
    trainers: dict
    sceua_result: object
    timings: dict[str, float]


def _member_params(out: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``param_<NAME> [cell, member]`` of a SeedEnsemble prediction -> ``{NAME: [seed, cell]}``."""
    return {k.removeprefix("param_"): np.ascontiguousarray(np.asarray(v).T) for k, v in out.items()
            if k.startswith("param_")}


def calibrate_methods(model: VICStyle, split: TwinSplit, config: sm.SoilMoistureConfig, seeds: Sequence[int], *,
                      device: str = "auto", progress: bool = False) -> Calibration:
    """dPL gA and gz (one :class:`~dplrepro.nets.dpl.SeedEnsemble` member per seed), SCE-UA (every
    cell once per seed, in one batched run) and the mid-range default, all fitted on soil
    moisture only.

    gz: the training history is the first ``GZ_HISTORY_DAYS`` of the training year (left out
    of the loss); a test's history comes from the year before the test year (inside its
    warm-up), at the training and the spatial-test cells alike. dPL's network reads the first
    :data:`NETWORK_READ_DAYS` days of each warm-up window."""
    if config.training.warmup != model.warmup:
        raise ValueError(f"the training warm-up ({config.training.warmup} days) must be the model's ({model.warmup})")
    seeds = [int(s) for s in seeds]
    # make_grid_dpl reads static parameters at day ``config.warmup`` of the input window; the
    # trainer and the model keep their own (whole) warm-up, config.training.warmup = model.warmup
    net_config = replace(config, warmup=min(NETWORK_READ_DAYS, model.warmup))
    train_p, spatial_p, trainers, timings = {}, {}, {}, {}
    for name, kind in (("dPL gA", "gA"), ("dPL gz", "gz")):
        t0 = time.time()
        gz = kind == "gz"
        train = sm.with_gz_history(split.train, training=True) if gz else split.train
        trainer = sm.train_grid_dpl(kind, model, train, net_config, device=device, progress=progress, seeds=seeds)
        read = trainer.model.members[0].parameter_network.static_step
        if read != net_config.warmup:
            raise RuntimeError(f"dPL's network reads {read} days, expected {net_config.warmup}: "
                               "soil_moisture.make_grid_dpl changed how it sets static_step")
        for store, inputs in ((train_p, split.test), (spatial_p, split.spatial)):
            inputs = sm.with_gz_history(inputs, training=False) if gz else inputs
            store[name] = _member_params(trainer.predict(inputs.tensors, start=inputs.first_day))
        trainers[name] = trainer
        timings[name] = time.time() - t0
    t0 = time.time()
    params, result, _ = sm.calibrate_grid_sceua(model, split.train, config, device=device, progress=progress,
                                                n_seeds=len(seeds))
    train_p["SCE-UA"] = params
    spatial_p["SCE-UA"] = {k: v[:, split.nearest] for k, v in params.items()}  # nearest calibrated cell
    timings["SCE-UA"] = time.time() - t0
    for store, n_cells in ((train_p, split.train_cells.size), (spatial_p, split.test_cells.size)):
        store[DEFAULT] = {n: np.full((1, n_cells), model.parameter_table[n].scale(0.5), np.float32)
                          for n in model.parameter_table.names}
    return Calibration(train_p, spatial_p, trainers, result, timings)


# ----------------------------------------------------------------------------- scores
def _simulate(model: VICStyle, inputs: GridInputs, params: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every output ``[seed, time, cell]`` for parameters ``{name: [seed, cell]}`` (one model run)."""
    k, n = np.asarray(next(iter(params.values()))).shape
    with torch.no_grad():
        f = {name: torch.as_tensor(v).repeat(1, k) for name, v in inputs.tensors.forcing.items()}
        p = {name: torch.as_tensor(np.asarray(params[name], np.float32).reshape(k * n))
             for name in model.parameter_table.names}
        out = model.cpu()(f, p)
    return {name: v.numpy().reshape(v.shape[0], k, n).transpose(1, 0, 2) for name, v in out.items()}


def water_limited_fraction(model: VICStyle, inputs: GridInputs, truth: Mapping[str, np.ndarray]) -> dict:
    """Under the true parameters ``{name: [cell]}``, over the period of ``inputs``: the fraction
    of (cell, day) pairs where ET is water-limited (root-weighted stress ``beta < 1``), the
    same weighted by PET, ET / PET summed over cells and days, and the fraction per cell."""
    out = _simulate(model, inputs, {k: np.asarray(v)[None] for k, v in truth.items()})
    beta, et = out["beta"][0], out["et"][0]
    pet = inputs.tensors.forcing["pet"][inputs.first_day:]
    limited = beta < _UNSTRESSED
    return {"fraction": float(limited.mean()), "pet_weighted": float((limited * pet).sum() / pet.sum()),
            "et_over_pet": float(et.sum() / pet.sum()), "per_cell": limited.mean(0)}


def eight_day(daily: np.ndarray, times) -> xr.DataArray:
    """8-day totals (MOD16A2 convention) of a daily ``[time, cell]`` array."""
    return aggregate_8day(xr.DataArray(daily, dims=("time", "cell"), coords={"time": times}))


def score_et(model: VICStyle, inputs: GridInputs, params: Mapping[str, Mapping[str, np.ndarray]],
             truth: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    """Per-seed, per-cell scores ``[seed, cell]`` over the period of ``inputs`` of each method's
    parameters against the truth's simulation (same spin-up): 8-day ET ``corr`` and ``nse``,
    ET/PET ``ef_corr`` and ``ef_nse`` (8-day totals), and ``sm_corr`` of daily surface soil moisture."""
    truth_out = _simulate(model, inputs, {k: np.asarray(v)[None] for k, v in truth.items()})
    et_truth = eight_day(truth_out["et"][0], inputs.time)
    ok = np.isfinite(et_truth.values).all(1)  # whole composites only
    et_truth = et_truth.values[ok]
    pet = np.maximum(eight_day(inputs.tensors.forcing["pet"][inputs.first_day:], inputs.time).values[ok], _PET_FLOOR)
    scores = {}
    for name, p in params.items():
        out = _simulate(model, inputs, p)
        rows = {m: [] for m in ("corr", "nse", "ef_corr", "ef_nse", "sm_corr")}
        for k in range(out["et"].shape[0]):
            et8 = eight_day(out["et"][k], inputs.time).values[ok]
            rows["corr"].append(corr(et8, et_truth, axis=0))
            rows["nse"].append(nse(et8, et_truth, axis=0))
            rows["ef_corr"].append(corr(et8 / pet, et_truth / pet, axis=0))
            rows["ef_nse"].append(nse(et8 / pet, et_truth / pet, axis=0))
            rows["sm_corr"].append(corr(out["sm_surface"][k], truth_out["sm_surface"][0], axis=0))
        scores[name] = {m: np.asarray(v, np.float64) for m, v in rows.items()}
    return scores


def _cell_median(x: np.ndarray) -> float:
    """Median over cells of the per-cell mean over seeds of ``[seed, cell]``."""
    x = np.asarray(x, float)
    seen = np.isfinite(x).any(0)
    return float(np.nanmedian(np.nanmean(x[:, seen], axis=0))) if seen.any() else float("nan")


_TABLE_COLUMNS = {"corr": "median ET corr", "nse": "median ET NSE", "ef_corr": "median ET/PET corr",
                  "ef_nse": "median ET/PET NSE", "sm_corr": "median soil-moisture corr (vs truth)"}


def et_table(scores: Mapping[str, Mapping[str, np.ndarray]]) -> pd.DataFrame:
    """One row per method: medians over cells of the seed-mean scores of :func:`score_et`."""
    return pd.DataFrame({name: {col: _cell_median(s[m]) for m, col in _TABLE_COLUMNS.items()}
                         for name, s in scores.items()}).T


def recovery_table(params: Mapping[str, Mapping[str, np.ndarray]], truth: Mapping[str, np.ndarray],
                   names) -> pd.DataFrame:
    """Correlation across cells of each recovered parameter with its true value, mean over seeds
    (rows: parameters, columns: methods; the default has no spatial pattern and is left out)."""
    table = {}
    for method, p in params.items():
        if method == DEFAULT:
            continue
        table[method] = {n: float(np.mean([np.corrcoef(row, truth[n])[0, 1] for row in np.asarray(p[n])]))
                         for n in names}
    return pd.DataFrame(table)


# ----------------------------------------------------------------------------- convergence
def dpl_curves(trainer) -> pd.DataFrame:
    """Per epoch: the training loss per member (the ensemble's summed loss over the members; RMSE,
    m³/m³) and each seed's median training RMSE over the cells (m³/m³, whole training year)."""
    h = trainer.history
    members = getattr(trainer.model, "n_members", 1)
    rmse = np.array([np.atleast_1d(e["rmse"]) for e in h.evaluations], float)
    frame = pd.DataFrame({"epoch": h.epoch, "loss per member": np.asarray(h.loss) / members})
    for k in range(rmse.shape[1]):
        frame[f"RMSE, seed {k}"] = rmse[:, k]
    return frame.set_index("epoch")


def sceua_curve(result) -> pd.DataFrame:
    """SCE-UA's convergence: medians over cells (and seeds) of the cumulative model runs and of
    the best RMSE (m³/m³) after the initial sample and after each shuffling loop."""
    return pd.DataFrame({"model runs per cell (median)": result.history_n_evaluations.float().median(dim=1).values.numpy(),
                         "best RMSE (median)": result.history_f.median(dim=1).values.numpy()})


def convergence_summary(calibration: Calibration) -> dict:
    """Per method, :func:`dplrepro.evidence.convergence` of its error curve (dPL: the seed-mean
    training RMSE per epoch; SCE-UA: the median best RMSE per shuffling loop)."""
    out = {}
    for name, trainer in calibration.trainers.items():
        curve = dpl_curves(trainer)
        out[name] = convergence(curve.filter(like="RMSE").mean(axis=1).values)
    out["SCE-UA"] = convergence(sceua_curve(calibration.sceua_result)["best RMSE (median)"].values)
    return out


# ----------------------------------------------------------------------------- summary
#: The paper's ET numbers (MODIS ET, VIC, s8): median corr and NSE of dPL gz and SCE-UA.
PAPER_REFERENCE = {"et_corr_dpl_gz": 0.75, "et_corr_sceua": 0.69, "et_nse_dpl_gz": 0.55, "et_nse_sceua": 0.38}
#: The chapter's method names -> their suffix in the summary keys (``et_corr_<suffix>``).
SUMMARY_METHODS = {"dPL gz": "dpl_gz", "SCE-UA": "sceua", "dPL gA": "dpl_ga", DEFAULT: "default"}


def chapter_summary(config: sm.SoilMoistureConfig, seeds: Sequence[int], split: TwinSplit,
                    scores: Mapping[str, Mapping[str, np.ndarray]], spatial: Mapping[str, Mapping[str, np.ndarray]],
                    recovery: pd.DataFrame, water: Mapping, truth_settings: Mapping, calibration: Calibration
                    ) -> dict:
    """The ET chapter's ``summary.json`` (keys: :data:`dplrepro.results.SCHEMAS`): medians over
    the training cells (``et_*``, ``ef_*``) and the spatial-test cells (``spatial``) of the
    seed-mean scores; the claims (dPL gz − SCE-UA, per-cell test-year 8-day ET NSE and corr at
    the training cells, ``[seed, cell]``); the water-limited fraction; the recovery; the
    truth's settings; the budgets and their convergence; wall times (s)."""
    seeds = [int(s) for s in seeds]
    runs = calibration.sceua_result.n_evaluations.float()
    summary = {
        "seeds": seeds,
        "claims": {"et": paired_evidence("et", scores["dPL gz"]["nse"], scores["SCE-UA"]["nse"], seeds,
                                         seed=seeds[0]),
                   "et_corr": paired_evidence("et_corr", scores["dPL gz"]["corr"], scores["SCE-UA"]["corr"], seeds,
                                              seed=seeds[0])},
        "twin_experiment": True, "n_train_cells": int(split.train_cells.size),
        "n_test_cells": int(split.test_cells.size), "density_n": int(config.comparison_density),
        "ef_nse": {name: _cell_median(s["ef_nse"]) for name, s in scores.items()},
        "ef_corr": {name: _cell_median(s["ef_corr"]) for name, s in scores.items()},
        "spatial": {name: {m: _cell_median(s[m]) for m in ("corr", "nse", "ef_corr", "ef_nse")}
                    for name, s in spatial.items()},
        "water_limited_fraction": float(water["fraction"]),
        "water_limited_pet_weighted": float(water["pet_weighted"]),
        "truth": {k: float(v) for k, v in truth_settings.items()},
        "recovery": {method: {n: float(v) for n, v in col.items()} for method, col in recovery.items()},
        "settings": {"epochs": int(config.training.epochs), "sceua_maxn": int(config.sceua_maxn),
                     "sceua_ngs": int(config.sceua_ngs), "n_seeds": len(seeds), "warmup": int(config.warmup),
                     "network_read_days": int(min(NETWORK_READ_DAYS, config.warmup)),
                     "sceua_runs_per_cell_median": float(runs.median())},
        "convergence": convergence_summary(calibration),
        "wall_time_s": {k: round(float(v), 1) for k, v in calibration.timings.items()},
        "paper_reference": PAPER_REFERENCE,
    }
    for name, suffix in SUMMARY_METHODS.items():
        for metric in ("corr", "nse"):
            summary[f"et_{metric}_{suffix}"] = _cell_median(scores[name][metric])
    return summary

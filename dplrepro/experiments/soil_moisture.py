"""Soil-moisture experiments on the SMAP + NLDAS-2 grid: inputs, densities, dPL and SCE-UA.

Forcing for the VIC-style model (and its surrogate) is ``prcp`` (mm/day), ``tmean``
(degC) and ``pet`` (mm/day, Priestley–Taylor from NLDAS-2 radiation and temperature).
The data start on 2015-04-01 with nothing before, so models are spun up by cycling the
first ``spinup`` days once before the record (a standard land-surface-model practice);
the spin-up days carry no observations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..data.normalize import Normalizer
from ..data.splits import TimeWindow
from ..physics.pet_models import priestley_taylor
from ..train import SiteTensors

log = logging.getLogger("dplrepro.experiments")

__all__ = ["MODEL_FORCINGS", "GRID_ATTRIBUTES", "grid_forcing", "with_spinup", "GridInputs", "build_grid_inputs",
           "fit_grid_normalizer"]

MODEL_FORCINGS = ("prcp", "tmean", "pet")
NETWORK_FORCINGS = ("prcp", "tmean", "pet", "spfh", "dswrf")
GRID_ATTRIBUTES = ("sand", "clay", "silt", "capa", "bulk", "ndvi")


def grid_forcing(ds: xr.Dataset) -> xr.Dataset:
    """Add ``pet`` (Priestley–Taylor, mm/day) to a grid dataset with NLDAS-2-style forcing.

    Without ``dlwrf`` (e.g. the synthetic twin grid), downward long-wave radiation is
    estimated from air temperature and humidity with Brutsaert's (1975) clear-sky
    emissivity ε = 1.24·(e_a/T)^(1/7) (e_a in hPa, T in K), and the dataset says so.
    """
    ds = ds.copy()
    if "dlwrf" not in ds and "pet" not in ds and {"tmean", "spfh"} <= set(ds.data_vars):
        from ..physics.pet_models import vapour_pressure_from_specific_humidity

        t_k = ds["tmean"] + 273.15
        e_hpa = 10.0 * vapour_pressure_from_specific_humidity(ds["spfh"], 101.3)  # kPa -> hPa
        ds["dlwrf"] = (1.24 * (e_hpa / t_k) ** (1 / 7) * 5.670374e-8 * t_k**4).assign_attrs(
            units="W/m2", long_name="downward long-wave radiation, estimated (Brutsaert 1975 clear sky)")
        log.info("no dlwrf in the grid data: estimated from tmean and spfh (Brutsaert 1975)")
    if "pet" not in ds:
        missing = [v for v in ("tmean", "dswrf", "dlwrf") if v not in ds]
        if missing:
            raise ValueError(f"cannot compute PET: the grid dataset lacks {missing}")
        ds["pet"] = priestley_taylor(ds["tmean"], ds["dswrf"], ds["dlwrf"]).assign_attrs(
            units="mm/day", long_name="potential ET (Priestley-Taylor)")
    return ds


def with_spinup(arr: np.ndarray, days: int) -> np.ndarray:
    """Prepend the first ``days`` time steps (axis 0) once: a cycled spin-up year."""
    if days > arr.shape[0]:
        raise ValueError(f"spin-up of {days} days is longer than the record ({arr.shape[0]} days)")
    return np.concatenate([arr[:days], arr], axis=0)


def fit_grid_normalizer(train_ds: xr.Dataset, attributes: Sequence[str] = GRID_ATTRIBUTES) -> Normalizer:
    """Statistics from the training period and training cells only."""
    norm = Normalizer(transforms={"prcp": "log1p"}, on_zero_std="unit")
    norm.fit(train_ds[list(NETWORK_FORCINGS)], dims=("cell", "time"))
    norm.fit(train_ds[list(attributes)], dims="cell")
    return norm


@dataclass
class GridInputs:
    """Tensors for one period on a set of cells, with the spin-up/warm-up in front."""

    tensors: SiteTensors
    cells: np.ndarray
    time: np.ndarray       # dates of the period (without the warm-up)
    first_day: int         # index of the period's first day in the tensors


def build_grid_inputs(ds: xr.Dataset, period: TimeWindow, normalizer: Normalizer, warmup: int,
                      attributes: Sequence[str] = GRID_ATTRIBUTES, target: str = "smap_am") -> GridInputs:
    """Network inputs, model forcings and target for ``period`` plus ``warmup`` days before it.

    Where the record does not reach ``warmup`` days before the period (SMAP starts
    2015-04-01), the first ``warmup`` days of the period are cycled as spin-up.
    """
    t0 = pd.Timestamp(period.start)
    start_available = pd.Timestamp(str(ds["time"].values[0]))
    sub = period.select(ds)
    n_before = int((t0 - start_available).days)
    if n_before >= warmup:
        full = ds.sel(time=slice(t0 - pd.Timedelta(days=warmup), pd.Timestamp(period.end)))
        prepend = None
    else:
        full, prepend = sub, warmup
        log.info("no %d days of forcing before %s: cycling the first %d days as spin-up", warmup, period.start, warmup)

    def arr(name: str) -> np.ndarray:
        a = full[name].transpose("time", "cell").values.astype(np.float32)
        return with_spinup(a, prepend) if prepend else a

    forc = [normalizer.transform(arr(v), v) for v in NETWORK_FORCINGS]
    attrs = np.stack([normalizer.transform(ds[a].values.astype(float), a) for a in attributes], -1)
    if np.isnan(attrs).any():
        log.info("%d missing attribute values set to the training mean", int(np.isnan(attrs).sum()))
        attrs = np.nan_to_num(attrs, nan=0.0)
    n_time = forc[0].shape[0]
    x = np.concatenate([np.stack(forc, -1), np.broadcast_to(attrs, (n_time,) + attrs.shape)], -1).astype(np.float32)
    forcing = {v: arr(v) for v in MODEL_FORCINGS}
    y = arr(target)
    if prepend:
        y[:prepend] = np.nan  # the cycled spin-up carries no observations
    return GridInputs(SiteTensors(x=x, forcing=forcing, target=y, site_ids=ds["cell"].values),
                      ds["cell"].values, sub["time"].values, warmup)


# ---------------------------------------------------------------------------- experiments
import time as _time  # noqa: E402
from dataclasses import field, replace  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from ..metrics import bias, corr, rmse, ubrmse  # noqa: E402
from ..nets.dpl import DplModel  # noqa: E402
from ..nets.param_nets import GA, GZ  # noqa: E402
from ..train import TrainConfig, Trainer  # noqa: E402

__all__ += ["SoilMoistureConfig", "PROFILES", "train_grid_dpl", "calibrate_grid_sceua", "simulate_grid",
            "grid_scores", "nearest_training_cell", "result_key", "runs_to_reach"]


@dataclass
class SoilMoistureConfig:
    """Settings of the soil-moisture experiments (see the chapter for the profiles)."""

    densities: tuple = (4, 2)             # n of the n×n blocks: 4 ~ paper s16, 2 ~ s8, 1 ~ s4
    train_years: tuple = (1,)             # 1: train 2015-04..2016-03, test 2016-04..2017-03; 2: train both years
    comparison_density: int = 2           # where every method is run (gz, SCE-UA, VIC-style direct)
    warmup: int = 365
    hidden_size: int = 64
    train: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=60, batch_sites=10_000, window=365, warmup=365, loss="rmse", optimizer="adam",
        learning_rate=1e-2, output="sm_surface", clip_grad_norm=1.0))
    sceua_maxn: int = 400
    sceua_ngs: int = 2
    seed: int = 0


PROFILES = {
    "quick": SoilMoistureConfig(),
    "full": SoilMoistureConfig(
        densities=(4, 2, 1), train_years=(1, 2), hidden_size=256, sceua_maxn=5000, sceua_ngs=4,
        train=TrainConfig(epochs=300, batch_sites=10_000, window=365, warmup=365, loss="rmse", optimizer="adam",
                          learning_rate=5e-3, output="sm_surface", clip_grad_norm=1.0)),
}


def make_grid_dpl(kind: str, n_inputs: int, process_model, config: SoilMoistureConfig) -> DplModel:
    """gA or gz (one component) around the VIC-style model or its surrogate."""
    names = process_model.parameter_table.names
    kw = dict(nmul=1, hidden_size=config.hidden_size, dropout=0.0)
    net = GA(n_inputs, names, **kw) if kind == "gA" else GZ(n_inputs, names, n_z=1, **kw)
    return DplModel(net, process_model)


def train_grid_dpl(kind: str, process_model, train: GridInputs, config: SoilMoistureConfig, *,
                   checkpoint_dir: Path | None = None, device: str = "auto", show_progress: bool = True) -> Trainer:
    """Train dPL on the training cells; every epoch records the training RMSE (all cells, whole period)."""
    torch.manual_seed(config.seed)
    model = make_grid_dpl(kind, train.tensors.x.shape[-1], process_model, config)
    tc = replace(config.train, seed=config.seed, device=device, show_progress=show_progress,
                 window=train.tensors.n_time - train.first_day)
    trainer = Trainer(model, tc, checkpoint_dir=checkpoint_dir)
    obs = train.tensors.target[train.first_day:]

    def evaluate(tr: Trainer) -> dict:
        sim = tr.predict(train.tensors, start=train.first_day)["sm_surface"]
        return {"rmse": float(np.nanmedian(rmse(sim, obs, axis=0))), "wall_time_s": _time.time() - t0}

    t0 = _time.time()
    trainer.fit(train.tensors, on_epoch_end=evaluate)
    return trainer


def simulate_grid(process_model, params: dict[str, np.ndarray], inputs: GridInputs, output: str = "sm_surface",
                  device: str = "cpu") -> np.ndarray:
    """Run a model with per-cell physical parameters ``{name: [cell]}``; ``[time, cell]`` after warm-up."""
    with torch.no_grad():
        f = {k: torch.as_tensor(v, device=device) for k, v in inputs.tensors.forcing.items()}
        p = {n: torch.as_tensor(np.asarray(params[n], np.float32), device=device)
             for n in process_model.parameter_table.names}
        return process_model.to(device)(f, p)[output].cpu().numpy()


def calibrate_grid_sceua(process_model, train: GridInputs, config: SoilMoistureConfig, *, device: str = "cpu",
                         progress: bool = True):
    """Per-cell SCE-UA (RMSE on SMAP days) through ``process_model``; returns (params, result, seconds)."""
    from ..calibrate.sceua import SceuaSettings, calibrate_process_model

    f = {k: torch.as_tensor(v, device=device) for k, v in train.tensors.forcing.items()}
    obs = torch.as_tensor(train.tensors.target[train.first_day:], device=device)
    settings = SceuaSettings(ngs=config.sceua_ngs, maxn=config.sceua_maxn, kstop=10, seed=config.seed)
    t0 = _time.time()
    cal = calibrate_process_model(process_model, f, obs, process_model.parameter_table, None, settings,
                                  output="sm_surface", param_transform=lambda n, v: v.reshape(-1).float(),
                                  max_virtual_sites=8192, progress=progress)
    params = {k: v.detach().cpu().numpy() for k, v in cal.params.items()}
    return params, cal.result, _time.time() - t0


def grid_scores(sim: np.ndarray, obs: np.ndarray, cells: np.ndarray) -> pd.DataFrame:
    """Per-cell Bias, Corr, RMSE, ubRMSE of ``[time, cell]`` arrays (SMAP days only)."""
    return pd.DataFrame({"bias": bias(sim, obs, axis=0), "corr": corr(sim, obs, axis=0),
                         "rmse": rmse(sim, obs, axis=0), "ubrmse": ubrmse(sim, obs, axis=0)},
                        index=pd.Index(cells, name="cell"))


def nearest_training_cell(row: np.ndarray, col: np.ndarray, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """For each test cell, the training cell nearest on the grid (SCE-UA's spatial transfer)."""
    d = (row[test, None] - row[None, train]) ** 2 + (col[test, None] - col[None, train]) ** 2
    return train[np.argmin(d, axis=1)]


def result_key(setting: str, method: str, test: str) -> str:
    """Key of one test result in the chapter's ``summary.json``: ``"s8, 1 yr", "dPL gA (surrogate)",
    "temporal"`` -> ``"s8_1_yr|dpl_ga_surrogate|temporal"``."""
    def slug(text: str) -> str:
        return text.lower().replace(" ", "_").replace("(", "").replace(")", "").replace(",", "").replace("-", "_")

    return f"{slug(setting)}|{slug(method)}|{test}"


def runs_to_reach(runs: np.ndarray, error: np.ndarray, threshold: float = 0.05) -> float:
    """First cost (forward runs per cell) at which ``error`` falls below ``threshold``; NaN if never."""
    hit = np.flatnonzero(np.asarray(error) < threshold)
    return float(np.asarray(runs)[hit[0]]) if hit.size else float("nan")


# ------------------------------------------------------------- one training setting, one method
# The soil-moisture chapter and the scaling-curves chapter both train through these, so a
# point of a scaling curve is the same computation whichever chapter made it.

__all__ += ["DENSITY_LABEL", "METHOD_KIND", "setting_label", "chapter_config", "chapter_surrogate", "TrainingSetting",
            "training_setting", "setting_inputs", "MethodOutcome", "train_setting_method"]

#: Block size ``n`` on our grid -> the paper's density name (inverse of ``splits.PAPER_DENSITY``).
DENSITY_LABEL = {1: "s4", 2: "s8", 4: "s16"}
#: Method name (as in the chapter's tables and ``summary.json``) -> how it is trained.
METHOD_KIND = {"dPL gA (surrogate)": "gA", "dPL gz (surrogate)": "gz", "dPL gA (VIC-style direct)": "gA",
               "SCE-UA (surrogate)": "sceua"}


def setting_label(density_n: int, years: int) -> str:
    """``"s16, 1 yr"``: the paper's density name (``n<k>`` if it has none) and the training years."""
    return f"{DENSITY_LABEL.get(int(density_n), f'n{density_n}')}, {int(years)} yr"


def chapter_config(profile: str, *, seed: int = 0, epochs: int = 0, sceua_maxn: int = 0, densities="",
                   train_years="") -> SoilMoistureConfig:
    """The soil-moisture chapter's config from its parameters (0 / "" keep the profile's value).

    ``densities`` and ``train_years`` are comma-separated strings (``"4,2"``) or sequences.
    The comparison density falls back to the last density when the profile's is not run.
    """
    def as_tuple(v) -> tuple:
        return tuple(int(x) for x in (str(v).split(",") if isinstance(v, str) else v))

    cfg = PROFILES[profile]
    changes: dict = {"seed": int(seed)}
    if epochs:
        changes["train"] = replace(cfg.train, epochs=int(epochs))
    if sceua_maxn:
        changes["sceua_maxn"] = int(sceua_maxn)
    if densities not in ("", None, ()):
        changes["densities"] = as_tuple(densities)
    if train_years not in ("", None, ()):
        changes["train_years"] = as_tuple(train_years)
    cfg = replace(cfg, **changes)
    if cfg.comparison_density not in cfg.densities:
        cfg = replace(cfg, comparison_density=cfg.densities[-1])
    return cfg


def chapter_surrogate(grid: xr.Dataset, data_source: str, profile: str, results_root: Path, *, seed: int = 0,
                      rounds: int = -1, epochs: int = 0, device: str = "auto", show_progress: bool = True):
    """The surrogate chapter's surrogate (its ``profile``; ``rounds`` -1 / ``epochs`` 0: that profile's
    values), loaded from ``<results_root>/surrogate/<profile>/`` or built and cached there.

    Returns ``(bundle, build)``: the :class:`~dplrepro.experiments.surrogate.SurrogateBundle` and
    the build settings used (their values identify the cached file).
    """
    from . import surrogate as sx

    exp = sx.PROFILES[profile]
    build = replace(exp.build, seed=int(seed))
    if rounds is not None and int(rounds) >= 0:
        build = replace(build, rounds=int(rounds))
    if epochs:
        build = replace(build, train=replace(build.train, epochs=int(epochs)))
    bundle = sx.obtain_surrogate(grid, data_source, exp, build, Path(results_root) / "surrogate" / profile,
                                 device=device, show_progress=show_progress)
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
    from ..data.splits import SMAP_TRAIN_1Y, SMAP_TRAIN_2Y, density_mask, neighbour_cells

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
                         show_progress: bool = True) -> MethodOutcome:
    """Train method ``name`` (a key of :data:`METHOD_KIND`) through ``model`` in ``setting``, then test it.

    dPL is trained on the training cells (:func:`train_grid_dpl`); SCE-UA calibrates each
    training cell alone (:func:`calibrate_grid_sceua`) and, in the spatial test, lends each
    test cell the parameters of its nearest calibrated cell. The temporal test (same cells,
    the following year) exists only for 1-year training. ``tests=()`` skips testing.
    """
    from ..data.splits import SMAP_TEST_1Y
    from ..nets.lstm_surrogate import LSTMSurrogate

    if name not in METHOD_KIND:
        raise ValueError(f"unknown method {name!r}; one of {sorted(METHOD_KIND)}")
    kind, warmup = METHOD_KIND[name], config.warmup
    row, col = grid["row"].values, grid["col"].values
    cells_all = setting.train_cells
    t0 = _time.time()
    train = setting_inputs(grid, setting, cells_all, setting.window, warmup)
    z_train = train.tensors.target[train.first_day:]
    test_sets = {}
    if "temporal" in tests and setting.years == 1:
        test_sets["temporal"] = (cells_all, SMAP_TEST_1Y, z_train)
    if "spatial" in tests and setting.near_cells.size:
        test_sets["spatial"] = (setting.near_cells, setting.window, None)
    predict, params = {}, None
    if kind == "sceua":
        p_train, result, seconds = calibrate_grid_sceua(model, train, config, progress=show_progress)
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
        trainer = train_grid_dpl(kind, model, train, config, device=device, show_progress=show_progress)
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
              "runs_to_rmse_0.05": runs_to_reach(runs, err, 0.05), "wall_time_s": round(_time.time() - t0, 1)}
    return MethodOutcome(record, curve, params, scores)

"""Building an LSTM surrogate of a process model (the paper's route for VIC).

1. **Round 0**: parameter sets are Latin-hypercube samples over the whole parameter
   space (unit cube scaled to the table's bounds), several per cell; the process model
   is run for every (cell, parameter set) pair -- a *virtual site* -- and the surrogate is
   trained to reproduce its outputs from forcings + parameters.
2. **Refinement rounds 1..R**: the current surrogate is used to estimate each cell's
   best parameters against the observations (per-cell gradient descent through the
   surrogate, :func:`fit_cell_parameters`); new parameter sets are sampled around those
   estimates with a shrinking spread, the process model is run for them, and the
   surrogate is trained further on old + new runs. This concentrates the emulator's
   accuracy where calibration will look, as the paper did with 4 rounds around the
   historically calibrated parameters.
3. **Evaluation** on held-out cells *and* held-out parameter sets: correlation and RMSE
   of the surrogate against the process model.

Arrays are time-major ``[time, site]``; parameters travel in the unit cube ``[site, n]``
in the table's order, named wherever they reach a model.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..cache import content_key, load_cached, set_aside
from ..data.splits import SMAP_TRAIN_1Y, TimeWindow, density_mask
from ..losses import rmse_loss
from ..evidence import paired_evidence
from ..metrics import corr, rmse
from ..nets.lstm_surrogate import LSTMSurrogate
from ..physics.parameters import ParameterSpec, ParameterTable
from ..physics.vic_style import VICStyle
from ..train import SiteTensors, TrainConfig, Trainer
from ..utils import atomic_path, flush_denormals, resolve_device, write_json_atomic
from .grid import build_grid_inputs, fit_grid_normalizer

log = logging.getLogger("dplrepro.experiments")

__all__ = [
    "SurrogateConfig", "latin_hypercube", "sample_around", "run_process_model", "make_surrogate",
    "train_surrogate", "evaluate_surrogate", "fit_cell_parameters", "build_surrogate", "SurrogateReport",
    "SurrogateExperiment", "PROFILES", "save_surrogate", "load_surrogate", "obtain_surrogate", "SurrogateBundle",
    "PAPER_REFERENCE_CORR", "chapter_summary", "REFINE_DENSITIES", "refinement_cells", "fresh_heldout_scores",
]


@dataclass
class SurrogateConfig:
    """How the surrogate is built (defaults: the quick CPU profile)."""

    outputs: Sequence[str] = ("sm_surface", "et")
    samples_per_cell: int = 4          # round 0: LHS parameter sets per cell
    refine_samples_per_cell: int = 2   # each refinement round
    rounds: int = 4                    # refinement rounds after round 0
    refine_spread: Sequence[float] = (0.2, 0.1, 0.05, 0.025)  # std in the unit cube, per round
    hidden_size: int = 64
    warmup: int = 365
    training: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=30, batch_sites=128, window=365, warmup=365, loss="rmse", optimizer="adam",
        learning_rate=3e-3, output="y"))
    refine_epochs: int = 10
    calibration_steps: int = 150       # per-cell gradient steps to find the best estimates
    seed: int = 0


def latin_hypercube(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points in ``[0, 1]^d``: one per equal-probability stratum in every dimension.

    Points keep a margin of 0.1 % of a stratum from its edges, so rounding to float32
    can never move a point into the neighbouring stratum.
    """
    strata = np.stack([rng.permutation(n) for _ in range(d)], axis=1)
    return ((strata + 0.001 + 0.998 * rng.random((n, d))) / n).astype(np.float32)


def sample_around(center: np.ndarray, k: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    """``k`` samples per row of ``center [site, d]`` (unit cube), Gaussian with std ``spread``, clipped."""
    noise = rng.normal(0.0, spread, size=(center.shape[0], k, center.shape[1]))
    return np.clip(center[:, None, :] + noise, 0.0, 1.0).astype(np.float32)


def _physical(table: ParameterTable, unit: torch.Tensor) -> dict[str, torch.Tensor]:
    return {name: table[name].scale(unit[:, i]) for i, name in enumerate(table.names)}


@torch.no_grad()
def run_process_model(model: nn.Module, forcing: Mapping[str, np.ndarray], cell: np.ndarray, unit: np.ndarray,
                      outputs: Sequence[str], *, chunk: int = 4096, device: str = "auto") -> dict[str, np.ndarray]:
    """Run ``model`` for virtual sites (forcing of ``cell[v]``, parameters ``unit[v]``).

    Returns ``{output: [time - warmup, n_virtual]}``.
    """
    device = resolve_device(device)
    table = model.parameter_table
    res: dict[str, list] = {o: [] for o in outputs}
    for lo in range(0, len(cell), chunk):
        idx = slice(lo, lo + chunk)
        f = {k: torch.as_tensor(v[:, cell[idx]], device=device) for k, v in forcing.items()}
        out = model(f, _physical(table, torch.as_tensor(unit[idx], device=device)))
        for o in outputs:
            res[o].append(out[o].float().cpu().numpy())
    return {o: np.concatenate(v, axis=1) for o, v in res.items()}


class _EmulatorFit(nn.Module):
    """Adapter so the project's one Trainer fits the surrogate: x -> standardised outputs."""

    def __init__(self, surrogate: LSTMSurrogate) -> None:
        super().__init__()
        self.surrogate = surrogate

    def forward(self, x, forcing=None, z=None):
        return {"y": self.surrogate.forward_normalised(x)[self.surrogate.warmup:]}


def make_surrogate(table: ParameterTable, forcing: Mapping[str, np.ndarray], runs: Mapping[str, np.ndarray],
                   config: SurrogateConfig) -> LSTMSurrogate:
    """A fresh surrogate whose standardisation comes from the forcing and the first runs."""
    names = tuple(forcing)
    return LSTMSurrogate(
        table, names, tuple(config.outputs),
        forcing_mean=[float(np.mean(forcing[n])) for n in names],
        forcing_std=[float(np.std(forcing[n]) + 1e-6) for n in names],
        output_mean=[float(np.nanmean(runs[o])) for o in config.outputs],
        output_std=[float(np.nanstd(runs[o]) + 1e-6) for o in config.outputs],
        hidden_size=config.hidden_size, warmup=config.warmup,
    )


def _site_tensors(surrogate: LSTMSurrogate, forcing: Mapping[str, np.ndarray], cell: np.ndarray, unit: np.ndarray,
                  runs: Mapping[str, np.ndarray]) -> SiteTensors:
    with torch.no_grad():
        f = {k: torch.as_tensor(v[:, cell]) for k, v in forcing.items()}
        x = surrogate.inputs(f, _physical(surrogate.parameter_table, torch.as_tensor(unit))).numpy()
    w = surrogate.warmup
    y = np.stack([(runs[o] - float(surrogate.output_mean[i])) / float(surrogate.output_std[i])
                  for i, o in enumerate(surrogate.output_names)], -1)
    target = np.concatenate([np.full((w,) + y.shape[1:], np.nan, np.float32), y.astype(np.float32)], 0)
    return SiteTensors(x=x.astype(np.float32), forcing={}, target=target)


def train_surrogate(surrogate: LSTMSurrogate, forcing, cell, unit, runs, train: TrainConfig, *, device="auto",
                    progress=True) -> Trainer:
    """Fit (or continue fitting) ``surrogate`` on process-model runs with the project's Trainer."""
    data = _site_tensors(surrogate, forcing, cell, unit, runs)
    # the loss window must start after the spin-up; the Trainer's warmup is that offset
    trainer = Trainer(_EmulatorFit(surrogate), replace(train, device=device, progress=progress,
                                                       warmup=surrogate.warmup,
                                                       window=min(train.window, data.n_time - surrogate.warmup)))
    trainer.fit(data, resume=False)
    return trainer


@torch.no_grad()
def evaluate_surrogate(surrogate: LSTMSurrogate, forcing, cell, unit, runs, *,
                       device: str = "auto") -> dict[str, np.ndarray]:
    """Per-virtual-site correlation and RMSE of surrogate vs process model, for each output."""
    device = resolve_device(device)
    surrogate = surrogate.to(device).eval()
    f = {k: torch.as_tensor(v[:, cell], device=device) for k, v in forcing.items()}
    out = surrogate(f, _physical(surrogate.parameter_table, torch.as_tensor(unit, device=device)))
    scores = {}
    for o in surrogate.output_names:
        sim = out[o].cpu().numpy()
        scores[f"{o}_corr"] = corr(sim, runs[o], axis=0)
        scores[f"{o}_rmse"] = rmse(sim, runs[o], axis=0)
    return scores


def fit_cell_parameters(model: nn.Module, forcing: Mapping[str, np.ndarray], obs: np.ndarray, output: str, *,
                        steps: int = 150, lr: float = 0.05, seed: int = 0, device: str = "auto") -> np.ndarray:
    """Best per-cell parameters (unit cube ``[cell, n]``) by gradient descent through ``model``.

    Each cell has its own free parameters ``u = sigmoid(w)``; the loss is the RMSE of
    ``output`` against ``obs [time - warmup, cell]`` (NaN ignored). Used to find where the
    surrogate must be accurate; cheap because one batched run serves every cell. Subnormal
    floats are flushed to zero (:func:`~dplrepro.utils.flush_denormals`).
    """
    flush_denormals()
    device = resolve_device(device)
    table = model.parameter_table
    gen = torch.Generator().manual_seed(seed)
    w = torch.zeros(obs.shape[1], len(table), device=device)
    w += 0.1 * torch.randn(w.shape, generator=gen).to(device)
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    f = {k: torch.as_tensor(v, device=device) for k, v in forcing.items()}
    target = torch.as_tensor(obs, device=device)
    for _ in range(steps):
        out = model(f, _physical(table, torch.sigmoid(w)))
        loss = rmse_loss(out[output], target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return torch.sigmoid(w).detach().cpu().numpy()


@dataclass
class SurrogateReport:
    """What building the surrogate produced, round by round."""

    surrogate: LSTMSurrogate
    rounds: list[dict]
    heldout: dict[str, np.ndarray]
    process_seconds_per_run: float
    surrogate_seconds_per_run: float


def build_surrogate(
    process_model: nn.Module,
    forcing: Mapping[str, np.ndarray],
    obs: np.ndarray,
    train_cells: np.ndarray,
    heldout_cells: np.ndarray,
    config: SurrogateConfig,
    *,
    device: str = "auto",
    progress: bool = True,
    on_round: Callable[[int, LSTMSurrogate], None] | None = None,
    refine_cells: np.ndarray | None = None,
    heldout_source: np.ndarray | None = None,
) -> SurrogateReport:
    """Round 0 + ``config.rounds`` refinement rounds; returns the surrogate and its scores.

    ``forcing``: ``{name: [time, cell]}`` including the spin-up; ``obs``: observations
    ``[time - warmup, cell]`` of ``config.outputs[0]`` used only to locate the best
    parameters for refinement, and only at ``refine_cells`` (default: the training cells);
    pass observations that no later test scores (NaN elsewhere). Held-out cells never
    enter training, and their observations are never read: their "near calibrated"
    evaluation sets are drawn around the estimate of the refinement cell
    ``heldout_source[i]`` (an index into ``refine_cells``; default the first).
    """
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    table = process_model.parameter_table
    d = len(table)
    refine_cells = np.asarray(train_cells if refine_cells is None else refine_cells)
    if refine_cells.size == 0 and config.rounds > 0:
        raise ValueError("no refinement cells: the surrogate needs cells whose observations it may use")
    heldout_source = (np.zeros(len(heldout_cells), int) if heldout_source is None else np.asarray(heldout_source))

    k = config.samples_per_cell
    cell = np.repeat(train_cells, k)
    unit = latin_hypercube(len(cell), d, rng)
    runs = run_process_model(process_model, forcing, cell, unit, config.outputs, device="cpu")
    # standardisation from training cells only: held-out cells never enter training
    surrogate = make_surrogate(table, {n: v[:, train_cells] for n, v in forcing.items()}, runs, config)

    # held-out test: other cells, parameter sets from the whole space and near calibrated values
    h_cell = np.repeat(heldout_cells, 2)
    h_unit = latin_hypercube(len(h_cell), d, rng)
    h_runs = run_process_model(process_model, forcing, h_cell, h_unit, config.outputs, device="cpu")

    rounds = []
    for r in range(config.rounds + 1):
        t0 = time.time()
        tc = config.training if r == 0 else replace(config.training, epochs=config.refine_epochs)
        trainer = train_surrogate(surrogate, forcing, cell, unit, runs, tc, device=device, progress=progress)
        surrogate = trainer.model.surrogate.cpu()
        scores = evaluate_surrogate(surrogate, forcing, h_cell, h_unit, h_runs)
        first = config.outputs[0]
        rounds.append({"round": r, "n_runs": int(len(cell)), "train_seconds": time.time() - t0,
                       "final_loss": trainer.history.loss[-1],
                       "heldout_median_corr": float(np.nanmedian(scores[f"{first}_corr"])),
                       "heldout_median_rmse": float(np.nanmedian(scores[f"{first}_rmse"]))})
        log.info("surrogate round %d: %s", r, rounds[-1])
        if on_round:
            on_round(r, surrogate)
        if r == config.rounds:
            break
        # refine: best estimates through the current surrogate, sample around them
        refine_forcing = {n: v[:, refine_cells] for n, v in forcing.items()}
        best = fit_cell_parameters(surrogate, refine_forcing, obs[:, refine_cells], first,
                                   steps=config.calibration_steps, seed=config.seed + r)
        spread = config.refine_spread[min(r, len(config.refine_spread) - 1)]
        new_unit = sample_around(best, config.refine_samples_per_cell, spread, rng).reshape(-1, d)
        new_cell = np.repeat(refine_cells, config.refine_samples_per_cell)
        new_runs = run_process_model(process_model, forcing, new_cell, new_unit, config.outputs, device="cpu")
        cell, unit = np.concatenate([cell, new_cell]), np.concatenate([unit, new_unit])
        runs = {o: np.concatenate([runs[o], new_runs[o]], axis=1) for o in config.outputs}
        # held-out parameter sets near calibrated values: around the nearest refinement cell's estimate
        near = sample_around(best[heldout_source], 1, spread, rng).reshape(-1, d)
        near_runs = run_process_model(process_model, forcing, heldout_cells, near, config.outputs, device="cpu")
        h_cell, h_unit = np.concatenate([h_cell, heldout_cells]), np.concatenate([h_unit, near])
        h_runs = {o: np.concatenate([h_runs[o], near_runs[o]], axis=1) for o in config.outputs}

    heldout = evaluate_surrogate(surrogate, forcing, h_cell, h_unit, h_runs)
    # speed of one run per virtual site: process model vs surrogate, same batch, same device (CPU)
    n = min(256, len(h_cell))
    t0 = time.perf_counter()
    run_process_model(process_model, forcing, h_cell[:n], h_unit[:n], config.outputs)
    t_proc = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    evaluate_surrogate(surrogate, forcing, h_cell[:n], h_unit[:n], {o: v[:, :n] for o, v in h_runs.items()})
    t_sur = (time.perf_counter() - t0) / n
    return SurrogateReport(surrogate, rounds, heldout, t_proc, t_sur)


@dataclass
class SurrogateExperiment:
    """A profile of the surrogate chapter: which cells and period, and how to build."""

    period_start: str = "2015-04-01"
    period_end: str = "2016-03-31"
    train_density: int = 4        # training cells: one per n×n block (n=4 ~ the paper's s16)
    n_heldout_cells: int = 20
    n_seeds: int = 3              # surrogates built with seeds seed, seed + 1, ... (the claim's seeds)
    build: SurrogateConfig = field(default_factory=SurrogateConfig)


PROFILES = {
    "quick": SurrogateExperiment(build=SurrogateConfig(
        samples_per_cell=4, refine_samples_per_cell=2, rounds=4, hidden_size=64, refine_epochs=4,
        calibration_steps=60,
        training=TrainConfig(epochs=20, batch_sites=96, window=365, warmup=365, loss="rmse", optimizer="adam",
                          learning_rate=5e-3, output="y"))),
    "full": SurrogateExperiment(
        period_end="2017-03-31", train_density=1, n_heldout_cells=60, n_seeds=1,
        build=SurrogateConfig(
            samples_per_cell=16, refine_samples_per_cell=8, rounds=4, hidden_size=256, refine_epochs=30,
            calibration_steps=300,
            training=TrainConfig(epochs=150, batch_sites=512, window=365, warmup=365, loss="rmse", optimizer="adam",
                              learning_rate=2e-3, output="y"))),
}


def save_surrogate(surrogate: LSTMSurrogate, path) -> None:
    """Save weights and everything needed to rebuild the module (atomic write)."""
    state = {
        "parameters": [(s.name, s.low, s.high, s.unit, s.description) for s in surrogate.parameter_table],
        "forcing_names": surrogate.forcing_names, "output_names": surrogate.output_names,
        "hidden_size": surrogate.lstm.hidden_size, "warmup": surrogate.warmup,
        "state_dict": surrogate.state_dict(),
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_surrogate(path) -> LSTMSurrogate:
    """Inverse of :func:`save_surrogate`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    sd = state["state_dict"]
    sur = LSTMSurrogate(
        ParameterTable([ParameterSpec(*p) for p in state["parameters"]]), state["forcing_names"],
        state["output_names"], forcing_mean=sd["forcing_mean"].tolist(), forcing_std=sd["forcing_std"].tolist(),
        output_mean=sd["output_mean"].tolist(), output_std=sd["output_std"].tolist(),
        hidden_size=state["hidden_size"], warmup=state["warmup"])
    sur.load_state_dict(sd)
    return sur.eval()


@dataclass
class SurrogateBundle:
    """A built (or cached) surrogate with how it was built."""

    surrogate: LSTMSurrogate
    rounds: list[dict]
    timing: dict
    train_cells: np.ndarray
    heldout_cells: np.ndarray
    cache: object  # Path of the saved surrogate
    loaded_from_cache: bool
    refine_cells: np.ndarray = field(default_factory=lambda: np.zeros(0, int))


#: Soil-moisture training densities whose training cells (all of them) may lend the surrogate's
#: refinement their SMAP observations: a refinement cell is a training cell at every one of them.
REFINE_DENSITIES = (2, 4)


def refinement_cells(grid, train_cells: np.ndarray) -> np.ndarray:
    """The training cells that are training cells at every density of :data:`REFINE_DENSITIES`,
    so that no soil-moisture test cell's observations ever steer the surrogate."""
    row, col = grid["row"].values, grid["col"].values
    every = np.logical_and.reduce([density_mask(row, col, n) for n in REFINE_DENSITIES])
    return np.asarray([c for c in train_cells if every[c]], dtype=int)


def _cached_surrogate(cache: Path, report_path: Path, key: str):
    """(surrogate, saved report) from a cache pair if readable and made with content key ``key``;
    otherwise None, with both files set aside (:func:`~dplrepro.cache.load_cached`)."""
    saved = load_cached(report_path, lambda p: json.loads(p.read_text()),
                        lambda r: r.get("cache_key") if isinstance(r, dict) else None, key)
    surrogate = load_cached(cache, load_surrogate, lambda _: key, key) if saved is not None else None
    for path in (cache, report_path):  # one of the pair failed: the other is not used alone
        if surrogate is None and path.exists():
            set_aside(path, f"its partner {cache.name if path == report_path else report_path.name} is not usable")
    return None if surrogate is None else (surrogate, saved)


def obtain_surrogate(grid, data_source: str, experiment: SurrogateExperiment, build: SurrogateConfig, out_dir,
                     *, device: str = "auto", progress: bool = True, cells_seed: int | None = None) -> SurrogateBundle:
    """Build the surrogate for ``grid`` or load it from ``out_dir`` if built before with the same settings.

    The cache key (:func:`~dplrepro.cache.content_key`, also stored in the report and checked
    on load) hashes the build settings, the period, the cells, the inputs by content, code and
    versions, so the surrogate chapter and the soil-moisture chapter share one surrogate and a
    surrogate built from other data or code is never reused (``data_source`` only names them). Held-out
    cells are drawn with ``cells_seed`` (default ``build.seed``), so surrogates of several
    seeds can share them. Refinement reads SMAP only at :func:`refinement_cells` and only in
    the 1-year training period :data:`~dplrepro.data.splits.SMAP_TRAIN_1Y`.
    """
    period = TimeWindow(experiment.period_start, experiment.period_end)
    row, col = grid["row"].values, grid["col"].values
    train_cells = np.flatnonzero(density_mask(row, col, experiment.train_density))
    rng = np.random.default_rng(build.seed if cells_seed is None else cells_seed)
    others = np.setdiff1d(np.arange(grid.sizes["cell"]), train_cells)
    if others.size == 0:
        raise ValueError(f"train_density={experiment.train_density} leaves no held-out cells; use a sparser density")
    heldout_cells = np.sort(rng.choice(others, min(experiment.n_heldout_cells, others.size), replace=False))
    refine = refinement_cells(grid, train_cells)
    nearest = np.argmin((row[heldout_cells, None] - row[None, refine]) ** 2
                        + (col[heldout_cells, None] - col[None, refine]) ** 2, axis=1) if refine.size else None
    normalizer = fit_grid_normalizer(period.select(grid).isel(cell=train_cells))
    inputs = build_grid_inputs(grid, period, normalizer, build.warmup)
    key = content_key(build=asdict(build), period=[period.start, period.end], train=train_cells, heldout=heldout_cells,
                      refine=refine, refine_window=[SMAP_TRAIN_1Y.start, SMAP_TRAIN_1Y.end], inputs=inputs.tensors,
                      device=str(resolve_device(device)))
    out_dir = Path(out_dir)
    cache, report_path = out_dir / f"surrogate-{key}.pt", out_dir / f"surrogate-{key}.json"
    if cache.exists() and report_path.exists():
        loaded = _cached_surrogate(cache, report_path, key)
        if loaded is not None:
            surrogate, saved = loaded
            return SurrogateBundle(surrogate, saved["rounds"], saved["timing"], train_cells, heldout_cells, cache, True,
                                   refine)
    process = VICStyle(warmup=build.warmup, fixed=VICStyle.DEFAULT_FIXED)
    smap = inputs.tensors.target[inputs.first_day:].copy()
    dates = pd.DatetimeIndex(inputs.time)
    in_train = (dates >= pd.Timestamp(SMAP_TRAIN_1Y.start)) & (dates <= pd.Timestamp(SMAP_TRAIN_1Y.end))
    smap[~np.asarray(in_train)] = np.nan   # never the test year
    report = build_surrogate(process, inputs.tensors.forcing, smap, train_cells, heldout_cells, build, device=device,
                             progress=progress, refine_cells=refine, heldout_source=nearest)
    timing = {"process_seconds_per_run": report.process_seconds_per_run,
              "surrogate_seconds_per_run": report.surrogate_seconds_per_run}
    save_surrogate(report.surrogate, cache)
    write_json_atomic(report_path, {"rounds": report.rounds, "timing": timing, "cache_key": key})
    return SurrogateBundle(report.surrogate, report.rounds, timing, train_cells, heldout_cells, cache, False, refine)


#: The paper's median correlation of the surrogate with VIC (surface soil moisture).
PAPER_REFERENCE_CORR = 0.92


def fresh_heldout_scores(surrogates: Sequence[LSTMSurrogate], process_model: nn.Module, forcing, heldout_cells,
                         seed: int, per_cell: int = 3) -> list[dict[str, np.ndarray]]:
    """Every surrogate's :func:`evaluate_surrogate` scores on ONE fresh held-out test: the
    held-out cells, ``per_cell`` Latin-hypercube parameter sets each over the whole space
    (drawn with ``seed``), so the scores of several seeds are paired site by site."""
    rng = np.random.default_rng(seed)
    cell = np.repeat(heldout_cells, per_cell)
    unit = latin_hypercube(cell.size, len(process_model.parameter_table), rng)
    truth = run_process_model(process_model, forcing, cell, unit, surrogates[0].output_names)
    return [evaluate_surrogate(s, forcing, cell, unit, truth) for s in surrogates]


def chapter_summary(bundles: Sequence[SurrogateBundle], build: SurrogateConfig,
                    scores: Sequence[Mapping[str, np.ndarray]], seeds: Sequence[int]) -> dict:
    """The surrogate chapter's ``summary.json`` content (keys: :data:`dplrepro.results.SCHEMAS`):
    the claim (median held-out correlation vs 0.90, over virtual sites and seeds), medians of
    the seed-mean held-out correlation and RMSE (m3/m3) of ``scores``
    (:func:`fresh_heldout_scores`, one per seed), the first seed's rounds, cells, process runs
    and seconds per run."""
    bundle = bundles[0]
    corr_sm = np.stack([sc["sm_surface_corr"] for sc in scores])
    mean = lambda key: np.nanmean(np.stack([sc[key] for sc in scores]), axis=0)  # noqa: E731
    return {
        "seeds": [int(s) for s in seeds],
        "claims": {"surrogate": paired_evidence("surrogate", corr_sm, None, seeds, seed=int(seeds[0]))},
        "surrogate_median_corr": float(np.nanmedian(mean("sm_surface_corr"))),
        "surrogate_median_rmse": float(np.nanmedian(mean("sm_surface_rmse"))),
        "surrogate_median_corr_et": float(np.nanmedian(mean("et_corr"))),
        "surrogate_median_corr_per_seed": [float(np.nanmedian(sc["sm_surface_corr"])) for sc in scores],
        "rounds": int(build.rounds),
        "per_round": pd.DataFrame(bundle.rounds).to_dict(orient="records"),
        "n_train_cells": int(bundle.train_cells.size),
        "n_heldout_cells": int(bundle.heldout_cells.size),
        "n_refine_cells": int(bundle.refine_cells.size),
        "n_process_runs": int(bundle.rounds[-1]["n_runs"]),
        "process_seconds_per_run": bundle.timing["process_seconds_per_run"],
        "surrogate_seconds_per_run": bundle.timing["surrogate_seconds_per_run"],
        "surrogate_file": bundle.cache.name,
        "surrogate_files": [b.cache.name for b in bundles],
        "paper_reference_corr": PAPER_REFERENCE_CORR,
    }

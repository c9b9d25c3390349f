"""Streamflow experiments with HBV: inputs, dPL (gA, gz) training, SCE-UA, evaluation.

The CAMELS chapter calls these; the global PUB chapter reuses them. Arrays handed to
models are time-major ``[time, basin, feature]``; everything else stays in xarray.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..cache import content_key, load_cached
from ..calibrate.sceua import SceuaSettings, calibrate_process_model
from ..data.camels_us import HYDRO_SIGNATURE_ATTRIBUTES
from ..data.normalize import Normalizer
from ..data.splits import TimeWindow
from ..losses import combined_rmse_by_site, get_loss
from ..evidence import convergence, paired_evidence
from ..metrics import kge, nse
from ..nets.dpl import DplModel, SeedEnsemble
from ..nets.param_nets import GA, GZ
from ..physics.hbv import HBV
from ..physics.pet import pet_for_dataset
from ..train import SiteTensors, TrainConfig, Trainer
from ..utils import atomic_path, config_dict, resolve_device
from ..data.checks import note

log = logging.getLogger("dplrepro.experiments")

__all__ = [
    "CAMELS_ATTRIBUTES", "StreamflowConfig", "PROFILES", "add_forcing_variables", "attribute_names",
    "build_inputs", "make_dpl_model", "train_dpl", "evaluate_streamflow", "calibrate_sceua", "select_basins",
    "simulate_hbv", "untrained_prediction", "fit_normalizer", "Inputs", "SceuaCalibration", "SUMMARY_METHODS",
    "PAPER_REFERENCE", "chapter_summary", "extra_method_name", "score_seeds", "seed_matrix", "seed_medians",
    "streamflow_stats", "member_mean_loss",
]

#: Static CAMELS attributes used as network inputs (no streamflow signatures: those leak
#: the target). Names without the ``attr_`` prefix.
CAMELS_ATTRIBUTES = (
    "p_mean", "pet_mean", "p_seasonality", "frac_snow", "aridity", "high_prec_freq", "high_prec_dur",
    "low_prec_freq", "low_prec_dur", "elev_mean", "slope_mean", "area_gages2", "frac_forest", "lai_max",
    "lai_diff", "gvf_max", "gvf_diff", "dom_land_cover_frac", "soil_depth_pelletier", "soil_depth_statsgo",
    "soil_porosity", "soil_conductivity", "max_water_content", "sand_frac", "silt_frac", "clay_frac",
    "geol_porostiy", "geol_permeability", "carbonate_rocks_frac",
)  # fmt: skip

#: Forcings fed to the parameter network (normalised); HBV itself takes prcp, tmean, pet.
NETWORK_FORCINGS = ("prcp", "tmean", "pet")
FORCING_TRANSFORMS = {"prcp": "log1p", "pet": "none", "tmean": "none"}


@dataclass
class StreamflowConfig:
    """One streamflow experiment (see the CAMELS chapter for the profiles' meaning)."""

    n_basins: int | None = None            # None: every basin with data
    train_period: TimeWindow = field(default_factory=lambda: TimeWindow("1999-10-01", "2008-09-30"))
    test_period: TimeWindow = field(default_factory=lambda: TimeWindow("1989-10-01", "1999-09-30"))
    warmup: int = 365
    pet_method: str = "hargreaves"
    attributes: Sequence[str] = CAMELS_ATTRIBUTES
    nmul: int = 1                          # HBV components of every headline method (dPL and SCE-UA alike)
    multi_nmul: int = 16                   # the labelled extra row: dPL gz with this many components
    hidden_size: int = 256
    dropout: float = 0.5
    routing: bool = True
    training: TrainConfig = field(default_factory=TrainConfig)
    # SCE-UA baseline (per basin, the same HBV, the same objective as dPL's training loss)
    sceua_maxn: int = 10_000
    sceua_ngs: int = 4
    sceua_kstop: int = 10
    seed: int = 0
    n_seeds: int = 1                       # seeds (seed, seed + 1, ...) every method runs with

    def to_dict(self) -> dict:
        return config_dict(self)

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_seeds)]


PROFILES = {
    "quick": StreamflowConfig(
        n_basins=30, n_seeds=3,
        train_period=TimeWindow("2001-10-01", "2004-09-30"),
        test_period=TimeWindow("1996-10-01", "1999-09-30"),
        multi_nmul=4,
        hidden_size=64,
        training=TrainConfig(epochs=25, batch_sites=30, window=365, warmup=365, history=365,
                                 optimizer="adam", learning_rate=3e-3, loss="rmse_combined"),
        sceua_maxn=2000,
        sceua_ngs=4,       # more complexes: a better search for 14 parameters, and fewer sequential calls
        sceua_kstop=5,
    ),
    "full": StreamflowConfig(
        n_basins=None,
        training=TrainConfig(epochs=50, batch_sites=100, window=365, warmup=365, history=365,
                                 optimizer="adadelta", learning_rate=1.0, loss="rmse_combined"),
    ),
}


def add_forcing_variables(ds: xr.Dataset, pet_method: str = "hargreaves") -> xr.Dataset:
    """Add ``tmean`` (°C) and ``pet`` (mm/day) to a basin dataset if absent."""
    ds = ds.copy()
    if "tmean" not in ds:
        ds["tmean"] = ((ds["tmin"] + ds["tmax"]) / 2).assign_attrs(units="degC", long_name="daily mean temperature")
    if "pet" not in ds:
        pet = pet_for_dataset(ds, pet_method, lat_dtype=None)  # ValueError for an unknown method
        pet.attrs = {"units": "mm/day", "long_name": f"PET ({pet_method})"}
        ds["pet"] = pet.transpose("basin", "time")
    return ds


def attribute_names(ds: xr.Dataset, wanted: Sequence[str]) -> list[str]:
    """The ``attr_*`` variables of ``wanted`` present in ``ds`` (absent ones are logged)."""
    leak = {a.removeprefix("attr_") for a in HYDRO_SIGNATURE_ATTRIBUTES}
    bad = sorted(set(wanted) & leak)
    if bad:
        raise ValueError(f"attributes {bad} are streamflow signatures and would leak the target")
    present = [a for a in wanted if f"attr_{a}" in ds]
    missing = [a for a in wanted if f"attr_{a}" not in ds]
    if missing:
        note(f"{len(missing)} of {len(wanted)} attributes are not in this dataset and are left out: {', '.join(missing)}")
    if not present:
        raise ValueError(f"none of the attributes {list(wanted)} is in the dataset")
    return present


@dataclass
class Inputs:
    """Everything one period needs: tensors for the trainer and the fitted normaliser."""

    tensors: SiteTensors
    normalizer: Normalizer
    basins: np.ndarray
    time: np.ndarray          # dates of the tensors' time axis (warm-up included)
    first_day: int            # index of the period's first day (after warm-up)


def fit_normalizer(train_ds: xr.Dataset, attributes: Sequence[str]) -> Normalizer:
    """Statistics from the TRAINING period and basins only."""
    norm = Normalizer(transforms=FORCING_TRANSFORMS, on_zero_std="unit")
    norm.fit(train_ds[list(NETWORK_FORCINGS)], dims=("basin", "time"))
    norm.fit(train_ds[[f"attr_{a}" for a in attributes]], dims="basin")
    return norm


def build_inputs(
    ds: xr.Dataset,
    period: TimeWindow,
    attributes: Sequence[str],
    normalizer: Normalizer,
    warmup: int,
) -> Inputs:
    """Network inputs, HBV forcings and observed streamflow for ``period`` plus ``warmup`` days before it."""
    t0 = pd.Timestamp(period.start) - pd.Timedelta(days=warmup)
    available = pd.Timestamp(str(ds["time"].values[0]))
    if t0 < available:
        raise ValueError(f"period {period.start}..{period.end} needs {warmup} warm-up days from {t0.date()}, "
                         f"but the data start on {available.date()}")
    sub = ds.sel(time=slice(t0, pd.Timestamp(period.end)))
    forc = [normalizer.transform(sub[v].transpose("time", "basin").values, v) for v in NETWORK_FORCINGS]
    attrs = np.stack([normalizer.transform(sub[f"attr_{a}"].values.astype(float), f"attr_{a}") for a in attributes], -1)
    n_nan = int(np.isnan(attrs).sum())
    if n_nan:
        log.info("%d missing attribute values set to the training mean (0 after normalisation)", n_nan)
        attrs = np.nan_to_num(attrs, nan=0.0)
    n_time = sub.sizes["time"]
    x = np.concatenate([np.stack(forc, -1), np.broadcast_to(attrs, (n_time,) + attrs.shape)], -1).astype(np.float32)
    if not np.isfinite(x).all():
        bad = [v for v in NETWORK_FORCINGS if not np.isfinite(sub[v].values).all()]
        raise ValueError(f"forcings {bad} have missing values in {period.start}..{period.end}; fill or drop those basins")
    forcing = {v: sub[v].transpose("time", "basin").values.astype(np.float32) for v in ("prcp", "tmean", "pet")}
    target = sub["qobs"].transpose("time", "basin").values.astype(np.float32)
    tensors = SiteTensors(x=x, forcing=forcing, target=target, site_ids=sub["basin"].values)
    return Inputs(tensors, normalizer, sub["basin"].values, sub["time"].values, warmup)


def make_dpl_model(kind: str, n_inputs: int, config: StreamflowConfig, *, nmul: int | None = None,
                   z_stats: tuple[float, float] = (0.0, 1.0)) -> DplModel:
    """``kind`` = ``"gA"`` or ``"gz"``: a parameter network wrapped around HBV with ``nmul``
    components (default ``config.nmul``). Static parameters are read after the warm-up
    (``static_step``), so they depend on the year before a period, never on the period itself;
    ``z_stats``: mean and std (mm/day) that standardise gz's streamflow history."""
    nmul = config.nmul if nmul is None else int(nmul)
    hbv = HBV(nmul=nmul, warmup=config.warmup, routing=config.routing)
    names = hbv.parameter_table.names
    kwargs = dict(nmul=nmul, hidden_size=config.hidden_size, dropout=config.dropout, static_step=config.warmup)
    if kind == "gA":
        net = GA(n_inputs, names, **kwargs)
    elif kind == "gz":
        net = GZ(n_inputs, names, n_z=1, z_mean=z_stats[0], z_std=z_stats[1], **kwargs)
    else:
        raise ValueError(f"kind must be 'gA' or 'gz', got {kind!r}")
    return DplModel(net, hbv)


def streamflow_stats(inputs: Inputs) -> tuple[float, float]:
    """Mean and std (mm/day) of the observed streamflow of ``inputs`` after the warm-up."""
    q = inputs.tensors.target[inputs.first_day:]
    return float(np.nanmean(q)), float(np.nanstd(q) + 1e-6)


def train_dpl(kind: str, train: Inputs, config: StreamflowConfig, checkpoint_dir: Path | None = None,
              device: str = "auto", progress: bool = True, nmul: int | None = None,
              seeds: Sequence[int] | None = None) -> Trainer:
    """Build and train (or resume) dPL-HBV for every seed of ``seeds`` (default ``config.seeds``)
    as members of one :class:`~dplrepro.nets.dpl.SeedEnsemble`; member ``k``'s network is
    initialised with ``seeds[k]``. Returns the trainer; its predictions carry a trailing seed
    axis (``q [time, basin, seed]``)."""
    seeds = list(config.seeds if seeds is None else seeds)
    nets = []
    for s in seeds:
        torch.manual_seed(s)
        nets.append(make_dpl_model(kind, train.tensors.x.shape[-1], config, nmul=nmul,
                                   z_stats=streamflow_stats(train)).parameter_network)
    hbv = HBV(nmul=config.nmul if nmul is None else int(nmul), warmup=config.warmup, routing=config.routing)
    model = SeedEnsemble(nets, hbv)
    tc = replace(config.training, seed=config.seed, device=device, progress=progress)
    trainer = Trainer(model, tc, checkpoint_dir=checkpoint_dir, loss_fn=SeedEnsemble.loss(get_loss(tc.loss)),
                      extra_state={"normalizer": train.normalizer.state_dict(), "seeds": seeds})
    trainer.fit(train.tensors)
    return trainer


def evaluate_streamflow(sim: np.ndarray, obs: np.ndarray, basins: np.ndarray) -> pd.DataFrame:
    """Per-basin NSE and KGE (and KGE's components) of ``[time, basin]`` arrays."""
    comps = kge(sim, obs, axis=0, return_components=True)
    return pd.DataFrame({
        "nse": nse(sim, obs, axis=0),
        "kge": comps["kge"], "kge_r": comps["r"], "kge_beta": comps["beta"], "kge_gamma": comps["gamma"],
    }, index=pd.Index(basins, name="basin"))


def select_basins(ds: xr.Dataset, config: StreamflowConfig, min_valid_fraction: float = 0.5) -> xr.Dataset:
    """Basins usable for both periods, then (if ``config.n_basins``) a seeded, spread-out subset.

    A basin needs complete forcings and at least ``min_valid_fraction`` of days with
    streamflow in the training and in the test period; the others are dropped with a
    logged count (never silently).
    """
    keep = np.ones(ds.sizes["basin"], bool)
    for period in (config.train_period, config.test_period):
        sub = period.select(ds)
        keep &= (sub["qobs"].notnull().mean("time") >= min_valid_fraction).values
        for v in ("prcp", "tmin", "tmax"):
            if v in sub:
                keep &= sub[v].notnull().all("time").values
    dropped = ds["basin"].values[~keep]
    if dropped.size:
        note(f"{dropped.size} of {keep.size} basins dropped (incomplete forcing or < {100 * min_valid_fraction:.0f}% "
             f"streamflow in a period): {', '.join(map(str, dropped[:10]))}{' ...' if dropped.size > 10 else ''}")
    ds = ds.isel(basin=np.flatnonzero(keep))
    if config.n_basins and config.n_basins > ds.sizes["basin"]:
        raise ValueError(f"n_basins={config.n_basins} but only {ds.sizes['basin']} basins have complete forcing and "
                         f">= {100 * min_valid_fraction:.0f}% streamflow in both periods ({dropped.size} dropped); "
                         f"expected n_basins <= {ds.sizes['basin']}, or None for all of them")
    if config.n_basins and config.n_basins < ds.sizes["basin"]:
        rng = np.random.default_rng(config.seed)
        ds = ds.isel(basin=np.sort(rng.choice(ds.sizes["basin"], config.n_basins, replace=False)))
    return ds


def _hbv_forcing(inputs: Inputs, device, dtype=torch.float32) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, dtype=dtype, device=device) for k, v in inputs.tensors.forcing.items()}


def simulate_hbv(params: dict[str, np.ndarray], inputs: Inputs, config: StreamflowConfig, *, nmul: int = 1,
                 device: str = "auto") -> np.ndarray:
    """Run HBV with given physical parameters (``{name: [basin] or [basin, nmul]}``); returns ``[time, basin]``
    after the warm-up."""
    dev = resolve_device(device)
    model = HBV(nmul=nmul, warmup=inputs.first_day, routing=config.routing)
    p = {}
    for name in model.parameter_table.names:
        value = torch.as_tensor(np.asarray(params[name]), dtype=torch.float32, device=dev)
        p[name] = value.reshape(-1, 1).expand(-1, nmul).contiguous() if value.dim() == 1 else value
    with torch.no_grad():
        return model(_hbv_forcing(inputs, dev), p)["q"].cpu().numpy()


def untrained_prediction(inputs: Inputs, config: StreamflowConfig, device: str = "auto") -> np.ndarray:
    """Streamflow of a freshly initialised (seeded) gA network: the 'before training' reference."""
    torch.manual_seed(config.seed)
    model = make_dpl_model("gA", inputs.tensors.x.shape[-1], config)
    tc = replace(config.training, device=device, progress=False)
    return Trainer(model, tc).predict(inputs.tensors, start=inputs.first_day)["q"]


@dataclass
class SceuaCalibration:
    """Per-basin SCE-UA result for every seed: physical parameters ``{name: [seed, basin]}``,
    model runs used and objective (combined RMSE, mm/day) ``[seed, basin]``, convergence
    history ``[loop, seed, basin]``."""

    params: dict[str, np.ndarray]
    n_evaluations: np.ndarray
    converged: np.ndarray
    objective: np.ndarray
    history_f: np.ndarray
    history_n_evaluations: np.ndarray
    seeds: list[int]
    wall_time_s: float = math.nan   # what the calibration cost when it ran (also when loaded from its cache)
    reused: bool = False            # loaded from the cache file, not computed in this call

    def for_seed(self, i: int) -> dict[str, np.ndarray]:
        """The parameters of seed number ``i`` (position in :attr:`seeds`): ``{name: [basin]}``."""
        return {k: v[i] for k, v in self.params.items()}


def _read_sceua(path: Path) -> tuple[SceuaCalibration, str | None]:
    """A calibration cached by :func:`calibrate_sceua` and the content key stored with it."""
    with xr.open_dataset(path) as c:
        c = c.load()
    names = [v.removeprefix("param_") for v in c.data_vars if v.startswith("param_")]
    out = SceuaCalibration({n: c[f"param_{n}"].values for n in names}, c["n_evaluations"].values,
                           c["converged"].values.astype(bool), c["objective"].values, c["history_f"].values,
                           c["history_n_evaluations"].values, [int(v) for v in c["seed"].values],
                           wall_time_s=float(c.attrs.get("wall_time_s", math.nan)), reused=True)
    return out, c.attrs.get("cache_key")


def calibrate_sceua(train: Inputs, config: StreamflowConfig, *, cache: Path | None = None, device: str = "auto",
                    progress: bool = True) -> SceuaCalibration:
    """Calibrate HBV (``config.nmul`` components, every component the same parameters) per basin
    with batched SCE-UA, minimising the combined RMSE of flow and √flow -- dPL's training loss,
    one basin at a time -- for every seed of ``config.seeds`` at once.

    The seeds are copies of the basins in one batched calibration, each copy with its own
    random stream (seed ``config.seed + r`` is stream block ``r``), so the seeds cost one run.
    With ``cache`` (a NetCDF path), a finished calibration is loaded instead of rerun if it
    holds this run's content key (forcing and observations by content, settings, model,
    seeds, code, versions: :func:`~dplrepro.cache.content_key`); the file is written
    atomically, with the key and the wall time, when a calibration finishes.
    """
    dev = resolve_device(device)
    first, n_basins, seeds = train.first_day, train.tensors.n_sites, config.seeds
    settings = SceuaSettings(ngs=config.sceua_ngs, maxn=config.sceua_maxn, kstop=config.sceua_kstop, seed=config.seed)
    key = content_key(forcing=train.tensors.forcing, target=train.tensors.target, basins=list(map(str, train.basins)),
                      first_day=first, settings=settings, nmul=config.nmul, routing=config.routing, seeds=list(seeds),
                      device=str(dev))
    cached = load_cached(Path(cache), _read_sceua, lambda pair: pair[1], key) if cache is not None else None
    if cached is not None:
        return cached[0]
    started = time.time()
    k = len(seeds)
    model = HBV(nmul=config.nmul, warmup=first, routing=config.routing)
    forcing = {name: v.repeat(1, k) for name, v in _hbv_forcing(train, dev).items()}   # [time, seed*basin]
    obs = torch.as_tensor(train.tensors.target[first:], dtype=torch.float32, device=dev).repeat(1, k)
    nmul = config.nmul
    cal = calibrate_process_model(model, forcing, obs, model.parameter_table, combined_rmse_by_site, settings,
                                  param_transform=lambda name, v: v.reshape(-1, 1).expand(-1, nmul).contiguous().to(torch.float32),
                                  streams=torch.arange(k * n_basins), progress=progress)
    r = cal.result

    def by_seed(t: torch.Tensor) -> np.ndarray:   # [..., seed*basin] -> [..., seed, basin]
        a = t.detach().cpu().numpy()
        return a.reshape(a.shape[:-1] + (k, n_basins))

    out = SceuaCalibration(
        params={name: by_seed(v.reshape(-1)).astype(np.float64) for name, v in cal.params.items()},
        n_evaluations=by_seed(r.n_evaluations), converged=by_seed(r.converged), objective=by_seed(r.f),
        history_f=by_seed(r.history_f), history_n_evaluations=by_seed(r.history_n_evaluations), seeds=list(seeds),
        wall_time_s=time.time() - started,
    )
    if cache is not None:
        sb, lsb = ("seed", "basin"), ("loop", "seed", "basin")
        ds = xr.Dataset(
            {f"param_{k_}": (sb, v) for k_, v in out.params.items()}
            | {"n_evaluations": (sb, out.n_evaluations), "converged": (sb, out.converged.astype(np.int8)),
               "objective": (sb, out.objective), "history_f": (lsb, out.history_f),
               "history_n_evaluations": (lsb, out.history_n_evaluations)},
            coords={"basin": train.basins, "seed": list(seeds)},
            attrs={"objective": "combined RMSE of flow and sqrt(flow) over the training period (dPL's loss)",
                   "settings": json.dumps(asdict(settings)), "cache_key": key, "wall_time_s": out.wall_time_s},
        )
        with atomic_path(cache) as tmp:
            ds.to_netcdf(tmp)
    return out


#: The chapter's headline method names -> their suffix in the summary keys (``median_nse_<suffix>``).
SUMMARY_METHODS = {"dPL-HBV gA": "dpl_ga", "dPL-HBV gz": "dpl_gz", "SCE-UA HBV": "sceua"}
#: The paper's CAMELS numbers (VIC; median test NSE over 531 basins).
PAPER_REFERENCE = {"vic_dpl_gz_median_nse": 0.44, "vic_mpr_median_nse": 0.32}


def extra_method_name(config: StreamflowConfig) -> str:
    """The labelled extra row: dPL gz with ``config.multi_nmul`` HBV components (first seed only)."""
    return f"extra: dPL-HBV gz, {config.multi_nmul} components (seed {config.seeds[0]})"


def score_seeds(sims: Sequence[np.ndarray], obs: np.ndarray, basins: np.ndarray, seeds: Sequence[int]) -> pd.DataFrame:
    """:func:`evaluate_streamflow` of each seed's simulation ``[time, basin]``, stacked with a ``seed`` column."""
    return pd.concat([evaluate_streamflow(q, obs, basins).assign(seed=int(s)).reset_index()
                      for q, s in zip(sims, seeds)], ignore_index=True)


def seed_matrix(scores: pd.DataFrame, metric: str = "nse") -> np.ndarray:
    """``[seed, basin]`` array of one metric from :func:`score_seeds`' table (basins in order of first appearance)."""
    return scores.pivot(index="seed", columns="basin", values=metric)[scores["basin"].unique()].values


def seed_medians(scores: pd.DataFrame, metric: str = "nse") -> float:
    """Median over basins of the seed-mean ``metric``."""
    return float(np.nanmedian(np.nanmean(seed_matrix(scores, metric), axis=0)))


def member_mean_loss(trainer: Trainer) -> np.ndarray:
    """Training loss per epoch of a :func:`train_dpl` trainer, averaged over its seed members."""
    return np.asarray(trainer.history.loss) / trainer.model.n_members


def chapter_summary(n_basins: int, config: StreamflowConfig, scores: dict[str, pd.DataFrame],
                    dpl: dict[str, Trainer], sceua: SceuaCalibration, timings: dict[str, float]) -> dict:
    """The CAMELS chapter's ``summary.json`` content (keys: :data:`dplrepro.results.SCHEMAS`).

    ``scores``: method -> :func:`score_seeds` table (the headline methods of
    :data:`SUMMARY_METHODS`, ``"untrained gA"`` and optionally the extra row); ``dpl``:
    ``"gA"``/``"gz"`` -> the :func:`train_dpl` trainer of every seed. Medians are over basins of the seed-mean score;
    the claim is the paired difference gz − SCE-UA in test NSE over basins; convergence of
    every method's curve (training loss, SCE-UA's objective: the same combined RMSE)."""
    seeds = config.seeds
    gz, sce = (seed_matrix(scores[m]) for m in ("dPL-HBV gz", "SCE-UA HBV"))
    hist_f = np.nanmedian(sceua.history_f.reshape(sceua.history_f.shape[0], -1), axis=1)
    extra = extra_method_name(config)
    summary = {
        "n_basins": int(n_basins), "seeds": list(seeds),
        "claims": {"camels": paired_evidence("camels", gz, sce, seeds, seed=config.seed)},
        "train_period": config.train_period.to_json(), "test_period": config.test_period.to_json(),
        "nmul": int(config.nmul), "objective": "combined RMSE of flow and sqrt(flow) (dPL's loss = SCE-UA's objective)",
        "median_nse_untrained_ga": seed_medians(scores["untrained gA"]),
        "median_nse_extra_multi": seed_medians(scores[extra]) if extra in scores else None,
        "extra_method": extra,
        "epochs": int(config.training.epochs),
        "forward_runs_per_basin_dpl": float(dpl["gA"].history.forward_runs_per_site[-1]),
        "model_runs_per_basin_sceua": float(np.median(sceua.n_evaluations)),
        "sceua_budget": {"maxn": int(config.sceua_maxn), "ngs": int(config.sceua_ngs), "kstop": int(config.sceua_kstop),
                         "converged_fraction": float(np.mean(sceua.converged))},
        "convergence": {**{f"dPL-HBV {kind}": convergence(member_mean_loss(trainer)) for kind, trainer in dpl.items()},
                        "SCE-UA HBV": convergence(hist_f)},
        "wall_time_s": {k: round(v, 1) for k, v in timings.items()},
        "paper_reference": PAPER_REFERENCE,
    }
    for name, suffix in SUMMARY_METHODS.items():
        for metric in ("nse", "kge"):
            summary[f"median_{metric}_{suffix}"] = seed_medians(scores[name], metric)
    return summary

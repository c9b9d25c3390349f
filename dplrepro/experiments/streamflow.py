"""Streamflow experiments with HBV: inputs, dPL (gA, gz) training, SCE-UA, evaluation.

The CAMELS chapter calls these; the global PUB chapter reuses them. Arrays handed to
models are time-major ``[time, basin, feature]``; everything else stays in xarray.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..calibrate.sceua import SceuaSettings, calibrate_process_model
from ..data.camels_us import HYDRO_SIGNATURE_ATTRIBUTES
from ..data.normalize import Normalizer
from ..data.splits import TimeWindow
from ..metrics import kge, nse
from ..nets.dpl import DplModel
from ..nets.param_nets import GA, GZ
from ..physics.hbv import HBV
from ..physics.pet import pet_for_dataset
from ..train import SiteTensors, TrainConfig, Trainer
from ..utils import atomic_path, config_dict, resolve_device

log = logging.getLogger("dplrepro.experiments")

__all__ = [
    "CAMELS_ATTRIBUTES", "StreamflowConfig", "PROFILES", "add_forcing_variables", "attribute_names",
    "build_inputs", "make_dpl_model", "train_dpl", "evaluate_streamflow", "calibrate_sceua", "select_basins",
    "simulate_hbv", "untrained_prediction", "fit_normalizer", "Inputs", "SceuaCalibration", "SUMMARY_METHODS",
    "PAPER_REFERENCE", "chapter_summary",
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
    nmul: int = 16
    hidden_size: int = 256
    dropout: float = 0.5
    routing: bool = True
    training: TrainConfig = field(default_factory=TrainConfig)
    # SCE-UA baseline (per basin, HBV with one component)
    sceua_maxn: int = 10_000
    sceua_ngs: int = 4
    sceua_kstop: int = 10
    seed: int = 0

    def to_dict(self) -> dict:
        return config_dict(self)


PROFILES = {
    "quick": StreamflowConfig(
        n_basins=30,
        train_period=TimeWindow("2001-10-01", "2004-09-30"),
        test_period=TimeWindow("1996-10-01", "1999-09-30"),
        nmul=4,
        hidden_size=64,
        training=TrainConfig(epochs=25, batch_sites=30, window=365, warmup=365, history=365,
                                 optimizer="adam", learning_rate=3e-3, loss="rmse_combined"),
        sceua_maxn=1500,
        sceua_ngs=2,
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
        log.info("attributes not in this dataset (left out): %s", ", ".join(missing))
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


def make_dpl_model(kind: str, n_inputs: int, config: StreamflowConfig) -> DplModel:
    """``kind`` = ``"gA"`` or ``"gz"``: a parameter network wrapped around HBV."""
    hbv = HBV(nmul=config.nmul, warmup=config.warmup, routing=config.routing)
    names = hbv.parameter_table.names
    kwargs = dict(nmul=config.nmul, hidden_size=config.hidden_size, dropout=config.dropout)
    if kind == "gA":
        net = GA(n_inputs, names, **kwargs)
    elif kind == "gz":
        net = GZ(n_inputs, names, n_z=1, **kwargs)
    else:
        raise ValueError(f"kind must be 'gA' or 'gz', got {kind!r}")
    return DplModel(net, hbv)


def train_dpl(kind: str, train: Inputs, config: StreamflowConfig, checkpoint_dir: Path | None = None,
              device: str = "auto", progress: bool = True) -> Trainer:
    """Build and train (or resume) a dPL-HBV model; returns the trainer holding it."""
    torch.manual_seed(config.seed)
    model = make_dpl_model(kind, train.tensors.x.shape[-1], config)
    tc = replace(config.training, seed=config.seed, device=device, progress=progress)
    trainer = Trainer(model, tc, checkpoint_dir=checkpoint_dir, extra_state={"normalizer": train.normalizer.state_dict()})
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
        log.warning("%d basins dropped (incomplete forcing or < %.0f%% streamflow in a period): %s",
                    dropped.size, 100 * min_valid_fraction, ", ".join(map(str, dropped[:10])))
    ds = ds.isel(basin=np.flatnonzero(keep))
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
    """Per-basin SCE-UA result: physical parameters, model runs used, convergence."""

    params: dict[str, np.ndarray]
    n_evaluations: np.ndarray
    converged: np.ndarray
    objective: np.ndarray
    history_f: np.ndarray
    history_n_evaluations: np.ndarray


def calibrate_sceua(train: Inputs, config: StreamflowConfig, *, cache: Path | None = None, device: str = "auto",
                    progress: bool = True) -> SceuaCalibration:
    """Calibrate a one-component HBV per basin with batched SCE-UA, minimising 1 − NSE.

    With ``cache`` (a NetCDF path), a finished calibration is loaded instead of rerun;
    the file is written atomically when a calibration finishes.
    """
    if cache is not None and Path(cache).exists():
        with xr.open_dataset(cache) as c:
            c = c.load()
        names = [v.removeprefix("param_") for v in c.data_vars if v.startswith("param_")]
        return SceuaCalibration({n: c[f"param_{n}"].values for n in names}, c["n_evaluations"].values,
                                c["converged"].values.astype(bool), c["objective"].values,
                                c["history_f"].values, c["history_n_evaluations"].values)
    dev = resolve_device(device)
    first = train.first_day
    model = HBV(nmul=1, warmup=first, routing=config.routing)
    forcing = _hbv_forcing(train, dev)
    obs = torch.as_tensor(train.tensors.target[first:], dtype=torch.float32, device=dev)

    def one_minus_nse(sim: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        return 1.0 - nse(sim, o, axis=0)

    settings = SceuaSettings(ngs=config.sceua_ngs, maxn=config.sceua_maxn, kstop=config.sceua_kstop, seed=config.seed)
    cal = calibrate_process_model(model, forcing, obs, model.parameter_table, one_minus_nse, settings,
                                  param_transform=lambda name, v: v.reshape(-1, 1).to(torch.float32),
                                  progress=progress)
    r = cal.result
    out = SceuaCalibration(
        params={k: v.detach().cpu().numpy().astype(np.float64) for k, v in cal.params.items()},
        n_evaluations=r.n_evaluations.cpu().numpy(), converged=r.converged.cpu().numpy(),
        objective=r.f.cpu().numpy(), history_f=r.history_f.cpu().numpy(),
        history_n_evaluations=r.history_n_evaluations.cpu().numpy(),
    )
    if cache is not None:
        ds = xr.Dataset(
            {f"param_{k}": ("basin", v) for k, v in out.params.items()}
            | {"n_evaluations": ("basin", out.n_evaluations), "converged": ("basin", out.converged.astype(np.int8)),
               "objective": ("basin", out.objective), "history_f": (("loop", "basin"), out.history_f),
               "history_n_evaluations": (("loop", "basin"), out.history_n_evaluations)},
            coords={"basin": train.basins},
            attrs={"objective": "1 - NSE over the training period", "settings": json.dumps(asdict(settings))},
        )
        with atomic_path(cache) as tmp:
            ds.to_netcdf(tmp)
    return out


#: The chapter's method names -> their suffix in the summary keys (``median_nse_<suffix>``).
SUMMARY_METHODS = {"dPL-HBV gA": "dpl_ga", "dPL-HBV gz": "dpl_gz", "SCE-UA HBV": "sceua"}
#: The paper's CAMELS numbers (VIC; median test NSE over 531 basins).
PAPER_REFERENCE = {"vic_dpl_gz_median_nse": 0.44, "vic_mpr_median_nse": 0.32}


def chapter_summary(n_basins: int, config: StreamflowConfig, scores: dict[str, pd.DataFrame], dpl: Trainer,
                    sceua: SceuaCalibration, timings: dict[str, float]) -> dict:
    """The CAMELS chapter's ``summary.json`` content (keys: :data:`dplrepro.results.SCHEMAS`):
    median test NSE/KGE per method and of the untrained gA, cost (forward runs per basin of the
    dPL ``dpl`` trainer, SCE-UA's median model runs per basin) and wall times in s."""
    summary = {
        "n_basins": int(n_basins),
        "train_period": config.train_period.to_json(), "test_period": config.test_period.to_json(),
        "median_nse_untrained_ga": float(scores["untrained gA"]["nse"].median()),
        "epochs": int(config.training.epochs),
        "forward_runs_per_basin_dpl": float(dpl.history.forward_runs_per_site[-1]),
        "model_runs_per_basin_sceua": float(np.median(sceua.n_evaluations)),
        "wall_time_s": {k: round(v, 1) for k, v in timings.items()},
        "paper_reference": PAPER_REFERENCE,
    }
    for name, suffix in SUMMARY_METHODS.items():
        for metric in ("nse", "kge"):
            summary[f"median_{metric}_{suffix}"] = float(scores[name][metric].median())
    return summary

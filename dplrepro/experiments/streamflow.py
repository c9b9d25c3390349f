"""Streamflow experiments with HBV: inputs, dPL (gA, gz) training, SCE-UA, evaluation.

The CAMELS chapter calls these; the global PUB chapter reuses them. Arrays handed to
models are time-major ``[time, basin, feature]``; everything else stays in xarray.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..data.camels_us import HYDRO_SIGNATURE_ATTRIBUTES
from ..data.normalize import Normalizer
from ..data.pet import hargreaves, oudin
from ..data.splits import TimeWindow
from ..metrics import kge, nse
from ..models.dpl import DplModel
from ..models.hbv import HBV
from ..models.param_nets import GA, GZ
from ..train import SiteTensors, TrainConfig, Trainer

log = logging.getLogger("dplrepro.experiments")

__all__ = [
    "CAMELS_ATTRIBUTES", "StreamflowConfig", "PROFILES", "add_forcing_variables", "attribute_names",
    "build_inputs", "make_dpl_model", "train_dpl", "evaluate_streamflow", "calibrate_sceua",
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
    train: TimeWindow = field(default_factory=lambda: TimeWindow("1999-10-01", "2008-09-30"))
    test: TimeWindow = field(default_factory=lambda: TimeWindow("1989-10-01", "1999-09-30"))
    warmup: int = 365
    pet_method: str = "hargreaves"
    attributes: Sequence[str] = CAMELS_ATTRIBUTES
    nmul: int = 16
    hidden_size: int = 256
    dropout: float = 0.5
    routing: bool = True
    train_config: TrainConfig = field(default_factory=TrainConfig)
    # SCE-UA baseline (per basin, HBV with one component)
    sceua_maxn: int = 10_000
    sceua_ngs: int = 4
    sceua_kstop: int = 10
    seed: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train"], d["test"] = [self.train.start, self.train.end], [self.test.start, self.test.end]
        return d


PROFILES = {
    "quick": StreamflowConfig(
        n_basins=30,
        train=TimeWindow("2001-10-01", "2004-09-30"),
        test=TimeWindow("1996-10-01", "1999-09-30"),
        nmul=4,
        hidden_size=64,
        train_config=TrainConfig(epochs=25, batch_sites=30, window=365, warmup=365, history=365,
                                 optimizer="adam", learning_rate=3e-3, loss="rmse_combined"),
        sceua_maxn=1500,
        sceua_ngs=2,
        sceua_kstop=5,
    ),
    "full": StreamflowConfig(
        n_basins=None,
        train_config=TrainConfig(epochs=50, batch_sites=100, window=365, warmup=365, history=365,
                                 optimizer="adadelta", learning_rate=1.0, loss="rmse_combined"),
    ),
}


def add_forcing_variables(ds: xr.Dataset, pet_method: str = "hargreaves") -> xr.Dataset:
    """Add ``tmean`` (°C) and ``pet`` (mm/day) to a basin dataset if absent."""
    ds = ds.copy()
    if "tmean" not in ds:
        ds["tmean"] = ((ds["tmin"] + ds["tmax"]) / 2).assign_attrs(units="degC", long_name="daily mean temperature")
    if "pet" not in ds:
        doy = ds["time"].dt.dayofyear
        if pet_method == "hargreaves":
            pet = hargreaves(ds["tmin"], ds["tmax"], ds["lat"], doy)
        elif pet_method == "oudin":
            pet = oudin(ds["tmean"], ds["lat"], doy)
        else:
            raise ValueError(f"pet_method must be 'hargreaves' or 'oudin', got {pet_method!r}")
        ds["pet"] = pet.transpose("basin", "time").assign_attrs(units="mm/day", long_name=f"PET ({pet_method})")
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
              device: str = "auto", show_progress: bool = True) -> Trainer:
    """Build and train (or resume) a dPL-HBV model; returns the trainer holding it."""
    torch.manual_seed(config.seed)
    model = make_dpl_model(kind, train.tensors.x.shape[-1], config)
    tc = replace(config.train_config, seed=config.seed, device=device, show_progress=show_progress)
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

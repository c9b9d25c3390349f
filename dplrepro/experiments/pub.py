"""Global prediction in ungauged basins (PUB): linear transfer functions vs dPL, k-fold in climate groups.

The paper's Experiment 4 (Beck et al. 2020's 4,229 catchments) with the largest
multi-region set available here, CAMELS-US + CAMELS-GB with Caravan attributes, and
uniform inputs: precipitation, mean temperature and Oudin PET (from temperature and
latitude) as HBV forcing; ERA5-Land climate indices and HydroATLAS attributes from the
Caravan tables as static attributes, the same source for both countries.

Protocol (:func:`make_members`): basins are split into Beck's climate groups
(:mod:`dplrepro.data.climate`); inside each group a seeded k-fold split holds out each
basin exactly once; every (group, fold) trains on the other folds' basins — or on a
nested random fraction of them (the data-fraction experiment) — and predicts its held-out
basins, which it never saw. The test period differs from the training period too.

Speed: the parameter functions here are static (attributes in, parameters out), so all
(group × fold × fraction) models of one method are *members* of one module
(:class:`~dplrepro.nets.param_nets.MemberLinear`) and train together in one batched
HBV run, each member only on its own basins (column 0 of the inputs is the member id).
The members stay independent: each member's weights get gradient only from its own
columns, Adam updates element by element, and no global gradient clipping couples them.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..calibrate.regional import LinearTransfer
from ..data.camels_gb import load_camels_gb
from ..data.camels_us import load_camels_us
from ..data.caravan import load_caravan_attributes
from ..data.climate import CLIMATE_GROUPS, climate_group, koppen_main_class, monthly_temperature_climatology
from ..data.errors import DataFormatError, DataNotFoundError
from ..data.paths import data_dir
from ..data.sources import DataChoice
from ..data.splits import TimeWindow, pub_folds, subsample_basins
from ..data.twin import make_virtual_basins
from ..evidence import paired_evidence
from ..metrics import kge, nse
from ..nets.dpl import DplModel
from ..nets.param_nets import StaticMLP
from ..physics.hbv import HBV
from ..train import SiteTensors, TrainConfig, Trainer
from ..utils import config_dict, config_hash
from .streamflow import add_forcing_variables
from ..data.checks import note

log = logging.getLogger("dplrepro.experiments")

__all__ = [
    "AttributeChoice", "BECK_ATTRIBUTES", "EXTRA_ATTRIBUTES", "METHODS", "Member", "PROFILES", "PubConfig",
    "TWIN_ATTRIBUTES", "HEADLINE", "make_seed_members", "member_standardised", "pub_claims", "kge_matrix",
    "assign_climate_groups", "attribute_table", "fraction_to_match", "load_pub_basins",
    "MethodRuns", "PAPER_REFERENCE", "chapter_summary", "fraction_curve", "make_members", "median_kge_by", "score_members", "stack_columns", "train_and_score_methods", "train_members",
]


@dataclass(frozen=True)
class AttributeChoice:
    """One static attribute: what it stands for (Beck's name) and the column used here."""

    role: str
    column: str
    source: str
    note: str = ""


#: Beck et al. (2020)'s 8 attributes and the closest Caravan / HydroATLAS columns.
BECK_ATTRIBUTES = (
    AttributeChoice("humidity index P/PET", "ari_ix_sav", "HydroATLAS (Global Aridity Index)",
                    "P/PET x100; also defines the arid climate class"),
    AttributeChoice("mean annual precipitation", "pre_mm_syr", "HydroATLAS (WorldClim)", "mm/yr"),
    AttributeChoice("mean annual potential evaporation", "pet_mm_syr", "HydroATLAS (Global-PET)", "mm/yr"),
    AttributeChoice("mean annual NDVI", "for_pc_sse", "HydroATLAS",
                    "no NDVI in Caravan/HydroATLAS: forest cover extent (%) is the closest vegetation attribute"),
    AttributeChoice("open-water fraction", "lka_pc_sse", "HydroATLAS", "limnicity: lake area share (% x10)"),
    AttributeChoice("slope", "slp_dg_sav", "HydroATLAS", "mean slope (degrees x10)"),
    AttributeChoice("sand %", "snd_pc_sav", "HydroATLAS", "sand fraction of the soil (%)"),
    AttributeChoice("clay %", "cly_pc_sav", "HydroATLAS", "clay fraction of the soil (%)"),
)

#: 19 more Caravan / HydroATLAS attributes for the paper's ~27-attribute set. Nothing
#: derived from streamflow (HydroATLAS runoff and discharge columns would leak the target).
EXTRA_ATTRIBUTES = (
    AttributeChoice("aridity PET/P (ERA5-Land)", "aridity", "Caravan, ERA5-Land",
                    "ERA5-Land PET runs high (median 4.4 over CAMELS-US), so it is not used for the climate classes"),
    AttributeChoice("snow fraction of precipitation", "frac_snow", "Caravan, ERA5-Land"),
    AttributeChoice("precipitation seasonality", "seasonality", "Caravan, ERA5-Land"),
    AttributeChoice("high-precipitation frequency", "high_prec_freq", "Caravan, ERA5-Land"),
    AttributeChoice("high-precipitation duration", "high_prec_dur", "Caravan, ERA5-Land"),
    AttributeChoice("low-precipitation frequency", "low_prec_freq", "Caravan, ERA5-Land"),
    AttributeChoice("low-precipitation duration", "low_prec_dur", "Caravan, ERA5-Land"),
    AttributeChoice("mean elevation", "ele_mt_sav", "HydroATLAS", "m"),
    AttributeChoice("catchment area", "area", "Caravan", "km2, log10-transformed"),
    AttributeChoice("silt %", "slt_pc_sav", "HydroATLAS"),
    AttributeChoice("soil organic carbon", "soc_th_sav", "HydroATLAS", "t/ha"),
    AttributeChoice("soil water content", "swc_pc_syr", "HydroATLAS", "annual mean, %"),
    AttributeChoice("karst area", "kar_pc_sse", "HydroATLAS", "%"),
    AttributeChoice("cropland extent", "crp_pc_sse", "HydroATLAS", "%"),
    AttributeChoice("urban extent", "urb_pc_sse", "HydroATLAS", "%"),
    AttributeChoice("glacier extent", "gla_pc_sse", "HydroATLAS", "%"),
    AttributeChoice("snow cover extent", "snw_pc_syr", "HydroATLAS", "annual mean, %"),
    AttributeChoice("air temperature", "tmp_dc_syr", "HydroATLAS", "annual mean, degC x10"),
    AttributeChoice("groundwater table depth", "gwt_cm_sav", "HydroATLAS", "cm"),
)

#: The synthetic twin's attributes: 8 that mirror Beck's roles, and all 10 as the large set
#: (the twin's hidden transfer functions also use forest fraction and soil depth, so the
#: 8-attribute set misses information there -- as a real small set does).
TWIN_ATTRIBUTES = {
    "8": ("aridity", "p_mean", "pet_mean", "frac_snow", "elev_mean", "slope_mean", "sand_frac", "clay_frac"),
    "large": ("aridity", "p_mean", "pet_mean", "frac_snow", "elev_mean", "slope_mean", "sand_frac", "clay_frac",
              "frac_forest", "soil_depth_pelletier"),
}

#: Attributes standardised after a log10 transform (strongly skewed, positive).
LOG_ATTRIBUTES = ("area",)

#: Method name -> (parameter function, attribute set, trained on every data fraction?).
METHODS = {
    "ltf8": ("linear transfer functions", "8", True),
    "dpl8": ("dPL (static MLP)", "8", True),
    "dpl27": ("dPL (static MLP)", "large", False),
    "dpl8_multi": ("extra: dPL-8 with several HBV components (not like with like)", "8", False),
}
#: The like-with-like methods: every one runs HBV with ``PubConfig.ltf_nmul`` (1) component.
HEADLINE = ("ltf8", "dpl8", "dpl27")


@dataclass
class PubConfig:
    """One PUB experiment (see the global PUB chapter for the profiles)."""

    n_basins_us: int | None = None       # None: every CAMELS-US basin with Caravan attributes and data
    n_basins_gb: int | None = None       # None: every CAMELS-GB basin with Caravan attributes and data
    n_synthetic: int = 60                # twin basins (no real data)
    train_period: TimeWindow = field(default_factory=lambda: TimeWindow("1999-10-01", "2008-09-30"))
    test_period: TimeWindow = field(default_factory=lambda: TimeWindow("1989-10-01", "1999-09-30"))
    warmup: int = 365
    k_folds: int = 5
    fractions: tuple = (1.0, 0.5, 0.25, 0.125)
    min_group_basins: int = 20           # a smaller climate group joins the largest one (logged, reported)
    min_valid_fraction: float = 0.5      # of streamflow days, in the training and in the test period
    nmul: int = 16                       # HBV components of the extra row dpl8_multi only
    ltf_nmul: int = 1                    # every headline method's HBV (Beck's: one component)
    hidden_size: int = 256
    dropout: float = 0.0
    training: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, window=365, warmup=365, loss="nse", optimizer="adam", learning_rate=3e-3,
        clip_grad_norm=None))
    ltf_training: TrainConfig = field(default_factory=lambda: TrainConfig(
        epochs=100, window=365, warmup=365, loss="nse", optimizer="adam", learning_rate=1e-2,
        clip_grad_norm=None))
    seed: int = 0
    n_seeds: int = 1                     # seeds (seed, seed + 1, ...): replicate members of every method

    def to_dict(self) -> dict:
        return config_dict(self)

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.n_seeds)]


PROFILES = {
    "quick": PubConfig(n_seeds=3,
        n_basins_us=150, n_basins_gb=150,
        train_period=TimeWindow("2001-10-01", "2004-09-30"), test_period=TimeWindow("1996-10-01", "1999-09-30"),
        k_folds=3, nmul=4, hidden_size=64, min_group_basins=15,
        training=TrainConfig(epochs=25, window=365, warmup=365, loss="nse", optimizer="adam",
                                 learning_rate=1e-2, clip_grad_norm=None),
        ltf_training=TrainConfig(epochs=25, window=365, warmup=365, loss="nse", optimizer="adam",
                                     learning_rate=2e-2, clip_grad_norm=None),
    ),
    "full": PubConfig(),
}


def attribute_table(source: str = "real") -> pd.DataFrame:
    """The attribute sets as a table (set, role, column, source, note) -- the chapter's mapping table."""
    if source == "synthetic":
        rows = [{"set": "8" if c in TWIN_ATTRIBUTES["8"] else "large only", "role": c, "column": f"attr_{c}",
                 "source": "synthetic twin", "note": ""} for c in TWIN_ATTRIBUTES["large"]]
    else:
        rows = [{"set": "8 (Beck)", **asdict(a)} for a in BECK_ATTRIBUTES]
        rows += [{"set": "27 only", **asdict(a)} for a in EXTRA_ATTRIBUTES]
    return pd.DataFrame(rows)


def _attribute_sets(source: str) -> dict[str, tuple[str, ...]]:
    if source == "synthetic":
        return dict(TWIN_ATTRIBUTES)
    eight = tuple(a.column for a in BECK_ATTRIBUTES)
    return {"8": eight, "large": eight + tuple(a.column for a in EXTRA_ATTRIBUTES)}


# ----------------------------------------------------------------------------------- data
def _span(config: PubConfig) -> tuple[pd.Timestamp, pd.Timestamp]:
    start = min(pd.Timestamp(config.train_period.start), pd.Timestamp(config.test_period.start)) - pd.Timedelta(days=config.warmup)
    return start, max(pd.Timestamp(config.train_period.end), pd.Timestamp(config.test_period.end))


def _usable(ds: xr.Dataset, config: PubConfig) -> np.ndarray:
    """Basins with complete forcing and enough streamflow in both periods (the rest are logged)."""
    keep = np.ones(ds.sizes["basin"], bool)
    for period in (config.train_period, config.test_period):
        t0 = pd.Timestamp(period.start) - pd.Timedelta(days=config.warmup)
        sub = ds.sel(time=slice(t0, pd.Timestamp(period.end)))
        keep &= (period.select(ds)["qobs"].notnull().mean("time") >= config.min_valid_fraction).values
        for v in ("prcp", "tmean"):
            keep &= sub[v].notnull().all("time").values
    dropped = ds["basin"].values[~keep]
    if dropped.size:
        note(f"{dropped.size} of {keep.size} basins dropped (incomplete forcing or < {100 * config.min_valid_fraction:.0f}% "
             f"streamflow days in a period): {', '.join(map(str, dropped[:8]))}{' ...' if dropped.size > 8 else ''}")
    return keep


def _subset(ds: xr.Dataset, n: int | None, seed: int) -> xr.Dataset:
    if n is None or n >= ds.sizes["basin"]:
        return ds
    rng = np.random.default_rng(seed)
    return ds.isel(basin=np.sort(rng.choice(ds.sizes["basin"], n, replace=False)))


def _with_caravan(ds: xr.Dataset, caravan: xr.Dataset, prefix: str, columns: Sequence[str], region: str) -> xr.Dataset:
    ids = np.array([f"{prefix}_{b}" for b in ds["basin"].values])
    present = np.isin(ids, caravan["basin"].values)
    if not present.all():
        note(f"{int((~present).sum())} of {present.size} {region} basins have no Caravan attributes and are left out: "
             f"{', '.join(ids[~present][:8])}{' ...' if (~present).sum() > 8 else ''}")
    ds = ds.isel(basin=np.flatnonzero(present)).assign_coords(basin=ids[present])
    att = caravan.sel(basin=ds["basin"].values)
    missing = [c for c in columns if c not in att]
    if missing:
        raise DataFormatError(f"Caravan attribute table lacks column(s) {missing} needed by the PUB attribute sets "
                              f"(folder {caravan.attrs.get('source_folder', '?')})")
    for c in columns:
        ds[f"attr_{c}"] = ("basin", att[c].values.astype(float))
    ds["region"] = ("basin", np.full(ds.sizes["basin"], region))
    return ds


def _real_basins(config: PubConfig, columns: Sequence[str]) -> xr.Dataset:
    caravan = load_caravan_attributes(["camels", "camelsgb"])
    us = load_camels_us(variables=["prcp", "tmin", "tmax", "qobs"])
    us["tmean"] = ((us["tmin"] + us["tmax"]) / 2).assign_attrs(units="degC")
    us = _with_caravan(us[["prcp", "tmean", "qobs", "lat", "lon"]], caravan, "camels", columns, "US")
    gb = load_camels_gb(variables=["prcp", "tmean", "qobs"], caravan_only=True)
    gb = _with_caravan(gb[["prcp", "tmean", "qobs", "lat", "lon"]], caravan, "camelsgb", columns, "GB")
    parts = []
    for part in (us, gb):
        part["t_monthly"] = monthly_temperature_climatology(part["tmean"]).transpose("basin", "month")
        parts.append(part)
    start, end = _span(config)
    parts = [p.sel(time=slice(start, end)) for p in parts]
    for p in parts:
        if pd.Timestamp(p["time"].values[0]) > start or pd.Timestamp(p["time"].values[-1]) < end:
            raise ValueError(f"periods need data {start.date()}..{end.date()}; {p['region'].values[0]} has "
                             f"{str(p['time'].values[0])[:10]}..{str(p['time'].values[-1])[:10]}")
    ds = xr.concat(parts, dim="basin", join="exact", data_vars="all")
    ds["aridity_index"] = (100.0 / ds["attr_ari_ix_sav"]).assign_attrs(
        units="-", long_name="PET/P from HydroATLAS's Global Aridity Index (100 / ari_ix_sav)")
    ds.attrs = {"regions": "CAMELS-US (Daymet) + CAMELS-GB (CEH-GEAR)", "attributes": "Caravan tables"}
    return ds


def load_pub_basins(data_source: str, config: PubConfig, seed: int = 0
                    ) -> tuple[xr.Dataset, DataChoice, dict[str, tuple[str, ...]]]:
    """Basins of both regions on one time axis, with Oudin PET and the attribute sets.

    Returns ``(ds, choice, attribute_sets)``: ``ds`` has dims ``(basin, time)`` with
    ``prcp`` (mm/day), ``tmean`` (°C), ``pet`` (mm/day, Oudin from temperature and
    latitude), ``qobs`` (mm/day), per basin ``lat``, ``lon``, ``region``, ``t_monthly``
    (°C, 12 months, whole record), ``aridity_index`` (PET/P, for the climate classes) and
    ``attr_<column>``. Without real data (``auto``) the
    synthetic twin's virtual basins stand in, and ``choice`` says so.
    """
    if data_source not in ("auto", "real", "synthetic"):
        raise ValueError(f"data_source must be auto, real or synthetic, got {data_source!r}")
    ds = None
    if data_source in ("auto", "real"):
        sets = _attribute_sets("real")
        try:
            ds = _real_basins(config, sets["large"])
        except DataNotFoundError:
            if data_source == "real":
                raise
            log.warning("CAMELS-US/GB or Caravan attributes not found in %s: using the synthetic twin", data_dir())
    if ds is not None:
        ds = ds.isel(basin=np.flatnonzero(_usable(ds, config)))
        us = _subset(ds.isel(basin=np.flatnonzero(ds["region"].values == "US")), config.n_basins_us, seed)
        gb = _subset(ds.isel(basin=np.flatnonzero(ds["region"].values == "GB")), config.n_basins_gb, seed)
        ds = add_forcing_variables(xr.concat([us, gb], dim="basin", data_vars="all"), pet_method="oudin")
        desc = (f"CAMELS-US ({us.sizes['basin']} basins) + CAMELS-GB ({gb.sizes['basin']} basins) in {data_dir()}, "
                f"Caravan attributes; Oudin PET; {str(ds['time'].values[0])[:10]} … {str(ds['time'].values[-1])[:10]}")
        return ds, DataChoice("real", desc), sets
    start, end = _span(config)
    twin = make_virtual_basins(n_basins=config.n_synthetic, seed=seed)
    if pd.Timestamp(twin["time"].values[0]) > start or pd.Timestamp(twin["time"].values[-1]) < end:
        raise ValueError(f"the twin covers {str(twin['time'].values[0])[:10]}..{str(twin['time'].values[-1])[:10]}; "
                         f"the configured periods need {start.date()}..{end.date()}")
    twin = add_forcing_variables(twin, pet_method="oudin")
    twin["t_monthly"] = monthly_temperature_climatology(twin["tmean"]).transpose("basin", "month")
    twin["region"] = ("basin", np.full(twin.sizes["basin"], "twin"))
    twin["aridity_index"] = twin["attr_aridity"].assign_attrs(units="-", long_name="PET/P of the twin")
    keep = [v for v in ("prcp", "tmean", "pet", "qobs", "lat", "lon", "region", "t_monthly", "aridity_index")
            if v in twin]
    keep += [v for v in twin.data_vars if v.startswith("attr_") or v.startswith("true_")]
    twin = twin[keep].sel(time=slice(start, end))
    twin = twin.isel(basin=np.flatnonzero(_usable(twin, config)))
    desc = (f"synthetic twin (dplrepro.data.twin, seed {seed}): {twin.sizes['basin']} virtual basins with "
            f"known transfer functions; {str(twin['time'].values[0])[:10]} … {str(twin['time'].values[-1])[:10]}")
    return twin, DataChoice("synthetic", desc), _attribute_sets("synthetic")


# ----------------------------------------------------------------------------------- groups and folds
def assign_climate_groups(ds: xr.Dataset, min_group_basins: int) -> tuple[xr.Dataset, pd.DataFrame]:
    """Add ``koppen`` (main class) and ``climate_group`` per basin; merge groups that are too small.

    A group with fewer than ``min_group_basins`` basins cannot be cross-validated with
    meaningful folds: it joins the largest group (logged). Returns the dataset and a table
    of group sizes (before and after merging, per region).
    """
    main = koppen_main_class(ds["t_monthly"].values, ds["aridity_index"].values)
    group = climate_group(main)
    sizes = pd.Series(group).value_counts()
    largest = sizes.index[0]
    final = group.copy()
    for g, n in sizes.items():
        if n < min_group_basins and g != largest:
            log.warning("climate group %s has %d basins (< %d): merged into %s", g, n, min_group_basins, largest)
            final[group == g] = largest
    ds = ds.assign(koppen=("basin", main), climate_group_raw=("basin", group), climate_group=("basin", final))
    table = pd.DataFrame({"region": ds["region"].values, "group": group, "used as": final})
    counts = table.groupby(["group", "used as", "region"]).size().unstack("region", fill_value=0)
    for g in CLIMATE_GROUPS:  # report empty groups too
        if g not in counts.index.get_level_values(0):
            counts.loc[(g, "-"), :] = 0
    counts["total"] = counts.sum(axis=1)
    return ds, counts.astype(int).sort_index()


@dataclass(frozen=True)
class Member:
    """One trained model of the protocol: a (group, fold, fraction) with its train and test basins."""

    index: int
    group: str
    fold: int
    fraction: float
    train: tuple
    test: tuple
    seed: int = 0


def make_members(ds: xr.Dataset, k: int, fractions: Sequence[float], seed: int) -> list[Member]:
    """k-fold split inside each ``climate_group`` × nested training fractions (seeded)."""
    if not fractions or max(fractions) != 1.0:
        raise ValueError(f"fractions must include 1.0 (the full training set), got {list(fractions)}")
    members = []
    for f in pub_folds(ds["basin"].values, k, seed, groups=ds["climate_group"].values):
        if len(f["train"]) == 0 or len(f["test"]) == 0:
            raise ValueError(f"group {f['group']!r} is too small for {k} folds")
        sub_seed = zlib.crc32(f"{seed}|{f['group']}|{f['fold']}".encode())
        for frac in sorted(fractions, reverse=True):
            train = subsample_basins(f["train"], frac, sub_seed)
            members.append(Member(len(members), str(f["group"]), int(f["fold"]), float(frac),
                                  tuple(train.tolist()), tuple(np.asarray(f["test"]).tolist())))
    return members


def make_seed_members(ds: xr.Dataset, k: int, fractions: Sequence[float], seeds: Sequence[int]) -> list[Member]:
    """:func:`make_members` for every seed (its own fold split and nested subsets), numbered
    consecutively: every basin is a test basin once per seed and fraction."""
    out = []
    for s in seeds:
        for m in make_members(ds, k, fractions, int(s)):
            out.append(replace(m, index=len(out), seed=int(s)))
    return out


# ----------------------------------------------------------------------------------- tensors
def _raw_attributes(ds: xr.Dataset, attributes: Sequence[str]) -> np.ndarray:
    """``[basin, attribute]`` values (log10 for :data:`LOG_ATTRIBUTES`), NaN where missing."""
    cols = []
    for a in attributes:
        v = ds[f"attr_{a}"].values.astype(float)
        cols.append(np.log10(np.clip(v, 1e-6, None)) if a in LOG_ATTRIBUTES else v)
    return np.stack(cols, -1)


def member_standardised(raw: np.ndarray, train_rows: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """z-scores of ``raw[rows]`` with the mean and std of ``raw[train_rows]`` -- a member's
    TRAINING basins only, so no held-out basin shapes the scaling; NaN stays NaN."""
    mean = np.nanmean(raw[train_rows], axis=0)
    sd = np.nanstd(raw[train_rows], axis=0)
    return (raw[rows] - mean) / np.where(sd > 0, sd, 1.0)


def _finish_attributes(z: np.ndarray) -> np.ndarray:
    """Missing z-scores become 0 (the training mean), counted in the log; float32."""
    n_nan = int(np.isnan(z).sum())
    if n_nan:
        log.info("%d missing attribute values set to the mean", n_nan)
    return np.nan_to_num(z, nan=0.0).astype(np.float32)


def stack_columns(ds: xr.Dataset, members: Sequence[Member], which: str, period: TimeWindow,
                  attributes: Sequence[str], warmup: int) -> tuple[SiteTensors, pd.DataFrame]:
    """One column per (member, basin) for the member's ``train`` or ``test`` basins over ``period``
    (plus ``warmup`` days before it). Static inputs ``x [1, column, n_attr]`` of standardised
    attributes, preceded by a member-id column (the member's position in ``members``) when
    there are several members; HBV forcing and observed streamflow ``[time, column]``."""
    if which not in ("train", "test"):
        raise ValueError(f"which must be 'train' or 'test', got {which!r}")
    position = {b: i for i, b in enumerate(ds["basin"].values.tolist())}
    rows = [(slot, b) for slot, m in enumerate(members) for b in getattr(m, which)]
    slot_of = np.array([r[0] for r in rows])
    idx = np.array([position[r[1]] for r in rows])
    t0 = pd.Timestamp(period.start) - pd.Timedelta(days=warmup)
    sub = ds.sel(time=slice(t0, pd.Timestamp(period.end)))
    if pd.Timestamp(sub["time"].values[0]) != t0:
        raise ValueError(f"period {period.start}..{period.end} needs data from {t0.date()} (warm-up)")
    raw = _raw_attributes(ds, attributes)
    z = np.empty((len(rows), len(attributes)))
    for slot, m in enumerate(members):   # each member's columns with its own training statistics
        at = slot_of == slot
        z[at] = member_standardised(raw, np.array([position[b] for b in m.train]), idx[at])
    z = _finish_attributes(z)
    x = (np.concatenate([slot_of[:, None].astype(np.float32), z], -1) if len(members) > 1 else z)[None]
    forcing = {v: sub[v].transpose("time", "basin").values[:, idx].astype(np.float32) for v in ("prcp", "tmean", "pet")}
    target = sub["qobs"].transpose("time", "basin").values[:, idx].astype(np.float32)
    of = [members[i] for i in slot_of]
    columns = pd.DataFrame({
        "member": [m.index for m in of], "seed": [m.seed for m in of], "basin": [r[1] for r in rows],
        "group": [m.group for m in of],
        "fold": [m.fold for m in of], "fraction": [m.fraction for m in of],
    })
    return SiteTensors(x=x, forcing=forcing, target=target, site_ids=columns["basin"].values), columns


# ----------------------------------------------------------------------------------- training and scores
def make_pub_model(method: str, n_attributes: int, n_members: int, config: PubConfig) -> DplModel:
    """HBV with static parameters from linear transfer functions (``ltf*``) or a static MLP (``dpl*``)."""
    if method.startswith("ltf"):
        hbv = HBV(nmul=config.ltf_nmul, warmup=config.warmup, routing=True)
        net = LinearTransfer(n_attributes, hbv.parameter_table.names, n_members=n_members, nmul=config.ltf_nmul)
    elif method.startswith("dpl"):
        nmul = config.nmul if method.endswith("_multi") else config.ltf_nmul   # headline: the same HBV as LTF
        hbv = HBV(nmul=nmul, warmup=config.warmup, routing=True)
        net = StaticMLP(n_attributes, hbv.parameter_table.names, nmul=nmul, hidden_size=config.hidden_size,
                        dropout=config.dropout, n_members=n_members)
    else:
        raise ValueError(f"method must start with 'ltf' or 'dpl', got {method!r}")
    return DplModel(net, hbv)


def train_members(method: str, train: SiteTensors, n_members: int, n_attributes: int, config: PubConfig, *,
                  checkpoint_dir: Path | None = None, device: str = "auto", progress: bool = True) -> Trainer:
    """Train every member of one method together: whole-domain batches (all columns every step)."""
    torch.manual_seed(config.seed)
    model = make_pub_model(method, n_attributes, n_members, config)
    base = config.ltf_training if method.startswith("ltf") else config.training
    tc = replace(base, batch_sites=train.n_sites, seed=config.seed, device=device, progress=progress,
                 clip_grad_norm=None)
    trainer = Trainer(model, tc, checkpoint_dir=checkpoint_dir)
    trainer.fit(train)
    return trainer


def score_members(trainer: Trainer, test: SiteTensors, columns: pd.DataFrame, warmup: int) -> pd.DataFrame:
    """Test-period KGE (and NSE, KGE's components) of every (member, test basin) column."""
    sim = trainer.predict(test, start=warmup)["q"]
    obs = test.target[warmup:]
    comps = kge(sim, obs, axis=0, return_components=True)
    return columns.assign(kge=comps["kge"], kge_r=comps["r"], kge_beta=comps["beta"], kge_gamma=comps["gamma"],
                          nse=nse(sim, obs, axis=0))


@dataclass
class MethodRuns:
    """Every method's test scores (one row per member and test basin, with ``method`` and
    ``region``), training histories, and a timing row per method (wall time in s)."""

    scores: pd.DataFrame
    histories: dict
    timing: dict


def train_and_score_methods(ds: xr.Dataset, members: Sequence[Member], attribute_sets: dict, config: PubConfig,
                            checkpoint_root: Path, *, device: str = "auto", progress: bool = False) -> MethodRuns:
    """Train each method of :data:`METHODS` on its members (all fractions, or fraction 1 only)
    and score it on its test basins. Checkpoints go under ``checkpoint_root/<method>-<key>``,
    the key hashing the configuration, attributes and members, so a rerun resumes."""
    scores, histories, timing = [], {}, {}
    for method, (_, set_name, every_fraction) in METHODS.items():
        chosen = members if every_fraction else [m for m in members if m.fraction == 1.0]
        attrs = attribute_sets[set_name]
        train, _ = stack_columns(ds, chosen, "train", config.train_period, attrs, config.warmup)
        test, test_columns = stack_columns(ds, chosen, "test", config.test_period, attrs, config.warmup)
        key = config_hash({"config": config.to_dict(), "method": method, "attributes": list(attrs),
                           "members": [(m.group, m.fold, m.fraction, list(m.train)) for m in chosen]})
        trainer = train_members(method, train, len(chosen), len(attrs), config, device=device, progress=progress,
                                checkpoint_dir=Path(checkpoint_root) / f"{method}-{key}")
        scores.append(score_members(trainer, test, test_columns, config.warmup).assign(method=method))
        histories[method] = trainer.history
        # the cost training had, also when a finished checkpoint (same content key) is reused here
        timing[method] = {"members": len(chosen), "training columns": train.n_sites, "attributes": len(attrs),
                          "epochs": len(trainer.history.epoch),
                          "wall time (s)": round(trainer.history.wall_time_s[-1], 1) if trainer.history.wall_time_s
                          else 0.0, "reused (finished checkpoint)": trainer.epochs_run_here == 0}
    scores = pd.concat(scores, ignore_index=True)
    scores["region"] = ds["region"].to_series().reindex(scores["basin"]).values
    return MethodRuns(scores, histories, timing)


def fraction_curve(scores: pd.DataFrame) -> pd.DataFrame:
    """Median over basins of the seed-mean test KGE of LTF-8 and dPL-8 per training fraction
    (rows: fraction, columns: method)."""
    chosen = scores[scores["method"].isin(["ltf8", "dpl8"])]
    per_basin = chosen.groupby(["method", "fraction", "basin"])["kge"].mean()   # the seeds' mean per basin
    return per_basin.groupby(["method", "fraction"]).median().unstack(0)


def fraction_to_match(curve: pd.Series, target: float) -> float | None:
    """Smallest training fraction whose median KGE reaches ``target`` (None if none does).

    ``curve`` maps fraction -> median KGE (e.g. dPL's), ``target`` is e.g. the linear
    transfer functions' median KGE with all training basins.
    """
    hits = [float(f) for f, v in curve.items() if np.isfinite(v) and v >= target]
    return min(hits) if hits else None


#: The paper's global PUB numbers (Beck et al. 2020's 4,229 basins): median test KGE, fraction to match.
PAPER_REFERENCE = {"median_kge_beck": 0.48, "median_kge_dpl8": 0.56, "median_kge_dpl27": 0.60,
                   "fraction_to_match": 0.125}


def kge_matrix(scores: pd.DataFrame, method: str, fraction: float, basins: Sequence) -> np.ndarray:
    """``[seed, basin]`` test KGE of ``method`` at ``fraction`` for ``basins`` (NaN where absent)."""
    part = scores[(scores["method"] == method) & np.isclose(scores["fraction"], fraction)]
    return part.pivot_table(index="seed", columns="basin", values="kge").reindex(columns=list(basins)).values


def pub_claims(scores: pd.DataFrame, config: PubConfig) -> dict:
    """The PUB claims' evidence, paired over basins (seed means): dPL-8 − LTF-8 and dPL-27 − dPL-8
    (every training basin), dPL-8 with 1/8 of them − LTF-8 with all (if 0.125 was run)."""
    basins = sorted(scores["basin"].unique())
    m = lambda method, f=1.0: kge_matrix(scores, method, f, basins)  # noqa: E731
    out = {"pub_dpl8": paired_evidence("pub_dpl8", m("dpl8"), m("ltf8"), config.seeds, seed=config.seed),
           "pub_dpl27": paired_evidence("pub_dpl27", m("dpl27"), m("dpl8"), config.seeds, seed=config.seed)}
    if any(np.isclose(f, 0.125) for f in config.fractions):
        out["pub_fraction"] = paired_evidence("pub_fraction", m("dpl8", 0.125), m("ltf8"), config.seeds,
                                              seed=config.seed)
    return out


def median_kge_by(main: pd.DataFrame, by: str) -> pd.DataFrame:
    """Median test KGE per ``by`` (group, region) and method, methods in :data:`METHODS` order."""
    return main.pivot_table(index=by, columns="method", values="kge", aggfunc="median")[list(METHODS)]


def chapter_summary(ds: xr.Dataset, config: PubConfig, group_sizes: pd.DataFrame, scores: pd.DataFrame,
                    curve: pd.DataFrame, n_train: pd.Series, match: float | None, timing: dict,
                    mapping: pd.DataFrame) -> dict:
    """The global PUB chapter's ``summary.json`` content (keys: :data:`dplrepro.results.SCHEMAS`):
    median test KGE per method with every training basin (fraction 1), by climate group and by
    region, the fraction curve (:func:`fraction_curve`; ``n_train``: training basins per fraction)
    and fraction to match, training times (s), group sizes and the attribute mapping."""
    main = scores[scores["fraction"] == 1.0]
    seed_mean = main.groupby(["method", "basin"])["kge"].mean()
    medians = seed_mean.groupby("method").median()
    per = {by: median_kge_by(main, by) for by in ("group", "region")}
    return {
        "n_basins": int(ds.sizes["basin"]),
        "n_basins_by_region": {str(k): int(v) for k, v in ds["region"].to_series().value_counts().items()},
        "k_folds": config.k_folds,
        "fractions": list(config.fractions),
        "group_sizes": {f"{g}|{used}": {str(r): int(n) for r, n in row.items()}
                        for (g, used), row in group_sizes.iterrows()},
        **{f"median_kge_{m}": float(medians[m]) for m in METHODS},
        **{f"median_kge_by_{by}": {k: {m: float(v) for m, v in row.items()} for k, row in table.iterrows()}
           for by, table in per.items()},
        "median_kge_by_fraction": {m: {f"{f:g}": float(curve.loc[f, m]) for f in curve.index} for m in curve.columns},
        "fraction_curve": [{"method": m, "fraction": float(f), "median_kge": float(curve.loc[f, m]),
                            "n_train_basins": int(n_train.loc[f])} for m in curve.columns for f in curve.index],
        "fraction_to_match_ltf": match,
        "seeds": list(config.seeds), "claims": pub_claims(scores, config),
        "nmul_headline": int(config.ltf_nmul), "nmul_extra": int(config.nmul),
        "training": timing,
        "attribute_mapping": mapping.to_dict(orient="records"),
        "paper_reference": PAPER_REFERENCE,
    }

"""SMAP gap filling: an LSTM one-day-ahead soil-moisture forecast with data integration.

After Fang et al. (2017, GRL 44:11030; LSTM prolongation of SMAP from NLDAS-2 forcing) and
Fang & Shen (2020, J. Hydrometeorol. 21:399; "data integration", DI): the network is
driven by daily forcing and static soil/vegetation attributes and, at every day ``t``,
also receives the **most recent SMAP observation strictly before t** and its **age** in
days. Where SMAP has a value, it is kept; on the days between overpasses (SMAP revisits
every 2-3 days) and outside the SMAP record the forecast fills the gap.

Causality
---------
The forecast for day ``t`` uses forcings and attributes up to and including ``t`` (they
are known: NLDAS-2 is a reanalysis) but **SMAP only from days before t** (DI from earlier
days only). Changing an observation on day ``t`` therefore changes forecasts from day
``t + 1`` on, never on days ``<= t``; :func:`latest_observation` implements this and the
tests check it. Observations at least ``max_age`` days old are treated as absent: the DI
value is then the cell's climatology (mean of its training observations) and the age is
``max_age``.

Tensors are time-major, ``[time, site, feature]`` (project convention); xarray objects
outside use dims ``(cell, time)``. Units: SMAP and every soil-moisture output in m3/m3.

Public API
----------
* :func:`latest_observation` -- ``(value, age)`` of the last observation before each day.
* :class:`SmapForecaster` -- the network (``nn.Module``), m3/m3 in and out.
* :func:`fit_gapfill` -- train on a window's SMAP days with the project's one
  :class:`~dplrepro.train.Trainer`; returns a :class:`GapFillModel`.
* :class:`GapFillModel` -- ``forecast``, ``fill`` (gap-free series + ``is_forecast``),
  ``score`` (held-out SMAP days vs persistence and climatology), ``save``/``load``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from .. import metrics
from ..data.errors import DataFormatError
from ..data.normalize import Normalizer
from ..data.splits import TimeWindow
from ..train import SiteTensors, TrainConfig, Trainer, TrainHistory
from ..utils import atomic_path, resolve_device, seed_everything

log = logging.getLogger("dplrepro.gapfill")

__all__ = [
    "DEFAULT_FORCINGS",
    "DEFAULT_STATICS",
    "DEFAULT_MAX_AGE",
    "TARGET",
    "GapFillConfig",
    "GapFillModel",
    "SmapForecaster",
    "fit_gapfill",
    "latest_observation",
]

#: SMAP variable of ``smap_conus.nc`` (m3/m3).
TARGET = "smap_am"
#: NLDAS-2 forcings fed to the network (names after :func:`~dplrepro.data.smap.load_smap_conus`).
DEFAULT_FORCINGS: tuple[str, ...] = ("prcp", "tmean", "spfh", "dswrf", "dlwrf", "ugrd", "vgrd")
#: Static per-cell attributes fed to the network.
DEFAULT_STATICS: tuple[str, ...] = ("sand", "clay", "silt", "capa", "bulk", "ndvi")
#: Age cap (days) of the DI input; older observations are treated as absent.
DEFAULT_MAX_AGE = 30
#: Transforms of skewed forcings before standardisation.
_TRANSFORMS = {"prcp": "log1p"}
_METRICS = ("rmse", "ubrmse", "bias", "corr")


# ----------------------------------------------------------------------------- DI input
def latest_observation(
    obs: Any,
    *,
    max_age: int = DEFAULT_MAX_AGE,
    fill: float | np.ndarray = np.nan,
) -> tuple[np.ndarray, np.ndarray]:
    """Most recent observation strictly before each day, and its age in days.

    Parameters
    ----------
    obs : ``[time]`` or ``[time, site]`` array, NaN where there is no observation.
    max_age : observations ``max_age`` or more days old count as absent.
    fill : value used where no observation is available (scalar or one per site, e.g. the
        cell's climatological mean).

    Returns
    -------
    ``value``, ``age`` -- float arrays shaped like ``obs``. For day ``t``: ``value[t] =
    obs[s]`` and ``age[t] = t - s`` where ``s < t`` is the last day with an observation
    (``1 <= age < max_age``); if there is none (or it is too old), ``value[t] = fill`` and
    ``age[t] = max_age``. Day ``t``'s own observation is never used (strictly causal).
    """
    arr = np.asarray(obs, dtype=np.float64)
    if arr.ndim not in (1, 2):
        raise ValueError(f"obs must be [time] or [time, site]; got shape {arr.shape}")
    if isinstance(max_age, bool) or int(max_age) != max_age or max_age < 2:
        raise ValueError(f"max_age must be an integer >= 2 (days); got {max_age!r}")
    max_age = int(max_age)
    squeeze = arr.ndim == 1
    if squeeze:
        arr = arr[:, None]
    n_t, n_s = arr.shape
    if np.ndim(fill) == 0:
        fill_arr = np.full(n_s, float(fill))
    else:
        fill_arr = np.asarray(fill, dtype=np.float64).reshape(-1)
        if fill_arr.shape != (n_s,):
            raise ValueError(f"fill must be a scalar or one value per site ({n_s}); got shape {np.shape(fill)}")
    t_idx = np.arange(n_t)[:, None]
    seen = np.where(np.isfinite(arr), t_idx, -1)
    last_incl = np.maximum.accumulate(seen, axis=0) if n_t else seen
    last = np.full_like(last_incl, -1)
    last[1:] = last_incl[:-1]  # strictly before t
    age = (t_idx - last).astype(np.float64)
    have = (last >= 0) & (age < max_age)
    value = np.where(have, arr[np.clip(last, 0, None), np.arange(n_s)[None, :]], fill_arr[None, :])
    age = np.where(have, age, float(max_age))
    if squeeze:
        return value[:, 0], age[:, 0]
    return value, age


# ----------------------------------------------------------------------------- network
class SmapForecaster(nn.Module):
    """LSTM one-day-ahead SMAP forecast with data integration (DI).

    ``forward(x, di_value, di_age)``:

    * ``x`` ``[time, site, n_inputs]`` -- normalised forcings and static attributes;
    * ``di_value`` ``[time, site]`` -- most recent SMAP value before each day, **m3/m3**;
    * ``di_age`` ``[time, site]`` -- its age in days (``max_age`` = none available);

    returns the soil-moisture forecast ``[time, site]`` in **m3/m3**. The DI value is
    standardised inside with the training SMAP mean/std (buffers ``smap_mean``,
    ``smap_std``), the age is scaled by ``max_age``; the output is de-standardised with the
    same statistics. Forecasts at day ``t`` depend on inputs at days ``<= t`` only.
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int = 64,
        *,
        dropout: float = 0.0,
        smap_mean: float = 0.25,
        smap_std: float = 0.1,
        max_age: int = DEFAULT_MAX_AGE,
    ) -> None:
        super().__init__()
        if n_inputs < 0 or hidden_size < 1:
            raise ValueError(f"need n_inputs >= 0 and hidden_size >= 1; got {n_inputs}, {hidden_size}")
        if not smap_std > 0:
            raise ValueError(f"smap_std must be positive; got {smap_std}")
        self.n_inputs = int(n_inputs)
        self.hidden_size = int(hidden_size)
        self.input_layer = nn.Linear(self.n_inputs + 2, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, 1)
        self.register_buffer("smap_mean", torch.tensor(float(smap_mean)))
        self.register_buffer("smap_std", torch.tensor(float(smap_std)))
        self.register_buffer("max_age", torch.tensor(float(max_age)))

    def forward(self, x: torch.Tensor, di_value: torch.Tensor, di_age: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.n_inputs:
            raise ValueError(f"x must be [time, site, {self.n_inputs}]; got {tuple(x.shape)}")
        if di_value.shape != x.shape[:2] or di_age.shape != x.shape[:2]:
            raise ValueError(
                f"di_value {tuple(di_value.shape)} and di_age {tuple(di_age.shape)} must be [time, site] = {tuple(x.shape[:2])}"
            )
        v = (di_value - self.smap_mean) / self.smap_std
        a = di_age / self.max_age
        h = torch.relu(self.input_layer(torch.cat([x, v.unsqueeze(-1), a.unsqueeze(-1)], dim=-1)))
        h, _ = self.lstm(h)
        y = self.head(self.dropout(h)).squeeze(-1)
        return y * self.smap_std + self.smap_mean


# ----------------------------------------------------------------------------- config
@dataclass
class GapFillConfig:
    """Settings of :func:`fit_gapfill` (stored with the model)."""

    epochs: int = 30
    hidden_size: int = 64
    seed: int = 0
    forcings: tuple[str, ...] = DEFAULT_FORCINGS
    statics: tuple[str, ...] = DEFAULT_STATICS
    max_age: int = DEFAULT_MAX_AGE
    batch_sites: int = 32
    rho: int = 120                 # days per training sequence
    iterations_per_epoch: int | None = None  # default: ~one pass over the site-days
    learning_rate: float = 1e-2    # Adam
    di_dropout: float = 0.2        # fraction of observations hidden from the DI input per iteration
    dropout: float = 0.0
    clip_grad_norm: float | None = 1.0

    def train_config(self, n_time: int, *, device: str = "auto", progress: bool = True) -> TrainConfig:
        """The Trainer's settings: Adam, RMSE (m3/m3) of ``sm_surface`` on ``rho``-day
        windows of an ``n_time``-day period, no warm-up (the LSTM starts from zero)."""
        return TrainConfig(epochs=self.epochs, batch_sites=self.batch_sites, window=min(int(self.rho), n_time),
                           warmup=0, iterations_per_epoch=self.iterations_per_epoch, loss="rmse",
                           output="sm_surface", optimizer="adam", learning_rate=self.learning_rate,
                           clip_grad_norm=self.clip_grad_norm, seed=self.seed, device=device,
                           progress=progress)


# ----------------------------------------------------------------------------- helpers
def _window(w: TimeWindow | Sequence[Any]) -> TimeWindow:
    if isinstance(w, TimeWindow):
        return w
    try:
        start, end = w
    except (TypeError, ValueError) as exc:
        raise TypeError(f"window must be a TimeWindow or (start, end); got {w!r}") from exc
    return TimeWindow(start, end)


def _check_dataset(ds: xr.Dataset, forcings: Sequence[str], statics: Sequence[str], need_target: bool = True) -> None:
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"expected an xarray.Dataset (e.g. load_smap_conus()); got {type(ds).__name__}")
    for d in ("cell", "time"):
        if d not in ds.dims:
            raise DataFormatError(f"dataset lacks dimension {d!r}; expected (cell, time), found {dict(ds.sizes)}")
    wanted = list(forcings) + list(statics) + ([TARGET] if need_target else [])
    missing = [v for v in wanted if v not in ds]
    if missing:
        raise DataFormatError(f"dataset lacks variable(s) {missing} needed for gap filling; present: {sorted(ds.data_vars)}")
    for v in forcings:
        if set(ds[v].dims) != {"cell", "time"}:
            raise DataFormatError(f"forcing {v!r} must have dims (cell, time); has {ds[v].dims}")
    for v in statics:
        if ds[v].dims != ("cell",):
            raise DataFormatError(f"static attribute {v!r} must have dims (cell,); has {ds[v].dims}")
    if need_target and set(ds[TARGET].dims) != {"cell", "time"}:
        raise DataFormatError(f"{TARGET!r} must have dims (cell, time); has {ds[TARGET].dims}")


def _time_major(da: xr.DataArray) -> np.ndarray:
    return np.asarray(da.transpose("time", "cell").values, dtype=np.float64)


def _inputs(ds: xr.Dataset, norm: Normalizer, forcings: Sequence[str], statics: Sequence[str]) -> np.ndarray:
    """Normalised network inputs ``[time, cell, forcings + statics]`` (float32)."""
    n_t, n_c = ds.sizes["time"], ds.sizes["cell"]
    parts = []
    for v in forcings:
        raw = _time_major(ds[v])
        bad = ~np.isfinite(raw)
        if bad.any():
            raise DataFormatError(f"forcing {v!r} has {int(bad.sum())} missing (NaN/inf) values; gap filling needs complete forcing")
        parts.append(norm.transform(raw, v))
    gaps = {}
    for v in statics:
        z = np.asarray(norm.transform(np.asarray(ds[v].values, dtype=np.float64), v))
        nan = ~np.isfinite(z)
        if nan.any():
            gaps[v] = ds["cell"].values[nan].tolist()[:10]
            z = np.where(nan, 0.0, z)  # 0 = the training mean after normalisation
        parts.append(np.broadcast_to(z[None, :], (n_t, n_c)))
    if gaps:
        log.warning("static attributes missing (cells shown), replaced by the training mean: %s", gaps)
    return np.stack(parts, axis=-1).astype(np.float32)


def _median(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


# ----------------------------------------------------------------------------- model
class GapFillModel:
    """A trained gap filler: network + normaliser + per-cell climatology.

    Use :func:`fit_gapfill` to build one. Arrays handed to the network are time-major
    ``[time, cell, feature]``; the methods take and return xarray ``(cell, time)``.
    """

    def __init__(
        self,
        network: SmapForecaster,
        normalizer: Normalizer,
        climatology: xr.DataArray,
        config: GapFillConfig,
        train_window: TimeWindow,
        *,
        history: TrainHistory | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        self.network = network
        self.normalizer = normalizer
        self.climatology = climatology
        self.config = config
        self.train_window = train_window
        self.history = history or TrainHistory()
        self.device = resolve_device(device) if not isinstance(device, torch.device) else device
        self.network.to(self.device)

    # ------------------------------------------------------------------ pieces
    def cell_climatology(self, ds: xr.Dataset) -> np.ndarray:
        """Climatological SMAP mean (m3/m3) of each cell of ``ds``.

        Cells seen in training use their training mean; other cells use the mean of their
        ``smap_am`` in the training window of ``ds`` when available, else the training
        mean over all cells.
        """
        cells = ds["cell"].values
        known = self.climatology["cell"].values
        out = np.full(len(cells), float(self.network.smap_mean), dtype=np.float64)
        pos = {c: i for i, c in enumerate(known.tolist())}
        unknown = []
        for i, c in enumerate(cells.tolist()):
            if c in pos:
                out[i] = float(self.climatology.values[pos[c]])
            else:
                unknown.append(i)
        if unknown and TARGET in ds:
            try:
                sub = self.train_window.select(ds[TARGET].isel(cell=unknown))
                with np.errstate(all="ignore"):
                    m = np.nanmean(_time_major(sub), axis=0) if sub.sizes["time"] else np.full(len(unknown), np.nan)
            except DataFormatError:
                m = np.full(len(unknown), np.nan)
            for j, i in enumerate(unknown):
                if np.isfinite(m[j]):
                    out[i] = m[j]
            log.info("climatology of %d cell(s) not seen in training taken from their training-window data", len(unknown))
        return out

    @torch.no_grad()
    def _predict(self, x: np.ndarray, di_value: np.ndarray, di_age: np.ndarray, batch_sites: int = 256) -> np.ndarray:
        self.network.eval()
        out = []
        for lo in range(0, x.shape[1], batch_sites):
            sl = slice(lo, lo + batch_sites)
            t = lambda a: torch.as_tensor(np.ascontiguousarray(a[:, sl]), dtype=torch.float32, device=self.device)  # noqa: E731
            out.append(self.network(t(x), t(di_value), t(di_age)).float().cpu().numpy())
        return np.concatenate(out, axis=1) if out else np.zeros(x.shape[:2], dtype=np.float32)

    def forecast(self, ds: xr.Dataset, observations: xr.DataArray | None = None, *, progress: bool = False) -> xr.DataArray:
        """One-day-ahead forecast ``smap_forecast`` (cell, time) in m3/m3, every day of ``ds``.

        DI comes from ``observations`` (default ``ds["smap_am"]``), only from days before
        each forecast day. The LSTM starts from a zero state on the first day of ``ds``.
        """
        c = self.config
        _check_dataset(ds, c.forcings, c.statics, need_target=observations is None)
        obs_da = ds[TARGET] if observations is None else observations
        if not isinstance(obs_da, xr.DataArray) or set(obs_da.dims) != {"cell", "time"}:
            raise DataFormatError("observations must be a DataArray with dims (cell, time)")
        obs_da = obs_da.transpose("cell", "time")
        if obs_da.shape != (ds.sizes["cell"], ds.sizes["time"]):
            raise DataFormatError(f"observations have shape {obs_da.shape}; ds has (cell={ds.sizes['cell']}, time={ds.sizes['time']})")
        for d in ("cell", "time"):
            if d in obs_da.coords and not np.array_equal(obs_da[d].values, ds[d].values):
                raise DataFormatError(f"observations' {d!r} coordinate differs from the dataset's (same order required)")
        clim = self.cell_climatology(ds)
        di_value, di_age = latest_observation(_time_major(obs_da), max_age=c.max_age, fill=clim)
        x = _inputs(ds, self.normalizer, c.forcings, c.statics)
        y = self._predict(x, di_value, di_age)
        return xr.DataArray(
            y.T,
            dims=("cell", "time"),
            coords={"cell": ds["cell"].values, "time": ds["time"].values},
            name="smap_forecast",
            attrs={
                "units": "m3/m3",
                "long_name": "LSTM one-day-ahead SMAP forecast with data integration (SMAP from earlier days only)",
            },
        )

    def fill(self, ds: xr.Dataset) -> xr.DataArray:
        """Gap-free SMAP ``smap_filled`` (cell, time), m3/m3.

        Observed values are kept exactly; every other day gets the one-day-ahead forecast.
        The boolean coordinate ``is_forecast`` (cell, time) marks the filled days.
        """
        obs = ds[TARGET].transpose("cell", "time") if TARGET in ds else None
        if obs is None:
            raise DataFormatError(f"dataset lacks {TARGET!r}; nothing to fill")
        fc = self.forecast(ds)
        observed = np.isfinite(obs.values)
        filled = np.where(observed, obs.values, fc.values.astype(obs.dtype))
        return xr.DataArray(
            filled,
            dims=("cell", "time"),
            coords={"cell": ds["cell"].values, "time": ds["time"].values, "is_forecast": (("cell", "time"), ~observed)},
            name="smap_filled",
            attrs={
                "units": "m3/m3",
                "long_name": "SMAP L3 surface soil moisture, gaps filled by an LSTM one-day-ahead forecast (DI)",
                "is_forecast": "True where the value is a forecast, False where it is the SMAP observation",
            },
        )

    def score(
        self,
        ds: xr.Dataset,
        window: TimeWindow | Sequence[Any],
        *,
        hide_fraction: float = 0.2,
        seed: int = 0,
        per_cell: bool = False,
    ) -> dict[str, Any]:
        """Skill on held-out SMAP observations of ``window``, against two baselines.

        In each cell a random (``seed``) ``hide_fraction`` of its observed days inside
        ``window`` is hidden from the DI input; the model runs from the first day of ``ds``
        to the end of ``window`` and is scored on the hidden days only, as are

        * ``persistence`` -- the last available (non-hidden) observation before the day
          (climatology when none within ``max_age`` days);
        * ``climatology`` -- the cell's mean of its training observations.

        Returns ``{"lstm"|"persistence"|"climatology": {"rmse", "ubrmse", "bias", "corr"},
        "n_cells", "n_held_out", "window", "hide_fraction", "seed"}`` where each metric is
        the **median over cells** (m3/m3 for rmse/ubrmse/bias) computed with
        :mod:`dplrepro.metrics`. ``corr`` of climatology is NaN (a constant series). With
        ``per_cell=True`` also ``"per_cell"``: an ``xr.Dataset`` of every metric per cell.
        """
        w = _window(window)
        if not 0.0 < hide_fraction < 1.0:
            raise ValueError(f"hide_fraction must be in (0, 1); got {hide_fraction}")
        if TARGET not in ds:
            raise DataFormatError(f"dataset lacks {TARGET!r}; nothing to score")
        times = pd.DatetimeIndex(ds["time"].values)
        if w.start_ts < times.min() or w.end_ts > times.max():
            raise DataFormatError(f"score window {w} is outside the data's time range {times.min().date()}..{times.max().date()}")
        ds = ds.sel(time=slice(None, w.end_ts))
        times = pd.DatetimeIndex(ds["time"].values)
        obs = _time_major(ds[TARGET])
        in_win = np.asarray((times >= w.start_ts) & (times <= w.end_ts))
        rng = np.random.default_rng(seed)
        hidden = np.zeros_like(obs, dtype=bool)
        for s in range(obs.shape[1]):
            idx = np.flatnonzero(np.isfinite(obs[:, s]) & in_win)
            k = int(round(hide_fraction * idx.size))
            if k:
                hidden[rng.choice(idx, size=k, replace=False), s] = True
        if not hidden.any():
            raise DataFormatError(f"no SMAP observations of {TARGET!r} in window {w}; nothing to score")
        obs_di = np.where(hidden, np.nan, obs)
        di_da = xr.DataArray(obs_di.T, dims=("cell", "time"), coords={"cell": ds["cell"].values, "time": ds["time"].values})
        lstm = _time_major(self.forecast(ds, di_da))
        clim = self.cell_climatology(ds)
        pers, _ = latest_observation(obs_di, max_age=self.config.max_age, fill=clim)
        truth = np.where(hidden, obs, np.nan)
        sims = {"lstm": lstm, "persistence": pers, "climatology": np.broadcast_to(clim[None, :], obs.shape)}
        result: dict[str, Any] = {}
        cells_ds = xr.Dataset(coords={"cell": ds["cell"].values})
        for name, sim in sims.items():
            sim = np.where(hidden, sim, np.nan)
            vals = {}
            for m in _METRICS:
                per = np.asarray(metrics.METRICS[m].func(sim, truth, axis=0), dtype=np.float64)
                vals[m] = _median(per)
                cells_ds[f"{name}_{m}"] = ("cell", per)
            result[name] = vals
        result.update(
            n_cells=int(obs.shape[1]),
            n_held_out=int(hidden.sum()),
            window=str(w),
            hide_fraction=float(hide_fraction),
            seed=int(seed),
        )
        if per_cell:
            cells_ds["n_held_out"] = ("cell", hidden.sum(axis=0))
            result["per_cell"] = cells_ds
        return result

    def describe(self) -> dict[str, Any]:
        """What to record next to results: config, seed, device, training window, wall time, loss."""
        return {
            "model": "SmapForecaster (LSTM, data integration)",
            "config": asdict(self.config),
            "train_window": str(self.train_window),
            "device": str(self.device),
            "train_wall_time_s": self.history.wall_time_s[-1] if self.history.wall_time_s else None,
            "final_train_rmse": self.history.loss[-1] if self.history.loss else None,
            "n_train_cells": int(self.climatology.sizes["cell"]),
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write network, normaliser, climatology and config to ``path`` (atomic)."""
        state = {
            "format": "dplrepro.GapFillModel",
            "version": 1,
            "network": self.network.state_dict(),
            "network_args": {"n_inputs": self.network.n_inputs, "hidden_size": self.network.hidden_size},
            "normalizer": self.normalizer.to_dict(),
            "climatology": {"cell": self.climatology["cell"].values.tolist(), "value": self.climatology.values.tolist()},
            "config": asdict(self.config),
            "train_window": [self.train_window.start, self.train_window.end],
            "history": asdict(self.history),
        }
        with atomic_path(path) as tmp:
            torch.save(state, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> "GapFillModel":
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if state.get("format") != "dplrepro.GapFillModel":
            raise DataFormatError(f"{path} is not a saved GapFillModel (format {state.get('format')!r})")
        cfg = state["config"]
        cfg = GapFillConfig(**{**cfg, "forcings": tuple(cfg["forcings"]), "statics": tuple(cfg["statics"])})
        net = SmapForecaster(**state["network_args"], dropout=cfg.dropout, max_age=cfg.max_age)
        net.load_state_dict(state["network"])
        clim = xr.DataArray(np.asarray(state["climatology"]["value"]), dims=("cell",),
                            coords={"cell": state["climatology"]["cell"]}, name="smap_climatology")
        return cls(net, Normalizer.from_dict(state["normalizer"]), clim, cfg, TimeWindow(*state["train_window"]),
                   history=TrainHistory(**state["history"]), device=device)


# ----------------------------------------------------------------------------- training
class _TrainerView(nn.Module):
    """The Trainer's view of a :class:`SmapForecaster`: DI from ``forcing``, output
    ``sm_surface`` ``[time, site]`` in m3/m3."""

    def __init__(self, network: SmapForecaster) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor, forcing: dict[str, torch.Tensor], z: Any = None) -> dict[str, torch.Tensor]:
        return {"sm_surface": self.network(x, forcing["di_value"], forcing["di_age"])}


def _di_forcing(trainer: Trainer, data: SiteTensors, sites: np.ndarray, days: slice, *,
                fill: np.ndarray, max_age: int, di_dropout: float) -> dict[str, np.ndarray]:
    """DI inputs ``di_value`` (m3/m3) and ``di_age`` (days) of ``sites`` on ``days``.

    The last observation comes from the whole period of ``data.target`` before each day;
    while training, a fresh ``di_dropout`` fraction of it is hidden first (drawn from the
    Trainer's generator, so a resumed run repeats the draws). ``fill``: per-site
    climatology (m3/m3) where no observation is available.
    """
    obs = data.target[:, sites]
    keep = np.isfinite(obs)
    if trainer.model.training:
        keep &= trainer.generator.random(obs.shape) >= di_dropout
    value, age = latest_observation(np.where(keep, obs, np.nan), max_age=max_age, fill=fill[sites])
    return {"di_value": value[days], "di_age": age[days]}


def fit_gapfill(
    ds: xr.Dataset,
    train_window: TimeWindow | Sequence[Any],
    *,
    epochs: int = 30,
    hidden_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    progress: bool = True,
    checkpoint_dir: str | Path | None = None,
    **options: Any,
) -> GapFillModel:
    """Train a :class:`SmapForecaster` on the SMAP days of ``train_window``.

    Normalisation statistics (forcings; ``prcp`` via ``log1p``), the SMAP mean/std used
    inside the network and each cell's climatology all come from ``train_window`` only.
    Training runs through :class:`~dplrepro.train.Trainer` (settings from
    :meth:`GapFillConfig.train_config`; ``model.history`` is its
    :class:`~dplrepro.train.TrainHistory`): each iteration draws ``batch_sites`` cells and
    a ``rho``-day sequence inside the window; DI inputs come from the training observations
    before each day, with a fresh random ``di_dropout`` fraction of them hidden (so the
    network also learns longer gaps, as in :meth:`GapFillModel.score`). Loss: RMSE (m3/m3)
    over the observed days of the sequence. Adam, seeded (``seed`` fixes weights, batches
    and DI dropout). ``checkpoint_dir`` (optional): the Trainer's atomic checkpoints; a
    run finding one there resumes from it.

    ``options`` are further :class:`GapFillConfig` fields (``forcings``, ``statics``,
    ``max_age``, ``batch_sites``, ``rho``, ``iterations_per_epoch``, ``learning_rate``,
    ``di_dropout``, ``dropout``, ``clip_grad_norm``).
    """
    unknown = sorted(set(options) - set(GapFillConfig.__dataclass_fields__))
    if unknown:
        raise TypeError(f"unknown fit_gapfill option(s) {unknown}; see GapFillConfig")
    cfg = GapFillConfig(epochs=int(epochs), hidden_size=int(hidden_size), seed=int(seed), **options)
    cfg.forcings, cfg.statics = tuple(cfg.forcings), tuple(cfg.statics)
    if cfg.epochs < 1:
        raise ValueError(f"epochs must be >= 1; got {cfg.epochs}")
    if not 0.0 <= cfg.di_dropout < 1.0:
        raise ValueError(f"di_dropout must be in [0, 1); got {cfg.di_dropout}")
    window = _window(train_window)
    _check_dataset(ds, cfg.forcings, cfg.statics)
    train = window.select(ds)
    dev = resolve_device(device)
    seed_everything(cfg.seed)

    obs = _time_major(train[TARGET])
    if not np.isfinite(obs).any():
        raise DataFormatError(f"no {TARGET!r} observations in the training window {window}")
    smap_mean, smap_std = float(np.nanmean(obs)), float(np.nanstd(obs))
    with np.errstate(all="ignore"):
        clim = np.nanmean(obs, axis=0)
    clim = np.where(np.isfinite(clim), clim, smap_mean)
    climatology = xr.DataArray(clim, dims=("cell",), coords={"cell": train["cell"].values}, name="smap_climatology",
                               attrs={"units": "m3/m3", "window": str(window)})

    norm = Normalizer(on_zero_std="unit")
    transforms = {v: _TRANSFORMS[v] for v in cfg.forcings if v in _TRANSFORMS}
    norm.fit(train, list(cfg.forcings), transforms=transforms)
    norm.fit(train, list(cfg.statics))
    x = _inputs(train, norm, cfg.forcings, cfg.statics)

    net = SmapForecaster(x.shape[-1], cfg.hidden_size, dropout=cfg.dropout, smap_mean=smap_mean,
                         smap_std=max(smap_std, 1e-6), max_age=cfg.max_age)
    data = SiteTensors(x=x, forcing={}, target=obs, site_ids=train["cell"].values)
    di = partial(_di_forcing, fill=clim, max_age=cfg.max_age, di_dropout=cfg.di_dropout)
    trainer = Trainer(_TrainerView(net), cfg.train_config(data.n_time, device=str(dev), progress=progress),
                      checkpoint_dir=checkpoint_dir, batch_forcing=di)
    history = trainer.fit(data)
    net.eval()
    return GapFillModel(net, norm, climatology, cfg, window, history=history, device=dev)

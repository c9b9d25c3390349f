"""The one Trainer: mini-batches of sites × time windows, through any DplModel.

Training data are a :class:`SiteTensors` bundle (time-major arrays):

* ``x``       ``[time, site, n_x]``  normalised network inputs (forcings + attributes), or
  ``[1, site, n_x]`` for static inputs (attributes only) that every day shares
* ``forcing`` ``{name: [time, site]}`` physical forcings for the process model
* ``target``  ``[time, site]``        observations (NaN = missing); ``[time, site, output]``
  for multi-output targets (e.g. a surrogate learning soil moisture and ET together)

Each iteration draws ``batch_sites`` sites and one window start shared by the batch: the
process model runs ``warmup + window`` days, the first ``warmup`` days spin up its
states without gradient, the loss is on the last ``window`` days. For gz the observation history is the ``history`` days of ``target`` that precede
the loss window (never the window itself).

Cost is counted in **forward runs per site**: simulated site-days divided by
(number of sites × training-period length), i.e. how many times, on average, each site's
whole training period has been simulated -- the paper's cost axis.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from .cache import content_key, load_cached, load_checked, save_checked
from .losses import get_loss
from .utils import flush_denormals, resolve_device

log = logging.getLogger("dplrepro.train")

__all__ = ["SiteTensors", "TrainConfig", "Trainer", "TrainHistory"]


@dataclass
class SiteTensors:
    """Time-major arrays for a set of sites over one period (see module docstring)."""

    x: np.ndarray
    forcing: dict[str, np.ndarray]
    target: np.ndarray
    site_ids: np.ndarray | None = None
    z: np.ndarray | None = None  # gz: a fixed observation history per site [time_z, site]; default: the
                                 # ``history`` days of ``target`` before each loss window

    def __post_init__(self) -> None:
        if self.target.ndim not in (2, 3):
            raise ValueError(f"target must be [time, site] or [time, site, output], got shape {self.target.shape}")
        t, s = self.target.shape[:2]
        if self.x.ndim != 3 or self.x.shape[0] not in (1, t) or self.x.shape[1] != s:
            raise ValueError(f"x has shape {self.x.shape}, expected [time={t}, site={s}, feature] "
                             f"(or [1, site={s}, feature] for static inputs)")
        for name, arr in self.forcing.items():
            if arr.shape != (t, s):
                raise ValueError(f"forcing {name!r} has shape {arr.shape}, expected [time={t}, site={s}]")
        if not np.isfinite(self.x).all():
            raise ValueError("network inputs x contain NaN/inf: fill or drop them before training")
        if self.z is not None and (self.z.ndim != 2 or self.z.shape[1] != s):
            raise ValueError(f"z must be [time_z, site={s}], got shape {self.z.shape}")

    @property
    def n_time(self) -> int:
        return self.target.shape[0]

    @property
    def n_sites(self) -> int:
        return self.target.shape[1]


@dataclass
class TrainConfig:
    """Training settings (documented defaults follow the δHBV / dPL practice)."""

    epochs: int = 50
    batch_sites: int = 100
    window: int = 365          # days with loss per sample
    warmup: int = 365          # spin-up days before the window (no gradient inside the model)
    history: int = 365         # gz: days of past observations fed to the encoder
    iterations_per_epoch: int | None = None  # default: enough draws to cover every site-day ~once
    loss: str = "rmse_combined"
    output: str = "q"            # the model output compared with the target (e.g. "q", "sm_surface")
    optimizer: str = "adadelta"  # adadelta | adam
    learning_rate: float = 1.0   # adadelta's default; use ~1e-3 for adam
    clip_grad_norm: float | None = 1.0
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 1    # epochs
    progress: bool = True


@dataclass
class TrainHistory:
    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    forward_runs_per_site: list[float] = field(default_factory=list)
    wall_time_s: list[float] = field(default_factory=list)
    evaluations: list[dict] = field(default_factory=list)  # what ``fit(on_epoch_end=...)`` returned


def _qualname(fn: Any) -> str | None:
    return None if fn is None else getattr(fn, "__qualname__", type(fn).__qualname__)


class Trainer:
    """Train a :class:`~dplrepro.nets.dpl.DplModel` on :class:`SiteTensors`.

    ``checkpoint_dir`` (optional) holds ``checkpoint.pt``, written atomically after every
    ``checkpoint_every`` epochs; :meth:`fit` resumes from it when present, so a killed
    run continues where it stopped. ``extra_state`` (e.g. the normaliser's state) is
    stored in the checkpoint with the model. ``batch_forcing(trainer, data, sites, days)``
    (optional) returns further ``{name: [days, site]}`` forcings for each batch, for inputs
    that change from draw to draw (e.g. randomly hidden observations; draw them from
    ``trainer.generator`` so a resumed run repeats them); ``days`` is the batch's slice of
    ``data``'s time axis, warm-up included.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        config: TrainConfig,
        *,
        checkpoint_dir: str | Path | None = None,
        extra_state: dict[str, Any] | None = None,
        loss_fn: Callable | None = None,
        batch_forcing: Callable[["Trainer", SiteTensors, np.ndarray, slice], dict[str, np.ndarray]] | None = None,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        self.model = model.to(self.device)
        self.loss_fn = loss_fn or get_loss(config.loss)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.extra_state = extra_state or {}
        self.batch_forcing = batch_forcing
        self.history = TrainHistory()
        self.start_epoch = 0
        self.cache_key: str | None = None   # set by fit(): what the checkpoint must match to be resumed
        self.epochs_run_here = 0            # epochs the last fit() computed (0: a finished checkpoint reused)
        self.generator = np.random.default_rng(config.seed)
        if config.optimizer == "adadelta":
            self.optimizer = torch.optim.Adadelta(self.model.parameters(), lr=config.learning_rate)
        elif config.optimizer == "adam":
            self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.learning_rate)
        else:
            raise ValueError(f"optimizer must be 'adadelta' or 'adam', got {config.optimizer!r}")

    # ------------------------------------------------------------------ batches
    def _first_loss_day_for(self, data: SiteTensors) -> int:
        """Earliest day a loss window may start: room for the warm-up (and gz's history,
        unless the data carry a fixed history ``z``)."""
        needs_history = self._uses_history and data.z is None
        return max(self.config.warmup, self.config.history if needs_history else 0)

    @property
    def _uses_history(self) -> bool:
        return bool(getattr(self.model, "uses_history", False))

    @staticmethod
    def _static_x(data: SiteTensors) -> bool:
        return data.x.shape[0] == 1 and data.n_time > 1

    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(arr), dtype=torch.float32, device=self.device)

    def batch(self, data: SiteTensors, sites: np.ndarray, start: int, window: int | None = None) -> dict[str, torch.Tensor]:
        """Tensors for ``sites`` and the sample whose LOSS window starts at day ``start``."""
        c = self.config
        lo, hi = start - c.warmup, start + (window or c.window)
        batch = {
            "x": self._tensor(data.x[:, sites] if self._static_x(data) else data.x[lo:hi, sites]),
            "forcing": {k: self._tensor(v[lo:hi, sites]) for k, v in data.forcing.items()},
            "target": self._tensor(data.target[start:hi, sites]),
        }
        if self._uses_history:
            z = data.z[:, sites] if data.z is not None else data.target[start - c.history : start, sites]
            batch["z"] = self._tensor(z)
        if self.batch_forcing is not None:
            extra = self.batch_forcing(self, data, sites, slice(lo, hi))
            batch["forcing"].update({k: self._tensor(v) for k, v in extra.items()})
        return batch

    def _run(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model(batch["x"], batch["forcing"], batch.get("z"))

    # ------------------------------------------------------------------ training
    def iterations_per_epoch(self, data: SiteTensors) -> int:
        c = self.config
        if c.iterations_per_epoch:
            return c.iterations_per_epoch
        usable = data.n_time - self._first_loss_day_for(data)
        return max(1, math.ceil(data.n_sites / min(c.batch_sites, data.n_sites)) * math.ceil(usable / c.window))

    def fit(self, data: SiteTensors, *, resume: bool = True,
            on_epoch_end: Callable[["Trainer"], dict | None] | None = None) -> TrainHistory:
        """Train for ``config.epochs`` (resuming from a checkpoint when present).

        ``on_epoch_end(trainer)`` may return a dict of evaluation numbers (e.g. the RMSE
        on all training sites); it is stored in ``history.evaluations`` with the epoch's
        cost, which is how cost-vs-accuracy curves are drawn. Subnormal floats are flushed to
        zero from here on (:func:`~dplrepro.utils.flush_denormals`: gradients through a warm-up).
        """
        c = self.config
        flush_denormals()
        first = self._first_loss_day_for(data)
        if data.n_time < first + c.window:
            raise ValueError(
                f"training period has {data.n_time} days; need at least {first} (warm-up"
                f"{'/history' if self._uses_history else ''}) + {c.window} (window) days"
            )
        self.cache_key = self.content_key(data) if self.checkpoint_path else None  # no checkpoint: nothing to key
        if resume:
            self.load_checkpoint()
        self.epochs_run_here = max(0, c.epochs - self.start_epoch)
        n_iter = self.iterations_per_epoch(data)
        batch_sites = min(c.batch_sites, data.n_sites)
        site_days_per_iter = batch_sites * (c.warmup + c.window)
        runs_per_iter = site_days_per_iter / (data.n_sites * data.n_time)
        done_runs = self.history.forward_runs_per_site[-1] if self.history.forward_runs_per_site else 0.0
        started = time.time() - (self.history.wall_time_s[-1] if self.history.wall_time_s else 0.0)
        for epoch in range(self.start_epoch, c.epochs):
            torch.manual_seed(c.seed + epoch)  # dropout stream per epoch: resuming reproduces it
            self.model.train()
            losses = []
            bar = tqdm(range(n_iter), desc=f"epoch {epoch + 1}/{c.epochs}", disable=not c.progress, leave=False)
            for _ in bar:
                sites = np.sort(self.generator.choice(data.n_sites, size=batch_sites, replace=False))
                start = int(self.generator.integers(first, data.n_time - c.window + 1))
                batch = self.batch(data, sites, start)
                if not torch.isfinite(batch["target"]).any():
                    continue
                out = self._run(batch)
                if c.output not in out:
                    raise KeyError(f"model output {c.output!r} not among {sorted(out)}; set TrainConfig.output")
                loss = self.loss_fn(out[c.output], batch["target"])
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if c.clip_grad_norm:
                    clip = getattr(self.model, "clip_gradients", None)   # e.g. per member of a SeedEnsemble
                    if clip is not None:
                        clip(c.clip_grad_norm)
                    else:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.clip_grad_norm)
                self.optimizer.step()
                losses.append(float(loss.detach()))
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
            done_runs += runs_per_iter * n_iter
            self.history.epoch.append(epoch + 1)
            self.history.loss.append(float(np.mean(losses)) if losses else float("nan"))
            self.history.forward_runs_per_site.append(done_runs)
            self.history.wall_time_s.append(time.time() - started)
            log.info("epoch %d loss %.4f", epoch + 1, self.history.loss[-1])
            self.start_epoch = epoch + 1
            if on_epoch_end is not None:
                extra = on_epoch_end(self) or {}
                self.model.train()
                self.history.evaluations.append({"epoch": epoch + 1, "forward_runs_per_site": done_runs, **extra})
            if self.checkpoint_dir and ((epoch + 1) % c.checkpoint_every == 0 or epoch + 1 == c.epochs):
                self.save_checkpoint()
        return self.history

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict(self, data: SiteTensors, start: int, end: int | None = None, batch_sites: int = 500) -> dict[str, np.ndarray]:
        """Run the trained model for days ``start..end`` (exclusive) of ``data``, all sites.

        The model is spun up over the ``warmup`` days before ``start`` (and gz reads the
        ``history`` days before ``start``). Returns numpy arrays ``[time, site, ...]`` for every
        output plus the predicted parameters as ``param_<NAME>`` (``[site, ...]``, or
        ``[time, site, ...]`` for dynamic ones).
        """
        end = data.n_time if end is None else end
        if start < self._first_loss_day_for(data):
            raise ValueError(f"prediction start {start} leaves no room for warm-up/history "
                             f"({self._first_loss_day_for(data)} days)")
        self.model.eval()
        dynamic = set(getattr(getattr(self.model, "parameter_network", None), "dynamic", ()))
        outputs: dict[str, list] = {}
        site_axis: dict[str, int] = {}
        for lo in range(0, data.n_sites, batch_sites):
            sites = np.arange(lo, min(lo + batch_sites, data.n_sites))
            out = self._run(self.batch(data, sites, start, window=end - start))
            for key, value in out.items():
                if key == "params":  # static [site, ...]; dynamic [time, site, ...]
                    for name, p in value.items():
                        outputs.setdefault(f"param_{name}", []).append(p.float().cpu().numpy())
                        site_axis[f"param_{name}"] = 1 if name in dynamic else 0
                elif torch.is_tensor(value) and value.dim() >= 2:  # [time, site, ...]
                    outputs.setdefault(key, []).append(value.float().cpu().numpy())
                    site_axis[key] = 1
        return {k: np.concatenate(v, axis=site_axis[k]) for k, v in outputs.items()}

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path | None:
        return self.checkpoint_dir / "checkpoint.pt" if self.checkpoint_dir else None

    def content_key(self, data: SiteTensors) -> str:
        """What this training's result depends on (:func:`~dplrepro.cache.content_key`): the
        model's class and initial weights (architecture and seed), the configuration (but
        ``progress``), the data by content, the extra state, the loss and batch functions'
        names, the package code and versions. A checkpoint resumes only with the same key."""
        config = {k: v for k, v in asdict(self.config).items() if k != "progress"}
        return content_key(model_type=type(self.model).__qualname__, model=self.model.state_dict(), config=config,
                           data=data, extra=self.extra_state, loss=_qualname(self.loss_fn),
                           batch_forcing=_qualname(self.batch_forcing))

    def save_checkpoint(self) -> Path:
        if not self.checkpoint_path:
            raise ValueError("no checkpoint_dir given")
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.start_epoch,
            "history": asdict(self.history),
            "config": asdict(self.config),
            "numpy_rng": self.generator.bit_generator.state,
            "extra": self.extra_state,
            "cache_key": self.cache_key,
        }
        return save_checked(state, self.checkpoint_path)

    def load_checkpoint(self) -> bool:
        """Resume from ``checkpoint.pt`` if present, readable, intact (checksum) and made for
        this training (:meth:`content_key`, set by :meth:`fit`); return whether it was loaded.
        A checkpoint that fails any of these, or any with ``DPLREPRO_FORCE=1``, is set aside with
        a warning naming it (:func:`~dplrepro.cache.load_cached`) and training starts afresh."""
        path = self.checkpoint_path
        if not path or self.cache_key is None:
            return False
        state = load_cached(path, lambda p: load_checked(p, map_location=self.device),
                            lambda st: st.get("cache_key") if isinstance(st, dict) else None, self.cache_key)
        if state is None:
            return False
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.start_epoch = int(state["epoch"])
        self.history = TrainHistory(**state["history"])
        self.generator.bit_generator.state = state["numpy_rng"]
        self.extra_state = state.get("extra", {})
        log.info("resumed from %s at epoch %d", path, self.start_epoch)
        return True

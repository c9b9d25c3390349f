"""Training losses on masked targets (NaN observations are ignored).

All take ``sim, obs`` as ``[time, site]`` tensors and return a scalar tensor.

* ``rmse``           RMSE over all valid (time, site) pairs.
* ``nse``            NSE-normalised MSE: each site's squared errors divided by that site's
                     observed variance (+ eps), averaged -- the "NSE loss" that keeps
                     dry basins from being ignored next to wet ones.
* ``rmse_combined``  (1 − α)·RMSE(q) + α·RMSE(√q), α = 0.25: RMSE on flow and on
                     square-root-transformed flow, weighting low flows more (δHBV style).
"""

from __future__ import annotations

from typing import Callable

import torch

__all__ = ["rmse_loss", "nse_loss", "combined_rmse_loss", "LOSSES", "get_loss"]


def _masked(sim: torch.Tensor, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if sim.shape != obs.shape:
        raise ValueError(f"sim {tuple(sim.shape)} and obs {tuple(obs.shape)} must have the same shape [time, site]")
    mask = torch.isfinite(obs)
    if not bool(mask.any()):
        raise ValueError("no valid observations in this batch")
    return mask, torch.where(mask, sim - torch.nan_to_num(obs), torch.zeros_like(sim))


def rmse_loss(sim: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    mask, err = _masked(sim, obs)
    return torch.sqrt((err**2).sum() / mask.sum() + 1e-12)


def nse_loss(sim: torch.Tensor, obs: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    mask, err = _masked(sim, obs)
    n = mask.sum(0).clamp(min=1)
    o = torch.nan_to_num(obs)
    mean = (o * mask).sum(0) / n
    var = (((o - mean) * mask) ** 2).sum(0) / n
    site_ok = mask.sum(0) > 1
    per_site = (err**2).sum(0) / n / (var.sqrt() + eps) ** 2
    return per_site[site_ok].mean()


def combined_rmse_loss(sim: torch.Tensor, obs: torch.Tensor, alpha: float = 0.25) -> torch.Tensor:
    root = lambda v: torch.sqrt(torch.clamp(v, min=0) + 1e-6)  # noqa: E731
    return (1 - alpha) * rmse_loss(sim, obs) + alpha * rmse_loss(root(sim), root(obs))


def combined_rmse_by_site(sim: torch.Tensor, obs: torch.Tensor, alpha: float = 0.25) -> torch.Tensor:
    """:func:`combined_rmse_loss` of each site (column) of ``[time, site]`` arrays alone: ``[site]``
    (NaN where a site has no observation). The per-site objective of calibration that matches
    dPL's training loss."""
    if sim.shape != obs.shape:
        raise ValueError(f"sim {tuple(sim.shape)} and obs {tuple(obs.shape)} must have the same shape [time, site]")
    mask = torch.isfinite(obs)
    n = mask.sum(0)
    root = lambda v: torch.sqrt(torch.clamp(v, min=0) + 1e-6)  # noqa: E731

    def site_rmse(a, b):
        err = torch.where(mask, a - torch.nan_to_num(b), torch.zeros_like(a))
        return torch.sqrt((err**2).sum(0) / n.clamp(min=1) + 1e-12)

    out = (1 - alpha) * site_rmse(sim, obs) + alpha * site_rmse(root(sim), root(torch.nan_to_num(obs)))
    return torch.where(n > 0, out, torch.full_like(out, float("nan")))


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "rmse": rmse_loss,
    "nse": nse_loss,
    "rmse_combined": combined_rmse_loss,
}


def get_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name]

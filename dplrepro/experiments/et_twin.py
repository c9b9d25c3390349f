"""ET as an uncalibrated variable: a twin experiment on the real NLDAS-2 forcing.

MODIS MOD16A2 ET is not available here, so the paper's logic runs as a *twin*:

1. Hidden "true" VIC-style parameter fields are a fixed smooth function of the real
   soil and vegetation attributes of the 412 cells (:func:`true_parameters`):
   ``u = sigmoid(b + Σ_a w_a · z_a)`` in the unit cube, ``z`` the standardised sand,
   clay, NDVI, field capacity and bulk density, weights seeded and documented in the
   result; then scaled to each parameter's bounds.
2. The VIC-style model run with the true parameters on the real forcing gives the true
   surface soil moisture and ET. "SMAP-like" observations keep the true soil moisture
   only on days the real SMAP observed that cell, plus Gaussian noise (0.02 m³/m³, the
   SMAP mission's accuracy target) -- the real sampling mask, a synthetic signal.
3. dPL and SCE-UA are calibrated on those soil-moisture observations only; ET is never
   seen. Their ET is scored against the true 8-day ET (MOD16A2 convention), and their
   parameters against the hidden truth (parameter recovery).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr

from ..physics.vic_style import VICStyle

__all__ = ["TRUTH_ATTRIBUTES", "TwinTruth", "true_parameters", "make_twin_observations"]

TRUTH_ATTRIBUTES = ("sand", "clay", "ndvi", "capa", "bulk")


@dataclass
class TwinTruth:
    """The hidden truth of the twin: unit-cube and physical parameters per cell, and the weights."""

    unit: np.ndarray                 # [cell, n_params]
    physical: dict[str, np.ndarray]  # name -> [cell]
    weights: np.ndarray              # [n_attributes, n_params]
    bias: np.ndarray                 # [n_params]
    attributes: tuple[str, ...] = TRUTH_ATTRIBUTES


def true_parameters(grid: xr.Dataset, model: VICStyle, seed: int = 0) -> TwinTruth:
    """Smooth hidden parameter fields from the real attributes (see the module docstring)."""
    z = np.stack([grid[a].values.astype(np.float64) for a in TRUTH_ATTRIBUTES], -1)
    z = np.where(np.isfinite(z), z, np.nanmean(z, axis=0))
    z = (z - z.mean(0)) / (z.std(0) + 1e-9)
    rng = np.random.default_rng(seed)
    names = model.parameter_table.names
    weights = rng.normal(0.0, 0.8, size=(len(TRUTH_ATTRIBUTES), len(names)))
    bias = rng.normal(0.0, 0.5, size=len(names))
    unit = 1.0 / (1.0 + np.exp(-(bias + z @ weights)))
    unit = 0.05 + 0.9 * unit  # keep away from the bounds, where recovery is ill-posed
    physical = {n: np.asarray(model.parameter_table[n].scale(unit[:, i]), np.float32) for i, n in enumerate(names)}
    return TwinTruth(unit.astype(np.float32), physical, weights, bias)


def make_twin_observations(forcing: dict[str, np.ndarray], smap_mask: np.ndarray, truth: TwinTruth,
                           model: VICStyle, *, noise: float = 0.02, seed: int = 0) -> dict[str, np.ndarray]:
    """True soil moisture/ET and SMAP-like observations, ``[time - warmup, cell]``."""
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

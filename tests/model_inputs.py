"""Synthetic inputs shared by the process-model tests (HBV, VIC-style): forcing and parameters."""

from __future__ import annotations

import math

import torch


def seasonal_forcing(n_time: int, n_site: int, dtype=torch.float64, seed: int = 0, *, rain_scale: float = 6.0,
                     pet_per_degree: float = 0.15) -> dict[str, torch.Tensor]:
    """Seasonal temperature (cold winters: snow builds up and melts; degC), intermittent rain with
    mean ``rain_scale`` mm/day on wet days (45 % of days), and PET (mm/day) rising with temperature."""
    g = torch.Generator().manual_seed(seed)
    day = torch.arange(n_time, dtype=torch.float64).unsqueeze(1)
    offset = torch.linspace(-4.0, 6.0, n_site, dtype=torch.float64)
    noise = 3.0 * torch.randn(n_time, n_site, generator=g, dtype=torch.float64)
    tmean = offset + 9.0 - 13.0 * torch.cos(2 * math.pi * day / 365.25) + noise
    wet = torch.rand(n_time, n_site, generator=g, dtype=torch.float64) < 0.45
    amount = -rain_scale * torch.log(torch.rand(n_time, n_site, generator=g, dtype=torch.float64))
    prcp = torch.where(wet, amount, torch.zeros((), dtype=torch.float64))
    pet = 0.4 + pet_per_degree * torch.relu(tmean) + 0.1 * torch.rand(n_time, n_site, generator=g, dtype=torch.float64)
    return {"prcp": prcp.to(dtype), "tmean": tmean.to(dtype), "pet": pet.to(dtype)}


def interior_params(model, n_site: int, n_time: int | None = None, dtype=torch.float64, seed: int = 1,
                    lo: float = 0.1, hi: float = 0.9, requires_grad: bool = False) -> dict[str, torch.Tensor]:
    """Physical parameters drawn in [lo, hi] of each range, static ``[site(, nmul)]`` or dynamic
    ``[time, site(, nmul)]`` as the model says (``nmul`` for models with parallel components)."""
    g = torch.Generator().manual_seed(seed)
    table = model.parameter_table
    components = (model.nmul,) if getattr(model, "nmul", None) is not None else ()
    out = {}
    for name in table.names:
        shape = ((n_time, n_site) if name in model.dynamic else (n_site,)) + components
        unit = lo + (hi - lo) * torch.rand(shape, generator=g, dtype=torch.float64)
        out[name] = table[name].scale(unit).to(dtype).requires_grad_(requires_grad)
    return out

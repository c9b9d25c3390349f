"""Gamma unit-hydrograph routing, batched over sites.

Two parameters per site, ``a`` and ``b`` (the ``ROUTA``/``ROUTB`` of dHBV, typical bounds
``a in [0, 2.9]``, ``b in [0, 6.5]`` days). They are mapped to a well-defined gamma
distribution by

    shape k = a + SHAPE_OFFSET   (0.1)
    scale theta = b + SCALE_OFFSET  (0.5 days)

so that ``k > 0`` and ``theta > 0`` everywhere on the bounds. The unit hydrograph (UH) is
the gamma density evaluated at the day midpoints ``t_i = i + 0.5`` (``i = 0 .. length-1``;
lag 0 is the same day) and normalised to sum to 1, which is done as a softmax over
``(k - 1) log t_i - t_i / theta`` (the constant factors of the density cancel). Because the
weights sum to 1, routing conserves volume: water that leaves the model on day ``t`` appears
at the outlet over days ``t .. t + length - 1``. The truncation at ``length`` days is part of
the normalisation (a long-tailed gamma is renormalised onto the window).

Routing is a causal convolution ``q_routed[t] = sum_i uh[i] * q[t - i]`` done in one
``conv1d`` call with ``groups = site`` (no Python loop over sites).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["SHAPE_OFFSET", "SCALE_OFFSET", "DEFAULT_UH_LENGTH", "gamma_uh", "route", "route_with_uh", "routing_storage"]

SHAPE_OFFSET = 0.1
SCALE_OFFSET = 0.5
DEFAULT_UH_LENGTH = 15


def gamma_uh(a: torch.Tensor, b: torch.Tensor, length: int = DEFAULT_UH_LENGTH) -> torch.Tensor:
    """Unit hydrograph ``Tensor[length, site]`` (each column sums to 1) for ``a, b: Tensor[site]``."""
    if a.shape != b.shape or a.dim() != 1:
        raise ValueError(f"a and b must both be Tensor[site], got {tuple(a.shape)} and {tuple(b.shape)}")
    if length < 1:
        raise ValueError(f"UH length must be >= 1 day, got {length}")
    shape = a + SHAPE_OFFSET
    scale = b + SCALE_OFFSET
    t = torch.arange(length, device=a.device, dtype=a.dtype).unsqueeze(1) + 0.5  # [length, 1]
    log_w = (shape - 1.0) * torch.log(t) - t / scale  # [length, site]
    return torch.softmax(log_w, dim=0)


def route_with_uh(q: torch.Tensor, uh: torch.Tensor) -> torch.Tensor:
    """Causal convolution of ``q: Tensor[time, site]`` with ``uh: Tensor[length, site]``."""
    if q.dim() != 2 or uh.dim() != 2 or q.shape[1] != uh.shape[1]:
        raise ValueError(f"expected q [time, site] and uh [length, site], got {tuple(q.shape)} and {tuple(uh.shape)}")
    length, n_site = uh.shape
    x = F.pad(q.transpose(0, 1).unsqueeze(0), (length - 1, 0))  # [1, site, length-1+time]
    weight = uh.flip(0).transpose(0, 1).unsqueeze(1)  # [site, 1, length]; conv1d is a correlation
    return F.conv1d(x, weight, groups=n_site)[0].transpose(0, 1)


def route(q: torch.Tensor, a: torch.Tensor, b: torch.Tensor, length: int = DEFAULT_UH_LENGTH) -> torch.Tensor:
    """Route ``q: Tensor[time, site]`` (mm/day) through each site's gamma UH -> ``Tensor[time, site]``."""
    return route_with_uh(q, gamma_uh(a, b, length))


def routing_storage(q: torch.Tensor, uh: torch.Tensor) -> torch.Tensor:
    """Water (mm) that entered the routing by the end of ``q [time, site]`` but has not left: ``Tensor[site]``.

    ``sum(route_with_uh(q, uh)) == sum(q) - routing_storage(q, uh)`` over any series that
    starts with an empty routing window.
    """
    length = uh.shape[0]
    if length == 1:
        return torch.zeros_like(q[0])
    # share of a pulse that is still in the window j days after it entered (j = 0 .. length-2)
    tail = torch.cumsum(uh.flip(0), dim=0).flip(0)[1:]  # tail[j] = sum_{i > j} uh[i], [length-1, site]
    recent = q.flip(0)[: length - 1]  # recent[j] = q[time-1-j]
    return (recent * tail[: recent.shape[0]]).sum(dim=0)

"""Regionalisation baseline: linear parameter transfer functions (Beck et al. 2020 style).

Each free parameter of the process model is a linear function of standardised catchment
attributes, truncated to the parameter's range::

    u_j = clip(0.5 + b_j + sum_k w_jk * a_k, 0, 1),   theta_j = low_j + (high_j - low_j) * u_j

``a_k`` are attributes standardised over the basins (z-scores); the coefficients start at
zero (every basin at mid-range). Beck et al. fitted one set of coefficients per climate
group jointly over all of the group's training catchments; here :class:`LinearTransfer`
is a parameter "network" for :class:`~dplrepro.nets.dpl.DplModel`, so the coefficients
are fitted by gradient descent through the differentiable HBV with the one Trainer (Adam;
the choice is documented in the global PUB chapter). The truncation is Beck's: a basin
whose linear value lies outside the range gives no gradient for that parameter until the
others move the line back.

Like :class:`~dplrepro.nets.param_nets.StaticMLP`, one module can hold ``n_members``
independent coefficient sets (one per climate group × fold × data fraction), trained in
one batched run; column 0 of the inputs is then the member id.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ..nets.param_nets import MemberLinear, member_index

__all__ = ["LinearTransfer"]


class LinearTransfer(nn.Module):
    """Linear transfer functions attributes -> unit-interval parameters ``{name: [site, nmul]}``."""

    uses_time = False

    def __init__(self, n_attributes: int, param_names: Sequence[str], *, n_members: int = 1, nmul: int = 1) -> None:
        super().__init__()
        self.param_names = tuple(param_names)
        self.nmul = nmul
        self.n_members = n_members
        self.dynamic: tuple[str, ...] = ()
        self.linear = MemberLinear(n_members, n_attributes, len(self.param_names) * nmul, zero_init=True)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if z is not None:
            raise ValueError("LinearTransfer takes no observation history")
        member, a = member_index(x, self.n_members)
        unit = torch.clamp(0.5 + self.linear(a, member), 0.0, 1.0).view(a.shape[0], len(self.param_names), self.nmul)
        return {name: unit[:, i] for i, name in enumerate(self.param_names)}

    def coefficients(self, member: int = 0) -> dict[str, torch.Tensor]:
        """Intercept (on the unit scale, 0.5 included) and slopes ``[n_attributes]`` of each parameter
        (component 0) for one member."""
        w = self.linear.weight[member].detach().view(-1, len(self.param_names), self.nmul)[:, :, 0]
        b = self.linear.bias[member].detach().view(len(self.param_names), self.nmul)[:, 0]
        return {name: torch.cat([0.5 + b[i : i + 1], w[:, i]]) for i, name in enumerate(self.param_names)}

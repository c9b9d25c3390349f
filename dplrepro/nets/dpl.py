"""The composable dPL model: a parameter network g feeding a differentiable process model f.

``DplModel(g, f)`` works with any process model that has a ``parameter_table`` (named
bounds) and ``forward(forcing: dict[str, Tensor[time, site]], params: dict[str, Tensor])
-> dict[str, Tensor]`` -- HBV, the VIC-style model and an LSTM surrogate alike. The
network predicts parameters in [0, 1]; they are scaled linearly to the table's bounds
here, in one place.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

__all__ = ["DplModel", "SeedEnsemble", "scale_to_bounds"]


def scale_to_bounds(unit: Mapping[str, torch.Tensor], table) -> dict[str, torch.Tensor]:
    """Map unit-interval parameters (by name) to physical values with ``table``'s bounds."""
    return {name: table[name].scale(value) for name, value in unit.items()}


class DplModel(nn.Module):
    """``y = f(forcing, scale(g(x, z)))``: parameter learning through a process model.

    Parameters
    ----------
    parameter_network: a :class:`~dplrepro.nets.param_nets.GA` or ``GZ`` whose
        ``param_names`` are all in ``process_model.parameter_table``.
    process_model: a differentiable model (``nn.Module``) with ``parameter_table``.
    """

    def __init__(self, parameter_network: nn.Module, process_model: nn.Module) -> None:
        super().__init__()
        table = process_model.parameter_table
        missing = [n for n in parameter_network.param_names if n not in table.names]
        if missing:
            raise ValueError(f"network predicts {missing}, unknown to {type(process_model).__name__}: {table.names}")
        needed = [n for n in table.names if n not in parameter_network.param_names]
        if needed:
            raise ValueError(f"network does not predict {needed}, required by {type(process_model).__name__}")
        self.parameter_network = parameter_network
        self.process_model = process_model

    @property
    def uses_history(self) -> bool:
        return hasattr(self.parameter_network, "z_encoder")

    def parameters_for(self, x: torch.Tensor, z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Physical parameters predicted for inputs ``x [time, site, feature]`` (and ``z``).

        Models without parallel components (no ``nmul`` attribute, e.g. the VIC-style
        model) get parameters without the trailing component dimension.
        """
        unit = self.parameter_network(x, z) if self.uses_history else self.parameter_network(x)
        if getattr(self.process_model, "nmul", None) is None:
            if self.parameter_network.nmul != 1:
                raise ValueError(f"{type(self.process_model).__name__} has no parallel components: use nmul=1")
            unit = {k: v.squeeze(-1) for k, v in unit.items()}
        return scale_to_bounds(unit, self.process_model.parameter_table)

    def forward(
        self, x: torch.Tensor, forcing: Mapping[str, torch.Tensor], z: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        params = self.parameters_for(x, z)
        out = dict(self.process_model(dict(forcing), params))
        out["params"] = params
        return out


class SeedEnsemble(nn.Module):
    """Several seeds of one dPL model trained as members of one batched model.

    Member ``k`` is its own parameter network (initialised with its own seed); every
    member's parameters drive ONE run of the shared process model over ``members × sites``
    columns, so the seeds cost about one run where the time loop's per-day overhead
    dominates. Outputs gain a trailing member axis: ``[time, site, member]`` (parameters
    ``[site, member, ...]``). Train with :meth:`loss` (the sum of the members' losses, so
    each member's gradient is its own) -- gradient clipping is per member
    (:meth:`clip_gradients`), so the members stay independent; they share the trainer's
    draws of sites and windows.
    """

    def __init__(self, networks, process_model: nn.Module) -> None:
        super().__init__()
        if len(networks) < 1:
            raise ValueError("a SeedEnsemble needs at least one network")
        self.members = nn.ModuleList([DplModel(net, process_model) for net in networks])

    @property
    def n_members(self) -> int:
        return len(self.members)

    @property
    def uses_history(self) -> bool:
        return self.members[0].uses_history

    @property
    def parameter_network(self) -> nn.Module:
        """The first member's network (its ``dynamic`` names are every member's)."""
        return self.members[0].parameter_network

    @property
    def process_model(self) -> nn.Module:
        return self.members[0].process_model

    def member(self, k: int) -> DplModel:
        """Member ``k`` as a plain :class:`DplModel`."""
        return self.members[k]

    def forward(self, x: torch.Tensor, forcing: Mapping[str, torch.Tensor], z: torch.Tensor | None = None
                ) -> dict[str, torch.Tensor]:
        k, n_sites = self.n_members, x.shape[1]
        per_member = [m.parameters_for(x, z) for m in self.members]
        dynamic = set(getattr(self.parameter_network, "dynamic", ()))
        params = {name: torch.cat([p[name] for p in per_member], dim=1 if name in dynamic else 0)
                  for name in per_member[0]}
        out = dict(self.process_model({n: v.repeat(1, k) for n, v in forcing.items()}, params))
        result = {}
        for name, v in out.items():
            if torch.is_tensor(v) and v.dim() >= 2 and v.shape[1] == k * n_sites:   # [time, member*site, ...]
                result[name] = v.reshape(v.shape[0], k, n_sites, *v.shape[2:]).movedim(1, 2)
            else:
                result[name] = v
        result["params"] = {
            name: (v.reshape(v.shape[0], k, n_sites, *v.shape[2:]).movedim(1, 2) if name in dynamic
                   else v.reshape(k, n_sites, *v.shape[1:]).movedim(0, 1))
            for name, v in params.items()}
        return result

    @staticmethod
    def loss(base):
        """``loss(sim [time, site, member], obs [time, site])``: the sum over members of ``base``."""
        def member_sum(sim: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
            return sum(base(sim[..., j], obs) for j in range(sim.shape[-1]))
        return member_sum

    def clip_gradients(self, max_norm: float) -> None:
        """Clip each member's gradient norm on its own (a global clip would couple them)."""
        for m in self.members:
            torch.nn.utils.clip_grad_norm_(m.parameter_network.parameters(), max_norm)

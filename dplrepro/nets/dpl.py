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

__all__ = ["DplModel", "scale_to_bounds"]


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

"""LSTM surrogate: a differentiable emulator of a process model (the paper's route for VIC).

:class:`LSTMSurrogate` maps forcings ``{name: [time, site]}`` and physical parameters
``{name: [site]}`` to the emulated outputs ``{name: [time - warmup, site]}`` -- the same
interface as the process model it replaces, so ``DplModel(g, surrogate)`` and SCE-UA
through the surrogate work unchanged. Internally the forcings are standardised with
statistics stored in the module, the parameters are mapped to [0, 1] with the parameter
table, both are fed to an LSTM at every step, and the outputs are de-standardised.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import nn

from ..physics.parameters import ParameterTable

__all__ = ["LSTMSurrogate"]


class LSTMSurrogate(nn.Module):
    """Emulate ``outputs = f(forcing, params)`` of a process model with an LSTM.

    Parameters
    ----------
    parameter_table: the emulated model's table of the parameters it takes.
    forcing_names, output_names: what goes in and comes out (all ``[time, site]``).
    forcing_mean, forcing_std, output_mean, output_std: standardisation statistics
        (per name), fitted on the surrogate's training runs.
    warmup: leading days run but not returned (as in the process model).
    """

    def __init__(
        self,
        parameter_table: ParameterTable,
        forcing_names: Sequence[str],
        output_names: Sequence[str],
        *,
        forcing_mean: Sequence[float],
        forcing_std: Sequence[float],
        output_mean: Sequence[float],
        output_std: Sequence[float],
        hidden_size: int = 128,
        warmup: int = 365,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self._table = parameter_table
        self.forcing_names = tuple(forcing_names)
        self.output_names = tuple(output_names)
        self.warmup = int(warmup)
        for name, values, n in (("forcing_mean", forcing_mean, len(self.forcing_names)),
                                ("forcing_std", forcing_std, len(self.forcing_names)),
                                ("output_mean", output_mean, len(self.output_names)),
                                ("output_std", output_std, len(self.output_names))):
            t = torch.as_tensor(values, dtype=torch.float32)
            if t.shape != (n,):
                raise ValueError(f"{name} must have {n} values, got shape {tuple(t.shape)}")
            self.register_buffer(name, t)
        n_in = len(self.forcing_names) + len(parameter_table)
        self.input_layer = nn.Linear(n_in, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(self.output_names))

    @property
    def parameter_table(self) -> ParameterTable:
        return self._table

    def inputs(self, forcing: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Standardised network input ``[time, site, n_forcing + n_params]``."""
        missing = [n for n in self.forcing_names if n not in forcing]
        if missing:
            raise KeyError(f"forcing lacks {missing}; the surrogate needs {list(self.forcing_names)}")
        f = torch.stack([forcing[n] for n in self.forcing_names], -1)
        f = (f - self.forcing_mean.to(f.dtype)) / self.forcing_std.to(f.dtype)
        missing = [n for n in self._table.names if n not in params]
        if missing:
            raise KeyError(f"params lack {missing}; the surrogate needs {list(self._table.names)}")
        unit = torch.stack([self._table[n].unscale(params[n]) for n in self._table.names], -1)
        if unit.dim() == 2:  # static [site, n] -> repeated over time
            unit = unit.unsqueeze(0).expand(f.shape[0], -1, -1)
        return torch.cat([f, unit.to(f.dtype)], -1)

    def forward_normalised(self, x: torch.Tensor) -> torch.Tensor:
        """``x [time, site, n_in]`` -> standardised outputs ``[time, site, n_out]`` (all days)."""
        h, _ = self.lstm(torch.relu(self.input_layer(x)))
        return self.head(self.dropout(h))

    def forward(self, forcing: Mapping[str, torch.Tensor], params: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = self.inputs(forcing, params)
        if x.shape[0] <= self.warmup:
            raise ValueError(f"forcing has {x.shape[0]} days; need more than warmup={self.warmup}")
        y = self.forward_normalised(x)[self.warmup:] * self.output_std.to(x.dtype) + self.output_mean.to(x.dtype)
        return {name: y[..., i] for i, name in enumerate(self.output_names)}

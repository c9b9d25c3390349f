"""Parameter networks g: inputs -> process-model parameters (the "g" of dPL).

* :class:`GA` (``gA``) sees normalised forcings and static attributes, an LSTM over the
  window, a linear head squashed by a sigmoid into [0, 1] per parameter and component.
* :class:`GZ` (``gz``) additionally encodes a past window of observations of the target
  (e.g. the previous year's streamflow) with its own LSTM encoder; the encoding is
  appended to gA's input at every time step.

* :class:`StaticMLP` maps static attributes only to static parameters (no time
  dimension to read): the cheap network of the global PUB experiment. It holds
  ``n_members`` independent networks at once (see :class:`MemberLinear`).

All return parameters in the unit interval; :class:`~dplrepro.nets.dpl.DplModel`
scales them to physical bounds with the process model's parameter table. Tensors are
time-major: ``[time, site, feature]``.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["GA", "GZ", "MemberLinear", "ObservationEncoder", "StaticMLP", "member_index"]


class GA(nn.Module):
    """LSTM parameter network on forcings + attributes.

    Parameters
    ----------
    n_inputs: features per time step (forcings + attributes, already normalised).
    param_names: names of the parameters to predict (order of the output dict).
    nmul: parallel components per parameter.
    dynamic: names of parameters returned as time series ``[time, site, nmul]``;
        the others are static ``[site, nmul]``.
    static_from: ``"last"`` (last time step) or ``"mean"`` (window mean) for static ones.
    static_step: if set, static parameters are read at this step (days of input read, e.g.
        the warm-up length) instead of the last one: a function of the first ``static_step``
        days only, so a test period's length and forcing never change them.
    """

    def __init__(
        self,
        n_inputs: int,
        param_names: Sequence[str],
        *,
        nmul: int = 16,
        hidden_size: int = 256,
        dynamic: Sequence[str] = (),
        static_from: str = "last",
        static_step: int | None = None,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if static_from not in ("last", "mean"):
            raise ValueError(f"static_from must be 'last' or 'mean', got {static_from!r}")
        if static_step is not None and (static_step < 1 or static_from != "last"):
            raise ValueError(f"static_step must be >= 1 and needs static_from='last', got {static_step!r}, "
                             f"{static_from!r}")
        unknown = set(dynamic) - set(param_names)
        if unknown:
            raise ValueError(f"dynamic parameters {sorted(unknown)} are not among {list(param_names)}")
        self.param_names = tuple(param_names)
        self.dynamic = tuple(dynamic)
        self.nmul = nmul
        self.static_from = static_from
        self.static_step = static_step
        self.input_layer = nn.Linear(n_inputs, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(self.param_names) * nmul)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``x [time, site, n_inputs]`` -> unit-interval parameters ``[time, site, n_params, nmul]``."""
        if x.dim() != 3:
            raise ValueError(f"expected input [time, site, feature], got shape {tuple(x.shape)}")
        h, _ = self.lstm(torch.relu(self.input_layer(x)))
        out = torch.sigmoid(self.head(self.dropout(h)))
        return out.view(x.shape[0], x.shape[1], len(self.param_names), self.nmul)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if z is not None:
            raise ValueError("GA takes no observation history; use GZ")
        return self._split(self.encode(self._read(x)))

    def _read(self, x: torch.Tensor) -> torch.Tensor:
        """The part of ``x`` the network needs: all of it, or the first ``static_step`` days when
        every parameter is static and read there."""
        if self.static_step is None:
            return x
        if x.shape[0] < self.static_step:
            raise ValueError(f"input has {x.shape[0]} days; static parameters are read at day {self.static_step}")
        return x if self.dynamic else x[: self.static_step]

    def _split(self, unit: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.static_step is not None:
            static = unit[self.static_step - 1]
        else:
            static = unit[-1] if self.static_from == "last" else unit.mean(dim=0)
        return {
            name: (unit[:, :, i] if name in self.dynamic else static[:, i])
            for i, name in enumerate(self.param_names)
        }


class ObservationEncoder(nn.Module):
    """Encode a past observation window ``z [time_z, site, n_z]`` (NaN = missing) to a vector.

    Observations are standardised with ``mean`` and ``std`` (the training sites' and
    period's statistics, in the observations' units; stored with the weights), missing
    values are replaced by 0 and a 0/1 availability channel is added, so the encoder sees
    gaps explicitly; the LSTM's last hidden state is the encoding.
    """

    def __init__(self, n_z: int = 1, hidden_size: int = 32, mean: float = 0.0, std: float = 1.0) -> None:
        super().__init__()
        if not std > 0:
            raise ValueError(f"std of the observation history must be > 0, got {std!r}")
        self.lstm = nn.LSTM(2 * n_z, hidden_size)
        self.hidden_size = hidden_size
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() == 2:
            z = z.unsqueeze(-1)
        z = (z - self.mean) / self.std
        present = torch.isfinite(z)
        filled = torch.where(present, z, torch.zeros_like(z))
        _, (h, _) = self.lstm(torch.cat([filled, present.to(z.dtype)], dim=-1))
        return h[-1]


class GZ(GA):
    """gz: gA plus an encoding of a past observation window of the target variable."""

    def __init__(self, n_inputs: int, param_names: Sequence[str], *, n_z: int = 1, z_hidden_size: int = 32,
                 z_mean: float = 0.0, z_std: float = 1.0, **kwargs):
        super().__init__(n_inputs + z_hidden_size, param_names, **kwargs)
        self.z_encoder = ObservationEncoder(n_z, z_hidden_size, z_mean, z_std)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if z is None:
            raise ValueError("GZ needs an observation history z [time_z, site, n_z]")
        code = self.z_encoder(z)  # [site, hidden]
        x = self._read(x)
        x = torch.cat([x, code.unsqueeze(0).expand(x.shape[0], -1, -1)], dim=-1)
        return self._split(self.encode(x))


def member_index(x: torch.Tensor, n_members: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split static inputs ``x [time, site, 1 + n]`` into member ids ``[site]`` (column 0) and
    features ``[site, n]`` (last time step). With one member, ``x`` has no id column."""
    if x.dim() != 3:
        raise ValueError(f"expected input [time, site, feature], got shape {tuple(x.shape)}")
    last = x[-1]
    if n_members == 1:
        return torch.zeros(last.shape[0], dtype=torch.long, device=x.device), last
    member = last[:, 0].round().long()
    if bool((member < 0).any()) or bool((member >= n_members).any()):
        raise ValueError(f"member ids in input column 0 must be in 0..{n_members - 1}, "
                         f"got {int(member.min())}..{int(member.max())}")
    return member, last[:, 1:]


class MemberLinear(nn.Module):
    """``n_members`` independent affine maps ``y = a @ W[m] + b[m]``; row ``i`` uses member ``member[i]``.

    Training several members in one batch keeps them independent: each member's weights
    get gradient only from its own rows (and Adam's update is element-wise). Each member is
    initialised like ``nn.Linear`` (uniform ±1/sqrt(n_in)), or to zero with ``zero_init``.
    """

    def __init__(self, n_members: int, n_in: int, n_out: int, *, zero_init: bool = False) -> None:
        super().__init__()
        if n_members < 1:
            raise ValueError(f"n_members must be >= 1, got {n_members}")
        bound = 0.0 if zero_init else 1.0 / n_in**0.5
        self.weight = nn.Parameter(torch.empty(n_members, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_members, n_out).uniform_(-bound, bound))

    def forward(self, a: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
        out = a.new_empty(a.shape[0], self.weight.shape[-1])
        for m in torch.unique(member).tolist():
            rows = member == m
            out[rows] = a[rows] @ self.weight[m] + self.bias[m]
        return out


class StaticMLP(nn.Module):
    """Static attributes -> static parameters: ``sigmoid(L3(relu(L2(relu(L1(a))))))``.

    Reads only the last time step of ``x`` (the attributes, constant in time), so it pairs
    with :class:`~dplrepro.train.SiteTensors` whose ``x`` is ``[1, site, feature]``. With
    ``n_members > 1`` column 0 of ``x`` is the member id of each site (float-coded integer).
    Returns ``{name: [site, nmul]}`` in [0, 1].
    """

    uses_time = False

    def __init__(self, n_inputs: int, param_names: Sequence[str], *, nmul: int = 1, hidden_size: int = 64,
                 dropout: float = 0.0, n_members: int = 1) -> None:
        super().__init__()
        self.param_names = tuple(param_names)
        self.nmul = nmul
        self.n_members = n_members
        self.dynamic: tuple[str, ...] = ()
        self.layers = nn.ModuleList([MemberLinear(n_members, n_inputs, hidden_size),
                                     MemberLinear(n_members, hidden_size, hidden_size),
                                     MemberLinear(n_members, hidden_size, len(self.param_names) * nmul)])
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if z is not None:
            raise ValueError("StaticMLP takes no observation history")
        member, a = member_index(x, self.n_members)
        h = self.dropout(torch.relu(self.layers[0](a, member)))
        h = self.dropout(torch.relu(self.layers[1](h, member)))
        unit = torch.sigmoid(self.layers[2](h, member)).view(a.shape[0], len(self.param_names), self.nmul)
        return {name: unit[:, i] for i, name in enumerate(self.param_names)}

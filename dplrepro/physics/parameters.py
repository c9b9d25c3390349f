"""Named parameter bounds shared by every process model.

A process model declares its parameters once, as a :class:`ParameterTable` of
:class:`ParameterSpec` (name, bounds, unit, description). Parameters then travel as
``dict[name, Tensor]`` -- never as a bare tensor indexed by position. The only place a
position matters is the boundary with a network that emits a ``[..., n_params]`` tensor:
:meth:`ParameterTable.scale` turns that into a dict (columns follow :attr:`ParameterTable.names`)
and :meth:`ParameterTable.unscale` turns a dict back into such a tensor.

The table is model-agnostic: HBV and the VIC-style model both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import torch

__all__ = ["ParameterSpec", "ParameterTable", "UnknownParameterError"]


class UnknownParameterError(KeyError):
    """A parameter name that a :class:`ParameterTable` does not hold."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its ``name``, physical bounds ``[low, high]``, ``unit`` and ``description``."""

    name: str
    low: float
    high: float
    unit: str = "-"
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"parameter name must be a non-empty string, got {self.name!r}")
        if not float(self.low) < float(self.high):
            raise ValueError(f"parameter {self.name}: low ({self.low}) must be < high ({self.high})")

    @property
    def span(self) -> float:
        return float(self.high) - float(self.low)

    def scale(self, unit_value):
        """Map a value in [0, 1] linearly to ``[low, high]`` (works for floats and tensors)."""
        return self.low + unit_value * self.span

    def unscale(self, value):
        """Inverse of :meth:`scale`: physical value -> position in [0, 1]."""
        return (value - self.low) / self.span


class ParameterTable:
    """An ordered, by-name collection of :class:`ParameterSpec`.

    ``table["FC"]`` returns the spec, ``"FC" in table`` tests membership, iteration yields
    specs in order, :attr:`names` gives the order used by :meth:`scale`/:meth:`unscale`.
    """

    def __init__(self, specs: Iterable[ParameterSpec]) -> None:
        specs = tuple(specs)
        for spec in specs:
            if not isinstance(spec, ParameterSpec):
                raise TypeError(f"expected ParameterSpec, got {type(spec).__name__}")
        names = [s.name for s in specs]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"duplicated parameter names: {duplicated}")
        self._specs: dict[str, ParameterSpec] = {s.name: s for s in specs}

    # ------------------------------------------------------------------ access
    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[ParameterSpec]:
        return iter(self._specs.values())

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __getitem__(self, name: str) -> ParameterSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownParameterError(
                f"unknown parameter {name!r}; this table holds {list(self.names)}"
            ) from None

    def index(self, name: str) -> int:
        """Column of ``name`` in tensors used by :meth:`scale`/:meth:`unscale`."""
        self[name]  # raises a clear error for an unknown name
        return self.names.index(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParameterTable) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        rows = ", ".join(f"{s.name}[{s.low:g}, {s.high:g}]" for s in self)
        return f"ParameterTable({rows})"

    def subset(self, names: Iterable[str]) -> "ParameterTable":
        """A new table with ``names`` in the given order (unknown names raise)."""
        return ParameterTable(self[n] for n in names)

    # ------------------------------------------------------------------ bounds
    def lows(self, device=None, dtype=None) -> torch.Tensor:
        """Lower bounds, ``Tensor[n_params]`` in :attr:`names` order."""
        return torch.tensor([float(s.low) for s in self], device=device, dtype=dtype or torch.get_default_dtype())

    def highs(self, device=None, dtype=None) -> torch.Tensor:
        """Upper bounds, ``Tensor[n_params]`` in :attr:`names` order."""
        return torch.tensor([float(s.high) for s in self], device=device, dtype=dtype or torch.get_default_dtype())

    # ------------------------------------------------------------------ scaling
    def scale(self, unit_interval: torch.Tensor, dim: int = -1) -> dict[str, torch.Tensor]:
        """``Tensor[..., n_params]`` with values in [0, 1] -> ``{name: Tensor[...]}`` in physical units.

        ``dim`` is the axis that holds the parameters (default last; e.g. ``dim=-2`` for a
        network output ``[time, site, n_params, nmul]``). Values are mapped linearly; they are
        not clipped, so a value outside [0, 1] lands outside the bounds.
        """
        if unit_interval.shape[dim] != len(self):
            raise ValueError(
                f"expected {len(self)} parameters {list(self.names)} along dim {dim}, "
                f"got shape {tuple(unit_interval.shape)}"
            )
        columns = unit_interval.unbind(dim)
        return {spec.name: spec.scale(col) for spec, col in zip(self, columns)}

    def unscale(self, values: Mapping[str, torch.Tensor], dim: int = -1, strict: bool = True) -> torch.Tensor:
        """Inverse of :meth:`scale`: ``{name: Tensor[...]}`` -> ``Tensor[..., n_params]`` in [0, 1].

        Every name of the table must be present; with ``strict`` (default) a name the table
        does not hold is an error too (catches typos), otherwise extra names are ignored.
        """
        missing = [n for n in self.names if n not in values]
        if missing:
            raise UnknownParameterError(f"missing parameters {missing}; this table needs {list(self.names)}")
        if strict:
            extra = [n for n in values if n not in self]
            if extra:
                raise UnknownParameterError(f"unknown parameters {extra}; this table holds {list(self.names)}")
        return torch.stack([spec.unscale(values[spec.name]) for spec in self], dim=dim)


def check_model_inputs(
    model: str,
    forcing: Mapping[str, torch.Tensor],
    forcing_names: Sequence[str],
    params: Mapping[str, torch.Tensor],
    table: ParameterTable,
    *,
    warmup: int,
    dynamic: Sequence[str] = (),
    components: tuple[int, ...] = (),
    fixed: Iterable[str] = (),
    description: str = "",
    check_values: bool = True,
) -> tuple[int, int]:
    """Validate a process model's ``forcing`` and ``params``; return ``(n_time, n_site)``.

    Shared by every process model so they all fail the same clear way. Forcings must be
    floating-point ``Tensor[time, site]`` alike in shape, dtype and device, longer than
    ``warmup``; parameters must be exactly ``table``'s names, static ones shaped
    ``[site, *components]`` and ``dynamic`` ones ``[time, site, *components]``, on the
    forcing's dtype and device. ``fixed`` names (not in ``table``) are explained when passed.
    With ``check_values`` (the default; experts may opt out) every forcing must be finite,
    precipitation and PET (``prcp``, ``pet``) non-negative, and every parameter finite and
    within its bounds in ``table`` (to a rounding tolerance of 1e-5 of its span).
    """
    missing = [k for k in forcing_names if k not in forcing]
    if missing:
        raise KeyError(f"forcing lacks {missing}; {model} needs {list(forcing_names)} as Tensor[time, site]")
    prcp = forcing[forcing_names[0]]
    if not isinstance(prcp, torch.Tensor) or prcp.dim() != 2:
        raise ValueError(f"forcing {forcing_names[0]!r} must be a Tensor[time, site], "
                         f"got {getattr(prcp, 'shape', type(prcp))}")
    if not prcp.is_floating_point():
        raise TypeError(f"forcing must be floating point, got {prcp.dtype}")
    n_time, n_site = prcp.shape
    for k in forcing_names:
        f = forcing[k]
        if f.shape != prcp.shape or f.dtype != prcp.dtype or f.device != prcp.device:
            raise ValueError(
                f"forcing {k!r} is {tuple(f.shape)} {f.dtype} on {f.device}; expected "
                f"{tuple(prcp.shape)} {prcp.dtype} on {prcp.device} like {forcing_names[0]!r}"
            )
    if n_time <= warmup:
        raise ValueError(f"forcing has {n_time} days; need more than warmup={warmup}")

    missing = [n for n in table.names if n not in params]
    if missing:
        raise KeyError(f"params lack {missing}; this {model} ({description}) needs {list(table.names)}")
    extra = [n for n in params if n not in table]
    if extra:
        fixed_extra = [n for n in extra if n in set(fixed)]
        why = f" ({fixed_extra} are fixed)" if fixed_extra else ""
        raise KeyError(f"params {extra} are not used by this {model}{why}; it takes {list(table.names)}")
    comp = "".join(f", {c}" for c in ("nmul",)[: len(components)])
    for name in table.names:
        p = params[name]
        want = (n_time, n_site, *components) if name in dynamic else (n_site, *components)
        kind = f"dynamic [time, site{comp}]" if name in dynamic else f"static [site{comp}]"
        if tuple(p.shape) != want:
            raise ValueError(f"parameter {name} is {kind}: expected shape {want}, got {tuple(p.shape)}")
        if p.dtype != prcp.dtype or p.device != prcp.device:
            raise TypeError(f"parameter {name} is {p.dtype} on {p.device}; forcing is {prcp.dtype} on {prcp.device}")
    if check_values:
        _check_values(model, forcing, forcing_names, params, table)
    return n_time, n_site


def _first_bad(bad: torch.Tensor, values: torch.Tensor, dims: Sequence[str]) -> str:
    where = [int(i) for i in torch.nonzero(bad)[0]]
    return ", ".join(f"{d} {i}" for d, i in zip(dims, where)) + f": {float(values[tuple(where)]):.4g}"


def _check_values(model: str, forcing: Mapping[str, torch.Tensor], forcing_names: Sequence[str],
                  params: Mapping[str, torch.Tensor], table: ParameterTable) -> None:
    """Refuse non-finite forcing, negative precipitation/PET and parameters outside their bounds,
    naming the input, how many values and the first one (see :func:`check_model_inputs`)."""
    opt_out = f" (pass check_values=False to {model} to run it anyway)"
    for k in forcing_names:
        f = forcing[k].detach()
        bad = ~torch.isfinite(f)
        if k in ("prcp", "pet"):
            bad |= f < 0
        if bool(bad.any()):
            what = "non-finite or negative" if k in ("prcp", "pet") else "non-finite"
            raise ValueError(f"{model}: forcing {k!r} has {int(bad.sum())} {what} value(s) ({_first_bad(bad, f, ('time', 'site', 'component'))}); "
                             f"fill or drop them before running the model{opt_out}")
    for spec in table:
        p = params[spec.name].detach()
        tolerance = 1e-5 * spec.span
        bad = ~torch.isfinite(p) | (p < spec.low - tolerance) | (p > spec.high + tolerance)
        if bool(bad.any()):
            dims = ("site", "component") if p.dim() <= 2 else ("time", "site", "component")
            raise ValueError(f"{model}: parameter {spec.name} has {int(bad.sum())} value(s) outside its bounds "
                             f"[{spec.low:g}, {spec.high:g}] {spec.unit} ({_first_bad(bad, p, dims)}){opt_out}")

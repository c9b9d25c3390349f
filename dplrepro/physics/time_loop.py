"""The daily time loop of a bucket model, eager or fused.

A process model writes one day as a *pure step function* of tensors::

    step(*states, *inputs, *extras) -> (*new_states, *fluxes)

with every state ``[site, ...]`` (e.g. ``[site, nmul]`` for HBV's components, ``[site]`` for
the VIC-style model), inputs that broadcast against the states, and ``extras`` plain Python
constants. :func:`run_time_loop` runs it over the days and returns every output stacked
``[time, site, ...]``. An input is *static* (no more dimensions than the states: the same
every day) or a *series* (one more, leading: ``[time, ...]``).

Two ways to run the loop, same numbers to float round-off:

``fused=False`` (eager)
    a Python loop of PyTorch operations under autograd: about 40 element-wise kernels a day
    forward and as many backward, each paying dispatch and autograd bookkeeping. Simple,
    no compiler needed, works everywhere.

``fused=True``
    the step is compiled by :func:`torch.compile` into one fused kernel, and the gradient
    comes from a hand-rolled adjoint loop (:class:`_FusedLoop`): the forward pass runs
    without autograd and keeps only the daily states (which are outputs anyway); the
    backward pass walks the days in reverse and, for each day, evaluates the step's
    vector-Jacobian product (:func:`torch.func.vjp`, recomputing that day's fluxes from
    its saved start state) as a second fused kernel, which also accumulates the gradient
    of the static inputs. Two kernels a day instead of ~80, and no autograd graph of
    ``time x 40`` nodes. The price is a one-off compile per process and step variant
    (seconds; Inductor caches the kernels on disk between processes). Second derivatives
    are not supported on this path.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable, Sequence

import torch

__all__ = ["run_time_loop", "resolve_fused", "days"]

log = logging.getLogger(__name__)


def resolve_fused(fused: bool | str, device: torch.device) -> bool:
    """``True``/``False`` as given; ``"auto"``: fused on a CUDA device, eager on the CPU."""
    if fused == "auto":
        return device.type == "cuda"
    if isinstance(fused, bool):
        return fused
    raise ValueError(f"fused must be True, False or 'auto', got {fused!r}")


class _CompiledOrPlain:
    """Call the compiled function; if compiling or running it fails, log why once and use the
    plain (eager) function from then on -- same numbers, only slower."""

    def __init__(self, plain: Callable, what: str) -> None:
        self.plain, self.what = plain, what
        self.compiled: Callable | None = torch.compile(plain, fullgraph=True)

    def __call__(self, *args):
        if self.compiled is not None:
            try:
                return self.compiled(*args)
            except Exception as err:  # a missing C++ compiler, an unsupported backend, ...
                log.warning("torch.compile failed for %s (%s: %s); running it eagerly instead",
                            self.what, type(err).__name__, str(err).splitlines()[0] if str(err) else "")
                self.compiled = None
        return self.plain(*args)


def _series_mask(inputs: Sequence[torch.Tensor], n_time: int, state_dim: int) -> tuple[bool, ...]:
    """True for a series input (one more dimension than the states, leading ``time``), False for
    a static one (no more dimensions than the states)."""
    mask = []
    for i, x in enumerate(inputs):
        if x.dim() == state_dim + 1:
            if x.shape[0] != n_time:
                raise ValueError(f"time-loop input {i} has {x.shape[0]} days, expected {n_time}")
            mask.append(True)
        elif x.dim() <= state_dim:
            mask.append(False)
        else:
            raise ValueError(f"time-loop input {i} has shape {tuple(x.shape)}: expected at most "
                             f"{state_dim + 1} dimensions (time + the states' {state_dim})")
    return tuple(mask)


def days(inputs: Sequence[torch.Tensor], state_dim: int, start: int, stop: int | None = None) -> list[torch.Tensor]:
    """The inputs for days ``start:stop``: series (``state_dim + 1`` dimensions) are sliced, static ones kept."""
    return [x[start:stop] if x.dim() == state_dim + 1 else x for x in inputs]


def run_time_loop(
    step: Callable,
    states: Sequence[torch.Tensor],
    inputs: Sequence[torch.Tensor],
    n_time: int,
    *,
    extras: tuple = (),
    fused: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Run ``step`` for ``n_time`` days from ``states``; return every output stacked ``[time, site, n]``.

    The first ``len(states)`` outputs of ``step`` are the next day's states (their stacked
    series are the end-of-day states), the rest are fluxes. See the module docstring for
    ``fused``.
    """
    states = tuple(states)
    inputs = tuple(inputs)
    if not states:
        raise ValueError("the time loop needs at least one state")
    series = _series_mask(inputs, n_time, states[0].dim())
    if n_time < 1:
        raise ValueError(f"the time loop needs at least one day, got {n_time}")
    if fused:
        wants_grad = torch.is_grad_enabled() and any(x.requires_grad for x in (*states, *inputs))
        if wants_grad:
            return _FusedLoop.apply(step, len(states), series, extras, n_time, *states, *inputs)
        return _forward_loop(_compiled_forward(step, extras), states, inputs, series, n_time)
    return _forward_loop(functools.partial(_call, step, extras), states, inputs, series, n_time)


def _call(step, extras, *args):
    return step(*args, *extras)


def _forward_loop(fn, states, inputs, series, n_time) -> tuple[torch.Tensor, ...]:
    n_states = len(states)
    steps = [x.unbind(0) if s else x for x, s in zip(inputs, series)]  # one backward node per series
    record = None
    for t in range(n_time):
        out = fn(*states, *[x[t] if s else x for x, s in zip(steps, series)])
        states = out[:n_states]
        if record is None:
            record = [[] for _ in out]
        for r, v in zip(record, out):
            r.append(v)
    return tuple(torch.stack(r) for r in record)


# ------------------------------------------------------------------ compiled kernels
@functools.lru_cache(maxsize=None)
def _compiled_forward(step, extras):
    """``step`` with its constants bound, compiled once per (step, extras)."""
    return _CompiledOrPlain(functools.partial(_call, step, extras), f"the forward step {step.__name__}")


@functools.lru_cache(maxsize=None)
def _compiled_vjp(step, n_states, series, needs, extras):
    """One day's vector-Jacobian product, compiled once per (step, input layout, extras).

    Arguments: the day's start states, its inputs, the cotangents carried back from the next
    day's start states, those of the day's outputs, and the running gradient sums of the static inputs that need a gradient. Returns the
    cotangents of the start states, this day's gradients of the series inputs that need
    one, and the updated static sums (``needs[i]``: input ``i`` needs a gradient).
    """

    def vjp_day(states, inputs, carry, g_outputs, static_sums):
        def day(st, xs):
            return step(*st, *xs, *extras)

        _, pull = torch.func.vjp(day, states, inputs)
        # an end-of-day state is both an output and the next day's start: its cotangent adds up
        cotangents = tuple(c + g for c, g in zip(carry, g_outputs[:n_states])) + tuple(g_outputs[n_states:])
        g_states, g_inputs = pull(cotangents)
        series_grads = tuple(g for g, s, n in zip(g_inputs, series, needs) if s and n)
        static_grads = [g for g, s, n in zip(g_inputs, series, needs) if n and not s]
        sums = tuple(a + g for a, g in zip(static_sums, static_grads))
        return g_states, series_grads, sums

    return _CompiledOrPlain(vjp_day, f"the adjoint step of {step.__name__}")


class _FusedLoop(torch.autograd.Function):
    """Forward: the compiled step under no autograd. Backward: the adjoint loop (module docstring)."""

    @staticmethod
    def forward(ctx, step, n_states, series, extras, n_time, *tensors):
        states, inputs = tensors[:n_states], tensors[n_states:]
        outputs = _forward_loop(_compiled_forward(step, extras), states, inputs, series, n_time)
        ctx.step, ctx.n_states, ctx.series, ctx.extras, ctx.n_time = step, n_states, series, extras, n_time
        ctx.save_for_backward(*states, *inputs, *outputs[:n_states])
        return outputs

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grad_outputs):
        n_states, series, n_time = ctx.n_states, ctx.series, ctx.n_time
        saved = ctx.saved_tensors
        states0, inputs = saved[:n_states], saved[n_states : len(saved) - n_states]
        state_series = saved[len(saved) - n_states :]  # end-of-day states [time, site, n]
        needs = tuple(ctx.needs_input_grad[5 + n_states :])
        vjp = _compiled_vjp(ctx.step, n_states, series, needs, ctx.extras)
        carry = tuple(torch.zeros_like(s) for s in states0)
        sums = tuple(torch.zeros_like(x) for x, s, n in zip(inputs, series, needs) if n and not s)
        per_day: list[tuple] = [()] * n_time
        # split every series once (views), not once per day
        ends = [s.unbind(0) for s in state_series]
        days = [x.unbind(0) if s else None for x, s in zip(inputs, series)]
        grads = [g.unbind(0) for g in grad_outputs]
        for t in range(n_time - 1, -1, -1):
            start = states0 if t == 0 else tuple(e[t - 1] for e in ends)
            day_inputs = tuple(d[t] if d is not None else x for d, x in zip(days, inputs))
            carry, per_day[t], sums = vjp(start, day_inputs, carry, tuple(g[t] for g in grads), sums)
        grads_states = tuple(c if need else None for c, need in zip(carry, ctx.needs_input_grad[5 : 5 + n_states]))
        grads_inputs = []
        sums_iter, k = iter(sums), 0
        for s, need in zip(series, needs):
            if not need:
                grads_inputs.append(None)
            elif s:
                grads_inputs.append(torch.stack([day[k] for day in per_day]))
                k += 1
            else:
                grads_inputs.append(next(sums_iter))
        return (None, None, None, None, None, *grads_states, *grads_inputs)

"""The fused time loop (torch.compile step + adjoint backward) against the eager loop.

Same outputs and the same gradients, for both process models and every input layout
(static and daily parameters, states with and without a component axis); a step that cannot
be compiled falls back to eager with a warning. (The adjoint's finite-difference gradcheck is
``tests/test_hbv.py::test_gradcheck[fused]``.)
"""

from __future__ import annotations

import logging

import pytest
import torch

from model_inputs import interior_params, seasonal_forcing

from dplrepro.physics import HBV, VICStyle
from dplrepro.physics.time_loop import resolve_fused, run_time_loop


def _run(model_cls, kwargs, n_time, n_site, dtype, *, shrink_depth=False):
    """Outputs and parameter gradients of the eager and the fused model on the same inputs."""
    forcing = seasonal_forcing(n_time, n_site, dtype=dtype, rain_scale=9.0)
    results = []
    for compiled in (False, True):
        model = model_cls(compiled=compiled, **kwargs)
        params = interior_params(model, n_site, n_time, dtype=dtype, requires_grad=True)
        if shrink_depth:  # a daily capacity that shrinks: VIC's spill branch
            depth = torch.linspace(0.15, 0.05, n_time, dtype=dtype).unsqueeze(1).expand(-1, n_site)
            params["DEPTH_1"] = depth.clone().requires_grad_(True)
        out = model(forcing, params)
        target = out["q"] if "q" in out else out["sm_surface"]
        (target.square().mean() + out["et"].mean()).backward()
        results.append((out, {k: v.grad for k, v in params.items()}))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("shrink_depth", [False, True])
def test_fused_vic_style_matches_eager(shrink_depth):
    dynamic = ("DEPTH_1", "INFILT") if shrink_depth else ("INFILT",)
    (eager, g_eager), (fused, g_fused) = _run(VICStyle, {"warmup": 20, "dynamic": dynamic}, 90, 4, torch.float64,
                                              shrink_depth=shrink_depth)
    for key in VICStyle.OUTPUTS:
        torch.testing.assert_close(fused[key], eager[key], rtol=1e-9, atol=1e-9, msg=key)
    for name in g_eager:
        torch.testing.assert_close(g_fused[name], g_eager[name], rtol=1e-7, atol=1e-10, msg=f"gradient of {name}")
    assert float(eager["baseflow"].detach().sum()) > 0


def _leaky_step(store, inflow, k):
    out = k * store
    store = store + inflow - out
    return store, out


def _uncompilable_step(store, inflow, k):
    torch._dynamo.graph_break()  # fullgraph=True cannot compile this
    return _leaky_step(store, inflow, k)


def test_linear_reservoir_by_hand_and_fallback(caplog):
    """A one-store linear reservoir: outflow = k * store. The fused loop gives the hand-computed
    series and gradient; a step torch.compile rejects runs eagerly with a logged warning."""
    inflow = torch.tensor([[10.0], [0.0], [0.0]])  # [time, site]
    k = torch.tensor([0.5], requires_grad=True)
    store0 = torch.zeros(1)
    for step in (_leaky_step, _uncompilable_step):
        k.grad = None
        with caplog.at_level(logging.WARNING, logger="dplrepro.physics.time_loop"):
            store, out = run_time_loop(step, (store0,), (inflow, k), 3, fused=True)
        # store: 10 - 0 = 10 -> 10 - 5 = 5 -> 5 - 2.5 = 2.5 ; outflow 0, 5, 2.5
        torch.testing.assert_close(out[:, 0], torch.tensor([0.0, 5.0, 2.5]))
        torch.testing.assert_close(store[:, 0], torch.tensor([10.0, 5.0, 2.5]))
        out.sum().backward()
        # total outflow = 10 k + 10 k (1 - k)  ->  d/dk = 20 - 20 k = 10 at k = 0.5
        torch.testing.assert_close(k.grad, torch.tensor([10.0]))
    assert "torch.compile failed for the forward step _uncompilable_step" in caplog.text


def test_input_layout_errors_and_modes():
    with pytest.raises(ValueError, match="input 0 has 4 days, expected 3"):
        run_time_loop(_leaky_step, (torch.zeros(2),), (torch.zeros(4, 2), torch.ones(2)), 3)
    with pytest.raises(ValueError, match=r"input 1 has shape \(3, 2, 2\)"):
        run_time_loop(_leaky_step, (torch.zeros(2),), (torch.zeros(3, 2), torch.ones(3, 2, 2)), 3)
    assert resolve_fused("auto", torch.device("cpu")) is False
    assert resolve_fused("auto", torch.device("cuda")) is True
    assert resolve_fused(True, torch.device("cpu")) is True
    with pytest.raises(ValueError, match="fused must be True, False or 'auto'"):
        HBV(compiled="yes")

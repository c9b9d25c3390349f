"""Tests for the differentiable HBV, the gamma-UH routing and the parameter tables."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model_inputs import interior_params, seasonal_forcing

from dplrepro.physics import HBV, HBV_PARAMETERS, ParameterSpec, ParameterTable, UnknownParameterError, gamma_uh, route
from dplrepro.physics.routing import route_with_uh, routing_storage

EXPECTED_BOUNDS = {
    "BETA": (1.0, 6.0),
    "FC": (50.0, 1000.0),
    "K0": (0.05, 0.9),
    "K1": (0.01, 0.5),
    "K2": (0.001, 0.2),
    "LP": (0.2, 1.0),
    "PERC": (0.0, 10.0),
    "UZL": (0.0, 100.0),
    "TT": (-2.5, 2.5),
    "CFMAX": (0.5, 10.0),
    "CFR": (0.0, 0.1),
    "CWH": (0.0, 0.2),
    "BETAET": (0.3, 5.0),
    "ROUTA": (0.0, 2.9),
    "ROUTB": (0.0, 6.5),
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: threads only add overhead


# ---------------------------------------------------------------------------- helpers
def make_forcing(n_time: int, n_site: int, dtype=torch.float64, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seasonal temperature (cold winters, so snow accumulates and melts), intermittent rain, PET."""
    return seasonal_forcing(n_time, n_site, dtype, seed, rain_scale=6.0, pet_per_degree=0.15)


def make_params(model: HBV, n_site: int, n_time: int | None = None, dtype=torch.float64, seed: int = 1,
                lo: float = 0.1, hi: float = 0.9, requires_grad: bool = False) -> dict[str, torch.Tensor]:
    """Physical parameters drawn in the interior of the bounds (static or dynamic as the model says)."""
    return interior_params(model, n_site, n_time, dtype, seed, lo, hi, requires_grad)


# ---------------------------------------------------------------------------- parameter table
def test_hbv_bounds_are_exactly_as_specified():
    assert HBV_PARAMETERS.names == tuple(EXPECTED_BOUNDS)
    for name, (low, high) in EXPECTED_BOUNDS.items():
        assert (HBV_PARAMETERS[name].low, HBV_PARAMETERS[name].high) == (low, high), name
    assert HBV.PARAMETERS is HBV_PARAMETERS
    core = tuple(EXPECTED_BOUNDS)[:12]
    assert HBV(routing=False).parameter_table.names == core
    assert HBV(routing=False, et_shape=True).parameter_table.names == core + ("BETAET",)
    assert HBV(routing=True).parameter_table.names == core + ("ROUTA", "ROUTB")
    assert HBV(routing=True, et_shape=True).parameter_table.names == core + ("BETAET", "ROUTA", "ROUTB")


def test_parameter_table_scale_unscale_round_trip():
    table = HBV_PARAMETERS
    n = len(table)
    unit = torch.rand(3, 4, n, 2, dtype=torch.float64)
    physical = table.scale(unit, dim=-2)
    assert list(physical) == list(table.names)
    assert physical["FC"].shape == (3, 4, 2)
    torch.testing.assert_close(physical["FC"], 50.0 + 950.0 * unit[..., table.index("FC"), :])
    torch.testing.assert_close(table.unscale(physical, dim=-2), unit, rtol=0, atol=1e-12)

    lows = table.lows(dtype=torch.float64)
    highs = table.highs(dtype=torch.float32)
    assert lows.dtype == torch.float64 and highs.dtype == torch.float32 and lows.shape == (n,)
    assert lows.tolist() == [b[0] for b in EXPECTED_BOUNDS.values()]
    at_low = table.scale(torch.zeros(5, n, dtype=torch.float64))
    at_high = table.scale(torch.ones(5, n, dtype=torch.float64))
    assert all(torch.all(at_low[s.name] == s.low) and torch.all(at_high[s.name] == s.high) for s in table)


def test_parameter_table_subset_and_errors():
    table = ParameterTable([ParameterSpec("A", 0.0, 1.0, "mm"), ParameterSpec("B", -1.0, 3.0)])
    sub = HBV_PARAMETERS.subset(["K2", "BETA"])
    assert sub.names == ("K2", "BETA") and sub["K2"].high == 0.2 and "FC" not in sub
    with pytest.raises(UnknownParameterError, match="unknown parameter 'NOPE'.*BETA"):
        HBV_PARAMETERS["NOPE"]
    with pytest.raises(KeyError, match="NOPE"):
        HBV_PARAMETERS.subset(["BETA", "NOPE"])
    with pytest.raises(KeyError, match="missing parameters"):
        table.unscale({"A": torch.zeros(2)})
    with pytest.raises(KeyError, match="unknown parameters"):
        table.unscale({"A": torch.zeros(2), "B": torch.zeros(2), "C": torch.zeros(2)})
    assert table.unscale({"A": torch.zeros(2), "B": torch.ones(2), "C": torch.zeros(2)}, strict=False).shape == (2, 2)
    with pytest.raises(ValueError, match="expected 2 parameters"):
        table.scale(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="duplicated"):
        ParameterTable([ParameterSpec("A", 0, 1), ParameterSpec("A", 0, 2)])
    with pytest.raises(ValueError, match="low"):
        ParameterSpec("X", 1.0, 1.0)


# ---------------------------------------------------------------------------- routing
def test_gamma_uh_sums_to_one_and_routing_conserves_volume():
    a = torch.tensor([0.0, 0.5, 1.5, 2.9, 2.9, 0.0], dtype=torch.float64)
    b = torch.tensor([0.0, 1.0, 3.0, 6.5, 0.0, 6.5], dtype=torch.float64)
    uh = gamma_uh(a, b, 15)
    assert uh.shape == (15, 6)
    assert torch.all(uh >= 0)
    torch.testing.assert_close(uh.sum(0), torch.ones(6, dtype=torch.float64), rtol=0, atol=1e-12)
    # longer scale -> later centre of mass
    centre = (torch.arange(15, dtype=torch.float64).unsqueeze(1) * uh).sum(0)
    assert centre[3] > centre[2] > centre[1]

    q = torch.zeros(40, 6, dtype=torch.float64)
    q[3] = torch.tensor([10.0, 2.0, 5.0, 7.0, 1.0, 3.0], dtype=torch.float64)
    q[5, 2] = 4.0  # a second pulse, still followed by > 14 zeros
    routed = route(q, a, b, 15)
    assert routed.shape == q.shape
    torch.testing.assert_close(routed.sum(0), q.sum(0), rtol=1e-12, atol=0)
    assert torch.all(routed[:3] == 0)  # causal: nothing before the pulse
    # same as an independent reference convolution
    for s in range(6):
        ref = np.convolve(q[:, s].numpy(), uh[:, s].numpy())[:40]
        np.testing.assert_allclose(routed[:, s].numpy(), ref, rtol=0, atol=1e-12)
    # water still inside the window when the series stops right after the pulse
    cut = 8
    in_transit = routing_storage(q[:cut], uh)
    torch.testing.assert_close(route_with_uh(q[:cut], uh).sum(0) + in_transit, q[:cut].sum(0), rtol=1e-12, atol=1e-12)
    assert torch.all(in_transit > 0)


# ---------------------------------------------------------------------------- water balance
@pytest.mark.parametrize("routing,et_shape,dynamic", [(False, False, ()), (True, True, ("BETA", "FC", "TT", "K0"))])
def test_water_balance_closes(routing, et_shape, dynamic):
    n_site, warmup, years = 6, 365, 3
    n_time = warmup + 365 * years
    model = HBV(nmul=4, warmup=warmup, routing=routing, et_shape=et_shape, dynamic=dynamic)
    forcing = make_forcing(n_time, n_site)
    params = make_params(model, n_site, n_time, lo=0.0, hi=1.0)
    out, states = model(forcing, params, return_states=True)
    assert all(v.shape == (n_time - warmup, n_site) for v in out.values())
    assert out["snowpack"].max() > 50 and out["melt"].sum() > 0  # the snow routine is exercised

    p_sum = forcing["prcp"][warmup:].sum(0)
    torch.testing.assert_close(out["rain"] + out["snow"], forcing["prcp"][warmup:], rtol=0, atol=1e-12)
    stores = ("snow_frozen", "snow_liquid", "soil_moisture", "suz", "slz")
    d_s = sum(states["final"][k] - states["initial"][k] for k in stores)
    residual = p_sum - out["et"].sum(0) - out["q_unrouted"].sum(0) - d_s
    assert torch.all(residual.abs() / p_sum < 1e-4), residual
    assert torch.all(residual.abs() < 1e-8)  # in float64 it closes to round-off
    torch.testing.assert_close(out["q_unrouted"], out["q0"] + out["q1"] + out["q2"])
    # stored outputs are end-of-day states
    torch.testing.assert_close(out["snowpack"][-1], states["final"]["snow_frozen"] + states["final"]["snow_liquid"])
    torch.testing.assert_close(out["soil_moisture"][-1], states["final"]["soil_moisture"])
    for k in ("snowpack", "soil_moisture", "suz", "slz", "et", "q", "recharge", "melt"):
        assert out[k].min() >= 0, k

    if routing:
        d_route = states["final"]["routing"] - states["initial"]["routing"]
        torch.testing.assert_close(out["q"].sum(0), out["q_unrouted"].sum(0) - d_route, rtol=1e-10, atol=1e-9)
        assert not torch.allclose(out["q"], out["q_unrouted"])
    else:
        assert "routing" not in states["final"]
        assert torch.equal(out["q"], out["q_unrouted"])
    helper = model.water_balance(forcing, out, states)
    assert torch.all(helper.abs() < 1e-8)


# ---------------------------------------------------------------------------- gradients
def test_gradients_finite_and_nonzero_for_every_parameter():
    n_site, warmup, n_time = 3, 100, 100 + 730
    model = HBV(nmul=2, warmup=warmup, routing=True, et_shape=True, dynamic=("BETA", "K1"))
    forcing = make_forcing(n_time, n_site, seed=3)
    params = make_params(model, n_site, n_time, seed=4, requires_grad=True)
    # a threshold reached now and then, so that K0 and UZL matter
    with torch.no_grad():
        params["UZL"].fill_(5.0)
    out = model(forcing, params)
    target = 0.8 * out["q"].detach() + 0.3
    loss = ((out["q"] - target) ** 2).mean() + 1e-3 * (out["et"] ** 2).mean()
    loss.backward()
    assert len(params) == 15
    for name, p in params.items():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    for name in ("BETA", "K1"):  # dynamic: no gradient reaches the warm-up days
        assert torch.all(params[name].grad[:warmup] == 0), name


def _gradcheck_forcing(n_time: int = 20) -> dict[str, torch.Tensor]:
    """Cold spells with snow, warm spells with melt and rain, refreezing, temperatures far from TT."""
    temp_pattern = [-6, -8, -5, -7, 6, 8, 5, -4, -6, 7, 9, 10, -5, 6, 11, 12, 9, 8, 10, 7]
    prcp_pattern = [6, 4, 0, 8, 0, 3, 0, 5, 2, 0, 12, 7, 3, 0, 9, 0, 14, 2, 0, 5]
    tmean = torch.tensor(temp_pattern[:n_time], dtype=torch.float64)
    prcp = torch.tensor(prcp_pattern[:n_time], dtype=torch.float64)
    tmean = torch.stack([tmean, tmean + 0.7], 1)
    prcp = torch.stack([prcp, 1.3 * prcp.roll(1)], 1)
    pet = 0.5 + 0.2 * torch.relu(tmean)
    return {"prcp": prcp, "tmean": tmean, "pet": pet}


@pytest.mark.parametrize("compiled", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["eager", "fused"])
@pytest.mark.parametrize("dynamic", [(), ("BETA", "CFMAX", "K1")])
def test_gradcheck(dynamic, compiled):
    """Finite differences against autograd (eager) and against the fused loop's adjoint."""
    forcing = _gradcheck_forcing()
    model = HBV(nmul=2, warmup=0, routing=True, et_shape=True, dynamic=dynamic, compiled=compiled)
    params = make_params(model, 2, 20, seed=7, lo=0.2, hi=0.8)
    # away from kinks: TT far from the temperatures (it is in [-1.5, 1.5] already), a modest
    # UZL and FC so that Q0 and recharge happen, PERC not equal to the upper-zone content
    params["UZL"] = torch.tensor([[2.0, 3.0], [4.0, 1.5]], dtype=torch.float64)
    params["FC"] = torch.tensor([[60.0, 80.0], [70.0, 90.0]], dtype=torch.float64)
    params["PERC"] = torch.tensor([[1.3, 2.1], [0.7, 1.7]], dtype=torch.float64)
    names = list(params)
    leaves = tuple(params[n].clone().requires_grad_(True) for n in names)

    def run(*values):
        out = model(forcing, dict(zip(names, values)))
        return out["q"], out["et"]

    check = model(forcing, params)
    assert check["q"].abs().sum() > 0 and check["snowpack"].max() > 1 and check["melt"].sum() > 0
    assert check["q0"].sum() > 0  # the UZL threshold is crossed
    assert torch.autograd.gradcheck(run, leaves, eps=1e-6, atol=1e-6, rtol=1e-4)


# ---------------------------------------------------------------------------- equations
def _reference_hbv(prcp, tmean, pet, p, s0=0.001):
    """Plain-float HBV-light for one site and one component, written out step by step."""
    frozen = liquid = sm = suz = slz = s0
    rows = []
    for P, T, E in zip(prcp, tmean, pet):
        snow = P if T < p["TT"] else 0.0
        rain = P - snow
        frozen += snow
        melt = min(p["CFMAX"] * max(T - p["TT"], 0.0), frozen)
        frozen -= melt
        liquid += melt + rain
        refreeze = min(p["CFR"] * p["CFMAX"] * max(p["TT"] - T, 0.0), liquid)
        frozen += refreeze
        liquid -= refreeze
        to_soil = max(liquid - p["CWH"] * frozen, 0.0)
        liquid -= to_soil
        recharge = to_soil * min(max(sm / p["FC"], 1e-6), 1.0) ** p["BETA"]
        sm += to_soil - recharge
        excess = max(sm - p["FC"], 0.0)
        sm -= excess
        recharge += excess
        et = min(E * min(sm / (p["LP"] * p["FC"]), 1.0), sm)
        sm -= et
        suz += recharge
        perc = min(p["PERC"], suz)
        suz -= perc
        slz += perc
        q0 = p["K0"] * max(suz - p["UZL"], 0.0)
        suz -= q0
        q1 = p["K1"] * suz
        suz -= q1
        q2 = p["K2"] * slz
        slz -= q2
        rows.append(dict(q0=q0, q1=q1, q2=q2, et=et, recharge=recharge, melt=melt, snowpack=frozen + liquid,
                         soil_moisture=sm, suz=suz, slz=slz, rain=rain, snow=snow))
    return rows


def test_matches_a_scalar_reference_implementation():
    forcing = _gradcheck_forcing()
    model = HBV(nmul=2, warmup=0, routing=False)
    params = make_params(model, 2, seed=8)
    params["UZL"] = torch.full((2, 2), 3.0, dtype=torch.float64)
    params["FC"] = torch.full((2, 2), 60.0, dtype=torch.float64)
    out = model(forcing, params)
    for site in range(2):
        per_component = [
            _reference_hbv(forcing["prcp"][:, site].tolist(), forcing["tmean"][:, site].tolist(),
                           forcing["pet"][:, site].tolist(), {k: float(v[site, c]) for k, v in params.items()})
            for c in range(2)
        ]
        for key in per_component[0][0]:
            ref = [0.5 * (a[key] + b[key]) for a, b in zip(*per_component)]
            np.testing.assert_allclose(out[key][:, site].numpy(), ref, rtol=1e-12, atol=1e-12, err_msg=key)
    assert out["q0"].sum() > 0 and out["melt"].sum() > 0


def test_snow_routine_by_hand():
    """Snowfall, melt held as liquid water (CWH), refreezing: numbers worked out by hand."""
    model = HBV(nmul=1, warmup=0, routing=False, initial_storage=0.0)
    one = lambda v: torch.tensor([[v]], dtype=torch.float64)  # noqa: E731
    params = {k: one(v) for k, v in dict(BETA=2.0, FC=100.0, K0=0.5, K1=0.1, K2=0.05, LP=0.5, PERC=1.0, UZL=10.0,
                                         TT=0.0, CFMAX=2.0, CFR=0.05, CWH=0.2).items()}
    forcing = {
        "prcp": torch.tensor([[20.0], [0.0], [0.0]], dtype=torch.float64),
        "tmean": torch.tensor([[-3.0], [1.0], [-5.0]], dtype=torch.float64),
        "pet": torch.zeros(3, 1, dtype=torch.float64),
    }
    out, states = model(forcing, params, return_states=True)
    # day 0: 20 mm of snow; day 1: melt 2 * 1 = 2 mm, held as liquid (0.2 * 18 = 3.6 mm capacity);
    # day 2: refreeze 0.05 * 2 * 5 = 0.5 mm of the 2 mm liquid
    np.testing.assert_allclose(out["snow"][:, 0].numpy(), [20.0, 0.0, 0.0])
    np.testing.assert_allclose(out["melt"][:, 0].numpy(), [0.0, 2.0, 0.0])
    np.testing.assert_allclose(out["snowpack"][:, 0].numpy(), [20.0, 20.0, 20.0])
    assert float(states["final"]["snow_frozen"]) == pytest.approx(18.5)
    assert float(states["final"]["snow_liquid"]) == pytest.approx(1.5)
    assert float(out["soil_moisture"].abs().max()) == 0.0


def test_dry_soil_start_has_finite_gradients():
    """initial_storage=0 puts SM exactly at 0 on the first (snowy) days; without the eps guard
    d(x ** BETAET)/dx = BETAET * x ** (BETAET - 1) is infinite there for BETAET < 1 -> NaN."""
    model = HBV(nmul=2, warmup=0, routing=True, et_shape=True, initial_storage=0.0)
    forcing = _gradcheck_forcing()
    params = make_params(model, 2, seed=9)
    params["BETAET"] = torch.tensor([[0.5, 2.5], [0.4, 0.9]], dtype=torch.float64)
    params = {k: v.requires_grad_(True) for k, v in params.items()}
    model(forcing, params)["q"].sum().backward()
    for name, p in params.items():
        assert torch.isfinite(p.grad).all(), name


# ---------------------------------------------------------------------------- behaviour
def test_cold_days_accumulate_snow_without_melt():
    n_time, n_site = 60, 3
    g = torch.Generator().manual_seed(5)
    prcp = 5.0 * torch.rand(n_time, n_site, generator=g, dtype=torch.float64)
    forcing = {
        "prcp": prcp,
        "tmean": -5.0 - 10.0 * torch.rand(n_time, n_site, generator=g, dtype=torch.float64),
        "pet": torch.full((n_time, n_site), 0.5, dtype=torch.float64),
    }
    model = HBV(nmul=3, warmup=0, routing=False)
    out = model(forcing, make_params(model, n_site))
    assert torch.all(out["melt"] == 0)
    assert torch.all(out["rain"] == 0)
    torch.testing.assert_close(out["snow"], prcp)
    gained = out["snowpack"].diff(dim=0)
    torch.testing.assert_close(gained, prcp[1:], rtol=0, atol=1e-3)  # only the 0.001 mm initial liquid can leave
    assert torch.all(out["snowpack"][-1] >= prcp.sum(0))
    assert out["recharge"].sum() < 1e-2


def test_recession_without_precipitation_is_monotone():
    n_site, n_wet, n_dry = 8, 400, 250
    n_time = n_wet + n_dry
    g = torch.Generator().manual_seed(11)
    wet = torch.rand(n_time, n_site, generator=g) < 0.5
    prcp = torch.where(wet, 10.0 * torch.rand(n_time, n_site, generator=g), torch.zeros(()))
    prcp = prcp.to(torch.float64)
    prcp[n_wet:] = 0.0
    forcing = {
        "prcp": prcp,
        "tmean": torch.full((n_time, n_site), 15.0, dtype=torch.float64),  # warmer than any TT: no snow
        "pet": torch.full((n_time, n_site), 2.0, dtype=torch.float64),
    }
    model = HBV(nmul=4, warmup=100, routing=True)
    params = make_params(model, n_site, seed=12, lo=0.0, hi=1.0)
    params["K2"] = torch.minimum(params["K2"], params["K1"])  # lower zone no faster than the upper zone
    out = model(forcing, params)
    start = n_wet - model.warmup
    tail = out["q"][start + model.uh_length :]
    assert torch.all(tail.diff(dim=0) <= 1e-12)
    assert torch.all(out["q_unrouted"][start + 1 :].diff(dim=0) <= 1e-12)
    assert torch.all(tail[-1] > 0) and torch.all(tail[-1] < tail[0])


def test_static_and_constant_dynamic_parameters_agree():
    n_time, n_site = 500, 4
    static = HBV(nmul=3, warmup=100, routing=True, et_shape=True)
    names = [n for n in static.parameter_table.names if n not in ("ROUTA", "ROUTB")]
    dynamic = HBV(nmul=3, warmup=100, routing=True, et_shape=True, dynamic=names)
    forcing = make_forcing(n_time, n_site, seed=21)
    params = make_params(static, n_site, seed=22)
    series = {n: (p.expand(n_time, -1, -1) if n in names else p) for n, p in params.items()}
    a, b = static(forcing, params), dynamic(forcing, series)
    for key in HBV.OUTPUTS:
        torch.testing.assert_close(a[key], b[key], rtol=1e-12, atol=1e-12)


def test_float32_and_float64_agree():
    n_time, n_site = 730, 5
    model = HBV(nmul=4, warmup=365, routing=True)
    f64 = make_forcing(n_time, n_site, seed=31)
    p64 = make_params(model, n_site, seed=32)
    f32 = {k: v.float() for k, v in f64.items()}
    p32 = {k: v.float() for k, v in p64.items()}
    o64, o32 = model(f64, p64), model(f32, p32)
    assert o32["q"].dtype == torch.float32 and o64["q"].dtype == torch.float64
    for key in ("q", "et", "snowpack", "soil_moisture", "slz"):
        err = (o32[key].double() - o64[key]).abs().max() / o64[key].abs().max()
        assert err < 1e-4, (key, float(err))
    with pytest.raises(TypeError, match="float32"):
        model(f64, p32)


def test_identical_components_equal_one_component():
    n_time, n_site, nmul = 300, 4, 5
    one = HBV(nmul=1, warmup=50, routing=True)
    many = HBV(nmul=nmul, warmup=50, routing=True)
    forcing = make_forcing(n_time, n_site, seed=41)
    params = make_params(one, n_site, seed=42)
    repeated = {k: v.expand(-1, nmul).contiguous() for k, v in params.items()}
    a, b = one(forcing, params), many(forcing, repeated)
    for key in HBV.OUTPUTS:
        torch.testing.assert_close(a[key], b[key], rtol=1e-12, atol=1e-12)
    # different components: the output is their mean
    mixed = {k: torch.cat([params[k], make_params(one, n_site, seed=43)[k]], 1) for k in params}
    two = HBV(nmul=2, warmup=50, routing=True)(forcing, mixed)
    second = one(forcing, {k: v[:, 1:] for k, v in mixed.items()})
    torch.testing.assert_close(two["q"], 0.5 * (a["q"] + second["q"]), rtol=1e-10, atol=1e-12)


def test_warmup_is_dropped_and_runs_without_grad():
    n_time, n_site, warmup = 200, 3, 80
    forcing = make_forcing(n_time, n_site, seed=51)
    forcing["prcp"].requires_grad_(True)
    spun = HBV(nmul=2, warmup=warmup, dynamic=("BETA", "TT"))
    full = HBV(nmul=2, warmup=0, dynamic=("BETA", "TT"))
    params = make_params(spun, n_site, n_time, seed=52, requires_grad=True)
    out = spun(forcing, params)
    assert all(v.shape == (n_time - warmup, n_site) for v in out.values())
    # the returned days are exactly the tail of a run without warm-up (routing included)
    ref = full(forcing, params)
    for key in HBV.OUTPUTS:
        torch.testing.assert_close(out[key], ref[key][warmup:], rtol=1e-12, atol=1e-12)
    out["q"].sum().backward()
    for leaf in (forcing["prcp"], params["BETA"], params["TT"]):
        assert torch.all(leaf.grad[:warmup] == 0)
        assert leaf.grad[warmup:].abs().sum() > 0
    with pytest.raises(ValueError, match="warmup"):
        short = {k: v[:warmup] if v.dim() == 3 else v for k, v in params.items()}
        spun({k: v[:warmup] for k, v in forcing.items()}, short)


def test_input_checks():
    model = HBV(nmul=2, warmup=0, routing=False)
    forcing = make_forcing(30, 2)
    params = make_params(model, 2)
    with pytest.raises(KeyError, match="ROUTA"):
        model(forcing, {**params, "ROUTA": params["BETA"]})
    with pytest.raises(KeyError, match="lack.*FC"):
        model(forcing, {k: v for k, v in params.items() if k != "FC"})
    with pytest.raises(ValueError, match=r"static \[site, nmul\]"):
        model(forcing, {**params, "K1": params["K1"][:, :1]})
    with pytest.raises(KeyError, match="pet"):
        model({k: v for k, v in forcing.items() if k != "pet"}, params)
    with pytest.raises(ValueError, match="cannot be dynamic"):
        HBV(dynamic=("ROUTA",))
    with pytest.raises(ValueError, match="BETAET"):
        HBV(dynamic=("BETAET",), et_shape=False)


@pytest.mark.slow
def test_compiled_step_matches_eager_in_values_and_gradients():
    """``compiled=True`` fuses each day with torch.compile: same streamflow, ET and gradients
    (float32 round-off), with ET shape on and dynamic BETA, including the warm-up path."""
    n_time, n_site = 120, 5
    forcing = seasonal_forcing(n_time, n_site, dtype=torch.float32)
    results = []
    for compiled in (False, True):
        model = HBV(nmul=3, warmup=30, dynamic=("BETA",), et_shape=True, compiled=compiled)
        params = interior_params(model, n_site, n_time, dtype=torch.float32, requires_grad=True)
        out = model(forcing, params)
        (out["q"].square().mean() + out["et"].mean()).backward()
        results.append((out, {k: v.grad for k, v in params.items()}))
    (eager, g_eager), (fused, g_fused) = results
    for key in ("q", "et", "soil_moisture", "snowpack"):
        torch.testing.assert_close(fused[key], eager[key], rtol=1e-5, atol=1e-5)
    for name in g_eager:
        torch.testing.assert_close(g_fused[name], g_eager[name], rtol=1e-4, atol=1e-6, msg=f"gradient of {name}")
    assert float(eager["q"].detach().sum()) > 1.0  # the case has real runoff, not an all-zero comparison

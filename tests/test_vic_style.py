"""Tests for the differentiable VIC-style three-layer water balance."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from model_inputs import interior_params, seasonal_forcing

from dplrepro.physics import VICStyle
from dplrepro.physics.parameters import UnknownParameterError
from dplrepro.physics.vic_style import VIC_STYLE_PARAMETERS, _drain, cosby_soil_parameters, stress_points

EXPECTED_BOUNDS = {
    "INFILT": (0.001, 0.6),
    "Ds": (0.001, 1.0),
    "Dsmax": (0.1, 30.0),
    "Ws": (0.2, 1.0),
    "EXPT_1": (4.0, 30.0),
    "EXPT_2": (4.0, 30.0),
    "EXPT_3": (4.0, 30.0),
    "DEPTH_1": (0.05, 0.15),
    "DEPTH_2": (0.1, 1.5),
    "DEPTH_3": (0.1, 2.0),
    "POROSITY": (0.3, 0.6),
    "KSAT": (50.0, 2000.0),
    "TT": (-2.0, 2.0),
    "CFMAX": (1.0, 8.0),
}
CALIBRATED = ("INFILT", "Ds", "Dsmax", "Ws", "EXPT_1", "EXPT_2", "EXPT_3", "DEPTH_1", "DEPTH_2", "DEPTH_3")
FLUXES = ("et", "runoff_surface", "baseflow", "drainage_bottom", "runoff")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny tensors: threads only add overhead


# ---------------------------------------------------------------------------- helpers
def make_forcing(n_time: int, n_site: int, dtype=torch.float64, seed: int = 0, rain_scale: float = 6.0):
    """Seasonal temperature (cold winters: snow builds up and melts), intermittent rain, PET."""
    return seasonal_forcing(n_time, n_site, dtype, seed, rain_scale=rain_scale, pet_per_degree=0.2)


def make_params(model: VICStyle, n_site: int, n_time: int | None = None, dtype=torch.float64, seed: int = 1,
                lo: float = 0.1, hi: float = 0.9, requires_grad: bool = False) -> dict[str, torch.Tensor]:
    """Physical parameters drawn in [lo, hi] of the bounds (static or dynamic as the model says)."""
    return interior_params(model, n_site, n_time, dtype, seed, lo, hi, requires_grad)


def constant_forcing(n_time: int, prcp, tmean=15.0, pet=0.0, dtype=torch.float64):
    """Forcing with ``prcp`` per site (a list) repeated every day."""
    prcp = torch.as_tensor(prcp, dtype=dtype).expand(n_time, -1).clone()
    return {"prcp": prcp, "tmean": torch.full_like(prcp, tmean), "pet": torch.full_like(prcp, pet)}


def site_params(n_site: int, **values) -> dict[str, torch.Tensor]:
    """Every parameter of the full table, one value for all sites (unless given as a list)."""
    base = dict(INFILT=0.2, Ds=0.3, Dsmax=10.0, Ws=0.7, EXPT_1=8.0, EXPT_2=10.0, EXPT_3=20.0, DEPTH_1=0.1,
                DEPTH_2=0.5, DEPTH_3=0.5, POROSITY=0.4, KSAT=200.0, TT=0.0, CFMAX=3.0)
    base.update(values)
    return {k: torch.as_tensor(v, dtype=torch.float64).expand(n_site).clone() for k, v in base.items()}


# ---------------------------------------------------------------------------- parameter table
def test_bounds_calibrated_subset_and_fixed():
    assert VIC_STYLE_PARAMETERS.names == tuple(EXPECTED_BOUNDS)
    for name, (low, high) in EXPECTED_BOUNDS.items():
        spec = VIC_STYLE_PARAMETERS[name]
        assert (spec.low, spec.high) == (low, high), name
        assert spec.unit and spec.description, name
    assert VICStyle.PARAMETERS is VIC_STYLE_PARAMETERS
    assert VICStyle.CALIBRATED == CALIBRATED
    assert VICStyle().parameter_table.names == tuple(EXPECTED_BOUNDS)
    assert VICStyle(fixed=VICStyle.DEFAULT_FIXED).parameter_table.names == CALIBRATED
    for name, value in VICStyle.DEFAULT_FIXED.items():
        assert EXPECTED_BOUNDS[name][0] <= value <= EXPECTED_BOUNDS[name][1]
    # anything may be fixed, e.g. the surface layer at SMAP's 5 cm
    assert "DEPTH_1" not in VICStyle(fixed={"DEPTH_1": 0.05}).parameter_table
    with pytest.raises(ValueError, match="outside its bounds"):
        VICStyle(fixed={"KSAT": 5000.0})
    with pytest.raises(UnknownParameterError, match="NOPE"):
        VICStyle(fixed={"NOPE": 1.0})
    with pytest.raises(ValueError, match="both fixed and dynamic"):
        VICStyle(fixed={"KSAT": 100.0}, dynamic=("KSAT",))
    with pytest.raises(ValueError, match="not parameters"):
        VICStyle(dynamic=("BETA",))
    with pytest.raises(ValueError, match="initial_fraction"):
        VICStyle(initial_fraction=1.5)
    with pytest.raises(ValueError, match="initial_fraction"):
        VICStyle(initial_fraction={"w1": 0.5})


def test_cosby_pedotransfer_by_hand():
    # loam, sand 40 %, clay 20 %:
    # porosity = (50.5 - 0.142*40 - 0.037*20) / 100 = (50.5 - 5.68 - 0.74) / 100 = 0.4408
    # log10 Ksat = -0.60 + 0.504 - 0.128 = -0.224 -> 0.59704 in/h * 609.6 = 363.96 mm/day
    # B = 3.10 + 0.157*20 - 0.003*40 = 3.10 + 3.14 - 0.12 = 6.12 -> EXPT = 2*6.12 + 3 = 15.24
    soil = cosby_soil_parameters(40.0, 20.0)
    assert soil["POROSITY"] == pytest.approx(0.4408)
    assert soil["KSAT"] == pytest.approx(10 ** -0.224 * 609.6) and soil["KSAT"] == pytest.approx(363.96, rel=1e-4)
    assert soil["EXPT"] == pytest.approx(15.24)
    arr = cosby_soil_parameters(np.array([40.0, 80.0]), torch.tensor([20.0, 5.0]).numpy())
    assert arr["KSAT"][1] > arr["KSAT"][0]  # sandier soil drains faster


# ---------------------------------------------------------------------------- water balance
@pytest.mark.parametrize("dynamic", [(), ("DEPTH_1", "POROSITY", "INFILT", "Ds")])
def test_water_balance_closes_and_states_stay_physical(dynamic):
    n_site, warmup, years = 8, 365, 4
    n_time = warmup + 365 * years
    model = VICStyle(warmup=warmup, dynamic=dynamic)
    forcing = make_forcing(n_time, n_site, rain_scale=9.0)
    params = make_params(model, n_site, n_time, lo=0.0, hi=1.0)
    if dynamic:  # shrinking capacities force the spill branch
        params["DEPTH_1"] = torch.linspace(0.15, 0.05, n_time, dtype=torch.float64).unsqueeze(1).expand(-1, n_site)
    out, states = model(forcing, params, return_states=True)
    assert set(out) == set(VICStyle.OUTPUTS)
    assert all(v.shape == (n_time - warmup, n_site) and v.dtype == torch.float64 for v in out.values())
    assert out["snowpack"].max() > 50  # the snow routine is exercised
    assert out["runoff_surface"].sum() > 0 and out["baseflow"].sum() > 0 and out["drainage_bottom"].sum() > 0

    p_sum = forcing["prcp"][warmup:].sum(0)
    residual = model.water_balance(forcing, out, states)
    assert torch.all(residual.abs() / p_sum < 1e-6), residual
    assert torch.all(residual.abs() < 1e-8)  # round-off in float64
    torch.testing.assert_close(out["runoff"], out["runoff_surface"] + out["baseflow"] + out["drainage_bottom"])
    for k in VICStyle.STORES:  # stored outputs are end-of-day states
        torch.testing.assert_close(out[k][-1], states["final"][k])
    for k in FLUXES + VICStyle.STORES:
        assert out[k].min() >= 0, k

    porosity = params["POROSITY"][warmup:] if "POROSITY" in dynamic else params["POROSITY"]
    for k in ("sm_surface", "sm_layer2", "sm_layer3"):
        assert out[k].min() >= 0, k
        assert torch.all(out[k] <= porosity * (1 + 1e-12)), k
    assert torch.any(out["sm_surface"] < 0.5 * porosity) and torch.any(out["sm_layer3"] > 0.9 * porosity)
    depth_1 = params["DEPTH_1"][warmup:] if dynamic else params["DEPTH_1"]
    torch.testing.assert_close(out["sm_surface"], out["w1"] / (1000 * depth_1))


def test_soil_fills_to_porosity_and_dries_towards_zero():
    """60 days of 100 mm/day without ET, then 400 dry days at PET = 15 mm/day."""
    n_wet, n_dry = 60, 400
    prcp = torch.zeros(n_wet + n_dry, 3, dtype=torch.float64)
    prcp[:n_wet] = 100.0
    pet = torch.full_like(prcp, 15.0)
    pet[:n_wet] = 0.0
    forcing = {"prcp": prcp, "tmean": torch.full_like(prcp, 20.0), "pet": pet}
    params = site_params(3, KSAT=[50.0, 200.0, 2000.0], Dsmax=[0.1, 0.5, 1.0], EXPT_3=30.0, POROSITY=[0.3, 0.45, 0.6])
    model = VICStyle(warmup=0)
    out, states = model(forcing, params, return_states=True)
    porosity = params["POROSITY"]
    for k in ("sm_surface", "sm_layer2", "sm_layer3"):
        assert out[k].min() >= 0, k
        assert torch.all(out[k] <= porosity * (1 + 1e-12)), k
    # layer 3 fills up (2 -> 3 drainage is cut to the room left); layers 1 and 2 end each day
    # below saturation because they drain into the room the layer below made that day
    torch.testing.assert_close(out["sm_layer3"][n_wet - 1], porosity, rtol=1e-12, atol=0)
    assert torch.all(out["sm_layer2"][n_wet - 1] > 0.9 * porosity)
    assert torch.all(out["runoff_surface"][n_wet - 1] > 50.0)  # a wet soil sheds much of the rain
    assert torch.all(out["sm_surface"][-1] < 1e-6 * porosity)  # ET and drainage empty layer 1
    assert torch.all(model.water_balance(forcing, out, states).abs() < 1e-9)


# ---------------------------------------------------------------------------- gradients
def test_gradients_finite_and_nonzero_for_every_parameter():
    n_site, warmup, n_time = 4, 100, 100 + 730
    model = VICStyle(warmup=warmup, dynamic=("INFILT", "EXPT_1"))
    forcing = make_forcing(n_time, n_site, seed=3, rain_scale=8.0)
    params = make_params(model, n_site, n_time, seed=4, requires_grad=True)
    with torch.no_grad():  # some sites with baseflow above Ws (quadratic branch)
        params["Ws"][:2] = 0.25
    out = model(forcing, params)
    target = 0.8 * out["sm_surface"].detach() + 0.02
    loss = ((out["sm_surface"] - target) ** 2).mean() + 1e-3 * ((out["runoff"] - 1.0) ** 2).mean()
    loss = loss + 1e-3 * (out["et"] ** 2).mean()
    loss.backward()
    assert set(params) == set(EXPECTED_BOUNDS)
    for name, p in params.items():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    for name in ("INFILT", "EXPT_1"):  # dynamic: no gradient reaches the warm-up days
        assert torch.all(params[name].grad[:warmup] == 0), name


def _short_forcing():
    """Two sites, 24 days: snow, melt, storms that make surface runoff, dry days with ET."""
    temp = [-6, -8, -5, 6, 8, 5, 12, 14, 10, 15, 16, 18, 13, 12, 17, 19, 15, 14, 16, 12, 11, 17, 15, 14]
    rain = [6, 4, 0, 0, 3, 0, 25, 2, 0, 0, 40, 7, 3, 0, 9, 0, 30, 2, 0, 5, 0, 12, 0, 0]
    tmean = torch.tensor(temp, dtype=torch.float64)
    prcp = torch.tensor(rain, dtype=torch.float64)
    tmean = torch.stack([tmean, tmean + 0.7], 1)
    prcp = torch.stack([prcp, 1.3 * prcp.roll(1)], 1)
    pet = 1.0 + 0.2 * torch.relu(tmean)
    return {"prcp": prcp, "tmean": tmean, "pet": pet}


def _short_params():
    # site 0: layer 3 starts above Ws (quadratic baseflow branch); site 1 below it
    return site_params(2, INFILT=[0.3, 0.1], Ws=[0.4, 0.8], Ds=[0.2, 0.5], Dsmax=[8.0, 3.0], EXPT_1=[6.0, 9.0],
                       EXPT_2=[7.0, 12.0], EXPT_3=[9.0, 14.0], DEPTH_1=[0.07, 0.12], DEPTH_2=[0.3, 0.6],
                       DEPTH_3=[0.4, 0.9], POROSITY=[0.42, 0.48], KSAT=[150.0, 400.0], TT=[0.5, -0.5],
                       CFMAX=[2.5, 4.0])


@pytest.mark.parametrize("dynamic", [(), ("INFILT", "EXPT_2", "DEPTH_1")])
def test_gradcheck(dynamic):
    forcing = _short_forcing()
    n_time = forcing["prcp"].shape[0]
    model = VICStyle(warmup=0, dynamic=dynamic)
    params = _short_params()
    for name in dynamic:  # a mild trend so that every day's value matters
        ramp = torch.linspace(0.95, 1.05, n_time, dtype=torch.float64).unsqueeze(1)
        params[name] = ramp * params[name]
    check = model(forcing, params)
    assert check["runoff_surface"].sum() > 0 and check["snowpack"].max() > 1 and check["drainage_bottom"].sum() > 0
    names = list(params)
    leaves = tuple(params[n].clone().requires_grad_(True) for n in names)

    def run(*values):
        out = model(forcing, dict(zip(names, values)))
        return out["sm_surface"], out["runoff"], out["et"]

    # the dynamic case has ~170 inputs: check random projections of the Jacobian (fast mode)
    assert torch.autograd.gradcheck(run, leaves, eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=bool(dynamic))


# ---------------------------------------------------------------------------- equations
def _reference(prcp, tmean, pet, p, frac=0.5):
    """Plain-float VIC-style model for one site, written from the module docstring (two-branch curve)."""
    wm1, wm2, wm3 = (p["POROSITY"] * p[f"DEPTH_{i}"] * 1000.0 for i in (1, 2, 3))
    s, w1, w2, w3 = 0.0, frac * wm1, frac * wm2, frac * wm3

    def drain(w, wm, expt):
        end = wm * ((w / wm) ** (1 - expt) + (expt - 1) * p["KSAT"] / wm) ** (1 / (1 - expt))
        return max(w - end, 0.0)

    rows = []
    for P, T, E in zip(prcp, tmean, pet):
        snow = P if T < p["TT"] else 0.0
        s += snow
        melt = min(p["CFMAX"] * max(T - p["TT"], 0.0), s)
        s -= melt
        water = P - snow + melt
        b, wm, w = p["INFILT"], wm1 + wm2, w1 + w2
        i_m = (1 + b) * wm
        i0 = i_m * (1 - (1 - w / wm) ** (1 / (1 + b)))
        if water + i0 >= i_m:
            runoff = water - wm + w
        else:
            runoff = water - wm + w + wm * (1 - (i0 + water) / i_m) ** (1 + b)
        runoff = min(max(runoff, 0.0), water)
        w1 += water - runoff
        over = max(w1 - wm1, 0.0)
        w1, w2 = w1 - over, w2 + over
        share = p["DEPTH_1"] / (p["DEPTH_1"] + p["DEPTH_2"])
        e1 = min(E * share * min(1.0, w1 / (0.75 * wm1)), w1)
        e2 = min(E * (1 - share) * min(1.0, w2 / (0.75 * wm2)), w2)
        w1, w2 = w1 - e1, w2 - e2
        ds, dsmax, ws = p["Ds"], p["Dsmax"], p["Ws"]
        qb = ds * dsmax / (ws * wm3) * w3
        if w3 > ws * wm3:
            qb += (dsmax - ds * dsmax / ws) * ((w3 - ws * wm3) / (wm3 - ws * wm3)) ** 2
        qb = min(qb, w3)
        w3 -= qb
        q3 = drain(w3, wm3, p["EXPT_3"])
        w3 -= q3
        q23 = min(drain(w2, wm2, p["EXPT_2"]), wm3 - w3)
        w2, w3 = w2 - q23, w3 + q23
        q12 = min(drain(w1, wm1, p["EXPT_1"]), wm2 - w2)
        w1, w2 = w1 - q12, w2 + q12
        rows.append(dict(et=e1 + e2, runoff_surface=runoff, baseflow=qb, drainage_bottom=q3, snowpack=s,
                         w1=w1, w2=w2, w3=w3, sm_surface=w1 / (p["DEPTH_1"] * 1000)))
    return rows


def test_matches_a_scalar_reference_implementation():
    forcing = _short_forcing()
    params = _short_params()
    out = VICStyle(warmup=0)(forcing, params)
    for site in range(2):
        ref = _reference(*(forcing[k][:, site].tolist() for k in ("prcp", "tmean", "pet")),
                         {k: float(v[site]) for k, v in params.items()})
        for key in ref[0]:
            np.testing.assert_allclose(out[key][:, site].numpy(), [r[key] for r in ref], rtol=1e-9, atol=1e-9,
                                       err_msg=key)


def test_drainage_is_the_exact_solution_of_brooks_corey_gravity_drainage():
    """One day of dW/dt = -KSAT (W/Wmax)^EXPT: compare with 20 000 explicit Euler sub-steps."""
    wmax = 40.0
    ksat = torch.tensor([50.0, 300.0, 2000.0], dtype=torch.float64).repeat(3)
    expt = torch.tensor([4.0, 10.0, 25.0], dtype=torch.float64).repeat(3)
    w = torch.tensor([40.0, 30.0, 5.0], dtype=torch.float64).repeat_interleave(3)
    got = _drain(w, wmax, 1.0 / wmax, 1.0 - expt, 1.0 / (1.0 - expt), torch.log((expt - 1.0) * ksat / wmax))
    n = 20000
    v = w.numpy().copy()
    k, e = ksat.numpy(), expt.numpy()
    for _ in range(n):
        v -= k * (v / wmax) ** e / n
    np.testing.assert_allclose(got.numpy(), w.numpy() - v, rtol=2e-3, atol=1e-9)
    assert torch.all(got <= w) and torch.all(got >= 0)
    # a saturated 40 mm layer at KSAT = 2000 mm/day, EXPT = 4: once-a-day explicit drainage would
    # empty it; the exact solution keeps 40 (1 + 3 * 2000 / 40) ** (-1/3) = 40 * 151 ** (-1/3) = 7.51 mm
    full = torch.tensor([40.0], dtype=torch.float64)
    log_rate = torch.tensor(math.log(3 * 2000 / 40.0), dtype=torch.float64)
    drained = _drain(full, wmax, 1.0 / wmax, -3.0, -1.0 / 3.0, log_rate)
    assert float(drained) == pytest.approx(40.0 - 40.0 * 151 ** (-1 / 3), rel=1e-12)
    assert 32.4 < float(drained) < 32.6


# ---------------------------------------------------------------------------- behaviour
def _vic_curve(P, w, wm, b):
    """Liang et al. (1994) surface runoff, two-branch form."""
    i_m = (1 + b) * wm
    i0 = i_m * (1 - (1 - w / wm) ** (1 / (1 + b)))
    if P + i0 >= i_m:
        return P - wm + w
    return P - wm + w + wm * (1 - (i0 + P) / i_m) ** (1 + b)


def test_surface_runoff_grows_with_rain_and_with_infilt():
    rain = [2.0, 10.0, 30.0, 80.0, 300.0]
    model = VICStyle(warmup=0)
    out = model(constant_forcing(2, rain), site_params(len(rain)))
    first = out["runoff_surface"][0]
    # layers 1+2 hold 0.4 * (0.1 + 0.5) * 1000 = 240 mm, half full: W = 120 mm, b = 0.2
    expected = [_vic_curve(P, 120.0, 240.0, 0.2) for P in rain]
    np.testing.assert_allclose(first.numpy(), expected, rtol=1e-10)
    assert expected[-1] == pytest.approx(300.0 - 120.0)  # saturated branch: everything above the deficit runs off
    assert torch.all(first.diff() > 0)
    assert torch.all((first / torch.tensor(rain, dtype=torch.float64)).diff() > 0)  # the fraction grows too

    infilt = [0.001, 0.05, 0.2, 0.4, 0.6]
    out = model(constant_forcing(2, [20.0] * len(infilt)), site_params(len(infilt), INFILT=infilt))
    fraction = out["runoff_surface"][0] / 20.0
    assert torch.all(fraction.diff() > 0)
    assert fraction[0] < 1e-3 and fraction[-1] > 0.05


def test_no_rain_dries_the_surface_and_recedes_baseflow():
    n_site, n_wet, n_dry, warmup = 40, 400, 300, 100
    n_time = n_wet + n_dry
    g = torch.Generator().manual_seed(11)
    wet = torch.rand(n_time, n_site, generator=g) < 0.5
    prcp = torch.where(wet, 10.0 * torch.rand(n_time, n_site, generator=g), torch.zeros(())).double()
    prcp[n_wet:] = 0.0
    forcing = {"prcp": prcp, "tmean": torch.full_like(prcp, 15.0), "pet": torch.full_like(prcp, 2.0)}
    model = VICStyle(warmup=warmup)
    params = make_params(model, n_site, seed=12, lo=0.0, hi=1.0)
    params["Ds"] = torch.minimum(params["Ds"], params["Ws"])  # monotone ARNO curve (see the module docstring)
    out = model(forcing, params)
    dry = slice(n_wet - warmup, None)
    w1, baseflow = out["w1"][dry], out["baseflow"][dry]
    assert torch.all(w1.diff(dim=0) <= 0)
    assert torch.all(w1[-1] < w1[0])
    # drainage from above can still raise layer 3 for a few days; once baseflow peaks it only falls
    peak = baseflow.argmax(0)
    assert int(peak.max()) < 30
    for site in range(n_site):
        assert torch.all(baseflow[peak[site]:, site].diff() <= 1e-12), site
    assert torch.all(baseflow[-1] < baseflow[0])

    # with layers 1 and 2 empty nothing reaches layer 3: baseflow falls from the first day
    empty_top = VICStyle(warmup=0, initial_fraction={"w1": 0.0, "w2": 0.0, "w3": 0.9})
    out = empty_top(constant_forcing(200, [0.0] * 3, pet=2.0), site_params(3, Ws=[0.3, 0.6, 0.95]))
    assert torch.all(out["baseflow"].diff(dim=0) <= 0) and torch.all(out["baseflow"][-1] < out["baseflow"][0])
    assert torch.all(out["w1"] == 0) and torch.all(out["et"] == 0)


@pytest.mark.parametrize(
    "fraction,expected",
    [
        # below Ws: Ds Dsmax / (Ws W3max) * W3 = 0.3 * 10 * 0.4 / 0.7 = 1.7142857 mm/day
        (0.4, 0.3 * 10.0 * 0.4 / 0.7),
        # above Ws: 0.3 * 10 * 0.85 / 0.7 + (10 - 0.3 * 10 / 0.7) * ((0.85 - 0.7) / 0.3) ** 2
        #         = 3.6428571 + 5.7142857 * 0.25 = 5.0714286 mm/day
        (0.85, 3.6428571428571 + 5.7142857142857 * 0.25),
        # at saturation the curve reaches Dsmax = 10 mm/day
        (1.0, 10.0),
    ],
)
def test_baseflow_by_hand(fraction, expected):
    # W3max = 0.4 * 0.5 * 1000 = 200 mm; no rain, no PET; day 1 uses the initial W3 = fraction * 200 mm
    model = VICStyle(warmup=0, initial_fraction={"w1": 0.0, "w2": 0.0, "w3": fraction})
    out = model(constant_forcing(1, [0.0]), site_params(1))
    assert float(out["baseflow"][0, 0]) == pytest.approx(expected, rel=1e-12)


def test_baseflow_is_continuous_at_ws():
    values = []
    for fraction in (0.7 - 1e-7, 0.7, 0.7 + 1e-7):
        model = VICStyle(warmup=0, initial_fraction={"w1": 0.0, "w2": 0.0, "w3": fraction})
        values.append(float(model(constant_forcing(1, [0.0]), site_params(1))["baseflow"][0, 0]))
    assert values[1] == pytest.approx(0.3 * 10.0, rel=1e-12)  # Ds * Dsmax at Ws
    # left slope Ds Dsmax / (Ws W3max) = 3 / 140 per mm; W3 moves by 2e-5 mm: the jump is ~4e-7
    assert abs(values[2] - values[0]) < 1e-6


def test_float32_and_float64_agree():
    n_time, n_site = 730, 6
    model = VICStyle(warmup=365)
    f64 = make_forcing(n_time, n_site, seed=31)
    p64 = make_params(model, n_site, seed=32)
    f32 = {k: v.float() for k, v in f64.items()}
    p32 = {k: v.float() for k, v in p64.items()}
    o64, o32 = model(f64, p64), model(f32, p32)
    assert o32["runoff"].dtype == torch.float32 and o64["runoff"].dtype == torch.float64
    for key in ("sm_surface", "sm_layer2", "sm_layer3", "et", "runoff", "baseflow", "snowpack"):
        err = (o32[key].double() - o64[key]).abs().max() / o64[key].abs().max()
        assert err < 1e-4, (key, float(err))
    with pytest.raises(TypeError, match="float32"):
        model(f64, p32)


def test_warmup_is_dropped_and_runs_without_grad():
    n_time, n_site, warmup = 200, 3, 80
    forcing = make_forcing(n_time, n_site, seed=51)
    forcing["prcp"].requires_grad_(True)
    spun = VICStyle(warmup=warmup, dynamic=("INFILT", "TT"))
    full = VICStyle(warmup=0, dynamic=("INFILT", "TT"))
    params = make_params(spun, n_site, n_time, seed=52, requires_grad=True)
    out, states = spun(forcing, params, return_states=True)
    assert all(v.shape == (n_time - warmup, n_site) for v in out.values())
    ref, ref_states = full(forcing, params, return_states=True)
    for key in VICStyle.OUTPUTS:
        torch.testing.assert_close(out[key], ref[key][warmup:], rtol=1e-12, atol=1e-12)
    for key in VICStyle.STORES:
        torch.testing.assert_close(states["initial"][key], ref[key][warmup - 1], rtol=1e-12, atol=1e-12)
        assert not states["initial"][key].requires_grad
    (out["runoff"].sum() + out["sm_surface"].sum()).backward()
    for leaf in (forcing["prcp"], params["INFILT"]):
        assert torch.all(leaf.grad[:warmup] == 0)
        assert leaf.grad[warmup:].abs().sum() > 0
    with pytest.raises(ValueError, match="warmup"):
        short = {k: v[:warmup] if v.dim() == 2 else v for k, v in params.items()}
        spun({k: v[:warmup] for k, v in forcing.items()}, short)


def test_fixed_and_passed_parameters_agree():
    n_time, n_site = 400, 5
    forcing = make_forcing(n_time, n_site, seed=61)
    fixed = VICStyle(warmup=100, fixed=VICStyle.DEFAULT_FIXED)
    passed = VICStyle(warmup=100)
    params = make_params(fixed, n_site, seed=62)
    full = {**params, **{k: torch.full((n_site,), v, dtype=torch.float64) for k, v in VICStyle.DEFAULT_FIXED.items()}}
    a, b = fixed(forcing, params), passed(forcing, full)
    for key in VICStyle.OUTPUTS:
        assert torch.equal(a[key], b[key]), key
    # a constant dynamic series gives the static result
    dynamic = VICStyle(warmup=100, dynamic=CALIBRATED, fixed=VICStyle.DEFAULT_FIXED)
    c = dynamic(forcing, {k: v.expand(n_time, -1) for k, v in params.items()})
    for key in VICStyle.OUTPUTS:
        torch.testing.assert_close(a[key], c[key], rtol=1e-12, atol=1e-12)


def test_input_checks():
    model = VICStyle(warmup=0, fixed={"KSAT": 300.0})
    forcing = make_forcing(30, 2)
    params = make_params(model, 2)
    with pytest.raises(KeyError, match=r"lack \['Dsmax'\]"):
        model(forcing, {k: v for k, v in params.items() if k != "Dsmax"})
    with pytest.raises(KeyError, match=r"\['KSAT'\] are fixed"):
        model(forcing, {**params, "KSAT": params["Ds"]})
    with pytest.raises(KeyError, match="BETA"):
        model(forcing, {**params, "BETA": params["Ds"]})
    with pytest.raises(ValueError, match=r"static \[site\]"):
        model(forcing, {**params, "Ws": params["Ws"].unsqueeze(1)})
    with pytest.raises(ValueError, match=r"dynamic \[time, site\]"):
        VICStyle(warmup=0, dynamic=("Ws",))(forcing, {**params, "KSAT": params["Ds"]})
    with pytest.raises(KeyError, match="pet"):
        model({k: v for k, v in forcing.items() if k != "pet"}, params)
    with pytest.raises(ValueError, match=r"\[time, site\]"):
        model({k: v[:, 0] for k, v in forcing.items()}, params)
    with pytest.raises(ValueError, match="'tmean'"):
        model({**forcing, "tmean": forcing["tmean"][:, :1]}, params)
    with pytest.raises(ValueError, match="warmup"):
        VICStyle(warmup=-1)


# ---------------------------------------------------------------------------- VIC ET stress form
def _hand_points(expt: float) -> tuple[float, float]:
    """Wilting and critical points (fractions of capacity) by hand, from the module docstring (3b)."""
    lam = 2.0 / (expt - 3.0)
    wilting = (0.26 / (1500.0 / 9.80665)) ** lam
    field = (0.26 / (33.0 / 9.80665)) ** lam
    return wilting, wilting + 0.5 * (field - wilting)


def test_stress_points_by_hand_and_ordered():
    # EXPT = 17: lambda = 1/7; S_wp = (0.26 / 152.96) ** (1/7) = 0.4021, S_fc = (0.26 / 3.365) ** (1/7) = 0.6937
    wilting, critical = stress_points(17.0)
    assert wilting == pytest.approx(0.4021, abs=1e-4) and critical == pytest.approx((0.4021 + 0.6937) / 2, abs=1e-4)
    expt = torch.linspace(4.0, 30.0, 27, dtype=torch.float64)
    wp, cr = stress_points(expt)
    assert torch.all(wp > 0) and torch.all(cr > wp) and torch.all(cr < 1)
    assert torch.all(wp.diff() > 0)  # finer soil (larger EXPT) holds more water at wilting


def test_vic_et_stress_one_day_by_hand():
    """One dry day, layers at 30 / 50 / 70 % of capacity; EXPT per site places each layer below
    its wilting point, above its critical point or in between."""
    fractions = {"w1": 0.3, "w2": 0.5, "w3": 0.7}
    expt = [(17.0, 8.0, 30.0), (8.0, 8.0, 8.0), (30.0, 30.0, 30.0), (10.0, 10.0, 30.0)]
    pet = [4.0, 4.0, 4.0, 400.0]  # site 3: PET far above what the layers hold above wilting
    n = len(expt)
    params = site_params(n, **{f"EXPT_{i + 1}": [e[i] for e in expt] for i in range(3)})
    forcing = constant_forcing(1, [0.0] * n, tmean=20.0)
    forcing["pet"] = torch.tensor([pet], dtype=torch.float64)
    roots = (0.3, 0.6, 0.1)
    model = VICStyle(warmup=0, et_stress="vic", root_fractions=roots, initial_fraction=fractions)
    out, states = model(forcing, params, return_states=True)
    wmax = [0.4 * d * 1000.0 for d in (0.1, 0.5, 0.5)]  # POROSITY * DEPTH_i
    for site in range(n):
        expected_et, expected_beta = 0.0, 0.0
        for i, w in enumerate(fractions.values()):
            wp, cr = _hand_points(expt[site][i])
            beta = min(max((w - wp) / (cr - wp), 0.0), 1.0)
            expected_et += min(pet[site] * roots[i] * beta, max(w - wp, 0.0) * wmax[i])
            expected_beta += roots[i] * beta
        assert float(out["et"][0, site]) == pytest.approx(expected_et, rel=1e-10), site
        assert float(out["beta"][0, site]) == pytest.approx(expected_beta, rel=1e-10), site
    # the regimes the cases are meant to exercise
    wp17, _ = _hand_points(17.0)
    _, cr8 = _hand_points(8.0)
    wp30, cr30 = _hand_points(30.0)
    assert 0.3 < wp17 and 0.5 > cr8 and wp30 < 0.7 < cr30
    # site 0: layer 1 below wilting (no ET), layer 2 unstressed, layer 3 in between
    beta3 = (0.7 - wp30) / (cr30 - wp30)
    assert float(out["et"][0, 0]) == pytest.approx(4.0 * (0.6 + 0.1 * beta3), rel=1e-10)
    assert float(out["et"][0, 1]) == pytest.approx(4.0) and float(out["beta"][0, 1]) == pytest.approx(1.0)
    assert float(out["et"][0, 2]) == pytest.approx(4.0 * 0.1 * beta3, rel=1e-10)  # only layer 3 transpires
    # site 3: every layer gives what it holds above its wilting point
    wp10, _ = _hand_points(10.0)
    held = (0.3 - wp10) * wmax[0] + (0.5 - wp10) * wmax[1] + (0.7 - wp30) * wmax[2]
    assert float(out["et"][0, 3]) == pytest.approx(held, rel=1e-10)
    assert torch.all(model.water_balance(forcing, out, states).abs() < 1e-9)


@pytest.mark.parametrize("dynamic", [(), ("DEPTH_1", "POROSITY", "EXPT_2")])
def test_vic_et_stress_water_balance_closes(dynamic):
    n_site, warmup = 8, 365
    n_time = warmup + 3 * 365
    model = VICStyle(warmup=warmup, dynamic=dynamic, et_stress="vic")
    forcing = make_forcing(n_time, n_site, rain_scale=5.0)
    params = make_params(model, n_site, n_time, lo=0.0, hi=1.0)
    if dynamic:  # shrinking capacities force the spill branch
        params["DEPTH_1"] = torch.linspace(0.15, 0.05, n_time, dtype=torch.float64).unsqueeze(1).expand(-1, n_site)
    out, states = model(forcing, params, return_states=True)
    assert set(out) == set(VICStyle.OUTPUTS_VIC_ET) == set(model.outputs)
    residual = model.water_balance(forcing, out, states)
    assert torch.all(residual.abs() < 1e-8), residual
    for k in FLUXES + VICStyle.STORES:
        assert out[k].min() >= 0, k
    assert out["beta"].min() >= 0 and out["beta"].max() <= 1 + 1e-12
    assert (out["beta"] < 0.5).any() and (out["beta"] > 1 - 1e-12).any()  # stressed and unstressed days
    assert torch.all(out["et"] <= forcing["pet"][warmup:] * (1 + 1e-12))
    # ET never takes a layer below its wilting point: on a day that starts there, the layer gives no ET
    dry = VICStyle(warmup=0, et_stress="vic", initial_fraction=0.05)
    one = {k: v[:1] for k, v in forcing.items()}
    one["prcp"] = torch.zeros_like(one["prcp"])
    static = {k: (v[0] if v.dim() == 2 else v) for k, v in params.items()}
    static["EXPT_1"] = static["EXPT_2"] = static["EXPT_3"] = torch.full((n_site,), 20.0, dtype=torch.float64)
    assert stress_points(20.0)[0] > 0.05
    assert torch.all(dry(one, static)["et"] == 0)


def test_vic_et_stress_gradients_finite_and_reach_et_parameters():
    n_site, warmup, n_time = 4, 100, 100 + 500
    model = VICStyle(warmup=warmup, et_stress="vic", fixed=VICStyle.DEFAULT_FIXED)
    forcing = make_forcing(n_time, n_site, seed=3, rain_scale=4.0)
    params = make_params(model, n_site, seed=4, requires_grad=True)
    out = model(forcing, params)
    out["et"].sum().backward()
    for name, p in params.items():
        assert torch.isfinite(p.grad).all(), name
    for name in ("EXPT_1", "EXPT_2", "DEPTH_1", "DEPTH_2"):  # they set the wilting/critical points
        assert params[name].grad.abs().sum() > 0, name
    # dry soil (layers at their wilting points) and an extreme EXPT keep the gradients finite
    dry = VICStyle(warmup=0, et_stress="vic", fixed=VICStyle.DEFAULT_FIXED, initial_fraction=0.0)
    extreme = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    with torch.no_grad():
        extreme["EXPT_1"][:] = 4.0
        extreme["EXPT_2"][:] = 30.0
    dry({k: v[:60] for k, v in forcing.items()}, extreme)["et"].sum().backward()
    for name, p in extreme.items():
        assert torch.isfinite(p.grad).all(), name


def test_vic_et_stress_is_an_option_and_the_default_is_unchanged():
    n_time, n_site = 500, 5
    forcing = make_forcing(n_time, n_site, seed=71)
    default = VICStyle(warmup=100, dynamic=("INFILT",))
    linear = VICStyle(warmup=100, dynamic=("INFILT",), et_stress="linear")
    assert default.et_stress == "linear" and default.outputs == VICStyle.OUTPUTS
    p1 = make_params(default, n_site, n_time, seed=72, requires_grad=True)
    p2 = {k: v.detach().clone().requires_grad_(True) for k, v in p1.items()}
    a, b = default(forcing, p1), linear(forcing, p2)
    assert list(a) == list(b) == list(VICStyle.OUTPUTS)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    (a["sm_surface"].sum() + a["et"].sum()).backward()
    (b["sm_surface"].sum() + b["et"].sum()).backward()
    for key in p1:
        assert torch.equal(p1[key].grad, p2[key].grad), key
    vic = VICStyle(warmup=100, dynamic=("INFILT",), et_stress="vic")
    c = vic(forcing, {k: v.detach() for k, v in p1.items()})
    assert not torch.allclose(c["et"], a["et"].detach())  # the option changes ET
    with pytest.raises(ValueError, match="et_stress"):
        VICStyle(et_stress="vic4")
    with pytest.raises(ValueError, match="root_fractions"):
        VICStyle(et_stress="vic", root_fractions=(0.5, 0.6, 0.1))
    with pytest.raises(ValueError, match="root_fractions"):
        VICStyle(et_stress="vic", root_fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match="root_fractions apply"):
        VICStyle(root_fractions=(0.5, 0.5, 0.0))

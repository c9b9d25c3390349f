"""Tests for the radiation-based PET formulas (Priestley-Taylor, FAO-56 Penman-Monteith)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from dplrepro.physics.pet import (
    atmospheric_pressure,
    net_radiation,
    penman_monteith_fao56,
    priestley_taylor,
    psychrometric_constant,
    saturation_slope,
    saturation_vapour_pressure,
    vapour_pressure_from_specific_humidity,
    wind_speed_2m,
)

# One warm, sunny, breezy day: T = 20 degC, dswrf = 250 W/m2, dlwrf = 350 W/m2, q = 0.010 kg/kg,
# u10 = (3, 4) m/s (|u10| = 5 m/s), P = 101.3 kPa, albedo 0.23.
DAY = dict(tmean_c=20.0, dswrf=250.0, dlwrf=350.0, spfh=0.010)
WIND = dict(wind_u=3.0, wind_v=4.0)


def test_components_match_fao56_tables():
    # FAO-56 Annex 2, Table 2.3: e0(20 degC) = 2.338 kPa, Delta = 0.145 kPa/degC;
    # by hand: 17.27 * 20 / 257.3 = 1.342402, 0.6108 * exp(1.342402) = 2.338281 kPa;
    # Delta = 4098 * 2.338281 / 257.3**2 = 9582.277 / 66203.29 = 0.1447402 kPa/degC
    assert saturation_vapour_pressure(20.0) == pytest.approx(2.338281, rel=1e-6)
    assert saturation_slope(20.0) == pytest.approx(0.1447402, rel=1e-6)
    assert saturation_vapour_pressure(0.0) == pytest.approx(0.6108)
    # Table 2.2: gamma at 101.3 kPa = 0.0674 (0.665e-3 * 101.3 = 0.06736445)
    assert psychrometric_constant(101.3) == pytest.approx(0.06736445)
    # FAO-56 Example 2: 1800 m -> 81.8 kPa, gamma = 0.054 kPa/degC
    assert atmospheric_pressure(1800.0) == pytest.approx(81.8, abs=0.05)
    assert psychrometric_constant(atmospheric_pressure(1800.0)) == pytest.approx(0.054, abs=5e-4)
    # eq. 47 for a 10 m anemometer: u2 = 0.748 u10; |(3, 4)| = 5 -> 4.87 * 5 / ln(672.58) = 3.739755
    assert wind_speed_2m(3.0, 4.0) == pytest.approx(3.739755, rel=1e-6)
    assert wind_speed_2m(0.0, 1.0) == pytest.approx(0.748, abs=5e-4)
    # e = q P / (0.622 + 0.378 q) = 0.010 * 101.3 / 0.62578 = 1.618780 kPa
    assert vapour_pressure_from_specific_humidity(0.010, 101.3) == pytest.approx(1.618780, rel=1e-6)
    # Rn = 0.77 * 250 + 350 - 0.97 * 5.670374e-8 * 293.15**4 = 192.5 + 350 - 406.2029 = 136.2971 W/m2
    #    -> x 0.0864 = 11.776066 MJ m-2 day-1
    assert net_radiation(20.0, 250.0, 350.0) == pytest.approx(11.776066, rel=1e-6)


def test_priestley_taylor_by_hand():
    # Delta / (Delta + gamma) = 0.1447402 / (0.1447402 + 0.0673645) = 0.6823998
    # PET = 1.26 * 0.6823998 * 11.776066 / 2.45 = 4.132792 mm/day
    assert priestley_taylor(**DAY) == pytest.approx(4.132792, rel=1e-6)
    # alpha and albedo enter as written: alpha = 1 -> 4.132792 / 1.26
    assert priestley_taylor(**DAY, alpha=1.0) == pytest.approx(4.132792 / 1.26, rel=1e-6)
    # spfh is not used
    assert priestley_taylor(20.0, 250.0, 350.0) == priestley_taylor(**DAY)
    # a lower pressure (smaller gamma) gives more PET
    assert priestley_taylor(**DAY, pressure_kpa=80.0) > priestley_taylor(**DAY)


def test_penman_monteith_by_hand():
    # radiation term  Delta Rn / lambda        = 0.1447402 * 11.776066 / 2.45        = 0.6957020
    # aerodynamic term gamma 900/(T+273) u2 (es - ea)
    #                 = 0.0673645 * 900 / 293 * 3.739755 * (2.338281 - 1.618780)    = 0.5567765
    # denominator     Delta + gamma (1 + 0.34 u2) = 0.1447402 + 0.0673645 * 2.271517 = 0.2977598
    # ET0 = (0.6957020 + 0.5567765) / 0.2977598 = 4.206339 mm/day
    assert penman_monteith_fao56(**DAY, **WIND) == pytest.approx(4.206339, rel=1e-6)
    # no wind: ET0 = (Delta Rn / lambda) / (Delta + gamma) = 0.6957020 / 0.2121047 = 3.279993
    calm = penman_monteith_fao56(**DAY, wind_u=0.0, wind_v=0.0)
    assert calm == pytest.approx(0.6957020 / (0.1447402 + 0.0673645), rel=1e-6)
    # saturated air (ea >= es): the deficit is clipped at 0, so wind only adds to the denominator
    wet = penman_monteith_fao56(20.0, 250.0, 350.0, 0.020, 3.0, 4.0)
    assert wet == pytest.approx(0.6957020 / 0.2977598, rel=1e-6)
    # drier air and more wind give more ET0
    assert penman_monteith_fao56(20.0, 250.0, 350.0, 0.005, 3.0, 4.0) > penman_monteith_fao56(**DAY, **WIND)
    assert penman_monteith_fao56(**DAY, wind_u=6.0, wind_v=8.0) > penman_monteith_fao56(**DAY, **WIND)


def test_clipped_at_zero_on_a_cold_dark_day():
    # T = -20 degC, no sun, dlwrf = 200: Rn = 200 - 0.97 sigma 253.15**4 = -25.889 W/m2 < 0
    assert net_radiation(-20.0, 0.0, 200.0) == pytest.approx(-25.889060 * 0.0864, rel=1e-6)
    assert priestley_taylor(-20.0, 0.0, 200.0, 0.0005) == 0.0
    assert penman_monteith_fao56(-20.0, 0.0, 200.0, 0.0009, 0.0, 0.5) == 0.0


def test_numpy_xarray_and_torch_agree():
    rng = np.random.default_rng(0)
    shape = (30, 4)  # [time, site]
    args = dict(
        tmean_c=rng.uniform(-15, 35, shape),
        dswrf=rng.uniform(0, 350, shape),
        dlwrf=rng.uniform(150, 450, shape),
        spfh=rng.uniform(0.0005, 0.02, shape),
    )
    wind = dict(wind_u=rng.uniform(-8, 8, shape), wind_v=rng.uniform(-8, 8, shape))
    pt_np = priestley_taylor(**args)
    pm_np = penman_monteith_fao56(**args, **wind)
    assert isinstance(pt_np, np.ndarray) and pt_np.shape == shape and np.all(pt_np >= 0)
    assert isinstance(pm_np, np.ndarray) and np.all(pm_np >= 0) and np.any(pm_np > 2)

    as_torch = {k: torch.tensor(v) for k, v in {**args, **wind}.items()}
    pt_t = priestley_taylor(**{k: as_torch[k] for k in args})
    pm_t = penman_monteith_fao56(**as_torch)
    assert pt_t.dtype == torch.float64
    np.testing.assert_allclose(pt_t.numpy(), pt_np, rtol=1e-12)
    np.testing.assert_allclose(pm_t.numpy(), pm_np, rtol=1e-12)
    # float32 stays float32, even with a float pressure; a per-site tensor pressure broadcasts
    pm32 = penman_monteith_fao56(**{k: v.float() for k, v in as_torch.items()}, pressure_kpa=90.0)
    assert pm32.dtype == torch.float32
    per_site = torch.tensor([101.3, 95.0, 90.0, 85.0], dtype=torch.float64)
    pm_p = penman_monteith_fao56(**as_torch, pressure_kpa=per_site)
    np.testing.assert_allclose(pm_p[:, 2].numpy(), penman_monteith_fao56(**{k: v[:, 2] for k, v in as_torch.items()},
                                                                         pressure_kpa=90.0).numpy(), rtol=1e-12)

    da = {k: xr.DataArray(v, dims=("time", "cell")) for k, v in {**args, **wind}.items()}
    pm_xr = penman_monteith_fao56(**da)
    assert isinstance(pm_xr, xr.DataArray) and pm_xr.dims == ("time", "cell")
    np.testing.assert_allclose(pm_xr.values, pm_np, rtol=1e-12)

    nan_t = args["tmean_c"].copy()
    nan_t[0, 0] = np.nan
    assert np.isnan(priestley_taylor(nan_t, args["dswrf"], args["dlwrf"])[0, 0])
    assert np.isnan(penman_monteith_fao56(nan_t, args["dswrf"], args["dlwrf"], args["spfh"], **wind)[0, 0])


def test_torch_gradients_are_finite():
    t = torch.tensor([5.0, 20.0, 30.0], dtype=torch.float64, requires_grad=True)
    sw = torch.tensor([100.0, 250.0, 300.0], dtype=torch.float64, requires_grad=True)
    out = penman_monteith_fao56(t, sw, 330.0, 0.006, 2.0, 1.0) + priestley_taylor(t, sw, 330.0)
    out.sum().backward()
    assert torch.isfinite(t.grad).all() and torch.all(sw.grad > 0)

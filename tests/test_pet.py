"""PET formulas checked against values worked out by hand (arithmetic in the comments)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dplrepro.data.errors import DataFormatError
from dplrepro.physics.pet import extraterrestrial_radiation, hargreaves, oudin, pet_for_dataset

# Common constant: 24*60/pi * Gsc = 1440 / 3.141593 * 0.0820 = 37.5860 MJ m-2 day-1.


def test_ra_fao56_example_8():
    # FAO-56 example 8: lat 20 S, 3 September (J = 246).
    #   2 pi J / 365 = 4.23469;  cos = -0.45973  ->  dr = 1 + 0.033 * -0.45973 = 0.98483
    #   delta = 0.409 * sin(4.23469 - 1.39) = 0.409 * sin(2.84469) = 0.409 * 0.29256 = 0.11966
    #   phi = -20 deg = -0.34907 rad
    #   ws = arccos(-tan(-0.34907) * tan(0.11966)) = arccos(0.36397 * 0.12023) = arccos(0.04376) = 1.52702
    #   ws sin(phi) sin(delta) = 1.52702 * -0.34202 * 0.11937 = -0.06234
    #   cos(phi) cos(delta) sin(ws) = 0.93969 * 0.99285 * 0.99904 = 0.93208
    #   Ra = 37.5860 * 0.98483 * (0.93208 - 0.06234) = 37.5860 * 0.98483 * 0.86974 = 32.194
    # FAO-56 prints Ra = 32.2 MJ m-2 day-1.
    assert extraterrestrial_radiation(-20.0, 246) == pytest.approx(32.2, abs=0.1)
    assert extraterrestrial_radiation(-20.0, 246) == pytest.approx(32.194, abs=1e-3)


def test_ra_northern_solstice_by_hand():
    # lat 45 N, J = 172: 2 pi J/365 = 2.96084, cos = -0.98371 -> dr = 0.96754
    #   delta = 0.409 * sin(2.96084 - 1.39) = 0.409 * sin(1.57084) = 0.40900
    #   ws = arccos(-tan(0.78540) * tan(0.40900)) = arccos(-1 * 0.43344) = 2.01911
    #   ws sin(phi) sin(delta) = 2.01911 * 0.70711 * 0.39770 = 0.56779
    #   cos(phi) cos(delta) sin(ws) = 0.70711 * 0.91752 * 0.90117 = 0.58467
    #   Ra = 37.5860 * 0.96754 * (0.56779 + 0.58467) = 37.5860 * 0.96754 * 1.15246 = 41.910
    assert extraterrestrial_radiation(45.0, 172) == pytest.approx(41.910, abs=2e-3)


def test_ra_polar_night_and_day():
    # 80 N near the December solstice: -tan(phi) tan(delta) > 1 -> clipped to 1 -> ws = 0 -> Ra = 0.
    assert extraterrestrial_radiation(80.0, 355) == 0.0
    # 80 N in June: argument < -1 -> clipped -> ws = pi (sun never sets); Ra is large and finite.
    ra = extraterrestrial_radiation(80.0, 172)
    assert np.isfinite(ra) and ra > 40.0


def test_hargreaves_two_cases_by_hand():
    # Case 1: lat 20 S, J = 246 (Ra = 32.194 above), tmin 15, tmax 29 degC.
    #   Ra / lambda = 32.194 / 2.45 = 13.1404 mm/day
    #   Tmean = (15 + 29) / 2 = 22;  Tmean + 17.8 = 39.8;  sqrt(29 - 15) = sqrt(14) = 3.74166
    #   PET = 0.0023 * 13.1404 * 39.8 * 3.74166 = 4.5007 mm/day
    assert hargreaves(15.0, 29.0, -20.0, 246) == pytest.approx(4.5007, abs=1e-3)
    # Case 2: lat 45 N, J = 172 (Ra = 41.910 above), tmin 10, tmax 24 degC.
    #   Ra / lambda = 41.910 / 2.45 = 17.1063 mm/day
    #   Tmean = 17;  17 + 17.8 = 34.8;  sqrt(14) = 3.74166
    #   PET = 0.0023 * 17.1063 * 34.8 * 3.74166 = 5.1230 mm/day
    assert hargreaves(10.0, 24.0, 45.0, 172) == pytest.approx(5.1230, abs=1e-3)


def test_hargreaves_clipping_and_nan():
    # tmax < tmin -> sqrt(max(-2, 0)) = 0 -> PET = 0
    assert hargreaves(12.0, 10.0, 45.0, 172) == 0.0
    # Tmean = -25 < -17.8 -> negative product clipped to 0
    assert hargreaves(-30.0, -20.0, 45.0, 172) == 0.0
    assert np.isnan(hargreaves(np.nan, 20.0, 45.0, 172))


def test_oudin_two_cases_by_hand():
    # Case 1: lat 45 N, J = 172: Ra/(lambda rho) = 41.910 / 2.45 = 17.1063 mm/day
    #   T = 15 -> (15 + 5)/100 = 0.20 -> PET = 17.1063 * 0.20 = 3.4213 mm/day
    assert oudin(15.0, 45.0, 172) == pytest.approx(3.4213, abs=1e-3)
    # Case 2: lat 20 S, J = 246: 32.194 / 2.45 = 13.1404 mm/day
    #   T = 25.5 -> (25.5 + 5)/100 = 0.305 -> PET = 13.1404 * 0.305 = 4.0078 mm/day
    assert oudin(25.5, -20.0, 246) == pytest.approx(4.0078, abs=1e-3)


def test_oudin_zero_when_cold():
    out = oudin(np.array([-20.0, -5.0, -4.0]), 45.0, 172)
    # T + 5 = -15, 0 -> 0;  T + 5 = 1 -> 17.1063 * 0.01 = 0.17106
    assert out[0] == 0.0 and out[1] == 0.0
    assert out[2] == pytest.approx(0.17106, abs=1e-4)


def test_seasonality_and_hemisphere_symmetry():
    # Northern summer > northern winter, and the southern hemisphere mirrors it.
    assert extraterrestrial_radiation(45.0, 172) > 3 * extraterrestrial_radiation(45.0, 355)
    assert hargreaves(10.0, 24.0, 45.0, 172) > hargreaves(10.0, 24.0, 45.0, 355)
    assert oudin(15.0, -45.0, 355) > oudin(15.0, -45.0, 172)
    # Equinox (declination ~ 0 near J = 80): Ra(lat) ~ Ra(-lat)
    assert extraterrestrial_radiation(30.0, 80) == pytest.approx(extraterrestrial_radiation(-30.0, 80), rel=0.01)


def test_numpy_broadcast():
    lat = np.array([30.0, 45.0, 60.0])
    doy = np.arange(1, 366)
    ra = extraterrestrial_radiation(lat[:, None], doy[None, :])
    assert ra.shape == (3, 365)
    assert np.all(ra >= 0)


def test_xarray_broadcast_by_dimension_name():
    lat = xr.DataArray([30.0, 45.0], dims="basin")
    doy = xr.DataArray(np.arange(1, 11), dims="time")
    tmin = xr.DataArray(np.zeros((10, 2)), dims=("time", "basin"))
    out = hargreaves(tmin, tmin + 10.0, lat, doy)
    assert out.dims == ("basin", "time") and out.shape == (2, 10)
    np.testing.assert_allclose(out.values[1, 0], hargreaves(0.0, 10.0, 45.0, 1))
    assert oudin(tmin, lat, doy).dims == ("basin", "time")
    ra = extraterrestrial_radiation(lat, doy)
    assert ra.dims == ("basin", "time") and ra.shape == (2, 10)


def _dataset(with_tmean: bool = False) -> xr.Dataset:
    time = pd.date_range("2001-01-01", periods=400, freq="D")
    basins = ["a", "b", "c"]
    rng = np.random.default_rng(0)
    tmin = xr.DataArray(rng.normal(5, 5, (3, 400)), dims=("basin", "time"), attrs={"units": "degC"})
    ds = xr.Dataset(
        {
            "tmin": tmin,
            "tmax": (tmin + 10).assign_attrs(units="degC"),
            "lat": ("basin", [30.0, 45.0, 60.0], {"units": "degrees_north"}),
        },
        coords={"basin": basins, "time": time},
    )
    if with_tmean:
        ds["tmean"] = (ds.tmin + 5).assign_attrs(units="degC")
    return ds


def test_pet_for_dataset_shape_and_values():
    ds = _dataset()
    pet = pet_for_dataset(ds, "hargreaves")
    assert pet.dims == ("basin", "time") and pet.shape == (3, 400)
    assert pet.name == "pet" and pet.attrs["units"] == "mm/day"
    # One element against the scalar formula (basin b = 45 N, 2001-06-21 is J = 172).
    i = 171
    assert ds.time[i].dt.dayofyear.item() == 172
    expected = hargreaves(ds.tmin.values[1, i], ds.tmax.values[1, i], 45.0, 172)
    assert pet.values[1, i] == pytest.approx(expected, rel=1e-12)
    # Oudin falls back to (tmin + tmax) / 2 when tmean is missing.
    po = pet_for_dataset(ds, "oudin")
    assert po.values[1, i] == pytest.approx(oudin(ds.tmin.values[1, i] + 5.0, 45.0, 172), rel=1e-12)
    # ... and uses tmean when present.
    ds2 = _dataset(with_tmean=True)
    ds2["tmean"] = ds2.tmean + 3.0
    ds2["tmean"].attrs["units"] = "degC"
    assert pet_for_dataset(ds2, "oudin").values[1, i] == pytest.approx(oudin(ds.tmin.values[1, i] + 8.0, 45.0, 172), rel=1e-12)


def test_pet_for_dataset_transposed_input():
    ds = _dataset()
    ds_t = ds.transpose("time", "basin")
    xr.testing.assert_allclose(pet_for_dataset(ds_t), pet_for_dataset(ds))
    assert pet_for_dataset(ds_t).dims == ("basin", "time")


def test_pet_for_dataset_errors():
    ds = _dataset()
    with pytest.raises(DataFormatError, match="tmax"):
        pet_for_dataset(ds.drop_vars("tmax"), "hargreaves")
    with pytest.raises(DataFormatError, match="tmean"):
        pet_for_dataset(ds.drop_vars(["tmax"]), "oudin")
    with pytest.raises(DataFormatError, match="lat"):
        pet_for_dataset(ds.drop_vars("lat"))
    kelvin = ds.copy()
    kelvin["tmin"] = kelvin.tmin.assign_attrs(units="K")
    with pytest.raises(DataFormatError, match="tmin.*K"):
        pet_for_dataset(kelvin)
    with pytest.raises(ValueError, match="unknown PET method"):
        pet_for_dataset(ds, "penman")

"""Units, value ranges and refusals: each case here was a silent wrong result before
(issue 14's probe), and is now a conversion with a note or an error that names the input."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from dplrepro.calibrate.sceua import SceuaSettings, sceua
from dplrepro.data import checks
from dplrepro.data.camels_us import load_camels_us
from dplrepro.data.errors import DataFormatError
from dplrepro.physics import HBV, VICStyle

ROOT = Path(__file__).resolve().parents[1]
BASINS = ("01022500", "01031500", "02342933")
AREA_KM2 = 573.6


def _camels(path: Path, *, days: int = 800, qobs_units: str | None = "mm/day", scale_q: float = 1.0,
            tmax_units: str = "degC", tmax_offset: float = 0.0, negative_prcp: bool = False) -> Path:
    """A small camels_us.nc: 3 basins, ``days`` days, runoff ratio about 1/3 in mm/day."""
    time = pd.date_range("1980-10-01", periods=days, freq="D")
    rng = np.random.default_rng(0)
    shape = (len(BASINS), days)
    prcp = rng.gamma(1.0, 3.0, shape).astype(np.float32)
    if negative_prcp:
        prcp[1, 17] = -2.5
    q = (rng.gamma(2.0, 0.5, shape) * scale_q).astype(np.float32)
    ds = xr.Dataset(
        {
            "prcp": (("basin", "time"), prcp, {"units": "mm/day"}),
            "tmax": (("basin", "time"), np.full(shape, 12.5 + tmax_offset, np.float32), {"units": tmax_units}),
            "tmin": (("basin", "time"), np.full(shape, 2.5, np.float32), {"units": "degC"}),
            "srad": (("basin", "time"), np.full(shape, 200.0, np.float32), {"units": "W/m2"}),
            "vp": (("basin", "time"), np.full(shape, 800.0, np.float32), {"units": "Pa"}),
            "dayl": (("basin", "time"), np.full(shape, 40000.0, np.float32), {"units": "s"}),
            "qobs": (("basin", "time"), q, {} if qobs_units is None else {"units": qobs_units}),
            "in_531": ("basin", np.ones(len(BASINS), bool)),
            "lat": ("basin", np.full(len(BASINS), 44.6, np.float32), {"units": "degrees_north"}),
            "lon": ("basin", np.full(len(BASINS), -67.9, np.float32), {"units": "degrees_east"}),
            "area_km2": ("basin", np.full(len(BASINS), AREA_KM2, np.float32), {"units": "km2"}),
        },
        coords={"basin": np.array(BASINS), "time": time},
    )
    ds.to_netcdf(path)
    return path


# --------------------------------------------------------------------------- units
def test_streamflow_in_cubic_feet_per_second_is_converted_and_noted(isolated_data_dir):
    """Before: qobs in ft3/s (said in its attrs) was read as mm/day (NSE -0.09, no word)."""
    cfs_per_mm_day = AREA_KM2 * 1e6 / 1000 / 86400 / 0.028316846592  # ft3/s that make 1 mm/day here
    _camels(isolated_data_dir / "camels_us.nc", qobs_units="ft3/s", scale_q=cfs_per_mm_day)
    start = len(checks.data_notes())
    ds = load_camels_us()
    raw = xr.open_dataset(isolated_data_dir / "camels_us.nc")
    expected = raw.qobs.values / cfs_per_mm_day
    np.testing.assert_allclose(ds.qobs.values, expected, rtol=1e-5)
    assert ds.qobs.attrs["units"] == "mm/day" and ds.qobs.attrs["converted_from"] == "ft3/s"
    assert checks.data_notes(start) == ["camels_us.nc: variable 'qobs' converted from ft3/s to mm/day"]


def test_streamflow_in_volume_units_without_saying_so_is_refused(isolated_data_dir):
    """Before: cfs values labelled mm/day ran silently. The runoff ratio gives them away."""
    _camels(isolated_data_dir / "camels_us.nc", scale_q=200.0)
    with pytest.raises(DataFormatError, match=r"camels_us\.nc: the median runoff ratio .* over 3 basins is "
                                              r"\d+.*qobs must be in mm/day"):
        load_camels_us()


def test_an_unknown_unit_is_refused_naming_what_was_found_and_expected(isolated_data_dir):
    _camels(isolated_data_dir / "camels_us.nc", qobs_units="furlongs/fortnight")
    with pytest.raises(DataFormatError, match=r"camels_us\.nc: variable 'qobs' is in 'furlongs/fortnight'; "
                                              r"expected mm/day \(or one of .*'ft3/s'.*which are converted\)"):
        load_camels_us()


def test_kelvin_is_converted_when_said_and_refused_when_not(isolated_data_dir):
    _camels(isolated_data_dir / "camels_us.nc", tmax_units="K", tmax_offset=273.15)
    assert float(load_camels_us().tmax.mean()) == pytest.approx(12.5, abs=1e-3)
    _camels(isolated_data_dir / "camels_us.nc", tmax_offset=273.15)  # K values labelled degC
    with pytest.raises(DataFormatError, match=r"variable 'tmax' has 2400 value\(s\) outside \[-90, 60\] "
                                              r"\(basin 01022500, time 1980-10-01: 285.6\)"):
        load_camels_us()


def test_a_missing_units_attribute_is_assumed_canonical_and_noted(isolated_data_dir):
    _camels(isolated_data_dir / "camels_us.nc", qobs_units=None)
    start = len(checks.data_notes())
    assert load_camels_us().qobs.attrs["units"] == "mm/day"
    assert checks.data_notes(start) == ["camels_us.nc: variable 'qobs' has no units attribute; taken to be mm/day"]


def test_negative_precipitation_is_refused_naming_where(isolated_data_dir):
    """Before: caught only by accident, in the normaliser, without the file."""
    _camels(isolated_data_dir / "camels_us.nc", negative_prcp=True)
    with pytest.raises(DataFormatError, match=r"camels_us\.nc: variable 'prcp' has 1 value\(s\) outside \[0, inf\] "
                                              r"\(basin 01031500, time 1980-10-18: -2.5\); precipitation cannot"):
        load_camels_us()


def test_data_check_exits_non_zero_on_an_invalid_file(isolated_data_dir):
    """Before: an invalid file passed `data check` with exit code 0 and no summary line."""
    _camels(isolated_data_dir / "camels_us.nc", negative_prcp=True)
    proc = subprocess.run([sys.executable, "-m", "dplrepro.cli", "data", "check"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "camels_us           INVALID" in proc.stdout and "precipitation cannot be negative" in proc.stdout
    assert "0 of 6 datasets ok, 5 missing, 1 invalid (camels_us)" in proc.stdout


def test_notes_are_said_once_and_counted_from_a_mark():
    mark = len(checks.data_notes())
    checks.note("test: 3 of 9 cells left out", "all: 1, 2, 3")
    checks.note("test: 3 of 9 cells left out", "all: 1, 2, 3")
    assert checks.data_notes(mark) == ["test: 3 of 9 cells left out"]


def test_the_runner_prints_the_runs_data_notes_on_the_terminal(monkeypatch, capsys):
    """Before: dropped basins and attributes were logged only inside the notebook."""
    from dplrepro import book

    run = {"data_source": "real", "data_notes": ["camels_us.nc: dropped 2 of 30 basins ...",
                                                 "1 of 27 attributes are not in this dataset and are left out: x"]}
    monkeypatch.setattr(book, "read_summary", lambda name, profile: {"run": run})
    book._say_data_notes("camels", "quick", {"data_source": "auto"})
    err = capsys.readouterr().err.splitlines()
    assert err == ["dplrepro: chapter camels (profile quick): camels_us.nc: dropped 2 of 30 basins ...",
                   "dplrepro: chapter camels (profile quick): 1 of 27 attributes are not in this dataset and are "
                   "left out: x"]


# --------------------------------------------------------------------------- models
def _hbv_inputs(n_time=400, n_site=3, nmul=2, dtype=torch.float64):
    g = torch.Generator().manual_seed(0)
    forcing = {"prcp": torch.rand(n_time, n_site, generator=g, dtype=dtype) * 8,
               "tmean": torch.rand(n_time, n_site, generator=g, dtype=dtype) * 20 - 5,
               "pet": torch.rand(n_time, n_site, generator=g, dtype=dtype) * 3}
    model = HBV(nmul=nmul, warmup=30)
    params = model.parameter_table.scale(torch.rand(n_site, nmul, len(model.parameter_table), generator=g,
                                                    dtype=dtype))
    return model, forcing, params


def test_hbv_refuses_nan_forcing_naming_it():
    """Before: NaN forcing ran (400 of 435 outputs NaN) and NSE was computed quietly on the rest."""
    model, forcing, params = _hbv_inputs()
    forcing["tmean"][35, 1] = math.nan
    with pytest.raises(ValueError, match=r"HBV: forcing 'tmean' has 1 non-finite value\(s\) \(time 35, site 1: nan\)"):
        model(forcing, params)
    model.check_values = False  # the expert's opt-out: runs, and the NaN spreads
    assert torch.isnan(model(forcing, params)["q"][:, 1]).any()


def test_hbv_refuses_negative_precipitation():
    """Before: negative precipitation ran to q up to 4e33."""
    model, forcing, params = _hbv_inputs()
    forcing["prcp"][3, 0] = -1.0
    with pytest.raises(ValueError, match=r"forcing 'prcp' has 1 non-finite or negative value\(s\) \(time 3, site 0: -1\)"):
        model(forcing, params)


def test_hbv_refuses_parameters_outside_their_bounds():
    """Before: FC = -100 ran."""
    model, forcing, params = _hbv_inputs()
    params["FC"][2, 1] = -100.0
    spec = model.parameter_table["FC"]
    with pytest.raises(ValueError, match=rf"HBV: parameter FC has 1 value\(s\) outside its bounds \[{spec.low:g}, "
                                         rf"{spec.high:g}\] mm \(site 2, component 1: -100\).*check_values=False"):
        model(forcing, params)
    params["FC"][2, 1] = spec.high * (1 + 1e-7)  # rounding at the bound is not an error
    assert torch.isfinite(model(forcing, params)["q"]).all()


def test_vic_style_refuses_nan_forcing_and_out_of_bound_parameters():
    model = VICStyle(warmup=10, fixed=VICStyle.DEFAULT_FIXED)
    g = torch.Generator().manual_seed(1)
    forcing = {"prcp": torch.rand(60, 2, generator=g, dtype=torch.float64) * 5,
               "tmean": torch.full((60, 2), 10.0, dtype=torch.float64),
               "pet": torch.full((60, 2), 2.0, dtype=torch.float64)}
    params = model.parameter_table.scale(torch.rand(2, len(model.parameter_table), generator=g, dtype=torch.float64))
    assert torch.isfinite(model(forcing, params)["sm_surface"]).all()
    name = model.parameter_table.names[0]
    bad = {**params, name: params[name].clone()}
    bad[name][0] = math.inf
    with pytest.raises(ValueError, match=rf"VICStyle: parameter {name} has 1 value\(s\) outside its bounds"):
        model(forcing, bad)
    forcing["pet"][5, 1] = math.nan
    with pytest.raises(ValueError, match=r"VICStyle: forcing 'pet' has 1 non-finite or negative value\(s\) \(time 5, site 1"):
        model(forcing, params)


# --------------------------------------------------------------------------- optimiser
def test_sceua_refuses_infinite_bounds():
    """Before: infinite bounds returned a point with f = inf and no word."""
    with pytest.raises(ValueError, match=r"upper bounds must be finite .*site 0, parameter 1 has inf"):
        sceua(lambda x: (x ** 2).sum(-1), [0.0, 0.0], [1.0, math.inf], SceuaSettings(maxn=50), n_sites=1,
              progress=False)


def test_sceua_warns_when_the_objective_is_never_finite():
    """Before: an always-NaN objective returned f = inf and no word."""
    def objective(x):
        f = (x ** 2).sum(-1)
        f[1] = math.nan  # site 1's objective is NaN everywhere
        return f

    with pytest.warns(RuntimeWarning, match=r"NaN or infinite at every point evaluated for 1 of 2 site\(s\) "
                                            r"\(e\.g\. site 1\)"):
        result = sceua(objective, [-1.0, -1.0], [1.0, 1.0], SceuaSettings(maxn=200, seed=0), n_sites=2,
                       progress=False)
    assert math.isfinite(float(result.f[0])) and float(result.f[0]) < 0.05 and math.isinf(float(result.f[1]))

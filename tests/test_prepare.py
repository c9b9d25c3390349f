"""prepare_camels_us on the original CAMELS-US layout reproduces camels_us.nc.

Tolerances: the packed camels_us.nc stores values with netCDF ``least_significant_digit``
quantisation (forcings: 2 -> steps of 1/128; qobs: 3 -> steps of 1/1024), the prepared
file stores the unrounded float32 values. The difference is therefore at most half a
step: 1/256 = 0.0039 for forcings (checked against 0.006) and 1/2048 = 0.00049 mm/day for
qobs. That is what is achievable: ``relative 1e-3`` alone would fail at flows below about
0.5 mm/day, where half a quantum is more than 0.1 % (up to 31 % at 0.0016 mm/day).
"""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import xarray as xr

from dplrepro.data import prepare as prepare_module
from dplrepro.data.camels_us import load_camels_us
from dplrepro.data.errors import DataFormatError
from dplrepro.data.prepare import OutputExistsError, prepare_camels_us

pytestmark = pytest.mark.real_data

BASINS = ["01022500", "01031500", "01047000", "01052500", "01054200", "01055000", "02342933", "03574500"]
FORCINGS = ["prcp", "tmax", "tmin", "srad", "vp", "dayl", "swe"]


@pytest.fixture(scope="module")
def prepared(camels_us_raw_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "camels_us.nc"
    path = prepare_camels_us(camels_us_raw_path, out, progress=False)
    assert path == out
    with xr.open_dataset(out) as ds:
        yield ds.load()


@pytest.fixture(scope="module")
def packed(camels_us_path):
    with xr.open_dataset(camels_us_path) as ds:
        yield ds.sel(basin=BASINS).load()


def test_same_basins_variables_dims_dtypes(prepared, packed):
    assert list(prepared.basin.values) == BASINS
    assert list(prepared.data_vars) == list(packed.data_vars)
    assert prepared.sizes == {"basin": 8, "time": 12510}
    assert (prepared.time.values == packed.time.values).all()
    for name in packed.data_vars:
        a, b = prepared[name], packed[name]
        assert a.dims == b.dims, name
        if b.dtype.kind == "U":  # string widths depend on the basins included
            assert a.dtype.kind == "U", name
        else:
            assert a.dtype == b.dtype, name
        assert a.attrs.get("units") == b.attrs.get("units"), name


def test_forcings_equal_within_rounding(prepared, packed):
    for name in FORCINGS:
        a, b = prepared[name].values, packed[name].values
        assert (np.isnan(a) == np.isnan(b)).all(), name
        diff = np.nanmax(np.abs(a.astype(np.float64) - b))
        assert diff <= 0.006, (name, diff)
    # 02342933_lump_cida_forcing_leap.txt, 1980-10-01: prcp 17.15 mm/day
    assert float(prepared.prcp.sel(basin="02342933").isel(time=0)) == pytest.approx(17.15, abs=0.005)


def test_qobs_equal_within_rounding(prepared, packed):
    a = prepared.qobs.values.astype(np.float64)
    b = packed.qobs.values.astype(np.float64)
    assert (np.isnan(a) == np.isnan(b)).all()
    ok = ~np.isnan(b)
    diff = np.abs(a[ok] - b[ok])
    tolerance = np.maximum(1e-3 * np.abs(b[ok]), 0.002)
    assert (diff <= tolerance).all()
    # what is actually achieved: half a 1/1024 quantisation step (+ float32 noise)
    assert diff.max() <= 1 / 2048 + 1e-6
    # 02342933 (tab-separated file with empty fields after 2011-10-06) has 1182 missing days
    assert int(np.isnan(prepared.qobs.sel(basin="02342933")).sum()) == 1182


def test_qobs_conversion_from_cfs(prepared, camels_us_raw_path):
    line = next(
        line for line in (camels_us_raw_path / "usgs_streamflow/01/01022500_streamflow_qc.txt").open()
        if line.split()[1:4] == ["1980", "10", "01"]
    )
    cfs = float(line.split()[4])
    header = (camels_us_raw_path / "basin_mean_forcing/daymet/01/01022500_lump_cida_forcing_leap.txt").open()
    area_m2 = float([next(header) for _ in range(3)][2])
    expected = cfs * 0.0283168 * 86400 * 1000 / area_m2
    assert float(prepared.qobs.sel(basin="01022500").isel(time=0)) == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.9326, abs=5e-4)


def test_attributes_equal(prepared, packed):
    names = [n for n in packed.data_vars if n.startswith("attr_")] + ["lat", "lon", "area_km2", "in_531", "qobs_source"]
    assert len(names) == 62
    for name in names:
        a, b = prepared[name].values, packed[name].values
        if b.dtype.kind == "f":
            assert np.array_equal(a, b, equal_nan=True), name
        else:
            assert (a == b).all(), (name, a, b)
    assert prepared.attrs["in_531_source"] == "531_basin_list.txt"


def test_refuses_to_overwrite(camels_us_raw_path, tmp_path):
    out = tmp_path / "camels_us.nc"
    out.write_bytes(b"previous result")
    with pytest.raises(OutputExistsError) as info:
        prepare_camels_us(camels_us_raw_path, out, ["01022500"], progress=False)
    assert str(out) in str(info.value) and "overwrite=True" in str(info.value)
    assert out.read_bytes() == b"previous result"
    prepare_camels_us(camels_us_raw_path, out, ["01022500"], overwrite=True, progress=False)
    with xr.open_dataset(out) as ds:
        assert list(ds.basin.values) == ["01022500"]


def _copy_raw(src, dst):
    shutil.copytree(src, dst)
    for path in dst.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dst


def test_atomic_when_a_later_basin_is_malformed(camels_us_raw_path, tmp_path):
    raw = _copy_raw(camels_us_raw_path, tmp_path / "raw")
    bad = raw / "usgs_streamflow/03/02342933_streamflow_qc.txt"  # 7th of 8 basins
    lines = bad.read_text().splitlines(keepends=True)
    lines[99] = "02342933\t1980\t4\t9\tlots\tA\n"
    bad.write_text("".join(lines))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "camels_us.nc"
    with pytest.raises(DataFormatError) as info:
        prepare_camels_us(raw, out, progress=False)
    assert "02342933_streamflow_qc.txt" in str(info.value) and "line 100" in str(info.value)
    assert list(out_dir.iterdir()) == []  # no output, no temporary file

    # an existing file survives a failed overwrite unchanged
    out.write_bytes(b"old")
    with pytest.raises(DataFormatError):
        prepare_camels_us(raw, out, overwrite=True, progress=False)
    assert out.read_bytes() == b"old" and [p.name for p in out_dir.iterdir()] == ["camels_us.nc"]


def test_atomic_when_writing_fails(camels_us_raw_path, tmp_path, monkeypatch):
    real_write = prepare_module._write_netcdf

    def write_then_crash(ds, target):
        real_write(ds, target)
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(prepare_module, "_write_netcdf", write_then_crash)
    out = tmp_path / "camels_us.nc"
    with pytest.raises(OSError, match="simulated"):
        prepare_camels_us(camels_us_raw_path, out, ["01022500"], progress=False)
    assert list(tmp_path.iterdir()) == []


def test_without_531_list(camels_us_raw_path, tmp_path, monkeypatch, caplog):
    raw = _copy_raw(camels_us_raw_path, tmp_path / "raw")
    (raw / "531_basin_list.txt").unlink()
    data = tmp_path / "data"
    with caplog.at_level(logging.WARNING, logger="dplrepro.data"):
        prepare_camels_us(raw, data / "camels_us.nc", ["01022500", "01031500"], progress=False)
    assert "no 531_basin_list.txt" in caplog.text
    monkeypatch.setenv("DPLREPRO_DATA", str(data))
    ds = load_camels_us(variables=["prcp"])
    assert ds.attrs["in_531_source"] == "unavailable" and not ds.in_531.any()
    with pytest.raises(DataFormatError, match="531-basin subset"):
        load_camels_us(subset_531=True)

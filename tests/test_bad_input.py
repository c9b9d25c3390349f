"""Bad input gives errors that name the file, the id or the line, and what was expected."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dplrepro.data.camels_us import load_camels_us
from dplrepro.data.caravan import load_caravan_attributes
from dplrepro.data.errors import DataFormatError, DataNotFoundError, UnknownSiteError
from dplrepro.data.prepare import prepare_camels_us, read_forcing_file, read_streamflow_file
from dplrepro.data.smap import load_smap_conus

TWO_BASINS = ("01022500", "01031500")


def _tiny_camels(path, basins=("01022500", "01031500", "02342933"), *, drop=(), nan_basins=()):
    """A small NetCDF with the camels_us.nc schema (subset of variables)."""
    time = pd.date_range("1980-10-01", periods=40, freq="D")
    rng = np.random.default_rng(0)
    shape = (len(basins), len(time))
    q = rng.gamma(2.0, 0.5, shape).astype(np.float32)
    for b in nan_basins:
        q[list(basins).index(b)] = np.nan
    ds = xr.Dataset(
        {
            "prcp": (("basin", "time"), rng.gamma(1.0, 3.0, shape).astype(np.float32), {"units": "mm/day"}),
            "tmax": (("basin", "time"), np.full(shape, 12.5, np.float32), {"units": "degC"}),
            "qobs": (("basin", "time"), q, {"units": "mm/day"}),
            "qobs_source": ("basin", np.array(["camels_usgs"] * len(basins))),
            "in_531": ("basin", np.ones(len(basins), bool)),
            "lat": ("basin", np.full(len(basins), 44.6, np.float32), {"units": "degrees_north"}),
            "lon": ("basin", np.full(len(basins), -67.9, np.float32), {"units": "degrees_east"}),
            "area_km2": ("basin", np.full(len(basins), 573.6, np.float32), {"units": "km2"}),
        },
        coords={"basin": np.array(basins), "time": time},
    )
    ds.drop_vars(list(drop)).to_netcdf(path)
    return path


def _copy_two_basins(raw_src, dst):
    """Copy the attribute files and two basins of the original layout into ``dst``."""
    for rel in ("camels_attributes_v2.0", "531_basin_list.txt"):
        src = raw_src / rel
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst / rel)
    for basin in TWO_BASINS:
        for sub, suffix in (("basin_mean_forcing/daymet/01", "_lump_cida_forcing_leap.txt"),
                            ("usgs_streamflow/01", "_streamflow_qc.txt")):
            (dst / sub).mkdir(parents=True, exist_ok=True)
            shutil.copy(raw_src / sub / f"{basin}{suffix}", dst / sub / f"{basin}{suffix}")
    for path in dst.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return dst


def test_missing_data_folder(tmp_path, monkeypatch):
    folder = tmp_path / "no_such_folder"
    monkeypatch.setenv("DPLREPRO_DATA", str(folder))
    with pytest.raises(DataNotFoundError) as info:
        load_camels_us(["01022500"])
    message = str(info.value)
    assert "camels_us.nc" in message
    assert str(folder) in message and "does not exist" in message
    assert "dplrepro data download camels-us" in message and "dplrepro data prepare camels-us" in message
    # an existing but empty folder: the file, the folder and the command are named too
    folder.mkdir()
    with pytest.raises(DataNotFoundError, match=r"smap_conus\.nc not found in data folder .*no_such_folder"):
        load_smap_conus()


def test_wrong_raw_layout(camels_us_raw_path, tmp_path):
    raw = _copy_two_basins(camels_us_raw_path, tmp_path / "raw")
    shutil.rmtree(raw / "usgs_streamflow")
    with pytest.raises(DataFormatError) as info:
        prepare_camels_us(raw, tmp_path / "out.nc", progress=False)
    message = str(info.value)
    assert "usgs_streamflow/" in message and str(raw) in message
    assert "expected layout" in message and "<id>_streamflow_qc.txt" in message
    assert not (tmp_path / "out.nc").exists()


def test_malformed_streamflow_line(camels_us_raw_path, tmp_path):
    raw = _copy_two_basins(camels_us_raw_path, tmp_path / "raw")
    path = raw / "usgs_streamflow/01/01031500_streamflow_qc.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[4566] = "01031500 1992 07 02   112.00\n"  # QC flag missing
    path.write_text("".join(lines))
    with pytest.raises(DataFormatError) as info:
        prepare_camels_us(raw, tmp_path / "out.nc", progress=False)
    message = str(info.value)
    assert "01031500_streamflow_qc.txt" in message and "line 4567" in message
    assert "expected 6 fields" in message and "QC flag" in message
    assert not (tmp_path / "out.nc").exists()
    # a non-number in the discharge column
    lines[4566] = "01031500 1992 07 02   1I2.00 A\n"
    path.write_text("".join(lines))
    with pytest.raises(DataFormatError, match=r"line 4567: expected the discharge in cfs .*'1I2.00'"):
        read_streamflow_file(path)


def test_malformed_forcing_line(camels_us_raw_path, tmp_path):
    raw = _copy_two_basins(camels_us_raw_path, tmp_path / "raw")
    path = raw / "basin_mean_forcing/daymet/01/01022500_lump_cida_forcing_leap.txt"
    lines = path.read_text().splitlines(keepends=True)
    lines[1000] = lines[1000].replace("\t", "\tx", 2).replace("\tx", "\t", 1)  # 2nd value -> 'x...'
    path.write_text("".join(lines))
    with pytest.raises(DataFormatError) as info:
        read_forcing_file(path)
    message = str(info.value)
    assert "01022500_lump_cida_forcing_leap.txt" in message and "line 1001" in message
    assert "expected a number for prcp(mm/day)" in message
    lines[2] = "unknown area\n"
    path.write_text("".join(lines))
    with pytest.raises(DataFormatError, match=r"line 3: expected the basin area in m2"):
        read_forcing_file(path)


def test_all_nan_basin_from_raw_files(camels_us_raw_path, tmp_path, monkeypatch, caplog):
    raw = _copy_two_basins(camels_us_raw_path, tmp_path / "raw")
    path = raw / "usgs_streamflow/01/01031500_streamflow_qc.txt"
    rows = [line.split() for line in path.read_text().splitlines()]
    path.write_text("".join(f"{r[0]} {r[1]} {r[2]} {r[3]}  -999.00 M\n" for r in rows))
    data = tmp_path / "data"
    prepare_camels_us(raw, data / "camels_us.nc", progress=False)
    monkeypatch.setenv("DPLREPRO_DATA", str(data))
    with pytest.raises(DataFormatError) as info:
        load_camels_us(["01022500", "01031500"], variables=["qobs"])
    message = str(info.value)
    assert "01031500" in message and "01022500" not in message
    assert "no valid 'qobs'" in message and "camels_us.nc" in message
    # not asked for explicitly: dropped and logged, never silently
    with caplog.at_level(logging.WARNING, logger="dplrepro.data"):
        ds = load_camels_us(variables=["qobs"], min_valid_qobs=1)
    assert list(ds.basin.values) == ["01022500"]
    assert "dropped 1 of 2 basins" in caplog.text and "01031500" in caplog.text


def test_all_nan_basin_in_small_netcdf(isolated_data_dir):
    _tiny_camels(isolated_data_dir / "camels_us.nc", nan_basins=("02342933",))
    with pytest.raises(DataFormatError, match=r"basin\(s\) 02342933 have no valid 'qobs' values"):
        load_camels_us(["02342933"])
    ds = load_camels_us(["01022500"], variables=["qobs"])  # the others are fine
    assert float(ds.qobs.mean()) > 0


def test_unknown_basin_id(isolated_data_dir):
    path = _tiny_camels(isolated_data_dir / "camels_us.nc")
    with pytest.raises(UnknownSiteError) as info:
        load_camels_us(["01022500", "99999999", "12345678"])
    message = str(info.value)
    assert "99999999" in message and "12345678" in message and "2 unknown basin id(s)" in message
    assert str(path) in message
    # integer ids are zero-padded, so 1022500 is found
    assert list(load_camels_us([1022500], variables=["prcp"]).basin.values) == ["01022500"]


def test_netcdf_missing_variable(isolated_data_dir):
    path = _tiny_camels(isolated_data_dir / "camels_us.nc", drop=("tmax",))
    with pytest.raises(DataFormatError) as info:
        load_camels_us(variables=["prcp", "tmax"])
    message = str(info.value)
    assert "['tmax']" in message and str(path) in message
    assert "Variables present:" in message and "prcp" in message and "qobs" in message


def test_period_outside_record(isolated_data_dir):
    _tiny_camels(isolated_data_dir / "camels_us.nc")
    with pytest.raises(DataFormatError, match=r"1979-01-01\.\.1980-10-05 is outside the record .*1980-10-01"):
        load_camels_us(start="1979-01-01", end="1980-10-05")


def test_caravan_table_without_gauge_id(isolated_data_dir):
    source = isolated_data_dir / "caravan_attributes" / "demo"
    source.mkdir(parents=True)
    (source / "attributes_other_demo.csv").write_text("gauge_id,area\ndemo_1,10.5\n")
    (source / "attributes_caravan_demo.csv").write_text("id,p_mean\ndemo_1,2.0\n")
    (source / "attributes_hydroatlas_demo.csv").write_text("gauge_id,slp_dg_sav\ndemo_1,3.0\n")
    with pytest.raises(DataFormatError) as info:
        load_caravan_attributes()
    assert "attributes_caravan_demo.csv" in str(info.value) and "no 'gauge_id' column" in str(info.value)


def test_check_datasets_on_empty_folder(isolated_data_dir):
    from dplrepro.data.catalog import DATASETS, check_datasets

    rows = check_datasets()
    assert [r["name"] for r in rows] == list(DATASETS)
    assert not any(r["present"] or r["ok"] for r in rows)
    camels = rows[0]
    assert camels["path"] == str(isolated_data_dir / "camels_us.nc")
    assert "dplrepro data download camels-us" in camels["detail"]


def test_check_datasets_reports_a_broken_file(isolated_data_dir):
    from dplrepro.data.catalog import check_datasets

    (isolated_data_dir / "smap_conus.nc").write_text("not netcdf")
    _tiny_camels(isolated_data_dir / "camels_us.nc", drop=("tmax",))
    rows = {r["name"]: r for r in check_datasets()}
    assert rows["smap_conus"]["present"] and not rows["smap_conus"]["ok"]
    assert "not a readable NetCDF" in rows["smap_conus"]["detail"]
    assert not rows["camels_us"]["ok"] and "['tmax'" in rows["camels_us"]["detail"]


def test_more_basins_asked_for_than_usable_is_an_error_not_a_clamp():
    """n_basins above the usable basins used to be clamped silently to what exists."""
    from dataclasses import replace

    from dplrepro.data.splits import TimeWindow
    from dplrepro.experiments.streamflow import StreamflowConfig, select_basins

    time = pd.date_range("2000-10-01", "2002-09-30", freq="D")
    rng = np.random.default_rng(0)
    ds = xr.Dataset({name: (("basin", "time"), rng.gamma(1.0, 1.0, (3, time.size)))
                     for name in ("qobs", "prcp", "tmin", "tmax")}, coords={"basin": ["01", "02", "03"], "time": time})
    ds["qobs"][2, : time.size // 2] = np.nan  # basin 03 lacks streamflow in the test period
    config = replace(StreamflowConfig(), train_period=TimeWindow("2001-10-01", "2002-09-30"),
                     test_period=TimeWindow("2000-10-01", "2001-09-30"))
    assert list(select_basins(ds, replace(config, n_basins=2)).basin.values) == ["01", "02"]
    with pytest.raises(ValueError, match=r"n_basins=5 but only 2 basins .* \(1 dropped\); expected n_basins <= 2"):
        select_basins(ds, replace(config, n_basins=5))

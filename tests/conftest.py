"""Shared fixtures.

Real-data tests read ``$DPLREPRO_DATA`` (CI sets it to ``../shared/data``). When the
data are absent they are skipped with a reason -- unless
``DPLREPRO_REQUIRE_REAL_DATA=1`` (set by ``.ci/run``), where a missing dataset is a
failure, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dplrepro.data.paths import data_dir


def _require(name: str) -> Path:
    path = data_dir() / name
    if not path.exists():
        msg = f"real dataset {name} not found in {data_dir()} (set DPLREPRO_DATA)"
        if os.environ.get("DPLREPRO_REQUIRE_REAL_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture(scope="session")
def camels_us_path() -> Path:
    return _require("camels_us.nc")


@pytest.fixture(scope="session")
def camels_us_raw_path() -> Path:
    return _require("camels_us_raw")


@pytest.fixture(scope="session")
def camels_gb_path() -> Path:
    return _require("camels_gb.nc")


@pytest.fixture(scope="session")
def caravan_path() -> Path:
    return _require("caravan_attributes")


@pytest.fixture(scope="session")
def smap_path() -> Path:
    return _require("smap_conus.nc")


@pytest.fixture(scope="session")
def natural_earth_path() -> Path:
    return _require("natural_earth")


@pytest.fixture
def isolated_data_dir(tmp_path, monkeypatch) -> Path:
    """Point DPLREPRO_DATA at an empty temporary folder for the duration of a test."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("DPLREPRO_DATA", str(folder))
    return folder

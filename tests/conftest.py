"""Shared fixtures.

Real-data tests read ``$DPLREPRO_DATA`` (CI sets it to ``../shared/data``). When the
data are absent they are skipped with a reason -- unless
``DPLREPRO_REQUIRE_REAL_DATA=1`` (set by ``.ci/run``), where a missing dataset is a
failure, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs pytest-xdist workers, one per core share: each computes with
    # cores // workers torch threads, and so do the notebook kernels its tests start
    # (they inherit the environment). Oversubscribed threads spin and slow everything.
    _WORKER_THREADS = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(_WORKER_THREADS)

# digests of data files are memoised per machine; tests keep theirs out of the user's ~/.cache
os.environ.setdefault("DPLREPRO_CACHE", tempfile.mkdtemp(prefix="dplrepro-test-cache-"))

from dplrepro.data.paths import data_dir  # noqa: E402  (after the thread setting: may import torch)


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(_WORKER_THREADS)


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
def run_quick_chapter(tmp_path, monkeypatch):
    """Run a chapter (quick profile) into temporary build/results folders.

    Returns ``run(name, parameters) -> (results folder, summary dict)``.
    """
    import json

    from dplrepro.book import run_chapter

    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))

    def run(name: str, parameters: dict) -> tuple[Path, dict]:
        run_chapter(name, "quick", parameters, build_dir=tmp_path / "build", progress=False)
        out = tmp_path / "results" / name / "quick"
        return out, json.loads((out / "summary.json").read_text())

    return run


@pytest.fixture
def one_torch_thread():
    """Run a test with one intra-op torch thread (tiny tensors: threads only add
    synchronisation, ~10x slower on a busy 2-core machine); restore the setting after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def isolated_data_dir(tmp_path, monkeypatch) -> Path:
    """Point DPLREPRO_DATA at an empty temporary folder for the duration of a test."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("DPLREPRO_DATA", str(folder))
    return folder

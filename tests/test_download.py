"""fetch_archive / download_camels_us against a local HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import threading
import zipfile

import pytest
import xarray as xr

from dplrepro.data import download as download_module
from dplrepro.data.download import (
    CAMELS_US_ARCHIVES,
    DestinationExistsError,
    DownloadError,
    download_camels_us,
    fetch_archive,
    sha256_of,
)
from dplrepro.data.errors import ChecksumError, DataFormatError
from dplrepro.data.prepare import prepare_camels_us


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def served(tmp_path, monkeypatch):
    """Serve ``tmp_path/'served'`` at ``http://127.0.0.1:<port>``; yield (folder, base URL)."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _make_zip(path, members: dict[str, str]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return hashlib.sha256(path.read_bytes()).hexdigest()


MEMBERS = {
    "basin_dataset_public_v1p2/usgs_streamflow/01/01022500_streamflow_qc.txt": "01022500 1980 01 01   395.00 A\n",
    "basin_dataset_public_v1p2/basin_mean_forcing/daymet/01/readme.txt": "forcing\n",
    "basin_dataset_public_v1p2/hru_forcing/big.txt": "not wanted\n",
}


def _leftovers(parent):
    return [p.name for p in parent.iterdir() if ".fetch-" in p.name]


def test_fetch_with_correct_hash_unpacks(served, tmp_path):
    folder, base = served
    digest = _make_zip(folder / "archive.zip", MEMBERS)
    dest = tmp_path / "data" / "camels_us_raw"
    result = fetch_archive(f"{base}/archive.zip", digest, dest)
    assert result == dest
    for name, text in MEMBERS.items():
        assert (dest / name).read_text() == text
    assert _leftovers(dest.parent) == []
    assert not list(dest.rglob("*.zip")) and not list(dest.rglob("*.part"))


def test_fetch_include_filter_and_existing_dest(served, tmp_path):
    folder, base = served
    digest = _make_zip(folder / "archive.zip", MEMBERS)
    dest = tmp_path / "raw"
    dest.mkdir()
    (dest / "camels_attributes_v2.0").mkdir()  # unrelated content already there
    fetch_archive(f"{base}/archive.zip", f"sha256:{digest.upper()}", dest,
                  include=("*usgs_streamflow/*", "*basin_mean_forcing/daymet/*"))
    assert (dest / "basin_dataset_public_v1p2/usgs_streamflow/01/01022500_streamflow_qc.txt").exists()
    assert not (dest / "basin_dataset_public_v1p2/hru_forcing").exists()
    assert (dest / "camels_attributes_v2.0").is_dir()
    # unpacking again never overwrites
    with pytest.raises(DestinationExistsError, match="basin_dataset_public_v1p2"):
        fetch_archive(f"{base}/archive.zip", digest, dest)
    assert _leftovers(tmp_path) == []


def test_fetch_with_wrong_hash_leaves_nothing(served, tmp_path):
    folder, base = served
    actual = _make_zip(folder / "archive.zip", MEMBERS)
    wrong = "0" * 64
    url = f"{base}/archive.zip"
    dest = tmp_path / "data" / "camels_us_raw"
    with pytest.raises(ChecksumError) as info:
        fetch_archive(url, wrong, dest)
    message = str(info.value)
    assert url in message and wrong in message and actual in message
    assert not dest.exists()
    assert list((tmp_path / "data").iterdir()) == []

    # an existing destination keeps exactly its previous content
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(ChecksumError):
        fetch_archive(url, wrong, dest)
    assert sorted(p.name for p in dest.rglob("*")) == ["keep.txt"]
    assert _leftovers(dest.parent) == []


def test_fetch_single_file_and_refusals(served, tmp_path):
    folder, base = served
    (folder / "camels_name.txt").write_text("gauge_id;huc_02;gauge_name\n")
    digest = sha256_of(folder / "camels_name.txt")
    dest = tmp_path / "attrs"
    path = fetch_archive(f"{base}/camels_name.txt", digest, dest, unpack=False)
    assert path == dest / "camels_name.txt" and path.read_text().startswith("gauge_id")
    with pytest.raises(DownloadError, match="no published SHA-256 known"):
        fetch_archive(f"{base}/camels_name.txt", None, tmp_path / "other")
    with pytest.raises(DownloadError, match="404"):
        fetch_archive(f"{base}/missing.zip", "0" * 64, tmp_path / "other")
    assert not (tmp_path / "other").exists()
    with pytest.raises(ValueError, match="64 hexadecimal"):
        fetch_archive(f"{base}/camels_name.txt", "abc", tmp_path / "other")


def test_fetch_rejects_unsafe_zip(served, tmp_path):
    folder, base = served
    digest = _make_zip(folder / "evil.zip", {"../escape.txt": "x", "ok.txt": "y"})
    dest = tmp_path / "dest"
    with pytest.raises(DataFormatError, match="unsafe member path"):
        fetch_archive(f"{base}/evil.zip", digest, dest)
    assert not dest.exists() and not (tmp_path / "escape.txt").exists()


def test_download_camels_us_refuses_unverifiable_archive(tmp_path):
    big = CAMELS_US_ARCHIVES["basin_timeseries_v1p2_metForcing_obsFlow.zip"]
    assert big.sha256 is None and big.md5 == "8e9a466710e8270b58f01d332a87184f"
    with pytest.raises(DownloadError) as info:
        download_camels_us(tmp_path / "raw", archives="timeseries", progress=False)
    message = str(info.value)
    assert "no published SHA-256 known" in message and "sha256=" in message and big.md5 in message
    assert not (tmp_path / "raw").exists()


def test_download_camels_us_with_mirror_fallback(served, tmp_path, monkeypatch):
    folder, base = served
    (folder / "readme.txt").write_text("local stand-in\n")
    digest = sha256_of(folder / "readme.txt")
    entry = dataclasses.replace(
        CAMELS_US_ARCHIVES["readme.txt"],
        urls=(f"{base}/gone/readme.txt", f"{base}/readme.txt"),  # first mirror answers 404
        sha256=digest,
    )
    monkeypatch.setitem(download_module.CAMELS_US_ARCHIVES, "readme.txt", entry)
    result = download_camels_us(tmp_path / "raw", archives=["readme.txt"], progress=False)
    path = tmp_path / "raw" / "camels_attributes_v2.0" / "readme.txt"
    assert result == {"readme.txt": path} and path.read_text() == "local stand-in\n"
    # a second call finds the verified file and downloads nothing
    (folder / "readme.txt").unlink()
    assert download_camels_us(tmp_path / "raw", archives=["readme.txt"], progress=False) == result


def test_registered_hashes_match_the_official_files(camels_us_raw_path):
    """The SHA-256s in the registry are those of the byte-identical official attribute files."""
    folder = camels_us_raw_path / "camels_attributes_v2.0"
    checked = 0
    for name, archive in CAMELS_US_ARCHIVES.items():
        if archive.unpack:
            continue
        data = (folder / name).read_bytes()
        assert hashlib.md5(data).hexdigest() == archive.md5, name  # as published by Zenodo
        assert hashlib.sha256(data).hexdigest() == archive.sha256, name
        assert len(data) == archive.size, name
        checked += 1
    assert checked == 8


def test_download_then_prepare_end_to_end(served, tmp_path, monkeypatch, camels_us_raw_path):
    """A stand-in of the official zip (two real basins) served locally -> download -> prepare."""
    folder, base = served
    members = {}
    for basin in ("01022500", "01031500"):
        for rel in (f"basin_mean_forcing/daymet/01/{basin}_lump_cida_forcing_leap.txt",
                    f"usgs_streamflow/01/{basin}_streamflow_qc.txt"):
            members[f"basin_dataset_public_v1p2/{rel}"] = (camels_us_raw_path / rel).read_text()
    members["basin_dataset_public_v1p2/hru_forcing/skip_me.txt"] = "excluded by the include filter\n"
    digest = _make_zip(folder / "basin_timeseries_v1p2_metForcing_obsFlow.zip", members)
    for name, archive in CAMELS_US_ARCHIVES.items():
        if not archive.unpack:  # the official attribute files, byte for byte
            (folder / name).write_bytes((camels_us_raw_path / "camels_attributes_v2.0" / name).read_bytes())
        local = dataclasses.replace(archive, urls=(f"{base}/{name}",))
        monkeypatch.setitem(download_module.CAMELS_US_ARCHIVES, name, local)
    raw = tmp_path / "data" / "camels_us_raw"
    result = download_camels_us(
        raw, progress=False, sha256={"basin_timeseries_v1p2_metForcing_obsFlow.zip": digest}
    )
    assert len(result) == 9
    assert not (raw / "basin_dataset_public_v1p2" / "hru_forcing").exists()
    out = prepare_camels_us(raw, tmp_path / "data" / "camels_us.nc", progress=False)
    with xr.open_dataset(out) as ds:
        assert list(ds.basin.values) == ["01022500", "01031500"]
        assert float(ds.qobs.sel(basin="01022500").isel(time=0)) == pytest.approx(0.9326, abs=5e-4)
        assert not bool(ds.in_531.any())  # no 531_basin_list.txt in the official archives

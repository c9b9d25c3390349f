"""Download the official CAMELS-US archives, verified by SHA-256, unpacked atomically.

Sources
-------
CAMELS-US time series v1.2 and attributes v2.0 (Newman et al. 2015; Addor et al. 2017),
published by NSF NCAR under CC-BY-4.0. The dataset DOI 10.5065/D6MW2F4D resolves to
Zenodo record 15529996, which lists an MD5 for every file; the NCAR/UCAR GDEX dataset
page (https://gdex.ucar.edu/dataset/camels.html) serves the same files and is used as a
mirror.

Hashes (see :data:`CAMELS_US_ARCHIVES`)
--------------------------------------
Neither Zenodo nor GDEX publishes SHA-256 hashes, only MD5s. For the attribute text files
the SHA-256 recorded here was computed from copies whose MD5 equals the MD5 published by
Zenodo (byte-identical files). For ``basin_timeseries_v1p2_metForcing_obsFlow.zip``
(3,406,626,583 bytes, published MD5 ``8e9a466710e8270b58f01d332a87184f``) no SHA-256 from a
trustworthy source is known, so it is ``None``: :func:`download_camels_us` refuses it until
you pass a SHA-256 you verified yourself (e.g. download it once, check its MD5 against the
Zenodo record, then ``sha256sum`` it).
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence
from urllib.parse import urlparse

from .errors import ChecksumError, DataError, DataFormatError
from .paths import data_dir

__all__ = [
    "Archive",
    "CAMELS_US_ARCHIVES",
    "DestinationExistsError",
    "DownloadError",
    "download_camels_us",
    "fetch_archive",
    "sha256_of",
]

log = logging.getLogger("dplrepro.data")

_ZENODO = "https://zenodo.org/records/15529996/files/{name}?download=1"
_GDEX = "https://gdex.ucar.edu/dataset/camels/file/{name}"


class DownloadError(DataError):
    """A download failed (network, HTTP status) or cannot be verified."""


class DestinationExistsError(DataError, FileExistsError):
    """The file or folder a download would create already exists (never overwritten)."""


@dataclass(frozen=True)
class Archive:
    """One downloadable file of an official dataset."""

    name: str
    urls: tuple[str, ...]
    sha256: str | None
    md5: str | None = None  # as published by the data provider (Zenodo), for reference
    size: int | None = None
    subdir: str = ""  # where it goes below the destination folder
    unpack: bool = False
    include: tuple[str, ...] = ()  # zip members to extract (fnmatch patterns); () = all
    note: str = ""
    aliases: tuple[str, ...] = field(default=())


def _camels_file(name: str, sha256: str, md5: str, size: int) -> Archive:
    return Archive(
        name=name,
        urls=(_ZENODO.format(name=name), _GDEX.format(name=name)),
        sha256=sha256,
        md5=md5,
        size=size,
        subdir="camels_attributes_v2.0",
        note="SHA-256 computed from a copy whose MD5 equals the MD5 published in Zenodo record 15529996",
        aliases=("attributes",),
    )


#: The official CAMELS-US files used by :func:`dplrepro.data.prepare.prepare_camels_us`.
CAMELS_US_ARCHIVES: dict[str, Archive] = {
    "basin_timeseries_v1p2_metForcing_obsFlow.zip": Archive(
        name="basin_timeseries_v1p2_metForcing_obsFlow.zip",
        urls=(_ZENODO.format(name="basin_timeseries_v1p2_metForcing_obsFlow.zip"),
              _GDEX.format(name="basin_timeseries_v1p2_metForcing_obsFlow.zip")),
        sha256=None,  # no published SHA-256 known (only the Zenodo MD5 below)
        md5="8e9a466710e8270b58f01d332a87184f",
        size=3_406_626_583,
        unpack=True,
        include=("*basin_mean_forcing/daymet/*", "*usgs_streamflow/*", "*basin_metadata/*",
                 "*readme*", "*README*"),
        note="CAMELS time series v1.2 (Daymet/Maurer/NLDAS forcing, USGS streamflow); only the "
             "Daymet basin-mean forcing, streamflow and metadata are extracted",
        aliases=("timeseries",),
    ),
    **{
        a.name: a
        for a in (
            _camels_file("camels_clim.txt", "6a3a80256afbaea13f59f279c174d3c010156b826ffb53a4cfb5508814404f5f",
                         "67f22592f3fb72c57df81358ce68458b", 100_673),
            _camels_file("camels_geol.txt", "2ffe3871541b93bde02f72df6c34933cb91edb45af363fd7d50c3eaa7da0b5e6",
                         "f5ce5de53eb1ea2532cda7e3b4813993", 71_583),
            _camels_file("camels_hydro.txt", "7dcae3ea8c28e6485fc9e39b3c5e8bb509d6354ebe9b0b98873ec47fa36e3c41",
                         "55ebdeb36c42ee7acdb998229c3edb3a", 122_799),
            _camels_file("camels_name.txt", "f3a85272cd934c6e12386db5f21979675fc891844250a335135786ad9a2de445",
                         "c96491b32c4df55a31bead7ceca7d64b", 30_417),
            _camels_file("camels_soil.txt", "2acabec448fda2d7d93c2182a8a148e0f6a2dfc40f6f0944ec09eda6eeea0a6d",
                         "8edb46a363a20b466a4b7105ba633767", 109_125),
            _camels_file("camels_topo.txt", "b64ca9923bcaccf21dde33137903797919e8d6732edd7849f8534e0ddcbec8e8",
                         "0f6267838c40b1507b64582433bc0b8e", 38_677),
            _camels_file("camels_vege.txt", "ea97f5d91a2f5acccef21df08417729aade51afe9a2651ab30c2990e7ad63d74",
                         "f40e843defc1e654a800be9fe5fd5090", 107_970),
            _camels_file("readme.txt", "fcdd3169b6b7c026358d605aee7acff419c332038fe41969afb93e4edac7370f",
                         "b37d64950e9d4c5c10a8b4ef82bc6219", 1_704),
        )
    },
}

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _normalise_hash(sha256: str | None, url: str) -> str:
    if sha256 is None:
        raise DownloadError(
            f"no published SHA-256 known for {url}; pass sha256=... you verified yourself "
            "(refusing to download an archive that cannot be checked)"
        )
    value = str(sha256).strip().lower()
    if value.startswith("sha256:"):
        value = value[len("sha256:"):]
    if not _HEX64.match(value):
        raise ValueError(f"sha256 must be 64 hexadecimal characters, got {sha256!r}")
    return value


def _file_name(url: str) -> str:
    name = PurePosixPath(urlparse(url).path).name
    if not name:
        raise ValueError(f"cannot derive a file name from {url!r}; pass fname=")
    return name


def _download(url: str, folder: Path, fname: str, progress: bool) -> Path:
    import pooch

    scheme = urlparse(url).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"unsupported URL scheme in {url!r}")
    try:
        path = pooch.retrieve(url, known_hash=None, fname=fname, path=folder, progressbar=progress)
    except Exception as exc:  # requests/ftplib/OSError: report uniformly
        raise DownloadError(f"download of {url} failed: {type(exc).__name__}: {exc}") from exc
    return Path(path)


def _default_permissions(path: Path) -> None:
    """Temporary files are created 0600; give the result a normal file's permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _extract(archive: Path, target: Path, include: Sequence[str], url: str) -> int:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise DataFormatError(f"{url} is not a zip archive ({exc})") from exc
    count = 0
    with zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise DataFormatError(f"{url}: unsafe member path {info.filename!r} in zip")
            if include and not any(fnmatch.fnmatch(info.filename, p) for p in include):
                continue
            if "__MACOSX" in parts:
                continue
            zf.extract(info, target)
            count += 1
    if count == 0:
        raise DataFormatError(
            f"{url}: no zip member matched {list(include) or 'anything'}; is it the expected archive?"
        )
    return count


def fetch_archive(
    url: str,
    sha256: str | None,
    dest_dir: str | os.PathLike,
    *,
    unpack: bool = True,
    fname: str | None = None,
    include: Sequence[str] = (),
    progress: bool = False,
) -> Path:
    """Download ``url``, check its SHA-256, and unpack (zip) or move it into ``dest_dir``.

    The file is downloaded under a temporary name in a staging folder next to
    ``dest_dir``; a zip is extracted inside the staging folder and only then moved into
    ``dest_dir`` (a single rename when ``dest_dir`` does not exist yet). On a wrong hash,
    :class:`ChecksumError` names the URL and the expected and actual hashes, and nothing is
    left in ``dest_dir`` (which is not even created). Entries that already exist in
    ``dest_dir`` are never overwritten (:class:`DestinationExistsError`, raised before
    anything is moved). A network failure raises :class:`DownloadError`; a missing
    ``sha256`` (``None``) is refused with :class:`DownloadError` before any download.

    Returns ``dest_dir`` when unpacking, else the path of the downloaded file in it.
    ``include``: fnmatch patterns of the zip members to extract (default all).
    """
    expected = _normalise_hash(sha256, url)
    dest_dir = Path(dest_dir)
    fname = fname or _file_name(url)
    parent = dest_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.fetch-", dir=parent))
    try:
        downloaded = _download(url, staging / "download", fname + ".part", progress)
        actual = sha256_of(downloaded)
        if actual != expected:
            raise ChecksumError(
                f"SHA-256 mismatch for {url}: expected {expected}, got {actual}; the download "
                "was discarded and nothing was written"
            )
        if not unpack:
            target = dest_dir / fname
            if target.exists():
                raise DestinationExistsError(f"{target} already exists; remove it to download again")
            dest_dir.mkdir(parents=True, exist_ok=True)
            _default_permissions(downloaded)
            os.replace(downloaded, target)
            return target
        unpacked = staging / "unpacked"
        unpacked.mkdir()
        _extract(downloaded, unpacked, include, url)
        if not dest_dir.exists():
            os.replace(unpacked, dest_dir)
            return dest_dir
        entries = sorted(unpacked.iterdir())
        clashes = [e.name for e in entries if (dest_dir / e.name).exists()]
        if clashes:
            raise DestinationExistsError(
                f"{dest_dir} already holds {clashes}; remove them to unpack {fname} again"
            )
        for entry in entries:
            os.replace(entry, dest_dir / entry.name)
        return dest_dir
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _select(archives: Iterable[str] | str | None) -> list[Archive]:
    if archives is None:
        return list(CAMELS_US_ARCHIVES.values())
    if isinstance(archives, str):
        archives = [archives]
    chosen: list[Archive] = []
    for key in archives:
        matches = [a for a in CAMELS_US_ARCHIVES.values() if key == a.name or key in a.aliases]
        if not matches:
            names = sorted(CAMELS_US_ARCHIVES) + ["attributes", "timeseries"]
            raise ValueError(f"unknown CAMELS-US archive {key!r}; choose from {names}")
        chosen.extend(a for a in matches if a not in chosen)
    return chosen


def download_camels_us(
    dest: str | os.PathLike | None = None,
    *,
    archives: Iterable[str] | str | None = None,
    progress: bool = True,
    sha256: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Download the official CAMELS-US files into ``dest`` (default ``data_dir()/camels_us_raw``).

    ``archives``: names from :data:`CAMELS_US_ARCHIVES` or the aliases ``"timeseries"``
    (``basin_timeseries_v1p2_metForcing_obsFlow.zip``, 3.4 GB, unpacked to
    ``basin_dataset_public_v1p2/``) and ``"attributes"`` (the ``camels_*.txt`` files into
    ``camels_attributes_v2.0/``); default all. ``sha256`` supplies hashes for archives
    without a known one (``{"basin_timeseries_v1p2_metForcing_obsFlow.zip": "..."}``).

    Refuses (:class:`DownloadError`, before downloading anything) an archive without a
    SHA-256. Files already present are skipped. The result is the layout
    :func:`dplrepro.data.prepare.prepare_camels_us` reads, except ``531_basin_list.txt``,
    which is not part of the official archives. Returns ``{name: path}``.
    """
    dest = data_dir() / "camels_us_raw" if dest is None else Path(dest)
    sha256 = dict(sha256 or {})
    chosen = _select(archives)
    unknown = [k for k in sha256 if k not in CAMELS_US_ARCHIVES]
    if unknown:
        raise ValueError(f"sha256 given for unknown archive(s) {unknown}")
    missing = [a for a in chosen if (sha256.get(a.name) or a.sha256) is None]
    if missing:
        lines = [
            f"  {a.name}: no published SHA-256 known; pass sha256={{'{a.name}': ...}} you verified "
            f"yourself" + (f" (the provider publishes MD5 {a.md5}, {a.size:,} bytes: check a manual "
                           f"download against it, then use its sha256sum)" if a.md5 else "")
            for a in missing
        ]
        raise DownloadError("refusing to download unverifiable archive(s):\n" + "\n".join(lines)
                            + "\n(or choose archives='attributes' to fetch only the verified files)")
    result: dict[str, Path] = {}
    for archive in chosen:
        expected = sha256.get(archive.name) or archive.sha256
        target_dir = dest / archive.subdir if archive.subdir else dest
        if archive.unpack:
            done = target_dir / "basin_dataset_public_v1p2"
            if done.exists():
                log.info("%s exists; skipping %s", done, archive.name)
                result[archive.name] = target_dir
                continue
        else:
            existing = target_dir / archive.name
            if existing.exists():
                if sha256_of(existing) != _normalise_hash(expected, archive.urls[0]):
                    raise DestinationExistsError(
                        f"{existing} exists but its SHA-256 differs from {expected}; remove it"
                    )
                log.info("%s already present and verified", existing)
                result[archive.name] = existing
                continue
        errors = []
        for url in archive.urls:
            try:
                result[archive.name] = fetch_archive(
                    url, expected, target_dir, unpack=archive.unpack, fname=archive.name,
                    include=archive.include, progress=progress,
                )
                break
            except DownloadError as exc:  # network problem: try the next mirror
                errors.append(str(exc))
                log.warning("%s", exc)
        else:
            raise DownloadError(f"could not download {archive.name}:\n  " + "\n  ".join(errors))
    return result

"""Content keys for everything dplrepro caches: what a result depends on, as hashes.

A cached result (an executed chapter, a training checkpoint, an SCE-UA calibration, a
surrogate) is reused only when its key matches: the key hashes the input arrays or data
files by content, the package's code, the versions of the packages that compute, the
configuration and the seed (:func:`content_key`). The key is stored inside the cached file
and checked when it is loaded; a file whose key differs, or that carries none, is set aside
with a warning naming it (:func:`set_aside`), never silently reused or overwritten.
``DPLREPRO_FORCE=1`` (set for its kernels by ``dplrepro run --force``) recomputes every
cache below a notebook too (:func:`force_recompute`).

A data file's SHA-256 is memoised by (path, inode, size, mtime and ctime in ns) in
``$DPLREPRO_CACHE/file-digests.json`` (default ``~/.cache/dplrepro``), so an unchanged file
is hashed once, and a file edited in place is hashed again even when its modification time
was put back: the status-change time (ctime) moves with every write and ``utime`` and cannot
be set back -- the memo is never trusted over a changed stat.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import numpy as np

from .utils import write_json_atomic

log = logging.getLogger("dplrepro.cache")

#: Packages whose versions enter every fingerprint (they compute the numbers).
COMPUTING_PACKAGES = ("torch", "numpy", "xarray", "pandas", "scipy")
_CHUNK = 1 << 20


def cache_folder() -> Path:
    """Where dplrepro keeps machine-local memos: ``$DPLREPRO_CACHE``, else ``~/.cache/dplrepro``."""
    folder = os.environ.get("DPLREPRO_CACHE")
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "dplrepro"


def _stat_key(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _read_memo(path: Path) -> dict:
    try:
        memo = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # no memo yet, or a damaged one: every digest is recomputed
    return memo if isinstance(memo, dict) else {}


def file_digests(paths: list[Path]) -> dict[str, str]:
    """SHA-256 (hex) of each file's content, keyed by its resolved path; unchanged files
    (same inode, size, ``mtime_ns`` and ``ctime_ns`` as when last hashed) come from the memo."""
    memo_path = cache_folder() / "file-digests.json"
    memo = _read_memo(memo_path)
    out, changed = {}, False
    for path in paths:
        key = str(Path(path).resolve())
        stat = _stat_key(Path(key))
        entry = memo.get(key)
        if isinstance(entry, dict) and entry.get("stat") == stat and isinstance(entry.get("sha256"), str):
            out[key] = entry["sha256"]
            continue
        digest = hashlib.sha256()
        with open(key, "rb") as handle:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        out[key] = digest.hexdigest()
        memo[key] = {"stat": stat, "sha256": out[key]}
        changed = True
    if changed:
        try:
            write_json_atomic(memo_path, memo)
        except OSError:
            pass  # a read-only home: the digests are still right, only not memoised
    return out


def data_fingerprint(root: Path) -> list:
    """``[root, (relative path, size, sha256), ...]`` for every file under ``root`` (sorted)."""
    root = Path(root)
    entries: list = [str(root)]
    if not root.exists():
        return entries
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        files += [Path(dirpath) / f for f in sorted(filenames)]
    digests = file_digests(files)
    for path in files:
        entries.append((os.path.relpath(path, root), path.stat().st_size, digests[str(path.resolve())]))
    return entries


def code_fingerprint(project_root: Path) -> str:
    """SHA-256 of every ``dplrepro/**/*.py`` under ``project_root`` (paths and contents)."""
    digest = hashlib.sha256()
    for path in sorted((Path(project_root) / "dplrepro").rglob("*.py")):
        digest.update(str(path.relative_to(project_root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def package_versions() -> dict[str, str]:
    """Python's version and each of :data:`COMPUTING_PACKAGES`' (``absent`` if not installed)."""
    out = {"python": platform.python_version()}
    for package in COMPUTING_PACKAGES:
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "absent"
    return out


@functools.lru_cache(maxsize=1)
def package_code_fingerprint() -> str:
    """SHA-256 of this installed ``dplrepro`` package's ``*.py`` files (paths and contents)."""
    return code_fingerprint(Path(__file__).resolve().parents[1])


def _canonical(value: Any, where: str) -> Any:
    """``value`` as JSON-able data with every array replaced by its dtype, shape and SHA-256."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return _canonical(value.item(), where)
    if isinstance(value, Path):
        return str(value)
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if hasattr(value, "to_numpy") and hasattr(value, "dims"):  # an xarray DataArray
        value = value.to_numpy()
    if not isinstance(value, np.ndarray) and hasattr(value, "__array__") and not isinstance(value, Mapping):
        value = np.asarray(value)  # pandas arrays and indexes, other array-likes
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        if data.dtype.kind == "O":  # Python objects (e.g. strings): by their text, element by element
            digest = hashlib.sha256(json.dumps([str(v) for v in data.ravel()]).encode()).hexdigest()
        else:
            digest = hashlib.sha256(data.view(np.uint8) if data.size else b"").hexdigest()
        return {"array": digest, "dtype": str(data.dtype), "shape": list(data.shape)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"dataclass": type(value).__name__,
                **{f.name: _canonical(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v, f"{where}[{k!r}]") for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"content_key: {where} is a {type(value).__name__}, which has no content hash; "
                    "expected numbers, strings, arrays (numpy, torch, xarray), dataclasses, mappings or sequences")


def content_key(**parts: Any) -> str:
    """16 hex digits hashing ``parts`` by content (arrays by dtype, shape and bytes), this
    package's code and the computing packages' versions: the key of a cached result."""
    record = {"parts": _canonical(parts, "parts"), "code": package_code_fingerprint(), "versions": package_versions()}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


def force_recompute() -> bool:
    """True when ``DPLREPRO_FORCE=1``: caches are recomputed, never loaded."""
    return os.environ.get("DPLREPRO_FORCE") == "1"


def set_aside(path: Path, reason: str) -> Path:
    """Rename a cached file that must not be used to ``<name>.stale-<UTC time>`` beside it,
    with a warning naming it and ``reason``; return the new path."""
    path = Path(path)
    target = path.with_name(f"{path.name}.stale-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}")
    n = 1
    while target.exists():
        target = target.with_name(f"{target.name.split('~')[0]}~{n}")
        n += 1
    os.replace(path, target)
    log.warning("set aside %s (%s); it is recomputed. The old file is kept as %s", path, reason, target.name)
    return target


T = TypeVar("T")


def load_cached(path: Path, read: Callable[[Path], T], stored_key: Callable[[T], str | None], key: str) -> T | None:
    """What ``read(path)`` gives if ``path`` exists, reads back and holds content key ``key``
    (``stored_key(value)``); otherwise None, with the file :func:`set_aside` (also with
    :func:`force_recompute`, before reading). Any error of ``read`` counts as a damaged file."""
    path = Path(path)
    if not path.exists():
        return None
    if force_recompute():
        set_aside(path, "DPLREPRO_FORCE=1: recomputing every cache")
        return None
    try:
        value = read(path)
    except Exception as exc:  # truncated, overwritten, another layout
        set_aside(path, f"it cannot be read back ({type(exc).__name__}: {str(exc)[:200]})")
        return None
    return value if usable_cache(path, stored_key(value), key) else None


def usable_cache(path: Path, stored_key: str | None, key: str) -> bool:
    """Whether a cached file at ``path`` holding ``stored_key`` may be used for ``key``; if
    not (another key, none, or :func:`force_recompute`), it is :func:`set_aside` first."""
    if force_recompute():
        set_aside(path, "DPLREPRO_FORCE=1: recomputing every cache")
        return False
    if stored_key != key:
        set_aside(path, f"its content key {stored_key!r} is not this run's {key!r}: other data, code, "
                        "settings or seed" if stored_key else "it carries no content key")
        return False
    return True


class CorruptCacheError(RuntimeError):
    """A cached file cannot be read back or fails its checksum."""


def save_checked(obj: Any, path: Path) -> Path:
    """``torch.save`` ``obj`` to ``path`` atomically, with the SHA-256 of its serialised bytes
    inside, so :func:`load_checked` can tell a damaged file from a good one."""
    import io

    import torch

    from .utils import atomic_path

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    payload = buffer.getvalue()
    with atomic_path(path) as tmp:
        torch.save({"format": "dplrepro-checked-1", "sha256": hashlib.sha256(payload).hexdigest(), "payload": payload}, tmp)
    return Path(path)


def load_checked(path: Path, *, map_location: Any = None) -> Any:
    """What :func:`save_checked` wrote to ``path``; :class:`CorruptCacheError` (naming the file)
    if it cannot be read or its checksum does not match."""
    import io

    import torch

    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, overwritten or not a torch file at all
        raise CorruptCacheError(f"{path}: cannot be read back ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(outer, dict) or outer.get("format") != "dplrepro-checked-1":
        raise CorruptCacheError(f"{path}: not a checksummed dplrepro cache file (written by an older version?)")
    payload = outer["payload"]
    if hashlib.sha256(payload).hexdigest() != outer["sha256"]:
        raise CorruptCacheError(f"{path}: checksum mismatch: the file was damaged after it was written")
    return torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)

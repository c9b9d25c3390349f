"""Small shared helpers: devices, seeds, subnormal floats, environment overrides and atomic file writes."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np


def resolve_device(device: str = "auto"):
    """Return a ``torch.device``: ``auto`` picks CUDA when available, else CPU."""
    import torch

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} requested but CUDA is not available on this machine")
    return torch.device(device)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so CPU reruns are identical."""
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    except ImportError:  # pragma: no cover - torch is a hard dependency, but keep data tools usable
        pass


def flush_denormals() -> bool:
    """Treat subnormal floats (|x| < 1.2e-38 in float32) as zero in CPU arithmetic, for the process.

    Gradients propagated back through a warm-up that the loss does not see (an LSTM's or a
    bucket model's spin-up year) decay towards zero and enter the subnormal range, where x86
    CPUs compute up to ~100x slower: an LSTM's backward pass over 365 scored + 365 warm-up
    days ran 2x slower for it (``torch.set_flush_denormal``). Flushing changes no value above
    1e-38 and keeps reruns deterministic. Returns False where the CPU does not support it.
    """
    import torch

    return bool(torch.set_flush_denormal(True))


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Set (``None``: unset) the environment variables ``values`` for the block, then put back what was there."""
    before = {name: os.environ.get(name) for name in values}

    def put(settings: Mapping[str, str | None]) -> None:
        for name, value in settings.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    try:
        put(values)
        yield
    finally:
        put(before)


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it into place only on success.

    If the body raises, the temporary file is removed and ``target`` is untouched, so a
    crash never leaves a half-written result behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json_atomic(target: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``target`` atomically; return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")
    return Path(target)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def config_dict(config) -> dict:
    """A dataclass configuration as a plain dict (for JSON and config hashes); a field whose
    value has a ``to_json()`` method (e.g. a time window: ``[start, end]``) is written by it."""
    out = asdict(config)
    for f in fields(config):
        value = getattr(config, f.name)
        if hasattr(value, "to_json"):
            out[f.name] = value.to_json()
    return out


def config_hash(obj: Any, length: int = 10) -> str:
    """Short stable hash of a JSON-serialisable configuration (keys sorted).

    Cached results are stored under this hash, so a changed parameter never reuses a
    stale result and an unchanged one never retrains.
    """
    text = json.dumps(obj, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def clean_json(obj: Any) -> Any:
    """A copy of ``obj`` that ``json.dumps(..., allow_nan=False)`` accepts: NaN/±inf -> None,
    NumPy scalars and arrays -> Python numbers and lists, tuples -> lists."""
    if isinstance(obj, Mapping):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy scalar or array
        return clean_json(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj

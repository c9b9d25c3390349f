"""Content keys, checksummed cache files and setting stale files aside (dplrepro.cache)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from dplrepro import cache


@dataclass
class _Setting:
    name: str
    values: np.ndarray


def test_content_keys_hash_arrays_by_content_whatever_their_type():
    base = cache.content_key(x=np.arange(6.0).reshape(2, 3), setting=_Setting("a", np.ones(2)), ids=["01", "02"])
    assert base == cache.content_key(x=torch.arange(6.0, dtype=torch.float64).reshape(2, 3),
                                     setting=_Setting("a", np.ones(2)), ids=["01", "02"])
    changed = np.arange(6.0).reshape(2, 3)
    changed[1, 2] += 1e-12
    assert cache.content_key(x=changed, setting=_Setting("a", np.ones(2)), ids=["01", "02"]) != base
    assert cache.content_key(x=np.arange(6.0).reshape(3, 2), setting=_Setting("a", np.ones(2)), ids=["01", "02"]) != base
    assert cache.content_key(x=np.arange(6.0, dtype=np.float32).reshape(2, 3), setting=_Setting("a", np.ones(2)),
                             ids=["01", "02"]) != base
    assert cache.content_key(x=np.arange(6.0).reshape(2, 3), setting=_Setting("a", np.ones(2)),
                             ids=np.array(["01", "02"], dtype=object)) == cache.content_key(
        x=np.arange(6.0).reshape(2, 3), setting=_Setting("a", np.ones(2)), ids=np.array(["01", "02"], dtype=object))
    with pytest.raises(TypeError, match=r"parts\['f'\] is a function, which has no content hash"):
        cache.content_key(f=lambda: 1)


def test_checked_files_round_trip_and_a_damaged_one_is_named(tmp_path):
    path = tmp_path / "state.pt"
    cache.save_checked({"w": torch.arange(1000.0)}, path)
    assert torch.equal(cache.load_checked(path)["w"], torch.arange(1000.0))
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte
    path.write_bytes(bytes(blob))
    with pytest.raises(cache.CorruptCacheError, match=str(path)):
        cache.load_checked(path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(cache.CorruptCacheError, match="cannot be read back"):
        cache.load_checked(path)
    torch.save({"w": 1}, path)  # an unchecked (older) file
    with pytest.raises(cache.CorruptCacheError, match="not a checksummed dplrepro cache file"):
        cache.load_checked(path)


def test_a_stale_file_is_set_aside_not_overwritten(tmp_path, caplog, monkeypatch):
    path = tmp_path / "result.nc"
    path.write_text("old")
    assert cache.usable_cache(path, "k1", "k1") and path.exists()
    with caplog.at_level(logging.WARNING, logger="dplrepro.cache"):
        assert not cache.usable_cache(path, "k0", "k1")
    assert not path.exists() and "content key 'k0' is not this run's 'k1'" in caplog.text and str(path) in caplog.text
    (aside,) = tmp_path.glob("result.nc.stale-*")
    assert aside.read_text() == "old"
    path.write_text("newer")
    monkeypatch.setenv("DPLREPRO_FORCE", "1")
    assert not cache.usable_cache(path, "k1", "k1")
    assert sorted(p.read_text() for p in tmp_path.glob("result.nc.stale-*")) == ["newer", "old"]


def test_a_surrogate_cache_without_this_runs_key_is_set_aside(tmp_path):
    from dplrepro.experiments.surrogate import _cached_surrogate

    pt, report = tmp_path / "surrogate-k.pt", tmp_path / "surrogate-k.json"
    pt.write_bytes(b"weights")
    report.write_text(json.dumps({"rounds": [], "timing": {}}))  # as written before content keys
    assert _cached_surrogate(pt, report, "k") is None
    assert not pt.exists() and not report.exists() and len(list(tmp_path.glob("*.stale-*"))) == 2
    pt.write_bytes(b"damaged")
    report.write_text(json.dumps({"rounds": [], "timing": {}, "cache_key": "k"}))
    assert _cached_surrogate(pt, report, "k") is None and not pt.exists()

"""The dPL training benchmark, smoke-sized (real data when $DPLREPRO_DATA has them, else the twin)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks import bench_training


def test_forward_runs_to_target_and_epoch_times():
    losses, runs = [1.8, 1.3, float("nan"), 1.1, 0.9], [2.0, 4.0, 6.0, 8.0, 10.0]
    assert bench_training.forward_runs_to_target(losses, runs, 1.2) == (8.0, 4)
    assert bench_training.forward_runs_to_target(losses, runs, 0.5) == (None, None)
    assert bench_training.forward_runs_to_target(losses, runs, None) == (None, None)
    assert bench_training.epoch_times([1.0, 3.0, 6.0]) == [1.0, 2.0, 3.0]
    assert bench_training.typical_epoch_s([5.0, 2.0, 3.0]) == 2.5  # first epoch left out
    assert bench_training.typical_epoch_s([5.0]) == 5.0


def test_h100_target_is_only_judged_on_an_h100():
    row = {"profile": "full", "kind": "gA", "basins": 433, "est_epoch_s": 2.0, "iteration_s": 0.04,
           "batch_sites": 100, "train_days": 3653, "iterations_per_epoch_natural": 50, "days_per_sample": 730}
    (cpu,) = bench_training.h100_targets([row], None)
    assert cpu["met"] is None and cpu["value"] == pytest.approx(2.0 * 531 / 433)
    (h100,) = bench_training.h100_targets([row], "NVIDIA H100 80GB HBM3")
    assert h100["met"] is True
    (none,) = bench_training.h100_targets([dict(row, profile="quick")], "NVIDIA H100 80GB HBM3")
    assert none["value"] is None and none["met"] is None


@pytest.mark.slow
def test_smoke_run_writes_one_row_per_profile_and_kind(tmp_path):
    rec = bench_training.main(["--smoke", "--device", "cpu", "--out-dir", str(tmp_path)])
    files = list(tmp_path.glob("training--*.json"))
    assert len(files) == 1
    on_disk = json.loads(files[0].read_text())
    assert on_disk["benchmark"] == "training" and on_disk["rows"] == rec["rows"]
    rows = on_disk["rows"]
    assert sorted((r["profile"], r["kind"]) for r in rows) == [("quick (smoke)", "gA"), ("quick (smoke)", "gz")]
    for r in rows:
        assert "error" not in r, r
        assert r["epoch_s"] > 0 and r["iteration_s"] > 0 and r["data_load_s"] >= 0
        assert 0 < r["peak_rss_mb"] < 24000
        assert r["forward_runs_per_site"] > 0
        assert r["epochs"] == 1 and math.isfinite(r["final_loss"]) and math.isfinite(r["loss"][0])
        assert r["basins"] == 4 and r["days_per_sample"] == 120 and r["torch_threads"] >= 1
        assert r["cuda_max_allocated_mb"] is None
    assert on_disk["targets"][0]["met"] is None  # no full profile, no H100

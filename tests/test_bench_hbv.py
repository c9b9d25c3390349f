"""The HBV benchmark runs end to end on tiny sizes and records what the Performance page reads.

No timing is asserted (targets live in the benchmark's JSON); the test checks the record and
that the benchmark's models compute the same streamflow it times.
"""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import bench_hbv


@pytest.mark.slow
def test_smoke_run_writes_a_complete_record(tmp_path):
    rec = bench_hbv.main(["--smoke", "--peer", "none", "--out-dir", str(tmp_path)])
    files = list(tmp_path.glob("hbv--*.json"))
    assert len(files) == 1
    on_disk = json.loads(files[0].read_text())
    assert on_disk["benchmark"] == "hbv" and on_disk["rows"] == rec["rows"]
    assert {r["model"] for r in rec["rows"]} == {"dplrepro eager", "dplrepro fused"}
    assert sorted({r["basins"] for r in rec["rows"]}) == [4, 8]
    for r in rec["rows"]:
        assert r["best_s"] > 0 and r["basin_days_per_s"] == pytest.approx(r["basins"] * 60 / r["best_s"])
        assert r["speedup_vs_hydrodl2"] is None  # no peer measured, no ratio invented
    assert rec["targets"][0]["met"] is None
    assert on_disk["machine"]["cpu_count"] >= 1 and on_disk["machine"]["torch"] == torch.__version__


def test_inputs_follow_the_raw_parameter_layout():
    inputs = bench_hbv.make_inputs(3, 40, 2)
    raw = inputs["raw"]
    assert raw.shape == (3, 12 * 2 + 2)
    unit = torch.sigmoid(raw[:, :24]).reshape(3, 12, 2)
    assert torch.all(unit[:, bench_hbv.CORE.index("CWH")] == 0)  # CWH = 0: the processes both HBVs share
    assert torch.all((unit[:, :11] > 0.04) & (unit[:, :11] < 0.96))
    # the runner maps raw -> physical parameters and yields real runoff with gradients
    q = bench_hbv.ours_runner(inputs)()
    assert q.shape == (40, 3) and torch.isfinite(q).all() and float(q.sum()) > 0

"""The Performance page's reader (dplrepro.performance) and the page itself, on real benchmark records."""

from __future__ import annotations

import json

import pytest

from benchmarks import bench_hbv
from dplrepro.book import run_chapter
from dplrepro.performance import load_benchmarks, machine_label, missing_benchmarks, targets_table


def _record(name, met, gpu=None):
    return {"benchmark": name, "rows": [{"x": 1}], "settings": {}, "notes": [],
            "machine": {"cpu_model": "Test CPU", "cpu_count": 2, "torch_threads": 2, "memory_gb": 8.0,
                        "torch": "2.13.0", "gpu": gpu, "device": "cuda:0" if gpu else "cpu"},
            "targets": [{"target": f"{name} target", "value": 4.0, "threshold": 3.0, "met": met}]}


def test_reader_tabulates_targets_with_their_machine(tmp_path):
    (tmp_path / "hbv--cpu-2core.json").write_text(json.dumps(_record("hbv", True)))
    (tmp_path / "training--cuda-h100.json").write_text(json.dumps(_record("training", None, gpu="NVIDIA H100")))
    records = load_benchmarks(tmp_path)
    assert [r["file"] for r in records] == ["hbv--cpu-2core.json", "training--cuda-h100.json"]
    table = targets_table(records)
    assert list(table["verdict"]) == ["met", "not judged here"]
    assert table["machine"].iloc[1].startswith("NVIDIA H100; Test CPU, 2 cores")
    assert "8.0 GB RAM" in machine_label(records[0]["machine"])
    assert missing_benchmarks(records) == ["sceua", "book", "data_io"]
    assert load_benchmarks(tmp_path / "absent") == []


def test_reader_names_a_file_that_is_not_a_record(tmp_path):
    (tmp_path / "stray.json").write_text('{"rows": []}')
    with pytest.raises(ValueError, match="stray.json.*'benchmark', 'machine' and 'rows'"):
        load_benchmarks(tmp_path)
    (tmp_path / "stray.json").write_text("{not json")
    with pytest.raises(ValueError, match="stray.json is not valid JSON"):
        load_benchmarks(tmp_path)


@pytest.mark.slow
def test_page_renders_a_fresh_benchmark_record(tmp_path, monkeypatch):
    bench_dir = tmp_path / "bench"
    rec = bench_hbv.main(["--smoke", "--peer", "none", "--no-fused", "--out-dir", str(bench_dir)])
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    out = run_chapter("performance", "quick", {"benchmark_dir": str(bench_dir)}, build_dir=tmp_path / "build",
                      progress=False)
    text = out.read_text()
    assert '"output_type": "error"' not in text
    assert "Not measured on any machine yet" in text  # sceua, training, book have no record here
    speed = rec["rows"][0]["basin_days_per_s"]
    assert f"{speed:,.0f}" in text or f"{speed:,.3g}" in text  # the measured number reaches the page
    summary = json.loads((tmp_path / "results" / "performance" / "quick" / "summary.json").read_text())
    assert summary["records"] == [f"hbv--cpu-{rec['machine']['cpu_count']}core.json"]
    assert set(summary["missing"]) == {"sceua", "training", "book", "data_io"}


def test_data_source_of_a_record():
    from dplrepro.performance import record_data_source

    assert record_data_source({"settings": {"data_source": "real"}, "rows": []}) == "real"
    rows = [{"data_source": "real"}, {"data_source": "synthetic"}]
    assert record_data_source({"settings": {"data_source": "auto"}, "rows": rows}) == "mixed"
    assert record_data_source({"settings": {"data_source": "auto"}, "rows": rows[:1]}) == "real"
    assert record_data_source({"settings": {}, "rows": [{"x": 1}]}) == "synthetic"

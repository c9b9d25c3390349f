"""The run cache of the book runner and the note each executed chapter gets under its title."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from dplrepro import book
from dplrepro.book import chapter_reads, inputs_hash, run_chapter


@pytest.mark.slow
def test_unchanged_runs_are_reused_and_changes_rerun(tmp_path, isolated_data_dir, monkeypatch):
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    build = tmp_path / "build"
    out = run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build, progress=False)
    record_path = tmp_path / "results" / "data_tour" / "quick" / "run.json"
    record = json.loads(record_path.read_text())
    assert record["parameters"] == {"seed": 3, "profile": "quick"} and len(record["inputs_hash"]) == 16
    assert record["wall_time_s"] > 0

    # the executed notebook states, under its title, what it ran on and how long it took
    first = next(c for c in nbformat.read(str(out), as_version=4).cells if c.cell_type == "markdown")
    lines = first.source.split("\n")
    assert lines[0].startswith("# ") and "This page was executed" in first.source
    assert "SYNTHETIC twin data" in first.source and "profile `quick`, seed 3" in first.source
    assert " min** on " in first.source and "dplrepro run data_tour --profile quick" in first.source

    # same inputs: nothing is executed again
    stamp = out.stat().st_mtime_ns
    os.utime(out, ns=(stamp - 10**9, stamp - 10**9))
    before = out.stat().st_mtime_ns
    assert run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build, progress=False) == out
    assert out.stat().st_mtime_ns == before and json.loads(record_path.read_text()) == record

    # a changed parameter reruns, and so does force
    run_chapter("data_tour", "quick", {"seed": 4}, build_dir=build, progress=False)
    changed = json.loads(record_path.read_text())
    assert changed["inputs_hash"] != record["inputs_hash"]
    summary = json.loads((tmp_path / "results" / "data_tour" / "quick" / "summary.json").read_text())
    assert summary["run"]["seed"] == 4
    mtime = out.stat().st_mtime_ns
    run_chapter("data_tour", "quick", {"seed": 4}, build_dir=build, progress=False, force=True)
    assert out.stat().st_mtime_ns > mtime


def test_inputs_hash_follows_parameters_data_and_upstream_results(tmp_path, isolated_data_dir, monkeypatch):
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    base = inputs_hash("scaling_curves", "quick", {"seed": 0})
    assert inputs_hash("scaling_curves", "quick", {"seed": 0}) == base
    assert inputs_hash("scaling_curves", "quick", {"seed": 1}) != base
    (isolated_data_dir / "camels_us.nc").write_bytes(b"x")  # a data file appears
    with_data = inputs_hash("scaling_curves", "quick", {"seed": 0})
    assert with_data != base
    # a chapter it reads produces (new) results
    assert "soil_moisture" in chapter_reads("scaling_curves")
    upstream = tmp_path / "results" / "soil_moisture" / "quick"
    upstream.mkdir(parents=True)
    (upstream / "summary.json").write_text("{}")
    assert inputs_hash("scaling_curves", "quick", {"seed": 0}) != with_data
    # a chapter that does not read it is unaffected
    camels = inputs_hash("camels", "quick", {})
    (upstream / "summary.json").write_text('{"changed": 1}')
    assert inputs_hash("camels", "quick", {}) == camels


def test_pages_reading_all_chapters_depend_on_every_earlier_chapter():
    names = book.chapters()
    assert chapter_reads("results") == names[: names.index("results")]
    assert "camels" in chapter_reads("reproduce") and "results" not in chapter_reads("reproduce")
    assert chapter_reads("camels") == []


def test_cli_parameters_keep_basin_ids_as_strings():
    from dplrepro.cli import _parse_params

    got = _parse_params(["example_basin=01047000", "seed=7", "densities=4,2,1", "lr=0.5", "flag=true", "empty=", "x=0"])
    assert got == {"example_basin": "01047000", "seed": 7, "densities": "4,2,1", "lr": 0.5, "flag": True, "empty": "",
                   "x": 0}


def test_declared_project_files_enter_the_hash_by_content(tmp_path):
    from dplrepro.book import chapter_files

    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "perf.md").write_text(
        "---\ndplrepro:\n  files: [\"bench/*.json\"]\njupytext:\n  formats: md:myst\n---\n# Perf\n")
    (tmp_path / "bench").mkdir()
    assert chapter_files("perf", tmp_path) == {}
    (tmp_path / "bench" / "a.json").write_text('{"x": 1}')
    (tmp_path / "bench" / "notes.txt").write_text("not matched")
    first = chapter_files("perf", tmp_path)
    assert list(first) == ["bench/a.json"]
    (tmp_path / "bench" / "a.json").write_text('{"x": 2}')  # same size, new content
    assert chapter_files("perf", tmp_path)["bench/a.json"] != first["bench/a.json"]

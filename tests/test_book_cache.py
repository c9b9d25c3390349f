"""The run cache of the book runner and the note each executed chapter gets under its title."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from dplrepro import book
from dplrepro.book import chapter_reads, inputs_hash, run_chapter


@pytest.mark.slow
def test_unchanged_runs_are_reused_and_changes_rerun(tmp_path, isolated_data_dir, monkeypatch, capsys):
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    build = tmp_path / "build"
    out = run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build, progress=False)
    record_path = tmp_path / "results" / "data_tour" / "quick" / "run.json"
    record = json.loads(record_path.read_text())
    assert record["parameters"] == {"seed": 3, "profile": "quick"} and len(record["inputs_hash"]) == 16
    assert record["wall_time_s"] > 0

    # the terminal says the chapter fell back to the twin (before: only the notebook did)
    err = capsys.readouterr().err
    assert "dplrepro: chapter data_tour (profile quick) ran on the SYNTHETIC twin" in err and str(isolated_data_dir) in err

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


def test_inputs_hash_follows_the_torch_thread_setting(isolated_data_dir, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    default = inputs_hash("camels", "quick", {})
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert book.torch_threads_setting() == "1"
    assert inputs_hash("camels", "quick", {}) != default
    monkeypatch.setenv("OMP_NUM_THREADS", "not-a-number")
    assert book.torch_threads_setting() == "default" and inputs_hash("camels", "quick", {}) == default


def test_run_order_starts_the_longest_chain_of_chapters_first(tmp_path, monkeypatch):
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    names = book.chapters()
    prerequisites, priority = book.run_order(names, "quick")
    assert prerequisites["scaling_curves"] == ["surrogate", "soil_moisture", "global_pub"]
    assert prerequisites["soil_moisture"] == ["surrogate"] and prerequisites["camels"] == []
    # no recorded runs: every chapter counts 1 s, so the chain surrogate -> soil_moisture ->
    # scaling_curves -> reproduce -> results heads the order
    experiments = ["camels", "surrogate", "soil_moisture", "evapotranspiration", "global_pub"]
    assert max(experiments, key=priority.get) == "surrogate"
    assert priority["surrogate"] == 5 and priority["global_pub"] == 4 and priority["camels"] == 3
    assert priority["performance"] == 1
    # recorded wall times take over: a long camels run now starts first
    record = tmp_path / "results" / "camels" / "quick" / "run.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"wall_time_s": 3000.0}))
    _, priority = book.run_order(names, "quick")
    assert priority["camels"] == 3002 and max(experiments, key=priority.get) == "camels"


def test_run_order_refuses_chapters_that_read_each_other(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/a\nchapters:\n  - file: book/b\n")
    for name, other in (("a", "b"), ("b", "a")):
        (tmp_path / "book" / f"{name}.md").write_text(
            f"---\ndplrepro:\n  reads: [{other}]\njupytext:\n  formats: md:myst\n---\n# {name}\n")
    with pytest.raises(book.ChapterError, match="cycle: a -> b -> a"):
        book.run_order(["a", "b"], "quick", tmp_path)


@pytest.mark.slow
def test_the_book_runs_chapters_in_parallel_after_what_they_read(tmp_path, isolated_data_dir, monkeypatch, capsys):
    """Two at a time, one torch thread each on two cores; a failure stops only its readers."""
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    build, results = tmp_path / "build", tmp_path / "results"
    pages = ["data_tour", "reproduce", "results", "performance"]
    monkeypatch.setattr(book, "build_html", lambda profile, **kw: tmp_path / "html")  # HTML: tests/test_book.py
    params = {"seed": 3, "benchmark_dir": "benchmarks/no-records-in-this-test"}
    book.build_book("quick", chapters_to_run=pages, parameters=params, build_dir=build, jobs=2)
    threads = max(1, (os.cpu_count() or 1) // 2)
    for name in pages:
        summary = json.loads((results / name / "quick" / "summary.json").read_text())
        assert summary["run"]["torch_threads"] == threads, name
        assert json.loads((results / name / "quick" / "run.json").read_text())["torch_threads"] == str(threads)
    # reproduce ran after data_tour: it lists data_tour's recorded wall time
    rows = {r["chapter"]: r for r in json.loads((results / "reproduce" / "quick" / "summary.json").read_text())["chapters"]}
    assert rows["data_tour"]["quick: wall time (min)"] is not None
    assert f"({threads} torch thread" in rows["data_tour"]["quick: ran on"]
    shown = capsys.readouterr()
    assert "data_tour: ran in" in shown.out and "2 at a time" in shown.err

    # unchanged: every chapter is reused
    book.build_book("quick", chapters_to_run=pages, parameters=params, build_dir=build, jobs=2)
    assert capsys.readouterr().out.count("earlier run reused") == len(pages)

    # data_tour fails (real data asked for, none there): its readers are not run, performance is
    with pytest.raises(book.ChapterError) as failure:
        book.build_book("quick", chapters_to_run=pages, parameters={**params, "data_source": "real"},
                        build_dir=build, jobs=2)
    message = str(failure.value)
    assert "1 chapter(s) failed" in message and "- data_tour:" in message
    assert "not run, because they read a failed chapter: reproduce, results" in message
    performance = json.loads((results / "performance" / "quick" / "run.json").read_text())
    assert performance["parameters"]["data_source"] == "real"  # it ran with the new parameters


def test_the_book_command_takes_a_positive_number_of_jobs(capsys):
    from dplrepro.cli import build_parser

    assert build_parser().parse_args(["book", "--jobs", "3"]).jobs == 3
    assert build_parser().parse_args(["book"]).jobs is None  # default_jobs()
    for bad in ("0", "two"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["book", "--jobs", bad])
        assert f"expected a positive whole number of chapters, got '{bad}'" in capsys.readouterr().err
    with pytest.raises(book.ChapterError, match="jobs must be a positive number"):
        book.build_book("quick", chapters_to_run=["data_tour"], jobs=0)


def test_data_enter_the_hash_by_content_even_with_the_mtime_put_back(tmp_path, isolated_data_dir, monkeypatch):
    """Before: (name, size, whole-second mtime); an in-place edit with the mtime restored was served from cache."""
    from dplrepro import cache

    monkeypatch.setenv("DPLREPRO_CACHE", str(tmp_path / "cache"))
    data = isolated_data_dir / "camels_us.nc"
    data.write_bytes(b"a" * 4096)
    stamp = data.stat()
    before = inputs_hash("camels", "quick", {})
    memo = json.loads((tmp_path / "cache" / "file-digests.json").read_text())
    assert [entry["sha256"] for entry in memo.values()] == [cache.hashlib.sha256(b"a" * 4096).hexdigest()]
    assert inputs_hash("camels", "quick", {}) == before  # unchanged: from the memo
    with open(data, "r+b") as handle:  # one byte, same size, times put back to the nanosecond
        handle.write(b"b")
    os.utime(data, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert data.stat().st_mtime_ns == stamp.st_mtime_ns and data.stat().st_size == stamp.st_size
    assert inputs_hash("camels", "quick", {}) != before
    (tmp_path / "cache" / "file-digests.json").write_text("{broken")  # a damaged memo is recomputed
    edited = inputs_hash("camels", "quick", {})
    data.write_bytes(b"a" * 4096)
    assert inputs_hash("camels", "quick", {}) == before and edited != before


def test_a_second_run_of_a_running_chapter_is_refused_not_mixed(tmp_path, isolated_data_dir, monkeypatch):
    """Before: two runs of one chapter started together mixed their files (run.json of one,
    summary of the other)."""
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    build = tmp_path / "build"
    with book.run_lock("data_tour", "quick", build):
        with pytest.raises(book.ChapterError, match=r"chapter 'data_tour' \(profile quick\) is already running here "
                                                    rf"\(pid {os.getpid()} on .*; lock .*\.run\.lock\)"):
            run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build, progress=False)
        with book.run_lock("camels", "quick", build):  # another chapter is free to run
            pass
    with book.run_lock("data_tour", "quick", build):  # released when the first run ends
        pass


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_a_killed_run_leaves_the_last_finished_run_whole(tmp_path, isolated_data_dir, monkeypatch, caplog):
    """Before: a run killed after its figures but before its summary left a folder mixing new
    figures with the old summary. Now a run writes into its own folder, swapped in when it ends."""
    import signal
    import subprocess
    import sys
    import time

    results, build = tmp_path / "results", tmp_path / "build"
    monkeypatch.setenv("DPLREPRO_RESULTS", str(results))
    run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build, progress=False)
    final = results / "data_tour" / "quick"
    before = _files(final)
    assert {"summary.json", "run.json", "executed.ipynb"} <= set(before) and any(n.endswith(".png") for n in before)

    code = ("from pathlib import Path; from dplrepro.book import run_chapter; "
            f"run_chapter('data_tour', 'quick', {{'seed': 4}}, build_dir=Path({str(build)!r}), progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=dict(os.environ), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 240
        while not list((results / "data_tour").glob(".quick.run-*/*.png")):  # its first figure is written
            assert proc.poll() is None and time.time() < deadline, "the run ended before it wrote a figure"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and its kernel
        proc.wait()
    assert _files(final) == before  # the finished run is whole: its summary, figures, record, notebook
    assert list((results / "data_tour").glob(".quick.run-*"))  # the killed run's partial folder, beside it

    with caplog.at_level("WARNING", logger="dplrepro.book"):
        run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build, progress=False)  # reused, leftover cleared
    assert _files(final) == before and not list((results / "data_tour").glob(".quick.*-*"))
    assert "left by an interrupted or failed run" in caplog.text


def test_a_swap_stopped_half_way_is_put_back(tmp_path, monkeypatch):
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    parked = tmp_path / "results" / "camels" / ".quick.replaced-20261203T000000Z-1-abc"
    parked.mkdir(parents=True)
    (parked / "summary.json").write_text("{}")
    book._tidy_interrupted_runs(tmp_path / "results" / "camels" / "quick")
    assert (tmp_path / "results" / "camels" / "quick" / "summary.json").read_text() == "{}" and not parked.exists()


@pytest.mark.slow
def test_reuse_checks_the_summary_and_notebook_it_recorded(tmp_path, isolated_data_dir, monkeypatch):
    """Before: an edited summary.json was served as the cached run, and switching results folders
    served the executed notebook of the other folder's run."""
    build = tmp_path / "build"
    a, b = tmp_path / "a", tmp_path / "b"
    monkeypatch.setenv("DPLREPRO_RESULTS", str(a))
    out = run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build, progress=False)
    record = json.loads((a / "data_tour" / "quick" / "run.json").read_text())
    assert record["summary_sha256"] == book._sha256(a / "data_tour" / "quick" / "summary.json")
    assert record["notebook_sha256"] == book._sha256(out) == book._sha256(a / "data_tour" / "quick" / "executed.ipynb")

    monkeypatch.setenv("DPLREPRO_RESULTS", str(b))
    run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build, progress=False, force=True)
    assert book._sha256(out) != record["notebook_sha256"]  # b's run (its banner has another time) is in the build
    monkeypatch.setenv("DPLREPRO_RESULTS", str(a))
    path, reused = book._run_or_reuse("data_tour", "quick", {"seed": 3}, build_dir=build, project_root=book.PROJECT_ROOT,
                                      progress=False, force=False)
    assert reused and book._sha256(path) == record["notebook_sha256"]  # a's own notebook is put back

    summary = a / "data_tour" / "quick" / "summary.json"
    summary.write_text(summary.read_text().replace('"seed": 3', '"seed": 3 '))  # edited after its run
    _, reused = book._run_or_reuse("data_tour", "quick", {"seed": 3}, build_dir=build, project_root=book.PROJECT_ROOT,
                                   progress=False, force=False)
    assert not reused
    assert json.loads((a / "data_tour" / "quick" / "run.json").read_text())["run_id"] != record["run_id"]

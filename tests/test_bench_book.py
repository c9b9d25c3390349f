"""The book benchmark's pieces, on a fake build: never runs the real (15-minute) book."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest

from benchmarks import bench_book

# A parent holding ~60 MB that starts a child holding ~60 MB; both live ~2 s.
TREE = textwrap.dedent("""
    import subprocess, sys, time
    block = b"x" * (60 * 1024 * 1024)
    child = subprocess.Popen([sys.executable, "-c",
                              "import time; b = b'x' * (60 * 1024 * 1024); time.sleep(2)"])
    time.sleep(2)
    child.wait()
""")


def _fake_run(folder, chapter, wall, finished=None, data_source="real"):
    folder = folder / chapter / "quick"
    folder.mkdir(parents=True)
    stamp = finished or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (folder / "run.json").write_text(json.dumps({"chapter": chapter, "profile": "quick", "wall_time_s": wall,
                                                 "finished_utc": stamp}))
    (folder / "summary.json").write_text(json.dumps({"run": {"data_source": data_source}}))


@pytest.mark.parametrize("method", ["psutil", "proc"])
def test_tree_rss_counts_the_children(method):
    if method == "psutil":
        pytest.importorskip("psutil")
    measured = bench_book.run_monitored([sys.executable, "-c", TREE], interval=0.2, method=method)
    assert measured["returncode"] == 0 and measured["method"] == method
    assert measured["samples"] >= 3 and measured["wall_s"] > 1.5
    # both processes' blocks (plus two interpreters) are in the sum at some sample
    assert measured["peak_tree_rss_mb"] > 120


def test_tree_rss_of_one_process_and_of_a_finished_one():
    proc = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(5)"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"  # the interpreter is up (not mid-exec)
        via_proc = bench_book.tree_rss_mb(proc.pid, "proc")
        assert 1 < via_proc < 1000
        if bench_book.psutil is not None:
            assert bench_book.tree_rss_mb(proc.pid, "psutil") == pytest.approx(via_proc, rel=0.5)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert bench_book.tree_rss_mb(proc.pid, "proc") == 0.0  # gone: nothing to count
    with pytest.raises(ValueError, match="method"):
        bench_book.tree_rss_mb(proc.pid, "nope")


def test_chapter_rows_read_run_json(tmp_path):
    started = time.time()
    _fake_run(tmp_path, "data_tour", 10.3)
    _fake_run(tmp_path, "camels", 176.2, finished="2020-01-01T00:00:00Z", data_source="synthetic")
    (tmp_path / "broken" / "quick").mkdir(parents=True)
    (tmp_path / "broken" / "quick" / "run.json").write_text("{not json")
    rows = bench_book.chapter_rows(tmp_path, "quick", ["data_tour", "camels", "broken", "missing"], started)
    by = {r["chapter"]: r for r in rows}
    assert [r["chapter"] for r in rows] == ["data_tour", "camels", "broken", "missing"]
    assert by["data_tour"]["wall_s"] == 10.3 and by["data_tour"]["fresh"] is True
    assert by["data_tour"]["data_source"] == "real"
    assert by["camels"]["wall_s"] == 176.2 and by["camels"]["fresh"] is False
    assert by["camels"]["data_source"] == "synthetic"
    assert by["broken"]["wall_s"] is None and "error" in by["broken"]
    assert by["missing"]["wall_s"] is None and "error" in by["missing"]
    total = bench_book.total_row({"wall_s": 30.0, "peak_tree_rss_mb": 500.0, "returncode": 0}, rows, 400.0)
    assert total["chapters_wall_s"] == 10.3  # the cached (stale) chapter is not part of this build
    assert total["other_s"] == pytest.approx(19.7) and total["overlap_gain"] is None
    # two chapters at once: they overlap, so the rest is unknown and the gain is their sum over the wall time
    _fake_run(tmp_path / "two", "data_tour", 10.3)
    _fake_run(tmp_path / "two", "camels", 40.0)
    rows = bench_book.chapter_rows(tmp_path / "two", "quick", ["data_tour", "camels"], started)
    total = bench_book.total_row({"wall_s": 40.0, "peak_tree_rss_mb": 500.0, "returncode": 0}, rows, 400.0, jobs=2)
    assert total["other_s"] is None and total["overlap_gain"] == pytest.approx(50.3 / 40.0) and total["jobs"] == 2


def test_book_command_uses_this_environment():
    cmd = bench_book.book_command("quick", ["data_tour"], force=True)
    assert cmd[-7:] == ["--profile", "quick", "--only", "data_tour", "--force", "--jobs", "1"]
    assert bench_book.book_command("quick", None, jobs=2)[-2:] == ["--jobs", "2"]
    assert cmd[0].startswith(sys.prefix) or cmd[:3] == [sys.executable, "-m", "dplrepro"]
    assert "--force" not in bench_book.book_command("quick", None, force=False)


def test_main_on_a_fake_build(tmp_path, monkeypatch):
    """main() end to end with a stand-in command that 'runs' two chapters (writes their run.json)."""
    results = tmp_path / "results"
    monkeypatch.setenv("DPLREPRO_RESULTS", str(results))
    script = tmp_path / "fake_book.py"
    script.write_text(textwrap.dedent(f"""
        import json, pathlib, sys, time
        block = b"x" * (30 * 1024 * 1024)
        for name in sys.argv[1:]:
            d = pathlib.Path({str(results)!r}) / name / "quick"
            d.mkdir(parents=True, exist_ok=True)
            (d / "run.json").write_text(json.dumps({{"wall_time_s": 0.4,
                "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}))
            (d / "summary.json").write_text(json.dumps({{"run": {{"data_source": "synthetic"}}}}))
            time.sleep(0.4)
    """))
    seen = {}

    def fake_command(profile, only, force, jobs):
        seen.update(profile=profile, only=only, force=force, jobs=jobs)
        return [sys.executable, str(script), *only]

    rec = bench_book.main(["--only", "data_tour", "camels", "--out-dir", str(tmp_path / "out"), "--interval", "0.2",
                           "--jobs", "1"], command=fake_command)
    assert seen == {"profile": "quick", "only": ["data_tour", "camels"], "force": True, "jobs": 1}
    (path,) = (tmp_path / "out").glob("book--*.json")
    on_disk = json.loads(path.read_text())
    assert on_disk["rows"] == rec["rows"] and on_disk["targets"] == []
    rows = on_disk["rows"]
    assert [r["chapter"] for r in rows] == ["data_tour", "camels", "TOTAL (dplrepro book)"]
    assert all(r["wall_s"] == 0.4 and r["fresh"] is True and r["data_source"] == "synthetic" for r in rows[:2])
    total = rows[-1]
    assert total["returncode"] == 0 and total["wall_s"] > 0.8 and total["chapters_wall_s"] == pytest.approx(0.8)
    assert total["peak_tree_rss_mb"] > 30 and total["largest_process_rss_mb"] > 0
    assert any("make book" in n for n in on_disk["notes"])

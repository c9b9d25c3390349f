"""The book runner, the CLI and the chapters' contract (parameters cell, summary.json)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import pytest

from dplrepro import book, cli
from dplrepro.book import ChapterError, chapters, run_chapter, toc_pages
from dplrepro.chapters import STANDARD_PARAMETERS

ROOT = Path(__file__).resolve().parents[1]


def test_toc_lists_intro_first_and_every_page_exists():
    pages = toc_pages()
    assert pages[0] == "book/intro"
    assert "book/data_tour" in pages
    for page in pages:
        assert (ROOT / f"{page}.md").exists(), page
    # every chapter notebook under book/ is in the toc (nothing silently left out)
    notebooks = {p.stem for p in (ROOT / "book").glob("*.md") if book.is_notebook(p)}
    assert notebooks == set(chapters())


@pytest.mark.parametrize("name", chapters())
def test_every_chapter_has_the_standard_parameters(name):
    nb = jupytext.read(ROOT / "book" / f"{name}.md")
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: exactly one cell tagged 'parameters'"
    assigned = set(re.findall(r"^(\w+)\s*=", tagged[0].source, flags=re.M))
    assert set(STANDARD_PARAMETERS) <= assigned
    assert re.search(r'^profile\s*=\s*"quick"', tagged[0].source, flags=re.M), "default profile must be quick"


def test_unknown_chapter_is_a_clear_error(capsys):
    with pytest.raises(ChapterError, match="unknown chapter 'nope'.*data_tour"):
        run_chapter("nope")
    assert cli.main(["run", "nope"]) == 1
    assert "unknown chapter 'nope'" in capsys.readouterr().err


def test_bad_profile_and_data_source_rejected():
    with pytest.raises(ValueError, match="profile"):
        run_chapter("data_tour", profile="huge")
    with pytest.raises(ValueError, match="data_source"):
        run_chapter("data_tour", parameters={"data_source": "maybe"})


def test_cli_data_check_reports_present_and_missing(capsys, camels_us_path):
    assert cli.main(["data", "check"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"camels_us\s+ok ", out) and "datasets ok, " in out
    assert str(camels_us_path.parent) in out


def test_cli_data_check_with_empty_folder(capsys, isolated_data_dir):
    assert cli.main(["data", "check"]) == 0
    out = capsys.readouterr().out
    assert str(isolated_data_dir) in out
    assert "MISSING" in out and " ok " not in out and "0 of 6 datasets ok, 6 missing, 0 invalid" in out


@pytest.fixture(scope="module")
def twin_dirs(tmp_path_factory):
    """One build folder and results folder shared by the twin runs, so the whole book can be built."""
    root = tmp_path_factory.mktemp("twin_book")
    return root / "build", root / "results"


@pytest.mark.slow
def test_data_tour_runs_on_the_synthetic_twin(twin_dirs, isolated_data_dir, monkeypatch):
    """With no real data, the chapter falls back to the twin and says so."""
    build_dir, results = twin_dirs
    monkeypatch.setenv("DPLREPRO_RESULTS", str(results))
    out = run_chapter("data_tour", "quick", {"seed": 3}, build_dir=build_dir, progress=False)
    nb = json.loads(out.read_text())
    text = json.dumps(nb)
    assert "SYNTHETIC twin data (real data not found)" in text
    assert '"output_type": "error"' not in text
    summary = json.loads((results / "data_tour" / "quick" / "summary.json").read_text())
    assert summary["basin_source"] == "synthetic" and summary["grid_source"] == "synthetic"
    assert summary["run"]["data_source"] == "synthetic" and summary["run"]["seed"] == 3
    assert summary["n_basins"] == 30 and summary["n_cells"] > 50
    assert 0.05 < summary["median_runoff_ratio"] < 0.9
    for fig in ("camels_map.png", "example_basin.png", "budyko.png", "smap_map.png", "smap_cell.png"):
        assert (results / "data_tour" / "quick" / fig).stat().st_size > 5_000, fig


@pytest.mark.slow
def test_data_tour_on_real_data(tmp_path, monkeypatch, camels_us_path, smap_path):
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path / "results"))
    run_chapter("data_tour", "quick", {"data_source": "real", "n_stats_basins": 20}, build_dir=tmp_path / "build",
                progress=False)
    summary = json.loads((tmp_path / "results" / "data_tour" / "quick" / "summary.json").read_text())
    assert summary["n_basins"] == 494
    assert summary["n_basins_531"] == 433
    assert summary["n_cells"] == 412
    assert summary["basin_source"] == "real" and summary["grid_source"] == "real"
    # SMAP is present on ~42 % of days during its period (2015-04..2017-03), per the data README
    assert 0.30 < summary["smap_valid_fraction"] < 0.50
    wy = summary["example_water_year"]
    assert 300 < wy["precipitation_mm"] < 4000 and 0 < wy["streamflow_mm"] < wy["precipitation_mm"]
    assert 0.05 < summary["median_runoff_ratio"] < 0.9


TINY = {
    # one seed: these check the twin path runs; the seeds' evidence is tested by the chapter tests
    "camels": {"n_basins": 6, "epochs": 2, "sceua_maxn": 60, "n_seeds": 1},
    "surrogate": {"surrogate_rounds": 1, "surrogate_epochs": 3, "n_seeds": 1},
    "soil_moisture": {"epochs": 3, "sceua_maxn": 60, "surrogate_rounds": 1, "surrogate_epochs": 3, "n_seeds": 1},
    "evapotranspiration": {"epochs": 3, "sceua_maxn": 60, "n_seeds": 1},
    "global_pub": {"epochs": 2, "n_synthetic": 30, "k_folds": 2, "n_seeds": 1},
    # after soil_moisture and global_pub in the toc: reads their twin summaries, adds the missing points
    "scaling_curves": {"epochs": 3, "sceua_maxn": 60, "surrogate_rounds": 1, "surrogate_epochs": 3, "n_seeds": 1},
    "reproduce": {},
    "results": {},
    # shows stored benchmark records; here none (tests/test_performance.py renders real ones)
    "performance": {"benchmark_dir": "benchmarks/no-records-in-this-test"},
}
#: Pages that draw one figure rather than several.
ONE_FIGURE = {"reproduce", "results"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [c for c in chapters() if c != "data_tour"])
def test_every_chapter_runs_on_the_twin_when_real_data_are_absent(name, twin_dirs, isolated_data_dir, monkeypatch):
    """What `make book` does on a fresh machine: no real data, the chapters fall back and say so."""
    assert name in TINY, f"add a CI-sized parameter set for chapter {name!r}"
    build_dir, results = twin_dirs
    monkeypatch.setenv("DPLREPRO_RESULTS", str(results))
    out = run_chapter(name, "quick", TINY[name], build_dir=build_dir, progress=False)
    text = out.read_text()
    assert "SYNTHETIC twin data (real data not found)" in text
    assert '"output_type": "error"' not in text
    summary = json.loads((results / name / "quick" / "summary.json").read_text())
    assert summary["run"]["data_source"] == "synthetic"


@pytest.mark.slow
def test_the_book_builds_from_the_executed_chapters(twin_dirs):
    build_dir, _ = twin_dirs
    if not all(book.executed_path(c, "quick", build_dir).exists() for c in chapters()):
        pytest.fail("the twin chapter runs above did not all produce executed notebooks")
    html = book.build_html("quick", build_dir=build_dir)
    assert "From calibration to parameter learning" in (html / "book" / "intro.html").read_text()
    for name in chapters():
        page = (html / "book" / f"{name}.html").read_text()
        assert "SYNTHETIC twin data" in page, name
        assert len(re.findall(r"<img[^>]+src=\"[^\"]+\.png\"", page)) >= (1 if name in ONE_FIGURE else 2), name
        assert "Traceback" not in page, name


@pytest.mark.slow
def test_the_built_book_works_in_a_real_browser(twin_dirs):
    """Headless Chromium opens every page of the twin-built book: pages load, figures have
    pixels, no error output cells, sidebar and prev/next links resolve."""
    import os

    import browser_check

    build_dir, _ = twin_dirs
    html = build_dir / "site" / "quick" / "_build" / "html"
    if not (html / "index.html").exists():
        pytest.fail("the HTML book was not built by the test above")
    if browser_check.missing():
        msg = "browser check needs " + ", ".join(browser_check.missing())
        if os.environ.get("DPLREPRO_REQUIRE_REAL_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    problems = browser_check.check_book(html, ["index", *toc_pages()])
    assert problems == [], "\n".join(problems)

"""The chapter API: papermill parameters -> (run record, validated configuration)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

from dplrepro import chapters as ch
from dplrepro.book import chapters as book_chapters
from dplrepro.book import parameters_for
from dplrepro.data.splits import TimeWindow
from dplrepro.experiments import pub, soil_moisture, streamflow, surrogate

ROOT = Path(__file__).resolve().parents[1]


def parameters_cell(name: str) -> dict:
    """The variables a chapter's ``parameters`` cell defines, with their values."""
    nb = jupytext.read(ROOT / "book" / f"{name}.md")
    cell = next(c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", []))
    values: dict = {}
    exec(cell.source, {}, values)
    return values


def test_every_chapter_has_a_spec_and_its_parameters_cell_matches_it():
    assert sorted(book_chapters()) == sorted(ch.CHAPTERS)
    for name, spec in ch.CHAPTERS.items():
        cell = parameters_cell(name)
        assert list(cell) == [s.name for s in spec.all_settings()], name
        assert cell == {s.name: s.default for s in spec.all_settings()}, name
        # the defaults pass their own checks and give the profile's configuration
        values = ch.validate_parameters(name, cell)
        assert values == cell


def test_defaults_give_each_profile_unchanged():
    for profile in ("quick", "full"):
        assert ch.configure("camels", ch.validate_parameters("camels", {"profile": profile})) == \
            streamflow.PROFILES[profile]
        assert ch.configure("global_pub", ch.validate_parameters("global_pub", {"profile": profile})) == \
            pub.PROFILES[profile]
        assert ch.configure("soil_moisture", ch.validate_parameters("soil_moisture", {"profile": profile})) == \
            soil_moisture.PROFILES[profile]
        assert ch.configure("surrogate", ch.validate_parameters("surrogate", {"profile": profile})) == \
            surrogate.PROFILES[profile]


def test_settings_change_the_configuration_they_name():
    cfg = ch.configure("camels", ch.validate_parameters("camels", {
        "seed": 3, "n_basins": 12, "epochs": 4, "sceua_maxn": 200, "train_period": "2001-10-01/2002-09-30"}))
    assert (cfg.seed, cfg.n_basins, cfg.training.epochs, cfg.sceua_maxn) == (3, 12, 4, 200)
    assert cfg.train_period == TimeWindow("2001-10-01", "2002-09-30") and cfg.test_period == streamflow.PROFILES["quick"].test_period
    assert ch.configure("camels", ch.validate_parameters("camels", {"n_basins": "all"})).n_basins is None
    cfg = ch.configure("global_pub", ch.validate_parameters("global_pub", {"epochs": 2, "fractions": "1,0.5"}))
    assert (cfg.training.epochs, cfg.ltf_training.epochs, cfg.fractions) == (2, 2, (1.0, 0.5))
    cfg = ch.configure("soil_moisture", ch.validate_parameters("soil_moisture", {
        "seed": 3, "epochs": 5, "sceua_maxn": 70, "densities": "4", "train_years": [1, 2]}))
    assert (cfg.seed, cfg.training.epochs, cfg.sceua_maxn, cfg.densities, cfg.train_years) == (3, 5, 70, (4,), (1, 2))
    assert cfg.comparison_density == 4  # the profile's 2 is not run: the last density instead
    exp = ch.configure("surrogate", ch.validate_parameters("surrogate", {
        "seed": 2, "surrogate_rounds": 0, "surrogate_epochs": 7}))
    assert (exp.build.seed, exp.build.rounds, exp.build.training.epochs) == (2, 0, 7)
    et = ch.configure("evapotranspiration", ch.validate_parameters("evapotranspiration", {"density": 4}))
    assert et.comparison_density == 4
    tour = ch.configure("data_tour", ch.validate_parameters("data_tour", {"profile": "full", "example_year": 2010}))
    assert tour == ch.DataTourConfig(n_stats_basins=None, example_year=2010)
    results = ch.configure("results", ch.validate_parameters("results", {"seed": 4}))
    assert (results.seed, results.profile) == (4, "quick")


@pytest.mark.parametrize("chapter, given, words", [
    ("camels", {"nbasins": 3}, ["no parameter 'nbasins'", "n_basins", "epochs"]),
    ("camels", {"n_basins": 0}, ["'n_basins'", "got 0", ">= 1", '"all"']),
    ("camels", {"n_basins": -1}, ["'n_basins'", "got -1"]),
    ("camels", {"epochs": 2.5}, ["'epochs'", "2.5", "not an integer"]),
    ("camels", {"epochs": "10"}, ["'epochs'", "'10'", "an integer"]),
    ("camels", {"epochs": True}, ["'epochs'", "True"]),
    ("camels", {"profile": "huge"}, ["'profile'", "'huge'", "'quick'", "'full'"]),
    ("camels", {"device": "gpu"}, ["'device'", "'gpu'", "cuda"]),
    ("camels", {"data_source": "twin"}, ["'data_source'", "'twin'", "'synthetic'"]),
    ("camels", {"seed": -2}, ["'seed'", "-2", ">= 0"]),
    ("camels", {"train_period": "2001-10-01"}, ["'train_period'", "YYYY-MM-DD/YYYY-MM-DD"]),
    ("camels", {"test_period": "2004-01-01/2001-01-01"}, ["'test_period'", "start is not before the end"]),
    ("soil_moisture", {"train_years": "1,3"}, ["'train_years'", "<= 2"]),
    ("soil_moisture", {"densities": "4,x"}, ["'densities'", "'4,x'"]),
    ("global_pub", {"fractions": [1.0, 1.5]}, ["'fractions'", "<= 1"]),
    ("global_pub", {"k_folds": 1}, ["'k_folds'", ">= 2"]),
    ("scaling_curves", {"pub_parameters": "[1, 2]"}, ["'pub_parameters'", "JSON object"]),
    ("surrogate", {"rounds": 2}, ["no parameter 'rounds'", "surrogate_rounds"]),
    ("nochapter", {}, ["unknown chapter 'nochapter'", "camels"]),
])
def test_bad_parameters_are_refused_naming_parameter_value_and_what_is_allowed(chapter, given, words):
    with pytest.raises(ch.ParameterError) as err:
        ch.validate_parameters(chapter, given)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_start_chapter_reads_the_notebook_namespace():
    import types

    namespace = {"profile": "quick", "device": "cpu", "seed": 1, "data_source": "synthetic", "n_basins": 5,
                 "epochs": None, "sceua_maxn": None, "train_period": None, "test_period": None,
                 "In": [], "_": None, "start_chapter": ch.start_chapter, "np": types, "get_ipython": print}
    run, cfg = ch.start_chapter("camels", namespace)
    assert (run.chapter, run.seed, run.data_source, run.parameters["n_basins"]) == ("camels", 1, "synthetic", 5)
    assert (cfg.n_basins, cfg.seed) == (5, 1)
    with pytest.raises(ch.ParameterError, match="no parameter 'nbasins'"):
        ch.start_chapter("camels", {**namespace, "nbasins": 3})  # what papermill injects for -p nbasins=3


def test_book_parameters_go_to_the_chapters_that_declare_them():
    names = ["data_tour", "camels", "global_pub"]
    assert parameters_for("data_tour", {"seed": 1, "epochs": 2}, names) == {"seed": 1}
    assert parameters_for("camels", {"seed": 1, "epochs": 2}, names) == {"seed": 1, "epochs": 2}
    with pytest.raises(ch.ParameterError, match="no parameter 'epoch'"):
        parameters_for("camels", {"epoch": 2}, names)


def test_cli_refuses_a_misspelt_key_before_any_kernel_starts(tmp_path):
    """``dplrepro run camels -p nbasins=3``: exit 2, the message names ``nbasins``, nothing executed."""
    env = {"DPLREPRO_RESULTS": str(tmp_path / "results"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "dplrepro.cli", "run", "camels", "-p", "nbasins=3"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "no parameter 'nbasins'" in proc.stderr and "n_basins" in proc.stderr
    assert not (tmp_path / "results").exists()
    assert not (ROOT / "_build" / "executed" / "quick" / ".camels.input.ipynb").exists()

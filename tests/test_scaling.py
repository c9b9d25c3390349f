"""Unit tests of dplrepro.experiments.scaling (the scaling-curves chapter's computations)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dplrepro import book, chapters
from dplrepro.experiments import scaling
from dplrepro.experiments import soil_moisture as sm
from dplrepro.experiments.grid import grid_forcing
from dplrepro.experiments.scaling import DPL, RUNS, SCEUA
from dplrepro.results import SummaryError, read_summary, summary_path
from summaries import complete_summary


def rec(method, n, years, cells, rmse, runs, wall=1.0, seed=0):
    return {"setting": sm.setting_label(n, years), "density_n": n, "train_years": years, "method": method,
            "seed": seed, "train_cells": cells, "final_train_rmse": rmse, RUNS: runs, "wall_time_s": wall}


def sm_summary(training, densities=(4, 2), years=(1,), source="real", seed=0, **extra):
    return complete_summary("soil_moisture", {
        "densities": list(densities), "train_years": list(years), "training": training, "seeds": [0],
        "run": {"chapter": "soil_moisture", "data_source": source, "seed": seed}, **extra})


def write(results, chapter, summary, text=None):
    path = results / chapter / "quick" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text is not None else json.dumps(summary))
    return path


@pytest.fixture
def results(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    monkeypatch.setenv("DPLREPRO_RESULTS", str(folder))
    return folder


QUICK_TRAINING = [  # what the quick soil-moisture profile writes: SCE-UA at the comparison density only
    rec(DPL, 4, 1, 41, 0.0457, 44.0), rec(DPL, 2, 1, 126, 0.0459, 30.0),
    rec("dPL gz (surrogate)", 2, 1, 126, 0.0442, 38.0), rec("dPL gA (VIC-style direct)", 2, 1, 126, 0.0531, None),
    rec(SCEUA, 2, 1, 126, 0.0333, 42.0),
]


# ---------------------------------------------------------------- reading summaries, missing points
def test_reads_the_soil_moisture_summary_and_finds_exactly_the_missing_points(results):
    assert read_summary("soil_moisture", "quick") is None  # nothing written yet
    write(results, "soil_moisture", sm_summary(QUICK_TRAINING))
    summary = read_summary("soil_moisture", "quick")
    assert summary["training"][0]["final_train_rmse"] == 0.0457
    assert summary_path("soil_moisture", "quick") == results / "soil_moisture" / "quick" / "summary.json"
    assert scaling.missing_points(summary) == [
        {"method": SCEUA, "density_n": 4, "train_years": 1},   # SCE-UA at the other density
        {"method": DPL, "density_n": 4, "train_years": 2},     # 2 years at the sparsest density
    ]


def test_missing_points_with_three_densities_and_two_years():
    training = [rec(DPL, n, y, c, 0.045, 20.0) for n, c in ((4, 41), (2, 126), (1, 412)) for y in (1, 2)]
    training.append(rec(SCEUA, 2, 1, 126, 0.033, 40.0))
    summary = sm_summary(training, densities=(4, 2, 1), years=(1, 2))
    assert scaling.missing_points(summary) == [{"method": SCEUA, "density_n": 4, "train_years": 1},
                                               {"method": SCEUA, "density_n": 1, "train_years": 1}]
    complete = summary | {"training": training + [rec(SCEUA, n, 1, c, 0.03, 40.0) for n, c in ((4, 41), (1, 412))]}
    assert scaling.missing_points(complete) == []


def test_stale_reason_data_source_and_seed():
    s = sm_summary([])
    assert book.stale_reason(s, "real", 0) is None
    assert "synthetic" in book.stale_reason(s, "synthetic", 0)
    assert "seed 0" in book.stale_reason(s, "real", 1)
    assert book.stale_reason(None, "real", 0) == "no summary.json"
    assert book.stale_reason({"training": []}, "real", 0) == "summary.json has no run record"


def test_ensure_chapter_runs_a_stale_chapter_and_not_a_current_one(results, monkeypatch, tmp_path):
    calls = []

    def fake_run_chapter(name, profile, parameters, *, build_dir, progress):
        calls.append((name, profile, dict(parameters), build_dir, progress))
        write(results, name, sm_summary(QUICK_TRAINING, source="synthetic", seed=parameters["seed"]))

    monkeypatch.setattr(book, "run_chapter", fake_run_chapter)
    write(results, "soil_moisture", sm_summary(QUICK_TRAINING, source="real"))
    got = book.ensure_chapter("soil_moisture", "quick", "real", 0, {"epochs": 3}, build_dir=tmp_path / "b")
    assert not got.ran_here and got.reason is None and calls == []
    # made on real data, this run resolves to the twin: the chapter is run again
    got = book.ensure_chapter("soil_moisture", "quick", "synthetic", 0, {"epochs": 3}, build_dir=tmp_path / "b")
    assert got.ran_here and "'real'" in got.reason
    assert calls == [("soil_moisture", "quick", {"epochs": 3, "seed": 0}, tmp_path / "b", False)]
    assert got.summary["run"]["data_source"] == "synthetic"
    assert got.describe()["ran_here"] is True


def test_ensure_chapter_errors_when_the_chapter_writes_nothing(results, monkeypatch):
    monkeypatch.setattr(book, "run_chapter", lambda *a, **k: None)
    with pytest.raises(SummaryError, match=r"global_pub.*ran but wrote no summary.json"):
        book.ensure_chapter("global_pub", "quick", "real", 0, {})


# ---------------------------------------------------------------- malformed summaries
def test_invalid_json_is_an_error_naming_the_file(results):
    path = write(results, "soil_moisture", None, text='{"training": [')
    with pytest.raises(SummaryError, match=str(path)):
        read_summary("soil_moisture", "quick")


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.pop("training"), "lacks 'training'"),
    (lambda s: s.update(training={}), "'training' must be a list of records"),
    (lambda s: s["training"][0].pop("train_cells"), r"'training'\[0\] lacks \['train_cells'\]"),
    (lambda s: s["training"][1].update(final_train_rmse="low"), r"'training'\[1\]\['final_train_rmse'\]"),
    (lambda s: s.update(densities=[]), "'densities' must be a non-empty list"),
    (lambda s: s["training"][2].update(density_n=2.5), r"'training'\[2\]\['density_n'\] must be an integer"),
])
def test_malformed_soil_moisture_summary_names_the_file(results, mutate, message):
    summary = sm_summary([dict(r) for r in QUICK_TRAINING])
    mutate(summary)
    path = write(results, "soil_moisture", summary)
    with pytest.raises(SummaryError, match=message) as err:
        book.ensure_chapter("soil_moisture", "quick", "real", 0, {})
    assert str(path) in str(err.value)


def pub_summary(**over):
    curve = [{"method": m, "fraction": f, "median_kge": k, "n_train_basins": int(400 * f)}
             for m, ks in (("dpl8", (0.60, 0.57, 0.52, 0.48)), ("ltf8", (0.50, 0.49, 0.46, 0.40)))
             for f, k in zip((1.0, 0.5, 0.25, 0.125), ks)]
    return complete_summary("global_pub", {"fraction_curve": curve, "median_kge_ltf8": 0.50,
                                           "fraction_to_match_ltf": 0.25, "run": {"data_source": "real", "seed": 0}}
                            | over)


@pytest.mark.parametrize("over, message", [
    ({"fraction_curve": []}, "'fraction_curve' must be a non-empty list"),
    ({"median_kge_ltf8": "0.5"}, "'median_kge_ltf8' must be a number or null"),
    ({"fraction_curve": [{"method": "lstm", "fraction": 1.0, "median_kge": 0.5, "n_train_basins": 3}]},
     r"'fraction_curve'\[0\]\['method'\] must be one of \('ltf8', 'dpl8'\)"),
    ({"fraction_curve": [{"method": "dpl8", "fraction": 2.0, "median_kge": 0.5, "n_train_basins": 3}]},
     r"'fraction_curve'\[0\]\['fraction'\] must be in \(0, 1\], found 2.0"),
])
def test_malformed_pub_summary_names_the_file(results, over, message):
    path = write(results, "global_pub", pub_summary(**over))
    with pytest.raises(SummaryError, match=message) as err:
        book.ensure_chapter("global_pub", "quick", "real", 0, {})
    assert str(path) in str(err.value)
    summary = pub_summary()
    del summary["fraction_to_match_ltf"]
    write(results, "global_pub", summary)
    with pytest.raises(SummaryError, match="global_pub.*lacks 'fraction_to_match_ltf'"):
        book.ensure_chapter("global_pub", "quick", "real", 0, {})


# ---------------------------------------------------------------- curves and derived numbers
def paper_like_records():
    sm_part = [rec(DPL, 4, 1, 41, 0.047, 900.0), rec(DPL, 1, 1, 412, 0.044, 50.0), rec(SCEUA, 2, 1, 126, 0.035, 610.0)]
    here = [dict(rec(DPL, 2, 1, 126, 0.045, 300.0)), rec(SCEUA, 4, 1, 41, 0.036, 600.0),
            rec(SCEUA, 1, 1, 412, 0.034, 590.0), rec(DPL, 4, 2, 41, 0.046, 700.0)]
    return scaling.combine_records(sm_summary(sm_part, densities=(4, 2, 1)), here)


def test_curves_and_ratios_from_hand_made_records():
    records = paper_like_records()
    density = {m: scaling.density_curve(records, m) for m in (DPL, SCEUA)}
    assert [p["train_cells"] for p in density[DPL]] == [41, 126, 412]
    assert [p["source"] for p in density[DPL]] == ["soil_moisture", "scaling_curves", "soil_moisture"]
    assert [p["source"] for p in density[SCEUA]] == ["scaling_curves", "soil_moisture", "scaling_curves"]
    assert set(density[DPL][0]) == set(scaling.CURVE_KEYS + scaling.ARRAY_KEYS)
    assert scaling.cost_ratio(density[DPL]) == pytest.approx(50 / 900)
    assert scaling.cost_ratio(density[SCEUA]) == pytest.approx(590 / 600)
    length = scaling.length_curve(records)
    assert [(p["density_n"], p["train_years"]) for p in length] == [(4, 1), (4, 2)]
    d = scaling.derived_numbers(density, length, pub_summary(), sceua_first=scaling.sceua_first_record(2, 10))
    assert d["sceua_first_record_runs"] == 42 and d["sceua_at_first_record"] is False
    assert d["dpl_runs_ratio_dense_to_sparse"] == pytest.approx(0.0556, abs=1e-4)
    assert d["dpl_rmse_change_dense_minus_sparse"] == pytest.approx(-0.003)
    assert d["dpl_cost_trend"] == "shrinks" and d["sceua_cost_trend"] == "flat"
    assert d["dpl_runs_ratio_2yr_to_1yr"] == pytest.approx(700 / 900)
    assert d["dpl_length_cost_trend"] == "shrinks"
    assert d["pub_fraction_to_match_ltf"] == 0.25 and d["pub_median_kge_dpl8_all"] == 0.60
    assert d["paper_dpl_runs_ratio_s4_to_s16"] == pytest.approx(0.0556, abs=1e-4)
    text = scaling.reading(d, density)
    assert "SCE-UA, 41 → 412 training cells: final training RMSE changes by -0.0020 m³/m³" in text
    assert "factor 0.98: its per-cell cost does **not** shrink" in text
    assert "dPL gA, 41 → 412 training cells: final training RMSE changes by -0.0030 m³/m³" in text
    assert "factor 0.06 (paper 0.056): its cost per cell shrinks with more cells, in the direction" in text
    assert "25.0% of the training basins" in text


def test_sceua_at_its_first_record_is_called_a_floor_not_a_trend():
    records = [rec(SCEUA, 4, 1, 41, 0.036, 42.0), rec(SCEUA, 2, 1, 126, 0.033, 42.0)]
    density = {SCEUA: scaling.density_curve(records, SCEUA), DPL: []}
    d = scaling.derived_numbers(density, [], None, sceua_first=42)
    assert d["sceua_runs_ratio_dense_to_sparse"] == 1.0 and d["sceua_at_first_record"] is True
    assert "within the initial random population (42 runs per cell" in scaling.reading(d, density)
    d = scaling.derived_numbers(density, [], None)  # without the population size: read as a ratio
    assert "factor 1.00: its per-cell cost does **not** shrink" in scaling.reading(d, density)


def test_dpl_cost_that_grows_is_reported_as_such():
    records = [rec(DPL, 4, 1, 41, 0.045, 20.0), rec(DPL, 2, 1, 126, 0.046, 40.0)]
    density = {DPL: scaling.density_curve(records, DPL), SCEUA: []}
    d = scaling.derived_numbers(density, [], None)
    assert d["dpl_runs_ratio_dense_to_sparse"] == 2.0 and d["dpl_cost_trend"] == "grows"
    assert d["sceua_cost_trend"] is None and d["dpl_runs_ratio_2yr_to_1yr"] is None and "pub_median_kge_ltf8" not in d
    text = scaling.reading(d, density)
    assert "**grows** here, the opposite of the paper" in text and "SCE-UA: fewer than two densities" in text
    assert "Training length" not in text and "PUB" not in text


def test_fraction_curve_is_copied_in_order():
    curve = scaling.fraction_curve(pub_summary())
    assert [(r["method"], r["fraction"]) for r in curve[:4]] == [("dpl8", 0.125), ("dpl8", 0.25), ("dpl8", 0.5),
                                                                 ("dpl8", 1.0)]
    assert curve[0]["median_kge"] == 0.48 and curve[0]["n_train_basins"] == 50 and curve[0]["source"] == "global_pub"


# ---------------------------------------------------------------- NaN / None
def test_nan_and_none_never_reach_json_and_give_no_ratio():
    sm_part = [rec(DPL, 4, 1, 41, 0.06, None), rec(DPL, 2, 1, 126, float("nan"), float("nan"))]
    records = scaling.combine_records(sm_summary(sm_part), [rec(SCEUA, 4, 1, 41, 0.05, np.float64("inf"))])
    assert [r[RUNS] for r in records] == [None, None, None]
    assert records[1]["final_train_rmse"] is None
    curve = scaling.density_curve(records, DPL)
    assert scaling.cost_ratio(curve) is None
    assert scaling.cost_ratio([rec(DPL, 4, 1, 41, 0.05, 0.0), rec(DPL, 2, 1, 126, 0.05, 10.0)]) is None  # 0 below
    assert scaling.cost_ratio(curve[:1]) is None
    d = scaling.derived_numbers({DPL: curve}, [], {"median_kge_ltf8": float("nan"), "fraction_to_match_ltf": None,
                                                   "fraction_curve": []})
    assert d["dpl_runs_ratio_dense_to_sparse"] is None and d["dpl_rmse_change_dense_minus_sparse"] is None
    assert d["pub_median_kge_ltf8"] is None and d["pub_fraction_to_match_ltf"] is None
    cleaned = scaling.clean_json({"a": [np.float32(0.5), float("nan"), (1, float("-inf"))], "b": np.arange(2),
                                  "c": {"d": np.int64(3), "e": "x", "f": True}})
    assert cleaned == {"a": [0.5, None, [1, None]], "b": [0, 1], "c": {"d": 3, "e": "x", "f": True}}
    json.dumps(cleaned, allow_nan=False)
    json.dumps(d, allow_nan=False)
    text = scaling.reading(d, {DPL: curve})
    assert "cannot be compared (the threshold was not reached at both ends)" in text
    assert "does not match it at any fraction" in text


def test_scaling_figure_skips_missing_points(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from dplrepro.plots import save_figure, scaling_figure

    curves = {DPL: [rec(DPL, 4, 1, 41, 0.047, 900.0), rec(DPL, 1, 1, 412, 0.044, None)]}
    fig = scaling_figure(curves, "train_cells", [("final_train_rmse", "RMSE"), (RUNS, "runs")], xlabel="cells",
                         logy=(RUNS,), reference={"final_train_rmse": (0.05, "threshold")}, missing_note="not reached")
    labels = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert labels == [f"{DPL} (1 not reached)"]
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_yscale() == "log"
    assert len(fig.axes[0].lines) == 2  # the curve and the threshold
    assert save_figure(fig, tmp_path / "f.png").stat().st_size > 5_000
    # a log panel where no point has a value (e.g. no SCE-UA run reached 0.05): drawn linear, said so
    none = {SCEUA: [rec(SCEUA, 4, 1, 41, 0.06, None), rec(SCEUA, 2, 1, 126, 0.055, float("nan"))]}
    fig = scaling_figure(none, "train_cells", [(RUNS, "runs")], xlabel="cells", logy=(RUNS,))
    assert fig.axes[0].get_yscale() == "linear"
    assert [t.get_text() for t in fig.axes[0].texts] == ["every point: no value"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [f"{SCEUA} (2 no value)"]
    assert save_figure(fig, tmp_path / "g.png").stat().st_size > 5_000


# ---------------------------------------------------------------- settings shared with the soil-moisture chapter
def chapter_config(**parameters):
    return chapters.configure("scaling_curves", chapters.validate_parameters("scaling_curves", parameters))


def test_training_settings_prefer_what_the_soil_moisture_run_recorded():
    own = chapter_config()
    fallback = {"epochs": own.training.epochs, "sceua_maxn": own.sceua_maxn, "surrogate_rounds": None,
                "surrogate_epochs": None, "n_seeds": own.n_seeds}
    recorded = {"epochs": 3, "sceua_maxn": 60, "surrogate_rounds": 1, "surrogate_epochs": 3, "n_seeds": 2,
                "hidden_size": 64}
    assert scaling.training_settings(sm_summary([], settings=recorded), own) == (
        {"epochs": 3, "sceua_maxn": 60, "surrogate_rounds": 1, "surrogate_epochs": 3, "n_seeds": 2}, "soil_moisture")
    assert scaling.training_settings(sm_summary([], settings={}), own) == (fallback, "scaling_curves")
    cfg = scaling.with_training_settings(own, {"epochs": 3, "sceua_maxn": 60, "surrogate_rounds": 1,
                                               "surrogate_epochs": 3, "n_seeds": 2})
    assert (cfg.training.epochs, cfg.sceua_maxn, cfg.surrogate_rounds, cfg.surrogate_epochs, cfg.seeds) == (
        3, 60, 1, 3, [0, 1])


def test_chapter_config_from_notebook_parameters():
    cfg = chapter_config(seed=3, epochs=5, sceua_maxn=70, densities="4", train_years="1,2")
    assert (cfg.seed, cfg.training.epochs, cfg.sceua_maxn, cfg.densities, cfg.train_years) == (3, 5, 70, (4,), (1, 2))
    assert cfg.comparison_density == 4  # the profile's 2 is not run: the last density instead
    default = chapter_config()
    assert default == sm.PROFILES["quick"]
    assert sm.setting_label(4, 2) == "s16, 2 yr" and sm.setting_label(8, 1) == "n8, 1 yr"


def test_compute_points_is_the_soil_moisture_training_and_is_reproducible(one_torch_thread):
    """Same code as the soil-moisture chapter, on the twin grid (through the VIC-style model itself,
    no surrogate needed): records are identical on rerun."""
    from dplrepro.data.sources import open_grid
    from dplrepro.physics import VICStyle

    grid, _ = open_grid("synthetic", seed=0)
    grid = grid_forcing(grid)
    cfg = chapter_config(seed=0, epochs=2, sceua_maxn=40, n_seeds=1)
    model = VICStyle(warmup=cfg.warmup, fixed=VICStyle.DEFAULT_FIXED)
    points = [{"method": SCEUA, "density_n": 4, "train_years": 1},
              {"method": "dPL gA (VIC-style direct)", "density_n": 4, "train_years": 2}]
    first = scaling.compute_points(points, grid, model, cfg, device="cpu")
    again = scaling.compute_points(points, grid, model, cfg, device="cpu")
    assert scaling.clean_json(first[1] | {"wall_time_s": 0}) == scaling.clean_json(again[1] | {"wall_time_s": 0})
    assert first[1]["setting"] == "s16, 2 yr" and 0 < first[1]["final_train_rmse"] < 0.3
    setting = sm.training_setting(grid, 4, 1)
    direct = sm.train_setting_method(grid, setting, SCEUA, model, cfg, device="cpu", progress=False)
    strip = [scaling.clean_json({k: v for k, v in r.items() if k != "wall_time_s"})
             for r in (first[0], again[0], direct.records[0])]
    assert strip[0] == strip[1] and strip[0] == {**strip[2], "source": "scaling_curves"}
    r = first[0]
    assert r["train_cells"] == setting.train_cells.size == 6 and r["setting"] == "s16, 1 yr"
    assert 0 < r["final_train_rmse"] < 0.2
    # the chapter's test scores come with it when asked for
    assert set(direct.scores) == {"temporal", "spatial"}
    assert direct.scores["temporal"].shape[0] == 6 and np.isfinite(direct.scores["temporal"]["rmse"]).all()
    assert math.isnan(r[RUNS]) or r[RUNS] > 0

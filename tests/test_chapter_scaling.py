"""The scaling-curves chapter end to end on real SMAP, CI-sized.

The two chapters it reads are not run here (minutes each): their summaries are written
into the temporary results folder first. The soil-moisture one, like a quick run, has dPL
gA at two densities and no SCE-UA there, so the chapter must compute SCE-UA at both
densities and dPL gA with two training years -- through a tiny surrogate it builds (and
caches) on the real data, with the training settings the summary records.
"""

from __future__ import annotations

import json

import pytest
from summaries import complete_summary

import numpy as np

DPL, SCEUA = "dPL gA (surrogate)", "SCE-UA (surrogate)"
TINY_SETTINGS = {"epochs": 3, "sceua_maxn": 60, "surrogate_rounds": 1, "surrogate_epochs": 3, "n_seeds": 2}
#: Hand-made final per-cell training RMSE of dPL (m3/m3), seeds 0 and 1, at s16 (41 cells) and s8 (126 cells).
CELL_RMSE = {4: [[0.05] * 20 + [0.04] * 21, [0.06] * 20 + [0.04] * 21],
             2: [[0.045] * 126, [0.035] * 126]}


def _write(results, chapter, summary):
    path = results / chapter / "quick" / "summary.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary))


def _dpl_record(n, cells, seed, final, runs, wall):
    return {"setting": f"s{4 * n}, 1 yr", "density_n": n, "train_years": 1, "method": DPL, "seed": seed,
            "train_cells": cells, "final_train_rmse": final, "runs_to_rmse_0.05": runs, "wall_time_s": wall,
            "curve_runs": [1.0, 2.0, 3.0], "curve_rmse": [0.08, 0.06, final], "cell_rmse": CELL_RMSE[n][seed]}


@pytest.mark.slow
def test_scaling_chapter_computes_the_missing_points_on_real_data(run_quick_chapter, smap_path, tmp_path):
    results = tmp_path / "results"  # the fixture's DPLREPRO_RESULTS
    dpl_written = [_dpl_record(4, 41, seed, 0.0457, 44.0, 25.7) for seed in (0, 1)] + \
                  [_dpl_record(2, 126, seed, 0.0459, 30.0, 85.2) for seed in (0, 1)]
    _write(results, "soil_moisture", complete_summary("soil_moisture", {
        "densities": [4, 2], "train_years": [1], "training": dpl_written, "settings": TINY_SETTINGS, "seeds": [0, 1],
        "run": {"data_source": "real", "seed": 0}}))
    fraction = [{"method": m, "fraction": f, "median_kge": k, "n_train_basins": int(800 * f)}
                for m, ks in (("dpl8", (0.58, 0.55, 0.51, 0.47)), ("ltf8", (0.49, 0.48, 0.45, 0.41)))
                for f, k in zip((1.0, 0.5, 0.25, 0.125), ks)]
    _write(results, "global_pub", complete_summary("global_pub", {
        "fraction_curve": fraction, "median_kge_ltf8": 0.49, "fraction_to_match_ltf": 0.25,
        "run": {"data_source": "real", "seed": 0}}))

    out, s = run_quick_chapter("scaling_curves", {"data_source": "real"})

    assert s["run"]["data_source"] == "real"
    assert not s["inputs"]["soil_moisture"]["ran_here"] and not s["inputs"]["global_pub"]["ran_here"]
    assert s["computed_here"] == [{"method": SCEUA, "density_n": 4, "train_years": 1},
                                  {"method": SCEUA, "density_n": 2, "train_years": 1},
                                  {"method": DPL, "density_n": 4, "train_years": 2}]
    assert s["training_settings"] == {**TINY_SETTINGS, "from": "soil_moisture"}
    by = {(p["method"], p["density_n"]): p for p in s["density_curve"]}
    assert set(by) == {(DPL, 4), (DPL, 2), (SCEUA, 4), (SCEUA, 2)}
    # dPL points copied from the soil-moisture summary, unchanged
    for written in dpl_written:
        p = by[(DPL, written["density_n"])]
        assert p["source"] == "soil_moisture"
        assert p["final_train_rmse"] == written["final_train_rmse"]
        assert p["runs_to_rmse_0.05"] == written["runs_to_rmse_0.05"]
    # SCE-UA computed here on the real grid: 41 and 126 training cells, real RMSE values (m3/m3)
    for n, cells in ((4, 41), (2, 126)):
        p = by[(SCEUA, n)]
        assert p["source"] == "scaling_curves" and p["train_cells"] == cells and p["train_years"] == 1
        assert 0.01 < p["final_train_rmse"] < 0.2, p
        assert p["runs_to_rmse_0.05"] is None or 0 < p["runs_to_rmse_0.05"] <= 200, p
    # the two-year point at the sparsest density, computed here
    length = s["length_curve"]
    assert [(p["train_years"], p["source"], p["train_cells"]) for p in length] == [
        (1, "soil_moisture", 41), (2, "scaling_curves", 41)]
    assert 0.01 < length[1]["final_train_rmse"] < 0.3
    # the claims, with the seeds: the error claim by hand (seed means per cell, then medians)
    assert s["seeds"] == [0, 1]
    r = s["claims"]["rmse_density"]
    sparse = np.median(np.mean(CELL_RMSE[4], axis=0))   # cells: 0.055 (20) and 0.04 (21) -> 0.04
    assert r["difference"] == pytest.approx(0.04 - sparse) and r["interval"][0] <= r["difference"] <= r["interval"][1]
    c = s["claims"]["cost_density"]
    assert c["seeds"] == [0, 1] and len(c["per_seed_a"]) == 2 and c["interval"][0] <= c["difference"] <= c["interval"][1]
    d = s["derived"]
    assert d["dpl_runs_ratio_dense_to_sparse"] == pytest.approx(30 / 44)
    assert d["dpl_rmse_change_dense_minus_sparse"] == pytest.approx(0.0002)
    assert d["sceua_rmse_change_dense_minus_sparse"] == pytest.approx(
        by[(SCEUA, 2)]["final_train_rmse"] - by[(SCEUA, 4)]["final_train_rmse"])
    assert d["pub_fraction_to_match_ltf"] == 0.25 and d["pub_median_kge_ltf8"] == 0.49
    assert [r["median_kge"] for r in s["fraction_curve"] if r["method"] == "dpl8"] == [0.47, 0.51, 0.55, 0.58]
    assert s["paper_reference"]["runs_to_0.05_s16"] == 900
    assert "NaN" not in (out / "summary.json").read_text()
    for fig in ("density_curves.png", "length_curve.png", "pub_fraction_curve.png"):
        assert (out / fig).stat().st_size > 5_000, fig
    # the tiny surrogate was built and cached where the soil-moisture chapter looks for it
    assert (results / "surrogate" / "quick.cache" / s["surrogate_file"]).exists()

"""The soil-moisture chapter end to end on real SMAP, CI-sized (tiny surrogate, few epochs)."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_soil_moisture_chapter_runs_every_method_and_test(run_quick_chapter, smap_path):
    out, s = run_quick_chapter("soil_moisture", {"data_source": "real", "densities": "4", "epochs": 8,
                                                 "sceua_maxn": 150, "surrogate_rounds": 1, "surrogate_epochs": 10})
    methods = ("dpl_ga_surrogate", "dpl_gz_surrogate", "dpl_ga_vic_style_direct", "sce_ua_surrogate")
    for m in methods:
        for test in ("temporal", "spatial"):
            r = s["results"][f"s16_1_yr|{m}|{test}"]
            # real soil-moisture skill even with a tiny budget: RMSE in m3/m3, bounded correlation
            assert 0 < r["rmse"] < 0.2 and -1 <= r["corr"] <= 1, (m, test, r)
    training = {t["method"]: t for t in s["training"]}
    assert training["dPL gA (surrogate)"]["train_cells"] == 41
    assert all(t["final_train_rmse"] < 0.2 for t in s["training"])
    assert set(s["infilt_roughness"]) == {"dPL gA", "SCE-UA"}
    gap = s["gapfill"]  # held-out SMAP days: the LSTM forecast beats climatology
    assert gap["lstm"]["rmse"] < gap["climatology"]["rmse"] and gap["lstm"]["rmse"] < 0.06
    for fig in ("cost_curves.png", "maps_test.png", "maps_infilt.png"):
        assert (out / fig).stat().st_size > 5_000, fig
    # the surrogate was built (and cached) under the surrogate chapter's results
    assert list((out.parent.parent / "surrogate" / "quick").glob("surrogate-*.pt"))

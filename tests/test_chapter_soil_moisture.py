"""The soil-moisture chapter end to end on real SMAP, CI-sized (tiny surrogate, few epochs)."""

from __future__ import annotations

import pytest

from dplrepro.evidence import verdict


@pytest.mark.slow
def test_soil_moisture_chapter_runs_every_method_and_test(run_quick_chapter, smap_path):
    out, s = run_quick_chapter("soil_moisture", {"data_source": "real", "densities": "4", "epochs": 8,
                                                 "sceua_maxn": 150, "surrogate_rounds": 1, "surrogate_epochs": 10,
                                                 "n_seeds": 2})
    assert s["seeds"] == [0, 1] and s["gz_history_days"] > 0
    default = {test: s["results"][f"s16_1_yr|mid_range_default_surrogate|{test}"]["rmse"]
               for test in ("temporal", "spatial")}
    for m in ("dpl_ga_surrogate", "sce_ua_surrogate"):
        for test in ("temporal", "spatial"):
            r = s["results"][f"s16_1_yr|{m}|{test}"]
            # calibrated on SMAP: better than mid-range parameters through the same surrogate, on cells/years
            # that were never in training
            assert r["rmse"] < default[test], (m, test, r, default)
    for m in ("dpl_gz_surrogate", "dpl_ga_vic_style_direct"):
        assert s["results"][f"s16_1_yr|{m}|temporal"]["rmse"] < 0.2
    training = [t for t in s["training"] if t["method"] == "dPL gA (surrogate)"]
    assert sorted(t["seed"] for t in training) == [0, 1] and {t["train_cells"] for t in training} == {41}
    for test in ("temporal", "spatial"):
        c = s["claims"][f"smap_{test}"]
        assert c["seeds"] == [0, 1] and c["interval"][0] <= c["difference"] <= c["interval"][1]
        assert verdict(c) != "not run"
    assert set(s["infilt_roughness"]) == {"dPL gA", "SCE-UA"}
    gap = s["gapfill"]  # held-out SMAP days: the LSTM forecast beats climatology
    assert gap["lstm"]["rmse"] < gap["climatology"]["rmse"] and gap["lstm"]["rmse"] < 0.06
    for fig in ("cost_curves.png", "maps_test.png", "maps_infilt.png"):
        assert (out / fig).stat().st_size > 5_000, fig
    # the surrogate was built (and cached) under the surrogate chapter's results
    assert list((out.parent.parent / "surrogate" / "quick.cache").glob("surrogate-*.pt"))

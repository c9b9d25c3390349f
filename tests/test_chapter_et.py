"""The ET twin chapter end to end (real forcing and SMAP mask, simulated truth), CI-sized."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_et_twin_chapter_scores_unseen_et_and_parameter_recovery(run_quick_chapter, smap_path):
    out, s = run_quick_chapter("evapotranspiration", {"data_source": "real", "density": 4, "epochs": 15,
                                                      "sceua_maxn": 200, "n_seeds": 2})
    assert s["twin_experiment"] is True and s["n_train_cells"] == 41 and s["seeds"] == [0, 1]
    # the VIC stress form makes ET water-limited on most cell-days (the linear-stress twin was not)
    from dplrepro.experiments.et_twin import WATER_LIMITED_MIN

    assert WATER_LIMITED_MIN < s["water_limited_fraction"] <= 1.0, s["water_limited_fraction"]
    assert s["truth"]["attribute_r2_median"] < 0.8, s["truth"]  # a part of the truth no attribute explains
    for key in ("et", "et_corr"):
        c = s["claims"][key]
        assert c["a"] == "dPL gz" and c["b"] == "SCE-UA" and c["seeds"] == [0, 1] and c["n_sites"] <= 41
        assert c["interval"][0] <= c["difference"] <= c["interval"][1]
    rec = s["recovery"]
    assert set(rec) == {"dPL gA", "dPL gz", "SCE-UA"}
    assert set(rec["SCE-UA"]) == {"INFILT", "Ds", "Dsmax", "Ws", "EXPT_1", "EXPT_2", "EXPT_3", "DEPTH_1", "DEPTH_2",
                                  "DEPTH_3"}
    # soil-moisture calibration recovers the top-layer parameters' spatial pattern for every method
    for method in rec:
        assert max(rec[method]["DEPTH_1"], rec[method]["EXPT_1"]) > 0.5, (method, rec[method])
    for fig in ("cdf_et.png", "recovery.png"):
        assert (out / fig).stat().st_size > 5_000, fig

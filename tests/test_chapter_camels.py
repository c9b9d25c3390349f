"""The CAMELS chapter end to end on real data, with a CI-sized parameter set."""

from __future__ import annotations

import pytest

from dplrepro.evidence import verdict


@pytest.mark.slow
def test_camels_chapter_quick_training_beats_untrained_and_mean_flow(run_quick_chapter, camels_us_path):
    out, s = run_quick_chapter("camels", {"data_source": "real", "n_basins": 10, "epochs": 12, "sceua_maxn": 400,
                                          "n_seeds": 2})
    assert s["n_basins"] == 10 and s["run"]["data_source"] == "real"
    assert s["seeds"] == [0, 1] and s["nmul"] == 1
    # trained gA and gz: clearly above the untrained network and above the mean-flow benchmark (NSE 0)
    assert s["median_nse_dpl_ga"] > s["median_nse_untrained_ga"] + 0.2, s
    assert s["median_nse_dpl_gz"] > s["median_nse_untrained_ga"] + 0.2, s
    assert s["median_nse_dpl_ga"] > 0.3 and s["median_nse_dpl_gz"] > 0.3, s
    # SCE-UA with the same objective: its calibrated HBV also beats the untrained network
    assert s["median_nse_sceua"] > s["median_nse_untrained_ga"] + 0.2, s
    assert s["forward_runs_per_basin_dpl"] > 0 and s["model_runs_per_basin_sceua"] >= 400
    # the claim: gz vs SCE-UA, paired over the 10 basins, both seeds, a verdict from the interval
    c = s["claims"]["camels"]
    assert c["a"] == "dPL-HBV gz" and c["b"] == "SCE-UA HBV" and c["seeds"] == [0, 1] and c["n_sites"] == 10
    assert c["interval"][0] <= c["difference"] <= c["interval"][1]
    assert c["value_a"] == pytest.approx(s["median_nse_dpl_gz"]) and c["value_b"] == pytest.approx(s["median_nse_sceua"])
    assert verdict(c) in ("reproduced", "inconclusive", "not reproduced")
    assert set(s["convergence"]) == {"dPL-HBV gA", "dPL-HBV gz", "SCE-UA HBV"}
    for fig in ("cdf_nse_kge.png", "map_nse_gz.png", "hydrographs.png", "training_curve.png"):
        assert (out / fig).stat().st_size > 5_000, fig

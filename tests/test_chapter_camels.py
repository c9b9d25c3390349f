"""The CAMELS chapter end to end on real data, with a CI-sized parameter set."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_camels_chapter_quick_training_beats_untrained_and_mean_flow(run_quick_chapter, camels_us_path):
    out, s = run_quick_chapter("camels", {"data_source": "real", "n_basins": 10, "epochs": 20, "sceua_maxn": 400})
    for key in ("n_basins", "median_nse_dpl_ga", "median_nse_dpl_gz", "median_nse_sceua",
                "median_kge_dpl_ga", "median_kge_dpl_gz", "median_kge_sceua"):
        assert key in s, key
    assert s["n_basins"] == 10 and s["run"]["data_source"] == "real"
    # trained gA: clearly above the untrained network and above the mean-flow benchmark (NSE 0)
    assert s["median_nse_dpl_ga"] > s["median_nse_untrained_ga"] + 0.2, s
    assert s["median_nse_dpl_ga"] > 0.3 and s["median_nse_dpl_gz"] > 0.3, s
    assert s["median_nse_sceua"] > 0.3, s
    assert s["forward_runs_per_basin_dpl"] > 0 and s["model_runs_per_basin_sceua"] >= 400
    for fig in ("cdf_nse_kge.png", "map_nse_gz.png", "hydrographs.png", "training_curve.png"):
        assert (out / fig).stat().st_size > 5_000, fig

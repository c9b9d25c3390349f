"""The ET twin chapter end to end (real forcing and SMAP mask, simulated truth), CI-sized."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_et_twin_chapter_scores_unseen_et_and_parameter_recovery(run_quick_chapter, smap_path):
    out, s = run_quick_chapter("evapotranspiration", {"data_source": "real", "density": 4, "epochs": 15, "sceua_maxn": 200})
    assert s["twin_experiment"] is True and s["n_train_cells"] == 41
    for key in ("et_corr_dpl_gz", "et_corr_sceua", "et_nse_dpl_gz", "et_nse_sceua"):
        assert -1 <= s[key] <= 1, (key, s[key])
    # ET follows the (fixed) PET cycle: every calibration reproduces its timing
    assert s["et_corr_dpl_gz"] > 0.8 and s["et_corr_sceua"] > 0.8
    rec = s["recovery"]
    assert set(rec) == {"dPL gA", "dPL gz", "SCE-UA"}
    assert set(rec["SCE-UA"]) == {"INFILT", "Ds", "Dsmax", "Ws", "EXPT_1", "EXPT_2", "EXPT_3", "DEPTH_1", "DEPTH_2",
                                  "DEPTH_3"}
    # soil-moisture calibration recovers the top-layer parameters' spatial pattern for every method
    for method in rec:
        assert max(rec[method]["DEPTH_1"], rec[method]["EXPT_1"]) > 0.5, (method, rec[method])
    for fig in ("cdf_et.png", "recovery.png"):
        assert (out / fig).stat().st_size > 5_000, fig

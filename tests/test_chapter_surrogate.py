"""The surrogate chapter end to end on real SMAP/NLDAS forcing, CI-sized."""

from __future__ import annotations

import pytest


@pytest.mark.slow
def test_surrogate_chapter_emulates_the_vic_style_model(run_quick_chapter, smap_path):
    out, s = run_quick_chapter("surrogate", {"data_source": "real", "surrogate_rounds": 1, "surrogate_epochs": 10})
    assert s["rounds"] == 1 and len(s["per_round"]) == 2
    assert s["per_round"][1]["n_runs"] > s["per_round"][0]["n_runs"]
    # a real emulator even with this tiny budget: held-out cells, random parameter sets
    assert s["surrogate_median_corr"] > 0.7, s
    assert 0 < s["surrogate_median_rmse"] < 0.05, s
    assert s["n_train_cells"] == 41 and s["n_heldout_cells"] == 20
    assert list(out.glob("surrogate-*.pt")), "the surrogate must be saved for the soil-moisture chapter"
    for fig in ("rounds.png", "cdf_corr.png", "example.png"):
        assert (out / fig).stat().st_size > 5_000, fig

"""The global PUB chapter end to end on real CAMELS-US + CAMELS-GB, CI-sized."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.mark.slow
def test_global_pub_chapter_trains_every_method_and_fraction(run_quick_chapter, camels_us_path, camels_gb_path,
                                                             caravan_path):
    out, s = run_quick_chapter("global_pub", {"data_source": "real", "n_basins_us": 40, "n_basins_gb": 40,
                                              "k_folds": 2, "epochs": 6, "fractions": "1,0.5,0.25",
                                              "n_seeds": 2})
    assert s["run"]["data_source"] == "real" and s["n_basins"] == 80
    assert s["n_basins_by_region"] == {"US": 40, "GB": 40}
    assert sum(sum(v.values()) for v in s["group_sizes"].values()) == 2 * 80  # per-region counts + total
    for key in ("median_kge_ltf8", "median_kge_dpl8", "median_kge_dpl27"):
        # trained HBV on held-out basins and years: clearly skilful (KGE of the mean flow is -0.41)
        assert 0.2 < s[key] < 1.0, (key, s[key])
    curve = {(p["method"], p["fraction"]): p for p in s["fraction_curve"]}
    assert set(curve) == {(m, f) for m in ("ltf8", "dpl8") for f in (1.0, 0.5, 0.25)}
    # fewer training basins at smaller fractions (nested subsets of each fold's training set)
    n = [curve[("dpl8", f)]["n_train_basins"] for f in (1.0, 0.5, 0.25)]
    assert n[0] > n[1] > n[2] > 0
    assert np.isclose(curve[("ltf8", 1.0)]["median_kge"], s["median_kge_ltf8"])
    match = s["fraction_to_match_ltf"]
    assert match is None or match in (1.0, 0.5, 0.25)
    if match is not None:
        assert curve[("dpl8", match)]["median_kge"] >= s["median_kge_ltf8"]
    assert len(s["attribute_mapping"]) == 27
    # evidence: paired over the 80 basins, both seeds; no 1/8 fraction was run, so no fraction claim
    assert s["seeds"] == [0, 1] and set(s["claims"]) == {"pub_dpl8", "pub_dpl27"}
    c = s["claims"]["pub_dpl8"]
    assert c["n_sites"] == 80 and c["interval"][0] <= c["difference"] <= c["interval"][1]
    assert np.isclose(c["value_b"], s["median_kge_ltf8"]) and np.isclose(c["value_a"], s["median_kge_dpl8"])
    for fig in ("map_groups.png", "cdf_kge.png", "map_kge.png", "fraction_curve.png", "training_loss.png"):
        assert (out / fig).stat().st_size > 5_000, fig

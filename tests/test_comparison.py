"""Results vs the paper: claims read from summaries, verdict rules on hand-made numbers."""

from __future__ import annotations

from dplrepro.comparison import CLAIMS, comparison_table


def _run(source="real"):
    return {"run": {"data_source": source, "profile": "quick", "data_description": "test data"}}


def _row(table, key):
    i = [c.key for c in CLAIMS].index(key)
    return table.iloc[i]


def test_verdicts_follow_the_stated_rules():
    summaries = {
        "global_pub": {"median_kge_ltf8": 0.50, "median_kge_dpl8": 0.56, "median_kge_dpl27": 0.55,
                       "fraction_to_match_ltf": 0.25, "n_basins": 300, **_run()},
        "surrogate": {"surrogate_median_corr": 0.87, **_run()},
        "camels": {"median_nse_dpl_gz": 0.60, "median_nse_dpl_ga": 0.64, "median_nse_sceua": 0.65, "n_basins": 30,
                   **_run()},
        "evapotranspiration": {"ef_nse": {"dPL gz": 0.98, "SCE-UA": 0.97}, "twin_experiment": True,
                               **_run("synthetic")},
        "soil_moisture": {"comparison": "s8, 1 yr", "results": {
            "s8_1_yr|dpl_ga_surrogate|temporal": {"rmse": 0.049}, "s8_1_yr|sce_ua_surrogate|temporal": {"rmse": 0.039},
            "s8_1_yr|dpl_ga_surrogate|spatial": {"rmse": 0.048}, "s8_1_yr|sce_ua_surrogate|spatial": {"rmse": 0.053}},
            **_run()},
        "scaling_curves": {"derived": {"dpl_runs_ratio_dense_to_sparse": 0.68, "sceua_runs_ratio_dense_to_sparse": 1.0,
                                       "dpl_rmse_change_dense_minus_sparse": 0.0002}, **_run()},
    }
    t = comparison_table(summaries)
    assert len(t) == len(CLAIMS)
    expected = {"pub_dpl8": "reproduced", "pub_dpl27": "close", "pub_fraction": "close", "surrogate": "close",
                "camels": "close", "et": "reproduced", "smap_temporal": "not reproduced", "smap_spatial": "reproduced",
                "cost_density": "reproduced", "rmse_density": "close"}
    for key, verdict in expected.items():
        assert _row(t, key)["verdict"] == verdict, (key, _row(t, key)["ours"])
    assert "0.560 vs LTF-8 0.500" in _row(t, "pub_dpl8")["ours"]
    assert "synthetic twin" in _row(t, "et")["ours"] and _row(t, "et")["data"].startswith("synthetic data")
    assert "25.0%" in _row(t, "pub_fraction")["ours"]


def test_missing_chapters_and_numbers_read_not_run():
    t = comparison_table({"global_pub": {"median_kge_ltf8": 0.5, **_run()}})
    assert set(t["verdict"]) == {"not run"}
    assert "summary lacks" in _row(t, "pub_dpl8")["ours"]
    assert _row(t, "surrogate")["ours"] == "—"
    t = comparison_table({"global_pub": {"median_kge_ltf8": 0.5, "median_kge_dpl8": 0.4, "median_kge_dpl27": 0.3,
                                         "fraction_to_match_ltf": None, "n_basins": 9, **_run()}})
    assert _row(t, "pub_dpl8")["verdict"] == "not reproduced"
    assert _row(t, "pub_fraction")["verdict"] == "not reproduced"

"""Results vs the paper: evidence records, bootstrap intervals and the verdict rule on
hand-made numbers (each verdict reachable, a wrong sign never passes)."""

from __future__ import annotations

import numpy as np
import pytest

from dplrepro.comparison import CLAIMS, comparison_table
from dplrepro.evidence import CLAIM_RULES, paired_evidence, seed_evidence, unpaired_evidence, verdict


def _run(source="real"):
    return {"run": {"data_source": source, "profile": "quick", "data_description": "test data"}}


def _row(table, key):
    return table.set_index("key").loc[key]


def test_every_claim_has_a_fixed_rule():
    assert {c.key for c in CLAIMS} == set(CLAIM_RULES)
    for c in CLAIMS:
        assert CLAIM_RULES[c.key].paper_sign in (-1, 1)
        assert "interval" in c.rule


def test_paired_difference_of_medians_by_hand():
    a = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])   # seed means 2, 3, 4 -> median 3
    b = np.array([1.0, 1.0, 2.0])                      # median 1
    r = paired_evidence("camels", a, b, seeds=[0, 1])
    assert r["difference"] == pytest.approx(2.0)
    assert r["value_a"] == pytest.approx(3.0) and r["value_b"] == pytest.approx(1.0)
    assert r["per_seed_a"] == [2.0, 4.0] and r["per_seed_difference"] == [1.0, 3.0]
    assert r["n_sites"] == 3 and r["seeds"] == [0, 1]
    low, high = r["interval"]
    assert 0.0 <= low <= 2.0 <= high <= 3.0   # the resampled median differences lie in [0, 3]
    assert verdict(r) == "reproduced"


def test_nan_sites_are_dropped_and_counted():
    r = paired_evidence("camels", [1.0, np.nan, 3.0], [0.0, 1.0, np.nan], seeds=[0])
    assert r["n_sites"] == 1 and r["n_sites_dropped"] == 2 and r["difference"] == 1.0
    with pytest.raises(ValueError, match="same"):
        paired_evidence("camels", [1.0, 2.0], [1.0], seeds=[0])


def test_interval_covers_a_known_difference():
    """Noisy paired scores with a true median shift of 0.05: the 90 % interval holds it."""
    rng = np.random.default_rng(1)
    b = rng.normal(0.6, 0.2, size=(3, 400))
    a = b + 0.05 + rng.normal(0, 0.02, size=b.shape)
    r = paired_evidence("camels", a, b, seeds=[0, 1, 2])
    assert r["interval"][0] < 0.05 < r["interval"][1]
    assert r["interval"][1] - r["interval"][0] < 0.05


def test_each_verdict_is_reachable_and_a_wrong_sign_fails():
    rng = np.random.default_rng(0)
    b = rng.normal(0.5, 0.1, 200)
    assert verdict(paired_evidence("camels", b + 0.05, b, [0])) == "reproduced"
    noisy = b + rng.normal(0.0, 0.2, 200)
    noisy += np.median(b) + 0.002 - np.median(noisy)   # estimate +0.002, interval far wider
    assert verdict(paired_evidence("camels", noisy, b, [0])) == "inconclusive"
    assert verdict(paired_evidence("camels", b - 0.001, b, [0])) == "not reproduced"   # every resample < 0
    wrong_noisy = b + rng.normal(0.0, 0.2, 200)
    wrong_noisy += np.median(b) - 0.002 - np.median(wrong_noisy)   # wrong-sign estimate, interval spans 0
    assert verdict(paired_evidence("camels", wrong_noisy, b, [0])) == "inconclusive"
    # the paper says lower RMSE for dPL: a positive difference is a wrong sign
    assert verdict(paired_evidence("smap_temporal", b + 0.01, b, [0])) == "not reproduced"
    assert verdict(paired_evidence("smap_temporal", b - 0.01, b, [0])) == "reproduced"
    assert verdict(None) == "not run" and verdict({}) == "not run"


def test_threshold_and_seed_and_unpaired_records():
    r = paired_evidence("surrogate", np.full((3, 50), 0.95), None, seeds=[0, 1, 2])
    assert r["difference"] == pytest.approx(0.05) and r["value_b"] == 0.90 and verdict(r) == "reproduced"
    s = seed_evidence("cost_density", [-1.0, -0.8, -1.2], [0.0, 0.1, -0.1], seeds=[0, 1, 2])
    assert s["difference"] == pytest.approx(-1.0) and verdict(s) == "reproduced"
    assert s["interval"][0] >= -1.3 and s["interval"][1] <= -0.7
    with pytest.raises(ValueError, match="lacks"):
        seed_evidence("cost_density", [np.nan, 1.0, 1.0], [0.0, 0.0, 0.0], seeds=[0, 1, 2])
    u = unpaired_evidence("rmse_density", [0.04, 0.041, 0.042], [0.05, 0.052, 0.051, 0.05], seeds=[0])
    assert u["difference"] == pytest.approx(0.041 - 0.0505) and u["n_sites"] == [3, 4] and verdict(u) == "reproduced"


def test_table_reads_records_and_missing_ones_read_not_run():
    rng = np.random.default_rng(2)
    b = rng.normal(0.5, 0.1, 100)
    summaries = {"camels": {"claims": {"camels": paired_evidence("camels", b + 0.1, b, [0, 1, 2])}, **_run()},
                 "evapotranspiration": {"claims": {}, **_run("synthetic")}}
    t = comparison_table(summaries)
    assert len(t) == len(CLAIMS)
    row = _row(t, "camels")
    assert row["verdict"] == "reproduced" and row["seeds"] == 3
    assert "dPL-HBV gz" in row["ours"] and "(3 seeds, 100 sites)" in row["ours"] and "+0.100" in row["ours"]
    assert _row(t, "et")["verdict"] == "not run" and _row(t, "et")["data"].startswith("synthetic data")
    assert _row(t, "surrogate")["ours"] == "—" and _row(t, "surrogate")["verdict"] == "not run"

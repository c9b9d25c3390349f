"""The results schema: every chapter's summary keys, typed, checked on writing and reading."""

from __future__ import annotations

import json
import math

import pytest

from dplrepro.results import SCHEMAS, ChapterRun, SummaryError, check_summary, load_summaries, read_summary
from summaries import complete_summary


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("DPLREPRO_RESULTS", str(tmp_path))
    return tmp_path


def test_every_book_chapter_has_a_schema():
    from dplrepro.book import chapters

    assert sorted(chapters()) == sorted(SCHEMAS)


def test_load_summaries_reads_every_chapter_of_a_profile(results):
    for chapter, profile in (("camels", "quick"), ("global_pub", "quick"), ("camels", "full")):
        (results / chapter / profile).mkdir(parents=True)
        summary = complete_summary(chapter, {"n_basins": 7 if profile == "quick" else 9})
        (results / chapter / profile / "summary.json").write_text(json.dumps(summary))
    got = load_summaries("quick")
    assert sorted(got) == ["camels", "global_pub"] and got["camels"]["n_basins"] == 7
    (results / "camels" / "quick" / "summary.json").write_text("{broken")
    with pytest.raises(ValueError, match="camels/quick/summary.json is not valid JSON"):
        load_summaries("quick")


def test_finish_checks_and_writes_the_summary(results):
    run = ChapterRun("camels", seed=2)
    good = complete_summary("camels", {"median_nse_dpl_gz": float("nan"), "n_basins": 30})
    path = run.finish(good)
    written = json.loads(path.read_text())
    assert written["median_nse_dpl_gz"] is None  # NaN is written as null, and reads back as such
    assert written["n_basins"] == 30 and written["run"]["seed"] == 2
    assert read_summary("camels", "quick") == written
    with pytest.raises(SummaryError, match="chapter 'camels' lacks 'median_nse_sceua'"):
        run.finish({k: v for k, v in good.items() if k != "median_nse_sceua"})
    with pytest.raises(SummaryError, match="chapter 'camels': 'n_basins' must be an integer, found 30.5"):
        run.finish({**good, "n_basins": 30.5})
    with pytest.raises(SummaryError, match=r"keys no schema names: \['median_nse_lstm'\]"):
        run.finish({**good, "median_nse_lstm": 0.7})
    with pytest.raises(SummaryError, match="'run' is reserved"):
        run.finish({**good, "run": {}})
    assert read_summary("camels", "quick") == written  # a refused summary never reaches the file


@pytest.mark.parametrize("chapter, key, value, words", [
    ("global_pub", "median_kge_dpl8", "0.56", ["global_pub", "'median_kge_dpl8'", "a number or null", "'0.56'"]),
    ("soil_moisture", "densities", [4, 2.5], ["soil_moisture", "'densities'", "integer"]),
    ("surrogate", "per_round", [{"heldout_median_corr": 0.9}], ["'per_round'[0] lacks ['round']"]),
    ("evapotranspiration", "twin_experiment", 1, ["'twin_experiment'", "true or false"]),
])
def test_a_wrong_type_names_the_chapter_and_key(chapter, key, value, words):
    with pytest.raises(SummaryError) as err:
        check_summary(chapter, complete_summary(chapter, {key: value}), "somewhere/summary.json")
    for word in words:
        assert word in str(err.value)
    assert str(err.value).startswith("somewhere/summary.json: ")


def test_numbers_accept_integers_and_null_but_not_booleans():
    s = complete_summary("camels", {"median_nse_sceua": 1})
    check_summary("camels", s)
    check_summary("camels", {**s, "median_nse_sceua": None})
    with pytest.raises(SummaryError):
        check_summary("camels", {**s, "median_nse_sceua": True})
    assert not math.isnan(s["median_kge_sceua"])


def test_claims_hold_evidence_records_of_known_claims():
    import numpy as np

    from dplrepro.evidence import paired_evidence

    record = paired_evidence("camels", np.array([0.6, 0.7, 0.8]), np.array([0.5, 0.6, 0.7]), [0])
    check_summary("camels", complete_summary("camels", {"claims": {"camels": record}}))
    with pytest.raises(SummaryError, match="'claims'.*no claim"):
        check_summary("camels", complete_summary("camels", {"claims": {"camel": record}}))
    with pytest.raises(SummaryError, match=r"lacks \['interval'\]"):
        check_summary("camels", complete_summary("camels", {"claims": {"camels": {
            k: v for k, v in record.items() if k != "interval"}}}))
    with pytest.raises(SummaryError, match="'seeds'.*non-empty"):
        check_summary("camels", complete_summary("camels", {"claims": {"camels": {**record, "seeds": []}}}))

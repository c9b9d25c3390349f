"""The paper's claims beside our numbers, read from the chapters' ``summary.json`` files only
(through the results schema, :func:`dplrepro.results.load_summaries`).

Each :class:`Claim` names the chapter whose summary holds our number, the paper's
statement and value, and a rule that turns the summary into our number and a verdict:

* ``reproduced``      our numbers show what the paper claims (the rule says how it is judged);
* ``close``           within the stated tolerance of it;
* ``not reproduced``  they do not;
* ``not run``         the chapter has no summary for this profile (or lacks the numbers).

Verdicts judge the *claim* (a comparison or a trend), not equality of absolute numbers:
our data, models and scale differ from the paper's (see each chapter), and every row says
which data it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pandas as pd

from .results import result_key

__all__ = ["CLAIMS", "Claim", "comparison_table"]

REPRODUCED, CLOSE, NOT_REPRODUCED, NOT_RUN = "reproduced", "close", "not reproduced", "not run"


@dataclass(frozen=True)
class Claim:
    """One claim of the paper and how our summary is read against it."""

    key: str
    chapter: str
    claim: str
    paper: str
    rule: str                                                   # how the verdict is decided, in words
    evaluate: Callable[[Mapping[str, Any]], tuple[str, str]]    # summary -> (our number(s), verdict)


def _get(summary: Mapping, *path: str) -> Any:
    node: Any = summary
    for key in path:
        if not isinstance(node, Mapping) or key not in node or node[key] is None:
            raise KeyError("/".join(path))
        node = node[key]
    return node


def _verdict(ok: bool, close: bool = False) -> str:
    return REPRODUCED if ok else (CLOSE if close else NOT_REPRODUCED)


def _surrogate(s):
    corr = float(_get(s, "surrogate_median_corr"))
    return f"median corr {corr:.3f} (held-out cells, fresh parameters)", _verdict(corr >= 0.90, corr >= 0.85)


def _smap_test(test: str):
    def rule(s):
        setting = str(_get(s, "comparison"))
        dpl = float(_get(s, "results", result_key(setting, "dPL gA (surrogate)", test), "rmse"))
        sce = float(_get(s, "results", result_key(setting, "SCE-UA (surrogate)", test), "rmse"))
        return (f"median RMSE dPL gA {dpl:.4f} vs SCE-UA {sce:.4f} m³/m³ ({_get(s, 'comparison')})",
                _verdict(dpl <= sce, dpl <= sce + 0.002))
    return rule


def _cost_density(s):
    d = _get(s, "derived")
    dpl, sce = d.get("dpl_runs_ratio_dense_to_sparse"), d.get("sceua_runs_ratio_dense_to_sparse")
    if dpl is None:
        raise KeyError("derived/dpl_runs_ratio_dense_to_sparse")
    text = (f"runs to RMSE<0.05, densest/sparsest: dPL {dpl:.2f}"
            + (f", SCE-UA {sce:.2f}" if sce is not None else "") + f" (paper dPL {50 / 900:.2f})")
    sce_flat = sce is None or sce >= 0.8
    return text, _verdict(dpl < 0.8 and sce_flat, dpl < 1.0)


def _rmse_density(s):
    change = _get(s, "derived", "dpl_rmse_change_dense_minus_sparse")
    return f"dPL final training RMSE change, sparsest → densest: {change:+.4f} m³/m³", _verdict(change < 0, change <= 0.001)


def _et(s):
    dpl, sce = float(_get(s, "ef_nse", "dPL gz")), float(_get(s, "ef_nse", "SCE-UA"))
    twin = " (synthetic twin: no MODIS here)" if s.get("twin_experiment") else ""
    return f"ET/PET NSE dPL gz {dpl:.3f} vs SCE-UA {sce:.3f}{twin}", _verdict(dpl > sce, dpl >= sce - 0.01)


def _camels(s):
    gz, ga, sce = (float(_get(s, k)) for k in ("median_nse_dpl_gz", "median_nse_dpl_ga", "median_nse_sceua"))
    return (f"median test NSE, HBV: dPL gz {gz:.3f}, gA {ga:.3f}, per-basin SCE-UA {sce:.3f} ({_get(s, 'n_basins')} basins)",
            _verdict(max(gz, ga) >= sce, max(gz, ga) >= sce - 0.01))


def _pub_dpl8(s):
    d8, ltf = float(_get(s, "median_kge_dpl8")), float(_get(s, "median_kge_ltf8"))
    return f"median test KGE dPL-8 {d8:.3f} vs LTF-8 {ltf:.3f} ({_get(s, 'n_basins')} basins)", _verdict(d8 > ltf, d8 >= ltf - 0.01)


def _pub_dpl27(s):
    d27, d8 = float(_get(s, "median_kge_dpl27")), float(_get(s, "median_kge_dpl8"))
    return f"median test KGE dPL-27 {d27:.3f} vs dPL-8 {d8:.3f}", _verdict(d27 >= d8, d27 >= d8 - 0.02)


def _pub_fraction(s):
    f = s.get("fraction_to_match_ltf")
    if "fraction_to_match_ltf" not in s:
        raise KeyError("fraction_to_match_ltf")
    if f is None:
        return "dPL-8 never reaches LTF-8's all-basin median", NOT_REPRODUCED
    return f"dPL-8 matches LTF-8's all-basin median from {f:.1%} of the training basins", _verdict(f <= 0.2, f <= 0.5)


CLAIMS: tuple[Claim, ...] = (
    Claim("surrogate", "surrogate", "An LSTM surrogate reproduces VIC's surface soil moisture",
          "median corr ≈ 0.92", "reproduced if ≥ 0.90, close if ≥ 0.85", _surrogate),
    Claim("smap_temporal", "soil_moisture", "dPL ≥ SCE-UA against SMAP, temporal test",
          "dPL slightly better", "dPL's median RMSE ≤ SCE-UA's (close: within 0.002)", _smap_test("temporal")),
    Claim("smap_spatial", "soil_moisture", "dPL generalises in space, SCE-UA does not (spatial test)",
          "dPL's error barely grows; SCE-UA's does", "dPL's median RMSE ≤ SCE-UA's (close: within 0.002)",
          _smap_test("spatial")),
    Claim("cost_density", "scaling_curves", "dPL's forward runs per site to RMSE < 0.05 fall with data; SCE-UA's do not",
          "s16 ≈ 900 → s4 < 50", "dPL densest/sparsest < 0.8 and SCE-UA's ≥ 0.8 (close: dPL < 1)", _cost_density),
    Claim("rmse_density", "scaling_curves", "dPL's final RMSE falls with training density",
          "s16 0.047 → s4 0.044", "the change is negative (close: ≤ +0.001)", _rmse_density),
    Claim("et", "evapotranspiration", "dPL improves an uncalibrated variable (ET)",
          "NSE 0.55 vs 0.38, corr 0.75 vs 0.69 (dPL gz vs SCE-UA)", "dPL gz's ET/PET NSE > SCE-UA's (close: within 0.01)",
          _et),
    Claim("camels", "camels", "dPL at least matches established calibration on CAMELS streamflow",
          "VIC: dPL gz NSE ≈ 0.44 vs MPR 0.32", "best dPL median NSE ≥ per-basin SCE-UA's (close: within 0.01)",
          _camels),
    Claim("pub_dpl8", "global_pub", "In ungauged basins dPL beats linear transfer functions with the same 8 attributes",
          "median KGE 0.56 vs Beck 0.48", "dPL-8 > LTF-8 (close: within 0.01)", _pub_dpl8),
    Claim("pub_dpl27", "global_pub", "More attributes help dPL in ungauged basins", "27 attributes ≈ 0.60 vs 0.56",
          "dPL-27 ≥ dPL-8 (close: within 0.02)", _pub_dpl27),
    Claim("pub_fraction", "global_pub", "dPL matches the regionalisation baseline with a fraction of the data",
          "≈ 12.5 % of the training basins", "fraction ≤ 20 % (close: ≤ 50 %)", _pub_fraction),
)


def comparison_table(summaries: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per claim: the paper's statement and number, ours, the data behind ours, the verdict."""
    rows = []
    for c in CLAIMS:
        s = summaries.get(c.chapter)
        ours, verdict, data = "—", NOT_RUN, "—"
        if s is not None:
            run = s.get("run", {})
            data = f"{run.get('data_source', '?')} data, profile {run.get('profile', '?')}: {run.get('data_description') or '?'}"
            try:
                ours, verdict = c.evaluate(s)
            except (KeyError, TypeError, ValueError) as exc:
                ours, verdict = f"summary lacks {exc}", NOT_RUN
        rows.append({"claim": c.claim, "paper": c.paper, "ours": ours, "verdict": verdict, "rule": c.rule,
                     "chapter": c.chapter, "data": data})
    return pd.DataFrame(rows)

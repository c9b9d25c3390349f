"""The paper's claims beside our numbers, read from the chapters' ``summary.json`` files only
(through the results schema, :func:`dplrepro.results.load_summaries`).

Each :class:`Claim` names the chapter whose summary holds the evidence, the paper's
statement and number. The metric, the two methods and the direction of every claim are
fixed in advance in :data:`dplrepro.evidence.CLAIM_RULES`; the chapter stores an evidence
record (difference, its 90 % bootstrap interval, the seeds) under ``claims/<key>`` of its
summary, and :func:`dplrepro.evidence.verdict` decides:

* ``reproduced``      the interval lies on the paper's side of zero;
* ``inconclusive``    the interval spans zero;
* ``not reproduced``  the interval lies on the other side (a wrong sign);
* ``not run``         the chapter has no summary for this profile (or no record for the claim).

Verdicts judge the *claim* (a comparison or a trend), not equality of absolute numbers:
our data, models and scale differ from the paper's (see each chapter), and every row says
which data it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from .evidence import CLAIM_RULES, NOT_RUN, VERDICTS, verdict

__all__ = ["CLAIMS", "Claim", "VERDICTS", "comparison_table", "format_evidence"]


@dataclass(frozen=True)
class Claim:
    """One claim of the paper: where its evidence lives and what the paper reported."""

    key: str
    chapter: str
    claim: str
    paper: str

    @property
    def rule(self) -> str:
        return CLAIM_RULES[self.key].describe()


def format_evidence(record: Mapping[str, Any]) -> str:
    """``a 0.712 vs b 0.650: +0.062 [+0.031, +0.090] (3 seeds, 30 sites)`` from an evidence record
    (``vs threshold 0.9`` where the claim compares one method with a fixed number)."""
    b = (f"{record['b']} {record['value_b']:.3f}" if record.get("b") is not None
         else f"threshold {record['threshold']:g}")
    n = record.get("n_sites")
    where = "" if n is None else f", {n if not isinstance(n, list) else ' / '.join(map(str, n))} sites"
    low, high = record["interval"]
    return (f"{record['a']} {record['value_a']:.3f} vs {b}: "
            f"{record['difference']:+.3f} [{low:+.3f}, {high:+.3f}] ({len(record['seeds'])} seeds{where})")


CLAIMS: tuple[Claim, ...] = (
    Claim("surrogate", "surrogate", "An LSTM surrogate reproduces VIC's surface soil moisture", "median corr ≈ 0.92"),
    Claim("smap_temporal", "soil_moisture", "dPL ≥ SCE-UA against SMAP, temporal test", "dPL slightly better"),
    Claim("smap_spatial", "soil_moisture", "dPL generalises in space, SCE-UA does not (spatial test)",
          "dPL's error barely grows; SCE-UA's does"),
    Claim("cost_density", "scaling_curves", "dPL's forward runs per site to the threshold fall with data; SCE-UA's do not",
          "s16 ≈ 900 → s4 < 50 runs to RMSE 0.05"),
    Claim("rmse_density", "scaling_curves", "dPL's final RMSE falls with training density", "s16 0.047 → s4 0.044"),
    Claim("et", "evapotranspiration", "dPL improves an uncalibrated variable (ET): NSE", "NSE 0.55 vs 0.38 (gz vs SCE-UA)"),
    Claim("et_corr", "evapotranspiration", "dPL improves an uncalibrated variable (ET): correlation",
          "corr 0.75 vs 0.69 (gz vs SCE-UA)"),
    Claim("camels", "camels", "dPL (gz) at least matches established calibration on CAMELS streamflow",
          "VIC: dPL gz NSE ≈ 0.44 vs MPR 0.32"),
    Claim("pub_dpl8", "global_pub", "In ungauged basins dPL beats linear transfer functions with the same 8 attributes",
          "median KGE 0.56 vs Beck 0.48"),
    Claim("pub_dpl27", "global_pub", "More attributes help dPL in ungauged basins", "27 attributes ≈ 0.60 vs 0.56"),
    Claim("pub_fraction", "global_pub", "dPL matches the regionalisation baseline with a fraction of the data",
          "≈ 12.5 % of the training basins"),
)


def comparison_table(summaries: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per claim: the paper's statement and number, ours with its interval and seeds,
    the verdict, the rule, and the data behind ours."""
    rows = []
    for c in CLAIMS:
        s = summaries.get(c.chapter)
        ours, result, data, record = "—", NOT_RUN, "—", None
        if s is not None:
            run = s.get("run", {})
            data = f"{run.get('data_source', '?')} data, profile {run.get('profile', '?')}: {run.get('data_description') or '?'}"
            record = (s.get("claims") or {}).get(c.key)
            result = verdict(record)
            ours = format_evidence(record) if result != NOT_RUN else "summary has no evidence for this claim"
        rows.append({"key": c.key, "claim": c.claim, "paper": c.paper, "ours": ours, "verdict": result,
                     "seeds": len(record["seeds"]) if result != NOT_RUN else 0,
                     "difference": record["difference"] if result != NOT_RUN else None,
                     "interval": record["interval"] if result != NOT_RUN else None,
                     "rule": c.rule, "chapter": c.chapter, "data": data})
    return pd.DataFrame(rows)

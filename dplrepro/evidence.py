"""Evidence for a claim: the difference between two methods over sites and seeds, its
bootstrap interval, and the verdict rule -- fixed before any run.

Every claim of the paper that a chapter tests is a :class:`ClaimRule` in
:data:`CLAIM_RULES`: which metric, which two methods (``a`` minus ``b``), and on which side
of zero the paper puts the difference. A chapter computes an evidence record with
:func:`paired_evidence` (both methods scored at the same sites), :func:`unpaired_evidence`
(different site sets, e.g. two training densities) or :func:`seed_evidence` (one number
per seed, e.g. a cost ratio), and stores it in its ``summary.json`` under
``claims/<key>``. :func:`verdict` turns a record into one of

* ``reproduced``      the whole interval lies on the paper's side of zero;
* ``inconclusive``    the interval spans zero (the estimate's sign is shown, not judged);
* ``not reproduced``  the whole interval lies on the other side (a wrong sign);
* ``not run``         no record (or no number in it).

Intervals are percentile bootstraps (level 90 %, 2,000 resamples, seeded). Scores of a
site are first averaged over the seeds; the statistic (median by default) is then
recomputed on each resample of sites -- the same resample for both methods when paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["CLAIM_RULES", "ClaimRule", "INCONCLUSIVE", "LEVEL", "NOT_REPRODUCED", "NOT_RUN", "REPRODUCED",
           "VERDICTS", "convergence", "paired_evidence", "tail_change", "seed_evidence", "unpaired_evidence", "verdict"]

REPRODUCED, INCONCLUSIVE, NOT_REPRODUCED, NOT_RUN = "reproduced", "inconclusive", "not reproduced", "not run"
VERDICTS = (REPRODUCED, INCONCLUSIVE, NOT_REPRODUCED, NOT_RUN)
#: Two-sided level of every interval.
LEVEL = 0.90
N_BOOT = 2000
_STATISTICS = {"median": np.nanmedian, "mean": np.nanmean}


@dataclass(frozen=True)
class ClaimRule:
    """How one claim is measured: ``metric`` of method ``a`` minus method ``b`` (or minus the
    ``threshold`` when ``b`` is None), and the sign the paper's claim gives that difference."""

    key: str
    metric: str
    a: str
    b: str | None
    paper_sign: int                 # +1: the paper says a > b; -1: a < b
    statistic: str = "median"       # over sites
    threshold: float | None = None  # for a claim about one method's level (``b`` is None)
    over: str = "sites"             # what the interval resamples: sites or seeds

    def describe(self) -> str:
        """The rule in words, for the Results page."""
        rhs = f"{self.threshold:g}" if self.b is None else self.b
        side = ">" if self.paper_sign > 0 else "<"
        return (f"{self.statistic} {self.metric}: {self.a} − {rhs} {side} 0; reproduced if the {LEVEL:.0%} interval "
                f"(bootstrap over {self.over}) lies on that side, inconclusive if it spans 0, not reproduced if it "
                f"lies on the other side")


#: Every claim's rule, fixed before the runs, as the paper states the claim.
CLAIM_RULES: dict[str, ClaimRule] = {r.key: r for r in (
    ClaimRule("surrogate", "correlation with the VIC-style model (surface soil moisture)", "LSTM surrogate", None,
              +1, threshold=0.90),
    ClaimRule("smap_temporal", "RMSE vs SMAP, temporal test (m³/m³)", "dPL gA (surrogate)", "SCE-UA (surrogate)", -1),
    ClaimRule("smap_spatial", "RMSE vs SMAP, spatial test (m³/m³)", "dPL gA (surrogate)", "SCE-UA (surrogate)", -1),
    ClaimRule("cost_density", "log ratio of forward runs per cell to the threshold, densest / sparsest",
              "dPL gA (surrogate)", "SCE-UA (surrogate)", -1, statistic="mean", over="seeds"),
    ClaimRule("rmse_density", "final training RMSE (m³/m³), densest − sparsest setting", "densest", "sparsest", -1,
              over="sites (unpaired)"),
    ClaimRule("et", "ET NSE against the (hidden) truth, training cells", "dPL gz", "SCE-UA", +1),
    ClaimRule("et_corr", "ET correlation against the (hidden) truth, training cells", "dPL gz", "SCE-UA", +1),
    ClaimRule("camels", "test NSE", "dPL-HBV gz", "SCE-UA HBV", +1),
    ClaimRule("pub_dpl8", "test KGE in held-out basins", "dPL-8", "LTF-8", +1),
    ClaimRule("pub_dpl27", "test KGE in held-out basins", "dPL-27", "dPL-8", +1),
    ClaimRule("pub_fraction", "test KGE in held-out basins, dPL-8 at 1/8 of the training basins − LTF-8 with all", "dPL-8 (1/8)",
              "LTF-8 (all)", +1),
)}


def _seed_mean(x: Any) -> np.ndarray:
    """``[site]`` or ``[seed, site]`` -> per-site mean over seeds ``[site]``."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise ValueError(f"scores must be [site] or [seed, site], got shape {x.shape}")
    with np.errstate(invalid="ignore"):
        return np.nanmean(x, axis=0) if np.isfinite(x).any() else np.full(x.shape[1], np.nan)


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = 100 * (1 - level) / 2
    return float(np.nanpercentile(values, tail)), float(np.nanpercentile(values, 100 - tail))


def _per_seed(x: Any, stat) -> list[float]:
    x = np.asarray(x, dtype=float)
    return [float(stat(row)) for row in (x if x.ndim == 2 else x[None])]


def _record(rule: ClaimRule, difference: float, low: float, high: float, seeds: Sequence[int], **extra) -> dict:
    return {"metric": rule.metric, "a": rule.a, "b": rule.b, "threshold": rule.threshold,
            "paper_sign": rule.paper_sign, "statistic": rule.statistic, "over": rule.over,
            "seeds": [int(s) for s in seeds], "difference": float(difference), "interval": [float(low), float(high)],
            "level": LEVEL, **extra}


def paired_evidence(key: str, a: Any, b: Any | None, seeds: Sequence[int], *, seed: int = 0,
                    n_boot: int = N_BOOT) -> dict:
    """Evidence for claim ``key`` from scores of the same sites: ``a``, ``b`` ``[seed, site]``
    (or ``[site]``); ``b=None`` compares ``a`` with the rule's threshold. The difference is
    ``statistic(mean over seeds of a) − statistic(... of b)``; sites where either is NaN are
    left out (counted in ``n_sites_dropped``)."""
    rule = CLAIM_RULES[key]
    stat = _STATISTICS[rule.statistic]
    sa = _seed_mean(a)
    sb = np.full_like(sa, rule.threshold) if b is None else _seed_mean(b)
    if sa.shape != sb.shape:
        raise ValueError(f"claim {key!r}: a has {sa.shape[0]} sites, b {sb.shape[0]}; a paired test needs the same")
    ok = np.isfinite(sa) & np.isfinite(sb)
    sa, sb = sa[ok], sb[ok]
    if sa.size == 0:
        raise ValueError(f"claim {key!r}: no site has finite scores for both methods")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, sa.size, size=(n_boot, sa.size))
    boot = np.array([stat(sa[i]) - stat(sb[i]) for i in idx])
    low, high = _percentiles(boot, LEVEL)
    per_a = _per_seed(a, stat)
    per_b = [rule.threshold] * len(per_a) if b is None else _per_seed(b, stat)
    if len(per_b) == 1 < len(per_a):   # one b for every seed of a
        per_b = per_b * len(per_a)
    return _record(rule, stat(sa) - stat(sb), low, high, seeds, paired=True, n_sites=int(sa.size),
                   n_sites_dropped=int((~ok).sum()), value_a=float(stat(sa)),
                   value_b=float(stat(sb)), per_seed_a=per_a, per_seed_b=per_b,
                   per_seed_difference=[float(x - y) for x, y in zip(per_a, per_b)])


def unpaired_evidence(key: str, a: Any, b: Any, seeds: Sequence[int], *, seed: int = 0,
                      n_boot: int = N_BOOT) -> dict:
    """Like :func:`paired_evidence` for two different site sets: each is resampled on its own."""
    rule = CLAIM_RULES[key]
    stat = _STATISTICS[rule.statistic]
    sa, sb = _seed_mean(a), _seed_mean(b)
    sa, sb = sa[np.isfinite(sa)], sb[np.isfinite(sb)]
    if sa.size == 0 or sb.size == 0:
        raise ValueError(f"claim {key!r}: a method has no finite score")
    rng = np.random.default_rng(seed)
    boot = np.array([stat(sa[rng.integers(0, sa.size, sa.size)]) - stat(sb[rng.integers(0, sb.size, sb.size)])
                     for _ in range(n_boot)])
    low, high = _percentiles(boot, LEVEL)
    per_a, per_b = _per_seed(a, stat), _per_seed(b, stat)
    return _record(rule, stat(sa) - stat(sb), low, high, seeds, paired=False, n_sites=[int(sa.size), int(sb.size)],
                   value_a=float(stat(sa)), value_b=float(stat(sb)), per_seed_a=per_a, per_seed_b=per_b,
                   per_seed_difference=[float(x - y) for x, y in zip(per_a, per_b)])


def seed_evidence(key: str, a: Sequence[float], b: Sequence[float], seeds: Sequence[int], *, seed: int = 0,
                  n_boot: int = N_BOOT) -> dict:
    """Evidence from one number per seed and method (e.g. a cost ratio): the mean over seeds of
    ``a − b`` and a bootstrap interval over seeds (coarse with 3 seeds: it spans their range)."""
    rule = CLAIM_RULES[key]
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or a.size != len(seeds):
        raise ValueError(f"claim {key!r}: need one value per seed for a and b, got {a.shape}, {b.shape}")
    d = a - b
    if not np.isfinite(d).all():
        raise ValueError(f"claim {key!r}: a seed lacks a value ({d.tolist()})")
    rng = np.random.default_rng(seed)
    boot = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    low, high = _percentiles(boot, LEVEL)
    return _record(rule, float(d.mean()), low, high, seeds, paired=True, n_sites=None, value_a=float(a.mean()),
                   value_b=float(b.mean()), per_seed_a=a.tolist(), per_seed_b=b.tolist(),
                   per_seed_difference=d.tolist())


def tail_change(values: Sequence[float], tail: float = 0.2) -> float:
    """Relative improvement of a decreasing curve (loss, error) over its last ``tail`` share of
    points: ``(y[-k-1] - y[-1]) / |y[-k-1]|``; NaN for fewer than 3 points."""
    y = np.asarray(values, dtype=float)
    y = y[np.isfinite(y)]
    if y.size < 3:
        return float("nan")
    k = max(1, int(round(tail * (y.size - 1))))
    ref = y[-k - 1]
    return float((ref - y[-1]) / abs(ref)) if ref != 0 else float("nan")


def convergence(values: Sequence[float], tail: float = 0.2, tolerance: float = 0.01) -> dict:
    """``{"tail_change": ..., "flattened": ...}``: a curve has flattened when its last ``tail``
    of the budget improved it by less than ``tolerance`` (relative)."""
    change = tail_change(values, tail)
    return {"tail_change": change, "flattened": bool(np.isfinite(change) and change < tolerance),
            "tail": tail, "tolerance": tolerance}


def verdict(record: Mapping[str, Any] | None) -> str:
    """The verdict of an evidence record (see the module docstring)."""
    if not record or record.get("difference") is None or record.get("interval") is None:
        return NOT_RUN
    sign = int(record["paper_sign"])
    d = sign * float(record["difference"])
    low, high = sorted(sign * float(v) for v in record["interval"])
    if not np.isfinite(d) or not (np.isfinite(low) and np.isfinite(high)):
        return NOT_RUN
    if low > 0:
        return REPRODUCED
    if high <= 0:
        return NOT_REPRODUCED
    return INCONCLUSIVE

"""Scaling curves (the paper's Fig. 9): accuracy and cost against the amount of training data.

The chapter *Scaling curves* reads the results of two other chapters and adds what they
did not compute:

* ``results/soil_moisture/<profile>/summary.json`` -- its ``training`` records (one per
  setting and method: ``density_n``, ``train_years``, ``train_cells``,
  ``final_train_rmse`` in m³/m³, ``runs_to_rmse_0.05`` in forward runs per cell, null if
  never reached). The curves need dPL gA and SCE-UA (both through the surrogate) at every
  density of that run with one training year, and dPL gA with two training years at the
  sparsest density; points the soil-moisture run did not make (by default it runs SCE-UA
  at one density only, and one training year) are computed here with the same function
  the soil-moisture chapter uses (:func:`dplrepro.experiments.soil_moisture.train_setting_method`).
* ``results/global_pub/<profile>/summary.json`` -- its ``fraction_curve`` (median test KGE
  of dPL8 and LTF8 against the fraction of training basins).

Both summaries are read through the results schema (:func:`dplrepro.results.read_summary`);
the book runner (:func:`dplrepro.book.ensure_chapter`) reruns a chapter whose summary is
missing or was made on other data or with another seed. Every curve point says where it
came from (``source``: ``"soil_moisture"`` or ``"scaling_curves"``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..evidence import seed_evidence, unpaired_evidence
from ..utils import clean_json
from . import soil_moisture as sm

log = logging.getLogger("dplrepro.experiments")

__all__ = [
    "CHAPTER", "SOIL_MOISTURE", "GLOBAL_PUB", "DPL", "SCEUA", "RUNS", "PAPER_REFERENCE", "SHRINK_RATIO",
    "required_points", "missing_points", "training_settings", "with_training_settings", "compute_points",
    "combine_records", "density_curve", "length_curve", "fraction_curve", "cost_ratio",
    "sceua_first_record", "derived_numbers", "reading", "chapter_summary", "seed_means", "runs_to_level",
    "cost_ratios", "scaling_claims", "THRESHOLD_SHARE",
]

CHAPTER = "scaling_curves"
SOIL_MOISTURE = "soil_moisture"
GLOBAL_PUB = "global_pub"
DPL = "dPL gA (surrogate)"
SCEUA = "SCE-UA (surrogate)"
#: Key of the cost to reach the functional threshold (forward runs per cell to median training RMSE < 0.05 m³/m³).
RUNS = "runs_to_rmse_0.05"
#: The paper's numbers (Fig. 9 and the PUB experiment): RMSE in m³/m³, runs per cell, fraction of basins.
PAPER_REFERENCE = {**sm.PAPER_REFERENCE, "pub_fraction_to_match": 0.125}
#: A cost "shrinks" with more data when the densest/sparsest ratio is below this (20 % fewer runs);
#: between it and its inverse the cost is called flat.
SHRINK_RATIO = 0.8
CURVE_KEYS = ("method", "density_n", "train_cells", "train_years", "seed", "final_train_rmse", RUNS, "wall_time_s",
              "source")
#: Per-seed arrays a training record carries (cost curve, final per-cell RMSE), kept for the claims.
ARRAY_KEYS = ("curve_runs", "curve_rmse", "cell_rmse")
#: The training settings a soil-moisture run records and the scaling curves reuse.
SETTING_KEYS = ("epochs", "sceua_maxn", "surrogate_rounds", "surrogate_epochs", "n_seeds")
#: The cost claim's threshold, per method and seed: this share of the way from the sparsest
#: setting's first error to the worse of the two settings' final errors -- a level both
#: settings reach by construction, and one SCE-UA has to work for beyond its random start.
THRESHOLD_SHARE = 0.9


# --------------------------------------------------------------------------- numbers
def _number(value: Any) -> float | None:
    """``float(value)``, or None for None, NaN and ±inf."""
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# --------------------------------------------------------------------------- soil-moisture points
def _key(rec: Mapping) -> tuple[str, int, int]:
    return (str(rec["method"]), int(rec["density_n"]), int(rec["train_years"]))


def _seeds_of(summary: Mapping) -> set[int]:
    return {int(s) for s in summary.get("seeds", [])}


def required_points(summary: Mapping) -> list[dict]:
    """Points the curves need from a soil-moisture run: dPL gA and SCE-UA at each of its
    densities with 1 training year, and dPL gA with 2 years at the sparsest density
    (largest ``density_n``). Each is ``{"method", "density_n", "train_years"}``."""
    densities = sorted({int(n) for n in summary["densities"]}, reverse=True)  # sparsest first
    points = [{"method": m, "density_n": n, "train_years": 1} for m in (DPL, SCEUA) for n in densities]
    points.append({"method": DPL, "density_n": densities[0], "train_years": 2})
    return points


def missing_points(summary: Mapping) -> list[dict]:
    """The :func:`required_points` that lack a record of some seed of the run in the summary's
    ``training`` list (a point is computed for every seed at once)."""
    seeds = _seeds_of(summary)
    have: dict[tuple, set] = {}
    for r in summary.get("training", []):
        have.setdefault(_key(r), set()).add(int(r.get("seed", -1)))
    return [p for p in required_points(summary) if not seeds or not seeds <= have.get(_key(p), set())]


def training_settings(summary: Mapping, config: sm.SoilMoistureConfig) -> tuple[dict, str]:
    """Settings to compute missing points with: the soil-moisture run's ``settings`` (epochs,
    sceua_maxn, surrogate_rounds, surrogate_epochs) when it recorded them, else this chapter's
    ``config`` (surrogate settings None: the surrogate profile's). Returns ``(settings, where
    they came from)``."""
    recorded = summary.get("settings")
    if isinstance(recorded, Mapping) and all(isinstance(recorded.get(k), int) for k in SETTING_KEYS):
        return {k: int(recorded[k]) for k in SETTING_KEYS}, SOIL_MOISTURE
    own = {"epochs": config.training.epochs, "sceua_maxn": config.sceua_maxn,
           "surrogate_rounds": config.surrogate_rounds, "surrogate_epochs": config.surrogate_epochs,
           "n_seeds": config.n_seeds}
    return own, CHAPTER


def with_training_settings(config: sm.SoilMoistureConfig, settings: Mapping[str, Any]) -> sm.SoilMoistureConfig:
    """``config`` with the :func:`training_settings` applied."""
    return replace(config, training=replace(config.training, epochs=settings["epochs"]), sceua_maxn=settings["sceua_maxn"],
                   surrogate_rounds=settings["surrogate_rounds"], surrogate_epochs=settings["surrogate_epochs"],
                   n_seeds=settings.get("n_seeds") or config.n_seeds)


def compute_points(points: Iterable[Mapping], grid, surrogate, config, *, device: str = "auto",
                   progress: bool = False) -> list[dict]:
    """Train each point (method, density_n, train_years) as the soil-moisture chapter does
    (:func:`~dplrepro.experiments.soil_moisture.train_setting_method`, no tests); return the
    records (RMSE in m³/m³, runs per cell, wall time in s) with ``source`` ``scaling_curves``."""
    records, settings = [], {}
    for p in points:
        where = (int(p["density_n"]), int(p["train_years"]))
        if where not in settings:
            settings[where] = sm.training_setting(grid, *where)
        out = sm.train_setting_method(grid, settings[where], p["method"], surrogate, config, device=device, tests=(),
                                      progress=progress)
        records.extend({**r, "source": CHAPTER} for r in out.records)
        log.info("computed %s: %s", p, [r["final_train_rmse"] for r in out.records])
    return records


def combine_records(summary: Mapping, computed: Sequence[Mapping]) -> list[dict]:
    """The soil-moisture run's records (``source`` soil_moisture) plus those computed here, one
    per seed with its arrays (:data:`ARRAY_KEYS`); NaN and missing numbers become None."""
    out = []
    for rec, source in [(r, SOIL_MOISTURE) for r in summary.get("training", [])] + [(r, CHAPTER) for r in computed]:
        row = {k: rec.get(k) for k in CURVE_KEYS + ARRAY_KEYS if k != "source"}
        for k in ("final_train_rmse", RUNS, "wall_time_s"):
            row[k] = _number(row[k])
        row["source"] = rec.get("source", source)
        out.append(row)
    return out


def seed_means(records: Iterable[Mapping]) -> list[dict]:
    """One point per (method, density, training years): mean over seeds of the final training
    RMSE, median over seeds of the runs to RMSE < 0.05 (None if any seed never reached it),
    ``n_seeds``; no arrays."""
    groups: dict[tuple, list] = {}
    for r in records:
        groups.setdefault(_key(r), []).append(r)
    out = []
    for rs in groups.values():
        runs = [_number(r.get(RUNS)) for r in rs]
        rmses = [v for v in (_number(r.get("final_train_rmse")) for r in rs) if v is not None]
        out.append({"method": rs[0]["method"], "density_n": int(rs[0]["density_n"]), "train_cells": rs[0]["train_cells"],
                    "train_years": int(rs[0]["train_years"]), "n_seeds": len(rs),
                    "final_train_rmse": sum(rmses) / len(rmses) if rmses else None,
                    RUNS: None if any(v is None for v in runs) else sorted(runs)[len(runs) // 2],
                    "wall_time_s": _number(rs[0].get("wall_time_s")), "source": rs[0].get("source")})
    return out


def runs_to_level(runs: Sequence[float], error: Sequence[float], level: float) -> float | None:
    """First cost at which the running minimum of ``error`` is at or below ``level``; None if never."""
    best = math.inf
    for n, e in zip(runs, error):
        if e is not None and math.isfinite(e):
            best = min(best, e)
        if best <= level:
            return float(n)
    return None


def cost_ratios(records: Iterable[Mapping], method: str, train_years: int = 1) -> tuple[list[int], list[float]]:
    """Per seed, ``log(runs to the threshold at the densest density / at the sparsest)`` of
    ``method`` (threshold: :data:`THRESHOLD_SHARE`, per seed, from both settings' curves).
    Returns ``(seeds, log ratios)`` for the seeds that have both settings' curves."""
    pts = [r for r in records if r["method"] == method and int(r["train_years"]) == train_years
           and r.get("curve_runs")]
    if not pts:
        return [], []
    sparse_n, dense_n = max(int(r["density_n"]) for r in pts), min(int(r["density_n"]) for r in pts)
    by = {(int(r["density_n"]), int(r["seed"])): r for r in pts}
    seeds, out = [], []
    for seed in sorted({int(r["seed"]) for r in pts}):
        sparse, dense = by.get((sparse_n, seed)), by.get((dense_n, seed))
        if sparse is None or dense is None or sparse_n == dense_n:
            continue
        start, worse_end = sparse["curve_rmse"][0], max(min(sparse["curve_rmse"]), min(dense["curve_rmse"]))
        level = worse_end + (1 - THRESHOLD_SHARE) * (start - worse_end)
        a = runs_to_level(dense["curve_runs"], dense["curve_rmse"], level)
        b = runs_to_level(sparse["curve_runs"], sparse["curve_rmse"], level)
        if a and b:
            seeds.append(seed)
            out.append(math.log(a / b))
    return seeds, out


def scaling_claims(records: Sequence[Mapping], train_years: int = 1) -> dict:
    """The scaling claims' evidence (:mod:`dplrepro.evidence`): ``cost_density`` (dPL's log
    cost ratio densest/sparsest minus SCE-UA's, per seed) and ``rmse_density`` (dPL's final
    per-cell training RMSE, densest minus sparsest setting, unpaired over cells). A claim
    whose points are missing is left out (the Results page says "not run")."""
    out = {}
    seeds_d, dpl = cost_ratios(records, DPL, train_years)
    seeds_s, sce = cost_ratios(records, SCEUA, train_years)
    common = sorted(set(seeds_d) & set(seeds_s))
    if common:
        a = [dpl[seeds_d.index(s)] for s in common]
        b = [sce[seeds_s.index(s)] for s in common]
        out["cost_density"] = seed_evidence("cost_density", a, b, common, seed=common[0])
    pts = [r for r in records if r["method"] == DPL and int(r["train_years"]) == train_years and r.get("cell_rmse")]
    if len({int(r["density_n"]) for r in pts}) >= 2:
        dense_n, sparse_n = min(int(r["density_n"]) for r in pts), max(int(r["density_n"]) for r in pts)
        dense = [r["cell_rmse"] for r in sorted(pts, key=lambda r: r["seed"]) if int(r["density_n"]) == dense_n]
        sparse = [r["cell_rmse"] for r in sorted(pts, key=lambda r: r["seed"]) if int(r["density_n"]) == sparse_n]
        seeds = sorted({int(r["seed"]) for r in pts})
        out["rmse_density"] = unpaired_evidence("rmse_density", np.array(dense, float), np.array(sparse, float), seeds,
                                                seed=seeds[0])
    return out


def density_curve(records: Iterable[Mapping], method: str, train_years: int = 1) -> list[dict]:
    """Points of ``method`` with ``train_years`` of training, ordered by training cells (sparsest first)."""
    pts = [dict(r) for r in records if r["method"] == method and int(r["train_years"]) == train_years]
    return sorted(pts, key=lambda r: (r["train_cells"], -r["density_n"]))


def length_curve(records: Iterable[Mapping], method: str = DPL, density_n: int | None = None) -> list[dict]:
    """Points of ``method`` at one density (default: the sparsest that has more than one
    training length), ordered by training years."""
    pts = [dict(r) for r in records if r["method"] == method]
    if density_n is None:
        lengths: dict[int, set] = {}
        for r in pts:
            lengths.setdefault(int(r["density_n"]), set()).add(int(r["train_years"]))
        several = [n for n, ys in lengths.items() if len(ys) > 1]
        if not several:
            return []
        density_n = max(several)
    return sorted((r for r in pts if int(r["density_n"]) == density_n), key=lambda r: r["train_years"])


def fraction_curve(summary: Mapping) -> list[dict]:
    """The PUB chapter's ``fraction_curve`` (median test KGE, -; fraction of training basins),
    ordered by method then fraction, with ``source`` global_pub."""
    rows = [{"method": r["method"], "fraction": float(r["fraction"]), "median_kge": _number(r["median_kge"]),
             "n_train_basins": int(r["n_train_basins"]), "source": GLOBAL_PUB} for r in summary["fraction_curve"]]
    return sorted(rows, key=lambda r: (r["method"], r["fraction"]))


# --------------------------------------------------------------------------- derived numbers
def cost_ratio(curve: Sequence[Mapping], key: str = RUNS, *, by: str = "train_cells") -> float | None:
    """``key`` at the point with the most ``by`` divided by ``key`` at the point with the fewest;
    None with fewer than two points, a missing value or a zero denominator."""
    pts = [p for p in curve if p.get(by) is not None]
    if len(pts) < 2:
        return None
    lo, hi = min(pts, key=lambda p: p[by]), max(pts, key=lambda p: p[by])
    if lo[by] == hi[by]:
        return None
    a, b = _number(hi.get(key)), _number(lo.get(key))
    if a is None or b is None or b == 0:
        return None
    return a / b


def _difference(curve: Sequence[Mapping], key: str, by: str) -> float | None:
    pts = [p for p in curve if p.get(by) is not None]
    if len(pts) < 2:
        return None
    lo, hi = min(pts, key=lambda p: p[by]), max(pts, key=lambda p: p[by])
    a, b = _number(hi.get(key)), _number(lo.get(key))
    return None if a is None or b is None or lo[by] == hi[by] else a - b


def _trend(ratio: float | None) -> str | None:
    if ratio is None:
        return None
    if ratio < SHRINK_RATIO:
        return "shrinks"
    return "grows" if ratio > 1 / SHRINK_RATIO else "flat"


def sceua_first_record(ngs: int, n_params: int) -> int:
    """Model runs per cell in SCE-UA's initial population (``ngs`` complexes of ``2 n + 1``
    points, Duan et al. 1994): the first point of its cost curve, so the smallest
    runs-to-threshold it can report."""
    return int(ngs) * (2 * int(n_params) + 1)


def derived_numbers(density: Mapping[str, Sequence[Mapping]], length: Sequence[Mapping],
                    pub: Mapping | None, sceua_first: int | None = None) -> dict:
    """Headline numbers of the curves (None where a curve lacks the points).

    ``*_runs_ratio_dense_to_sparse``: runs per cell to RMSE < 0.05 at the densest density
    divided by the sparsest (paper, dPL: 50/900 ≈ 0.056); ``*_rmse_change_dense_minus_sparse``
    in m³/m³ (paper, dPL: 0.044 - 0.047 = -0.003); ``*_cost_trend``: shrinks | flat | grows
    (see :data:`SHRINK_RATIO`); the same for 2 vs 1 training years; PUB: LTF8's median KGE
    on all basins and the smallest fraction at which dPL8 matches it (paper: 0.125).
    With ``sceua_first`` (:func:`sceua_first_record`), ``sceua_at_first_record`` says whether
    every SCE-UA point met the threshold within its initial random population.
    """
    out: dict[str, Any] = {}
    for tag, method in (("dpl", DPL), ("sceua", SCEUA)):
        curve = density.get(method, [])
        ratio = cost_ratio(curve)
        out[f"{tag}_n_densities"] = len(curve)
        out[f"{tag}_runs_ratio_dense_to_sparse"] = ratio
        out[f"{tag}_rmse_change_dense_minus_sparse"] = _difference(curve, "final_train_rmse", "train_cells")
        out[f"{tag}_cost_trend"] = _trend(ratio)
    if sceua_first is not None:
        runs = [_number(p.get(RUNS)) for p in density.get(SCEUA, [])]
        out["sceua_first_record_runs"] = int(sceua_first)
        out["sceua_at_first_record"] = bool(runs) and all(r is not None and r <= sceua_first for r in runs)
    ratio = cost_ratio(length, by="train_years")
    out["dpl_runs_ratio_2yr_to_1yr"] = ratio
    out["dpl_rmse_change_2yr_minus_1yr"] = _difference(length, "final_train_rmse", "train_years")
    out["dpl_length_cost_trend"] = _trend(ratio)
    out["paper_dpl_runs_ratio_s4_to_s16"] = PAPER_REFERENCE["runs_to_0.05_s4"] / PAPER_REFERENCE["runs_to_0.05_s16"]
    out["paper_dpl_rmse_change_s4_minus_s16"] = round(PAPER_REFERENCE["rmse_s4"] - PAPER_REFERENCE["rmse_s16"], 4)
    if pub is not None:
        out["pub_median_kge_ltf8"] = _number(pub.get("median_kge_ltf8"))
        out["pub_fraction_to_match_ltf"] = _number(pub.get("fraction_to_match_ltf"))
        full = [r for r in fraction_curve(pub) if r["method"] == "dpl8" and r["fraction"] == 1.0]
        out["pub_median_kge_dpl8_all"] = full[0]["median_kge"] if full else None
    return clean_json(out)


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def reading(derived: Mapping, density: Mapping[str, Sequence[Mapping]]) -> str:
    """Markdown sentences that read the derived numbers against the paper's message
    (dPL's cost per cell falls with more cells, SCE-UA's does not), saying so where they disagree."""
    lines = []
    for tag, method in (("sceua", SCEUA), ("dpl", DPL)):
        curve = density.get(method, [])
        name = "SCE-UA" if tag == "sceua" else "dPL gA"
        if len(curve) < 2:
            lines.append(f"* {name}: fewer than two densities, no trend to read.")
            continue
        a, b = curve[0]["train_cells"], curve[-1]["train_cells"]
        text = (f"* {name}, {a} → {b} training cells: final training RMSE changes by "
                f"{_fmt(derived.get(f'{tag}_rmse_change_dense_minus_sparse'), '+.4f')} m³/m³")
        if tag == "dpl":
            text += f" (paper s16 → s4: {derived['paper_dpl_rmse_change_s4_minus_s16']:+.4f})"
        trend, ratio = derived.get(f"{tag}_cost_trend"), derived.get(f"{tag}_runs_ratio_dense_to_sparse")
        if trend is None:
            text += ("; the runs to RMSE < 0.05 cannot be compared (the threshold was not reached at both ends), "
                     "so this run says nothing about the cost trend.")
        elif tag == "sceua" and derived.get("sceua_at_first_record"):
            text += (f"; at every density its median cell met RMSE < 0.05 within the initial random population "
                     f"({derived['sceua_first_record_runs']} runs per cell, the first point of its cost curve), so "
                     f"the curve cannot resolve a smaller cost: flat by construction here, not a measured trend.")
        elif tag == "sceua":
            text += f"; runs per cell to RMSE < 0.05 change by a factor {_fmt(ratio)}: " + {
                "flat": "its per-cell cost does **not** shrink — as expected, since each cell is calibrated alone "
                        "and more cells only means more calibrations of the same kind.",
                "shrinks": "it shrinks, which the method cannot explain (cells are calibrated independently); read "
                           "it as a difference between the sets of cells, not as learning from data.",
                "grows": "it grows; cells are calibrated independently, so this reflects which cells were added.",
            }[trend]
        else:
            text += (f"; runs per cell to RMSE < 0.05 change by a factor {_fmt(ratio)} (paper "
                     f"{derived['paper_dpl_runs_ratio_s4_to_s16']:.3f}): " + {
                         "shrinks": "its cost per cell shrinks with more cells, in the direction of the paper's "
                                    "big-data effect (compare the sizes: one seed per point).",
                         "flat": "its cost per cell does **not** shrink here, unlike the paper.",
                         "grows": "its cost per cell **grows** here, the opposite of the paper.",
                     }[trend])
        lines.append(text)
    if derived.get("dpl_runs_ratio_2yr_to_1yr") is not None or derived.get("dpl_rmse_change_2yr_minus_1yr") is not None:
        lines.append(f"* Training length (dPL gA, sparsest density), 2 years vs 1 year: final RMSE change "
                     f"{_fmt(derived.get('dpl_rmse_change_2yr_minus_1yr'), '+.4f')} m³/m³, runs-to-threshold "
                     f"factor {_fmt(derived.get('dpl_runs_ratio_2yr_to_1yr'))}.")
    if "pub_median_kge_ltf8" in derived:
        frac = derived.get("pub_fraction_to_match_ltf")
        lines.append(f"* PUB: LTF8 on all training basins has median KGE {_fmt(derived['pub_median_kge_ltf8'])}; "
                     + (f"dPL8 matches it with {frac:.1%} of the training basins (paper: 12.5 %)." if frac is not None
                        else "dPL8 does not match it at any fraction tried (paper: with 12.5 % of the basins)."))
    return "\n".join(lines)


def chapter_summary(density: Mapping[str, Sequence[Mapping]], length: Sequence[Mapping], fraction: Sequence[Mapping],
                    pub_summary: Mapping, sm_summary: Mapping, derived: Mapping, computed: Sequence[Mapping],
                    settings: Mapping, settings_from: str, surrogate_file: str | None, inputs: Mapping,
                    claims: Mapping, seeds: Sequence[int]) -> dict:
    """The scaling-curves chapter's ``summary.json`` content (keys: :data:`dplrepro.results.SCHEMAS`):
    the curves' points, the PUB reference numbers, :func:`derived_numbers`, the points computed
    here with the settings used and where they came from, and which inputs were (re)made here
    (``inputs``: chapter -> :class:`dplrepro.book.ChapterInput`-like with ``describe()``)."""
    return clean_json({
        "seeds": [int(v) for v in seeds], "claims": dict(claims), "threshold_share": THRESHOLD_SHARE,
        "density_curve": list(density[DPL]) + list(density[SCEUA]),
        "length_curve": list(length),
        "fraction_curve": list(fraction),
        "median_kge_ltf8": pub_summary["median_kge_ltf8"],
        "fraction_to_match_ltf": pub_summary["fraction_to_match_ltf"],
        "derived": dict(derived),
        "computed_here": list({tuple(r[k] for k in ("method", "density_n", "train_years")): {
            k: r[k] for k in ("method", "density_n", "train_years")} for r in computed}.values()),
        "training_settings": {**settings, "from": settings_from},
        "surrogate_file": surrogate_file,
        "surrogate_same_as_soil_moisture": surrogate_file == sm_summary.get("surrogate_file"),
        "inputs": {name: i.describe() for name, i in inputs.items()},
        "paper_reference": PAPER_REFERENCE,
    })

"""Chapter results: ``results/<chapter>/<profile>/summary.json`` and run records.

A chapter gets one :class:`ChapterRun` from :func:`dplrepro.chapters.start_chapter`, states
which data it runs on (:meth:`ChapterRun.announce`), and ends with :meth:`ChapterRun.finish`,
which checks its headline numbers against the chapter's schema and writes them plus a record
of how they were made (profile, seed, device, data source, parameters, wall time, versions)
atomically.

**The results schema.** :data:`SCHEMAS` owns every chapter's summary keys (typed, with
units); a summary that lacks a key, has a wrong type or an undeclared key is a
:class:`SummaryError` naming the chapter and key, on writing and on reading. Everything that
reads summaries (the comparison with the paper, the scaling curves, the Reproduce page, the
book runner) reads through :func:`read_summary` / :func:`load_summaries`.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import pandas as pd

from . import __version__
from .data.checks import data_notes
from .evidence import CLAIM_RULES
from .utils import clean_json, resolve_device, write_json_atomic

RESULTS_ENV_VAR = "DPLREPRO_RESULTS"
PROFILES = ("quick", "full")
DATA_SOURCES = ("auto", "real", "synthetic")


def results_root() -> Path:
    """Folder holding every chapter's results: ``$DPLREPRO_RESULTS`` or ``<project>/results``."""
    value = os.environ.get(RESULTS_ENV_VAR, "").strip()
    if value:
        return Path(value).expanduser().resolve()
    return Path(__file__).resolve().parents[1] / "results"


#: Environment variable through which the book runner tells a chapter kernel (and itself) where
#: a run in progress writes: a JSON object ``{"<chapter>/<profile>": "<staging folder>"}``.
STAGING_ENV_VAR = "DPLREPRO_STAGED_RUNS"


def staged_runs() -> dict[str, str]:
    """The runs in progress in this process tree: ``"<chapter>/<profile>"`` -> staging folder."""
    value = os.environ.get(STAGING_ENV_VAR, "").strip()
    if not value:
        return {}
    try:
        runs = json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{STAGING_ENV_VAR} must be a JSON object chapter/profile -> folder, got {value!r:.200}") from exc
    if not isinstance(runs, dict):
        raise ValueError(f"{STAGING_ENV_VAR} must be a JSON object chapter/profile -> folder, got {value!r:.200}")
    return runs


def final_chapter_dir(chapter: str, profile: str) -> Path:
    """``results/<chapter>/<profile>/``: the outputs of the chapter's last finished run (nothing is created)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    return results_root() / chapter / profile


def chapter_dir(chapter: str, profile: str) -> Path:
    """Where the chapter's outputs are: ``results/<chapter>/<profile>/``, or -- while the chapter
    runs under the book runner -- the run's own staging folder, swapped in whole when the run
    finishes (:func:`dplrepro.book.run_chapter`), so a killed run never mixes its files with an
    older run's. Created on demand."""
    path = final_chapter_dir(chapter, profile)
    staged = staged_runs().get(f"{chapter}/{profile}")
    if staged:
        path = Path(staged)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(chapter: str, profile: str) -> Path:
    """``results/<chapter>/<profile>.cache/``: the chapter's content-keyed caches (checkpoints,
    calibrations, surrogates; :mod:`dplrepro.cache`), kept across runs -- never staged. Created on demand."""
    path = final_chapter_dir(chapter, profile).with_name(f"{profile}.cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def summary_path(chapter: str, profile: str) -> Path:
    """``summary.json`` of the chapter (in its staging folder while it runs; nothing is created)."""
    staged = staged_runs().get(f"{chapter}/{profile}")
    return (Path(staged) if staged else final_chapter_dir(chapter, profile)) / "summary.json"


class SummaryError(ValueError):
    """A ``summary.json`` lacks a key, has a key of the wrong type, or holds a key no schema names."""


_KINDS: dict[str, Callable[[Any], bool]] = {
    "number": lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list), "dict": lambda v: isinstance(v, Mapping),
    "records": lambda v: isinstance(v, list), "any": lambda v: True,
    "claims": lambda v: isinstance(v, Mapping),
}
_KIND_WORDS = {"number": "a number or null", "int": "an integer", "str": "a string", "bool": "true or false",
               "list": "a list", "dict": "an object", "records": "a list of records", "any": "anything",
               "claims": "an object: claim key -> evidence record"}


@dataclass(frozen=True)
class Key:
    """One key of a chapter's summary: its type and meaning (with units).

    ``kind``: ``number`` (int or float; ``null`` where the value is NaN), ``int``, ``str``,
    ``bool``, ``list``, ``dict``, ``records`` (a list of objects), ``any``. For ``records``,
    ``fields`` maps each required field to its kind and ``valid(record)`` returns a
    problem or None. ``nonempty``: a list that must not be empty; ``items``: the kind of a
    list's elements.
    """

    kind: str
    help: str
    fields: Mapping[str, str] = field(default_factory=dict)
    valid: Callable[[Mapping], str | None] | None = None
    nonempty: bool = False
    items: str | None = None    # the kind of every element of a ``list``

    def problem(self, value: Any) -> str | None:
        """Why ``value`` does not fit, or None."""
        if not _KINDS[self.kind](value):
            return f"must be {_KIND_WORDS[self.kind]}, found {value!r:.80}"
        if self.nonempty and not value:
            return f"must be a non-empty {'list' if self.kind != 'records' else 'list of records'}, found {value!r}"
        if self.items and not all(_KINDS[self.items](v) for v in value):
            return f"must be a non-empty list, each element {_KIND_WORDS[self.items]}, found {value!r:.80}"
        if self.kind == "claims":
            return _claims_problem(value)
        if self.kind == "records":
            for n, rec in enumerate(value):
                if not isinstance(rec, Mapping):
                    return f"[{n}] is not an object"
                lacking = [f for f in self.fields if f not in rec]
                if lacking:
                    return f"[{n}] lacks {lacking}"
                for f, kind in self.fields.items():
                    if not _KINDS[kind](rec[f]):
                        return f"[{n}]['{f}'] must be {_KIND_WORDS[kind]}, found {rec[f]!r:.80}"
                why = self.valid(rec) if self.valid else None
                if why:
                    return f"[{n}]{why}"
        return None


#: Fields every evidence record (``claims/<key>``, :mod:`dplrepro.evidence`) has.
EVIDENCE_FIELDS = ("metric", "a", "b", "paper_sign", "seeds", "difference", "interval", "level", "value_a", "value_b",
                   "per_seed_difference")


def _claims_problem(claims: Mapping) -> str | None:
    for key, rec in claims.items():
        if key not in CLAIM_RULES:
            return f"['{key}'] is no claim of dplrepro.evidence.CLAIM_RULES"
        if not isinstance(rec, Mapping):
            return f"['{key}'] is not an object"
        lacking = [f for f in EVIDENCE_FIELDS if f not in rec]
        if lacking:
            return f"['{key}'] lacks {lacking}"
        if not (isinstance(rec["interval"], list) and len(rec["interval"]) == 2):
            return f"['{key}']['interval'] must be [low, high], found {rec['interval']!r}"
        if not (isinstance(rec["seeds"], list) and rec["seeds"]):
            return f"['{key}']['seeds'] must be a non-empty list, found {rec['seeds']!r}"
    return None


def _keys(**keys: Key) -> dict[str, Key]:
    return keys


_SEEDS = Key("list", "the seeds every method ran with", nonempty=True, items="int")
_CLAIMS = Key("claims", "claim key -> evidence record (difference, 90 % interval, seeds; dplrepro.evidence)")


NUM, INT, STR = "number", "int", "str"
_PAPER = Key("dict", "the paper's numbers this chapter is compared with")
_WALL = Key("dict", "wall time per stage, s")
#: Fields of a soil-moisture training record (RMSE in m3/m3, runs in forward runs per cell).
TRAINING_RECORD = {"method": "str", "density_n": "int", "train_years": "int", "train_cells": "int",
                   "final_train_rmse": "number", "runs_to_rmse_0.05": "number"}
#: Fields of a PUB fraction-curve record.
FRACTION_RECORD = {"method": "str", "fraction": "number", "median_kge": "number", "n_train_basins": "int"}
PUB_CURVE_METHODS = ("ltf8", "dpl8")


def _fraction_record_problem(rec: Mapping) -> str | None:
    if rec["method"] not in PUB_CURVE_METHODS:
        return f"['method'] must be one of {PUB_CURVE_METHODS}, found {rec['method']!r}"
    if rec["fraction"] is None or not 0 < rec["fraction"] <= 1:
        return f"['fraction'] must be in (0, 1], found {rec['fraction']!r}"
    return None


#: Every chapter's summary keys: the one place that defines what ``summary.json`` holds.
SCHEMAS: dict[str, dict[str, Key]] = {
    "data_tour": _keys(
        n_basins=Key(INT, "CAMELS basins"), n_basins_531=Key(INT, "basins of the 531 subset"),
        n_cells=Key(INT, "SMAP cells"), smap_valid_fraction=Key(NUM, "fraction of cell-days with SMAP"),
        example_basin=Key(STR, "basin of the hydrograph"),
        example_water_year=Key("dict", "P, PET, Q of the example water year, mm"),
        median_runoff_ratio=Key(NUM, "median Q/P of the statistics basins"),
        n_stats_basins=Key(INT, "basins in the water-balance statistics"),
        basin_source=Key(STR, "real | synthetic"), grid_source=Key(STR, "real | synthetic")),
    "camels": _keys(
        seeds=_SEEDS, claims=_CLAIMS,
        n_basins=Key(INT, "basins"), train_period=Key("list", "[start, end]"), test_period=Key("list", "[start, end]"),
        median_nse_dpl_ga=Key(NUM, "median test NSE, dPL gA"), median_nse_dpl_gz=Key(NUM, "median test NSE, dPL gz"),
        median_nse_sceua=Key(NUM, "median test NSE, SCE-UA"), median_kge_dpl_ga=Key(NUM, "median test KGE, dPL gA"),
        median_kge_dpl_gz=Key(NUM, "median test KGE, dPL gz"), median_kge_sceua=Key(NUM, "median test KGE, SCE-UA"),
        median_nse_untrained_ga=Key(NUM, "median test NSE of the untrained gA network"),
        nmul=Key(INT, "HBV components of every headline method"), objective=Key(STR, "the objective of every method"),
        median_nse_extra_multi=Key(NUM, "median test NSE of the labelled extra row (multi-component dPL gz)"),
        extra_method=Key(STR, "name of the extra row"),
        sceua_budget=Key("dict", "SCE-UA's maxn, ngs, kstop and the share of basins converged before the budget"),
        convergence=Key("dict", "method -> tail_change, flattened (last 20 % of the budget improved < 1 %)"),
        epochs=Key(INT, "dPL training epochs"),
        forward_runs_per_basin_dpl=Key(NUM, "training-period forward runs per basin, dPL gA"),
        model_runs_per_basin_sceua=Key(NUM, "median model runs per basin, SCE-UA"),
        wall_time_s=_WALL, paper_reference=_PAPER),
    "surrogate": _keys(
        seeds=_SEEDS, claims=_CLAIMS,
        surrogate_median_corr=Key(NUM, "median correlation with the VIC-style model, held-out cells"),
        surrogate_median_rmse=Key(NUM, "median RMSE of surface soil moisture, m3/m3"),
        surrogate_median_corr_et=Key(NUM, "median ET correlation, held-out cells"),
        surrogate_median_corr_per_seed=Key("list", "median held-out correlation of each seed's surrogate"),
        n_refine_cells=Key(INT, "cells whose SMAP (training year only) steered the refinement"),
        surrogate_files=Key("list", "the cached surrogate of each seed"),
        rounds=Key(INT, "refinement rounds done"), per_round=Key("records", "held-out scores per round", {"round": "int"}),
        n_train_cells=Key(INT, "training cells"), n_heldout_cells=Key(INT, "held-out cells"),
        n_process_runs=Key(INT, "VIC-style runs the surrogate learnt from"),
        process_seconds_per_run=Key(NUM, "s per VIC-style cell-run"),
        surrogate_seconds_per_run=Key(NUM, "s per surrogate cell-run"),
        surrogate_file=Key(STR, "cached surrogate file"), paper_reference_corr=Key(NUM, "the paper's median corr")),
    "soil_moisture": _keys(
        seeds=_SEEDS, claims=_CLAIMS,
        densities=Key("list", "training densities n", nonempty=True, items="int"),
        train_years=Key("list", "training years", nonempty=True, items="int"),
        comparison=Key(STR, "the setting where every method ran"),
        gz_history_days=Key(INT, "days of SMAP gz reads before its first scored (or loss) day"),
        convergence=Key("dict", "'method, setting' -> tail_change, flattened (seed-mean curve)"),
        results=Key("dict", "result_key(setting, method, test) -> median rmse, ubrmse, corr, bias (m3/m3)"),
        training=Key("records", "one record per trained (setting, method)", TRAINING_RECORD),
        infilt_roughness=Key("dict", "roughness of the INFILT maps"),
        gapfill=Key("dict", "gap-filling scores on held-out SMAP days"),
        surrogate_file=Key(STR, "cached surrogate file"),
        settings=Key("dict", "training settings (epochs, sceua_maxn, surrogate_rounds, surrogate_epochs, ...)"),
        paper_reference=_PAPER),
    "evapotranspiration": _keys(
        seeds=_SEEDS, claims=_CLAIMS,
        twin_experiment=Key("bool", "True: a twin experiment (no MODIS here)"),
        n_train_cells=Key(INT, "training cells"), density_n=Key(INT, "training density n"),
        **{f"et_{m}_{who}": Key(NUM, f"median ET {m}, {who}") for m in ("corr", "nse")
           for who in ("dpl_gz", "sceua", "dpl_ga", "default")},
        ef_nse=Key("dict", "method -> median NSE of ET/PET"), ef_corr=Key("dict", "method -> median corr of ET/PET"),
        recovery=Key("dict", "method -> parameter -> corr(recovered, true) over training cells, mean over seeds"),
        n_test_cells=Key(INT, "spatial-test cells: untrained neighbours (radius 1) of the training cells"),
        spatial=Key("dict", "method -> {corr, nse, ef_corr, ef_nse}: medians at the spatial-test cells, test year"),
        water_limited_fraction=Key(NUM, "share of (training cell, test-year day) pairs with root-weighted ET "
                                        "stress beta < 1 under the true parameters"),
        water_limited_pet_weighted=Key(NUM, "the same share weighted by PET"),
        truth=Key("dict", "the truth's settings: unexplained_share (of the logit variance), correlation_cells (cells), median R² of "
                          "the true logit on the attributes"),
        settings=Key("dict", "budgets: epochs, sceua_maxn, sceua_ngs, n_seeds, warm-up and network days, SCE-UA "
                             "runs per cell used (median)"),
        convergence=Key("dict", "method -> {tail_change, flattened, tail, tolerance} of its error curve"),
        wall_time_s=_WALL, paper_reference=_PAPER),
    "global_pub": _keys(
        seeds=_SEEDS, claims=_CLAIMS,
        n_basins=Key(INT, "basins"), n_basins_by_region=Key("dict", "region -> basins"), k_folds=Key(INT, "folds"),
        fractions=Key("list", "training fractions"), group_sizes=Key("dict", "climate group sizes"),
        median_kge_ltf8=Key(NUM, "median test KGE, LTF-8"), median_kge_dpl8=Key(NUM, "median test KGE, dPL-8"),
        median_kge_dpl27=Key(NUM, "median test KGE, dPL-27"),
        median_kge_dpl8_multi=Key(NUM, "median test KGE of the extra row: dPL-8 with nmul_extra HBV components"),
        nmul_headline=Key(INT, "HBV components of every headline method"),
        nmul_extra=Key(INT, "HBV components of the extra row"),
        median_kge_by_group=Key("dict", "group -> method -> median KGE"),
        median_kge_by_region=Key("dict", "region -> method -> median KGE"),
        median_kge_by_fraction=Key("dict", "method -> fraction -> median KGE"),
        fraction_curve=Key("records", "median KGE per method and fraction", FRACTION_RECORD,
                           _fraction_record_problem, nonempty=True),
        fraction_to_match_ltf=Key(NUM, "smallest fraction at which dPL-8 matches LTF-8 (null: never)"),
        training=Key("dict", "training time per method, s"), attribute_mapping=Key("records", "attribute roles"),
        paper_reference=_PAPER),
    "scaling_curves": _keys(
        seeds=_SEEDS, claims=_CLAIMS,
        threshold_share=Key(NUM, "the cost claim's threshold: share of the way from the sparse start to the worse final"),
        density_curve=Key("records", "RMSE and cost per density", {"method": "str", "density_n": "int"}),
        length_curve=Key("records", "RMSE and cost per training length", {"method": "str", "train_years": "int"}),
        fraction_curve=Key("records", "the PUB fraction curve", FRACTION_RECORD, _fraction_record_problem),
        median_kge_ltf8=Key(NUM, "LTF-8's all-basin median KGE"),
        fraction_to_match_ltf=Key(NUM, "fraction at which dPL-8 matches LTF-8 (null: never)"),
        derived=Key("dict", "ratios and differences read off the curves"),
        computed_here=Key("records", "points computed by this chapter", {"method": "str", "density_n": "int",
                                                                            "train_years": "int"}),
        training_settings=Key("dict", "settings of the points computed here, and where they came from"),
        surrogate_file=Key("any", "surrogate used for the points computed here"),
        surrogate_same_as_soil_moisture=Key("bool", "the same surrogate as the soil-moisture run"),
        inputs=Key("dict", "the chapter summaries read, and whether they were run here"), paper_reference=_PAPER),
    "reproduce": _keys(chapters=Key("records", "recorded runs per chapter", {"chapter": "str"}),
                       total_wall_time_min=Key(NUM, "sum of the recorded wall times, min")),
    "results": _keys(claims=Key("records", "one row per claim", {"claim": "str", "verdict": "str"}),
                     verdict_counts=Key("dict", "verdict -> claims"), chapters_read=Key("list", "chapters read")),
    "performance": _keys(targets=Key("records", "performance targets and verdicts"),
                         records=Key("list", "benchmark record files"), missing=Key("list", "benchmarks not recorded")),
}


def result_key(setting: str, method: str, test: str) -> str:
    """Key of one test result in the chapter's ``summary.json``: ``"s8, 1 yr", "dPL gA (surrogate)",
    "temporal"`` -> ``"s8_1_yr|dpl_ga_surrogate|temporal"``."""
    def slug(text: str) -> str:
        return text.lower().replace(" ", "_").replace("(", "").replace(")", "").replace(",", "").replace("-", "_")

    return f"{slug(setting)}|{slug(method)}|{test}"


def check_summary(chapter: str, summary: Mapping[str, Any], where: str | Path | None = None) -> None:
    """Raise :class:`SummaryError` naming the chapter (and file) and key unless ``summary`` has every
    key of :data:`SCHEMAS` ``[chapter]`` with its type and no other (besides the ``run`` record)."""
    if chapter not in SCHEMAS:
        raise SummaryError(f"no summary schema for chapter {chapter!r}; chapters: {', '.join(SCHEMAS)}")
    label = f"{where}: " if where else ""
    schema = SCHEMAS[chapter]
    for key, spec in schema.items():
        if key not in summary:
            raise SummaryError(f"{label}summary of chapter {chapter!r} lacks '{key}' ({spec.help})")
        problem = spec.problem(summary[key])
        if problem:
            sep = "" if problem.startswith("[") else " "
            raise SummaryError(f"{label}summary of chapter {chapter!r}: '{key}'{sep}{problem}")
    unknown = sorted(set(summary) - set(schema) - {"run"})
    if unknown:
        raise SummaryError(f"{label}summary of chapter {chapter!r} has keys no schema names: {unknown} "
                           f"(declare them in dplrepro.results.SCHEMAS)")


def read_summary(chapter: str, profile: str) -> dict[str, Any] | None:
    """A chapter's checked ``summary.json``, or None if it has none; :class:`SummaryError` naming
    the file if it is unreadable or does not fit the schema."""
    path = summary_path(chapter, profile)
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SummaryError(f"{path} is not valid JSON ({exc}); delete it or rerun chapter {chapter!r}") from exc
    if not isinstance(summary, dict):
        raise SummaryError(f"{path}: expected a JSON object, found {type(summary).__name__}")
    check_summary(chapter, summary, path)
    return summary


def load_summary(chapter: str, profile: str) -> dict[str, Any]:
    """:func:`read_summary`, with a clear error if the chapter has not been run."""
    summary = read_summary(chapter, profile)
    if summary is None:
        raise FileNotFoundError(f"{summary_path(chapter, profile)} does not exist: run the chapter first "
                                f"(dplrepro run {chapter} --profile {profile})")
    return summary


def _threads_note(record: Mapping[str, Any]) -> str:
    threads = record.get("torch_threads")
    return "" if threads is None else f" ({threads} torch thread{'s' if threads != 1 else ''})"


def run_records_table(chapters: Sequence[str], profile: str) -> pd.DataFrame:
    """One row per chapter: its commands, and the recorded wall time and machine of its
    ``profile`` run and of its full run (from the summaries' run records)."""
    rows = []
    for c in chapters:
        quick, full = (s["run"] if (s := read_summary(c, p)) is not None else None for p in (profile, "full"))
        rows.append({
            "chapter": c,
            f"{profile} command": f"dplrepro run {c} --profile {profile}",
            "full command (one GPU)": f"dplrepro run {c} --profile full -p device=cuda",
            f"{profile}: wall time (min)": round(quick["wall_time_s"] / 60, 1) if quick else None,
            f"{profile}: ran on": (f"{quick.get('data_source')} data, {quick.get('resolved_device', quick.get('device'))}, "
                                   f"{quick.get('machine')}{_threads_note(quick)}, {quick.get('finished_utc')}")
            if quick else "not run yet",
            "full: wall time (min)": round(full["wall_time_s"] / 60, 1) if full else None,
            "full: ran on": (f"{full.get('data_source')} data, {full.get('resolved_device', full.get('device'))}, "
                             f"{full.get('finished_utc')}") if full else "not measured yet (needs a GPU session)",
        })
    return pd.DataFrame(rows)


def load_summaries(profile: str) -> dict[str, dict]:
    """Every chapter's checked summary for ``profile`` that exists (chapter -> summary)."""
    return {c: s for c in SCHEMAS if (s := read_summary(c, profile)) is not None}


def _torch_threads() -> int:
    """Intra-op threads torch computes with in this process now."""
    import torch

    return torch.get_num_threads()


@dataclass
class ChapterRun:
    """Bookkeeping for one execution of a chapter.

    Parameters mirror the papermill ``parameters`` cell every chapter has.
    """

    chapter: str
    profile: str = "quick"
    seed: int = 0
    device: str = "auto"
    data_source: str = "auto"
    parameters: dict = field(default_factory=dict)   # every validated chapter parameter (dplrepro.chapters)
    started: float = field(default_factory=time.time)
    data_description: str | None = None
    resolved_source: str | None = None
    notes_from: int = field(default_factory=lambda: len(data_notes()))  # data notes before this run

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {self.profile!r}")
        if self.data_source not in DATA_SOURCES:
            raise ValueError(f"data_source must be one of {DATA_SOURCES}, got {self.data_source!r}")

    @property
    def out_dir(self) -> Path:
        return chapter_dir(self.chapter, self.profile)

    def path(self, name: str) -> Path:
        """Path of an output file (figure, table) of this chapter run."""
        return self.out_dir / name

    @property
    def cache_dir(self) -> Path:
        """The chapter's caches, kept across runs (:func:`cache_dir`)."""
        return cache_dir(self.chapter, self.profile)

    def cache_path(self, name: str) -> Path:
        """Path of a cached intermediate (checkpoint folder, calibration file) of this chapter."""
        return self.cache_dir / name

    def announce(self, data_description: str, resolved_source: str) -> str:
        """Record and return a Markdown banner saying what this run uses.

        ``resolved_source`` is ``real``, ``synthetic`` or ``mixed`` (what was actually used,
        after ``auto`` was resolved).
        """
        kinds = {
            "real": "REAL data",
            "synthetic": "SYNTHETIC twin data (requested)" if self.data_source == "synthetic"
            else "SYNTHETIC twin data (real data not found)",
            "mixed": "REAL and SYNTHETIC data (see each dataset below)",
        }
        if resolved_source not in kinds:
            raise ValueError(f"resolved_source must be one of {sorted(kinds)}, got {resolved_source!r}")
        kind = kinds[resolved_source]
        self.data_description, self.resolved_source = data_description, resolved_source
        return (
            f"**This run:** chapter `{self.chapter}`, profile `{self.profile}`, seed {self.seed}, "
            f"device `{self.device}` — on **{kind}**: {data_description}"
        )

    def finish(self, summary: Mapping[str, Any]) -> Path:
        """Check ``summary`` against the chapter's schema (:data:`SCHEMAS`; NaN -> null), then write
        ``summary.json`` (headline numbers + run record) atomically; return its path."""
        record = {
            "chapter": self.chapter,
            "profile": self.profile,
            "seed": self.seed,
            "device": self.device,
            "resolved_device": str(resolve_device(self.device)),
            "data_source": self.resolved_source or self.data_source,
            "parameters": clean_json(self.parameters),
            "data_description": self.data_description,
            "wall_time_s": round(time.time() - self.started, 3),
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "dplrepro_version": __version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "torch_threads": _torch_threads(),
            "data_notes": data_notes(self.notes_from),  # what the data readers left out, filled in or converted
        }
        if "run" in summary:
            raise SummaryError(f"chapter {self.chapter!r}: summary key 'run' is reserved for the run record")
        summary = clean_json(dict(summary))
        check_summary(self.chapter, summary)
        return write_json_atomic(self.path("summary.json"), {**summary, "run": record})

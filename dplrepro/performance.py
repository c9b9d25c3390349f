"""Read the benchmark records of ``benchmarks/`` and lay them out for the book's Performance page.

Each benchmark script writes one JSON record per machine kind to
``benchmarks/results/<benchmark>--<machine tag>.json`` (see ``benchmarks/common.py``): the
``machine`` it ran on, its ``settings``, measured ``rows``, the issue's ``targets`` it can
judge and plain-language ``notes``. This module only reads and tabulates them; it never
measures, so the page shows exactly what the last benchmark run on each machine wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import pandas as pd

__all__ = ["BENCHMARKS", "BENCHMARK_DIR", "load_benchmarks", "machine_label", "machines_table", "targets_table",
           "rows_table", "record_data_source", "missing_benchmarks"]

BENCHMARK_DIR = Path(__file__).resolve().parent.parent / "benchmarks" / "results"

# benchmark name -> (what it measures, how to run it)
BENCHMARKS = {
    "hbv": ("HBV forward + backward throughput vs hydrodl2", "python -m benchmarks.bench_hbv"),
    "sceua": ("batched SCE-UA vs spotpy's sceua, equal budget", "python -m benchmarks.bench_sceua"),
    "training": ("dPL training: time and peak memory per epoch", "python -m benchmarks.bench_training"),
    "book": ("the quick book build: wall time and peak memory", "python -m benchmarks.bench_book"),
    "data_io": ("reading CAMELS-US vs plain xarray", "python -m benchmarks.bench_data_io"),
}


def load_benchmarks(directory: str | Path | None = None) -> list[dict]:
    """Every benchmark record in ``directory`` (default ``benchmarks/results``), sorted by file name.

    Each record gets ``file`` (its file name). A file that is not a benchmark record raises
    ``ValueError`` naming it; a missing folder gives an empty list.
    """
    directory = Path(directory) if directory is not None else BENCHMARK_DIR
    out = []
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        try:
            rec = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"benchmark result {path} is not valid JSON: {err}") from None
        if not isinstance(rec, dict) or not {"benchmark", "machine", "rows"} <= set(rec):
            raise ValueError(f"benchmark result {path} lacks the 'benchmark', 'machine' and 'rows' keys "
                             "written by benchmarks/common.py:record")
        rec["file"] = path.name
        out.append(rec)
    return out


def machine_label(machine: Mapping) -> str:
    """One line naming a machine: GPU (if any), CPU model and cores, memory, torch build."""
    parts = []
    if machine.get("gpu"):
        parts.append(str(machine["gpu"]))
    cpu = machine.get("cpu_model") or "CPU"
    parts.append(f"{cpu}, {machine.get('cpu_count', '?')} cores ({machine.get('torch_threads', '?')} torch threads)")
    if machine.get("memory_gb"):
        parts.append(f"{machine['memory_gb']} GB RAM")
    parts.append(f"torch {machine.get('torch', '?')}")
    return "; ".join(parts)


def machines_table(records: Sequence[Mapping]) -> pd.DataFrame:
    """Which machine, commit and date each benchmark record came from."""
    rows = [{"benchmark": r["benchmark"], "file": r.get("file"), "machine": machine_label(r["machine"]),
             "device": r["machine"].get("device"), "commit": r["machine"].get("commit"),
             "date (UTC)": r["machine"].get("date")} for r in records]
    return pd.DataFrame(rows, columns=["benchmark", "file", "machine", "device", "commit", "date (UTC)"])


def _verdict(met) -> str:
    return {True: "met", False: "missed"}.get(met, "not judged here")


def targets_table(records: Sequence[Mapping]) -> pd.DataFrame:
    """Every target a record judged: the target, measured value, threshold, verdict and machine."""
    rows = []
    for r in records:
        for t in r.get("targets", []):
            rows.append({"target": t.get("target"), "value": t.get("value"), "threshold": t.get("threshold"),
                         "verdict": _verdict(t.get("met")), "benchmark": r["benchmark"],
                         "machine": machine_label(r["machine"])})
    return pd.DataFrame(rows, columns=["target", "value", "threshold", "verdict", "benchmark", "machine"])


def rows_table(record: Mapping, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A record's measured rows as a table (``columns`` picks and orders; absent ones are left out)."""
    frame = pd.DataFrame(record["rows"])
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return frame


def record_data_source(record: Mapping) -> str:
    """``real``, ``synthetic`` or ``mixed``: what data a benchmark ran on (its settings, else its rows)."""
    kinds = {"real", "synthetic", "mixed"}
    declared = record.get("settings", {}).get("data_source")
    if declared in kinds:
        return declared
    found = {r.get("data_source") for r in record.get("rows", [])} & kinds
    if not found:
        return "synthetic" if declared is None else "mixed"
    return found.pop() if len(found) == 1 else "mixed"


def missing_benchmarks(records: Sequence[Mapping]) -> list[str]:
    """Benchmarks of :data:`BENCHMARKS` with no record on any machine."""
    have = {r["benchmark"] for r in records}
    return [name for name in BENCHMARKS if name not in have]


def hbv_throughput_figure(records: Sequence[Mapping]):
    """HBV basin-days per second (forward + backward) against basins, one panel per ``hbv`` record."""
    fig, axes = plt.subplots(1, max(1, len(records)), figsize=(5.5 * max(1, len(records)), 4), squeeze=False)
    for ax, rec in zip(axes[0], records):
        for model, part in rows_table(rec).groupby("model"):
            ax.plot(part["basins"], part["basin_days_per_s"], "o-", label=model)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("basins (x 16 components)")
        ax.set_ylabel("basin-days per second (forward + backward)")
        ax.set_title(rec["machine"].get("gpu") or f"CPU, {rec['machine']['torch_threads']} threads", fontsize=10)
        ax.legend(fontsize=8)
    if not records:
        axes[0][0].text(0.5, 0.5, "no HBV benchmark record yet", ha="center", va="center")
        axes[0][0].set_axis_off()
    return fig


def sceua_figure(records: Sequence[Mapping]):
    """Basins per hour and median final 1 - NSE against basins, ours vs spotpy, from ``sceua`` records."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    panels = ((0, "sites_per_hour", "dplrepro batched", "spotpy sceua"), (1, "objective_median", "dplrepro", "spotpy"))
    for rec in records:
        frame, label = rows_table(rec), rec["machine"].get("gpu") or "CPU"
        for i, what, ours, theirs in panels:
            if {"n_basins", f"ours_{what}", f"spotpy_{what}"} <= set(frame.columns):
                axes[i].plot(frame["n_basins"], frame[f"ours_{what}"], "o-", label=f"{ours} ({label})")
                axes[i].plot(frame["n_basins"], frame[f"spotpy_{what}"], "s--", label=f"{theirs} ({label})")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("basins per hour")
    axes[1].set_ylabel("median final 1 − NSE (lower is better)")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("basins calibrated")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no SCE-UA benchmark record yet", ha="center", va="center", transform=ax.transAxes)
    return fig

"""What every benchmark shares: the machine record, timing, peak memory, the JSON file and the table.

A benchmark module ``benchmarks/bench_<name>.py`` has a ``main(argv)`` that measures, builds a
record with :func:`record`, writes it with :func:`write_result` to
``benchmarks/results/<name>--<machine tag>.json`` (one file per benchmark and machine, so a
GPU run does not overwrite the CPU run; the newest run on a machine replaces the older one)
and prints a table with :func:`print_table`. Run them as modules from the project root::

    .venv/bin/python -m benchmarks.bench_hbv

Timings are never asserted in tests: the targets of issue 7 are ratios against a peer
measured in the same run, and are reported (``targets``) rather than enforced.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from dplrepro.performance import load_benchmarks  # noqa: F401  (the reader lives in the library)
from dplrepro.utils import clean_json, write_json_atomic

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

__all__ = [
    "RESULTS_DIR", "machine_info", "machine_tag", "time_call", "sync", "peak_rss_mb", "children_peak_rss_mb",
    "record", "write_result", "print_table", "load_benchmarks",
]  # fmt: skip


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine_info(device: Any = "cpu") -> dict:
    """Where a number came from: CPU model and count, memory, torch build and threads, GPU, commit."""
    import torch

    dev = str(device)
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": dev,
        "gpu": torch.cuda.get_device_name(torch.device(dev)) if dev.startswith("cuda") else None,
        "commit": _git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return info


def machine_tag(device: Any = "cpu") -> str:
    """Short file-name tag for the machine kind: ``cpu-2core`` or e.g. ``cuda-nvidia-h100-80gb-hbm3``."""
    info = machine_info(device) if not isinstance(device, Mapping) else device
    if info.get("gpu"):
        return "cuda-" + re.sub(r"[^a-z0-9]+", "-", info["gpu"].lower()).strip("-")
    return f"cpu-{info['cpu_count']}core"


def sync(device: Any) -> None:
    """Wait for queued GPU work (a no-op on the CPU) so a timer measures finished work."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize(torch.device(str(device)))


def time_call(fn: Callable[[], Any], *, repeats: int = 3, warmup: int = 1, device: Any = "cpu") -> dict:
    """Wall time (s) of ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed ones.

    Returns ``{"best_s", "median_s", "times_s"}``; the GPU is synchronised around every call.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return {"best_s": float(min(times)), "median_s": float(np.median(times)), "times_s": times}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024**2


def children_peak_rss_mb() -> float:
    """Largest peak resident memory of any finished child process (MB)."""
    kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kb / 1024 if sys.platform != "darwin" else kb / 1024**2


def record(name: str, *, device: Any, settings: Mapping, rows: Sequence[Mapping], targets: Sequence[Mapping] = (),
           notes: Iterable[str] = ()) -> dict:
    """A benchmark's JSON record.

    ``settings``: what was run (sizes, budgets, peers and their versions). ``rows``: one dict
    per measured case. ``targets``: ``{"target", "value", "threshold", "met"}`` per issue
    target this benchmark can judge (``met`` is ``None`` when it could not be measured
    here, e.g. a GPU target on a CPU machine). ``notes``: plain-language caveats.
    """
    return clean_json({
        "benchmark": name,
        "machine": machine_info(device),
        "settings": dict(settings),
        "rows": [dict(r) for r in rows],
        "targets": [dict(t) for t in targets],
        "notes": list(notes),
    })


def write_result(rec: Mapping, directory: Path | None = None) -> Path:
    """Write ``rec`` atomically to ``<directory>/<benchmark>--<machine tag>.json`` and return the path."""
    directory = Path(directory) if directory is not None else RESULTS_DIR
    tag = machine_tag(rec["machine"])
    return write_json_atomic(directory / f"{rec['benchmark']}--{tag}.json", rec)


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if abs(v) >= 1e5 or (0 < abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def print_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None, title: str | None = None) -> None:
    """Print ``rows`` as an aligned plain-text table (``columns`` picks and orders the keys)."""
    if not rows:
        print("(no rows)")
        return
    columns = list(columns or rows[0].keys())
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    if title:
        print(title)
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))

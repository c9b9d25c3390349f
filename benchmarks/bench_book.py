"""Wall time and peak memory of the quick book build (the README's ``make book``) on this machine.

Runs ``dplrepro book --profile quick --force`` (the console script next to ``sys.executable``,
else ``python -m dplrepro``) in a subprocess with the current environment -- so
``$DPLREPRO_DATA`` decides between real data and the synthetic twin -- and measures:

* the total wall time of the command (every chapter, then the HTML build);
* the peak of the whole process tree's summed resident memory (the command, its Jupyter
  kernels, jupyter-book), sampled every 0.5 s with psutil (or ``/proc`` without it);
* the largest single process's peak (``children_peak_rss_mb()`` after the command ends).

Afterwards each chapter's ``results/<chapter>/<profile>/run.json`` (written by
:func:`dplrepro.book.run_chapter`) gives its wall time, and its ``summary.json`` the data
it used (real / synthetic). One row per chapter plus a total row. No targets: report only.

Run from the project root (takes ~15 min for the quick profile on 2 CPU cores)::

    DPLREPRO_DATA=../shared/data .venv/bin/python -m benchmarks.bench_book
    .venv/bin/python -m benchmarks.bench_book --only data_tour      # one chapter + the HTML build
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from benchmarks.common import PROJECT_ROOT, children_peak_rss_mb, print_table, record, write_result

NAME = "book"
POLL_INTERVAL_S = 0.5

try:  # optional: a /proc reader stands in without it
    import psutil
except ImportError:  # pragma: no cover - psutil is installed in the project's venv
    psutil = None


# ---------------------------------------------------------------------------- process-tree memory
def _tree_rss_psutil(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # ended between listing and reading
            pass
    return total / 1024**2


def _proc_children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may contain spaces/parentheses, so split after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        kids.setdefault(int(fields[1]), []).append(int(entry.name))
    return kids


def _rss_proc(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _tree_rss_proc(pid: int) -> float:
    kids = _proc_children()
    todo, seen, total = [pid], set(), 0
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _rss_proc(p)
        todo.extend(kids.get(p, ()))
    return total / 1024**2


def tree_rss_mb(pid: int, method: str | None = None) -> float:
    """Summed resident memory (MB) of process ``pid`` and all its descendants.

    ``method``: ``"psutil"``, ``"proc"`` or ``None`` (psutil when importable).
    """
    method = method or ("psutil" if psutil is not None else "proc")
    if method == "psutil":
        if psutil is None:
            raise RuntimeError("psutil is not installed")
        return _tree_rss_psutil(pid)
    if method == "proc":
        return _tree_rss_proc(pid)
    raise ValueError(f"method must be 'psutil' or 'proc', got {method!r}")


def run_monitored(cmd: Sequence[str], *, interval: float = POLL_INTERVAL_S, method: str | None = None,
                  cwd: Path | None = None, env: Mapping[str, str] | None = None) -> dict:
    """Run ``cmd`` to completion, sampling its process tree's summed RSS every ``interval`` s.

    Returns ``wall_s``, ``returncode``, ``peak_tree_rss_mb``, ``samples`` and ``method``.
    """
    method = method or ("psutil" if psutil is not None else "proc")
    peak, samples = 0.0, 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=dict(env) if env is not None else None)
    try:
        while True:
            peak = max(peak, tree_rss_mb(proc.pid, method))
            samples += 1
            try:
                proc.wait(timeout=interval)
                break
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "returncode": proc.returncode, "peak_tree_rss_mb": peak, "samples": samples,
            "method": method, "interval_s": interval}


# ---------------------------------------------------------------------------- chapter records
def _utc_epoch(stamp: str | None) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except (TypeError, ValueError):
        return None


def chapter_rows(results: Path, profile: str, names: Iterable[str], started: float | None = None) -> list[dict]:
    """One row per chapter from ``<results>/<chapter>/<profile>/run.json`` (and ``summary.json``).

    ``fresh`` says whether the run.json was written after ``started`` (a Unix time): a chapter
    reused from the cache (no ``--force``) keeps the wall time of its earlier run.
    """
    rows = []
    for name in names:
        folder = Path(results) / name / profile
        row: dict[str, Any] = {"chapter": name, "wall_s": None, "fresh": None, "data_source": None,
                               "finished_utc": None}
        try:
            run = json.loads((folder / "run.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            row["error"] = f"no readable run.json ({type(exc).__name__})"
            rows.append(row)
            continue
        row["wall_s"] = run.get("wall_time_s")
        row["finished_utc"] = run.get("finished_utc")
        finished = _utc_epoch(run.get("finished_utc"))
        if started is not None and finished is not None:
            row["fresh"] = finished >= int(started)  # run.json keeps whole seconds
        try:
            summary = json.loads((folder / "summary.json").read_text())
            row["data_source"] = (summary.get("run") or {}).get("data_source")
        except (OSError, json.JSONDecodeError):
            pass
        rows.append(row)
    return rows


def total_row(measured: Mapping[str, Any], chapters: Sequence[Mapping], largest_process_mb: float | None,
              jobs: int = 1) -> dict:
    """The total row: measured wall time and peak memory, plus the sum of the chapters' own times.
    With ``jobs > 1`` chapters overlap: ``other_s`` is then unknown (None) and ``overlap_gain``
    is the sum of the chapters' times over the wall time."""
    chapter_sum = sum(float(r["wall_s"]) for r in chapters if r.get("wall_s") is not None and r.get("fresh") is not False)
    overlapped = jobs > 1
    return {
        "chapter": "TOTAL (dplrepro book)",
        "wall_s": measured["wall_s"],
        "peak_tree_rss_mb": measured["peak_tree_rss_mb"],
        "largest_process_rss_mb": largest_process_mb,
        "chapters_wall_s": chapter_sum,
        # start-up, input hashing, staging, jupyter-book build
        "other_s": None if overlapped else measured["wall_s"] - chapter_sum,
        "overlap_gain": chapter_sum / measured["wall_s"] if overlapped and measured["wall_s"] else None,
        "jobs": jobs,
        "returncode": measured["returncode"],
    }


def data_state() -> dict:
    """Which real datasets the data folder holds (present or not; chapters with ``auto`` use the twin
    for a missing one)."""
    from dplrepro.data.catalog import DATASETS
    from dplrepro.data.paths import data_dir

    present = {name: spec.path().exists() for name, spec in DATASETS.items()}
    kind = "real" if all(present.values()) else "synthetic" if not any(present.values()) else "partial"
    return {"data_dir": str(data_dir()), "DPLREPRO_DATA": os.environ.get("DPLREPRO_DATA"),
            "datasets_present": present, "data": kind}


def book_command(profile: str, only: Sequence[str] | None = None, force: bool = True, jobs: int = 1) -> list[str]:
    """``dplrepro book ... --jobs N`` with the console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("dplrepro")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "dplrepro"]
    cmd += ["book", "--profile", profile]
    if only:
        cmd += ["--only", *only]
    if force:
        cmd.append("--force")
    return cmd + ["--jobs", str(jobs)]


# ---------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_book", description=__doc__.split("\n")[0])
    p.add_argument("--profile", choices=("quick", "full"), default="quick")
    p.add_argument("--only", nargs="+", metavar="CH",
                   help="run only these chapters (dplrepro book --only; the others must have run before, "
                        "since the HTML build needs every executed chapter)")
    p.add_argument("--no-force", action="store_true", help="let dplrepro reuse cached chapter runs")
    p.add_argument("--jobs", type=int, default=None,
                   help="chapters at once (dplrepro book --jobs; default: what make book uses here)")
    p.add_argument("--interval", type=float, default=POLL_INTERVAL_S, help="memory sampling interval (s)")
    p.add_argument("--out-dir", type=Path, default=None, help="where the JSON goes (default benchmarks/results)")
    return p


def main(argv: Sequence[str] | None = None, *, command: Callable[..., list[str]] = book_command) -> dict:
    args = build_parser().parse_args(argv)
    from dplrepro.book import chapters
    from dplrepro.results import results_root

    from dplrepro.book import default_jobs

    names = list(args.only) if args.only else chapters()
    jobs = default_jobs() if args.jobs is None else args.jobs
    cmd = command(args.profile, args.only, not args.no_force, jobs)
    data = data_state()
    print(f"[bench_book] {' '.join(cmd)}  (data: {data['data']}, {data['data_dir']})", flush=True)
    started = time.time()
    measured = run_monitored(cmd, interval=args.interval, cwd=PROJECT_ROOT)
    largest = children_peak_rss_mb()

    rows = chapter_rows(results_root(), args.profile, names, started)
    rows.append(total_row(measured, rows, largest, jobs))
    sources = {r["data_source"] for r in rows[:-1] if r.get("data_source")}
    notes = [
        f"This is the README's `make book` (dplrepro book --profile {args.profile}) on this machine"
        + (f", limited to --only {' '.join(args.only)} (plus the HTML build)" if args.only else "") + ".",
        f"peak_tree_rss_mb: summed RSS of the command and all its descendants (Jupyter kernels, jupyter-book), "
        f"sampled every {args.interval} s with {measured['method']} ({measured['samples']} samples); "
        "largest_process_rss_mb: the largest single finished descendant (ru_maxrss of RUSAGE_CHILDREN).",
        "Chapter wall times are the runner's own (results/<chapter>/<profile>/run.json); "
        + (f"{jobs} chapters ran at once, so they overlap: overlap_gain is their sum over the total wall time."
           if jobs > 1 else "other_s is the rest: start-up, input hashing, staging and the jupyter-book HTML build."),
        f"Data: chapters used {', '.join(sorted(sources)) or 'unknown'} data; the data folder "
        f"{data['data_dir']} holds {data['data']} data ({sum(data['datasets_present'].values())} of "
        f"{len(data['datasets_present'])} datasets).",
        "No targets: report only.",
    ]
    stale = [r["chapter"] for r in rows[:-1] if r.get("fresh") is False]
    if stale:
        notes.append(f"Reused from the cache (not rerun; their wall_s is from an earlier run): {', '.join(stale)}.")
    if measured["returncode"] != 0:
        notes.append(f"BUILD FAILED: the command exited with {measured['returncode']}.")
    settings = {"command": cmd, "profile": args.profile, "only": args.only, "force": not args.no_force, "jobs": jobs,
                "cwd": str(PROJECT_ROOT), "results_root": str(results_root()), **data}
    from dplrepro.utils import resolve_device

    rec = record(NAME, device=resolve_device("auto"), settings=settings, rows=rows, targets=[], notes=notes)
    path = write_result(rec, args.out_dir)
    print_table(rows, ["chapter", "wall_s", "fresh", "data_source", "peak_tree_rss_mb", "largest_process_rss_mb",
                       "other_s", "overlap_gain", "returncode"], title=f"dplrepro book --profile {args.profile}")
    print(f"wrote {path}")
    return rec


if __name__ == "__main__":
    out = main()
    sys.exit(0 if out["rows"][-1].get("returncode") == 0 else 1)

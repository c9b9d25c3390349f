"""Run the chapters with papermill and build the Jupyter Book from the executed notebooks.

The table of contents (``_toc.yml`` at the project root) is the one list of pages. A page
whose source ``book/<name>.md`` carries a Jupytext header is a *chapter notebook*: it is
converted to ``.ipynb``, executed once by papermill with the chosen profile, and the
executed notebook is what the HTML shows (Jupyter Book itself never re-executes it:
``execute_notebooks: off`` in ``_config.yml``). Other pages are plain MyST Markdown.

**Cache.** After a successful run the runner writes ``results/<chapter>/<profile>/run.json``:
the parameters and a hash of everything the run depends on (:func:`inputs_hash`: the
chapter source, the parameters, the ``dplrepro`` source code, the data folder's files by content
(:mod:`dplrepro.cache`),
package versions, the torch thread setting, and the summaries of the chapters it declares it reads in its front
matter, ``dplrepro: {reads: [...]}``, and the content of other project files it declares,
``dplrepro: {files: [glob, ...]}``, e.g. the benchmark records the Performance page shows). Running a chapter again with the same hash
reuses the executed notebook and its results instead of retraining; any change reruns
it (``force=True`` always reruns). The executed notebook's first cell then states the data,
profile, device and wall time of the run.

**Isolation.** A run holds a lock per chapter and profile (:func:`run_lock`), writes into
its own staging folder ``results/<chapter>/.<profile>.run-<id>/`` (the kernel learns it
through ``DPLREPRO_STAGED_RUNS``, :func:`dplrepro.results.chapter_dir`), and only a run that
finished is swapped in whole as ``results/<chapter>/<profile>/``, with its ``run.json``
recording the SHA-256 of the summary and executed notebook beside it; reuse checks both. A
killed run never mixes its files with the last finished one. Content-keyed caches
(checkpoints, calibrations, surrogates) live apart, in ``results/<chapter>/<profile>.cache/``.

Layout of the build folder (``_build/`` at the project root)::

    _build/executed/<profile>/<name>.ipynb   papermill output of each chapter (a copy of the run's own)
    _build/src/<profile>/                    staged book source (config, toc, pages)
    _build/site/<profile>/_build/html/       the HTML book
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping, Sequence

import yaml

from .chapters import chapter_spec, validate_parameters
from .data.paths import data_dir
from .cache import code_fingerprint, data_fingerprint, package_versions
from .results import (STAGING_ENV_VAR, SummaryError, final_chapter_dir, read_summary, results_root, staged_runs,
                      summary_path)
from .utils import atomic_path, environment, write_json_atomic

log = logging.getLogger("dplrepro.book")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = PROJECT_ROOT / "book"
BUILD_DIR = PROJECT_ROOT / "_build"
KERNEL_NAME = "python3"


class ChapterError(RuntimeError):
    """A chapter is unknown or failed to execute."""


def toc_pages(project_root: Path = PROJECT_ROOT) -> list[str]:
    """Every page of ``_toc.yml`` in reading order, as paths without suffix (``book/intro``)."""
    toc_path = project_root / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
    pages: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    pages.append(str(node[key]))
            for key in ("chapters", "sections", "parts"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(toc)
    if not pages:
        raise ChapterError(f"{toc_path} lists no pages")
    return pages


def front_matter(source: Path) -> dict:
    """The YAML front matter of a Markdown page (``{}`` if none)."""
    text = source.read_text()
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    front = yaml.safe_load(text[3:end]) if end > 0 else None
    return front if isinstance(front, dict) else {}


def is_notebook(source: Path) -> bool:
    """True if a Markdown page is a Jupytext notebook (has a ``jupytext:`` front-matter block)."""
    return "jupytext" in front_matter(source)


def chapter_reads(name: str, project_root: Path = PROJECT_ROOT) -> list[str]:
    """Chapters whose results ``name`` reads (front matter ``dplrepro: {reads: [...]}``; ``all``:
    every chapter before it in the table of contents)."""
    meta = front_matter(chapter_source(name, project_root)).get("dplrepro") or {}
    reads = meta.get("reads", [])
    if reads == "all":
        names = chapters(project_root)
        return names[: names.index(name)]
    if isinstance(reads, str):
        reads = [reads]
    unknown = [r for r in reads if r not in chapters(project_root)]
    if unknown:
        raise ChapterError(f"book/{name}.md declares it reads unknown chapter(s) {unknown}")
    return list(reads)


def chapter_files(name: str, project_root: Path = PROJECT_ROOT) -> dict[str, str]:
    """SHA-256 of every project file a page declares it reads besides chapter summaries
    (front matter ``dplrepro: {files: ["benchmarks/results/*.json", ...]}``, globs relative to
    the project root), keyed by relative path."""
    meta = front_matter(chapter_source(name, project_root)).get("dplrepro") or {}
    patterns = meta.get("files", [])
    if isinstance(patterns, str):
        patterns = [patterns]
    out = {}
    for pattern in patterns:
        for path in sorted(project_root.glob(pattern)):
            if path.is_file():
                out[str(path.relative_to(project_root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def inputs_hash(name: str, profile: str, parameters: Mapping[str, Any], project_root: Path = PROJECT_ROOT) -> str:
    """Hash of what a chapter run depends on (see the module docstring); 16 hex digits."""
    upstream = {}
    for other in chapter_reads(name, project_root):
        path = summary_path(other, profile)
        upstream[other] = hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    record = {
        "chapter": name,
        "source": hashlib.sha256(chapter_source(name, project_root).read_bytes()).hexdigest(),
        "parameters": {k: parameters[k] for k in sorted(parameters)},
        "code": code_fingerprint(project_root),
        "data": data_fingerprint(data_dir()),
        "versions": package_versions(),
        "reads": upstream,
        "files": chapter_files(name, project_root),
        "torch_threads": torch_threads_setting(),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cached_run(name: str, profile: str, key: str, build_dir: Path = BUILD_DIR) -> dict | None:
    """The ``run.json`` record of an earlier run with the same inputs hash, if the summary and
    executed notebook it records (by SHA-256) are still the ones beside it; None otherwise.

    The executed notebook under ``build_dir`` is put back from the run's own copy
    (``results/<chapter>/<profile>/executed.ipynb``) when it is missing or belongs to another
    run (e.g. one made with another ``DPLREPRO_RESULTS``)."""
    folder = final_chapter_dir(name, profile)
    try:
        record = json.loads((folder / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or record.get("inputs_hash") != key:
        return None
    for file, field in (("summary.json", "summary_sha256"), ("executed.ipynb", "notebook_sha256")):
        path = folder / file
        if not record.get(field) or not path.exists() or _sha256(path) != record[field]:
            log.warning("chapter %s (profile %s): %s is not the file its run.json records; rerunning",
                        name, profile, path)
            return None
    out = executed_path(name, profile, build_dir)
    if not out.exists() or _sha256(out) != record["notebook_sha256"]:
        log.info("chapter %s (profile %s): restoring %s from its run's copy", name, profile, out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            shutil.copyfile(folder / "executed.ipynb", tmp)
    return record


def _banner(name: str, profile: str, seconds: float) -> str:
    """The note put under a chapter's title: what this page ran on and how long it took."""
    summary = read_summary(name, profile)
    run = summary.get("run", {}) if summary is not None else {}
    source = {"real": "REAL data", "synthetic": "SYNTHETIC twin data", "mixed": "real and synthetic data"}.get(
        run.get("data_source"), "data not recorded")
    device = run.get("resolved_device") or run.get("device", "?")
    return (
        "```{note}\n"
        f"**This page was executed** on {source}"
        + (f" ({run['data_description']})" if run.get("data_description") else "")
        + f", profile `{profile}`, seed {run.get('seed', '?')}, device `{device}`; it took "
        f"**{seconds / 60:.1f} min** on {platform.machine()} with {os.cpu_count()} CPU cores"
        + (f" ({run['torch_threads']} torch thread{'s' if run['torch_threads'] != 1 else ''})"
           if run.get("torch_threads") is not None else "")
        + f" (finished {run.get('finished_utc', '?')}). Rerun: `dplrepro run {name} --profile {profile}`.\n"
        "```"
    )


def _insert_banner(notebook_path: Path, text: str) -> None:
    """Put ``text`` into the first Markdown cell, right after its ``# title`` line."""
    import nbformat

    nb = nbformat.read(str(notebook_path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = cell.source.split("\n")
            at = next((i + 1 for i, line in enumerate(lines) if line.startswith("# ")), 0)
            cell.source = "\n".join(lines[:at] + ["", text, ""] + lines[at:])
            break
    nbformat.write(nb, str(notebook_path))


def chapters(project_root: Path = PROJECT_ROOT) -> list[str]:
    """Names of the chapter notebooks (pages under ``book/`` with a Jupytext header), in toc order."""
    names = []
    for page in toc_pages(project_root):
        source = project_root / f"{page}.md"
        if source.exists() and is_notebook(source):
            names.append(Path(page).name)
    return names


def chapter_source(name: str, project_root: Path = PROJECT_ROOT) -> Path:
    source = project_root / "book" / f"{name}.md"
    if not source.exists() or not is_notebook(source):
        raise ChapterError(
            f"unknown chapter {name!r}: no Jupytext notebook book/{name}.md. "
            f"Chapters: {', '.join(chapters(project_root)) or '(none)'}"
        )
    return source


def executed_path(name: str, profile: str, build_dir: Path = BUILD_DIR) -> Path:
    return build_dir / "executed" / profile / f"{name}.ipynb"


def run_chapter(
    name: str,
    profile: str = "quick",
    parameters: Mapping[str, Any] | None = None,
    *,
    build_dir: Path = BUILD_DIR,
    project_root: Path = PROJECT_ROOT,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Execute one chapter with papermill; return the executed notebook's path.

    ``parameters`` override the chapter's ``parameters`` cell (``profile`` is set from
    the argument). The notebook runs with the project root as working directory.
    A failing cell raises :class:`ChapterError` naming the chapter and the notebook
    holding the traceback. An earlier run with the same :func:`inputs_hash` is reused
    unless ``force``; ``force`` also recomputes the caches below the notebook (its kernel
    runs with ``DPLREPRO_FORCE=1``: :mod:`dplrepro.cache`).
    """
    path, _ = _run_or_reuse(name, profile, parameters, build_dir=build_dir, project_root=project_root,
                            progress=progress, force=force)
    return path


def torch_threads_setting() -> str:
    """The intra-op thread count a chapter kernel started now inherits: ``OMP_NUM_THREADS``
    (set per worker by :func:`build_book` with ``jobs > 1``) or ``default`` (torch's: every
    core). Part of :func:`inputs_hash`: float sums split over threads differ in the last bits."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return value if value.isdigit() and int(value) > 0 else "default"


@contextmanager
def run_lock(name: str, profile: str, build_dir: Path = BUILD_DIR) -> Iterator[None]:
    """Hold the exclusive locks of one chapter and profile -- its results folder and its
    executed notebooks' folder -- while it runs or is reused, so two runs never mix their
    files. A second run started meanwhile is refused with :class:`ChapterError` naming the
    lock file and the run holding it (locks end with their process, even a killed one)."""
    import fcntl

    paths = [results_root() / name / f".{profile}.run.lock", executed_path(name, profile, build_dir).with_name(f".{name}.lock")]
    handles = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                handle.close()
                raise ChapterError(f"chapter {name!r} (profile {profile}) is already running here ({holder}; lock "
                                   f"{path}). Wait for it to finish, or run it with another DPLREPRO_RESULTS and "
                                   "build folder") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {platform.node()}, since {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
            handle.flush()
            handles.append(handle)
        yield
    finally:
        for handle in handles:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def _run_or_reuse(name: str, profile: str, parameters: Mapping[str, Any] | None, *, build_dir: Path,
                  project_root: Path, progress: bool, force: bool) -> tuple[Path, bool]:
    """:func:`run_chapter`, also saying whether the cached run was reused (``True``)."""
    source = chapter_source(name, project_root)
    params = {**dict(parameters or {}), "profile": profile}
    validate_parameters(name, params)  # refuses a bad parameter before any kernel starts
    with run_lock(name, profile, build_dir):
        return _run_or_reuse_locked(name, profile, params, source, build_dir=build_dir, project_root=project_root,
                                    progress=progress, force=force)


def _run_or_reuse_locked(name: str, profile: str, params: dict, source: Path, *, build_dir: Path, project_root: Path,
                         progress: bool, force: bool) -> tuple[Path, bool]:
    import jupytext
    import papermill

    final = final_chapter_dir(name, profile)
    _tidy_interrupted_runs(final)
    key = inputs_hash(name, profile, params, project_root)
    if not force:
        cached = cached_run(name, profile, key, build_dir)
        if cached is not None:
            log.info("chapter %s (profile %s): inputs unchanged (hash %s), reusing the run of %s",
                     name, profile, key, cached.get("finished_utc"))
            return executed_path(name, profile, build_dir), True
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"}
    has_parameters = any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in notebook.cells)
    if not has_parameters:
        raise ChapterError(f"{source} has no cell tagged 'parameters' (papermill needs one)")

    out = executed_path(name, profile, build_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    run_id = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{os.getpid()}-{secrets.token_hex(3)}"
    staging = final.with_name(f".{profile}.run-{run_id}")  # this run's own folder, swapped in when it ends
    staging.mkdir(parents=True)
    staged_input, executed = staging / ".input.ipynb", staging / "executed.ipynb"
    jupytext.write(notebook, staged_input)
    started = time.time()
    log.info("running chapter %s (profile %s) in %s -> %s", name, profile, staging, out)
    runs = {**staged_runs(), f"{name}/{profile}": str(staging)}
    overrides = {STAGING_ENV_VAR: json.dumps(runs)}  # the kernel and this process write into ``staging``
    if force:  # the kernel inherits it: checkpoints, calibrations and surrogates are recomputed too
        overrides["DPLREPRO_FORCE"] = "1"
    with environment(**overrides):
        try:
            papermill.execute_notebook(
                str(staged_input),
                str(executed),
                parameters=params,
                kernel_name=KERNEL_NAME,
                cwd=str(project_root),
                progress_bar=progress,
                log_output=False,
            )
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
            failed = out.with_name(f"{name}.FAILED.ipynb")
            if executed.exists():
                shutil.copyfile(executed, failed)
            raise ChapterError(f"chapter {name!r} (profile {profile}) failed; executed notebook: {failed} (its "
                               f"partial outputs: {staging}; the last finished run in {final} is untouched)\n{exc}"
                               ) from exc
        finally:
            staged_input.unlink(missing_ok=True)
        seconds = time.time() - started
        if not (staging / "summary.json").exists():
            raise ChapterError(f"chapter {name!r} (profile {profile}) ran but wrote no summary.json in {staging}")
        _insert_banner(executed, _banner(name, profile, seconds))
    write_json_atomic(staging / "run.json", {
        "chapter": name, "profile": profile, "parameters": params, "inputs_hash": key, "run_id": run_id,
        "wall_time_s": round(seconds, 1), "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "executed_notebook": str(out), "machine": platform.machine(), "cpu_count": os.cpu_count(),
        "torch_threads": torch_threads_setting(),
        "summary_sha256": _sha256(staging / "summary.json"), "notebook_sha256": _sha256(executed),
    })
    _swap_in(staging, final)
    with atomic_path(out) as tmp:  # only a fully executed notebook reaches the book
        shutil.copyfile(final / "executed.ipynb", tmp)
    log.info("chapter %s done in %.1f s", name, seconds)
    _say_data_notes(name, profile, params)
    return out, False


def _swap_in(staging: Path, final: Path) -> None:
    """Make the finished run in ``staging`` the chapter's results folder ``final`` (two renames;
    the run it replaces is parked beside it in between, and restored by
    :func:`_tidy_interrupted_runs` should the process die there)."""
    replaced = final.with_name(f".{final.name}.replaced-{staging.name.rsplit('.run-', 1)[1]}")
    if final.exists():
        os.rename(final, replaced)
    os.rename(staging, final)
    if replaced.exists():
        shutil.rmtree(replaced)


def _tidy_interrupted_runs(final: Path) -> None:
    """Clear what interrupted runs of this chapter and profile left beside ``final`` (called
    under the run lock, so none of them is still running): a run folder parked by a swap that
    died half-way is put back, the partial folders of killed or failed runs are removed, each
    with a warning naming it."""
    profile = final.name
    parked = sorted(final.parent.glob(f".{profile}.replaced-*"))
    if parked and not final.exists():
        log.warning("restoring %s from %s (a run was stopped while swapping in its results)", final, parked[-1])
        os.rename(parked.pop(), final)
    for leftover in parked + sorted(final.parent.glob(f".{profile}.run-*")):
        log.warning("removing %s, left by an interrupted or failed run", leftover)
        shutil.rmtree(leftover, ignore_errors=True)


def _say_data_notes(name: str, profile: str, params: Mapping[str, Any]) -> None:
    """On the terminal (stderr), not only in the notebook: what the run's data readers left
    out, filled in or converted (``run.data_notes``, :func:`dplrepro.data.checks.note`), and --
    when it asked for ``auto`` data -- that it ran on the synthetic twin (or partly on it)."""
    run = ((read_summary(name, profile) or {}).get("run") or {})
    for line in run.get("data_notes") or []:
        print(f"dplrepro: chapter {name} (profile {profile}): {line}", file=sys.stderr)
    if params.get("data_source", "auto") != "auto":
        return
    used = run.get("data_source")
    if used in ("synthetic", "mixed"):
        what, found = (("the SYNTHETIC twin", "real data were") if used == "synthetic"
                       else ("REAL and SYNTHETIC data", "some real datasets were"))
        print(f"dplrepro: chapter {name} (profile {profile}) ran on {what}: {found} not found in "
              f"{data_dir()} (set DPLREPRO_DATA; `dplrepro data check` lists what is missing)", file=sys.stderr)


def parameters_for(name: str, parameters: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The book-wide ``parameters`` that chapter ``name`` declares; a parameter no chapter of
    ``names`` declares is refused (:class:`~dplrepro.chapters.ParameterError`)."""
    declared = {n: {s.name for s in chapter_spec(n).all_settings()} for n in names}
    for key in parameters:
        if not any(key in d for d in declared.values()):
            validate_parameters(name, {key: parameters[key]})  # raises, naming the parameter
    return {k: v for k, v in parameters.items() if k in declared[name]}


def stage_book(profile: str, *, build_dir: Path = BUILD_DIR, project_root: Path = PROJECT_ROOT) -> Path:
    """Assemble the book source: config, toc, plain pages and the EXECUTED chapter notebooks."""
    src = build_dir / "src" / profile
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(project_root / name, src / name)
    for extra in ("references.bib", "logo.png"):
        if (project_root / extra).exists():
            shutil.copy2(project_root / extra, src / extra)
    for page in toc_pages(project_root):
        source = project_root / f"{page}.md"
        if not source.exists():
            raise ChapterError(f"_toc.yml lists {page!r} but {source} does not exist")
        target = src / page
        target.parent.mkdir(parents=True, exist_ok=True)
        if is_notebook(source):
            executed = executed_path(Path(page).name, profile, build_dir)
            if not executed.exists():
                raise ChapterError(
                    f"chapter {page} has not been executed for profile {profile!r}: "
                    f"run `dplrepro run {Path(page).name} --profile {profile}` first"
                )
            shutil.copy2(executed, target.with_suffix(".ipynb"))
        else:
            shutil.copy2(source, target.with_suffix(".md"))
    static = project_root / "book" / "_static"
    if static.exists():
        shutil.copytree(static, src / "book" / "_static")
    return src


def build_html(profile: str, *, build_dir: Path = BUILD_DIR, project_root: Path = PROJECT_ROOT) -> Path:
    """Build the HTML book from the staged source; return the folder holding ``index.html``."""
    src = stage_book(profile, build_dir=build_dir, project_root=project_root)
    out = build_dir / "site" / profile
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(src), "--path-output", str(out), "--builder", "html"]
    log.info("building HTML: %s", " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ChapterError(f"jupyter-book build failed (exit {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    html = out / "_build" / "html"
    if not (html / "index.html").exists():
        raise ChapterError(f"jupyter-book reported success but {html / 'index.html'} is missing")
    return html


def default_jobs() -> int:
    """Chapters :func:`build_book` runs at once by default: 2 on a machine with two or more
    cores, else 1. The chapters' dependency graph rarely has more than two ready at a time,
    and each job gets its share of the cores (:func:`build_book`)."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def run_order(names: Sequence[str], profile: str, project_root: Path = PROJECT_ROOT) -> tuple[dict[str, list[str]], dict[str, float]]:
    """The scheduling data of :func:`build_book` for the chapters ``names``: each chapter's
    prerequisites among ``names`` (the chapters it reads, front matter ``reads``), and its
    priority, the longest chain of estimated wall times (s) from its start to the end of the
    book through the chapters that read it. The estimate of a chapter is its last recorded
    wall time for ``profile`` (``run.json``), else 1 s."""
    names = list(names)
    prerequisites = {n: [r for r in chapter_reads(n, project_root) if r in names] for n in names}
    readers = {n: [m for m in names if n in prerequisites[m]] for n in names}
    estimate = {}
    for n in names:
        record_path = results_root() / n / profile / "run.json"
        try:
            estimate[n] = max(float(json.loads(record_path.read_text()).get("wall_time_s", 1.0)), 1.0)
        except (OSError, ValueError, TypeError, AttributeError):
            estimate[n] = 1.0
    priority: dict[str, float] = {}

    def chain(n: str, path: tuple[str, ...]) -> float:
        if n in path:
            raise ChapterError(f"chapters read each other in a cycle: {' -> '.join(path[path.index(n):] + (n,))}")
        if n not in priority:
            priority[n] = estimate[n] + max((chain(m, path + (n,)) for m in readers[n]), default=0.0)
        return priority[n]

    for n in names:
        chain(n, ())
    return prerequisites, priority


def _worker_start(threads: int, log_level: int) -> None:
    """Initialise a :func:`build_book` worker process: its chapter kernels get ``threads`` torch threads."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")


def _worker_run(name: str, profile: str, parameters: Mapping[str, Any], build_dir: Path, project_root: Path,
                force: bool) -> tuple[bool, float]:
    """Run one chapter in a worker process: (reused?, wall time in s)."""
    started = time.time()
    _, reused = _run_or_reuse(name, profile, parameters, build_dir=build_dir, project_root=project_root,
                              progress=False, force=force)
    return reused, time.time() - started


def _run_chapters_in_parallel(names: Sequence[str], profile: str, parameters: Mapping[str, Mapping[str, Any]], *,
                              jobs: int, build_dir: Path, project_root: Path, force: bool) -> None:
    """Run ``names`` with up to ``jobs`` chapters at once, each after the chapters it reads.

    Among the chapters whose prerequisites are done, the one heading the longest remaining
    chain (:func:`run_order`) starts first. Each job's kernels get ``cores // jobs`` torch
    threads. A failed chapter does not stop the others; the chapters that read it are not
    run, and :class:`ChapterError` names both once everything else has finished."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from tqdm.auto import tqdm

    prerequisites, priority = run_order(names, profile, project_root)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    waiting, done = list(names), set()
    failed: dict[str, str] = {}
    skipped: list[str] = []
    running: dict[Any, str] = {}
    bar = tqdm(total=len(names), desc=f"book ({jobs} at a time, {threads} torch thread(s) each)", unit="chapter")
    executor = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_start, initargs=(threads, log.getEffectiveLevel()))
    try:
        while waiting or running:
            for n in list(waiting):
                blocked = [r for r in prerequisites[n] if r in failed or r in skipped]
                if blocked:
                    waiting.remove(n)
                    skipped.append(n)
                    bar.update(1)
                    bar.write(f"{n}: not run, it reads {', '.join(blocked)}")
            ready = sorted((n for n in waiting if all(r in done for r in prerequisites[n])),
                           key=lambda n: (-priority[n], names.index(n)))
            for n in ready[: jobs - len(running)]:
                waiting.remove(n)
                running[executor.submit(_worker_run, n, profile, parameters[n], build_dir, project_root, force)] = n
            if not running:
                if waiting:  # cannot happen: run_order refuses cycles
                    raise ChapterError(f"chapters {waiting} wait for chapters that never run")
                break
            bar.set_postfix_str("running " + ", ".join(sorted(running.values())))
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                n = running.pop(future)
                bar.update(1)
                try:
                    reused, seconds = future.result()
                except Exception as exc:  # a ChapterError, or a worker that died
                    failed[n] = str(exc)
                    bar.write(f"{n}: FAILED -- {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
                    continue
                done.add(n)
                bar.write(f"{n}: " + ("inputs unchanged, earlier run reused" if reused else f"ran in {seconds / 60:.1f} min"))
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
    executor.shutdown()
    if failed:
        lines = [f"{len(failed)} chapter(s) failed (profile {profile}):"]
        lines += [f"- {n}: {message}" for n, message in failed.items()]
        if skipped:
            lines.append(f"not run, because they read a failed chapter: {', '.join(skipped)}")
        raise ChapterError("\n".join(lines))


def build_book(
    profile: str = "quick",
    *,
    chapters_to_run: Iterable[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    build_dir: Path = BUILD_DIR,
    project_root: Path = PROJECT_ROOT,
    force: bool = False,
    jobs: int | None = None,
) -> Path:
    """Run every chapter (or the given ones) with ``profile`` (reusing unchanged runs unless
    ``force``), then build the HTML book.

    ``jobs``: chapters run at once (``None``: :func:`default_jobs`). With ``jobs > 1`` each
    chapter runs in a worker process whose kernels get ``cores // jobs`` torch threads, and
    starts once the chapters it reads have finished; with 1 they run one after the other in
    book order, in this process, with torch's default threads and a progress bar per cell.
    The thread count is part of each run's cache key, so a chapter's numbers depend on the
    settings, never on which other chapter ran beside it."""
    names = list(chapters_to_run) if chapters_to_run is not None else chapters(project_root)
    jobs = default_jobs() if jobs is None else int(jobs)
    if jobs < 1:
        raise ChapterError(f"jobs must be a positive number of chapters to run at once, got {jobs}")
    params = {name: parameters_for(name, parameters or {}, names) for name in names}
    for name, values in params.items():  # a bad parameter is refused before any chapter starts
        validate_parameters(name, {**values, "profile": profile})
    if jobs == 1 or len(names) == 1:
        for name in names:
            run_chapter(name, profile, params[name], build_dir=build_dir, project_root=project_root, force=force)
    else:
        _run_chapters_in_parallel(names, profile, params, jobs=min(jobs, len(names)), build_dir=build_dir,
                                  project_root=project_root, force=force)
    return build_html(profile, build_dir=build_dir, project_root=project_root)


# --------------------------------------------------------------------------- chapters read by chapters
def stale_reason(summary: Mapping | None, data_source: str, seed: int) -> str | None:
    """Why ``summary`` cannot be used by a run on ``data_source`` (real|synthetic) with ``seed``; None if it can."""
    if summary is None:
        return "no summary.json"
    run = summary.get("run")
    if not isinstance(run, Mapping):
        return "summary.json has no run record"
    if run.get("data_source") != data_source:
        return f"made on {run.get('data_source')!r} data, this run uses {data_source!r}"
    if run.get("seed") != seed:
        return f"made with seed {run.get('seed')!r}, this run uses seed {seed}"
    return None


@dataclass
class ChapterInput:
    """A chapter summary another chapter reads, and whether it was (re)made for it and why."""

    chapter: str
    summary: dict
    path: Path
    ran_here: bool
    reason: str | None     # why it was run here (None: used as found)

    def describe(self) -> dict:
        run = self.summary.get("run", {})
        return {"chapter": self.chapter, "ran_here": self.ran_here, "reason": self.reason,
                "data_source": run.get("data_source"), "seed": run.get("seed"),
                "finished_utc": run.get("finished_utc")}


def ensure_chapter(chapter: str, profile: str, data_source: str, seed: int, parameters: Mapping[str, Any], *,
                   build_dir: Path | None = None) -> ChapterInput:
    """``chapter``'s checked summary for ``profile``; the chapter is run first (:func:`run_chapter`
    with ``parameters`` and ``seed``, its notebook under ``build_dir``) if the summary is missing,
    or was made on other data (``data_source``: real|synthetic) or with another seed."""
    path = summary_path(chapter, profile)
    summary = read_summary(chapter, profile)  # a broken summary is an error naming the file and key
    reason = stale_reason(summary, data_source, seed)
    if reason is not None:
        log.warning("running chapter %s (profile %s): %s", chapter, profile, reason)
        run_chapter(chapter, profile, {**dict(parameters), "seed": seed}, build_dir=build_dir or BUILD_DIR,
                    progress=False)
        summary = read_summary(chapter, profile)
        if summary is None:
            raise SummaryError(f"{path}: chapter {chapter!r} ran but wrote no summary.json")
    return ChapterInput(chapter, summary, path, reason is not None, reason)

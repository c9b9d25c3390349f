"""Run the chapters with papermill and build the Jupyter Book from the executed notebooks.

The table of contents (``_toc.yml`` at the project root) is the one list of pages. A page
whose source ``book/<name>.md`` carries a Jupytext header is a *chapter notebook*: it is
converted to ``.ipynb``, executed once by papermill with the chosen profile, and the
executed notebook is what the HTML shows (Jupyter Book itself never re-executes it:
``execute_notebooks: off`` in ``_config.yml``). Other pages are plain MyST Markdown.

Layout of the build folder (``_build/`` at the project root)::

    _build/executed/<profile>/<name>.ipynb   papermill output of each chapter
    _build/src/<profile>/                    staged book source (config, toc, pages)
    _build/site/<profile>/_build/html/       the HTML book
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from .results import DATA_SOURCES, PROFILES

log = logging.getLogger("dplrepro.book")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BOOK_DIR = PROJECT_ROOT / "book"
BUILD_DIR = PROJECT_ROOT / "_build"
KERNEL_NAME = "python3"
#: Parameters every chapter's ``parameters`` cell defines.
STANDARD_PARAMETERS = ("profile", "device", "seed", "data_source")


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


def is_notebook(source: Path) -> bool:
    """True if a Markdown page is a Jupytext notebook (has a ``jupytext:`` front-matter block)."""
    text = source.read_text()
    if not text.startswith("---"):
        return False
    end = text.find("\n---", 3)
    front = yaml.safe_load(text[3:end]) if end > 0 else None
    return isinstance(front, dict) and "jupytext" in front


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
) -> Path:
    """Execute one chapter with papermill; return the executed notebook's path.

    ``parameters`` override the chapter's ``parameters`` cell (``profile`` is set from
    the argument). The notebook runs with the project root as working directory.
    A failing cell raises :class:`ChapterError` naming the chapter and the notebook
    holding the traceback.
    """
    import jupytext
    import papermill

    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    params = dict(parameters or {})
    params["profile"] = profile
    if params.get("data_source", "auto") not in DATA_SOURCES:
        raise ValueError(f"data_source must be one of {DATA_SOURCES}, got {params['data_source']!r}")

    source = chapter_source(name, project_root)
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"}
    has_parameters = any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in notebook.cells)
    if not has_parameters:
        raise ChapterError(f"{source} has no cell tagged 'parameters' (papermill needs one)")

    out = executed_path(name, profile, build_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staged_input = out.with_name(f".{name}.input.ipynb")
    jupytext.write(notebook, staged_input)
    started = time.time()
    log.info("running chapter %s (profile %s) -> %s", name, profile, out)
    tmp_out = out.with_name(f".{name}.executing.ipynb")
    try:
        papermill.execute_notebook(
            str(staged_input),
            str(tmp_out),
            parameters=params,
            kernel_name=KERNEL_NAME,
            cwd=str(project_root),
            progress_bar=progress,
            log_output=False,
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        failed = out.with_name(f"{name}.FAILED.ipynb")
        if tmp_out.exists():
            os.replace(tmp_out, failed)
        raise ChapterError(f"chapter {name!r} (profile {profile}) failed; executed notebook: {failed}\n{exc}") from exc
    finally:
        staged_input.unlink(missing_ok=True)
    os.replace(tmp_out, out)  # only a fully executed notebook reaches the book
    log.info("chapter %s done in %.1f s", name, time.time() - started)
    return out


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


def build_book(
    profile: str = "quick",
    *,
    chapters_to_run: Iterable[str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    build_dir: Path = BUILD_DIR,
    project_root: Path = PROJECT_ROOT,
) -> Path:
    """Run every chapter (or the given ones) with ``profile``, then build the HTML book."""
    names = list(chapters_to_run) if chapters_to_run is not None else chapters(project_root)
    for name in names:
        run_chapter(name, profile, parameters, build_dir=build_dir, project_root=project_root)
    return build_html(profile, build_dir=build_dir, project_root=project_root)

"""Chapter results: ``results/<chapter>/<profile>/summary.json`` and run records.

A chapter creates one :class:`ChapterRun` at its top, states which data it runs on
(:meth:`ChapterRun.announce`), and ends with :meth:`ChapterRun.finish`, which writes its
headline numbers plus a record of how they were made (profile, seed, device, data
source, wall time, versions) atomically. The book's comparison with the paper is
generated from these files only.
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import __version__
from .utils import resolve_device, write_json_atomic

RESULTS_ENV_VAR = "DPLREPRO_RESULTS"
PROFILES = ("quick", "full")
DATA_SOURCES = ("auto", "real", "synthetic")


def results_root() -> Path:
    """Folder holding every chapter's results: ``$DPLREPRO_RESULTS`` or ``<project>/results``."""
    value = os.environ.get(RESULTS_ENV_VAR, "").strip()
    if value:
        return Path(value).expanduser().resolve()
    return Path(__file__).resolve().parents[1] / "results"


def chapter_dir(chapter: str, profile: str) -> Path:
    """``results/<chapter>/<profile>/`` (created on demand)."""
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
    path = results_root() / chapter / profile
    path.mkdir(parents=True, exist_ok=True)
    return path


def summary_path(chapter: str, profile: str) -> Path:
    """``results/<chapter>/<profile>/summary.json`` (nothing is created)."""
    return results_root() / chapter / profile / "summary.json"


def load_summary(chapter: str, profile: str) -> dict[str, Any]:
    """Read a chapter's ``summary.json``; a clear error if the chapter has not been run."""
    path = summary_path(chapter, profile)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: run the chapter first (dplrepro run {chapter} --profile {profile})"
        )
    return json.loads(path.read_text())


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
    started: float = field(default_factory=time.time)
    data_description: str | None = None
    resolved_source: str | None = None

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
        """Write ``summary.json`` (headline numbers + run record) atomically; return its path."""
        record = {
            "chapter": self.chapter,
            "profile": self.profile,
            "seed": self.seed,
            "device": self.device,
            "resolved_device": str(resolve_device(self.device)),
            "data_source": self.resolved_source or self.data_source,
            "data_description": self.data_description,
            "wall_time_s": round(time.time() - self.started, 3),
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "dplrepro_version": __version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
        overlap = set(summary) & {"run"}
        if overlap:
            raise ValueError(f"summary keys {sorted(overlap)} are reserved")
        return write_json_atomic(self.path("summary.json"), {**dict(summary), "run": record})

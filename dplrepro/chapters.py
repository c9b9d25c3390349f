"""The chapter API: a chapter's papermill parameters -> (run record, validated configuration).

Every chapter notebook starts the same way::

    # parameters cell (papermill)
    profile = "quick"
    ...
    # first code cell
    from dplrepro.chapters import start_chapter
    run, cfg = start_chapter("camels", globals())

:data:`CHAPTERS` is the one list of every chapter's settings: name, type, allowed values,
what it changes in the profile's configuration, and the chapter's thread policy. The same
check runs in the notebook (:func:`start_chapter`) and in ``dplrepro run``/``dplrepro book``
before any kernel starts (:func:`validate_parameters`), so a misspelt key, a wrong type, a
value out of range or an unknown profile is refused with a message naming the parameter,
what was given and what is allowed.

One sentinel convention: a setting whose value is ``None`` keeps the profile's value.
Counts of basins also take ``"all"`` (every basin with data).
"""

from __future__ import annotations

import json
import logging
import re
import types
import warnings
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any, Callable, Mapping

import torch

from .data.splits import TimeWindow
from .experiments import pub, soil_moisture, streamflow, surrogate
from .results import DATA_SOURCES, PROFILES, ChapterRun
from .utils import resolve_device, seed_everything

__all__ = ["CHAPTERS", "STANDARD_PARAMETERS", "ChapterSpec", "DataTourConfig", "ParameterError", "Setting", "chapter_spec",
           "configure", "start_chapter", "validate_parameters"]

#: Names IPython puts into a notebook's namespace; never parameters.
_IPYTHON_NAMES = {"In", "Out", "exit", "quit", "get_ipython"}
#: The parameters every chapter has, first in its ``parameters`` cell.
STANDARD_PARAMETERS = ("profile", "device", "seed", "data_source")
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_PERIOD = re.compile(r"^\d{4}-\d{2}-\d{2}/\d{4}-\d{2}-\d{2}$")


class ParameterError(ValueError):
    """A chapter parameter is unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Setting:
    """One papermill parameter of a chapter.

    ``kind``: ``int``, ``float``, ``str``, ``count`` (int >= 1 or ``"all"``), ``ints`` /
    ``floats`` (a list, or a comma-separated string ``"4,2,1"``), ``period``
    (``"YYYY-MM-DD/YYYY-MM-DD"``), ``json`` (a JSON object as a string, or a dict).
    ``apply(config, value)`` returns the configuration with the value set; it is not called
    for ``None`` (the profile's value stays). Settings without ``apply`` are read from
    ``run.parameters``.
    """

    name: str
    kind: str
    help: str
    default: Any = None
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    apply: Callable[[Any, Any], Any] | None = None

    def allowed(self) -> str:
        """What this setting accepts, in words."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        what = {"int": "an integer", "float": "a number", "str": "a string", "count": "an integer",
                "ints": 'a list of integers (or "4,2,1")', "floats": 'a list of numbers (or "1,0.5")',
                "period": '"YYYY-MM-DD/YYYY-MM-DD"', "json": "a JSON object"}[self.kind]
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        if bounds:
            what += " " + " and ".join(bounds)
        if self.kind == "count":
            what += ' or "all"'
        nullable = self.default is None and self.name not in STANDARD_PARAMETERS
        return what + (" (None: the profile's value)" if nullable else "")

    def check(self, chapter: str, value: Any) -> Any:
        """The value coerced to its type, or :class:`ParameterError`."""
        if value is None and self.default is None:
            return None
        try:
            out = self._coerce(value)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"chapter {chapter!r}: parameter {self.name!r} got {value!r} ({exc}); allowed: {self.allowed()}"
            ) from None
        return out

    def _number(self, value: Any, integer: bool) -> float | int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            raise TypeError(f"a {type(value).__name__}, not {'an integer' if integer else 'a number'}")
        if self.minimum is not None and value < self.minimum:
            raise ValueError("out of range")
        if self.maximum is not None and value > self.maximum:
            raise ValueError("out of range")
        return value

    def _coerce(self, value: Any) -> Any:
        kind = self.kind
        if kind in ("int", "float"):
            out = self._number(value, kind == "int")
        elif kind == "count":
            out = "all" if value == "all" else self._number(value, True)
        elif kind in ("ints", "floats"):
            items = value.split(",") if isinstance(value, str) else [value] if isinstance(value, (int, float)) else value
            if not isinstance(items, (list, tuple)) or not items:
                raise TypeError("not a non-empty list")
            cast = int if kind == "ints" else float
            parsed = [cast(v.strip()) if isinstance(v, str) else v for v in items]
            out = tuple(cast(self._number(v, kind == "ints")) for v in parsed)
        elif kind == "period":
            if not isinstance(value, str) or not _PERIOD.match(value):
                raise ValueError("not YYYY-MM-DD/YYYY-MM-DD")
            start, end = value.split("/")
            if start >= end:
                raise ValueError("the start is not before the end")
            out = TimeWindow(start, end)
        elif kind == "json":
            out = json.loads(value) if isinstance(value, str) and value.strip() else (value or {})
            if not isinstance(out, dict):
                raise TypeError("not a JSON object")
        elif kind == "str":
            if not isinstance(value, str):
                raise TypeError(f"a {type(value).__name__}, not a string")
            out = value
        else:  # pragma: no cover - a programming error in CHAPTERS
            raise AssertionError(f"unknown setting kind {kind!r}")
        if self.choices and out not in self.choices:
            raise ValueError("not allowed")
        return out


@dataclass(frozen=True)
class ChapterSpec:
    """A chapter's settings, its profiles' configurations and its CPU thread policy.

    ``profiles``: profile name -> configuration dataclass (``None``: the chapter has no
    configuration; :func:`configure` then returns its validated parameters as attributes).
    ``cpu_threads``: torch threads on a CPU (``None``: torch's default, every core).
    ``finish``: applied to the configuration after the overrides (derived fields).
    ``set_seed``: puts the seed into the configuration (default: its ``seed`` field, if any).
    """

    name: str
    settings: tuple[Setting, ...] = ()
    profiles: Mapping[str, Any] | None = None
    cpu_threads: int | None = None
    finish: Callable[[Any], Any] | None = None
    set_seed: Callable[[Any, int], Any] | None = None   # default: the configuration's ``seed`` field

    @property
    def profile_names(self) -> tuple[str, ...]:
        return tuple(self.profiles) if self.profiles is not None else PROFILES

    def all_settings(self) -> tuple[Setting, ...]:
        """The four settings every chapter has, then the chapter's own."""
        standard = (
            Setting("profile", "str", "quick | full", "quick", choices=self.profile_names),
            Setting("device", "str", "auto | cpu | cuda | cuda:N", "auto"),
            Setting("seed", "int", "random seed (data twin, initialisation, sampling)", 0, minimum=0),
            Setting("data_source", "str", "auto | real | synthetic", "auto", choices=DATA_SOURCES),
        )
        return standard + self.settings

    def setting(self, name: str) -> Setting:
        for s in self.all_settings():
            if s.name == name:
                return s
        raise ParameterError(self._unknown(name))

    def _unknown(self, name: str) -> str:
        names = [s.name for s in self.all_settings()]
        return f"chapter {self.name!r} has no parameter {name!r}; its parameters are: {', '.join(names)}"


def _set(field: str) -> Callable[[Any, Any], Any]:
    """``apply`` that sets one field of the configuration."""
    return lambda cfg, v: replace(cfg, **{field: v})


def _set_epochs(*training_fields: str) -> Callable[[Any, Any], Any]:
    """``apply`` that sets ``epochs`` of the configuration's :class:`TrainConfig` field(s)."""
    return lambda cfg, v: replace(cfg, **{f: replace(getattr(cfg, f), epochs=v) for f in training_fields})


def _basins(field: str) -> Callable[[Any, Any], Any]:
    """``apply`` for a basin count: ``"all"`` -> ``None`` (every basin) in the configuration."""
    return lambda cfg, v: replace(cfg, **{field: None if v == "all" else v})


def _surrogate_rounds(exp, v):
    return replace(exp, build=replace(exp.build, rounds=v))


def _surrogate_epochs(exp, v):
    return replace(exp, build=replace(exp.build, training=replace(exp.build.training, epochs=v)))


@dataclass(frozen=True)
class DataTourConfig:
    """The data tour's settings."""

    n_stats_basins: int | None = 50   # basins in the water-balance statistics (None: every basin)
    example_basin: str | None = None  # basin id of the hydrograph (None: the most complete one)
    example_year: int = 2005          # water year (Oct..Sep) shown for the example basin


_EPOCHS = "training epochs"
_N_SEEDS = Setting("n_seeds", "int", "seeds every method runs with: seed, seed + 1, ... (None: the profile's; quick 3)",
                   minimum=1, maximum=20, apply=_set("n_seeds"))
_SCEUA = "SCE-UA model runs per site"
_SM_SETTINGS = (
    Setting("epochs", "int", f"dPL {_EPOCHS}", minimum=1, apply=_set_epochs("training")),
    Setting("sceua_maxn", "int", _SCEUA, minimum=10, apply=_set("sceua_maxn")),
    Setting("densities", "ints", "training densities n (one cell per n×n block): 4 ~ s16, 2 ~ s8, 1 ~ s4",
            minimum=1, maximum=16, apply=_set("densities")),
    Setting("train_years", "ints", "training years (1: 2015-04..2016-03; 2: both SMAP years)",
            minimum=1, maximum=2, apply=_set("train_years")),
    Setting("surrogate_rounds", "int", "the surrogate's refinement rounds (as in the surrogate chapter)",
            minimum=0, maximum=10, apply=_set("surrogate_rounds")),
    Setting("surrogate_epochs", "int", "the surrogate's round-0 epochs (as in the surrogate chapter)",
            minimum=1, apply=_set("surrogate_epochs")),
    _N_SEEDS,
)

#: Every chapter of the book, by name (the pages of ``_toc.yml`` that are notebooks).
CHAPTERS: dict[str, ChapterSpec] = {spec.name: spec for spec in (
    ChapterSpec("data_tour", (
        Setting("example_basin", "str", "basin id of the hydrograph (None: the most complete one)",
                apply=_set("example_basin")),
        Setting("example_year", "int", "water year (Oct..Sep) shown for the example basin", 2005,
                minimum=1981, maximum=2014, apply=_set("example_year")),
        Setting("n_stats_basins", "count", "basins in the water-balance statistics", minimum=1,
                apply=_basins("n_stats_basins")),
    ), profiles={"quick": DataTourConfig(), "full": DataTourConfig(n_stats_basins=None)}),
    ChapterSpec("camels", (
        Setting("n_basins", "count", "CAMELS basins", minimum=1, apply=_basins("n_basins")),
        Setting("epochs", "int", f"dPL {_EPOCHS}", minimum=1, apply=_set_epochs("training")),
        Setting("sceua_maxn", "int", _SCEUA, minimum=10, apply=_set("sceua_maxn")),
        Setting("train_period", "period", "training period", apply=_set("train_period")),
        Setting("test_period", "period", "test period", apply=_set("test_period")),
        _N_SEEDS,
    ), profiles=streamflow.PROFILES, cpu_threads=1),  # small batched time loops run faster on one thread
    ChapterSpec("surrogate", (
        Setting("surrogate_rounds", "int", "refinement rounds after round 0", minimum=0, maximum=10,
                apply=_surrogate_rounds),
        Setting("surrogate_epochs", "int", "round-0 training epochs", minimum=1, apply=_surrogate_epochs),
        _N_SEEDS,
    ), profiles=surrogate.PROFILES,  # the LSTMs dominate: every core
        set_seed=lambda exp, seed: replace(exp, build=replace(exp.build, seed=seed))),
    ChapterSpec("soil_moisture", _SM_SETTINGS, profiles=soil_moisture.PROFILES,
                finish=soil_moisture.with_comparison_density),
    ChapterSpec("evapotranspiration", (
        Setting("density", "int", "training cells: one per n×n block (2 ~ the paper's s8)", minimum=1,
                maximum=16, apply=lambda cfg, v: replace(cfg, densities=(v,), comparison_density=v)),
        *_SM_SETTINGS[:2], _N_SEEDS,
    ), profiles=soil_moisture.PROFILES),
    ChapterSpec("global_pub", (
        Setting("n_basins_us", "count", "CAMELS-US basins", minimum=1, apply=_basins("n_basins_us")),
        Setting("n_basins_gb", "count", "CAMELS-GB basins", minimum=1, apply=_basins("n_basins_gb")),
        Setting("k_folds", "int", "folds per climate group", minimum=2, maximum=20, apply=_set("k_folds")),
        Setting("epochs", "int", f"{_EPOCHS} of every method", minimum=1,
                apply=_set_epochs("training", "ltf_training")),
        Setting("fractions", "floats", "training fractions, e.g. 1,0.5,0.25,0.125", minimum=1e-3, maximum=1,
                apply=_set("fractions")),
        Setting("n_synthetic", "int", "twin basins when no real data", minimum=10, apply=_set("n_synthetic")),
        _N_SEEDS,
    ), profiles=pub.PROFILES, cpu_threads=2),
    ChapterSpec("scaling_curves", (
        *_SM_SETTINGS,
        Setting("pub_parameters", "json", "extra parameters of the global_pub chapter if it has to run here"),
    ), profiles=soil_moisture.PROFILES, finish=soil_moisture.with_comparison_density),
    ChapterSpec("reproduce"),
    ChapterSpec("results"),
    ChapterSpec("performance", (
        Setting("benchmark_dir", "str", "folder of the benchmark records (None: benchmarks/results)"),
    )),
)}


def chapter_spec(name: str) -> ChapterSpec:
    """The :class:`ChapterSpec` of chapter ``name``; :class:`ParameterError` if there is none."""
    if name not in CHAPTERS:
        raise ParameterError(f"unknown chapter {name!r}; chapters: {', '.join(CHAPTERS)}")
    return CHAPTERS[name]


def validate_parameters(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter of chapter ``name``: ``given`` checked and coerced, the rest at their
    defaults. Raises :class:`ParameterError` (naming the parameter, the value and what is
    allowed) for an unknown name, a wrong type, a value out of range or an unknown profile."""
    spec = chapter_spec(name)
    names = {s.name for s in spec.all_settings()}
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ParameterError(spec._unknown(unknown[0]))
    values = {}
    for s in spec.all_settings():
        value = s.check(name, given[s.name]) if s.name in given else s.default
        if s.name == "device" and not _DEVICE.match(str(value)):
            raise ParameterError(f"chapter {name!r}: parameter 'device' got {value!r}; allowed: auto, cpu, cuda, cuda:N")
        values[s.name] = value
    return values


def configure(name: str, values: Mapping[str, Any]) -> Any:
    """The configuration of chapter ``name`` for validated ``values``: the profile's, with every
    non-``None`` setting applied and ``seed`` set; a namespace of the values if the chapter has
    no configuration."""
    spec = chapter_spec(name)
    if spec.profiles is None:
        return types.SimpleNamespace(**values)
    cfg = spec.profiles[values["profile"]]
    for s in spec.settings:
        if s.apply is not None and values[s.name] is not None:
            cfg = s.apply(cfg, values[s.name])
    if spec.set_seed is not None:
        cfg = spec.set_seed(cfg, values["seed"])
    elif is_dataclass(cfg) and "seed" in {f.name for f in fields(cfg)}:
        cfg = replace(cfg, seed=values["seed"])
    return spec.finish(cfg) if spec.finish else cfg


def _notebook_parameters(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """The variables of a notebook's namespace that can be parameters (no modules, functions,
    classes, IPython names or ``_private`` names)."""
    return {k: v for k, v in namespace.items()
            if not k.startswith("_") and k not in _IPYTHON_NAMES
            and not isinstance(v, types.ModuleType) and not callable(v)}


def start_chapter(name: str, namespace: Mapping[str, Any]) -> tuple[ChapterRun, Any]:
    """Validate a notebook's parameters (``globals()`` right after its parameters cell), seed
    everything, set the chapter's thread policy and quiet logging; return ``(run, config)``."""
    spec = chapter_spec(name)
    values = validate_parameters(name, _notebook_parameters(namespace))
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    seed_everything(values["seed"])
    if spec.cpu_threads is not None and resolve_device(values["device"]).type == "cpu":
        torch.set_num_threads(min(spec.cpu_threads, torch.get_num_threads()))
    recorded = {k: f"{v.start}/{v.end}" if isinstance(v, TimeWindow) else v for k, v in values.items()}
    run = ChapterRun(name, profile=values["profile"], seed=values["seed"], device=values["device"],
                     data_source=values["data_source"], parameters=recorded)
    return run, configure(name, values)

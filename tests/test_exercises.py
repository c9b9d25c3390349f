"""Every experiment chapter ends with classroom exercises (fast: no notebook is executed).

Which chapters must have exercises
----------------------------------
Every chapter notebook listed by :func:`dplrepro.book.chapters` is checked (so a chapter
added later is covered without editing this file) if

* its ``parameters`` cell assigns ``profile`` (it is an executable experiment, not a
  notebook page such as a results overview), **and**
* it is listed in ``_toc.yml`` under the part captioned ``Experiments``, or it is
  ``data_tour``.

Other notebook pages are skipped, with the reason.

What an exercise section must look like
---------------------------------------
* The last ``## `` heading of the chapter's Markdown is ``## Exercises``, and no code
  cell follows it (exercises add no run time).
* The section holds 2–3 exercises, each a ``### `` sub-section with exactly one solution
  hidden behind a toggle, written as a MyST dropdown admonition::

      ```{admonition} Solution
      :class: dropdown

      ...
      ```

* The exercise text (outside its solution) gives exactly one command
  ``dplrepro run CHAPTER [--profile P] -p key=value``: CHAPTER is this chapter and the
  command changes exactly one parameter.
* Every ``dplrepro run`` command anywhere in the section (solutions may also point to
  another chapter) names a chapter notebook, a valid profile, and only ``-p`` keys that the
  named chapter's ``parameters`` cell assigns, with a value that the CLI parses to one the
  chapter accepts (:func:`dplrepro.chapters.validate_parameters`: type and range).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest
import yaml

from dplrepro import book, cli
from dplrepro.chapters import ParameterError, validate_parameters
from dplrepro.results import PROFILES

ROOT = book.PROJECT_ROOT
EXPERIMENTS_CAPTION = "Experiments"
ALWAYS = ("data_tour",)
SOLUTION_OPEN = "```{admonition} Solution"
COMMAND = re.compile(r"dplrepro\s+run\s+(?P<chapter>[\w-]+)(?P<options>(?:\s+(?:--profile\s+\S+|-p\s+[^\s`]+))*)")
OPTION = re.compile(r"(--profile|-p)\s+([^\s`]+)")


# ----------------------------------------------------------------------------- helpers
def toc_captions(project_root: Path = ROOT) -> dict[str, str | None]:
    """Chapter name -> caption of the ``_toc.yml`` part that lists it (None outside parts)."""
    toc = yaml.safe_load((project_root / "_toc.yml").read_text())
    captions: dict[str, str | None] = {}

    def walk(node, caption):
        if isinstance(node, dict):
            if "file" in node or "root" in node:
                captions.setdefault(Path(str(node.get("file", node.get("root")))).name, caption)
            for key in ("chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child, caption)
            for part in node.get("parts", []) or []:
                walk(part, part.get("caption") if isinstance(part, dict) else caption)
        elif isinstance(node, list):
            for child in node:
                walk(child, caption)

    walk(toc, None)
    # the same pages as dplrepro.book.toc_pages, so the two readings of the toc agree
    assert set(captions) == {Path(p).name for p in book.toc_pages(project_root)}
    return captions


def notebook(name: str):
    return jupytext.read(ROOT / "book" / f"{name}.md")


def parameters_cell(nb) -> str | None:
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    return tagged[0].source if tagged else None


def parameter_defaults(name: str) -> dict[str, object]:
    """``{name: default}`` of the assignments in a chapter's ``parameters`` cell."""
    source = parameters_cell(notebook(name)) or ""
    defaults = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    try:
                        defaults[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        defaults[target.id] = None  # not a literal: any value type accepted
    return defaults


def exercise_reason(name: str, captions: dict[str, str | None]) -> str | None:
    """None if chapter ``name`` must have exercises, else why not (see the module docstring)."""
    source = parameters_cell(notebook(name))
    if source is None or not re.search(r"^profile\s*=", source, flags=re.M):
        return f"{name}: its parameters cell does not define `profile` (not an experiment notebook)"
    if name not in ALWAYS and captions.get(name) != EXPERIMENTS_CAPTION:
        return f"{name}: listed under {captions.get(name)!r}, not {EXPERIMENTS_CAPTION!r}"
    return None


def outside_fences(lines: list[str]):
    """(index, line) of the lines that are not inside a fenced block (``` or longer)."""
    fence = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        ticks = re.match(r"^(`{3,})", stripped)
        if fence is None:
            if ticks:
                fence = ticks.group(1)
                continue
            yield i, line
        elif ticks and stripped == ticks.group(1) and len(ticks.group(1)) >= len(fence):
            fence = None


def markdown_after_last_h2(nb) -> tuple[str, str, list]:
    """(last ``## `` heading, the Markdown from it to the end, the cells after its cell)."""
    last = None
    for ci, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.splitlines()
        for li, line in outside_fences(lines):
            if line.startswith("## "):
                last = (ci, li, line.strip())
    assert last is not None, "no '## ' heading in the chapter"
    ci, li, heading = last
    text = "\n".join(nb.cells[ci].source.splitlines()[li:])
    return heading, text, nb.cells[ci + 1:]


def split_exercises(section: str) -> list[str]:
    """The ``### `` sub-sections of the section (headings outside fences)."""
    lines = section.splitlines()
    starts = [i for i, line in outside_fences(lines) if line.startswith("### ")]
    return ["\n".join(lines[a:b]) for a, b in zip(starts, starts[1:] + [len(lines)])]


def solutions(text: str) -> list[tuple[int, int]]:
    """(start, end) line spans of the dropdown Solution admonitions; asserts their form."""
    lines = text.splitlines()
    spans = []
    for i, line in enumerate(lines):
        if line.strip().startswith("```{admonition}"):
            assert line.strip() == SOLUTION_OPEN, f"unexpected admonition {line.strip()!r}"
            assert i + 1 < len(lines) and lines[i + 1].strip() == ":class: dropdown", \
                f"the Solution admonition must be a dropdown (':class: dropdown' on the next line): {line!r}"
            end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == "```"), None)
            assert end is not None, "a Solution admonition is not closed with ```"
            assert any(lines[j].strip() for j in range(i + 2, end)), "a Solution admonition is empty"
            spans.append((i, end))
    return spans


def commands(text: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every ``dplrepro run`` command in ``text``: (chapter, [(option, value), ...])."""
    return [(m.group("chapter"), OPTION.findall(m.group("options"))) for m in COMMAND.finditer(text)]


def check_command(chapter: str, options: list[tuple[str, str]], chapter_names: list[str]) -> list[str]:
    """Problems of one command (empty list: valid)."""
    if chapter not in chapter_names:
        return [f"`dplrepro run {chapter}`: no such chapter (chapters: {', '.join(chapter_names)})"]
    problems = []
    defaults = parameter_defaults(chapter)
    for option, value in options:
        if option == "--profile":
            if value not in PROFILES:
                problems.append(f"{chapter}: unknown profile {value!r}")
            continue
        parsed = cli._parse_params([value])  # exactly what `dplrepro run -p` does
        (key, val), = parsed.items()
        if key not in defaults:
            problems.append(f"{chapter}: -p {value}: {key!r} is not assigned in the parameters cell")
            continue
        if key == "profile":
            problems.append(f"{chapter}: -p {value}: set the profile with --profile, not -p")
        try:  # the chapter's own check of types and ranges (dplrepro.chapters), as `dplrepro run` does
            validate_parameters(chapter, {key: val})
        except ParameterError as exc:
            problems.append(f"{chapter}: -p {value}: {exc}")
    return problems


# ----------------------------------------------------------------------------- tests
CHAPTERS = book.chapters()


def test_selection_rule_picks_the_experiments():
    captions = toc_captions()
    selected = [n for n in CHAPTERS if exercise_reason(n, captions) is None]
    assert selected, "no chapter qualifies for exercises: the selection rule is broken"
    experiments = [n for n in CHAPTERS if captions.get(n) == EXPERIMENTS_CAPTION]
    assert experiments, f"no chapter notebook under the toc caption {EXPERIMENTS_CAPTION!r}"
    for name in ALWAYS:
        if name in CHAPTERS:
            assert name in selected, exercise_reason(name, captions)


WITH_EXERCISES = [n for n in CHAPTERS if exercise_reason(n, toc_captions()) is None]


@pytest.mark.parametrize("name", WITH_EXERCISES)
def test_chapter_ends_with_exercises(name):
    nb = notebook(name)
    heading, section, after = markdown_after_last_h2(nb)
    assert heading == "## Exercises", f"{name}: the last '## ' heading is {heading!r}, not '## Exercises'"
    assert not [c for c in after if c.cell_type == "code"], f"{name}: code cells after '## Exercises'"

    exercises = split_exercises(section)
    assert 2 <= len(exercises) <= 3, f"{name}: {len(exercises)} exercises ('### ' sub-sections); expected 2-3"
    assert len(solutions(section)) == len(exercises), f"{name}: one Solution admonition per exercise"

    chapter_names = book.chapters()
    problems = []
    for text in exercises:
        title = text.splitlines()[0]
        spans = solutions(text)
        assert len(spans) == 1, f"{name}, {title}: {len(spans)} Solution admonitions; expected exactly one"
        lines = text.splitlines()
        start, end = spans[0]
        prompt = "\n".join(lines[:start] + lines[end + 1:])
        asked = commands(prompt)
        assert len(asked) == 1, f"{name}, {title}: {len(asked)} `dplrepro run` commands outside the solution; expected 1"
        chapter, options = asked[0]
        assert chapter == name, f"{name}, {title}: the command runs {chapter!r}, not this chapter"
        changed = [v for o, v in options if o == "-p"]
        assert len(changed) == 1, f"{name}, {title}: the command changes {len(changed)} parameters; expected one"
        for chapter, options in commands(text):
            problems += [f"{title}: {p}" for p in check_command(chapter, options, chapter_names)]
    assert not problems, f"{name}:\n" + "\n".join(problems)


def test_command_checks_catch_mistakes():
    """The checks above reject what they should (a self-test of the helpers)."""
    names = book.chapters()
    assert "soil_moisture" in names
    assert check_command("soil_moisture", [("--profile", "quick"), ("-p", "densities=4,2,1")], names) == []
    assert check_command("nope", [], names)
    assert check_command("soil_moisture", [("-p", "density=4")], names)      # not its parameter
    assert check_command("soil_moisture", [("-p", "densities=4")], names) == []  # one density
    assert check_command("soil_moisture", [("-p", "train_years=3")], names)   # out of range
    assert check_command("camels", [("-p", "epochs=2.5")], names)             # not an integer
    assert check_command("soil_moisture", [("--profile", "huge")], names)
    assert commands("run `dplrepro run camels --profile quick -p epochs=5` now") == \
        [("camels", [("--profile", "quick"), ("-p", "epochs=5")])]
    text = "### A\n\n```{admonition} Solution\n:class: dropdown\n\nx\n```\n"
    assert solutions(text) == [(2, 6)]
    with pytest.raises(AssertionError, match="dropdown"):
        solutions("```{admonition} Solution\n\nx\n```\n")

"""The headless-Chromium check of the HTML book (tests/browser_check.py) finds what it should.

A tiny Jupyter Book (same jupyter-book / sphinx-book-theme / myst-nb as the real book; it
builds in a few seconds) gets planted defects -- an error output, a traceback printed to
stderr, a corrupt image, a broken sidebar link -- and the checker must report exactly
those, and nothing for the good pages.

Without Chromium/chromedriver/selenium these tests skip -- unless
``DPLREPRO_REQUIRE_REAL_DATA=1`` (CI, see conftest.py), where they fail.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

import browser_check
from browser_check import check_book


def _require_browser() -> None:
    lacking = browser_check.missing()
    if lacking:
        msg = ("the headless-browser check of the book needs " + "; ".join(lacking)
               + " -- apt-get install chromium chromium-driver; pip install selenium")
        if os.environ.get("DPLREPRO_REQUIRE_REAL_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)


def _png(slope: float) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2), dpi=50)
    ax.plot([0, 1], [0, slope])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _notebook(path: Path, title: str, outputs: list) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_markdown_cell(f"# {title}\n\nSome text.")]
                      + [new_code_cell("pass", outputs=[o]) for o in outputs])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def mini_book(tmp_path_factory) -> Path:
    """Build the tiny book, plant the defects that need a built book, return its html folder."""
    from nbformat.v4 import new_output

    src = tmp_path_factory.mktemp("minibook")
    (src / "_config.yml").write_text(
        'title: mini\nauthor: tests\nonly_build_toc_files: true\n'
        'execute:\n  execute_notebooks: "off"\n'
        "html:\n  home_page_in_navbar: true\n"
        "sphinx:\n  config:\n    nb_merge_streams: true\n    intersphinx_mapping: {}\n"
    )
    (src / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: Pages\n    chapters:\n"
        + "".join(f"      - file: {name}\n" for name in ("good", "error", "logged", "broken", "links"))
    )
    (src / "intro.md").write_text("# Intro\n\nThe front page.\n")
    (src / "links.md").write_text("# Links\n\nA page whose sidebar gets a broken link.\n")
    png = lambda slope: new_output("display_data", data={"image/png": _png(slope), "text/plain": "<Figure>"})
    _notebook(src / "good.ipynb", "Good", [
        png(1.0),
        new_output("stream", name="stdout", text="42\n"),
        new_output("stream", name="stderr", text="UserWarning: a harmless warning\n"),
    ])
    _notebook(src / "error.ipynb", "Error", [new_output(
        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[
            "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
            "\x1b[0;31mZeroDivisionError\x1b[0m                         Traceback (most recent call last)",
            "Cell \x1b[0;32mIn[1], line 1\x1b[0m\n\x1b[0;32m----> 1\x1b[0m \x1b[38;5;241m1\x1b[39m\x1b[38;5;241m/\x1b[39m\x1b[38;5;241m0\x1b[39m\n",
            "\x1b[0;31mZeroDivisionError\x1b[0m: division by zero",
        ])])
    _notebook(src / "logged.ipynb", "Logged", [new_output(
        "stream", name="stderr",
        text="Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: boom\n")])
    _notebook(src / "broken.ipynb", "Broken", [png(-1.0)])

    jb = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jb) if jb.exists() else "jupyter-book", "build", str(src)],
                            capture_output=True, text=True, timeout=300)
    html = src / "_build" / "html"
    assert result.returncode == 0 and (html / "broken.html").exists(), result.stdout[-3000:] + result.stderr[-3000:]

    # The broken page's image: a file that is there but is no image.
    broken = (html / "broken.html").read_text()
    good = (html / "good.html").read_text()
    image = broken.split('<img alt="', 1)[1].split('src="', 1)[1].split('"', 1)[0]
    assert image.startswith("_images/") and image not in good
    (html / image).write_bytes(b"this is not a PNG")
    # The links page: its sidebar entry for "good" points at a page that does not exist.
    links = (html / "links.html").read_text()
    entry = '<a class="reference internal" href="good.html">'
    assert links.count(entry) == 1, "sidebar structure changed: update tests/browser_check.py"
    (html / "links.html").write_text(links.replace(entry, '<a class="reference internal" href="nowhere.html#top">'))
    # A page whose article holds nothing but sphinx-thebe's <script>.
    intro = (html / "intro.html").read_text()
    start, end = intro.index('<article class="bd-article">'), intro.index('<script type="text/x-thebe-config">')
    (html / "empty.html").write_text(intro[:start] + '<article class="bd-article">' + intro[end:])
    # A page with nothing: no title, no main content, no navigation.
    (html / "bare.html").write_text("<!DOCTYPE html><html><head></head><body><p>bare</p></body></html>")
    return html


def test_the_checker_reports_exactly_the_planted_problems(request):
    _require_browser()
    html = request.getfixturevalue("mini_book")
    problems = check_book(html, ["index", "intro", "good", "error", "logged", "broken", "links"])
    by_page = {}
    for problem in problems:
        by_page.setdefault(problem.split(":", 1)[0], []).append(problem)
    assert set(by_page) == {"error", "logged", "broken", "links"}, problems
    assert all(len(found) == 1 for found in by_page.values()), problems
    [error], [logged], [broken], [links] = by_page["error"], by_page["logged"], by_page["broken"], by_page["links"]
    assert "error output" in error and "traceback" in error and "ZeroDivisionError: division by zero" in error
    assert "Traceback (most recent call last)" in logged
    assert "image did not load" in broken and "_images/" in broken
    assert "sidebar link 'nowhere.html#top'" in links and "nowhere.html does not exist" in links


def test_the_checker_reports_missing_pages_and_empty_ones(request):
    _require_browser()
    html = request.getfixturevalue("mini_book")
    problems = check_book(html, ["good", "no_such_page", "empty", "bare"])
    assert len(problems) == 5, problems
    assert problems[0].startswith("no_such_page:") and "does not exist" in problems[0]
    assert problems[1] == "empty: main content (article.bd-article) is empty"
    assert problems[2] == "bare: empty <title>"
    assert problems[3].startswith("bare: no main content")
    assert problems[4] == "bare: no sidebar navigation (nav.bd-docs-nav)"


def test_without_a_browser_the_checker_says_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr(browser_check, "CHROMIUM", tmp_path / "no-chromium")
    assert not browser_check.available()
    assert any("no-chromium" in m and "chromium" in m for m in browser_check.missing())
    with pytest.raises(RuntimeError, match="no-chromium"):
        check_book(tmp_path, ["index"])

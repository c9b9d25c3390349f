"""Check the built HTML book in a real browser (headless Chromium through selenium).

Not a test module: ``tests/test_book.py`` calls :func:`check_book` on the freshly built
book, ``tests/test_browser_check.py`` tests the checker itself.

    from browser_check import available, check_book
    problems = check_book(html_dir, ["book/intro", "book/camels"])   # [] = fine

For every page (a path relative to ``html_dir`` without ``.html``) it checks, after the
page has loaded (``document.readyState == 'complete'``):

* the page has a non-empty ``<title>`` and non-empty main content;
* every ``<img>`` in the main content has loaded (``complete`` and natural size > 0);
* there is no error output: MyST-NB (myst-nb 1.x, sphinx-book-theme 1.x) renders a cell's
  error output as ``<div class="output traceback highlight-ipythontb">`` inside a
  ``<div class="cell_output">``; any element whose classes contain ``output`` and ``error``
  or ``traceback`` counts, and so does the text ``Traceback (most recent call last)`` (or
  papermill's ``An Exception was encountered at``) anywhere else in the main content,
  e.g. a traceback printed to stderr (``class="output stderr"``, itself not an error);
* every navigation link -- the left sidebar's table of contents (``nav.bd-docs-nav a``)
  and the previous/next links (``.prev-next-area a.left-prev / a.right-next``) --
  resolves to an existing file under ``html_dir`` (the ``#fragment`` is ignored;
  links to other sites are not followed).

The structure was read off a book built by jupyter-book 1.0.4 (sphinx-book-theme 1.3.0,
pydata-sphinx-theme 0.17.1, myst-nb 1.4.0): the main content is ``<article
class="bd-article">`` inside ``<main id="main-content">``.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
)  # + --user-data-dir=<a fresh temporary folder>

#: seconds to wait for a page (and its images) to finish loading
PAGE_TIMEOUT = 60.0

ERROR_TEXTS = ("Traceback (most recent call last)", "An Exception was encountered at")

# Run in the page: everything check_book needs, in one round trip.
_INSPECT_JS = r"""
const errorTexts = arguments[0];
const main = document.querySelector('article.bd-article')
          || document.querySelector('main, [role="main"]');
const squash = s => (s || '').replace(/\s+/g, ' ').trim();
const out = {title: document.title, main: null, images: [], errors: [], texts: [],
             nav: null, links: []};
if (main) {
  // Visible text only: no <script> (sphinx-thebe puts its config in the article), no buttons.
  const visible = main.cloneNode(true);
  for (const el of visible.querySelectorAll('script, style, template, button')) el.remove();
  out.main = {tag: main.tagName.toLowerCase() + (main.className ? '.' + main.className.split(/\s+/).join('.') : ''),
              text: squash(visible.textContent).length};
  for (const img of main.querySelectorAll('img')) {
    out.images.push({src: img.getAttribute('src') || '', complete: img.complete,
                     w: img.naturalWidth, h: img.naturalHeight});
  }
  const isError = el => {
    const cls = Array.from(el.classList);
    return cls.some(c => c.includes('output'))
        && cls.some(c => c.includes('error') || c.includes('traceback'));
  };
  const errs = Array.from(main.querySelectorAll('*')).filter(isError)
                    .filter(el => !isInsideError(el));  // one report per error output
  function isInsideError(el) {
    for (let p = el.parentElement; p && p !== main; p = p.parentElement) if (isError(p)) return true;
    return false;
  }
  for (const el of errs) {
    const copy = el.cloneNode(true);
    for (const b of copy.querySelectorAll('button')) b.remove();  // sphinx-copybutton
    const lines = (copy.textContent || '').split('\n').map(squash)
                    .filter(l => l && !/^-+$/.test(l));
    const last = lines.length ? lines[lines.length - 1] : '';
    out.errors.push({cls: el.className, last: last.slice(0, 200)});
  }
  const rest = visible.cloneNode(true);
  for (const el of Array.from(rest.querySelectorAll('*')).filter(isError)) el.remove();
  const restText = squash(rest.textContent);
  for (const t of errorTexts) if (restText.includes(t)) out.texts.push(t);
}
const nav = document.querySelector('nav.bd-docs-nav');
out.nav = !!nav;
const anchors = [];
if (nav) anchors.push(...Array.from(nav.querySelectorAll('a[href]')).map(a => ['sidebar', a]));
for (const a of document.querySelectorAll('.prev-next-area a[href], a.left-prev[href], a.right-next[href]')) {
  const kind = a.classList.contains('left-prev') ? 'previous' : a.classList.contains('right-next') ? 'next' : 'prev/next';
  if (!anchors.some(([, b]) => b === a)) anchors.push([kind, a]);
}
for (const [kind, a] of anchors) {
  out.links.push({kind: kind, href: a.getAttribute('href'), url: a.href, text: squash(a.textContent).slice(0, 80)});
}
return out;
"""

# Make lazy images load now, then report whether every image in the main content is done.
_IMAGES_DONE_JS = r"""
const main = document.querySelector('article.bd-article')
          || document.querySelector('main, [role="main"]') || document.body;
const imgs = Array.from(main.querySelectorAll('img'));
for (const img of imgs) if (img.loading === 'lazy') img.loading = 'eager';
return imgs.every(img => img.complete);
"""


def missing() -> list[str]:
    """What :func:`check_book` needs and this machine lacks (empty: all there)."""
    lacking = []
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (path.is_file() and os.access(path, os.X_OK)):
            lacking.append(f"{path} (Debian package {package})")
    if importlib.util.find_spec("selenium") is None:
        lacking.append("the Python package selenium (pip install selenium)")
    return lacking


def available() -> bool:
    """True when Chromium, chromedriver and selenium are all present."""
    return not missing()


def _start_driver(profile_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    return driver


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _file_target(url: str) -> Path | None:
    """The local file a resolved ``file://`` URL points to (None for other schemes)."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    return Path(url2pathname(unquote(parts.path)))


def _check_page(driver, html_dir: Path, page: str) -> list[str]:
    problems: list[str] = []
    path = html_dir / f"{page}.html"
    if not path.is_file():
        return [f"{page}: {path} does not exist"]
    try:
        driver.get(path.as_uri())
    except Exception as exc:  # timeout or a browser error
        return [f"{page}: page did not load ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"]

    def ready() -> bool:
        return driver.execute_script("return document.readyState") == "complete"

    if not _wait(ready, PAGE_TIMEOUT):
        return [f"{page}: document.readyState never became 'complete' within {PAGE_TIMEOUT:.0f} s"]
    # A redirect page (Sphinx's index.html: <meta http-equiv="Refresh">): check where it lands.
    if driver.execute_script("return !!document.querySelector('meta[http-equiv=\"Refresh\" i]')"):
        start = driver.current_url
        if not _wait(lambda: driver.current_url != start and ready(), 10):
            return [f"{page}: redirect (meta refresh) did not lead anywhere"]
        target = _file_target(driver.current_url)
        if target is None or not target.is_file():
            return [f"{page}: redirects to {driver.current_url}, which does not exist"]
    if not _wait(lambda: driver.execute_script(_IMAGES_DONE_JS), PAGE_TIMEOUT):
        problems.append(f"{page}: images still loading after {PAGE_TIMEOUT:.0f} s")

    info = driver.execute_script(_INSPECT_JS, list(ERROR_TEXTS))
    if not (info["title"] or "").strip():
        problems.append(f"{page}: empty <title>")
    if info["main"] is None:
        problems.append(f"{page}: no main content (no article.bd-article, <main> or [role=main])")
    else:
        if info["main"]["text"] == 0 and not info["images"]:
            problems.append(f"{page}: main content ({info['main']['tag']}) is empty")
        for img in info["images"]:
            if not (img["complete"] and img["w"] > 0 and img["h"] > 0):
                problems.append(
                    f"{page}: image did not load: {img['src'] or '(no src)'} "
                    f"(naturalWidth={img['w']}, naturalHeight={img['h']})"
                )
        for err in info["errors"]:
            problems.append(f"{page}: error output ({err['cls']}): {err['last'] or '(no text)'}")
        for text in info["texts"]:
            problems.append(f"{page}: main content contains {text!r}")
    if not info["nav"]:
        problems.append(f"{page}: no sidebar navigation (nav.bd-docs-nav)")
    root = html_dir.resolve()
    for link in info["links"]:
        target = _file_target(link["url"] or "")
        if target is None:
            continue  # another site: not checked
        label = f"{link['kind']} link {link['href']!r} ({link['text']})"
        try:
            target.resolve().relative_to(root)
        except ValueError:
            problems.append(f"{page}: {label} points outside the book: {target}")
            continue
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(f"{page}: {label} is broken: {target.relative_to(root) if target.is_relative_to(root) else target} does not exist")
    return problems


def check_book(html_dir: Path, pages: list[str]) -> list[str]:
    """Open every page of the built book in headless Chromium; return the problems found.

    ``pages`` are paths relative to ``html_dir`` without suffix (``"book/camels"``, the form
    of ``dplrepro.book.toc_pages()``). An empty list means every page is fine. One browser
    serves all pages and is always shut down. Raises ``RuntimeError`` when Chromium,
    chromedriver or selenium is missing (see :func:`available`).
    """
    lacking = missing()
    if lacking:
        raise RuntimeError("cannot check the book in a browser; missing: " + "; ".join(lacking))
    html_dir = Path(html_dir).resolve()
    if not html_dir.is_dir():
        return [f"{html_dir} is not a folder"]
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dplrepro-chromium-", ignore_cleanup_errors=True) as profile_dir:
        driver = _start_driver(profile_dir)
        try:
            for page in pages:
                problems.extend(_check_page(driver, html_dir, page))
        finally:
            driver.quit()
    return problems

"""Headless Chromium for tests that look at a page the way a person does.

Tests import this module (``from browser import ...``; pytest puts ``tests/``
on the path) and get

* :func:`chromium`, a context manager that starts Debian's Chromium
  (``/usr/bin/chromium``) through Playwright with the flags this closed network
  needs, and skips the test, saying how to install what is missing, when the
  browser or the driver library is not there;
* :class:`WatchedPage`, a page that records every console message, uncaught
  page error and network request from the moment it opens, refuses (and
  records) any request that would leave the machine, and saves screenshots and
  PDFs into the artefact folder;
* :func:`artifacts_dir`, that folder: ``$SPCHAIN_ARTIFACTS`` if set, else
  ``tests/artifacts/`` (git-ignored).

Set ``SPCHAIN_REQUIRE_BROWSER=1`` to turn the skip into a failure; ``.ci/run``
does, because it installs the browser, so a CI run cannot pass by skipping.

Why Playwright rather than Selenium: its console, page-error and request events
make "no console errors, no network requests" a direct observation rather than
a log scraped afterwards; ``route`` stops a stray request before it leaves;
``page.pdf`` and ``emulate_media`` print the page; and its locators, clicks and
automatic waiting serve the multi-page, click-through tests a web app needs.
Playwright's own browser downloads are never used (``playwright install`` is
not run anywhere): it drives the system Chromium by ``executable_path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest

#: Where to look for Chromium, in order; ``$SPCHAIN_CHROMIUM`` comes first when set.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium")

#: Flags without which Chromium calls Google's hosts (sync, component updates,
#: field trials) or fails as root in a container. ``headless=True`` adds
#: ``--headless``, and Playwright starts every browser with a fresh temporary
#: ``--user-data-dir`` of its own, removed when the browser closes.
CHROMIUM_FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync")

INSTALL_HINT = ("a headless browser is needed: on Debian/Ubuntu `apt-get install -y --no-install-recommends "
                "chromium chromium-driver` (as root), and `pip install -e '.[test]'` for Playwright; "
                "`bash .ci/run` does both")

#: Schemes a local page may load without touching the network.
LOCAL_SCHEMES = ("file", "data", "blob", "about")


def artifacts_dir() -> Path:
    """The folder for screenshots and PDFs, created if missing.

    Returns
    -------
    Path
        ``$SPCHAIN_ARTIFACTS`` when set, else ``tests/artifacts``.
    """
    folder = Path(os.environ.get("SPCHAIN_ARTIFACTS") or Path(__file__).resolve().parent / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def find_chromium() -> str | None:
    """The path of the Chromium executable, or None when there is none.

    Returns
    -------
    str or None
        ``$SPCHAIN_CHROMIUM`` if set (it must then exist), else the first of
        :data:`CHROMIUM_CANDIDATES` found.
    """
    forced = os.environ.get("SPCHAIN_CHROMIUM")
    if forced:
        return forced if Path(forced).is_file() else None
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(what: str):
    message = f"{what}; {INSTALL_HINT}"
    if os.environ.get("SPCHAIN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SPCHAIN_REQUIRE_BROWSER=1 but {message}", pytrace=False)
    pytest.skip(message)


class WatchedPage:
    """A Playwright page whose console, errors and requests are recorded.

    Parameters
    ----------
    page : playwright.sync_api.Page
        A fresh page; the recording starts here, before any navigation.

    Attributes
    ----------
    page : playwright.sync_api.Page
        The page itself, for locators, clicks and evaluation.
    console : list of dict
        Every console message: ``type`` ("log", "warning", "error", ...),
        ``text`` and ``url:line`` ``location``.
    page_errors : list of str
        Uncaught exceptions thrown in the page.
    requests : list of str
        The URL of every request the page made, in order (``data:`` URLs
        included where Chromium reports them).
    failed : list of str
        ``"url: reason"`` for every request that failed.
    blocked : list of str
        Requests to a non-local scheme, refused before they left.
    """

    def __init__(self, page):
        self.page = page
        self.console, self.page_errors, self.requests, self.failed, self.blocked = [], [], [], [], []
        page.on("console", lambda m: self.console.append(
            dict(type=m.type, text=m.text, location=f"{m.location.get('url', '')}:{m.location.get('lineNumber', '')}")))
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("requestfailed", lambda r: self.failed.append(f"{r.url}: {r.failure}"))
        page.route(lambda url: urlsplit(url).scheme not in LOCAL_SCHEMES, self._block)

    def _block(self, route):
        self.blocked.append(route.request.url)
        route.abort("blockedbyclient")

    def open(self, path: Path, *, wait_until: str = "load"):
        """Open a local file by its ``file://`` URL and wait until it has loaded.

        Parameters
        ----------
        path : Path
            The file to open.
        wait_until : str
            Playwright's load state to wait for.
        """
        self.page.goto(Path(path).resolve().as_uri(), wait_until=wait_until)
        self.page.wait_for_load_state("networkidle")

    @property
    def errors(self) -> list:
        """Console messages of type "error" and uncaught page errors, as text."""
        return ([f"console.{m['type']} {m['text']} ({m['location']})" for m in self.console if m["type"] == "error"]
                + [f"pageerror {e}" for e in self.page_errors])

    def outside(self, folder: Path) -> list:
        """Requests that are not a local file under ``folder`` nor a ``data:``/``blob:`` URL.

        Parameters
        ----------
        folder : Path
            The folder whose files the page may load.

        Returns
        -------
        list of str
            The offending URLs, refused ones included.
        """
        root = Path(folder).resolve()
        bad = []
        for url in self.requests + self.blocked:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob") or url == "about:blank":
                continue
            if parts.scheme == "file":
                path = Path(url2pathname(parts.path)).resolve()
                if path == root or root in path.parents:
                    continue
            bad.append(url)
        return list(dict.fromkeys(bad))

    def screenshot(self, name: str, *, full_page: bool = True) -> Path:
        """Save a PNG screenshot into :func:`artifacts_dir` and return its path.

        Parameters
        ----------
        name : str
            The file name, ``.png`` included.
        full_page : bool
            The whole scrollable page (True) or the viewport only.
        """
        path = artifacts_dir() / name
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def pdf(self, name: str, **options) -> Path:
        """Print the page to a PDF in :func:`artifacts_dir` with print media emulated.

        Parameters
        ----------
        name : str
            The file name, ``.pdf`` included.
        **options
            Passed to Playwright's ``page.pdf`` (by default the page's own
            ``@page`` size and margins are used).

        Returns
        -------
        Path
        """
        path = artifacts_dir() / name
        self.page.emulate_media(media="print")
        options.setdefault("prefer_css_page_size", True)
        options.setdefault("print_background", True)
        self.page.pdf(path=str(path), **options)
        return path


@contextlib.contextmanager
def chromium(**context_options):
    """Start headless Chromium and yield a factory of :class:`WatchedPage`.

    Skips the calling test (or fails it, under ``SPCHAIN_REQUIRE_BROWSER=1``)
    with :data:`INSTALL_HINT` when Playwright or Chromium is missing.

    Parameters
    ----------
    **context_options
        Passed to ``browser.new_context`` (``viewport``, ``locale``, ...).
        All pages share that one context, as tabs of one window do.

    Yields
    ------
    callable
        ``new_page() -> WatchedPage``.
    """
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the Python package playwright is not installed")
    executable = find_chromium()
    if executable is None:
        _missing("no Chromium executable found")
    context_options.setdefault("viewport", {"width": 1280, "height": 900})
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=list(CHROMIUM_FLAGS))
        try:
            context = browser.new_context(**context_options)
            yield lambda: WatchedPage(context.new_page())
            context.close()
        finally:
            browser.close()

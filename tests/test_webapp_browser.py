"""The workshop in a real browser: a facilitator and three teams play two rounds, with a restart between.

Headless Chromium (Debian's, through Playwright; see ``tests/browser.py``)
drives ``spchain workshop serve``'s app, served by uvicorn in a thread on a
free localhost port.  Each team has its own browser context (its own cookie
jar, as on its own laptop).  Screenshots go to the artefact folder; with
``SPCHAIN_UPDATE_DOCS_SCREENSHOTS=1`` they are also copied into
``docs/_static/workshop/`` for the facilitator's guide.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from browser import WatchedPage, chromium  # noqa: E402

from spchain.apps.webapp import create_app  # noqa: E402

DOCS_SHOTS = Path(__file__).resolve().parent.parent / "docs" / "_static" / "workshop"
TEAMS = {"Harbour": {"workforce.training_hours": "3", "internal.tools_spend_per_week": "4000"},
         "Summit": {"economics.price_index": "1.2", "workforce.pay_index": "0.85"},
         "Delta": {"workforce.recognition": "0.6", "internal.departments.it.n_staff": "3"}}


class Server:
    """uvicorn serving the workshop app on ``port`` in a thread, until :meth:`stop`."""

    def __init__(self, db, port):
        self.app = create_app(db)
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the workshop server did not start")
            time.sleep(0.05)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _watched(browser, base):
    """A page in a browser context of its own, allowed to reach the workshop server and nothing else."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = WatchedPage(context.new_page())
    page.page.route(lambda url: url.startswith(base + "/"), lambda route: route.continue_())  # runs first
    return page


def _shot(page, name):
    path = page.screenshot(name)
    if os.environ.get("SPCHAIN_UPDATE_DOCS_SCREENSHOTS") == "1":
        DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SHOTS / name)
    return path


def _images_loaded(page):
    return page.page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")


def test_three_teams_and_a_facilitator_play_two_rounds_with_a_restart(tmp_path):
    started = time.monotonic()
    db, port = tmp_path / "workshop.sqlite", _free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server(db, port)
    try:
        with chromium() as new_page:
            browser = new_page().page.context.browser
            fac = _watched(browser, base)
            fac.page.goto(f"{base}/admin/{server.app.state.store.admin_token}")
            fac.page.fill('input[name="name"]', "Monday workshop")
            fac.page.fill('input[name="rounds"]', "2")
            fac.page.fill('input[name="high:workforce.pay_index"]', "1.3")
            _shot(fac, "serve-create.png")
            fac.page.click('button:has-text("Create session")')
            fac.page.wait_for_url(re.compile(r".*/f/[\w-]+$"))
            facilitator_url = fac.page.url
            code = fac.page.inner_text(".code")
            assert re.fullmatch(r"[A-Z2-9]{6}", code)

            teams = {}
            for name in TEAMS:
                page = _watched(browser, base)
                page.page.goto(f"{base}/")
                page.page.fill('input[name="code"]', code.lower())
                page.page.fill('input[name="team"]', name)
                page.page.click('button:has-text("Join")')
                page.page.wait_for_url(re.compile(r".*/t/\d+$"))
                teams[name] = page
            harbour = teams["Harbour"].page

            # a value out of bounds is refused with a message naming the lever and its bounds
            harbour.fill('input[name="workforce.pay_index"]', "1.4")
            harbour.click('button:has-text("Submit round 1")')
            assert "between 0.7 and 1.3" in harbour.inner_text('[role="alert"]')
            assert "workforce.pay_index" in harbour.inner_text('[role="alert"]')
            harbour.fill('input[name="workforce.pay_index"]', "1")

            for name, levers in TEAMS.items():
                page = teams[name].page
                for path, value in levers.items():
                    page.fill(f'input[name="{path}"]', value)
                page.click('button:has-text("Submit round 1")')
                page.wait_for_selector("text=Round 1 submitted")
            fac.page.goto(facilitator_url)
            assert "3 of 3 teams submitted" in fac.page.inner_text("main")
            _shot(fac, "serve-facilitator-round.png")
            fac.page.click('button:has-text("Close round 1")')
            fac.page.wait_for_selector("text=Leaderboard after round 1")
            board_before = fac.page.inner_text("table.board")
            harbour.reload()
            numbers_before = teams["Harbour"].page.inner_text("table.numbers")
            assert "Your chain in round 1" in harbour.inner_text("main")

            # restart: a new server on the same database loses nothing
            server.stop()
            server = Server(db, port)
            fac.page.goto(facilitator_url)
            assert fac.page.inner_text("table.board") == board_before
            harbour.reload()
            assert harbour.inner_text("table.numbers") == numbers_before
            assert _images_loaded(teams["Harbour"])
            _shot(teams["Harbour"], "serve-team.png")

            # round 2: two teams submit, the facilitator closes with Delta's levers carried over
            for name in ("Harbour", "Summit"):
                teams[name].page.reload()
                teams[name].page.fill('input[name="workforce.recognition"]', "0.3")
                teams[name].page.click('button:has-text("Submit round 2")')
                teams[name].page.wait_for_selector("text=Round 2 submitted")
            fac.page.goto(facilitator_url)
            fac.page.click('button:has-text("Close round 2")')
            assert "Delta" in fac.page.inner_text('[role="alert"]')
            fac.page.click('button:has-text("Close now, carrying over missing decisions")')
            fac.page.wait_for_selector("text=All 2 rounds played")
            _shot(fac, "serve-leaderboard.png")
            errors_before = len(fac.errors)
            fac.page.click("text=Open the debrief")
            fac.page.wait_for_selector("text=Decision log")
            fac.page.wait_for_load_state("networkidle")
            text = fac.page.inner_text("main")
            assert "Best against worst" in text and "carried over" in text
            assert all(name in text for name in TEAMS)
            assert fac.page.locator("img").count() == 1 + len(TEAMS)  # paths chart + one chain per team
            assert _images_loaded(fac)
            assert fac.errors[errors_before:] == []  # the debrief: no console error at all
            _shot(fac, "serve-debrief.png")
            delta = teams["Delta"].page
            delta.reload()
            assert "game over" in delta.inner_text("main")

            pages = [fac, *teams.values()]
            for page in pages:  # the only errors: the browser's notes of the two refusals above
                unexpected = [m for m in page.errors if not re.search(
                    r"status of 400 .*/t/\d+/submit:|status of 409 .*/close:", m)]
                assert unexpected == [], page.errors
                assert page.blocked == [], page.blocked
                outside = [u for u in page.requests if not u.startswith(base + "/") and not u.startswith("data:")]
                assert outside == [], outside
    finally:
        server.stop()
    assert time.monotonic() - started < 120

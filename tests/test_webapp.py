"""The workshop web app (spchain workshop serve), in process with Starlette's TestClient."""

from __future__ import annotations

import csv
import html
import io
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from spchain.params import ParamError  # noqa: E402
from spchain.apps.webapp import create_app, urls  # noqa: E402
from spchain.apps.webapp.app import COOKIE, close_due_rounds, close_round, leaderboard  # noqa: E402
from spchain.apps.webapp.sim import GameSpec, RoundRunner, play_round, team_result  # noqa: E402
from spchain.apps.webapp.state import (MAX_TEAMS, SubmissionError, WorkshopStore, parse_levers,  # noqa: E402
                                  parse_shocks, session_levers)
from spchain.apps.workshop import LEVERS, QUARTER, Game  # noqa: E402

LEVER_FORM = {"internal.tools_spend_per_week": "4000", "internal.departments.it.n_staff": "3",
              "workforce.training_hours": "2.5", "workforce.recognition": "0.4", "workforce.pay_index": "1.1",
              "economics.price_index": "1.05"}


def _alert(text):
    return html.unescape(re.search(r'role="alert">([^<]*)<', text).group(1))


def _new_session(client, token, **fields):
    data = {"name": "Test", "preset": "workshop", "rounds": "3", "seed": "11", "shocks": ""}
    data.update(fields)
    r = client.post(f"/admin/{token}/new", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text
    facilitator = r.headers["location"]
    code = re.search(r'class="code">(\w+)<', client.get(facilitator).text).group(1)
    return facilitator, code


def _join(app, code, name):
    client = TestClient(app)
    r = client.post("/join", data={"code": code, "team": name}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert COOKIE in r.cookies or COOKIE in client.cookies
    return client, r.headers["location"]


@pytest.fixture
def game(tmp_path):
    """An app with a 3-round session and two teams: (app, admin client, facilitator URL, [(client, team URL)])."""
    app = create_app(tmp_path / "w.sqlite")
    admin = TestClient(app)
    facilitator, code = _new_session(admin, app.state.store.admin_token)
    teams = [_join(app, code, name) for name in ("Alpha", "Beta")]
    return app, admin, facilitator, teams


# ---------------------------------------------------------------- validation
def test_levers_are_parsed_as_numbers_within_bounds_and_never_evaluated():
    levers = session_levers({"workforce.pay_index": (0.9, 1.2)})
    ok = parse_levers(levers, LEVER_FORM)
    assert ok["internal.departments.it.n_staff"] == 3 and isinstance(ok["internal.departments.it.n_staff"], int)
    assert ok["workforce.pay_index"] == 1.1
    bad = [("workforce.pay_index", "1.3", "outside the bounds; expected a number between 0.9 and 1.2"),
           ("workforce.pay_index", "__import__('os').system('x')", "is not a number"),
           ("workforce.pay_index", "nan", "outside the bounds"),
           ("workforce.pay_index", "inf", "outside the bounds"),
           ("internal.departments.it.n_staff", "2.5", "not a whole number"),
           ("workforce.training_hours", "", "a value is needed")]
    for path, text, expected in bad:
        with pytest.raises(SubmissionError, match=re.escape(expected)) as info:
            parse_levers(levers, {**LEVER_FORM, path: text})
        assert path in str(info.value)
    with pytest.raises(SubmissionError, match="'economics.cost_of_goods' is not a lever"):
        parse_levers(levers, {**LEVER_FORM, "economics.cost_of_goods": "1"})


def test_session_settings_are_checked_before_anything_is_stored(tmp_path):
    store = WorkshopStore(tmp_path / "w.sqlite")
    with pytest.raises(ParamError, match="preset must be one of"):
        store.create_session(preset_name="nope")
    with pytest.raises(ParamError, match="rounds must be a whole number from 1 to 12, got '0'"):
        store.create_session(rounds="0")
    with pytest.raises(ParamError, match=r"lever bounds of workforce.pay_index: got \[0.5, 1\]"):
        store.create_session(bounds={"workforce.pay_index": (0.5, 1.0)})
    with pytest.raises(ParamError, match="exclude the starting value 1 "):
        store.create_session(bounds={"workforce.pay_index": (1.1, 1.2)})
    with pytest.raises(ParamError, match="unknown lever 'x.y'"):
        store.create_session(bounds={"x.y": (0, 1)})
    with pytest.raises(ParamError, match="expected ROUND PATH VALUE"):
        parse_shocks("2 customers.visit_rate", 4)
    with pytest.raises(ParamError, match="is a team lever"):
        parse_shocks("2 economics.price_index 1.2", 4)
    with pytest.raises(ParamError, match="round 5 is outside the game's rounds 1 to 4"):
        parse_shocks("5 customers.visit_rate 0.2", 4)
    with pytest.raises(ParamError, match="unknown parameter path"):
        store.create_session(shocks="2 customers.no_such 1")
    with pytest.raises(ParamError, match="':memory:'"):
        WorkshopStore(":memory:")
    assert store.sessions() == []
    assert parse_shocks("# comment\n\n2 customers.visit_rate 0.2", 4) == ((2, "customers.visit_rate", 0.2),)


def test_join_rules(tmp_path):
    store = WorkshopStore(tmp_path / "w.sqlite")
    session = store.create_session(rounds=1)
    for i in range(MAX_TEAMS):
        store.join(session, f"team {i}")
    with pytest.raises(SubmissionError, match="full"):
        store.join(session, "one too many")
    other = store.create_session(rounds=1)
    store.join(other, "Same")
    with pytest.raises(SubmissionError, match="taken"):
        store.join(other, "  Same ")
    with pytest.raises(SubmissionError, match="a name is needed"):
        store.join(other, "   ")
    close_round(store, RoundRunner(1), other, force=True)
    with pytest.raises(SubmissionError, match="already played a round"):
        store.join(other, "Late")


# ---------------------------------------------------------------- the numbers
def test_a_team_round_equals_the_notebook_game_with_the_same_levers():
    """Incremental rounds in the server give exactly the numbers of spchain.apps.workshop.Game."""
    spec = GameSpec("workshop", 5, 3, ())
    choices = [{"workforce.training_hours": 3.0, "internal.tools_spend_per_week": 2000.0},
               {"economics.price_index": 1.1, "workforce.recognition": 0.5}]
    runs = {}
    summaries = [play_round("k", spec.with_decisions(choices[:n]), runs) for n in (1, 2)]
    game = Game("workshop", quarters=3, seed=5)
    for n, choice in enumerate(choices, 1):
        result = game.play(choice)
        for m in ("profit", "nps", "employee_satisfaction", "turnover"):
            assert summaries[n - 1]["metrics"][m] == pytest.approx(
                result.total(m, start=QUARTER * (n - 1), stop=QUARTER * n), rel=0, abs=0)
    assert summaries[1]["round"] == 2 and len(summaries[1]["series"]["profit"]) == QUARTER


def test_replay_from_week_0_equals_the_uninterrupted_run_exactly():
    spec = GameSpec("workshop", 3, 3, ((2, "customers.visit_rate", 0.2),))
    choices = [{"workforce.pay_index": 1.2}, {"internal.departments.it.n_staff": 4}, {"workforce.recognition": -0.5}]
    kept = {}
    for n in (1, 2, 3):
        uninterrupted = play_round("k", spec.with_decisions(choices[:n]), kept)
    replayed = play_round("k", spec.with_decisions(choices), {})  # nothing in memory: rounds 1-2 replayed
    assert replayed == uninterrupted
    a = team_result("k", spec.with_decisions(choices), kept)
    b = team_result("k", spec.with_decisions(choices), {})
    assert a.horizon == b.horizon == 3 * QUARTER
    np.testing.assert_array_equal(a.sums, b.sums)
    # a different history in memory is not reused: the decisions are replayed instead
    other = {}
    play_round("k", spec.with_decisions([{"workforce.pay_index": 0.8}]), other)
    assert play_round("k", spec.with_decisions(choices[:2]), other) == play_round(
        "k", spec.with_decisions(choices[:2]), {})


def test_teams_with_the_same_levers_get_the_same_numbers_and_the_shock_applies(tmp_path):
    store = WorkshopStore(tmp_path / "w.sqlite")
    session = store.create_session(rounds=2, seed=4, shocks="2 customers.visit_rate 0.1")
    calm = store.create_session(rounds=2, seed=4)
    for s in (session, calm):
        for name in ("A", "B"):
            store.join(s, name)
        runner = RoundRunner(1)
        close_round(store, runner, s, force=True)
        close_round(store, runner, s, force=True)
    shocked, base = store.results(session.id), store.results(calm.id)
    a, b = shocked.values()
    assert a == b  # common random numbers: same levers, same numbers
    first_base = next(iter(base.values()))
    assert a[1] == first_base[1]  # the shock starts in round 2
    assert a[2]["metrics"]["revenue"] < first_base[2]["metrics"]["revenue"]  # fewer visits, less revenue


# ---------------------------------------------------------------- routes
def test_pages_and_tokens(game):
    app, admin, facilitator, teams = game
    (alpha, alpha_url), (beta, beta_url) = teams
    assert admin.get("/").status_code == 200
    assert admin.get("/admin/wrong").status_code == 404
    assert admin.get("/f/wrong").status_code == 404
    assert admin.get("/f/wrong/debrief").status_code == 404
    assert admin.post("/f/wrong/close").status_code == 404
    assert TestClient(app).get(alpha_url).status_code == 403  # no cookie
    assert alpha.get(alpha_url).status_code == 200
    assert alpha.get(beta_url).status_code == 403  # another team's page
    assert alpha.post(beta_url + "/submit", data=LEVER_FORM).status_code == 403
    assert alpha.get(beta_url + "/chart.png").status_code == 403
    assert alpha.get(facilitator).status_code == 200  # the facilitator URL is its token
    assert alpha.get(facilitator.replace("/f/", "/f/x")).status_code == 404
    r = alpha.post("/join", data={"code": "NOCODE", "team": "X"})
    assert r.status_code == 404 and "NOCODE" in r.text
    r = alpha.get("/static/workshop.css")
    assert r.status_code == 200 and "text/css" in r.headers["content-type"]


def test_submit_validates_on_the_server(game):
    app, admin, facilitator, teams = game
    alpha, url = teams[0]
    r = alpha.post(url + "/submit", data={**LEVER_FORM, "workforce.pay_index": "9"})
    assert r.status_code == 400
    assert "workforce.pay_index" in _alert(r.text) and "between 0.7 and 1.5" in _alert(r.text)
    assert 'value="9"' in r.text  # the form keeps what was typed
    assert app.state.store.decisions(1) == {}
    r = alpha.post(url + "/submit", content=b"\xff\xfe", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and "UTF-8" in r.text
    r = alpha.post(url + "/submit", data=LEVER_FORM, follow_redirects=False)
    assert r.status_code == 303
    stored = app.state.store.decisions(1)
    assert list(stored) == [1] and stored[1][1][0]["workforce.pay_index"] == 1.1
    page = alpha.get(url).text
    assert "Submitted" in page and 'value="4000"' in page and "Round 1 submitted" not in page
    assert "Round 1 submitted" in alpha.get(url + "?submitted=1").text


def test_round_flow_leaderboard_debrief_and_exports(game):
    app, admin, facilitator, teams = game
    (alpha, alpha_url), (beta, beta_url) = teams
    alpha.post(alpha_url + "/submit", data=LEVER_FORM)
    status = admin.get(facilitator).text
    assert "1 of 2 teams submitted" in status
    r = admin.post(facilitator + "/close")
    assert r.status_code == 409 and "Beta" in _alert(r.text) and app.state.store.session(1).closed_rounds == 0
    # the open round's decisions are not exported
    assert admin.get(facilitator + "/decisions.csv").text.count("\n") == 1
    r = admin.post(facilitator + "/close", data={"force": "1"}, follow_redirects=False)
    assert r.status_code == 303
    beta.post(beta_url + "/submit", data={**LEVER_FORM, "economics.price_index": "0.9"})
    alpha.post(alpha_url + "/submit", data={**LEVER_FORM, "workforce.training_hours": "4"})
    assert admin.post(facilitator + "/close", follow_redirects=False).status_code == 303
    store = app.state.store
    results = store.results(1)
    assert sorted(results[1]) == [1, 2] and sorted(results[2]) == [1, 2]
    # the team page shows this round and the change since the last one
    page = alpha.get(alpha_url).text
    assert "Your chain in round 2" in page and "change since last round" in page
    profit = results[1][2]["metrics"]["profit"]
    assert f"{profit:,.0f}" in page
    png = alpha.get(alpha_url + "/chart.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # leaderboard: cumulative profit, best first
    board = leaderboard(store, store.session(1))
    totals = {t: sum(r["metrics"]["profit"] for r in results[t].values()) for t in results}
    assert [row["team"].id for row in board] == sorted(totals, key=lambda t: -totals[t])
    assert board[0]["profit"] == pytest.approx(max(totals.values()))
    assert board[0]["nps"] == results[board[0]["team"].id][2]["metrics"]["nps"]
    fac = admin.get(facilitator).text
    assert "Leaderboard after round 2" in fac and f"{board[0]['profit']:,.0f}" in fac
    # decisions: Beta's round 1 was carried over from the starting levers
    rows = list(csv.DictReader(io.StringIO(admin.get(facilitator + "/decisions.csv").text)))
    assert len(rows) == 4
    beta1 = next(r for r in rows if r["team"] == "Beta" and r["round"] == "1")
    assert beta1["carried_over"] == "1" and float(beta1["workforce.pay_index"]) == 1.0
    beta2 = next(r for r in rows if r["team"] == "Beta" and r["round"] == "2")
    assert beta2["carried_over"] == "0" and float(beta2["economics.price_index"]) == 0.9
    res = list(csv.DictReader(io.StringIO(admin.get(facilitator + "/results.csv").text)))
    assert len(res) == 4
    alpha2 = next(r for r in res if r["team"] == "Alpha" and r["round"] == "2")
    assert float(alpha2["profit"]) == pytest.approx(profit, rel=1e-12)
    # debrief
    r = admin.get(facilitator + "/debrief")
    assert r.status_code == 200
    assert "Best against worst" in r.text and "Decision log" in r.text and "carried over" in r.text
    for url in re.findall(r'src="([^"]+\.png[^"]*)"', r.text):
        img = admin.get(url)
        assert img.status_code == 200 and img.content[:4] == b"\x89PNG", url
    assert admin.get(facilitator + "/chain/99.png").status_code == 404
    # the last round, then the game is over
    assert admin.post(facilitator + "/close", data={"force": "1"}, follow_redirects=False).status_code == 303
    assert "game over" in alpha.get(alpha_url).text
    r = alpha.post(alpha_url + "/submit", data=LEVER_FORM)
    assert r.status_code == 400 and "game is over" in r.text
    assert admin.post(facilitator + "/close", data={"force": "1"}).status_code == 409


def test_names_are_escaped_and_csv_cells_are_not_formulas(tmp_path):
    app = create_app(tmp_path / "w.sqlite")
    admin = TestClient(app)
    facilitator, code = _new_session(admin, app.state.store.admin_token, rounds="1")
    _join(app, code, "<script>alert(1)</script>")
    _join(app, code, "=HYPERLINK(1)")
    page = admin.get(facilitator).text
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    admin.post(facilitator + "/close", data={"force": "1"})
    rows = list(csv.reader(io.StringIO(admin.get(facilitator + "/results.csv").text)))
    assert "'=HYPERLINK(1)" in [r[1] for r in rows]


def test_a_new_app_on_the_same_database_carries_on_exactly(tmp_path):
    """Restart after round 1: round 2 equals that of a server that never stopped."""
    def play(db, restart):
        app = create_app(db)
        admin = TestClient(app)
        facilitator, code = _new_session(admin, app.state.store.admin_token, seed="21")
        teams = [_join(app, code, n) for n in ("A", "B")]
        teams[0][0].post(teams[0][1] + "/submit", data=LEVER_FORM)
        teams[1][0].post(teams[1][1] + "/submit", data={**LEVER_FORM, "workforce.recognition": "-1"})
        admin.post(facilitator + "/close")
        if restart:
            app = create_app(db)  # a fresh app: no team run in memory
            admin = TestClient(app)
            assert app.state.runner.runs == {}
            teams = [(TestClient(app, cookies=dict(c.cookies)), u) for c, u in teams]
        teams[0][0].post(teams[0][1] + "/submit", data={**LEVER_FORM, "workforce.pay_index": "0.8"})
        assert "Submitted" in teams[0][0].get(teams[0][1]).text  # the cookie still works after the restart
        teams[1][0].post(teams[1][1] + "/submit", data=LEVER_FORM)
        assert admin.post(facilitator + "/close", follow_redirects=False).status_code == 303
        return app.state.store.results(1)

    assert play(tmp_path / "restarted.sqlite", True) == play(tmp_path / "uninterrupted.sqlite", False)


def test_worker_processes_give_the_same_round_as_one_process():
    spec = GameSpec("workshop", 8, 2, ())
    jobs = {("s", t): spec.with_decisions([{"workforce.training_hours": float(t)}]) for t in range(3)}
    pool = RoundRunner(2)
    try:
        assert pool.play(jobs) == RoundRunner(1).play(jobs)
        later = {k: s.with_decisions([dict(s.decisions[0]), {"workforce.recognition": 0.3}]) for k, s in jobs.items()}
        assert pool.play(later) == RoundRunner(1).play(later)
    finally:
        pool.close()
    with pytest.raises(ParamError, match="workers must be an integer >= 1"):
        RoundRunner(0)


# ---------------------------------------------------------------- command line
def test_urls_name_the_address_bound():
    links = urls("192.168.1.20", 8123, "TOKEN")
    assert links == {"admin": "http://192.168.1.20:8123/admin/TOKEN", "join": "http://192.168.1.20:8123/"}
    assert urls("0.0.0.0", 80, "T")["join"] == f"http://{socket.gethostname()}:80/"


def test_cli_refuses_a_bad_port(capsys):
    from spchain.apps.cli import main

    with pytest.raises(SystemExit) as info:
        main(["workshop", "serve", "--port", "70000"])
    assert info.value.code == 2
    assert "expected a port number from 1 to 65535, got 70000" in capsys.readouterr().err


def test_cli_serve_prints_its_addresses_and_answers(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = tmp_path / "cli.sqlite"
    proc = subprocess.Popen([sys.executable, "-m", "spchain", "workshop", "serve", "--port", str(port), "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        assert lines[0].startswith(f"spchain workshop: listening on http://127.0.0.1:{port}")
        admin = lines[1].split()[-1]
        assert admin == f"http://127.0.0.1:{port}/admin/{WorkshopStore(db).admin_token}"
        assert lines[2].split()[-1] == f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(admin, timeout=5) as r:
                    assert r.status == 200 and b"New session" in r.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_round_timer_closes_the_round_with_missing_decisions_carried_over(game):
    app, admin, facilitator, teams = game
    store, runner = app.state.store, app.state.runner
    alpha, url = teams[0]
    r = admin.post(facilitator + "/timer", data={"minutes": "ten"})
    assert r.status_code == 400 and "'ten' minutes; expected a whole number of minutes from 0" in _alert(r.text)
    before = time.time()
    assert admin.post(facilitator + "/timer", data={"minutes": "5"}, follow_redirects=False).status_code == 303
    deadline = store.session(1).deadline
    assert before + 300 <= deadline <= time.time() + 300
    assert "Closes by itself in" in admin.get(facilitator).text
    assert "The round closes in" in alpha.get(url).text
    alpha.post(url + "/submit", data=LEVER_FORM)
    assert close_due_rounds(store, runner, now=deadline - 1) == []  # not yet
    closed = close_due_rounds(store, runner, now=deadline)
    assert [s.closed_rounds for s in closed] == [1] and closed[0].deadline is None
    decisions = store.decisions(1)
    assert decisions[1][1][1] is False and decisions[2][1][1] is True  # Beta's levers carried over
    assert store.due(now=deadline + 3600) == []
    assert "The round closes in" not in alpha.get(url).text
    admin.post(facilitator + "/timer", data={"minutes": "1"})
    admin.post(facilitator + "/timer", data={"minutes": "0"})
    assert store.session(1).deadline is None


def test_the_server_closes_a_timed_round_by_itself(tmp_path):
    app = create_app(tmp_path / "w.sqlite")
    with TestClient(app) as admin:  # runs the app's lifespan, and with it the timers
        facilitator, code = _new_session(admin, app.state.store.admin_token, rounds="2")
        _join(app, code, "Solo")
        session = app.state.store.session(1)
        with sqlite3.connect(app.state.store.path) as db:  # a timer that ran out a second ago
            db.execute("UPDATE sessions SET deadline=? WHERE id=?", (time.time() - 1, session.id))
        db.close()
        deadline = time.monotonic() + 60
        while app.state.store.session(1).closed_rounds == 0:
            assert time.monotonic() < deadline, "the timed round was not closed"
            time.sleep(0.2)
    assert app.state.store.results(1)[1][1]["metrics"]["profit"] is not None

"""The workshop web app: Starlette routes with HTML written on the server.

Pages (``{f}`` is a session's facilitator token, ``{t}`` a team id):

==============================  ==================================================
``GET /``                       join a session: code and team name
``POST /join``                  join; sets the team cookie, goes to the dashboard
``GET /t/{t}``                  team dashboard: numbers, changes, levers, charts
``POST /t/{t}/submit``          the team's levers for the round being played
``GET /t/{t}/chart.png``        the team's chain week by week
``GET /admin/{token}``          the server's sessions; create one
``POST /admin/{token}/new``     create a session
``GET /f/{f}``                  facilitator: round status, leaderboard, close
``POST /f/{f}/close``           close the round (``force`` carries decisions over)
``POST /f/{f}/timer``           close the round by itself in ``minutes``
``GET /f/{f}/debrief``          every team's path, best against worst, decision log
``GET /f/{f}/paths.png``        every team's KPIs round by round
``GET /f/{f}/chain/{t}.png``    the chain diagram with a team's numbers
``GET /f/{f}/decisions.csv``    the decision log
``GET /f/{f}/results.csv``      every team's KPIs by round
==============================  ==================================================

A team page answers only to the cookie of that team (403 otherwise), so no
team sees another's decisions; facilitator pages need the facilitator
token; every lever is parsed as a number and checked against the session's
bounds on the server.  No page loads anything from another host.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import html
import io
import logging
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ...metrics import METRICS
from ...params import ParamError
from ...presets import PRESETS
from ..workshop import LEVERS, QUARTER
from .sim import ROUND_METRICS, SERIES_METRICS, RoundRunner
from .state import MAX_ROUNDS, MAX_TEAMS, SubmissionError, WorkshopStore, parse_levers

__all__ = ["create_app", "close_round", "close_due_rounds", "leaderboard", "COOKIE", "LEADERBOARD_METRICS"]

#: Name of the team cookie.
COOKIE = "spchain_team"
#: KPIs of the facilitator's leaderboard (profit is summed over the rounds, the others are the last round's).
LEADERBOARD_METRICS = ("profit", "nps", "employee_satisfaction", "turnover")
#: KPIs compared in the debrief, in chain order.
DEBRIEF_METRICS = ("internal_service_quality", "employee_satisfaction", "turnover", "service_quality",
                   "customer_satisfaction", "nps", "active_customers", "profit")
_MAX_BODY = 20_000
_STATIC = Path(__file__).resolve().parent / "static"
_DRAW = threading.Lock()  # matplotlib is not thread-safe


# ------------------------------------------------------------------ formatting
def e(value) -> str:
    """HTML-escaped text of ``value`` (quotes included)."""
    return html.escape(str(value), quote=True)


def fmt(name: str, value) -> str:
    """A KPI value for people: money with thousands separators, scores with two decimals."""
    if value is None:
        return "–"
    m = METRICS[name]
    if m.is_money:
        return f"{value:,.0f}"
    if name == "nps":
        return f"{value:+.1f}"
    if name == "turnover":
        return f"{value:.2f}/yr"
    if m.unit == "min":
        return f"{value:.1f} min"
    if m.unit == "0-1":
        return f"{value:.3f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _shown(x) -> str:
    """A lever value in a form field: a number without a needless ``.0``, typed text as it was."""
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


def _num(x) -> str:
    """A lever value for people: thousands separated, at most 3 significant decimals."""
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def _delta(name: str, now, before) -> str:
    if now is None or before is None:
        return ""
    d = now - before
    m = METRICS[name]
    good = (d > 0) == (m.better == "higher") if d and m.better != "neither" else None
    cls = "" if good is None else (" good" if good else " bad")
    text = (f"{d:+,.0f}" if m.is_money or abs(d) >= 100 else f"{d:+.3f}" if m.unit == "0-1" else f"{d:+.2f}")
    return f'<span class="delta{cls}">{e(text)}</span>'


def _page(title: str, body: str, *, refresh: int | None = None, status: int = 200) -> HTMLResponse:
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    doc = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
           f'<meta name="viewport" content="width=device-width, initial-scale=1">{meta}'
           f'<title>{e(title)} · spchain workshop</title><link rel="icon" href="data:,">'
           f'<link rel="stylesheet" href="/static/workshop.css"></head>'
           f'<body><header><span class="brand">spchain workshop</span> <h1>{e(title)}</h1></header>'
           f'<main>{body}</main></body></html>')
    return HTMLResponse(doc, status_code=status, headers={"Cache-Control": "no-store"})


def _error(message: str, status: int) -> HTMLResponse:
    return _page("Not possible", f'<p class="error" role="alert">{e(message)}</p><p><a href="/">Start page</a></p>',
                 status=status)


def _table(header, rows, cls="") -> str:
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


async def _form(request) -> dict:
    """The posted url-encoded form as ``{name: last value}``; nothing else is accepted."""
    body = await request.body()
    if len(body) > _MAX_BODY:
        raise SubmissionError(f"the form is too large ({len(body)} bytes; at most {_MAX_BODY})")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SubmissionError("the form is not UTF-8 text") from None
    return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _png(fig) -> Response:
    from ...viz.workshop import figure_png

    return Response(figure_png(fig, dpi=100), media_type="image/png", headers={"Cache-Control": "no-store"})


def _csv(rows, name) -> Response:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:  # a cell starting like a formula is quoted so spreadsheets show it as text
        writer.writerow(["'" + c if isinstance(c, str) and c[:1] in "=+-@" else c for c in row])
    return Response(buf.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# ------------------------------------------------------------------ game logic
def close_round(store: WorkshopStore, runner: RoundRunner, session, *, force: bool = False):
    """Simulate the round being played for every team and store it.

    Teams that have not submitted keep the levers in force (their decision
    is stored as carried over) when ``force``; without it they block the
    close.

    Returns
    -------
    Session
        The session after the round.

    Raises
    ------
    SubmissionError
        The game is over, no team has joined, or (without ``force``) a team
        has not submitted; the message names the teams.
    """
    with store.lock:
        session = store.session(session.id)
        if session.finished:
            raise SubmissionError("the game is over: every round has been played")
        teams = store.teams(session.id)
        if not teams:
            raise SubmissionError("no team has joined yet; share the join code first")
        decisions = store.decisions(session.id)
        rnd = session.current_round
        missing = [t for t in teams if rnd not in decisions.get(t.id, {})]
        if missing and not force:
            raise SubmissionError(f"round {rnd}: {len(missing)} team(s) have not submitted "
                                  f"({', '.join(t.name for t in missing)}); wait, or close with their levers "
                                  f"carried over")
        carried = {t.id: store.levers_in_force(session, t.id) for t in missing}
        jobs = {}
        for team in teams:
            history = store.history(session, team.id, rnd - 1)
            this = carried[team.id] if team.id in carried else decisions[team.id][rnd][0]
            jobs[(session.facilitator_token, team.id)] = session.spec(history + [this])
        played = runner.play(jobs)
        return store.record_round(session, carried, {tid: summary for (_, tid), summary in played.items()})


def close_due_rounds(store: WorkshopStore, runner: RoundRunner, now: float | None = None) -> list:
    """Close every round whose timer has run out, carrying missing decisions over.

    A session whose round cannot close (no team has joined) loses its timer.

    Parameters
    ----------
    now : float, optional
        The time (``time.time()``); default now.

    Returns
    -------
    list of Session
        The sessions after their round was closed.
    """
    out = []
    for session in store.due(now):
        try:
            out.append(close_round(store, runner, session, force=True))
        except SubmissionError:
            store.set_deadline(session, 0)
    return out


def _remaining(deadline) -> str:
    seconds = max(0, int(deadline - time.time()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def leaderboard(store: WorkshopStore, session) -> list:
    """Teams ranked by profit summed over the closed rounds.

    Returns
    -------
    list of dict
        ``team``, ``profit`` (cumulative) and the last round's ``nps``,
        ``employee_satisfaction`` and ``turnover``, best first.
    """
    results = store.results(session.id)
    rows = []
    for team in store.teams(session.id):
        rounds = results.get(team.id, {})
        if not rounds:
            continue
        last = rounds[max(rounds)]["metrics"]
        rows.append({"team": team, "profit": sum(r["metrics"]["profit"] or 0.0 for r in rounds.values()),
                     **{m: last[m] for m in LEADERBOARD_METRICS[1:]}})
    return sorted(rows, key=lambda r: -r["profit"])


# ------------------------------------------------------------------ app
def create_app(db, *, workers: int = 1) -> Starlette:
    """The workshop app on a SQLite database.

    Parameters
    ----------
    db : str or Path
        The database file (created if missing); a new app on the same file
        carries on where the last one stopped.
    workers : int
        Processes that simulate a round (1: in the server's own process).

    Returns
    -------
    starlette.applications.Starlette
        With ``app.state.store`` (:class:`~spchain.apps.webapp.state.WorkshopStore`)
        and ``app.state.runner`` (:class:`~spchain.apps.webapp.sim.RoundRunner`).
    """
    app = Starlette(routes=_ROUTES, exception_handlers={_Refused: _refused, SubmissionError: _refused_input},
                    lifespan=_lifespan)
    app.state.store, app.state.runner = WorkshopStore(db), RoundRunner(workers)
    return app


# ------------------------------------------------------------------ routes
class _Refused(Exception):
    """A request the app turns down: its message and HTTP status go on the error page."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def _facilitator_session(request):
    store = request.app.state.store
    session = store.session_by_token(request.path_params["ftoken"])
    if session is None:
        raise _Refused("unknown facilitator link; use the one 'spchain workshop serve' printed", 404)
    return session


def _team_of(request):
    store = request.app.state.store
    team = store.team_by_token(request.cookies.get(COOKIE))
    if team is None:
        raise _Refused("this browser has not joined a team; join with the session's code", 403)
    if str(team.id) != request.path_params["team"]:
        raise _Refused("this page belongs to another team", 403)
    return team, store.session(team.session_id)


# ------------------------------------------------------------------ participants' pages
async def _home(request):
    store = request.app.state.store
    team = store.team_by_token(request.cookies.get(COOKIE))
    again = (f'<p>This browser plays for <a href="/t/{team.id}">{e(team.name)}</a>.</p>' if team else "")
    code = e(request.query_params.get("code", "")[:12])
    return _page("Join a session", again + f"""
<form method="post" action="/join" class="card">
<label>Join code <input name="code" value="{code}" required maxlength="12" autocomplete="off"></label>
<label>Team name <input name="team" required maxlength="40"></label>
<button type="submit">Join</button></form>
<p class="hint">The facilitator shows the code. Every team runs the same organisation from the same
starting point; only your decisions differ.</p>""")


async def _join(request):
    store = request.app.state.store
    form = await _form(request)
    session = store.session_by_code(form.get("code", ""))
    if session is None:
        raise _Refused(f"no session has the code {form.get('code', '')[:12]!r}; check it with the facilitator",
                       404)
    team = store.join(session, form.get("team", ""))
    response = RedirectResponse(f"/t/{team.id}", status_code=303)
    response.set_cookie(COOKIE, team.token, httponly=True, samesite="strict", max_age=7 * 24 * 3600)
    return response


def _team_body(store, team, session, message="", values=None, status=200):
    results = store.results(session.id).get(team.id, {})
    decisions = store.decisions(session.id).get(team.id, {})
    rnd = session.current_round
    parts = [f'<p class="status">Team <strong>{e(team.name)}</strong> · session {e(session.name)} · ']
    parts.append("game over</p>" if session.finished else
                 f"round <strong>{rnd}</strong> of {session.rounds} (weeks {QUARTER * (rnd - 1) + 1}–"
                 f"{QUARTER * rnd})</p>")
    if message:
        parts.append(f'<p class="{"error" if status >= 400 else "notice"}" role="alert">{e(message)}</p>')
    if results:
        last = max(results)
        now, before = results[last]["metrics"], results.get(last - 1, {}).get("metrics")
        rows = [(e(METRICS[m].label), fmt(m, now[m]), _delta(m, now[m], before[m]) if before else "")
                for m in ROUND_METRICS]
        parts.append(f"<h2>Your chain in round {last}</h2>"
                     + _table(("", f"round {last}", "change since last round"), rows, "numbers"))
        parts.append(f'<img class="chart" src="/t/{team.id}/chart.png?r={last}" alt="Your chain week by week: '
                     f'profit, employee satisfaction, customer satisfaction and NPS">')
    else:
        parts.append("<p>No round has been played yet: your numbers appear here when the facilitator closes "
                     "round 1.</p>")
    if not session.finished:
        current = values or (decisions[rnd][0] if rnd in decisions else store.levers_in_force(session, team.id))
        submitted = rnd in decisions
        fields = "".join(
            f'<label>{e(lv.label)} <span class="range">({lv.low:g} to {lv.high:g})</span>'
            f'<input name="{e(lv.path)}" type="number" step="any" min="{lv.low:g}" max="{lv.high:g}" '
            f'value="{e(_shown(current[lv.path]))}" required></label>' for lv in session.levers)
        state = ('<p class="notice">Submitted: you may change it until the facilitator closes the round.</p>'
                 if submitted else '<p>Not submitted yet.</p>')
        if session.deadline:
            state += (f'<p class="timer">The round closes in <strong>{_remaining(session.deadline)}</strong> '
                      f'(minutes:seconds); without a submission your levers stay as they are.</p>')
        parts.append(f'<h2>Your levers for round {rnd}</h2>{state}<form method="post" action="/t/{team.id}/submit" '
                     f'class="card levers" novalidate>{fields}<button type="submit">Submit round {rnd}</button></form>')
    return "".join(parts)


async def _team_page(request):
    store = request.app.state.store
    team, session = _team_of(request)
    decisions = store.decisions(session.id).get(team.id, {})
    waiting = not session.finished and session.current_round in decisions
    shown = request.query_params.get("submitted")
    message = f"Round {shown} submitted" if waiting and shown == str(session.current_round) else ""
    return _page(f"Team {team.name}", _team_body(store, team, session, message), refresh=20 if waiting else None)


async def _submit(request):
    store = request.app.state.store
    team, session = _team_of(request)
    form = await _form(request)
    try:
        store.submit(session, team, parse_levers(session.levers, form))
    except SubmissionError as exc:
        shown = {lv.path: form.get(lv.path, "") for lv in session.levers}
        return _page(f"Team {team.name}", _team_body(store, team, session, str(exc), shown, 400), status=400)
    return RedirectResponse(f"/t/{team.id}?submitted={session.current_round}", status_code=303)


async def _team_chart_png(request):
    store = request.app.state.store
    team, session = _team_of(request)
    results = store.results(session.id).get(team.id, {})
    return await run_in_threadpool(_team_chart, results)


# ------------------------------------------------------------------ facilitator's pages
def _check_admin(request):
    store = request.app.state.store
    if not secrets.compare_digest(request.path_params["token"], store.admin_token):
        raise _Refused("unknown admin link; use the one 'spchain workshop serve' printed", 404)


async def _admin(request):
    store = request.app.state.store
    _check_admin(request)
    return _page("Sessions", _admin_body(request.path_params["token"], store))


async def _admin_new(request):
    store = request.app.state.store
    _check_admin(request)
    form = await _form(request)
    bounds = {lv.path: (form.get(f"low:{lv.path}", lv.low), form.get(f"high:{lv.path}", lv.high))
              for lv in LEVERS}
    try:
        session = store.create_session(name=form.get("name", ""), preset_name=form.get("preset", ""),
                                       rounds=form.get("rounds", ""), seed=form.get("seed", ""),
                                       bounds=bounds, shocks=form.get("shocks", ""))
    except ParamError as exc:
        return _page("Sessions", f'<p class="error" role="alert">{e(exc)}</p>'
                     + _admin_body(request.path_params["token"], store, form), status=400)
    return RedirectResponse(f"/f/{session.facilitator_token}", status_code=303)


async def _facilitator_page(request):
    store = request.app.state.store
    session = _facilitator_session(request)
    closed = request.query_params.get("closed")
    message = f"Round {closed} closed" if closed and closed == str(session.closed_rounds) else ""
    return _page(f"Facilitator · {session.name}", _facilitator_body(request, store, session, message),
                 refresh=None if session.finished else 15)


async def _close(request):
    store = request.app.state.store
    runner = request.app.state.runner
    session = _facilitator_session(request)
    form = await _form(request)
    try:
        await run_in_threadpool(close_round, store, runner, session, force=form.get("force") == "1")
    except SubmissionError as exc:
        return _page(f"Facilitator · {session.name}", _facilitator_body(request, store, session, str(exc), True),
                     status=409)
    return RedirectResponse(f"/f/{session.facilitator_token}?closed={session.current_round}",
                            status_code=303)


async def _timer(request):
    store = request.app.state.store
    session = _facilitator_session(request)
    form = await _form(request)
    try:
        store.set_deadline(session, form.get("minutes"))
    except SubmissionError as exc:
        return _page(f"Facilitator · {session.name}", _facilitator_body(request, store, session, str(exc), True),
                     status=400)
    return RedirectResponse(f"/f/{session.facilitator_token}", status_code=303)


async def _debrief(request):
    store = request.app.state.store
    session = _facilitator_session(request)
    return _page(f"Debrief · {session.name}", _debrief_body(store, session))


async def _paths_png(request):
    store = request.app.state.store
    session = _facilitator_session(request)
    return await run_in_threadpool(_paths_chart, store, session)


async def _chain_png(request):
    store = request.app.state.store
    runner = request.app.state.runner
    session = _facilitator_session(request)
    team_id = int(request.path_params["team"])
    if team_id not in {t.id for t in store.teams(session.id)}:
        raise _Refused("no such team in this session", 404)
    if not session.closed_rounds:
        raise _Refused("no round has been played yet", 404)
    history = store.history(session, team_id, session.closed_rounds)
    result = await run_in_threadpool(runner.result, (session.facilitator_token, team_id), session.spec(history))
    return await run_in_threadpool(_chain_chart, result, store, session, team_id)


async def _decisions_csv(request):
    store = request.app.state.store
    session = _facilitator_session(request)
    names = {t.id: t.name for t in store.teams(session.id)}
    paths = [lv.path for lv in session.levers]
    rows = [["round", "team", *paths, "carried_over"]]
    for team_id, rounds in store.decisions(session.id).items():
        for rnd, (values, carried, _) in rounds.items():
            if rnd <= session.closed_rounds:  # the open round's decisions stay private
                rows.append([rnd, names[team_id], *[values.get(p) for p in paths], int(carried)])
    rows[1:] = sorted(rows[1:], key=lambda r: (r[0], r[1]))
    return _csv(rows, "decisions.csv")


async def _results_csv(request):
    store = request.app.state.store
    session = _facilitator_session(request)
    names = {t.id: t.name for t in store.teams(session.id)}
    rows = [["round", "team", *ROUND_METRICS]]
    for team_id, rounds in store.results(session.id).items():
        for rnd, res in rounds.items():
            rows.append([rnd, names[team_id], *[res["metrics"][m] for m in ROUND_METRICS]])
    rows[1:] = sorted(rows[1:], key=lambda r: (r[0], r[1]))
    return _csv(rows, "results.csv")


async def _refused(request, exc):
    return _error(str(exc), exc.status)


async def _refused_input(request, exc):
    return _error(str(exc), 400)


_ROUTES = [
    Route("/", _home), Route("/join", _join, methods=["POST"]),
    Route("/t/{team}", _team_page), Route("/t/{team}/submit", _submit, methods=["POST"]),
    Route("/t/{team}/chart.png", _team_chart_png),
    Route("/admin/{token}", _admin), Route("/admin/{token}/new", _admin_new, methods=["POST"]),
    Route("/f/{ftoken}", _facilitator_page), Route("/f/{ftoken}/close", _close, methods=["POST"]),
    Route("/f/{ftoken}/timer", _timer, methods=["POST"]),
    Route("/f/{ftoken}/debrief", _debrief), Route("/f/{ftoken}/paths.png", _paths_png),
    Route("/f/{ftoken}/chain/{team:int}.png", _chain_png),
    Route("/f/{ftoken}/decisions.csv", _decisions_csv), Route("/f/{ftoken}/results.csv", _results_csv),
    Mount("/static", StaticFiles(directory=_STATIC), name="static"),
]


async def _close_timed_rounds(store, runner):
    """Close the facilitators' timed rounds as they fall due, once a second, until cancelled."""
    while True:
        await asyncio.sleep(1.0)
        try:
            await run_in_threadpool(close_due_rounds, store, runner)
        except Exception:  # noqa: BLE001 - keep the timers going; the facilitator can still close by hand
            logging.getLogger(__name__).exception("closing a timed round failed")


@contextlib.asynccontextmanager
async def _lifespan(app):
    task = asyncio.get_running_loop().create_task(_close_timed_rounds(app.state.store, app.state.runner))
    try:
        yield
    finally:
        task.cancel()
        app.state.runner.close()


# ------------------------------------------------------------------ page bodies
def _admin_body(token, store, form=None) -> str:
    form = form or {}
    sessions = store.sessions()
    rows = [(f'<a href="/f/{e(s.facilitator_token)}">{e(s.name)}</a>', e(s.join_code), e(s.preset),
             f"{s.closed_rounds} of {s.rounds}") for s in sessions]
    listing = _table(("session", "join code", "preset", "rounds closed"), rows) if rows else "<p>No session yet.</p>"
    presets = "".join(f'<option{" selected" if p == form.get("preset", "workshop") else ""}>{e(p)}</option>'
                      for p in sorted(PRESETS))
    bounds = "".join(
        f'<tr><td>{e(lv.label)}</td><td><input name="low:{e(lv.path)}" value="{e(form.get("low:" + lv.path, f"{lv.low:g}"))}" '
        f'size="7"></td><td><input name="high:{e(lv.path)}" value="{e(form.get("high:" + lv.path, f"{lv.high:g}"))}" '
        f'size="7"></td></tr>' for lv in LEVERS)
    return f"""{listing}
<h2>New session</h2>
<form method="post" action="/admin/{e(token)}/new" class="card">
<label>Name <input name="name" value="{e(form.get('name', 'Workshop'))}" maxlength="80"></label>
<label>Organisation (preset) <select name="preset">{presets}</select></label>
<label>Rounds (quarters of {QUARTER} weeks, 1 to {MAX_ROUNDS}) <input name="rounds" value="{e(form.get('rounds', '4'))}"></label>
<label>Seed (the same for every team) <input name="seed" value="{e(form.get('seed', '2026'))}"></label>
<fieldset><legend>Lever bounds</legend><table><thead><tr><th>lever</th><th>lowest</th><th>highest</th></tr></thead>
<tbody>{bounds}</tbody></table></fieldset>
<label>Shocks, one <code>ROUND PATH VALUE</code> a line (optional), e.g. <code>3 customers.visit_rate 0.18</code>
<textarea name="shocks" rows="3" cols="50">{e(form.get('shocks', ''))}</textarea></label>
<button type="submit">Create session</button></form>
<p class="hint">Up to {MAX_TEAMS} teams per session.</p>"""


def _facilitator_body(request, store, session, message="", error=False) -> str:
    base = str(request.base_url).rstrip("/")
    teams = store.teams(session.id)
    decisions = store.decisions(session.id)
    rnd = session.current_round
    parts = []
    if message:
        parts.append(f'<p class="{"error" if error else "notice"}" role="alert">{e(message)}</p>')
    parts.append(f'<p class="join">Join at <strong>{e(base)}/</strong> with code <strong class="code">'
                 f'{e(session.join_code)}</strong></p>')
    if session.finished:
        parts.append(f'<p class="status">All {session.rounds} rounds played. '
                     f'<a href="/f/{e(session.facilitator_token)}/debrief">Open the debrief</a></p>')
    else:
        status = [(e(t.name), "submitted" if rnd in decisions.get(t.id, {}) else "waiting") for t in teams]
        done = sum(1 for _, s in status if s == "submitted")
        parts.append(f'<h2>Round {rnd} of {session.rounds}: {done} of {len(teams)} teams submitted</h2>')
        parts.append(_table(("team", "round " + str(rnd)), status, "status") if teams else "<p>No team yet.</p>")
        token = e(session.facilitator_token)
        parts.append(f'<form method="post" action="/f/{token}/close" class="inline"><button type="submit">Close round '
                     f'{rnd}</button></form>'
                     f'<form method="post" action="/f/{token}/close" class="inline"><input type="hidden" name="force" '
                     f'value="1"><button type="submit" class="secondary">Close now, carrying over missing '
                     f'decisions</button></form>')
        if session.deadline:
            parts.append(f'<p class="timer">Closes by itself in <strong>{_remaining(session.deadline)}</strong> '
                         f'(minutes:seconds), with missing decisions carried over.</p>')
        parts.append(f'<form method="post" action="/f/{token}/timer" class="inline timer"><label>Timer: close in '
                     f'<input name="minutes" size="4" inputmode="numeric" value=""> minutes</label> '
                     f'<button type="submit" class="secondary">Set timer</button> <span class="hint">(0 removes '
                     f'it)</span></form>')
    board = leaderboard(store, session)
    if board:
        rows = [(str(i), e(r["team"].name), fmt("profit", r["profit"]),
                 *[fmt(m, r[m]) for m in LEADERBOARD_METRICS[1:]]) for i, r in enumerate(board, 1)]
        parts.append(f"<h2>Leaderboard after round {session.closed_rounds}</h2>" + _table(
            ("#", "team", "profit (all rounds)", "NPS", "employee satisfaction", "staff turnover"), rows, "board"))
        parts.append(f'<p><a href="/f/{e(session.facilitator_token)}/debrief">Debrief</a> · '
                     f'<a href="/f/{e(session.facilitator_token)}/decisions.csv">decisions.csv</a> · '
                     f'<a href="/f/{e(session.facilitator_token)}/results.csv">results.csv</a></p>')
    return "".join(parts)


def _debrief_body(store, session) -> str:
    if not session.closed_rounds:
        return "<p>No round has been played yet.</p>"
    token = e(session.facilitator_token)
    board = leaderboard(store, session)
    results = store.results(session.id)
    decisions = store.decisions(session.id)
    parts = [f"<p>{session.closed_rounds} of {session.rounds} rounds played by {len(board)} teams, all from the "
             f"same organisation and seed: the differences are the teams' decisions.</p>",
             f'<img class="chart" src="/f/{token}/paths.png?r={session.closed_rounds}" alt="Every team\'s profit, '
             f'NPS, employee satisfaction and turnover round by round">']
    best, worst = board[0], board[-1]
    if len(board) > 1:
        def mean_metric(team_id, m):
            vals = [r["metrics"][m] for r in results[team_id].values() if r["metrics"][m] is not None]
            return sum(vals) / len(vals) if vals else None

        def mean_lever(team_id, path):
            vals = [d[0][path] for r, d in decisions.get(team_id, {}).items() if r <= session.closed_rounds]
            return sum(vals) / len(vals)

        b, w = best["team"].id, worst["team"].id
        chain_rows = [(e(METRICS[m].label), fmt(m, mean_metric(b, m)), fmt(m, mean_metric(w, m)))
                      for m in DEBRIEF_METRICS]
        lever_rows, gaps = [], []
        for lv in session.levers:
            vb, vw = mean_lever(b, lv.path), mean_lever(w, lv.path)
            lever_rows.append((e(lv.label), _num(vb), _num(vw)))
            gaps.append((abs(vb - vw) / ((lv.high - lv.low) or 1.0), lv, vb, vw))
        gaps.sort(key=lambda g: -g[0])
        said = [f"{e(lv.label.lower())} ({_num(vb)} against {_num(vw)})" for gap, lv, vb, vw in gaps[:3] if gap > 0]
        parts.append(f"<h2>Best against worst</h2><p><strong>{e(best['team'].name)}</strong> made "
                     f"{fmt('profit', best['profit'])} over the rounds, <strong>{e(worst['team'].name)}</strong> "
                     f"{fmt('profit', worst['profit'])}. "
                     + (f"Their levers differed most in {', '.join(said)} (means over the rounds)." if said else
                        "Their levers were the same.") + "</p>")
        parts.append('<div class="two">' + _table(("the chain, mean of rounds", e(best["team"].name),
                                                   e(worst["team"].name)), chain_rows, "numbers")
                     + _table(("lever, mean of rounds", e(best["team"].name), e(worst["team"].name)), lever_rows,
                              "numbers") + "</div>")
    parts.append("<h2>The chain of each team</h2>")
    parts.append('<div class="chains">' + "".join(
        f'<figure><img class="chart" src="/f/{token}/chain/{r["team"].id}.png?r={session.closed_rounds}" '
        f'alt="The chain diagram with {e(r["team"].name)}\'s numbers"><figcaption>{i}. {e(r["team"].name)}'
        f'</figcaption></figure>' for i, r in enumerate(board, 1)) + "</div>")
    names = {t.id: t.name for t in store.teams(session.id)}
    log = []
    for team_id, rounds in decisions.items():
        for rnd, (values, carried, _) in rounds.items():
            if rnd <= session.closed_rounds:
                log.append((rnd, e(names[team_id]), *[_num(values[lv.path]) for lv in session.levers],
                            "carried over" if carried else ""))
    log.sort(key=lambda r: (r[0], r[1]))
    parts.append("<h2>Decision log</h2>" + _table(("round", "team", *[e(lv.label) for lv in session.levers], ""),
                                                  [tuple(map(str, r)) for r in log], "log"))
    parts.append(f'<p><a href="/f/{token}/decisions.csv">decisions.csv</a> · <a href="/f/{token}/results.csv">'
                 f'results.csv</a> · <a href="/f/{token}">back to the rounds</a></p>')
    return "".join(parts)


# ------------------------------------------------------------------ charts
def _team_chart(results) -> Response:
    from ...viz.workshop import plot_team_weeks

    with _DRAW:
        return _png(plot_team_weeks(results, metrics=SERIES_METRICS, weeks_per_round=QUARTER))


def _paths_chart(store, session) -> Response:
    from ...viz.workshop import plot_team_paths

    names = {t.id: t.name for t in store.teams(session.id)}
    with _DRAW:
        return _png(plot_team_paths(store.results(session.id), names, metrics=LEADERBOARD_METRICS,
                                    rounds=session.closed_rounds))


def _chain_chart(result, store, session, team_id) -> Response:
    from ...viz.workshop import plot_team_chain

    name = {t.id: t.name for t in store.teams(session.id)}[team_id]
    with _DRAW:
        return _png(plot_team_chain(result, name))

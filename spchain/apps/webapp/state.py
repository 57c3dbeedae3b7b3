"""Workshop sessions, teams, decisions and results, persisted in SQLite.

Every submission and every closed round is committed before the server
answers, so a restart loses nothing: the teams' simulations are rebuilt by
replaying the stored decisions (:mod:`spchain.apps.webapp.sim`).

Tables: ``meta`` (the server's admin token), ``sessions``, ``teams``,
``decisions`` (one row per team and round; ``carried`` marks a decision the
facilitator carried over when closing a round without it) and ``results``
(one row per team and round: the quarter's KPIs and weekly series, JSON).
"""

from __future__ import annotations

import json
import math
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ...params import ParamError, check_schedulable
from ...presets import PRESETS, preset
from ..workshop import LEVERS, QUARTER, Lever
from .sim import GameSpec, build_params

__all__ = ["MAX_TEAMS", "MAX_ROUNDS", "Session", "Team", "WorkshopStore", "SubmissionError", "parse_levers",
           "parse_shocks", "session_levers"]

#: Most teams one session accepts.
MAX_TEAMS = 30
#: Most rounds (quarters) one session may last.
MAX_ROUNDS = 12

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, join_code TEXT UNIQUE NOT NULL,
    facilitator_token TEXT UNIQUE NOT NULL, preset TEXT NOT NULL, seed INTEGER NOT NULL,
    rounds INTEGER NOT NULL, levers TEXT NOT NULL, shocks TEXT NOT NULL,
    closed_rounds INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, deadline REAL);
CREATE TABLE IF NOT EXISTS teams (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id), name TEXT NOT NULL,
    token TEXT UNIQUE NOT NULL, joined REAL NOT NULL, UNIQUE (session_id, name));
CREATE TABLE IF NOT EXISTS decisions (
    team_id INTEGER NOT NULL REFERENCES teams(id), round INTEGER NOT NULL, levers TEXT NOT NULL,
    carried INTEGER NOT NULL DEFAULT 0, submitted REAL NOT NULL, PRIMARY KEY (team_id, round));
CREATE TABLE IF NOT EXISTS results (
    team_id INTEGER NOT NULL REFERENCES teams(id), round INTEGER NOT NULL, metrics TEXT NOT NULL,
    series TEXT NOT NULL, PRIMARY KEY (team_id, round));
"""

#: Characters of a join code (no 0/O, 1/I/L to misread on a projector).
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


class SubmissionError(ValueError):
    """A request the workshop refuses (bad lever value, closed round, full session...); the message says why."""


@dataclass(frozen=True)
class Session:
    """A workshop session as stored (see :class:`WorkshopStore`)."""

    id: int
    name: str
    join_code: str
    facilitator_token: str
    preset: str
    seed: int
    rounds: int
    levers: tuple  # of Lever, with the facilitator's bounds
    shocks: tuple  # of (round, path, value)
    closed_rounds: int
    deadline: float | None = None  # when the round being played closes by itself (time.time()), if set

    @property
    def current_round(self) -> int:
        """The round being played (1-based); ``rounds + 1`` once the game is over."""
        return self.closed_rounds + 1

    @property
    def finished(self) -> bool:
        """Whether every round has been closed."""
        return self.closed_rounds >= self.rounds

    def spec(self, decisions=()) -> GameSpec:
        """The :class:`~spchain.apps.webapp.sim.GameSpec` of a team with these decisions."""
        return GameSpec(self.preset, self.seed, self.rounds, self.shocks).with_decisions(decisions)

    def starting_levers(self) -> dict:
        """Lever values of round 1 before anybody changes them (the preset's, with round-1 shocks)."""
        params = build_params(self.spec(())).at_week(0)
        return {lever.path: params.get(lever.path) for lever in self.levers}


@dataclass(frozen=True)
class Team:
    """A team of a session."""

    id: int
    session_id: int
    name: str
    token: str


def session_levers(bounds=None) -> tuple:
    """The workshop levers with the facilitator's bounds.

    Parameters
    ----------
    bounds : mapping of str to (low, high), optional
        Per lever path; each must lie within the lever's own range in
        :data:`spchain.apps.workshop.LEVERS`.  Levers left out keep their range.

    Returns
    -------
    tuple of Lever

    Raises
    ------
    ParamError
        An unknown lever, non-numeric bounds, ``low > high`` or bounds
        outside the lever's range.
    """
    by_path = {lever.path: lever for lever in LEVERS}
    bounds = dict(bounds or {})
    for path in bounds:
        if path not in by_path:
            raise ParamError(f"lever bounds: unknown lever {path!r}; expected one of {sorted(by_path)}")
    out = []
    for lever in LEVERS:
        if lever.path not in bounds:
            out.append(lever)
            continue
        low, high = (_number(f"lower bound of {lever.path}", v) for v in bounds[lever.path])
        if not lever.low <= low <= high <= lever.high:
            raise ParamError(f"lever bounds of {lever.path}: got [{low:g}, {high:g}]; expected "
                             f"{lever.low:g} <= low <= high <= {lever.high:g}")
        out.append(Lever(lever.path, lever.label, low, high, lever.step))
    return tuple(out)


def _number(what, value) -> float:
    if isinstance(value, bool):
        raise ParamError(f"{what} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ParamError(f"{what} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ParamError(f"{what} must be a finite number, got {value!r}")
    return x


def _is_integer_lever(lever: Lever) -> bool:
    return all(float(x).is_integer() for x in (lever.low, lever.high, lever.step)) and isinstance(lever.step, int)


def parse_levers(levers, form) -> dict:
    """Validated lever values from a submitted form; nothing is evaluated.

    Parameters
    ----------
    levers : tuple of Lever
        The session's levers and bounds.
    form : mapping of str to str
        Field name (the lever path) -> the text typed.

    Returns
    -------
    dict of str to float or int
        A value for every lever (integer levers as int).

    Raises
    ------
    SubmissionError
        A lever missing, not a number, not an integer where one is needed,
        or outside its bounds; the message names the lever, the value and
        the bounds.
    """
    out = {}
    for lever in levers:
        text = form.get(lever.path)
        if text is None or str(text).strip() == "":
            raise SubmissionError(f"{lever.label} ({lever.path}): a value is needed, between "
                                  f"{lever.low:g} and {lever.high:g}")
        text = str(text).strip()
        try:
            value = float(text)
        except ValueError:
            raise SubmissionError(f"{lever.label} ({lever.path}): {text[:40]!r} is not a number; expected "
                                  f"a number between {lever.low:g} and {lever.high:g}") from None
        if not math.isfinite(value) or not lever.low <= value <= lever.high:
            raise SubmissionError(f"{lever.label} ({lever.path}): {text[:40]!r} is outside the bounds; "
                                  f"expected a number between {lever.low:g} and {lever.high:g}")
        if _is_integer_lever(lever):
            if not value.is_integer():
                raise SubmissionError(f"{lever.label} ({lever.path}): {text[:40]!r} is not a whole number; "
                                      f"expected a whole number between {lever.low:g} and {lever.high:g}")
            value = int(value)
        out[lever.path] = value
    extra = sorted(set(form) - {lever.path for lever in levers})
    if extra:
        raise SubmissionError(f"{extra[0][:60]!r} is not a lever of this session")
    return out


def parse_shocks(text: str, rounds: int, levers=LEVERS) -> tuple:
    """Scenario shocks from the facilitator's text: one ``ROUND PATH VALUE`` a line.

    Parameters
    ----------
    text : str
        E.g. ``"3 customers.arrival_rate_per_week 900"``; blank lines and
        lines starting with ``#`` are ignored.
    rounds : int
        Rounds in the session.
    levers : tuple of Lever
        The teams' levers, which a shock may not change.

    Returns
    -------
    tuple of (int, str, float)

    Raises
    ------
    ParamError
        A malformed line, a round outside the game, a lever path, a
        parameter that cannot change during a run, or an invalid value
        (each checked against the preset when the session is created).
    """
    out = []
    lever_paths = {lever.path for lever in levers}
    for number, line in enumerate(str(text or "").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise ParamError(f"shocks line {number}: {line[:80]!r}; expected ROUND PATH VALUE, e.g. "
                             f"'3 customers.arrival_rate_per_week 900'")
        rnd_text, path, value_text = parts
        try:
            rnd = int(rnd_text)
        except ValueError:
            raise ParamError(f"shocks line {number}: round {rnd_text!r} is not a whole number") from None
        if not 1 <= rnd <= rounds:
            raise ParamError(f"shocks line {number}: round {rnd} is outside the game's rounds 1 to {rounds}")
        if path in lever_paths:
            raise ParamError(f"shocks line {number}: {path!r} is a team lever; a shock must change something "
                             f"the teams do not set")
        check_schedulable(path, QUARTER * (rnd - 1), context=f"shocks line {number}: ")
        out.append((rnd, path, _number(f"shocks line {number}: value of {path}", value_text)))
    return tuple(out)


class WorkshopStore:
    """The workshop's SQLite database (write-ahead log; one connection per call, so threads may share it).

    Parameters
    ----------
    path : str or Path
        The database file, created if missing (``":memory:"`` is refused:
        it would not survive a restart).
    """

    def __init__(self, path):
        if str(path) == ":memory:":
            raise ParamError("the workshop database must be a file (a restart must find it), got ':memory:'")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            if db.execute("SELECT value FROM meta WHERE key='admin_token'").fetchone() is None:
                db.execute("INSERT INTO meta VALUES ('admin_token', ?)", (secrets.token_urlsafe(16),))

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=30)
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=FULL")
        return _Closing(db)

    @property
    def admin_token(self) -> str:
        """The token of the page where facilitators create sessions (kept across restarts)."""
        with self._connect() as db:
            return db.execute("SELECT value FROM meta WHERE key='admin_token'").fetchone()[0]

    # -------------------------------------------------------------- sessions
    def create_session(self, *, name="Workshop", preset_name="workshop", rounds=4, seed=2026, bounds=None,
                       shocks="") -> Session:
        """Create a session; returns it with its facilitator token and join code.

        Raises
        ------
        ParamError
            A bad preset, number of rounds, seed, lever bound or shock;
            nothing is stored.
        """
        name = str(name or "").strip()[:80] or "Workshop"
        if preset_name not in PRESETS:
            raise ParamError(f"preset must be one of {sorted(PRESETS)}, got {preset_name!r}")
        rounds = _integer("rounds", rounds, 1, MAX_ROUNDS)
        seed = _integer("seed", seed, 0, 2**63 - 1)
        levers = session_levers(bounds)
        shocks = parse_shocks(shocks, rounds, levers) if isinstance(shocks, str) else tuple(
            (int(r), str(p), float(v)) for r, p, v in shocks)
        probe = Session(0, name, "", "", preset_name, seed, rounds, levers, shocks, 0)
        build_params(probe.spec(())).at_week(QUARTER * (rounds - 1))  # validates every shock value
        starting = probe.starting_levers()
        for lever in levers:
            if not lever.low <= starting[lever.path] <= lever.high:
                raise ParamError(f"lever bounds of {lever.path}: [{lever.low:g}, {lever.high:g}] exclude the "
                                 f"starting value {starting[lever.path]:g} of preset {preset_name!r}")
        token = secrets.token_urlsafe(16)
        with self.lock, self._connect() as db:
            while True:
                code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
                if db.execute("SELECT 1 FROM sessions WHERE join_code=?", (code,)).fetchone() is None:
                    break
            cur = db.execute(
                "INSERT INTO sessions (name, join_code, facilitator_token, preset, seed, rounds, levers, shocks, "
                "created) VALUES (?,?,?,?,?,?,?,?,?)",
                (name, code, token, preset_name, seed, rounds,
                 json.dumps([[lv.path, lv.low, lv.high] for lv in levers]), json.dumps(list(shocks)),
                 time.time()))
            new_id = cur.lastrowid
        return self.session(new_id)

    def _session(self, row) -> Session | None:
        if row is None:
            return None
        sid, name, code, token, preset_name, seed, rounds, levers, shocks, closed, deadline = row
        bounds = {path: (low, high) for path, low, high in json.loads(levers)}
        return Session(sid, name, code, token, preset_name, seed, rounds, session_levers(bounds),
                       tuple((int(r), p, float(v)) for r, p, v in json.loads(shocks)), closed, deadline)

    _SESSION_COLUMNS = ("id, name, join_code, facilitator_token, preset, seed, rounds, levers, shocks, "
                        "closed_rounds, deadline")

    def session(self, session_id: int) -> Session | None:
        """The session with this id, or None."""
        with self._connect() as db:
            return self._session(db.execute(f"SELECT {self._SESSION_COLUMNS} FROM sessions WHERE id=?",
                                            (session_id,)).fetchone())

    def session_by_token(self, token: str) -> Session | None:
        """The session whose facilitator token this is, or None."""
        with self._connect() as db:
            return self._session(db.execute(f"SELECT {self._SESSION_COLUMNS} FROM sessions "
                                            "WHERE facilitator_token=?", (str(token),)).fetchone())

    def session_by_code(self, code: str) -> Session | None:
        """The session with this join code (case and spaces ignored), or None."""
        code = "".join(str(code or "").split()).upper()
        with self._connect() as db:
            return self._session(db.execute(f"SELECT {self._SESSION_COLUMNS} FROM sessions WHERE join_code=?",
                                            (code,)).fetchone())

    def sessions(self) -> list:
        """Every session, newest first."""
        with self._connect() as db:
            return [self._session(r) for r in db.execute(
                f"SELECT {self._SESSION_COLUMNS} FROM sessions ORDER BY id DESC").fetchall()]

    def set_deadline(self, session: Session, minutes) -> Session:
        """Close the round being played by itself after ``minutes`` (0 or blank: no timer).

        Raises
        ------
        SubmissionError
            ``minutes`` is not a whole number from 0 to 240, or the game is over.
        """
        text = str(minutes if minutes is not None else "").strip() or "0"
        try:
            value = int(text)
        except ValueError:
            value = -1
        if not 0 <= value <= 240:
            raise SubmissionError(f"timer: {text[:20]!r} minutes; expected a whole number of minutes from 0 "
                                  f"(no timer) to 240")
        with self.lock, self._connect() as db:
            closed = db.execute("SELECT closed_rounds FROM sessions WHERE id=?", (session.id,)).fetchone()[0]
            if closed >= session.rounds:
                raise SubmissionError("the game is over: every round has been played")
            db.execute("UPDATE sessions SET deadline=? WHERE id=?",
                       (time.time() + 60 * value if value else None, session.id))
        return self.session(session.id)

    def due(self, now: float | None = None) -> list:
        """Sessions whose round timer has run out (``now`` default: the current time)."""
        now = time.time() if now is None else now
        with self._connect() as db:
            return [self._session(r) for r in db.execute(
                f"SELECT {self._SESSION_COLUMNS} FROM sessions WHERE deadline IS NOT NULL AND deadline <= ? "
                "AND closed_rounds < rounds", (now,)).fetchall()]

    # ----------------------------------------------------------------- teams
    def join(self, session: Session, name: str) -> Team:
        """Add a team to a session.

        Raises
        ------
        SubmissionError
            An empty or taken name, a full session, or a session already
            under way (teams join before round 1 closes).
        """
        name = " ".join(str(name or "").split())[:40]
        if not name:
            raise SubmissionError("team name: a name is needed (1 to 40 characters)")
        with self.lock, self._connect() as db:
            closed = db.execute("SELECT closed_rounds FROM sessions WHERE id=?", (session.id,)).fetchone()[0]
            if closed:
                raise SubmissionError("this session has already played a round; ask the facilitator")
            n = db.execute("SELECT COUNT(*) FROM teams WHERE session_id=?", (session.id,)).fetchone()[0]
            if n >= MAX_TEAMS:
                raise SubmissionError(f"this session is full ({MAX_TEAMS} teams)")
            if db.execute("SELECT 1 FROM teams WHERE session_id=? AND name=?", (session.id, name)).fetchone():
                raise SubmissionError(f"team name {name!r} is taken in this session; choose another")
            token = secrets.token_urlsafe(16)
            cur = db.execute("INSERT INTO teams (session_id, name, token, joined) VALUES (?,?,?,?)",
                             (session.id, name, token, time.time()))
            return Team(cur.lastrowid, session.id, name, token)

    def team_by_token(self, token: str) -> Team | None:
        """The team with this token, or None."""
        with self._connect() as db:
            row = db.execute("SELECT id, session_id, name, token FROM teams WHERE token=?",
                             (str(token or ""),)).fetchone()
        return None if row is None else Team(*row)

    def teams(self, session_id: int) -> list:
        """The session's teams in the order they joined."""
        with self._connect() as db:
            return [Team(*r) for r in db.execute("SELECT id, session_id, name, token FROM teams "
                                                 "WHERE session_id=? ORDER BY id", (session_id,)).fetchall()]

    # ------------------------------------------------------------- decisions
    def submit(self, session: Session, team: Team, values: dict) -> None:
        """Store (or replace) a team's decision for the round being played.

        Raises
        ------
        SubmissionError
            The game is over.
        """
        with self.lock, self._connect() as db:
            closed = db.execute("SELECT closed_rounds FROM sessions WHERE id=?", (session.id,)).fetchone()[0]
            if closed >= session.rounds:
                raise SubmissionError("the game is over: every round has been played")
            db.execute("INSERT OR REPLACE INTO decisions VALUES (?,?,?,0,?)",
                       (team.id, closed + 1, json.dumps(values, sort_keys=True), time.time()))

    def decisions(self, session_id: int) -> dict:
        """``{team_id: {round: (levers, carried, submitted)}}`` of every stored decision."""
        out: dict = {}
        with self._connect() as db:
            for team_id, rnd, levers, carried, submitted in db.execute(
                    "SELECT d.team_id, d.round, d.levers, d.carried, d.submitted FROM decisions d JOIN teams t "
                    "ON t.id = d.team_id WHERE t.session_id=? ORDER BY d.round, d.team_id", (session_id,)):
                out.setdefault(team_id, {})[rnd] = (json.loads(levers), bool(carried), submitted)
        return out

    def history(self, session: Session, team_id: int, rounds: int) -> list:
        """A team's lever values for rounds 1 to ``rounds`` (stored ones; ``{}`` for none)."""
        stored = self.decisions(session.id).get(team_id, {})
        return [stored.get(r, (None,))[0] or {} for r in range(1, rounds + 1)]

    def levers_in_force(self, session: Session, team_id: int) -> dict:
        """The team's lever values after the rounds closed so far (the starting values before any)."""
        values = session.starting_levers()
        for choice in self.history(session, team_id, session.closed_rounds):
            values.update(choice)
        return values

    def record_round(self, session: Session, carried: dict, results: dict) -> Session:
        """Store a closed round in one transaction: carried-over decisions, results, the round count.

        Parameters
        ----------
        session : Session
            As it was when the round was played (its ``closed_rounds`` is checked).
        carried : dict of team_id to dict
            Decisions carried over for teams that had not submitted.
        results : dict of team_id to dict
            :func:`spchain.apps.webapp.sim.play_round` summaries.
        """
        rnd = session.current_round
        with self.lock, self._connect() as db:
            closed = db.execute("SELECT closed_rounds FROM sessions WHERE id=?", (session.id,)).fetchone()[0]
            if closed != session.closed_rounds:
                raise SubmissionError(f"round {rnd} has already been closed")
            now = time.time()
            for team_id, values in carried.items():
                db.execute("INSERT OR REPLACE INTO decisions VALUES (?,?,?,1,?)",
                           (team_id, rnd, json.dumps(values, sort_keys=True), now))
            for team_id, summary in results.items():
                db.execute("INSERT OR REPLACE INTO results VALUES (?,?,?,?)",
                           (team_id, rnd, json.dumps(summary["metrics"]), json.dumps(summary["series"])))
            db.execute("UPDATE sessions SET closed_rounds=?, deadline=NULL WHERE id=?", (rnd, session.id))
        return self.session(session.id)

    def results(self, session_id: int) -> dict:
        """``{team_id: {round: {"metrics": ..., "series": ...}}}`` of every closed round."""
        out: dict = {}
        with self._connect() as db:
            for team_id, rnd, metrics, series in db.execute(
                    "SELECT r.team_id, r.round, r.metrics, r.series FROM results r JOIN teams t ON t.id = r.team_id "
                    "WHERE t.session_id=? ORDER BY r.round, r.team_id", (session_id,)):
                out.setdefault(team_id, {})[rnd] = {"metrics": json.loads(metrics), "series": json.loads(series)}
        return out


class _Closing:
    """A connection used as ``with``: commit (or roll back) and close at the end."""

    def __init__(self, db):
        self.db = db

    def __enter__(self):
        return self.db

    def __exit__(self, kind, value, tb):
        try:
            if kind is None:
                self.db.commit()
            else:
                self.db.rollback()
        finally:
            self.db.close()


def _integer(name, value, low, high) -> int:
    try:
        x = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        x = None
    if x is None or not low <= x <= high:
        raise ParamError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return x

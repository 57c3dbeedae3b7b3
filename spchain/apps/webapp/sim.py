"""Running a workshop's rounds: one :class:`~spchain.engine.run.Simulation` per team, kept warm.

Every team of a session plays the same organisation from the same seed
(common random numbers), so any difference between two teams is their
levers' doing.  A round is one quarter (:data:`spchain.apps.workshop.QUARTER`
weeks) simulated from the team's saved state.  The state lives in memory
only: after a restart (or in a worker process that has not seen the team)
it is rebuilt by replaying the team's decisions from week 0 in the same
pieces, which reproduces the interrupted run exactly.

A round for many teams can run in worker processes.  The state of a team
stays in one fixed worker (a team is always sent to the same one), since a
running simulation cannot be moved between processes.
"""

from __future__ import annotations

import math
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from ...params import Change, ParamError, check_schedulable
from ...presets import PRESETS, preset
from ...engine.run import Simulation
from ..workshop import LEVERS, QUARTER

__all__ = ["ROUND_METRICS", "SERIES_METRICS", "GameSpec", "build_params", "play_round", "team_result",
           "RoundRunner"]

#: KPIs kept for every team and round (the quarter's value, :meth:`RunResult.total`).
ROUND_METRICS = ("profit", "revenue", "costs", "nps", "customer_satisfaction", "employee_satisfaction",
                 "turnover", "internal_service_quality", "service_quality", "active_customers", "wait_time")

#: KPIs kept week by week for a team's charts.
SERIES_METRICS = ("profit", "employee_satisfaction", "customer_satisfaction", "nps")


@dataclass(frozen=True)
class GameSpec:
    """What a team's run depends on: organisation, seed, length, shocks and its decisions.

    Attributes
    ----------
    preset : str
        A preset of :data:`spchain.PRESETS`.
    seed : int
        Seed shared by every team of the session.
    rounds : int
        Rounds in the session; the run's horizon is ``rounds * QUARTER`` weeks.
    shocks : tuple of (int, str, float)
        ``(round, path, value)``: a parameter change for everybody from the
        start of ``round`` (1-based).
    decisions : tuple of tuple of (str, float)
        The team's lever values for each round played or being played, in
        order; the last one is the round to simulate.
    """

    preset: str
    seed: int
    rounds: int
    shocks: tuple = ()
    decisions: tuple = field(default=())

    def with_decisions(self, decisions) -> "GameSpec":
        """The same game with another decision history (a sequence of path -> value mappings)."""
        return GameSpec(self.preset, self.seed, self.rounds, self.shocks,
                        tuple(tuple(sorted(dict(d).items())) for d in decisions))


def build_params(spec: GameSpec, n_rounds: int | None = None):
    """The parameters of a team's run after ``n_rounds`` rounds of decisions.

    Shocks (all of them, future ones included) and the decisions of the
    first ``n_rounds`` rounds are scheduled as :class:`~spchain.Change` s at
    the start of their quarter.  A lever value equal to the one already in
    force is not scheduled again.

    Parameters
    ----------
    spec : GameSpec
    n_rounds : int, optional
        Rounds of decisions to include; default all of ``spec.decisions``.

    Returns
    -------
    Params

    Raises
    ------
    ParamError
        An unknown preset, a shock beyond the game or to a parameter fixed
        for a whole run, or an invalid value.
    """
    if spec.preset not in PRESETS:
        raise ParamError(f"preset must be one of {sorted(PRESETS)}, got {spec.preset!r}")
    base = preset(spec.preset)
    changes, shocks = [], []
    for rnd, path, value in spec.shocks:
        if not 1 <= rnd <= spec.rounds:
            raise ParamError(f"shock round must be in [1, {spec.rounds}], got {rnd!r} ({path})")
        week = QUARTER * (rnd - 1)
        check_schedulable(path, week, context=f"shock in round {rnd}: ")
        shocks.append(Change(at_week=week, path=path, value=value))
    changes.extend(shocks)
    decisions = spec.decisions if n_rounds is None else spec.decisions[:n_rounds]
    # the lever values in force, followed in a plain dict (Params.at_week would re-validate every time)
    current = {path: base.get(path) for choice in decisions for path, _ in choice}
    for q, choice in enumerate(decisions):
        for c in shocks:
            if c.at_week == QUARTER * q and c.path in current:
                current[c.path] = c.value
        for path, value in choice:
            if current[path] != value:
                changes.append(Change(at_week=QUARTER * q, path=path, value=value))
                current[path] = value
    return base.with_changes(*changes)  # validated once, here


#: Runs of the teams this process has played: key -> (GameSpec played so far, Simulation).
_RUNS: dict = {}


def _simulation(key, spec: GameSpec, runs: dict) -> Simulation:
    """The team's simulation at the start of the round to play, rebuilt by replay when needed.

    A run in memory is used only if it was played with the same game and
    the same decisions for the rounds before this one; otherwise (a
    restart, another worker, another database) the decisions are replayed
    from week 0 in the same pieces, which gives the same state exactly.
    """
    n_before = len(spec.decisions) - 1
    kept = runs.get(key)
    if kept is not None:
        played, sim = kept
        same_game = (played.preset, played.seed, played.rounds, played.shocks) == \
            (spec.preset, spec.seed, spec.rounds, spec.shocks)
        if same_game and played.decisions == spec.decisions[:n_before] and sim.week == QUARTER * n_before:
            return sim
    sim = Simulation(build_params(spec, 0), horizon=QUARTER * spec.rounds, seed=spec.seed)
    for q in range(n_before):  # replay the rounds played, in the same pieces
        sim.advance(QUARTER * (q + 1), params=build_params(spec, q + 1))
    return sim


def play_round(key, spec: GameSpec, runs: dict | None = None) -> dict:
    """Simulate the last round of ``spec.decisions`` for one team and summarise it.

    Parameters
    ----------
    key : hashable
        Identifies the team's run in ``runs`` (e.g. ``(session token, team)``).
    spec : GameSpec
        The game with the team's decisions up to and including this round.
    runs : dict, optional
        Where the teams' runs are kept between rounds; default this
        process's own (what a worker process uses).

    Returns
    -------
    dict
        ``round`` (1-based), ``metrics`` (:data:`ROUND_METRICS` over the
        quarter) and ``series`` (:data:`SERIES_METRICS` week by week over the
        quarter; NaN as None).
    """
    runs = _RUNS if runs is None else runs
    n = len(spec.decisions)
    if not 1 <= n <= spec.rounds:
        raise ParamError(f"a team plays rounds 1 to {spec.rounds}; got decisions for {n}")
    sim = _simulation(key, spec, runs)
    result = sim.advance(QUARTER * n, params=build_params(spec, n))
    runs[key] = (spec, sim)
    start, stop = QUARTER * (n - 1), QUARTER * n
    metrics = {m: _clean(result.total(m, start=start, stop=stop)) for m in ROUND_METRICS}
    series = {m: [_clean(x) for x in result.kpi(m)[start:stop]] for m in SERIES_METRICS}
    return {"round": n, "metrics": metrics, "series": series}


def team_result(key, spec: GameSpec, runs: dict | None = None):
    """The team's whole run after the rounds of ``spec.decisions`` (replayed if not in memory).

    Returns
    -------
    RunResult
        Weeks 0 to ``QUARTER * len(spec.decisions) - 1``.
    """
    runs = _RUNS if runs is None else runs
    n = len(spec.decisions)
    if n == 0:
        raise ParamError("no round has been played yet")
    kept = runs.get(key)
    if kept is not None and kept[0] == spec and kept[1].week == QUARTER * n:
        sim = kept[1]
    else:
        sim = _simulation(key, spec.with_decisions([dict(d) for d in spec.decisions] + [{}]), {})
        runs[key] = (spec, sim)
    return sim.advance(sim.week)


def _clean(x):
    x = float(x)
    return x if math.isfinite(x) else None


class RoundRunner:
    """Plays a round for every team, serially or in fixed worker processes.

    Parameters
    ----------
    workers : int
        1 plays in this process; more start that many worker processes (on
        first use), each the permanent home of the teams sent to it.
    """

    def __init__(self, workers: int = 1):
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ParamError(f"workers must be an integer >= 1, got {workers!r}")
        self.workers = workers
        self.runs: dict = {}  # the teams' runs when played in this process
        self._pools = None
        self._home: dict = {}

    def _pool_for(self, key):
        if self._pools is None:
            ctx = multiprocessing.get_context("spawn")  # the same on Linux, macOS and Windows
            self._pools = [ProcessPoolExecutor(max_workers=1, mp_context=ctx) for _ in range(self.workers)]
        if key not in self._home:
            self._home[key] = len(self._home) % self.workers
        return self._pools[self._home[key]]

    def play(self, jobs) -> dict:
        """Play one round for several teams.

        Parameters
        ----------
        jobs : mapping of key to GameSpec
            Each team's game with its decisions up to the round to play.

        Returns
        -------
        dict of key to dict
            :func:`play_round`'s summary for each key.
        """
        if self.workers == 1:
            return {key: play_round(key, spec, self.runs) for key, spec in jobs.items()}
        futures = {key: self._pool_for(key).submit(play_round, key, spec) for key, spec in jobs.items()}
        return {key: f.result() for key, f in futures.items()}

    def result(self, key, spec: GameSpec):
        """The team's whole run so far (:func:`team_result`), from the process that holds it."""
        if self.workers == 1:
            return team_result(key, spec, self.runs)
        return self._pool_for(key).submit(team_result, key, spec).result()

    def close(self) -> None:
        """Stop the worker processes (the teams' runs are rebuilt by replay if needed again)."""
        for pool in self._pools or ():
            pool.shutdown(cancel_futures=True)
        self._pools = None
        self._home = {}
        self.runs = {}

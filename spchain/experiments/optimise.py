"""Lever optimisation under noise: search continuous levers, then select the best with a guarantee.

:func:`optimise` searches a box of continuous levers -- optionally under a
linear budget such as "tools spend plus training cost at most 3,000 a
week" -- for the best expected value of a noisy objective
``objective(x, replication) -> float``; :func:`optimise_levers` builds that
objective from the simulator (a KPI's total after the warm-up, levers set
at a week).  Three stages:

1. **Space-filling start.**  ``n_initial`` points of a scrambled Sobol'
   sequence (:class:`scipy.stats.qmc.Sobol`, scrambled from ``seed``
   through :class:`numpy.random.SeedSequence`) in the box.  Under a budget
   the points that break it are skipped, so the design is a Sobol' sample
   of the feasible region itself; only where under one point in 64 meets
   the budget are the remaining points projected onto it (the nearest
   feasible point).
2. **Local refinement.**  From each of the ``n_starts`` best distinct
   points of the start, in turn, COBYQA (Ragonneau & Zhang's derivative-free trust-region method,
   :func:`scipy.optimize.minimize` ``method="COBYQA"``) on the box scaled to
   ``[0, 1]`` per lever, with the budget as a
   :class:`~scipy.optimize.LinearConstraint`.  Every point is projected onto
   the budget before it is evaluated, so no evaluated point breaks it.
3. **Ranking and selection.**  The ``finalists`` best distinct candidates
   (and the starting point ``x0``, when given) go to
   :func:`spchain.experiments.selection.select` (KN++ by default) on *fresh*
   replications.

**Common random numbers.**  During the search every candidate is evaluated
on the same replications ``0 .. n_replications - 1``, so its sample-average
objective is a deterministic function of ``x``: candidates are compared on
the same luck, and a local optimiser sees a fixed (if rough) surface
instead of a new draw of noise at every call.  Each new point counts once
against ``maxfev`` (``n_replications`` runs); a point asked for again is
not run again.

**Why fresh replications at the end.**  The search keeps the candidates
whose sample averages over its replications were highest -- partly because
those replications happened to favour them (the optimiser's curse, or
selection bias).  The finalists are therefore re-run on replications
``n_replications, n_replications + 1, ...``, disjoint from the search's,
and the selection and the chosen plan's estimate use only those.

**What is guaranteed, and what is not.**  The selection's guarantee
(:attr:`spchain.experiments.selection.Selection.guarantee`) covers the *finalists
only*: with probability at least ``1 - alpha`` the chosen one's mean is
within ``delta`` of the best finalist's.  Nothing guarantees that the
search found the best plan in the box: a local method on a noisy surface
can stop short of the optimum or in a local one.  The chosen plan's
interval (:attr:`OptimisationResult.estimate`) treats its fresh outputs as
a plain sample, ignoring that the selection among finalists also used
them, a small optimistic bias when finalists are close.

References: Ragonneau, *Model-based derivative-free optimization methods
and software* (PhD thesis, Hong Kong Polytechnic University, 2022)
(COBYQA); Kim & Nelson, "A fully sequential procedure for indifference-zone
selection in simulation", *ACM TOMACS* 11 (2001); Nelson, "Optimization via
simulation over discrete decision variables", *TutORials in Operations
Research* (2010) (search, then "clean-up" by ranking and selection on fresh
replications); Smith & Winkler, "The optimizer's curse", *Management
Science* 52 (2006).

An example: a concave objective with noise that depends on the replication
only; the optimum of ``-(x0 - 1)^2 - (x1 + 2)^2`` is at ``(1, -2)``:

>>> import numpy as np
>>> def objective(x, r):
...     noise = np.random.default_rng(r).normal(0.0, 0.1)
...     return -(x[0] - 1.0) ** 2 - (x[1] + 2.0) ** 2 + noise
>>> res = optimise(objective, [(-4.0, 4.0), (-4.0, 4.0)], n_replications=4,
...                maxfev=60, delta=0.05, seed=1)
>>> np.round(res.x, 1).tolist()
[1.0, -2.0]
"""

from __future__ import annotations

import concurrent.futures as cf
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np
from scipy import optimize, stats

from ..params import ParamError, check_integer
from .selection import Selection, select
from .statistics import Difference, Interval, paired_difference, t_interval

__all__ = ["OptimisationResult", "optimise", "optimise_levers"]

PROCEDURES = ("kn++", "kn", "rinott")
#: Initial trust-region radius of COBYQA, in units of each lever's range.
INITIAL_RADIUS = 0.25
#: Fewer feasible points than one in this many Sobol' draws: project the rest.
_REJECTION_LIMIT = 64


class _Exhausted(Exception):
    """The search used up its evaluations (``maxfev``)."""


# ------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class OptimisationResult:
    """The chosen levers, their estimate on fresh replications, and how they were found.

    Attributes
    ----------
    x : ndarray
        The chosen point (one value per lever).
    names : tuple of str
        Lever names, in the order of ``x`` (dotted paths for
        :func:`optimise_levers`).
    estimate : spchain.experiments.statistics.Interval
        Mean of the chosen point's objective over its *fresh* replications,
        with a Student-t interval at level ``1 - alpha``.
    versus_start : spchain.experiments.statistics.Difference or None
        Chosen minus the starting point ``x0``, paired by fresh replication
        (common random numbers), with its interval; ``None`` without ``x0``.
    finalists : ndarray
        The candidates selected among, one row each, named as in
        ``selection.names`` (``"start"`` for ``x0``, then ``"candidate 1"``,
        ... by their search averages).
    selection : spchain.experiments.selection.Selection
        The ranking-and-selection result on the finalists: its
        :attr:`~spchain.experiments.selection.Selection.guarantee` states the probability
        of a correct selection, among the finalists only.
    history_x : ndarray
        Every point the search evaluated, in order, one row each (the
        finalists' fresh runs are not in it).
    history_mean : ndarray
        Each point's average objective over the search's replications
        ``0 .. n_replications - 1``.
    n_initial : int
        Points of the space-filling start (the first rows of the history).
    n_replications : int
        Replications per point during the search; the fresh replications
        of the selection are numbered from here on.
    n_evaluations : int
        Points evaluated by the search (``len(history_x)``, at most ``maxfev``).
    n_runs : int
        Objective calls in all: ``n_evaluations * n_replications`` for the
        search plus the selection's runs.
    direction : str
        ``"max"`` or ``"min"``.
    kpi : str
        What was optimised (a KPI name, or ``"output"``).
    budget : tuple or None
        ``(weights, total)``: the points met ``weights @ x <= total``.
    seed : int
        Root seed of the design (and, for :func:`optimise_levers`, of the runs).
    messages : tuple of str
        What ended each local search (COBYQA's message, or that ``maxfev``
        was reached).
    """

    x: np.ndarray
    names: tuple
    estimate: Interval
    versus_start: Difference | None
    finalists: np.ndarray
    selection: Selection
    history_x: np.ndarray = field(repr=False)
    history_mean: np.ndarray = field(repr=False)
    n_initial: int
    n_replications: int
    n_evaluations: int
    n_runs: int
    direction: str
    kpi: str
    budget: tuple | None
    seed: int
    messages: tuple = ()

    @property
    def levers(self) -> dict:
        """The chosen point as ``{name: value}``."""
        return {n: float(v) for n, v in zip(self.names, self.x)}

    @property
    def n_fresh(self) -> int:
        """Fresh runs of the selection (``n_runs`` less the search's)."""
        return self.selection.n_runs

    def summary(self) -> str:
        """A plain-text report: the chosen levers, the estimate, the finalists, the guarantee."""
        width = max(len(n) for n in self.names)
        estimate = self.estimate
        what = "output" if self.kpi == "output" else self.kpi.replace("_", " ")
        lines = [f"Optimisation of {what} ({self.direction}): {self.n_evaluations} points searched "
                 f"({self.n_initial} space-filling) x {self.n_replications} replications with common "
                 f"random numbers, then {self.selection.procedure} on {len(self.finalists)} finalists "
                 f"over {self.n_fresh} fresh runs; {self.n_runs:,} runs in all", ""]
        lines += [f"  {n:<{width}}  {v:,.6g}" for n, v in zip(self.names, self.x)]
        lines += ["", f"Estimate on fresh replications: {estimate.mean:,.6g}, {estimate.level:.0%} interval "
                      f"[{estimate.low:,.6g}, {estimate.high:,.6g}] ({estimate.n} replications)"]
        if self.versus_start is not None:
            versus = self.versus_start
            lines.append(f"Versus the starting point (paired, {versus.n} replications): {versus.mean:+,.6g}, "
                         f"{versus.level:.0%} interval [{versus.low:+,.6g}, {versus.high:+,.6g}]")
        if self.budget is not None:
            weights, total = self.budget
            lines.append(f"Budget: weighted sum {float(np.dot(weights, self.x)):,.6g} of at most {total:,.6g}")
        lines += ["", self.selection.summary(), "",
                  "The guarantee covers the finalists only: the search may have missed better plans "
                  "elsewhere in the box."]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-able data: the choice, estimate, finalists, history and the selection."""
        estimate = self.estimate
        out = {"levers": self.levers, "kpi": self.kpi, "direction": self.direction, "seed": self.seed,
               "estimate": {"mean": estimate.mean, "low": estimate.low, "high": estimate.high, "n": estimate.n,
                            "level": estimate.level},
               "finalists": {name: dict(zip(self.names, map(float, row)))
                             for name, row in zip(self.selection.names, self.finalists)},
               "history": [dict(zip(self.names, map(float, x)), mean=float(m))
                           for x, m in zip(self.history_x, self.history_mean)],
               "n_initial": self.n_initial, "n_replications": self.n_replications,
               "n_evaluations": self.n_evaluations, "n_runs": self.n_runs,
               "budget": None if self.budget is None else
               {"weights": dict(zip(self.names, map(float, self.budget[0]))), "total": self.budget[1]},
               "messages": list(self.messages), "selection": self.selection.to_dict()}
        if self.versus_start is not None:
            versus = self.versus_start
            out["versus_start"] = {"mean": versus.mean, "low": versus.low, "high": versus.high, "n": versus.n}
        return out


# --------------------------------------------------------------- validation
def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
        raise ParamError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _bounds(bounds, names):
    try:
        pairs = [tuple(b) for b in bounds]
    except TypeError:
        raise ParamError(f"bounds must be a sequence of (low, high) pairs, got {bounds!r}") from None
    if not pairs:
        raise ParamError("bounds must give at least one (low, high) pair")
    low, high = [], []
    for j, pair in enumerate(pairs):
        label = names[j] if names is not None and j < len(names) else f"bounds[{j}]"
        if len(pair) != 2:
            raise ParamError(f"{label}: bounds must be a pair (low, high), got {pair!r}")
        lo, hi = (_number(f"{label}: bound", v) for v in pair)
        if not lo < hi:
            raise ParamError(f"{label}: the low bound must be below the high bound, got ({lo!r}, {hi!r})")
        low.append(lo)
        high.append(hi)
    return np.array(low), np.array(high)


def _budget(budget, low, high, names):
    if budget is None:
        return None
    try:
        weights, total = budget
    except (TypeError, ValueError):
        raise ParamError(f"budget must be a pair (weights, total) meaning weights @ x <= total, "
                         f"got {budget!r}") from None
    total = _number("budget total", total)
    try:
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError):
        raise ParamError(f"budget weights must be numbers, got {weights!r}") from None
    if w.shape != low.shape or not np.all(np.isfinite(w)):
        raise ParamError(f"budget weights must be {low.size} finite numbers (one per lever), got {weights!r}")
    if not np.any(w):
        raise ParamError("budget weights are all zero; give at least one lever a weight")
    least = float(np.minimum(w * low, w * high).sum())
    if least > total + _slack(w, low, high, total):
        names = names or [f"x{j}" for j in range(low.size)]
        terms = " + ".join(f"{wj:g} * {n}" for wj, n in zip(w, names) if wj)
        raise ParamError(f"budget cannot be met: the least {terms} in the box is {least:,.6g}, above the "
                         f"total {total:,.6g}; raise the total or lower the bounds")
    return w, total


def _meets(budget, x, low, high) -> bool:
    """Whether ``x`` meets ``budget = (weights, total)`` (always, for no budget), up to rounding."""
    if budget is None:
        return True
    w, total = budget
    return float(w @ x) <= total + _slack(w, low, high, total)


def _slack(w, low, high, total):
    """Rounding allowance of the budget test: relative 1e-9 of its largest term."""
    return 1e-9 * max(abs(total), float(np.abs(w * low).sum()), float(np.abs(w * high).sum()), 1.0)


# ---------------------------------------------------------------- geometry
def _project(u, a, b):
    """Nearest point of ``{0 <= u <= 1, a @ u <= b}`` to ``u`` (Euclidean).

    The projection onto a box cut by a half-space is ``clip(u - lam a, 0, 1)``
    with ``lam >= 0`` the root of ``a @ clip(u - lam a, 0, 1) = b``, which is
    non-increasing in ``lam``; found by bisection, on the feasible side.
    """
    u = np.clip(u, 0.0, 1.0)
    if a is None or a @ u <= b:
        return u
    point = lambda lam: np.clip(u - lam * a, 0.0, 1.0)  # noqa: E731
    lo, hi = 0.0, 1.0
    while a @ point(hi) > b:
        hi *= 2.0
        if hi > 1e300:  # pragma: no cover - feasibility is checked before
            raise ParamError("no point of the box meets the budget")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if a @ point(mid) > b:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return point(hi)


def _design(n, d, seed, a, b):
    """``n`` points of a scrambled Sobol' sequence in ``[0, 1]^d`` meeting ``a @ u <= b``."""
    sobol = stats.qmc.Sobol(d, scramble=True, rng=np.random.default_rng(np.random.SeedSequence(seed)))
    if a is None:
        return sobol.random_base2(math.ceil(math.log2(n)))[:n]
    draws = sobol.random_base2(math.ceil(math.log2(n * _REJECTION_LIMIT)))
    ok = draws @ a <= b
    feasible = draws[ok][:n]
    if len(feasible) == n:
        return feasible
    rest = [_project(u, a, b) for u in draws[~ok][: n - len(feasible)]]
    return np.vstack([feasible, *rest]) if rest else feasible


# -------------------------------------------------------------- the search
class _Search:
    """Sample averages over the search's replications, each point run once, at most ``maxfev`` points."""

    def __init__(self, objective, low, span, n_replications, sign, maxfev, executor):
        self.objective, self.low, self.span = objective, low, span
        self.n_replications, self.sign, self.maxfev, self.executor = n_replications, sign, maxfev, executor
        self.cache, self.xs, self.means = {}, [], []
        self.limit = maxfev  # the current local search's last allowed evaluation

    def x(self, u):
        return self.low + u * self.span

    def run(self, points):
        """Run every replication of each point of ``x`` not yet run, as one batch; return the averages."""
        new = [p for p in dict.fromkeys(tuple(map(float, x)) for x in points) if p not in self.cache]
        if len(self.xs) + len(new) > min(self.limit, self.maxfev):
            raise _Exhausted
        tasks = [(np.array(p), r) for p in new for r in range(self.n_replications)]
        if self.executor is None:
            values = [self.objective(x, r) for x, r in tasks]
        else:
            futures = [self.executor.submit(self.objective, x, r) for x, r in tasks]
            values = [f.result() for f in futures]
        for (x, r), v in zip(tasks, values):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v):
                raise ValueError(f"objective({x.tolist()}, {r}) returned {v!r}; every output must be a "
                                 f"finite number")
        for i, p in enumerate(new):
            mean = float(np.mean(values[i * self.n_replications:(i + 1) * self.n_replications]))
            self.cache[p] = mean
            self.xs.append(p)
            self.means.append(mean)
        return [self.cache[tuple(map(float, x))] for x in points]

    def loss(self, u, a, b):
        """What COBYQA minimises: minus the signed average at the projected point."""
        return -self.sign * self.run([self.x(_project(np.asarray(u, float), a, b))])[0]

    def ranked(self, separation):
        """Indices of evaluated points, best first, skipping any within ``separation`` of a better one."""
        order = np.argsort(-self.sign * np.array(self.means), kind="stable")
        units = (np.array(self.xs) - self.low) / self.span
        kept = []
        for i in order:
            if all(np.linalg.norm(units[i] - units[j]) >= separation for j in kept):
                kept.append(int(i))
        return kept


class _FreshReplications:
    """``sample(i, r)``: the objective at finalist ``i`` on fresh replication ``offset + r`` (picklable)."""

    def __init__(self, objective, points, offset):
        self.objective, self.points, self.offset = objective, points, offset

    def __call__(self, i, r):
        return self.objective(self.points[i].copy(), self.offset + r)


def optimise(objective: Callable[[np.ndarray, int], float], bounds, *, delta: float,
             direction: str = "max", n_replications: int = 10, budget=None, x0=None,
             n_initial: int | None = None, maxfev: int = 100, n_starts: int = 2,
             xtol: float = 0.01, finalists: int = 3, alpha: float = 0.05, n0: int = 10,
             procedure: str = "kn++", seed: int | None = None, executor: cf.Executor | None = None,
             names=None, kpi: str = "output") -> OptimisationResult:
    """Search continuous levers for the best expected objective, then select among the best.

    See the module docstring for the three stages, the common random
    numbers, and what the result guarantees.

    Parameters
    ----------
    objective : callable
        ``objective(x, replication) -> float`` with ``x`` an array of one
        value per lever; replication ``r`` should draw the same randomness
        whatever ``x`` is (common random numbers).  Must be picklable to
        run on a process pool.
    bounds : sequence of (low, high)
        Finite bounds per lever, ``low < high``.
    delta : float
        Indifference zone of the final selection, > 0, in the objective's
        unit: the smallest difference between finalists worth telling apart.
    direction : {"max", "min"}
        Whether larger or smaller objectives are better.
    n_replications : int
        Replications per point during the search (common to every point), >= 1.
    budget : (array_like, float), optional
        ``(weights, total)``: only points with ``weights @ x <= total`` are
        evaluated (e.g. weights 1 on two spends and ``total`` the money
        there is).  Refused if no point of the box meets it.
    x0 : array_like, optional
        Starting point, e.g. today's levers: evaluated first, used as a
        local search's start when among the best, and always a finalist
        (named ``"start"``), so the chosen plan is compared with it on the
        fresh replications (:attr:`OptimisationResult.versus_start`).  Must
        lie in the box and meet the budget.
    n_initial : int, optional
        Space-filling points, >= 2; default ``max(8, 4 * d)`` for ``d``
        levers (never more than ``maxfev``).
    maxfev : int
        Most points the search evaluates, all stages together (each costs
        ``n_replications`` runs); at least ``n_initial`` (+1 with ``x0``).
    n_starts : int
        Local searches, >= 0, one from each of the ``n_starts`` best
        distinct points of the space-filling start (and ``x0``), run in
        turn; each gets an equal share of the evaluations left.  0 skips
        local refinement.
    xtol : float
        COBYQA's final trust-region radius, in units of each lever's range
        (in ``(0, INITIAL_RADIUS)``); points closer than this count as the same
        plan when finalists and starts are chosen.
    finalists : int
        Distinct best candidates taken to the selection, >= 2 (plus ``x0``).
    alpha : float
        One minus the selection's confidence, in ``(0, 0.5)``.
    n0 : int
        First-stage replications of the selection, >= 2.
    procedure : {"kn++", "kn", "rinott"}
        Selection procedure (:func:`spchain.experiments.selection.select`).
    seed : int, optional
        Scrambles the Sobol' design (through ``SeedSequence``); ``None``
        draws fresh entropy, recorded on the result.
    executor : concurrent.futures.Executor, optional
        Where runs go: each batch (a point's replications, the whole
        initial design, a selection stage) is submitted at once.
    names : sequence of str, optional
        Lever names for the result (default ``"x0"``, ``"x1"``, ...).
    kpi : str
        Label of the objective for the result's text.

    Returns
    -------
    OptimisationResult

    Raises
    ------
    ParamError
        Before any run: for bad bounds, an unmeetable or malformed budget,
        an ``x0`` outside the box or over the budget, or a bad ``delta``,
        ``alpha``, ``n_replications``, ``n_initial``, ``maxfev``,
        ``n_starts``, ``xtol``, ``finalists``, ``n0``, ``procedure``,
        ``direction``, ``seed`` or ``executor``.
    ValueError
        When the objective returns something other than a finite number.
    """
    if not callable(objective):
        raise ParamError(f"objective must be a callable objective(x, replication) -> float, got {objective!r}")
    names = None if names is None else [str(n) for n in names]
    low, high = _bounds(bounds, names)
    names = _lever_names(names, low.size)
    if direction not in ("max", "min"):
        raise ParamError(f"direction must be 'max' or 'min', got {direction!r}")
    n_replications, maxfev, n_initial, n_starts, xtol = _search_settings(
        n_replications, maxfev, n_initial, n_starts, xtol, n_levers=low.size, with_start=x0 is not None)
    finalists, delta, n0 = _selection_settings(finalists, procedure, delta, alpha, n0)
    seed = int(np.random.SeedSequence().entropy) if seed is None else check_integer("seed", seed, 0)
    if executor is not None and not isinstance(executor, cf.Executor):
        raise ParamError(f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}")
    checked = _budget(budget, low, high, names)
    start = None if x0 is None else _start_point(x0, names, low, high, checked)

    search = _Search(objective, low, high - low, n_replications, 1.0 if direction == "max" else -1.0, maxfev,
                     executor)
    unit_budget = _unit_budget(checked, low, high)
    # (1) space-filling start, x0 first
    design = _design(n_initial, low.size, seed, *unit_budget)
    search.run(([] if start is None else [start]) + [search.x(u) for u in design])
    n_first = len(search.xs)
    # (2) local refinement from the best distinct points of the start
    messages = _refine(search, unit_budget, n_starts=n_starts, xtol=xtol)
    # (3) ranking and selection among the finalists, on fresh replications
    pool, labels = _finalists(search, start, xtol=xtol, finalists=finalists)
    chosen = select(_FreshReplications(objective, pool, n_replications), labels, delta=delta, alpha=alpha,
                    direction=direction, procedure=procedure, n0=n0, executor=executor, kpi=kpi, seed=seed)
    estimate, versus = _chosen_estimates(chosen, labels, level=1.0 - alpha)
    history_x, history_mean = np.array(search.xs), np.array(search.means)
    x = pool[labels.index(chosen.best)].copy()
    for array in (pool, history_x, history_mean, x):
        array.flags.writeable = False
    return OptimisationResult(
        x=x, names=tuple(names), estimate=estimate, versus_start=versus, finalists=pool, selection=chosen,
        history_x=history_x, history_mean=history_mean, n_initial=n_first - (start is not None),
        n_replications=n_replications, n_evaluations=len(search.xs),
        n_runs=len(search.xs) * n_replications + chosen.n_runs, direction=direction, kpi=kpi,
        budget=None if checked is None else (checked[0], checked[1]), seed=seed, messages=tuple(messages))


def _lever_names(names, n_levers) -> list:
    """The levers' names: as given (one per lever), or ``x0``, ``x1``, ..."""
    if names is None:
        return [f"x{j}" for j in range(n_levers)]
    if len(names) != n_levers:
        raise ParamError(f"names must give one name per lever ({n_levers}), got {names}")
    return names


def _search_settings(n_replications, maxfev, n_initial, n_starts, xtol, *, n_levers, with_start):
    """The search's settings, checked: ``(n_replications, maxfev, n_initial, n_starts, xtol)``."""
    n_replications = check_integer("n_replications", n_replications, 1)
    maxfev = check_integer("maxfev", maxfev, 2)
    n_initial = min(max(8, 4 * n_levers), maxfev - with_start) if n_initial is None else n_initial
    n_initial = check_integer("n_initial", n_initial, 2)
    if n_initial + with_start > maxfev:
        raise ParamError(f"maxfev ({maxfev}) must cover the {n_initial} initial points"
                         f"{' and x0' if with_start else ''}")
    n_starts = check_integer("n_starts", n_starts, 0)
    xtol = _number("xtol", xtol)
    if not 0 < xtol < INITIAL_RADIUS:
        raise ParamError(f"xtol must be in (0, {INITIAL_RADIUS}) (a share of each lever's range), got {xtol!r}")
    return n_replications, maxfev, n_initial, n_starts, xtol


def _selection_settings(finalists, procedure, delta, alpha, n0):
    """The final selection's settings, checked: ``(finalists, delta, n0)``."""
    finalists = check_integer("finalists", finalists, 2)
    if procedure not in PROCEDURES:
        raise ParamError(f"procedure must be one of {PROCEDURES} (a selection with a guarantee), got {procedure!r}")
    delta = _number("delta", delta)
    if not delta > 0:
        raise ParamError(f"delta (the indifference zone) must be > 0, got {delta!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
        raise ParamError(f"alpha must be in (0, 0.5) (a selection between two finalists must beat a "
                         f"coin toss), got {alpha!r}")
    return finalists, delta, check_integer("n0", n0, 2)


def _start_point(x0, names, low, high, budget) -> np.ndarray:
    """``x0`` as an array, checked to lie in the box and meet the budget."""
    start = np.asarray(x0, dtype=float).reshape(-1)
    if start.shape != low.shape or not np.all(np.isfinite(start)):
        raise ParamError(f"x0 must be {low.size} finite numbers, got {x0!r}")
    outside = [n for n, v, lo, hi in zip(names, start, low, high) if not lo <= v <= hi]
    if outside:
        j = names.index(outside[0])
        raise ParamError(f"x0: {outside[0]} = {start[j]:g} is outside its bounds ({low[j]:g}, {high[j]:g})")
    if not _meets(budget, start, low, high):
        raise ParamError(f"x0 breaks the budget: weighted sum {float(budget[0] @ start):,.6g} > "
                         f"total {budget[1]:,.6g}")
    return start


def _unit_budget(budget, low, high) -> tuple:
    """The budget ``weights @ x <= total`` on the box scaled to ``[0, 1]``: ``(a, b)`` with ``a @ u <= b``.

    ``(None, None)`` for no budget.
    """
    if budget is None:
        return None, None
    weights, total = budget
    return weights * (high - low), total - float(weights @ low)


def _refine(search, unit_budget, *, n_starts, xtol) -> list:
    """COBYQA from each of the ``n_starts`` best distinct points in turn; what ended each search."""
    a, b = unit_budget
    n_levers = search.low.size
    bounds_unit = optimize.Bounds(np.zeros(n_levers), np.ones(n_levers))
    constraints = [] if a is None else [optimize.LinearConstraint(a[None, :], -np.inf, b)]
    starts = search.ranked(xtol)[:n_starts]
    messages = []
    for k, i in enumerate(starts):
        left = search.maxfev - len(search.xs)
        if left <= 0:
            break
        u0 = (np.array(search.xs[i]) - search.low) / search.span
        search.limit = len(search.xs) + max(1, left // (len(starts) - k))  # an equal share of what is left
        try:
            res = optimize.minimize(search.loss, u0, args=(a, b), method="COBYQA", bounds=bounds_unit,
                                    constraints=constraints,
                                    options={"maxfev": 100 * search.maxfev, "initial_tr_radius": INITIAL_RADIUS,
                                             "final_tr_radius": xtol})
            messages.append(str(res.message))
        except _Exhausted:
            messages.append("stopped: its share of maxfev was used")
    search.limit = search.maxfev
    return messages


def _finalists(search, start, *, xtol, finalists) -> tuple:
    """The best distinct points (and ``start``) to select among: ``(points, labels)``."""
    best = search.ranked(xtol)[:finalists]
    if len(best) < 2:  # every point within xtol of the best: take the next best anyway
        best += [i for i in search.ranked(0.0) if i not in best][:finalists - len(best)]
    rows = [np.array(search.xs[i]) for i in best]
    labels = [f"candidate {j + 1}" for j in range(len(rows))]
    if start is not None:
        same = [j for j, row in enumerate(rows) if np.array_equal(row, start)]
        if same:
            labels[same[0]] = "start"
        else:
            rows.insert(0, start)
            labels.insert(0, "start")
    if len(rows) < 2:
        raise ValueError(f"the search evaluated only one distinct point ({rows[0].tolist()}), nothing to "
                         f"select among; the box and the budget leave no room")
    return np.array(rows), labels


def _chosen_estimates(chosen, labels, *, level) -> tuple:
    """The chosen finalist's interval on its fresh replications, and its paired difference from ``start``."""
    i = labels.index(chosen.best)
    estimate = t_interval(chosen.samples[i], level=level)
    if "start" not in labels:
        return estimate, None
    j = labels.index("start")
    n = min(len(chosen.samples[i]), len(chosen.samples[j]))
    return estimate, paired_difference(chosen.samples[i][:n], chosen.samples[j][:n], level=level)


# ------------------------------------------------------------ the simulator
class _LeverObjective:
    """``objective(x, r)``: the KPI total of replication ``r`` with levers ``x`` (picklable)."""

    def __init__(self, base, paths, at_week, horizon, warmup, seed, kpi):
        self.base, self.paths, self.at_week = base.to_dict(), tuple(paths), at_week
        self.horizon, self.warmup, self.seed, self.kpi = horizon, warmup, seed, kpi
        self._params = None

    def __getstate__(self):
        return dict(self.__dict__, _params=None)

    def params(self, x):
        from ..params import Params
        from .scenarios import Scenario

        if self._params is None:
            self._params = Params.from_dict(self.base)
        levers = {p: float(v) for p, v in zip(self.paths, x)}
        return Scenario("candidate", levers=levers, at_week=self.at_week).apply(self._params)

    def __call__(self, x, r):
        from ..engine.run import simulate
        from .spec import replication_seed

        result = simulate(self.params(x), horizon=self.horizon, seed=replication_seed(self.seed, r))
        return result.total(self.kpi, start=self.warmup)


def optimise_levers(base=None, levers: Mapping | None = None, *, kpi: str = "profit", delta: float,
                    direction: str = "max", budget: Mapping | None = None, at_week: int = 0,
                    horizon: int = 52, warmup: int = 0, n_replications: int = 10,
                    n_initial: int | None = None, maxfev: int = 60, n_starts: int = 2,
                    xtol: float = 0.01, finalists: int = 3, alpha: float = 0.05, n0: int = 10,
                    procedure: str = "kn++", seed: int | None = None, workers: int | None = None,
                    executor: cf.Executor | None = None) -> OptimisationResult:
    """Find the levers that give the best expected KPI, by simulation with common random numbers.

    Runs :func:`optimise` on the simulator: a point is a value per lever,
    applied as a :class:`~spchain.experiments.scenarios.Scenario` lever change at week
    ``at_week``; its output in replication ``r`` is the KPI's total after
    the warm-up (:meth:`spchain.RunResult.total` from week ``warmup``, as
    :meth:`ExperimentResult.totals <spchain.experiments.analysis.ExperimentResult.totals>`
    gives it) of a run with seed
    :func:`spchain.experiments.experiment.replication_seed` ``(seed, r)`` -- the seed an
    :class:`~spchain.experiments.experiment.Experiment` with the same ``seed`` gives
    replication ``r``.  The base's own lever values, when they lie in the
    box and meet the budget, are the starting point ``x0``, so the result
    compares the chosen plan with today's (:attr:`OptimisationResult.versus_start`).

    Parameters
    ----------
    base : Params, optional
        Parameters to start from (default ``Params()``).
    levers : mapping of str to (low, high)
        Continuous levers as dotted parameter paths with finite bounds,
        e.g. ``{"internal.tools_spend_per_week": (0.0, 4000.0)}``.  For
        integer levers (staff numbers) compare a grid with
        :func:`spchain.experiments.selection.select_best` instead.
    kpi : str
        A key of :data:`spchain.METRICS`, e.g. ``"profit"`` or ``"nps"``.
    delta : float
        Indifference zone of the final selection, in the KPI's unit over the
        window (a flow's total, a ratio's value).
    direction : {"max", "min"}
        Whether the KPI is to be raised or lowered.
    budget : mapping, optional
        A linear budget on levers: ``{"total": B, "weights": {path: w, ...}}``
        (``sum w * lever <= B``), or ``{"total": B, "paths": [...]}`` for
        weight 1 on each path.  Every path must be a lever.
    at_week : int
        Week from which the levers take effect (0: from the start); a
        change after week 0 must be to a schedulable parameter.
    horizon, warmup : int
        Weeks per run, and initial weeks left out of the KPI.
    n_replications, n_initial, maxfev, n_starts, xtol, finalists, alpha, n0, procedure
        As for :func:`optimise`.
    seed : int, optional
        Root seed of the runs and the design; ``None`` draws fresh entropy,
        recorded on the result.
    workers : int, optional
        Size of a local process pool (``spawn`` start method), shut down at
        the end; ``None`` or 1 runs serially.  In a script, make the call
        under ``if __name__ == "__main__":`` (the pool's processes import it).
    executor : concurrent.futures.Executor, optional
        Where to run instead (e.g. a Dask client's executor); not shut down.

    Returns
    -------
    OptimisationResult
        ``names`` are the lever paths and ``kpi`` the KPI.

    Raises
    ------
    ParamError
        Before any run: an unknown lever path (with a suggestion), bounds
        that are not finite or not ``low < high``, a lever value the
        parameters refuse at either bound, a budget naming a path that is
        not a lever or one no point of the box meets, a warm-up not shorter
        than the horizon, ``at_week`` beyond the horizon, and everything
        :func:`optimise` refuses.
    KeyError
        For an unknown KPI, before any run.

    Examples
    --------
    >>> from spchain import preset
    >>> res = optimise_levers(preset("workshop"), {"economics.price_index": (0.8, 1.2)},
    ...                       kpi="revenue", delta=5000.0, horizon=4, n_replications=2,
    ...                       maxfev=8, n_starts=0, n0=4, seed=1)
    >>> res.levers["economics.price_index"] > 1.1
    True
    """
    from ..metrics import metric
    from ..params import Params

    metric(kpi)
    base = Params() if base is None else base
    if not isinstance(base, Params):
        raise ParamError(f"base must be a spchain.Params, got {type(base).__name__}")
    paths = _lever_paths(base, levers)
    low, high = _bounds(list(levers.values()), paths)
    horizon = check_integer("horizon", horizon, 1)
    warmup = check_integer("warmup", warmup, 0)
    if warmup >= horizon:
        raise ParamError(f"horizon ({horizon} weeks) must be longer than the warm-up ({warmup} weeks)")
    at_week = check_integer("at_week", at_week, 0)
    if at_week >= horizon:
        raise ParamError(f"at_week ({at_week}) must be before the horizon ({horizon} weeks)")
    _check_continuous(base, paths, low, high, at_week)
    weights = None if budget is None else _lever_budget(budget, paths)
    seed = int(np.random.SeedSequence().entropy) if seed is None else check_integer("seed", seed, 0)
    if workers is not None:
        workers = check_integer("workers", workers, 1)
        if executor is not None:
            raise ParamError("give workers or executor, not both")
    todays = base.at_week(at_week)
    x0 = np.array([float(todays.get(p)) for p in paths])
    if not np.all((low <= x0) & (x0 <= high)) or not _meets(weights, x0, low, high):
        x0 = None  # today's levers are outside the search space: no starting point
    objective = _LeverObjective(base, paths, at_week, horizon, warmup, seed, kpi)
    settings = dict(delta=delta, direction=direction, n_replications=n_replications, budget=weights, x0=x0,
                    n_initial=n_initial, maxfev=maxfev, n_starts=n_starts, xtol=xtol, finalists=finalists,
                    alpha=alpha, n0=n0, procedure=procedure, seed=seed, names=paths, kpi=kpi)
    if workers and workers > 1 and executor is None:
        from .experiment import process_pool

        with process_pool(workers) as pool:
            return optimise(objective, list(zip(low, high)), executor=pool, **settings)
    return optimise(objective, list(zip(low, high)), executor=executor, **settings)


def _lever_paths(base, levers) -> list:
    """The levers' dotted paths, each checked to name a parameter of ``base``."""
    if not isinstance(levers, Mapping) or not levers:
        raise ParamError(f"levers must be a non-empty mapping of dotted path to (low, high), got {levers!r}")
    paths = list(levers)
    for path in paths:
        if not isinstance(path, str):
            raise ParamError(f"lever paths must be dotted parameter paths (str), got {path!r}")
        base.get(path)  # unknown path: ParamError with a suggestion
    return paths


def _check_continuous(base, paths, low, high, at_week) -> None:
    """Refuse a lever the parameters refuse at a bound, or at a point inside that is no integer.

    Integer parameters (staff numbers) are no continuous levers.
    """
    from .scenarios import Scenario

    for path, lo, hi in zip(paths, low, high):
        for where, value in (("its bound", lo), ("its bound", hi), ("a point inside", lo + (hi - lo) / math.pi)):
            try:
                Scenario("check", levers={path: float(value)}, at_week=at_week).apply(base)
            except ParamError as exc:
                raise ParamError(f"lever {path!r} at {where} {value:g}: {exc}") from None


def _lever_budget(budget, paths):
    """``(weights, total)`` in lever order from ``{"total": B, "weights": {...}}`` or ``{"total", "paths"}``."""
    from ..params import suggest

    if not isinstance(budget, Mapping) or "total" not in budget or \
            len(set(budget) & {"weights", "paths"}) != 1 or set(budget) - {"total", "weights", "paths"}:
        raise ParamError(f"budget must be {{'total': B, 'weights': {{path: weight}}}} or "
                         f"{{'total': B, 'paths': [path, ...]}}, got {budget!r}")
    if "paths" in budget:
        given = budget["paths"]
        if isinstance(given, str) or not isinstance(given, (list, tuple)) or not given:
            raise ParamError(f"budget paths must be a non-empty list of lever paths, got {given!r}")
        given = {p: 1.0 for p in given}
    else:
        given = budget["weights"]
        if not isinstance(given, Mapping) or not given:
            raise ParamError(f"budget weights must be a non-empty mapping of lever path to weight, got {given!r}")
    weights = np.zeros(len(paths))
    for p, w in given.items():
        if p not in paths:
            raise ParamError(f"budget names {p!r}, which is not a lever{suggest(p, paths)}; levers are {paths}")
        weights[paths.index(p)] = _number(f"budget weight of {p}", w)
    return weights, _number("budget total", budget["total"])

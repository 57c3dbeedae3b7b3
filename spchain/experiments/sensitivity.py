"""Global sensitivity analysis of a stochastic model: which levers matter.

Three verbs, each a function of a *model* and a box of *factors*:

* :func:`plan_replications` -- a first stage at the box's centre that
  measures the replication noise of the output and how many replications
  per design point keep that noise a small share of the output's variance
  across the box;
* :func:`morris` -- Morris elementary effects (``mu*``, ``sigma``) for
  screening many factors cheaply (sample and analysis by SALib, the
  ``sensitivity`` install extra);
* :func:`sobol` -- Sobol' first-order and total indices, estimated with
  :func:`scipy.stats.sobol_indices` (Saltelli 2010 first order, Jansen
  total) on replicate means, with intervals from a bootstrap over design
  points *and* replications.

Factors are dotted parameter paths with ``(low, high)`` ranges, as the
levers of :func:`spchain.latin_hypercube`; a factor whose bounds are both
integers takes integer values.  ``groups`` maps a group name to its paths
(e.g. ``"employee links"`` vs ``"customer links"``) and gives one index
per group.

A *model* is any callable ``model(points, n_replications) -> outputs``:
``points`` is a list of :class:`Point` (an ``id`` and a dict of factor
values), ``outputs`` a mapping from each point's ``id`` to an array of
``n_replications`` outputs.  Outputs are matched to points by id, never
by position; a model that drops, adds or misshapes an output raises
:class:`SensitivityError`.  :class:`SimulationModel` runs
:func:`spchain.simulate` with common random numbers: replication ``r``
of every point uses the seed ``SeedSequence(seed, spawn_key=(r,))``, as
:class:`spchain.Experiment` does, on any
:class:`concurrent.futures.Executor`; with ``window=`` it returns the KPI
per window of weeks (week by week with ``window=1``) and the indices come
per window, from the same runs; with ``store=`` every run's output is
committed to an SQLite file (:class:`spchain.experiments.store.SensitivityStore`) as it
finishes, keyed by the model's definition, the point's factor values and
the replication, so an interrupted sweep resumes without re-running a
finished run.  :func:`array_model` wraps a
vectorised test function such as Ishigami's.

>>> import numpy as np
>>> model = array_model(lambda x, r: 2 * x[:, 0] + 0 * x[:, 1])
>>> res = sobol(model, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, n=64, n_replications=1)
>>> np.round(res.first_order, 1).tolist()
[1.0, 0.0]
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from .experiment import replication_seed
from ..params import ParamError, Params, check_integer

__all__ = ["Point", "SensitivityError", "SimulationModel", "array_model", "ReplicationPlan",
           "plan_replications", "MorrisResult", "morris", "SobolResult", "sobol"]


class SensitivityError(ParamError):
    """A factor box, a design or a model's outputs are unusable."""


@dataclass(frozen=True)
class Point:
    """One design point: an ``id`` unique in its design and the factors' values."""

    id: int
    values: Mapping[str, float]


# ----------------------------------------------------------------- factors

def _factors(factors) -> list:
    """``[(path, low, high, integer)]``, validated."""
    if not isinstance(factors, Mapping) or not factors:
        raise SensitivityError(f"factors must be a non-empty mapping of dotted path to (low, high), "
                               f"got {factors!r}")
    out = []
    for path, spec in factors.items():
        if not isinstance(path, str) or not path:
            raise SensitivityError(f"a factor must be a dotted parameter path, got {path!r}")
        try:
            low, high = spec
        except (TypeError, ValueError):
            raise SensitivityError(f"{path}: bounds must be a pair (low, high), got {spec!r}") from None
        for v in (low, high):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v):
                raise SensitivityError(f"{path}: bounds must be finite numbers, got {spec!r}")
        if not low < high:
            raise SensitivityError(f"{path}: low bound must be below the high bound, got ({low!r}, {high!r})")
        integer = isinstance(low, (int, np.integer)) and isinstance(high, (int, np.integer))
        out.append((path, low, high, integer))
    return out


def _groups(groups, factors) -> tuple:
    """``(names, members)``: one group per factor when ``groups`` is None."""
    paths = [f[0] for f in factors]
    if groups is None:
        return paths, [[j] for j in range(len(paths))]
    if not isinstance(groups, Mapping) or not groups:
        raise SensitivityError(f"groups must be a non-empty mapping of name to paths, got {groups!r}")
    seen, members = {}, []
    for name, group_paths in groups.items():
        if isinstance(group_paths, str) or not group_paths:
            raise SensitivityError(f"group {name!r} must list at least one factor path, got {group_paths!r}")
        idx = []
        for p in group_paths:
            if p not in paths:
                raise SensitivityError(f"group {name!r}: {p!r} is not a factor; factors are {paths}")
            if p in seen:
                raise SensitivityError(f"{p!r} is in both group {seen[p]!r} and group {name!r}")
            seen[p] = name
            idx.append(paths.index(p))
        members.append(idx)
    missing = [p for p in paths if p not in seen]
    if missing:
        raise SensitivityError(f"factors {missing} are in no group; every factor needs one")
    return list(groups), members


def _scale(unit: np.ndarray, factors) -> list:
    """Rows of ``unit`` (n, k) in [0, 1) as dicts of factor values."""
    columns = []
    for j, (_, low, high, integer) in enumerate(factors):
        if integer:
            columns.append([int(v) for v in np.minimum(np.floor(low + unit[:, j] * (high - low + 1)), high)])
        else:
            columns.append([float(v) for v in low + unit[:, j] * (high - low)])
    paths = [f[0] for f in factors]
    return [dict(zip(paths, row)) for row in zip(*columns)]


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(check_integer("seed", seed, 0, error=SensitivityError)))


# ------------------------------------------------------------------ models

def _run_point(task: tuple) -> tuple:
    """One replication at one point: the unit of work sent to an executor.

    Returns ``(point id, replication, output, wall seconds, CPU seconds)``;
    the output is the KPI over ``[start, horizon)`` (a float) or over each
    window of ``window`` weeks from ``start`` (an array).
    """
    import time

    from ..engine.run import simulate

    point_id, replication, params, horizon, seed, kpi, start, window = task
    started, cpu = time.perf_counter(), time.process_time()
    result = simulate(Params.from_dict(params), horizon=horizon, seed=seed)
    if window is None:
        value = float(result.total(kpi, start=start))
    else:
        value = np.array([result.total(kpi, start=a, stop=b) for a, b in _windows(start, horizon, window)])
    return point_id, replication, value, time.perf_counter() - started, time.process_time() - cpu


def _windows(start: int, horizon: int, window: int) -> list:
    """``[(first week, end week)]`` of consecutive windows of ``window`` weeks (the last may be shorter)."""
    return [(a, min(a + window, horizon)) for a in range(start, horizon, window)]


@dataclass(frozen=True)
class SimulationModel:
    """The Service-Profit Chain as a model: a KPI over the run, or per window of weeks, at each point.

    Parameters
    ----------
    params : Params
        Base parameters; each point is ``params.override(point.values)``.
    kpi : str
        A key of :data:`spchain.METRICS`, read with ``RunResult.total(kpi, start=..., stop=...)``.
    horizon : int
        Weeks per run.
    start : int
        First week of the KPI's window (a warm-up before it is ignored).
    seed : int
        Root seed; replication ``r`` of every point uses
        ``SeedSequence(seed, spawn_key=(r,))`` (common random numbers).
    executor : concurrent.futures.Executor, optional
        Where runs execute; serial when None.
    window : int, optional
        Weeks per output window.  None (default): one output, the KPI over
        weeks ``start`` to ``horizon - 1``.  An integer ``w``: a vector of
        outputs, the KPI over weeks ``[start, start + w)``, ``[start + w,
        start + 2w)``, ... (the last window may be shorter; see
        :attr:`windows`); ``window=1`` is week by week, ``window=13`` quarter
        by quarter.  :func:`sobol` and :func:`morris` then give indices per
        window, all from the same runs.
    store : str or Path, optional
        An SQLite file (:class:`spchain.experiments.store.SensitivityStore`) that
        receives each replication's output as its run comes back (in the order
        of the runs, as ``Executor.map`` returns them), one
        transaction per run, keyed by the model's definition (base
        parameters, KPI, horizon, start, window, seed, spchain version and
        :data:`spchain.engine.model.SAMPLE_PATH_VERSION`), the point's factor
        values and the replication.  Called again with the same store, the
        model reads back every stored output and simulates only the missing
        ones, so an interrupted sweep resumes where it stopped and gives
        the same numbers; a store of another definition raises
        :class:`spchain.experiments.store.StoreError` naming the differences.

    Attributes
    ----------
    last_call : dict
        After each call: ``n_simulated`` and ``n_reused`` runs,
        ``run_seconds`` and ``run_cpu_seconds`` (summed wall and CPU time
        inside the simulated runs, wherever they ran) and ``wall_seconds``
        (the call's wall time).
    """

    params: Params
    kpi: str = "profit"
    horizon: int = 52
    start: int = 0
    seed: int = 0
    executor: cf.Executor | None = field(default=None, compare=False)
    window: int | None = None
    store: str | os.PathLike | None = field(default=None, compare=False)
    last_call: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    def __post_init__(self):
        from ..metrics import METRICS

        if not isinstance(self.params, Params):
            raise SensitivityError(f"params must be a Params, got {type(self.params).__name__}")
        if self.kpi not in METRICS:
            raise SensitivityError(f"unknown kpi {self.kpi!r}; expected one of {sorted(METRICS)}")
        check_integer("horizon", self.horizon, 1, error=SensitivityError)
        check_integer("seed", self.seed, 0, error=SensitivityError)
        if check_integer("start", self.start, 0, error=SensitivityError) >= self.horizon:
            raise SensitivityError(f"start ({self.start}) must be below the horizon ({self.horizon})")
        if (self.window is not None
                and check_integer("window", self.window, 1, error=SensitivityError) > self.horizon - self.start):
            raise SensitivityError(f"window ({self.window}) must be at most the weeks after start "
                                   f"({self.horizon - self.start})")
        if self.executor is not None and not isinstance(self.executor, cf.Executor):
            raise SensitivityError(f"executor must be a concurrent.futures.Executor, got "
                                   f"{type(self.executor).__name__}")
        if self.store is not None and not isinstance(self.store, (str, os.PathLike)):
            raise SensitivityError(f"store must be a path (str or pathlib.Path) of an SQLite file, "
                                   f"got {self.store!r}")

    @property
    def windows(self) -> list | None:
        """``[(first week, end week)]`` of each output, end exclusive; None for a single output."""
        return None if self.window is None else _windows(self.start, self.horizon, self.window)

    def definition(self) -> dict:
        """Everything that decides an output at given factor values, as JSON-able data (a store's key)."""
        from .. import __version__
        from ..engine.model import SAMPLE_PATH_VERSION

        return {"spchain_version": __version__, "sample_path_version": SAMPLE_PATH_VERSION,
                "params": self.params.to_dict(), "kpi": self.kpi, "horizon": self.horizon,
                "start": self.start, "window": self.window, "seed": self.seed}

    def check(self, factors) -> None:
        """Raise before any run if a path is unknown or a bound is invalid there."""
        for path, low, high, _ in _factors(factors):
            try:
                self.params.get(path)
                self.params.override({path: low})
                self.params.override({path: high})
            except ParamError as exc:
                raise SensitivityError(f"factor {path!r} ({low!r}, {high!r}): {exc}") from None

    def __call__(self, points, n_replications: int) -> dict:
        """Outputs keyed by point id: shape ``(n_replications,)``, or ``(n_replications, windows)``."""
        import time

        started = time.perf_counter()
        width = None if self.window is None else len(self.windows)
        out = {p.id: np.empty((n_replications,) if width is None else (n_replications, width)) for p in points}
        outputs_store, session, digest = self._open_store(len(points), n_replications)
        counts = {"n_simulated": 0, "n_reused": 0, "run_seconds": 0.0, "run_cpu_seconds": 0.0}
        try:
            keys = {} if outputs_store is None else _point_keys(points, digest)
            tasks = self._tasks(points, n_replications, outputs_store, keys, out, counts)
            values = {p.id: p.values for p in points}
            for task, (pid, replication, value, wall, cpu) in self._results(tasks):
                if (pid, replication) != task[:2]:
                    raise SensitivityError(f"executor returned point {pid} replication {replication} "
                                           f"where point {task[0]} replication {task[1]} was expected")
                out[pid][replication] = value
                counts["n_simulated"] += 1
                counts["run_seconds"] += wall
                counts["run_cpu_seconds"] += cpu
                if outputs_store is not None:
                    outputs_store.put(keys[pid], replication, value, design_id=pid, values=values[pid],
                                      wall_seconds=wall, session=session)
        finally:
            self.last_call.clear()
            self.last_call.update(counts, wall_seconds=time.perf_counter() - started)
            if outputs_store is not None:
                outputs_store.end(session, dict(self.last_call))
                outputs_store.close()
        return out

    def _open_store(self, n_points, n_replications) -> tuple:
        """``(store, session, definition hash)``: this call's session in :attr:`store`; ``None`` each without one."""
        from .store import SensitivityStore, definition_hash

        if self.store is None:
            return None, None, None
        definition = self.definition()
        digest = definition_hash(definition)
        outputs_store = SensitivityStore(self.store)
        session = outputs_store.begin({"definition": definition, "definition_hash": digest,
                                       "platform": _platform()}, {"points": n_points,
                                                                  "replications": n_replications})
        return outputs_store, session, digest

    def _tasks(self, points, n_replications, outputs_store, keys, out, counts) -> list:
        """The runs still to do, one task per (point, replication); stored outputs go into ``out``."""
        tasks = []
        for p in points:
            params = None
            for r in range(n_replications):
                stored = None if outputs_store is None else outputs_store.get(keys[p.id], r)
                if stored is not None:
                    out[p.id][r] = stored
                    counts["n_reused"] += 1
                    continue
                if params is None:
                    params = self.params.override(p.values).to_dict()
                tasks.append((p.id, r, params, self.horizon, replication_seed(self.seed, r), self.kpi,
                              self.start, self.window))
        return tasks

    def _results(self, tasks):
        """``(task, result)`` pairs in the tasks' order (``Executor.map``), each as soon as it is next."""
        results = (map if self.executor is None else self.executor.map)(_run_point, tasks)
        return zip(tasks, results, strict=True)


def _point_keys(points, digest) -> dict:
    """Each point's key in a store: what the point *is*, not where it stands in a design.

    :func:`~spchain.experiments.store.point_id` of the model's definition
    hash ``digest`` with the factors' paths, and the point's values.
    """
    from .store import definition_hash, point_id

    keys = {}
    for p in points:
        paths = sorted(p.values)
        keys[p.id] = point_id(definition_hash({"model": digest, "paths": paths}), [p.values[k] for k in paths])
    return keys


def _platform() -> dict:
    import platform

    return {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system()}


def array_model(func: Callable[[np.ndarray, int], np.ndarray]) -> Callable:
    """A model from a vectorised function of the factors, for tests and toy models.

    Parameters
    ----------
    func : callable
        ``func(x, replication) -> y`` with ``x`` of shape ``(n, k)`` (columns
        in the order the factors were given) and ``y`` of shape ``(n,)``.

    Returns
    -------
    callable
        ``model(points, n_replications) -> {id: array}``.
    """
    def model(points, n_replications):
        x = np.array([list(p.values.values()) for p in points], dtype=float)
        y = np.column_stack([np.asarray(func(x, r), dtype=float) for r in range(n_replications)])
        return {p.id: y[i] for i, p in enumerate(points)}
    return model


def _evaluate(model, points, n_replications) -> tuple:
    """``(y, vector)``: outputs ``(len(points), n_replications, n_outputs)``, matched to points by id.

    A model's output per replication is a scalar (``n_outputs`` is 1,
    ``vector`` False) or a vector of ``n_outputs`` values (one per window of
    weeks), the same length at every point.
    """
    outputs = model(points, n_replications)
    ids = [p.id for p in points]
    if not isinstance(outputs, Mapping) or set(outputs) != set(ids) or len(outputs) != len(ids):
        got = sorted(outputs) if isinstance(outputs, Mapping) else type(outputs).__name__
        raise SensitivityError(f"the model must return one output per point id; expected ids "
                               f"{ids[0]}..{ids[-1]} ({len(ids)}), got {got if len(str(got)) < 200 else '...'}")
    arrays = [np.asarray(outputs[i], dtype=float) for i in ids]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or (arrays[0].ndim == 2 and arrays[0].shape[1] == 0):
        raise SensitivityError(f"every point's output must have one shape; got shapes {sorted(shapes)}")
    y = np.array(arrays)
    vector = y.ndim == 3
    if y.ndim == 2:
        y = y[:, :, None]
    if y.ndim != 3 or y.shape[:2] != (len(ids), n_replications) or not np.all(np.isfinite(y)):
        raise SensitivityError(f"each output must be {n_replications} finite numbers, or {n_replications} "
                               f"rows of finite numbers (one per window); got shape {y.shape}")
    return y, vector


def _output_windows(model, y, vector: bool):
    """The ``(first, end)`` weeks of each output of a vector model (its ``windows``, or ``(j, j + 1)``)."""
    if not vector:
        return None
    if getattr(model, "windows", None):
        return [tuple(int(v) for v in w) for w in model.windows]
    return [(j, j + 1) for j in range(y.shape[2])]


def _check_model(model, factors):
    if not callable(model):
        raise SensitivityError(f"model must be callable as model(points, n_replications), got {model!r}")
    check = getattr(model, "check", None)
    if callable(check):
        check(factors)


def _between_noise(y: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Noise variance of replicate means *between* points (what CRN shares is left out).

    ``y`` is ``(points, replications)`` (a float comes back) or ``(points,
    replications, outputs)`` (one variance per output).  One run's noise variance between
    points is ``R / (R - 1)`` times the mean over replications of the
    variance over points of ``y[:, r] - mean_r y``; a mean with
    multiplicities ``weights`` (a bootstrap resample) carries that times
    ``sum(weights**2) / R**2``.
    """
    r = y.shape[1]
    if r < 2:
        return 0.0 if y.ndim == 2 else np.zeros(y.shape[2:])
    deviations = y - y.mean(axis=1, keepdims=True)
    one_run = np.mean(np.var(deviations, axis=0, ddof=1), axis=0) * r / (r - 1)
    weights = np.ones(r) if weights is None else weights
    noise = one_run * float(np.sum(weights ** 2)) / r ** 2
    return float(noise) if y.ndim == 2 else noise


# ---------------------------------------------------------- replication plan

@dataclass(frozen=True)
class ReplicationPlan:
    """The first stage: replication noise at the centre and the replications it calls for.

    Attributes
    ----------
    noise_variance : float
        Variance of one replication's output at the centre of the box.
    design_variance : float
        Variance of the (noise-free) output across the box, from a Latin
        hypercube of points run with two common-random-number replications.
    share : float
        Largest share of ``design_variance`` the noise of a replicate mean may be.
    n_replications : int
        ``ceil(noise_variance / (share * design_variance))``, at least 2, at
        most the cap given.
    n_runs : int
        Model evaluations the plan took.
    """

    noise_variance: float
    design_variance: float
    share: float
    n_replications: int
    n_runs: int

    def summary(self) -> dict:
        """The plan as plain JSON-able data."""
        return dict(self.__dict__)


def plan_replications(model, factors: Mapping, *, share: float = 0.05, n_centre: int = 10,
                      n_spread: int = 8, max_replications: int = 64, seed: int = 0) -> ReplicationPlan:
    """How many replications per design point keep the noise a small share of the variance.

    Runs ``n_centre`` replications at the centre of the box (noise variance
    ``s2``) and ``n_spread`` Latin-hypercube points with two replications
    each (variance across the box ``v``, less its noise); then
    ``n_replications = ceil(s2 / (share * v))``.

    Parameters
    ----------
    model : callable
        ``model(points, n_replications) -> {id: outputs}``.
    factors : mapping of path to (low, high)
    share : float
        In (0, 1); 0.05 lets noise be 5% of the design variance.
    n_centre, n_spread : int
        >= 2 each.
    max_replications : int
        Cap on the answer (>= 2).
    seed : int
        Seed of the spread sample.

    Returns
    -------
    ReplicationPlan
    """
    from scipy.stats import qmc

    box = _factors(factors)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise SensitivityError(f"share must be in (0, 1), got {share!r}")
    n_centre = check_integer("n_centre", n_centre, 2, error=SensitivityError)
    n_spread = check_integer("n_spread", n_spread, 2, error=SensitivityError)
    max_replications = check_integer("max_replications", max_replications, 2, error=SensitivityError)
    rng = _rng(seed)
    _check_model(model, factors)
    centre = _scale(np.full((1, len(box)), 0.5), box)[0]
    # a vector output (per window of weeks) is planned on its mean over the windows
    noise = float(np.var(_evaluate(model, [Point(0, centre)], n_centre)[0].mean(axis=2)[0], ddof=1))
    unit = qmc.LatinHypercube(d=len(box), rng=rng).random(n_spread)
    spread = _evaluate(model, [Point(i, v) for i, v in enumerate(_scale(unit, box))], 2)[0].mean(axis=2)
    design = float(np.var(spread.mean(axis=1), ddof=1)) - _between_noise(spread)
    if design <= 0:
        n = max_replications
    else:
        n = int(min(max(math.ceil(noise / (share * design)), 2), max_replications))
    return ReplicationPlan(noise, max(design, 0.0), float(share), n, n_centre + 2 * n_spread)


def _replications(model, factors, n_replications, seed) -> tuple:
    """``(plan, n)``: replications per point, and the plan that chose them (``None`` for a number given)."""
    if n_replications is None:
        n_replications = plan_replications(model, factors, seed=seed)
    if isinstance(n_replications, ReplicationPlan):
        return n_replications, n_replications.n_replications
    return None, check_integer("n_replications", n_replications, 1, error=SensitivityError)


# ------------------------------------------------------------------- Morris

@dataclass(frozen=True)
class MorrisResult:
    """Morris elementary effects, per factor or group, in output units per factor range.

    Attributes
    ----------
    names : list of str
        Factors, or groups when groups were given.
    mu, mu_star, sigma : ndarray
        Mean, mean absolute value and standard deviation of the elementary
        effects (``sigma`` is NaN for groups, as in SALib); shape
        ``(n_groups,)``, or ``(n_groups, n_windows)`` for a model with one
        output per window of weeks.
    mu_star_conf : ndarray
        Half-width of the bootstrap interval of ``mu_star`` over trajectories.
    n_trajectories, n_replications, n_runs : int
    plan : ReplicationPlan or None
    windows : list of (int, int) or None
        ``(first week, end week)`` of each output window, None for one output.
    """

    names: list
    mu: np.ndarray
    mu_star: np.ndarray
    sigma: np.ndarray
    mu_star_conf: np.ndarray
    n_trajectories: int
    n_replications: int
    n_runs: int
    plan: ReplicationPlan | None = None
    windows: list | None = None

    def _overall(self, values):
        return values if values.ndim == 1 else values.mean(axis=1)

    def ranking(self) -> list:
        """Names from the most to the least influential (by ``mu_star``; its mean over windows if per window)."""
        return [self.names[i] for i in np.argsort(-self._overall(self.mu_star), kind="stable")]

    def summary(self) -> str:
        """A table of the effects, most influential first (per window: ``mu*`` averaged, lowest, highest)."""
        if self.windows is not None:
            rows = [f"{'factor':<40} {'mean mu*':>12} {'lowest':>12} {'highest':>12}   over {len(self.windows)} "
                    f"windows of weeks {self.windows[0][0]}-{self.windows[-1][1] - 1}"]
            for i in np.argsort(-self._overall(self.mu_star), kind="stable"):
                rows.append(f"{self.names[i]:<40} {self.mu_star[i].mean():12.4g} {self.mu_star[i].min():12.4g} "
                            f"{self.mu_star[i].max():12.4g}")
            rows.append(f"{self.n_trajectories} trajectories x {self.n_replications} replications = "
                        f"{self.n_runs} runs")
            return "\n".join(rows)
        rows = [f"{'factor':<40} {'mu*':>12} {'+/-':>10} {'mu':>12} {'sigma':>12}"]
        for i in np.argsort(-self.mu_star, kind="stable"):
            rows.append(f"{self.names[i]:<40} {self.mu_star[i]:12.4g} {self.mu_star_conf[i]:10.3g} "
                        f"{self.mu[i]:12.4g} {self.sigma[i]:12.4g}")
        rows.append(f"{self.n_trajectories} trajectories x {self.n_replications} replications = {self.n_runs} runs")
        return "\n".join(rows)


def morris(model, factors: Mapping, *, n_trajectories: int = 10, num_levels: int = 4,
           n_replications=None, groups: Mapping | None = None, seed: int = 0,
           confidence: float = 0.95) -> MorrisResult:
    """Screen factors with Morris elementary effects on replicate means.

    Trajectories come from :func:`SALib.sample.morris.sample` in the unit
    cube, so effects are in output units per full range of each factor;
    :func:`SALib.analyze.morris.analyze` gives ``mu``, ``mu_star``,
    ``sigma`` and a bootstrap half-width of ``mu_star``.

    Parameters
    ----------
    model : callable
        ``model(points, n_replications) -> {id: outputs}``.
    factors : mapping of path to (low, high)
    n_trajectories : int
        >= 2; runs are ``n_trajectories * (n_groups + 1) * n_replications``.
    num_levels : int
        Even grid levels per factor, >= 2.
    n_replications : int or ReplicationPlan, optional
        Replications per point; None runs :func:`plan_replications` first.
    groups : mapping of name to paths, optional
    seed : int
        Seed of the trajectories and the bootstrap.
    confidence : float
        Level of ``mu_star_conf``, a bootstrap over trajectories of the
        replicate means' effects (replication noise enters only through
        those means).

    Returns
    -------
    MorrisResult
        Effects per factor or group; per factor and window when the model
        gives one output per window of weeks (``SimulationModel(window=...)``),
        each window analysed on the same runs.
    """
    try:
        from SALib.analyze import morris as analyze
        from SALib.sample import morris as sample
    except ImportError:  # pragma: no cover
        raise ImportError("morris needs SALib: pip install 'spchain[sensitivity]'") from None

    box = _factors(factors)
    names, members = _groups(groups, box)
    n_trajectories = check_integer("n_trajectories", n_trajectories, 2, error=SensitivityError)
    if check_integer("num_levels", num_levels, 2, error=SensitivityError) % 2:
        raise SensitivityError(f"num_levels must be even, got {num_levels}")
    if not 0 < confidence < 1:
        raise SensitivityError(f"confidence must be in (0, 1), got {confidence!r}")
    rng = _rng(seed)
    _check_model(model, factors)
    plan, n_rep = _replications(model, factors, n_replications, seed)
    problem = {"num_vars": len(box), "names": [f[0] for f in box], "bounds": [[0.0, 1.0]] * len(box)}
    if groups is not None:
        problem["groups"] = [next(names[g] for g, m in enumerate(members) if j in m) for j in range(len(box))]
    unit = sample.sample(problem, n_trajectories, num_levels=num_levels, seed=rng)
    # the top level is 1.0: map it inside [0, 1) so integer factors reach their high bound
    values = _scale(np.minimum(unit, np.nextafter(1.0, 0.0)), box)
    y, vector = _evaluate(model, [Point(i, v) for i, v in enumerate(values)], n_rep)
    y = y.mean(axis=1)
    columns = [analyze.analyze(problem, unit, y[:, j], num_resamples=1000, conf_level=confidence,
                               num_levels=num_levels, seed=rng) for j in range(y.shape[1])]

    def statistic(key):  # one column per output, or the single output's values
        stack = np.column_stack([np.ma.filled(res[key], np.nan) for res in columns]).astype(float)
        return stack if vector else stack[:, 0]

    return MorrisResult(list(columns[0]["names"]), statistic("mu"), statistic("mu_star"), statistic("sigma"),
                        statistic("mu_star_conf"), n_trajectories, n_rep,
                        len(values) * n_rep + (plan.n_runs if plan else 0), plan,
                        _output_windows(model, y[:, None], vector))


# -------------------------------------------------------------------- Sobol

@dataclass(frozen=True)
class SobolResult:
    """Sobol' indices of a stochastic model, per factor or group (and per window of weeks).

    Attributes
    ----------
    names : list of str
        Factors, or groups when groups were given.
    first_order, total_order : ndarray
        Point estimates on replicate means, corrected for their noise; shape
        ``(n_groups,)``, or ``(n_groups, n_windows)`` for a model with one
        output per window of weeks.
    first_order_bootstrap, total_order_bootstrap : ndarray
        ``(n_bootstrap, n_groups)`` (or ``(n_bootstrap, n_groups,
        n_windows)``) estimates from resampling design rows and replications
        together; :meth:`conf_int` reads intervals from them.
    output_variance : float or ndarray
        Variance of the output across the box (noise removed); one per window.
    noise_variance : float or ndarray
        Variance of the replicate means' noise between points; one per window.
    n, n_replications, n_runs : int
        Base sample size, replications per point, model evaluations
        (``n * (n_groups + 2) * n_replications``, plus the plan's).
    plan : ReplicationPlan or None
    windows : list of (int, int) or None
        ``(first week, end week)`` of each output window (end exclusive);
        None for one output.
    """

    names: list
    first_order: np.ndarray
    total_order: np.ndarray
    first_order_bootstrap: np.ndarray
    total_order_bootstrap: np.ndarray
    output_variance: float | np.ndarray
    noise_variance: float | np.ndarray
    n: int
    n_replications: int
    n_runs: int
    plan: ReplicationPlan | None = None
    windows: list | None = None

    def conf_int(self, alpha: float = 0.05) -> dict:
        """Percentile bootstrap intervals.

        Returns ``{"first_order": ..., "total_order": ...}``, each of shape
        ``(n_groups, 2)`` (lower, upper), or ``(n_groups, n_windows, 2)``.
        """
        if not 0 < alpha < 1:
            raise SensitivityError(f"alpha must be in (0, 1), got {alpha!r}")
        q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
        return {"first_order": np.moveaxis(np.percentile(self.first_order_bootstrap, q, axis=0), 0, -1),
                "total_order": np.moveaxis(np.percentile(self.total_order_bootstrap, q, axis=0), 0, -1)}

    def window(self, j: int) -> "SobolResult":
        """The indices of output window ``j`` alone (an ordinary one-output result).

        Parameters
        ----------
        j : int
            Index into :attr:`windows` (negative counts from the end).

        Returns
        -------
        SobolResult
        """
        if self.windows is None:
            raise SensitivityError("this result has one output, not one per window; window() needs a model "
                                   "with window= set")
        if isinstance(j, bool) or not isinstance(j, (int, np.integer)) or not -len(self.windows) <= j < len(
                self.windows):
            raise SensitivityError(f"window index must be an integer in [{-len(self.windows)}, "
                                   f"{len(self.windows)}), got {j!r}")
        return SobolResult(self.names, self.first_order[:, j], self.total_order[:, j],
                           self.first_order_bootstrap[:, :, j], self.total_order_bootstrap[:, :, j],
                           float(self.output_variance[j]), float(self.noise_variance[j]), self.n,
                           self.n_replications, self.n_runs, self.plan)

    def summary(self, alpha: float = 0.05) -> str:
        """A table of the indices and their intervals (per window: mean, lowest and highest over windows)."""
        if self.windows is not None:
            rows = [f"{'factor':<40} {'S1 mean':>8} {'lowest':>7} {'highest':>7} {'ST mean':>8} {'lowest':>7} "
                    f"{'highest':>7}   over {len(self.windows)} windows of weeks "
                    f"{self.windows[0][0]}-{self.windows[-1][1] - 1}"]
            for i, name in enumerate(self.names):
                s1, st = self.first_order[i], self.total_order[i]
                rows.append(f"{name:<40} {s1.mean():8.3f} {s1.min():7.3f} {s1.max():7.3f} {st.mean():8.3f} "
                            f"{st.min():7.3f} {st.max():7.3f}")
            rows.append(f"n = {self.n}, {self.n_replications} replications, {self.n_runs} runs; "
                        f"window(j).summary() gives one window's intervals")
            return "\n".join(rows)
        ci = self.conf_int(alpha)
        level = f"{100 * (1 - alpha):g}%"
        rows = [f"{'factor':<40} {'S1':>7} {level + ' interval':>18} {'ST':>7} {level + ' interval':>18}"]
        for i, name in enumerate(self.names):
            (a, b), (c, d) = ci["first_order"][i], ci["total_order"][i]
            rows.append(f"{name:<40} {self.first_order[i]:7.3f} [{a:7.3f}, {b:7.3f}] "
                        f"{self.total_order[i]:7.3f} [{c:7.3f}, {d:7.3f}]")
        rows.append(f"n = {self.n}, {self.n_replications} replications, {self.n_runs} runs; noise is "
                    f"{self.noise_variance / max(self.output_variance, 1e-300):.1%} of the output variance")
        return "\n".join(rows)


def _indices(f_a, f_b, f_ab, noise):
    """scipy's Saltelli/Jansen indices, then the noise of the means taken out of the variances.

    ``f_a``, ``f_b``: ``(outputs, n)``; ``f_ab``: ``(groups, outputs, n)``;
    ``noise``: ``(outputs,)``.  Returns ``(S1, ST, signal)`` of shapes
    ``(groups, outputs)``, ``(groups, outputs)``, ``(outputs,)``; an output
    whose variance is all noise gets zero indices.
    """
    from scipy.stats import sobol_indices

    g, m, n = f_ab.shape
    var = np.var(np.concatenate([f_a, f_b], axis=1), axis=1)
    signal = var - noise
    ok = signal > 0
    if not ok.any():
        return np.zeros((g, m)), np.zeros((g, m)), np.zeros(m)
    with np.errstate(divide="ignore", invalid="ignore"):
        res = sobol_indices(func={"f_A": f_a[ok], "f_B": f_b[ok], "f_AB": f_ab[:, ok]}, n=n)
    first, total = np.zeros((g, m)), np.zeros((g, m))
    k = int(ok.sum())
    first[:, ok] = np.reshape(res.first_order, (k, g)).T * var[ok] / signal[ok]
    total[:, ok] = (np.reshape(res.total_order, (k, g)).T * var[ok] - noise[ok]) / signal[ok]
    return first, total, np.where(ok, signal, 0.0)


def sobol(model, factors: Mapping, *, n: int = 256, n_replications=None, groups: Mapping | None = None,
          seed: int = 0, n_bootstrap: int = 200) -> SobolResult:
    """Sobol' first-order and total indices of a stochastic model.

    Matrices ``A`` and ``B`` are the two halves of a scrambled Sobol'
    sequence (as :func:`scipy.stats.sobol_indices` draws them); ``AB_g`` is
    ``A`` with group ``g``'s columns from ``B``.  Every point is run
    ``n_replications`` times; :func:`scipy.stats.sobol_indices` estimates
    the indices on the replicate means, then the variance of the means'
    noise between points ``t`` (from the replicates' spread, which common
    random numbers shrink) is taken out: ``S = V_i / (V - t)`` and
    ``ST = (J_i - t) / (V - t)``, with ``J_i`` Jansen's estimate.  The
    bootstrap resamples design rows and replications together (the same
    replications at every point, keeping common random numbers), and takes
    out the noise of each resampled mean, which repeated replications
    raise.

    Parameters
    ----------
    model : callable
        ``model(points, n_replications) -> {id: outputs}``.
    factors : mapping of path to (low, high)
    n : int
        Base sample size, a power of 2 (>= 8).
    n_replications : int or ReplicationPlan, optional
        Replications per point; None runs :func:`plan_replications` first.
        With one replication the noise cannot be measured and stays in the
        indices and intervals (right for a deterministic model).
    groups : mapping of name to paths, optional
    seed : int
        Seed of the sample and the bootstrap.
    n_bootstrap : int
        Bootstrap resamples (>= 20).

    Returns
    -------
    SobolResult
        Indices per factor or group; per factor and window when the model
        gives one output per window of weeks (``SimulationModel(window=1)``
        week by week, ``window=13`` by quarter): scipy's estimators take the
        windows as a vector output, and every window's noise is measured
        and taken out on its own, all from the same runs.
    """
    box = _factors(factors)
    names, members = _groups(groups, box)
    n = check_integer("n", n, 8, error=SensitivityError)
    if n & (n - 1):
        raise SensitivityError(f"n must be a power of 2 (Sobol' sequence balance), got {n}")
    n_bootstrap = check_integer("n_bootstrap", n_bootstrap, 20, error=SensitivityError)
    rng = _rng(seed)
    _check_model(model, factors)
    plan, n_rep = _replications(model, factors, n_replications, seed)

    unit = _saltelli_design(n, len(box), members, rng)
    points = [Point(i, v) for i, v in enumerate(_scale(unit, box))]
    y, vector = _evaluate(model, points, n_rep)
    n_outputs = y.shape[2]
    y = y.reshape(len(members) + 2, n, n_rep, n_outputs)
    s1, st, signal = _sobol_indices(y, np.ones(n_rep))
    boot_s1, boot_st = _bootstrap(y, n_bootstrap, rng)
    noise = _between_noise(y.reshape(-1, n_rep, n_outputs))
    if not vector:
        s1, st, boot_s1, boot_st = s1[:, 0], st[:, 0], boot_s1[:, :, 0], boot_st[:, :, 0]
        signal, noise = float(signal[0]), float(noise[0])
    return SobolResult(names, s1, st, boot_s1, boot_st, signal, noise, n, n_rep,
                       len(points) * n_rep + (plan.n_runs if plan else 0), plan,
                       _output_windows(model, y.reshape(-1, n_rep, n_outputs), vector))


def _saltelli_design(n, n_factors, members, rng) -> np.ndarray:
    """Points in the unit box: ``A``, ``B`` and, per group, ``A`` with the group's columns from ``B``.

    ``A`` and ``B`` are the two halves of ``n`` points of a scrambled Sobol'
    sequence in ``2 * n_factors`` dimensions; the result stacks the
    ``len(members) + 2`` pages of ``n`` rows each.
    """
    from scipy.stats import qmc

    base = qmc.Sobol(d=2 * n_factors, scramble=True, rng=rng).random_base2(int(math.log2(n)))
    a, b = base[:, :n_factors], base[:, n_factors:]
    pages = [a, b]
    for columns in members:
        a_with_b = a.copy()
        a_with_b[:, columns] = b[:, columns]
        pages.append(a_with_b)
    return np.concatenate(pages)


def _sobol_indices(y, weights) -> tuple:
    """First-order and total indices and the signal, from outputs ``y`` of shape ``(pages, n, replications, outputs)``.

    ``weights`` weigh the replications (all ones, or a bootstrap's counts).
    """
    n_rep, n_outputs = y.shape[2], y.shape[3]
    means = np.moveaxis(y, 2, -1) @ (weights / n_rep)  # (pages, n, outputs)
    noise = _between_noise(y.reshape(-1, n_rep, n_outputs), weights)
    return _indices(means[0].T, means[1].T, np.moveaxis(means[2:], 1, 2), noise)


def _bootstrap(y, n_bootstrap, rng) -> tuple:
    """Bootstrap replicates of the first-order and total indices: design rows and replications resampled."""
    n_groups, n, n_rep, n_outputs = y.shape[0] - 2, y.shape[1], y.shape[2], y.shape[3]
    boot_s1, boot_st = np.empty((n_bootstrap, n_groups, n_outputs)), np.empty((n_bootstrap, n_groups, n_outputs))
    for i in range(n_bootstrap):
        rows = rng.integers(0, n, n)
        weights = np.bincount(rng.integers(0, n_rep, n_rep), minlength=n_rep).astype(float)
        boot_s1[i], boot_st[i], _ = _sobol_indices(y[:, rows], weights)
    return boot_s1, boot_st

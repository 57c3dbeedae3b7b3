"""Ranking and selection: choose the best scenario with a stated probability of being right.

Three procedures, each a function of a *sampler* -- a callable
``sample(scenario_index, replication) -> float`` -- so that they can be
checked on synthetic data with known answers, and run on the simulator by
:func:`select_best`:

* ``"rinott"`` -- Rinott's (1978) two-stage procedure: ``n0`` replications
  of every scenario, then ``N_i = max(n0, ceil((h S_i / delta)^2))`` in all,
  where ``h`` solves Rinott's integral equation (:func:`rinott_h`).
* ``"kn++"`` -- Kim & Nelson's fully sequential procedure KN (2001) on
  paired differences, which exploit common random numbers, with the
  variance updating of KN++ (Kim & Nelson 2006); ``"kn"`` keeps the
  first-stage variances.  A scenario leaves as soon as it is clearly
  beaten, so fewer replications are spent than by Rinott's procedure.
* ``"ocba"`` -- Optimal Computing Budget Allocation (Chen et al. 2000) for a
  fixed number of runs (:func:`ocba_allocation`): no guarantee, but the
  runs go where they most raise the chance of a correct selection.

**The guarantee** (``"rinott"``, ``"kn"``, ``"kn++"``).  If the best
scenario's mean is at least ``delta`` better than every other's, it is
chosen with probability at least ``1 - alpha``; if several are within
``delta`` of the best, the one chosen is, with the same probability, one of
them.  It assumes replication outputs that are normal (run totals usually
are, nearly) and, for Rinott's procedure, rests on the independence
assumption of its derivation; KN and KN++ are built for common random
numbers (Bonferroni over pairs).  KN is exact for normal outputs; KN++'s
variance updating makes it valid as ``delta`` shrinks (asymptotically) and,
in the tests here, no less accurate in practice.

**Seeds.**  :func:`select_best` runs replication ``i`` of every scenario
with :func:`spchain.experiments.experiment.replication_seed` ``(seed, i)``, the seed an
:class:`~spchain.experiments.experiment.Experiment` with the same ``seed`` gives it, so
a selection's numbers equal that experiment's ``totals``.

References: Rinott, "On two-stage selection procedures and related
probability-inequalities", *Comm. Statist. A* 7 (1978); Bechhofer, Santner
& Goldsman, *Design and Analysis of Experiments for Statistical Selection,
Screening, and Multiple Comparisons* (1995); Kim & Nelson, "A fully
sequential procedure for indifference-zone selection in simulation", *ACM
TOMACS* 11 (2001); Kim & Nelson, "On the asymptotic validity of fully
sequential selection procedures for steady-state simulation", *Oper. Res.*
54 (2006); Chen, Lin, Yücesan & Chick, "Simulation budget allocation for
further enhancing the efficiency of ordinal optimization", *DEDS* 10
(2000); Chen & Lee, *Stochastic Simulation Optimization* (2011).

Examples
--------
>>> import numpy as np
>>> means = [0.0, 0.0, 1.0]                      # scenario 2 is best by delta = 1
>>> rng = np.random.default_rng(1)
>>> data = rng.normal(means, 1.0, size=(500, 3))  # replication x scenario
>>> chosen = select(lambda i, r: data[r, i], 3, delta=1.0, alpha=0.05, procedure="kn++")
>>> chosen.best
'2'
"""

from __future__ import annotations

import concurrent.futures as cf
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import optimize, special, stats

from ..params import ParamError, check_integer

__all__ = ["Selection", "select", "select_best", "rinott_h", "kn_eta", "ocba_allocation"]

PROCEDURES = ("rinott", "kn", "kn++", "ocba")
DIRECTIONS = ("max", "min")


# ------------------------------------------------------------------ constants
def _chi2_nodes(df: int, n: int = 64):
    """Nodes and weights of ``E f(X)``, ``X ~ chi-square(df)`` (generalised Gauss-Laguerre)."""
    x, w = special.roots_genlaguerre(n, df / 2.0 - 1.0)
    return 2.0 * x, w / special.gamma(df / 2.0)


def rinott_pcs(h: float, k: int, n0: int) -> float:
    """Rinott's lower bound on the probability of correct selection for constant ``h``.

    ``E_Y[ (E_X Phi(h / sqrt((n0 - 1)(1/X + 1/Y))))^(k-1) ]`` with ``X, Y``
    independent chi-square(``n0 - 1``) (Bechhofer, Santner & Goldsman 1995,
    p. 61), by 64-point Gauss-Laguerre quadrature in each variable.
    """
    nu = n0 - 1
    x, w = _chi2_nodes(nu)
    inner = stats.norm.cdf(h / np.sqrt(nu * (1.0 / x[None, :] + 1.0 / x[:, None]))) @ w
    return float(w @ inner ** (k - 1))


def rinott_h(k: int, n0: int, confidence: float) -> float:
    """Rinott's constant ``h`` for ``k`` scenarios and ``n0`` first-stage replications.

    Solves ``rinott_pcs(h, k, n0) = confidence`` numerically (no table);
    agrees with the published tables to their three decimals, e.g.
    ``rinott_h(2, 20, 0.95) = 2.452`` (Law 2015, Table 10.11: 2.453) and
    ``rinott_h(10, 51, 0.975) = 4.045`` (Bechhofer, Santner & Goldsman 1995).

    Parameters
    ----------
    k : int
        Number of scenarios, >= 2.
    n0 : int
        First-stage replications per scenario, >= 2.
    confidence : float
        ``1 - alpha``, in ``(1/k, 1)``.

    >>> round(rinott_h(2, 20, 0.90), 3)
    1.896
    """
    k, n0 = check_integer("k", k, 2), check_integer("n0", n0, 2)
    if not 1.0 / k < confidence < 1.0:
        raise ValueError(f"confidence must be in (1/k, 1) = ({1 / k:.3g}, 1), got {confidence!r}")
    return float(optimize.brentq(lambda h: rinott_pcs(h, k, n0) - confidence, 0.0, 100.0, xtol=1e-10))


def kn_eta(k: int, n0: int, alpha: float) -> float:
    """KN's constant ``eta = ((2 alpha / (k - 1))^(-2 / (n0 - 1)) - 1) / 2`` (Kim & Nelson 2001).

    The continuation region's half-width at ``r`` replications is
    ``max(0, delta / (2 r) * (h^2 S^2 / delta^2 - r))`` with
    ``h^2 = 2 eta (n0 - 1)``; KN++ re-solves it with ``n0`` the replications so far.
    """
    return 0.5 * ((2.0 * alpha / (k - 1)) ** (-2.0 / (n0 - 1)) - 1.0)


def ocba_allocation(means, variances, budget: int, *, direction: str = "max") -> np.ndarray:
    """OCBA's allocation of ``budget`` runs over scenarios (Chen et al. 2000).

    With ``b`` the best sample mean and ``d_i = |mean_b - mean_i|``,
    ``N_i / N_j = (s_i / d_i)^2 / (s_j / d_j)^2`` for ``i, j != b`` and
    ``N_b = s_b sqrt(sum_{i != b} N_i^2 / s_i^2)``; the shares are scaled to
    ``budget`` and rounded by largest remainder, so they add up to it.

    Parameters
    ----------
    means, variances : array_like
        Sample means and variances (variances > 0), one per scenario.
    budget : int
        Total runs to share out (>= 0).
    direction : {"max", "min"}
        Whether the best mean is the largest or the smallest.

    Returns
    -------
    ndarray of int
        Runs per scenario, summing to ``budget``.

    Examples
    --------
    Chen & Lee (2011, p. 49), five designs to minimise:

    >>> ocba_allocation([1, 2, 3, 4, 5], [1, 1, 9, 9, 4], 50, direction="min").tolist()
    [11, 9, 19, 9, 2]
    """
    means, variances = np.asarray(means, float), np.asarray(variances, float)
    if means.ndim != 1 or means.shape != variances.shape or len(means) < 2:
        raise ValueError(f"means and variances must be 1-d of equal length >= 2, got shapes "
                         f"{means.shape} and {variances.shape}")
    if not np.all(variances > 0):
        raise ValueError(f"variances must be > 0, got {variances.tolist()}")
    budget = check_integer("budget", budget, 0)
    _direction(direction)
    signed = means if direction == "max" else -means
    b = int(np.argmax(signed))
    gap = signed[b] - signed
    others = np.arange(len(means)) != b
    gap[others] = np.maximum(gap[others], 1e-12 * max(1.0, np.abs(means).max()))  # ties: a huge share
    share = np.zeros(len(means))
    share[others] = variances[others] / gap[others] ** 2
    share[b] = math.sqrt(variances[b] * np.sum(share[others] ** 2 / variances[others]))
    return _round_to_total(budget * share / share.sum(), budget)


def _round_to_total(target, total):
    """Non-negative integers adding up to ``total``, nearest ``target`` by largest remainder."""
    out = np.floor(target).astype(int)
    rest = total - out.sum()
    if rest > 0:
        out[np.argsort(-(target - out), kind="stable")[:rest]] += 1
    return out


# ------------------------------------------------------------------ results
@dataclass(frozen=True, eq=False)
class Selection:
    """What a selection procedure chose, on what evidence, with what guarantee.

    Attributes
    ----------
    best : str
        Name of the chosen scenario.
    procedure : str
        ``"rinott"``, ``"kn"``, ``"kn++"`` or ``"ocba"``.
    names : tuple of str
        Scenario names, in the order given.
    means : ndarray
        Sample mean of the KPI per scenario over its replications.
    n_replications : ndarray of int
        Replications run per scenario.
    eliminated : dict of str to int
        Scenarios that left before the end (KN, KN++), each with the number
        of replications it had when it left (the stage it left at).
    delta : float
        Indifference zone: differences smaller than this do not matter.
    alpha : float
        ``1 - confidence``.
    direction : str
        ``"max"`` or ``"min"``.
    kpi : str
        What was compared (a KPI name, or ``"output"`` for a bare sampler).
    constant : float
        Rinott's ``h``, or KN's first-stage ``h^2``; NaN for OCBA.
    pgs : float
        OCBA only: an approximate (Bonferroni, normal) probability that the
        chosen scenario is within ``delta`` of the best; NaN otherwise.
    seed : int or None
        Root seed of the runs (:func:`select_best`).
    samples : tuple of ndarray
        Every output, per scenario, in replication order (replication
        ``r`` of every scenario shares its random numbers).
    """

    best: str
    procedure: str
    names: tuple
    means: np.ndarray
    n_replications: np.ndarray
    eliminated: dict
    delta: float
    alpha: float
    direction: str
    kpi: str = "output"
    constant: float = math.nan
    pgs: float = math.nan
    seed: int | None = None
    samples: tuple = field(default=(), repr=False)

    @property
    def confidence(self) -> float:
        """``1 - alpha``."""
        return 1.0 - self.alpha

    @property
    def n_runs(self) -> int:
        """Runs spent in all."""
        return int(self.n_replications.sum())

    @property
    def guarantee(self) -> str:
        """The guarantee, or its absence, in words a client can read."""
        what = "mean" if self.kpi == "output" else f"mean {self.kpi.replace('_', ' ')}"
        better = "higher" if self.direction == "max" else "lower"
        if self.procedure == "ocba":
            return (f"OCBA spent a fixed budget of {self.n_runs:,} runs where they most raise the chance "
                    f"of a correct choice; it gives no guarantee.  Its own estimate (normal outputs, "
                    f"Bonferroni) of the probability that {self.best!r} has a {what} within "
                    f"{_short_number(self.delta)} of the best plan's is {self.pgs:.0%}.")
        return (f"With {self.confidence:.0%} confidence the chosen plan, {self.best!r}, has a {what} "
                f"within {_short_number(self.delta)} of the best plan's ({better} is better); if one plan is "
                f"better than all others by at least {_short_number(self.delta)}, it is the one chosen with at "
                f"least that probability.  This assumes nearly normal replication totals.")

    def summary(self) -> str:
        """A plain-text table: mean and replications per scenario, who left when, the guarantee."""
        width = max(len(n) for n in self.names)
        lines = [f"Selection of the best scenario by {self.kpi} ({self.direction}), "
                 f"procedure {self.procedure}, delta {_short_number(self.delta)}, "
                 f"confidence {self.confidence:.0%}", ""]
        for i, name in enumerate(self.names):
            note = ("chosen" if name == self.best else
                    f"eliminated after {self.eliminated[name]} replications" if name in self.eliminated else "")
            lines.append(f"  {name:<{width}}  mean {self.means[i]:>14,.6g}  "
                         f"replications {int(self.n_replications[i]):>5}  {note}")
        lines += ["", self.guarantee]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-able data: the choice, means, replications, eliminations and guarantee."""
        return {"best": self.best, "procedure": self.procedure, "kpi": self.kpi,
                "direction": self.direction, "delta": self.delta, "alpha": self.alpha,
                "names": list(self.names), "means": [float(m) for m in self.means],
                "n_replications": [int(n) for n in self.n_replications],
                "eliminated": dict(self.eliminated), "constant": self.constant,
                "pgs": None if math.isnan(self.pgs) else self.pgs, "seed": self.seed,
                "guarantee": self.guarantee}


def _short_number(x) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.4g}"


# --------------------------------------------------------------- validation
def _direction(direction):
    if direction not in DIRECTIONS:
        raise ParamError(f"direction must be 'max' or 'min', got {direction!r}")


def _check_settings(k, *, delta, alpha, direction, procedure, n0, budget, batch, executor):
    if procedure not in PROCEDURES:
        raise ParamError(f"procedure must be one of {PROCEDURES}, got {procedure!r}")
    if k < 2:
        raise ParamError(f"selection needs at least 2 scenarios, got {k}")
    if isinstance(delta, bool) or not isinstance(delta, (int, float, np.floating)) or not delta > 0 \
            or not math.isfinite(delta):
        raise ParamError(f"delta (the indifference zone) must be a number > 0, got {delta!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0 < alpha < 1:
        raise ParamError(f"alpha must be in (0, 1), got {alpha!r}")
    if procedure != "ocba" and not alpha < 1 - 1 / k:
        raise ParamError(f"alpha must be < 1 - 1/k = {1 - 1 / k:.3g} for {k} scenarios (otherwise "
                         f"a guess would do), got {alpha!r}")
    _direction(direction)
    check_integer("n0", n0, 2)
    check_integer("batch", batch, 1)
    if procedure == "ocba":
        if budget is None:
            raise ParamError("procedure 'ocba' needs a budget (total runs)")
        check_integer("budget", budget, n0 * k)
    elif budget is not None:
        raise ParamError(f"budget is for procedure 'ocba' only; {procedure!r} decides its own replications")
    if executor is not None and not isinstance(executor, cf.Executor):
        raise ParamError(f"executor must be a concurrent.futures.Executor, got {type(executor).__name__}")


# ------------------------------------------------------------- procedures
class _Observations:
    """Observations per scenario (sign-adjusted so larger is better), run in batches."""

    def __init__(self, sample, k, sign, executor):
        self.sample, self.sign, self.executor = sample, sign, executor
        self.x = [[] for _ in range(k)]

    def n(self, i):
        return len(self.x[i])

    def extend(self, counts):
        """Run ``counts[i]`` more replications of each scenario ``i`` as one batch."""
        pairs = [(i, self.n(i) + j) for i, c in enumerate(counts) for j in range(int(c))]
        if self.executor is None:
            values = [self.sample(i, r) for i, r in pairs]
        else:
            futures = [self.executor.submit(self.sample, i, r) for i, r in pairs]
            values = [f.result() for f in futures]
        for (i, r), v in zip(pairs, values):
            v = float(v)
            if not math.isfinite(v):
                raise ValueError(f"sample({i}, {r}) returned {v!r}; every output must be finite")
            self.x[i].append(self.sign * v)

    def array(self, i, n=None):
        return np.asarray(self.x[i][:n], float)


def _rinott(data, k, *, delta, alpha, n0, **_):
    data.extend([n0] * k)
    h = rinott_h(k, n0, 1.0 - alpha)
    s = np.array([data.array(i).std(ddof=1) for i in range(k)])
    total = np.maximum(n0, np.ceil((h * s / delta) ** 2 - 1e-9)).astype(int)
    data.extend(total - n0)
    return {}, h


def _kn(data, k, *, delta, alpha, n0, batch, update, **_):
    data.extend([n0] * k)
    eta = kn_eta(k, n0, alpha)
    h2_first = 2.0 * eta * (n0 - 1)
    x = np.stack([data.array(i) for i in range(k)])
    diff_var = lambda n: np.var(x[:, None, :n] - x[None, :, :n], axis=-1, ddof=1)  # noqa: E731
    s2 = diff_var(n0)
    alive, eliminated, r = list(range(k)), {}, n0
    while True:
        if update and r > n0:
            s2 = diff_var(r)
        h2 = h2_first if not update else 2.0 * kn_eta(k, r, alpha) * (r - 1)
        mean = x[:, :r].mean(axis=1)
        w = np.maximum(0.0, delta / (2.0 * r) * (h2 * s2 / delta ** 2 - r))
        out = [i for i in alive if any(mean[i] < mean[l] - w[i, l] for l in alive if l != i)]
        for i in out:
            eliminated[i] = r
        alive = [i for i in alive if i not in out]
        if len(alive) > 1 and all(w[i, l] == 0 for i in alive for l in alive if l != i):
            top = max(alive, key=lambda i: (mean[i], -i))  # past every pair's last stage: pick the best
            eliminated.update({i: r for i in alive if i != top})
            alive = [top]
        if len(alive) == 1:
            return eliminated, h2_first
        r += 1
        if r > x.shape[1]:
            data.extend([batch if i in alive else 0 for i in range(k)])
            grown = np.full((k, x.shape[1] + batch), np.nan)
            grown[:, :x.shape[1]] = x
            for i in alive:
                grown[i] = data.array(i)[: x.shape[1] + batch]
            x = grown


def _ocba(data, k, *, n0, budget, batch, **_):
    data.extend([n0] * k)
    spent = n0 * k
    while spent < budget:
        step = min(batch, budget - spent)
        means = np.array([data.array(i).mean() for i in range(k)])
        variances = np.array([max(data.array(i).var(ddof=1), 1e-12) for i in range(k)])
        counts = np.array([data.n(i) for i in range(k)])
        target = ocba_allocation(means, variances, spent + step)
        deficit = np.maximum(target - counts, 0).astype(float)
        if deficit.sum() == 0:
            deficit[int(np.argmax(means))] = 1.0
        add = _round_to_total(step * deficit / deficit.sum(), step)
        data.extend(add)
        spent += step
    return {}, math.nan


def _pgs(data, k, best, delta):
    """Bonferroni, normal approximation of P(the chosen mean is within delta of the best)."""
    miss = 0.0
    for i in range(k):
        if i == best:
            continue
        a, b = data.array(best), data.array(i)
        se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        gap = a.mean() - b.mean() + delta
        miss += stats.norm.cdf(-gap / se) if se > 0 else float(gap <= 0)
    return max(0.0, 1.0 - miss)


def select(sample: Callable[[int, int], float], scenarios, *, delta: float, alpha: float = 0.05,
           direction: str = "max", procedure: str = "kn++", n0: int = 10, budget: int | None = None,
           batch: int | None = None, executor: cf.Executor | None = None, kpi: str = "output",
           seed: int | None = None) -> Selection:
    """Choose the best of ``scenarios`` from outputs drawn by ``sample``.

    Parameters
    ----------
    sample : callable
        ``sample(scenario_index, replication) -> float``: the output of one
        replication.  Replication ``r`` of every scenario should share its
        random numbers (common random numbers), as :func:`select_best`'s do.
        Must be picklable to run on a process pool.
    scenarios : int or sequence of str
        How many scenarios, or their names (default names ``"0"``, ``"1"``, ...).
    delta : float
        Indifference zone, > 0, in the output's unit: the smallest
        difference worth detecting.
    alpha : float
        One minus the confidence, in ``(0, 1 - 1/k)``.
    direction : {"max", "min"}
        Whether larger or smaller outputs are better.
    procedure : {"kn++", "kn", "rinott", "ocba"}
        See the module docstring.
    n0 : int
        First-stage replications per scenario, >= 2 (10 to 20 is usual).
    budget : int, optional
        ``"ocba"`` only, and required there: total runs, >= ``n0 * k``.
    batch : int, optional
        Runs per scenario added at a time by KN/KN++ (default 1) and runs
        per OCBA round (default ``k``).  KN/KN++ still screen after every
        replication, so the choice does not depend on ``batch``; scenarios
        eliminated inside a batch keep the runs already made.
    executor : concurrent.futures.Executor, optional
        Where a stage's runs go, all submitted together; default serial.
    kpi : str
        Label of the output for the result's text.
    seed : int, optional
        Recorded on the result.

    Returns
    -------
    Selection

    Raises
    ------
    ParamError
        Before any run, for a bad ``delta``, ``alpha``, ``direction``,
        ``procedure``, ``n0``, ``budget``, ``batch`` or ``executor``, or
        fewer than 2 scenarios.
    """
    if isinstance(scenarios, (int, np.integer)) and not isinstance(scenarios, bool):
        names = tuple(str(i) for i in range(int(scenarios)))
    else:
        names = tuple(str(s) for s in scenarios)
        if len(set(names)) != len(names):
            raise ParamError(f"scenario names must be unique, got {list(names)}")
    k = len(names)
    if batch is None:
        batch = k if procedure == "ocba" else 1
    _check_settings(k, delta=delta, alpha=alpha, direction=direction, procedure=procedure, n0=n0,
           budget=budget, batch=batch, executor=executor)
    if not callable(sample):
        raise ParamError(f"sample must be a callable sample(scenario_index, replication) -> float, got {sample!r}")
    sign = 1.0 if direction == "max" else -1.0
    data = _Observations(sample, k, sign, executor)
    run = {"rinott": _rinott, "kn": _kn, "kn++": _kn, "ocba": _ocba}[procedure]
    eliminated, constant = run(data, k, delta=float(delta), alpha=float(alpha), n0=int(n0),
                               batch=int(batch), budget=budget, update=procedure == "kn++")
    means = np.array([data.array(i).mean() for i in range(k)])
    alive = [i for i in range(k) if i not in eliminated]
    best = max(alive, key=lambda i: (means[i], -i))
    pgs = _pgs(data, k, best, float(delta)) if procedure == "ocba" else math.nan
    counts = np.array([data.n(i) for i in range(k)])
    means.flags.writeable = counts.flags.writeable = False
    return Selection(best=names[best], procedure=procedure, names=names, means=sign * means,
                     n_replications=counts, eliminated={names[i]: r for i, r in sorted(eliminated.items())},
                     delta=float(delta), alpha=float(alpha), direction=direction, kpi=kpi,
                     constant=float(constant), pgs=pgs, seed=seed,
                     samples=tuple(sign * data.array(i) for i in range(k)))


# ------------------------------------------------------------ the simulator
class _SimulationSampler:
    """``sample(i, r)``: the KPI total of replication ``r`` of scenario ``i`` (picklable)."""

    def __init__(self, experiment, kpi):
        self.params = [experiment.params[n].to_dict() for n in experiment.names]
        self.horizon, self.warmup, self.seed, self.kpi = (experiment.horizon, experiment.warmup,
                                                          experiment.seed, kpi)

    def __call__(self, i, r):
        from ..engine.run import simulate
        from ..params import Params
        from .spec import replication_seed

        result = simulate(Params.from_dict(self.params[i]), horizon=self.horizon,
                          seed=replication_seed(self.seed, r))
        return result.total(self.kpi, start=self.warmup)


def select_best(base=None, scenarios=(), *, kpi: str, delta: float, alpha: float = 0.05,
                direction: str = "max", procedure: str = "kn++", n0: int = 10,
                budget: int | None = None, horizon: int = 52, warmup: int = 0,
                seed: int | None = None, batch: int | None = None,
                executor: cf.Executor | None = None) -> Selection:
    """Choose the best scenario for a KPI by simulation, with common random numbers.

    The scenarios are checked as an :class:`~spchain.experiments.experiment.Experiment`
    would check them, then :func:`select` runs the procedure; each run's
    output is the KPI's total after the warm-up
    (:meth:`spchain.RunResult.total`), and replication ``i`` uses the same
    seed in every scenario -- the seed an ``Experiment`` with this ``seed``
    gives it.

    Parameters
    ----------
    base : Params, optional
        Parameters every scenario starts from (default ``Params()``).
    scenarios : sequence of Scenario
        At least two, with unique names.
    kpi : str
        A key of :data:`spchain.METRICS`, e.g. ``"profit"``.
    delta : float
        Indifference zone in the KPI's unit over the run (a flow's total
        over the weeks after the warm-up, a ratio's value).
    alpha, direction, procedure, n0, budget, batch, executor
        As for :func:`select`.
    horizon, warmup : int
        Weeks per run and initial weeks left out.
    seed : int, optional
        Root seed; ``None`` draws fresh entropy, recorded on the result.

    Returns
    -------
    Selection

    Raises
    ------
    ParamError
        Before any run: as :func:`select`, or for scenarios an
        ``Experiment`` would refuse.
    KeyError
        For an unknown KPI, before any run.

    Examples
    --------
    >>> from spchain import Scenario, preset
    >>> chosen = select_best(preset("workshop"), [Scenario("now"),
    ...     Scenario("dearer", levers={"economics.spend_per_visit": 48.0})],
    ...     kpi="revenue", delta=5000.0, horizon=4, n0=5, seed=1)
    >>> chosen.best
    'dearer'
    """
    from ..metrics import metric
    from ..params import Params
    from .spec import ExperimentSpec

    metric(kpi)
    scenarios = list(scenarios) if isinstance(scenarios, (list, tuple)) else scenarios
    if not isinstance(scenarios, list) or len(scenarios) < 2:
        raise ParamError(f"selection needs a list of at least 2 scenarios, got {scenarios!r}")
    experiment = ExperimentSpec(Params() if base is None else base, scenarios=scenarios,
                                n_replications=1, horizon=horizon, warmup=warmup, seed=seed)
    return select(_SimulationSampler(experiment, kpi), experiment.names, delta=delta, alpha=alpha,
                  direction=direction, procedure=procedure, n0=n0, budget=budget, batch=batch,
                  executor=executor, kpi=kpi, seed=experiment.seed)

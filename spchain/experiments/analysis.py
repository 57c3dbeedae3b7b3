"""What an experiment returns: every KPI per scenario, replication and period.

:class:`ExperimentResult` holds the engine's additive sums of every run as
NumPy arrays (``sums[scenario]`` has shape ``(replications, weeks, units,
fields)``) and derives from them, through :mod:`spchain.metrics` and
:mod:`spchain.experiments.statistics`:

* KPI series per replication (:meth:`~ExperimentResult.kpi`) and per-run
  totals after the warm-up (:meth:`~ExperimentResult.totals`);
* means with Student-t intervals (:meth:`~ExperimentResult.estimate`);
* paired differences and relative changes against the baseline
  (:meth:`~ExperimentResult.difference`);
* the return on an intervention (:meth:`~ExperimentResult.roi`) and the
  week it pays back (:meth:`~ExperimentResult.payback`);
* a warm-up suggestion (:meth:`~ExperimentResult.mser5`) and the
  replications a target precision needs
  (:meth:`~ExperimentResult.replications_needed`);
* ``summary()`` (a string) and ``to_frame()`` (a tidy pandas frame).

A result written to a store can be loaded and analysed without running
anything: ``ExperimentResult.load("sweep.sqlite")``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from ..metrics import METRICS, metric
from ..result import FieldView, RunResult, format_value
from .spec import ExperimentSpec
from .statistics import Difference, Interval, mser5, paired_difference, replications_needed, t_interval

__all__ = ["ExperimentResult", "Payback", "Return"]

@dataclass(frozen=True)
class Return:
    """The return on an intervention, per replication paired with the baseline.

    Attributes
    ----------
    gain : Interval
        Present value of the profit difference ``scenario - baseline``.
    cost : float
        Present value of the intervention's cost (as given, discounted
        from the week of the scenario's first lever change).
    net : Interval
        ``gain - cost``.
    roi : Interval
        ``net / cost``; NaN when the cost is 0.
    """

    gain: Interval
    cost: float
    net: Interval
    roi: Interval


@dataclass(frozen=True)
class Payback:
    """When an intervention pays back: per replication, paired with the baseline.

    The *cumulative difference* of replication ``r`` after ``k`` weeks is
    the sum of ``metric(scenario) - metric(baseline)`` over the ``k`` weeks
    from ``start`` (the week the two scenarios' parameters first differ),
    both runs of replication ``r`` sharing their random numbers.  The
    replication *pays back after* ``k`` *weeks* when its cumulative
    difference is >= 0 after ``k`` weeks and never falls below 0 again
    within the horizon: a first crossing followed by a relapse does not
    count, and a replication still below 0 at the horizon has no payback
    within it.

    Attributes
    ----------
    scenario, baseline, metric : str
        What was compared.
    start : int
        First week compared, counted from 0 as ``at_week`` is: the change
        acts from the start of week ``start``.  On the charts, which number
        weeks from 1, payback after ``k`` weeks is week ``start + k``.
    weeks : ndarray
        Per replication, the weeks from ``start`` to payback (1 when the
        first week already pays); NaN where it did not pay back within the
        horizon.
    cumulative : ndarray
        Shape ``(n_replications, horizon - start)``; column ``k - 1`` holds
        each replication's cumulative difference after ``k`` weeks.
    time : Interval or None
        Mean of ``weeks`` with its Student-t interval across replications;
        ``None`` unless every replication paid back within the horizon (a
        mean of the others alone would be biased early).
    level : float
        Confidence level of ``time`` and of :meth:`after`.
    """

    scenario: str
    baseline: str
    metric: str
    start: int
    weeks: np.ndarray
    cumulative: np.ndarray
    time: Interval | None
    level: float

    @property
    def horizon_weeks(self) -> int:
        """Weeks compared: from ``start`` to the end of the horizon."""
        return int(self.cumulative.shape[1])

    @property
    def n_paid_back(self) -> int:
        """Replications that paid back within the horizon."""
        return int(np.isfinite(self.weeks).sum())

    @property
    def n_replications(self) -> int:
        """Replications compared."""
        return int(self.weeks.size)

    def after(self, weeks: int) -> Interval:
        """The cumulative difference after ``weeks`` weeks from ``start``, with its t interval.

        Parameters
        ----------
        weeks : int
            In ``[1, horizon_weeks]``.

        Returns
        -------
        Interval
        """
        n = self.horizon_weeks
        if isinstance(weeks, bool) or not isinstance(weeks, (int, np.integer)) or not 1 <= weeks <= n:
            raise ValueError(f"weeks must be an integer in [1, {n}] (weeks from week {self.start}), "
                             f"got {weeks!r}")
        return t_interval(self.cumulative[:, weeks - 1], level=self.level)

    def __str__(self) -> str:
        n, k, pct = self.n_replications, self.n_paid_back, f"{self.level:.0%}"
        what = (f"payback of {self.scenario!r} against {self.baseline!r} ({self.metric} summed from the "
                f"change at week {self.start})")
        if k == n and self.time is not None:
            t = self.time
            ci = (f", {pct} CI {t.low:.0f} to {t.high:.0f}" if np.isfinite(t.half_width) else "")
            return (f"{what}: after {t.mean:.0f} weeks on average{ci} (week {self.start + t.mean:.0f} on the "
                    f"charts); all {n} replication(s) paid back, after {np.nanmin(self.weeks):.0f} to "
                    f"{np.nanmax(self.weeks):.0f} weeks")
        end = self.after(self.horizon_weeks)
        tail = (f"; cumulative difference after {self.horizon_weeks} weeks {format_value(end.mean)}"
                + (f" ({pct} CI {format_value(end.low)} to {format_value(end.high)})"
                   if np.isfinite(end.half_width) else ""))
        if k == 0:
            return f"{what}: no payback within {self.horizon_weeks} weeks in any of {n} replication(s){tail}"
        return (f"{what}: no payback within {self.horizon_weeks} weeks in {n - k} of {n} replications; "
                f"the other {k} paid back after {np.nanmin(self.weeks):.0f} to {np.nanmax(self.weeks):.0f} "
                f"weeks{tail}")


class ExperimentResult:
    """Runs of an :class:`~spchain.experiments.experiment.Experiment`, and their statistics.

    Attributes
    ----------
    experiment : ExperimentSpec
        The specification that was run (its ``warmup`` applies to every
        statistic): the :class:`~spchain.experiments.experiment.Experiment`
        itself after :meth:`Experiment.run
        <spchain.experiments.experiment.Experiment.run>`, the
        :class:`~spchain.experiments.spec.ExperimentSpec` read back from the
        store after :meth:`load` (equal to the experiment that wrote it; to
        run more, use ``Experiment.from_store(path)``).
    sums : dict of str to ndarray
        Per scenario, shape ``(n_replications, horizon, n_units, len(FIELDS))``.
    department_sums : dict of str to ndarray
        Per scenario, shape ``(n_replications, horizon, n_departments,
        len(DEPARTMENT_FIELDS))``.
    wall_seconds : dict of str to ndarray
        Per scenario, each run's wall-clock time.
    manifest : dict
        Versions, definition and its hash, seeds, design, platform, sessions.
    """

    def __init__(self, experiment, *, sums, department_sums, wall_seconds, manifest=None):
        self.experiment = experiment
        self.sums = sums
        self.department_sums = department_sums
        self.wall_seconds = wall_seconds
        self.manifest = manifest or {}
        self._cache = {}

    @classmethod
    def from_runs(cls, experiment, runs: dict, *, manifest=None) -> "ExperimentResult":
        """Assemble ``{(scenario, replication): (sums, department_sums, wall_seconds)}``.

        Runs beyond ``experiment.n_replications`` are ignored; a missing one
        raises :class:`~spchain.experiments.store.StoreError`.
        """
        from .store import StoreError

        n = experiment.n_replications
        missing = [(s, r) for s in experiment.names for r in range(n) if (s, r) not in runs]
        if missing:
            raise StoreError(f"{len(missing)} of {n * len(experiment.names)} runs are missing "
                             f"(first: scenario {missing[0][0]!r}, replication {missing[0][1]}); "
                             f"finish them with Experiment.from_store(path).run(store=path)")

        def stacked(scenario, column):
            array = np.stack([runs[(scenario, r)][column] for r in range(n)])
            array.flags.writeable = False  # results are read-only records of what ran
            return array

        return cls(experiment, sums={s: stacked(s, 0) for s in experiment.names},
                   department_sums={s: stacked(s, 1) for s in experiment.names},
                   wall_seconds={s: np.array([runs[(s, r)][2] for r in range(n)], float)
                                 for s in experiment.names},
                   manifest=manifest)

    @classmethod
    def load(cls, path) -> "ExperimentResult":
        """The result stored at ``path``, without running anything.

        Its :attr:`experiment` is the stored
        :class:`~spchain.experiments.spec.ExperimentSpec`; to resume or
        extend the runs, use ``Experiment.from_store(path).run(store=path)``.

        Raises
        ------
        StoreError
            If the store is not an experiment store or is not finished.
        """
        from .store import Store

        experiment = ExperimentSpec.from_store(path)
        with Store(path) as store:
            runs = {(s, r): (sums, department_sums, wall_seconds)
                    for s, r, sums, department_sums, wall_seconds in store.runs()}
            manifest = store.manifest()
        return cls.from_runs(experiment, runs, manifest=manifest)

    # --------------------------------------------------------------- access
    @property
    def scenarios(self) -> list:
        """Scenario names, in order."""
        return self.experiment.names

    @property
    def n_replications(self) -> int:
        """Replications per scenario."""
        return self.experiment.n_replications

    @property
    def horizon(self) -> int:
        """Weeks per run."""
        return self.experiment.horizon

    @property
    def warmup(self) -> int:
        """Initial weeks left out of every statistic."""
        return self.experiment.warmup

    @property
    def baseline(self) -> str:
        """Scenario that differences are taken against."""
        return self.experiment.baseline

    def with_warmup(self, warmup: int) -> "ExperimentResult":
        """The same runs analysed with another warm-up (no re-running)."""
        experiment = dataclasses.replace(self.experiment, warmup=warmup)
        return ExperimentResult(experiment, sums=self.sums, department_sums=self.department_sums,
                                wall_seconds=self.wall_seconds, manifest=self.manifest)

    def _scenario(self, scenario):
        scenario = self.baseline if scenario is None else scenario
        if scenario not in self.sums:
            raise KeyError(f"unknown scenario {scenario!r}; expected one of {self.scenarios}")
        return scenario

    def run(self, scenario: str, replication: int):
        """One run as a :class:`~spchain.RunResult` (its seed reproduces it with ``simulate``)."""
        scenario = self._scenario(scenario)
        if not isinstance(replication, (int, np.integer)) or not 0 <= replication < self.n_replications:
            raise IndexError(f"replication must be an integer in [0, {self.n_replications}), got {replication!r}")
        return RunResult(params=self.experiment.params[scenario], horizon=self.horizon,
                         seed=self.experiment.seed_of(scenario, int(replication)),
                         sums=self.sums[scenario][replication],
                         department_sums=self.department_sums[scenario][replication],
                         wall_seconds=float(self.wall_seconds[scenario][replication]))

    def kpi(self, name: str, *, scenario: str | None = None, unit: int | None = None) -> np.ndarray:
        """A KPI per replication and period, shape ``(n_replications, horizon)``.

        The organisation's exact aggregate by default, or one ``unit``'s.
        ``scenario`` defaults to the baseline.  The warm-up is not removed.
        """
        kpi, data = metric(name), self.sums[self._scenario(scenario)]
        if unit is not None and (not isinstance(unit, (int, np.integer)) or not 0 <= unit < data.shape[2]):
            raise IndexError(f"unit must be an integer in [0, {data.shape[2]}), got {unit!r}")
        data = data.sum(axis=2) if unit is None else data[:, :, unit]
        return kpi.evaluate(FieldView(data))

    def totals(self, name: str, *, scenario: str | None = None, start: int | None = None) -> np.ndarray:
        """Each replication's KPI over the weeks from ``start`` (default: the warm-up).

        As :meth:`spchain.RunResult.total`: flows summed, stocks averaged,
        ratios of the totals.  Shape ``(n_replications,)``.
        """
        scenario = self._scenario(scenario)
        start = self.warmup if start is None else start
        key = (name, scenario, start)
        if key not in self._cache:
            metric(name)
            self._cache[key] = np.array([self.run(scenario, r).total(name, start=start)
                                         for r in range(self.n_replications)])
        return self._cache[key].copy()

    # ----------------------------------------------------------- statistics
    def estimate(self, name: str, *, scenario: str | None = None, level: float = 0.95) -> Interval:
        """Mean of a KPI's per-run totals with its Student-t interval."""
        return t_interval(self.totals(name, scenario=scenario), level=level)

    def difference(self, name: str, *, scenario: str, baseline: str | None = None,
                   level: float = 0.95) -> Difference:
        """``scenario - baseline`` paired by replication, with its interval and relative change.

        With common random numbers the pairs share every random stream, so
        the interval is usually much narrower than the scenarios' own.
        """
        return paired_difference(self.totals(name, scenario=self._scenario(scenario)),
                                 self.totals(name, scenario=self._scenario(baseline)), level=level)

    def roi(self, scenario: str, *, cost: float = 0.0, baseline: str | None = None,
            start: int | None = None, discount_rate: float | None = None, level: float = 0.95) -> Return:
        """Return on an intervention: discounted profit difference against its cost.

        Week ``t``'s profit (0-based) arrives at the end of the week and is
        discounted to the start of week 0 by ``(1 + i) ** (-(t + 1) / 52)``;
        weeks from ``start`` count.  By default ``start`` is the first week
        in which the parameters in force in ``scenario`` and in ``baseline``
        differ (:meth:`first_difference`), usually the week the
        intervention's first lever acts -- *not* the warm-up: an
        intervention's early costs (hires, tools spend) are part of its
        return even when they fall in the warm-up.  With common random
        numbers the two runs are identical before that week, so starting
        earlier would add nothing.  When the two scenarios' parameters
        never differ, ``start`` defaults to the warm-up.  Profit already
        includes every running cost the model knows (wages, tools spend,
        hiring); ``cost`` is what it does not (a programme fee, a one-off
        investment), paid at the start of the scenario's first lever change
        and discounted from there.

        Parameters
        ----------
        scenario : str
            The intervention.
        cost : float
            Cost of the intervention, >= 0, in money.
        baseline : str, optional
            What it is compared with; default the experiment's baseline.
        start : int, optional
            First week that counts; default the first week the two
            scenarios' parameters differ (the warm-up if they never do).
        discount_rate : float, optional
            Annual rate ``i``; default the baseline's ``economics.discount_rate``.
        level : float
            Confidence level.
        """
        scenario, baseline = self._scenario(scenario), self._scenario(baseline)
        if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not cost >= 0:
            raise ValueError(f"cost must be a number >= 0, got {cost!r}")
        i = self.experiment.params[baseline].economics.discount_rate if discount_rate is None else discount_rate
        if isinstance(i, bool) or not isinstance(i, (int, float)) or not i > -1:
            raise ValueError(f"discount_rate must be a number > -1 (per year), got {i!r}")
        if start is None:
            start = self._change_start(scenario, baseline)
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < self.horizon:
            raise ValueError(f"start must be an integer in [0, {self.horizon}), got {start!r}")
        weeks = np.arange(start, self.horizon)
        factor = (1.0 + i) ** (-(weeks + 1) / 52.0)
        gain = self._gap("profit", scenario, baseline, start) @ factor
        lever_weeks = [c.at_week for c in self.experiment.scenarios[self.scenarios.index(scenario)].levers]
        cost_pv = float(cost) * (1.0 + i) ** (-min(lever_weeks, default=0) / 52.0)
        net = t_interval(gain - cost_pv, level=level)
        scale = 1.0 / cost_pv if cost_pv > 0 else math.nan
        roi = Interval(net.mean * scale, net.low * scale, net.high * scale, net.half_width * scale,
                       net.std * scale, net.n, level)
        return Return(gain=t_interval(gain, level=level), cost=cost_pv, net=net, roi=roi)

    def payback(self, scenario: str, *, metric: str = "profit", baseline: str | None = None,
                level: float = 0.95) -> Payback:
        """When ``scenario`` pays back against ``baseline``: the weeks until its cumulative gain stays >= 0.

        Per replication (paired by common random numbers), the difference
        ``metric(scenario) - metric(baseline)`` is summed week by week from
        the first week the two scenarios' parameters differ
        (:meth:`first_difference`; the warm-up when they never do), not from
        the warm-up: an intervention's first costs are part of its payback.
        The replication pays back after ``k`` weeks when the cumulative
        difference is >= 0 after ``k`` weeks and stays >= 0 to the horizon
        (a relapse below 0 moves payback later; still below 0 at the
        horizon is no payback within it).  Nothing is discounted; compare
        :meth:`roi` for present values and a programme's outside cost.

        Parameters
        ----------
        scenario : str
            The intervention.
        metric : str
            A flow KPI where more is better (``profit``, ``revenue``,
            ``acquisition``): weekly values that add up.
        baseline : str, optional
            What it is compared with; default the experiment's baseline.
        level : float
            Confidence level of the interval of the mean payback time.

        Returns
        -------
        Payback
            Per-replication payback weeks, the cumulative differences, and
            the mean payback time's interval when every replication paid
            back within the horizon.

        """
        scenario, baseline = self._scenario(scenario), self._scenario(baseline)
        flows = [name for name, kpi in METRICS.items() if kpi.is_flow and kpi.better == "higher"]
        if not isinstance(metric, str) or metric not in flows:
            known = isinstance(metric, str) and metric in METRICS
            why = " (a KPI that is not a weekly flow, or one where less is better)" if known else ""
            raise ValueError(f"metric must be a flow KPI where more is better, one of {flows}, got {metric!r}{why}")
        if scenario == baseline:
            raise ValueError(f"scenario and baseline are both {scenario!r}; payback compares two scenarios")
        if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
            raise ValueError(f"level must be a number in (0, 1), e.g. 0.95, got {level!r}")
        start = self._change_start(scenario, baseline)
        cumulative = np.cumsum(self._gap(metric, scenario, baseline, start), axis=1)
        cumulative.flags.writeable = False
        weeks = np.array([_payback_weeks(c) for c in cumulative], float)
        weeks.flags.writeable = False
        time = t_interval(weeks, level=level) if np.isfinite(weeks).all() else None
        return Payback(scenario=scenario, baseline=baseline, metric=metric, start=int(start), weeks=weeks,
                       cumulative=cumulative, time=time, level=float(level))

    def first_difference(self, scenario: str, *, baseline: str | None = None) -> int | None:
        """First week in which the parameters in force in ``scenario`` and ``baseline`` differ.

        Parameters are compared week by week as :meth:`Params.at_week
        <spchain.params.Params.at_week>` gives them, at week 0 and at every
        week either schedule changes something, so the baseline's own
        scheduled changes count too.

        Parameters
        ----------
        scenario : str
            The intervention.
        baseline : str, optional
            What it is compared with; default the experiment's baseline.

        Returns
        -------
        int or None
            The week, or ``None`` when the parameters never differ within
            the horizon.
        """
        scenario, baseline = self._scenario(scenario), self._scenario(baseline)
        key = ("first_difference", scenario, baseline)
        if key not in self._cache:
            changed, base = self.experiment.params[scenario], self.experiment.params[baseline]
            weeks = sorted({0} | {c.at_week for c in changed.schedule + base.schedule})
            self._cache[key] = next((w for w in weeks
                                     if w < self.horizon and changed.at_week(w) != base.at_week(w)), None)
        return self._cache[key]

    def _change_start(self, scenario, baseline) -> int:
        """The week the two scenarios' parameters first differ; the warm-up when they never do."""
        first = self.first_difference(scenario, baseline=baseline)
        return self.warmup if first is None else first

    def _gap(self, name, scenario, baseline, start) -> np.ndarray:
        """``kpi(scenario) - kpi(baseline)`` per replication and week, from week ``start``."""
        return self.kpi(name, scenario=scenario)[:, start:] - self.kpi(name, scenario=baseline)[:, start:]

    def replications_needed(self, name: str, *, half_width: float, scenario: str | None = None,
                            baseline: str | None = None, relative: bool = False,
                            level: float = 0.95) -> int:
        """Replications for an interval of at most ``half_width``, from these runs as a pilot.

        With ``baseline`` the target is the paired difference ``scenario -
        baseline``; with ``relative=True`` ``half_width`` is a fraction of
        the (difference's) mean.
        """
        x = self.totals(name, scenario=scenario)
        if baseline is not None:
            x = x - self.totals(name, scenario=self._scenario(baseline))
        if relative:
            half_width = half_width * abs(float(x.mean()))
        return replications_needed(x, half_width=half_width, level=level)

    def mser5(self, name: str = "profit", *, scenario: str | None = None) -> int:
        """MSER-5 warm-up in weeks for a KPI, from its mean over replications.

        With no ``scenario``, the largest over all scenarios.  Use it with
        :meth:`with_warmup`.
        """
        names = self.scenarios if scenario is None else [self._scenario(scenario)]
        return max(mser5(np.nanmean(self.kpi(name, scenario=s), axis=0)) for s in names)

    # ------------------------------------------------------------ reporting
    def summary(self, *, metrics=None, level: float = 0.95) -> str:
        """A readable table: each KPI's mean and interval per scenario, and paired differences.

        Parameters
        ----------
        metrics : sequence of str, optional
            KPI names; default every KPI in :data:`spchain.METRICS`.
        level : float
            Confidence level.
        """
        metrics = list(METRICS) if metrics is None else [metric(m).name for m in metrics]
        width = min(max(len(s) for s in self.scenarios) + 2, 28)
        lines = self._summary_header(level, width)
        for name in metrics:
            lines += self._summary_rows(name, level, width)
        return "\n".join(lines)

    def _summary_header(self, level, width) -> list:
        """The lines of :meth:`summary` above the KPIs: the design, the scenarios, the column heads."""
        experiment, pct = self.experiment, f"{level:.0%}"
        lines = [f"spchain experiment: {len(self.scenarios)} scenario(s) x {experiment.n_replications} "
                 f"replication(s), {experiment.horizon} weeks, warm-up {experiment.warmup}, "
                 f"seed {experiment.seed}, "
                 + ("common random numbers" if experiment.crn else "independent random numbers"),
                 f"per-run totals over weeks {experiment.warmup + 1}-{experiment.horizon}; {pct} Student-t "
                 f"intervals; differences paired by replication against {experiment.baseline!r}", ""]
        for scenario in experiment.scenarios:
            lines.append(f"  {scenario.name[:width - 2]:<{width}}{scenario.describe()}")
        header = f"{'KPI':<34}{'scenario':<{width}}{'mean +- ' + pct:>24}"
        if len(self.scenarios) > 1:
            header += f"{'vs ' + experiment.baseline[:12]:>24}{'change':>20}"
        return lines + ["", header]

    def _summary_rows(self, name, level, width) -> list:
        """One KPI's lines of :meth:`summary`: a row per scenario, its unit under the label."""
        kpi = METRICS[name]
        unit = f"({kpi.unit.replace('/week', '')}, total)" if kpi.is_flow else f"({kpi.unit})"  # flows summed
        lines = []
        for k, scenario in enumerate(self.scenarios):
            label = (kpi.label if k == 0 else f"  {unit}" if k == 1 else "")[:33]
            estimate = self.estimate(name, scenario=scenario, level=level)
            row = f"{label:<34}{scenario[:width - 2]:<{width}}{_plus_minus(estimate.mean, estimate.half_width):>24}"
            if scenario != self.baseline:
                difference = self.difference(name, scenario=scenario, level=level)
                sign = "+" if difference.mean > 0 else ""
                relative = (f"{difference.relative:+.1%} +- {difference.relative_high - difference.relative:.1%}"
                            if np.isfinite(difference.relative_high) else "-")
                row += f"{sign + _plus_minus(difference.mean, difference.half_width):>24}{relative:>20}"
            lines.append(row.rstrip())
        if len(self.scenarios) == 1:
            lines.append(f"  {unit}")
        return lines

    def to_frame(self, *, totals: bool = False, units: bool = False, factors: bool = False):
        """Tidy pandas frame (requires pandas).

        Parameters
        ----------
        totals : bool
            ``False``: columns ``scenario, replication, period, unit, metric,
            value``, one row per KPI value (``unit`` is ``"all"`` for the
            organisation's aggregate).  ``True``: ``scenario, replication,
            metric, value`` with each run's totals after the warm-up.
        units : bool
            Also the rows of each unit (period values only).
        factors : bool
            Add one column per changed path, named ``"lever: <path>"`` or
            ``"uncertainty: <path>"``, holding the scenario's value (the last
            one when a path changes several times; the base's value in
            scenarios that leave it alone).
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frame() needs pandas: pip install 'spchain[pandas]'") from exc
        n_replications, horizon = self.n_replications, self.horizon
        parts = []
        for scenario in self.scenarios:
            for name in METRICS:
                if totals:
                    parts.append(pd.DataFrame({"scenario": scenario, "replication": np.arange(n_replications),
                                               "metric": name, "value": self.totals(name, scenario=scenario)}))
                    continue
                for unit in ["all"] + (list(range(self.sums[scenario].shape[2])) if units else []):
                    values = self.kpi(name, scenario=scenario, unit=None if unit == "all" else unit)
                    parts.append(pd.DataFrame({"scenario": scenario,
                                               "replication": np.repeat(np.arange(n_replications), horizon),
                                               "period": np.tile(np.arange(horizon), n_replications),
                                               "unit": unit, "metric": name, "value": values.ravel()}))
        frame = pd.concat(parts, ignore_index=True)
        if factors:
            for scenario in self.experiment.scenarios:
                for kind, change in scenario.changes:
                    column = f"{kind}: {change.path}"
                    if column not in frame:
                        frame[column] = _base_value(self.experiment.base, change.path)
                    frame.loc[frame["scenario"] == scenario.name, column] = change.value
        return frame


def _plus_minus(value, half_width) -> str:
    """``value +- half_width`` for a table; the value alone when the half-width is undefined."""
    if np.isfinite(half_width):
        return f"{format_value(value)} +- {format_value(half_width)}"
    return format_value(value)


def _payback_weeks(cumulative):
    """Weeks until ``cumulative`` (a 1-D running sum) is >= 0 for good; NaN when it ends below 0."""
    below = np.flatnonzero(cumulative < 0)
    if below.size == 0:
        return 1.0
    if below[-1] == cumulative.size - 1:
        return math.nan
    return float(below[-1] + 2)


def _base_value(params, path):
    from ..params import ParamError

    try:
        return params.get(path)
    except ParamError:
        return None

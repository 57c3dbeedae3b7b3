"""Output analysis for replicated simulations: pure functions on arrays.

Each replication of an experiment gives one independent, identically
distributed observation of a KPI (a run total after the warm-up), so
classical small-sample statistics apply:

* :func:`t_interval` -- mean and Student-t confidence interval;
* :func:`paired_difference` -- the difference between two scenarios run with
  common random numbers, replication by replication, with its interval and
  the relative change (ratio estimator, linearised);
* :func:`mser5` -- the MSER-5 truncation point of a series (warm-up);
* :func:`replications_needed` -- replications for a target half-width.

References: Law, *Simulation Modeling and Analysis* (5th ed., 2015),
ch. 9-11; White, Cobb & Spratt, "A comparison of five steady-state
truncation heuristics", WSC 2000 (MSER-5).

Examples
--------
>>> ci = t_interval([9.0, 11.0, 10.0, 10.0], level=0.95)
>>> round(ci.mean, 3), round(ci.half_width, 3)
(10.0, 1.299)
>>> d = paired_difference([10.5, 11.4, 12.2], [10.0, 11.0, 12.0])
>>> round(d.mean, 3), round(d.relative, 4)
(0.367, 0.0333)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Interval", "Difference", "t_interval", "paired_difference", "mser5",
           "replications_needed"]


@dataclass(frozen=True)
class Interval:
    """A mean with its Student-t confidence interval.

    Attributes
    ----------
    mean, low, high, half_width : float
        ``low = mean - half_width``, ``high = mean + half_width``; NaN half
        width with fewer than two observations.
    std : float
        Sample standard deviation (``ddof=1``).
    n : int
        Number of observations (replications).
    level : float
        Confidence level, e.g. 0.95.
    """

    mean: float
    low: float
    high: float
    half_width: float
    std: float
    n: int
    level: float


@dataclass(frozen=True)
class Difference(Interval):
    """A paired difference ``scenario - baseline`` and its relative change.

    Attributes
    ----------
    baseline_mean : float
        Mean of the baseline.
    relative, relative_low, relative_high : float
        ``mean(scenario) / mean(baseline) - 1`` with its interval, from the
        linearised ratio estimator; NaN when the baseline mean is 0.
    """

    baseline_mean: float = math.nan
    relative: float = math.nan
    relative_low: float = math.nan
    relative_high: float = math.nan


def _level(level):
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number in (0, 1), e.g. 0.95, got {level!r}")
    return float(level)


def _samples(samples, name="samples"):
    x = np.asarray(samples, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence of numbers, got shape {x.shape}")
    return x


def _t(level, n):
    from scipy import stats

    return float(stats.t.ppf(0.5 + level / 2.0, n - 1)) if n > 1 else math.nan


def t_interval(samples, *, level: float = 0.95) -> Interval:
    """Mean and Student-t confidence interval of independent observations.

    Parameters
    ----------
    samples : array_like, 1-D
        One value per replication.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    Interval
    """
    level = _level(level)
    x = _samples(samples)
    n = x.size
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if n > 1 else math.nan
    half = _t(level, n) * std / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, half, std, n, level)


def paired_difference(samples, baseline, *, level: float = 0.95) -> Difference:
    """Difference ``samples - baseline`` paired by replication, with intervals.

    With common random numbers replication ``i`` of both scenarios shares
    its random streams, so the differences vary much less than either
    scenario does; the interval is the t interval of the differences.

    The relative change ``r - 1`` with ``r = mean(samples) / mean(baseline)``
    gets its interval from the linearised ratio estimator: residuals
    ``(x_i - r y_i) / mean(y)`` have mean 0 and standard error ``se(r)``.

    Parameters
    ----------
    samples, baseline : array_like, 1-D, same length
        One value per replication, replication ``i`` in both.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    Difference
    """
    level = _level(level)
    x, y = _samples(samples), _samples(baseline, "baseline")
    if x.shape != y.shape:
        raise ValueError(f"paired samples must have the same length, got {x.size} and {y.size}")
    difference = t_interval(x - y, level=level)
    baseline_mean = float(y.mean())
    relative = relative_half_width = math.nan
    if baseline_mean != 0:
        ratio = float(x.mean()) / baseline_mean
        relative = ratio - 1.0
        if x.size > 1:
            residuals = (x - ratio * y) / baseline_mean
            relative_half_width = _t(level, x.size) * float(residuals.std(ddof=1)) / math.sqrt(x.size)
    return Difference(difference.mean, difference.low, difference.high, difference.half_width, difference.std,
                      difference.n, level, baseline_mean=baseline_mean, relative=relative,
                      relative_low=relative - relative_half_width, relative_high=relative + relative_half_width)


def mser5(series, *, max_fraction: float = 0.5) -> int:
    """MSER-5 warm-up: the number of initial observations to delete.

    The series is cut into batches of 5 (a last incomplete batch is
    dropped); the truncation ``d`` (in batches) minimises
    ``var(z[d:]) / (k - d)``, the squared standard error of the mean of the
    batch means that remain, over ``d <= max_fraction * k``.  A minimum at
    that limit means the series is too short to have settled.

    Parameters
    ----------
    series : array_like, 1-D
        A KPI per period, best averaged over replications first.
    max_fraction : float
        Largest share of the series that may be deleted (0.5, as usual).

    Returns
    -------
    int
        Periods to delete: a multiple of 5, 0 for series shorter than two
        batches.
    """
    x = _samples(series, "series")
    if not np.all(np.isfinite(x)):
        raise ValueError("series must be finite; drop or fill undefined periods first")
    if not 0 < max_fraction < 1:
        raise ValueError(f"max_fraction must be in (0, 1), got {max_fraction!r}")
    k = x.size // 5
    if k < 2:
        return 0
    z = x[: 5 * k].reshape(k, 5).mean(axis=1)
    last = min(int(max_fraction * k), k - 2)
    scores = [z[d:].var() / (k - d) for d in range(last + 1)]
    return 5 * int(np.argmin(scores))


def replications_needed(samples, *, half_width: float, level: float = 0.95) -> int:
    """Replications for a t interval of at most ``half_width``, from a pilot.

    The smallest ``n >= 2`` with ``t(level, n - 1) s / sqrt(n) <= half_width``,
    ``s`` the pilot's standard deviation (Law 2015, sec. 9.4.1).  The
    answer is an estimate: rerun with ``n`` replications and check.

    Parameters
    ----------
    samples : array_like, 1-D
        Pilot observations, at least two.
    half_width : float
        Target half-width, > 0, in the samples' unit.
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    int
    """
    level = _level(level)
    x = _samples(samples)
    if x.size < 2:
        raise ValueError(f"replications_needed needs at least 2 pilot replications, got {x.size}")
    if isinstance(half_width, bool) or not isinstance(half_width, (int, float)) or not half_width > 0:
        raise ValueError(f"half_width must be a number > 0, got {half_width!r}")
    from scipy import stats

    s = float(x.std(ddof=1))
    if s == 0:
        return 2
    n = max(2, math.ceil((float(stats.norm.ppf(0.5 + level / 2.0)) * s / half_width) ** 2))
    while _t(level, n) * s / math.sqrt(n) > half_width:
        n += 1
    return n

"""Scenarios: named sets of parameter changes, and designs that produce them.

A :class:`Scenario` is a name and a list of changes given as dotted
parameter paths (the paths of :meth:`spchain.Params.override`), each taking
effect at a week.  Changes are kept in two lists so that output can tell
them apart, in the vocabulary of exploratory modelling:

* **levers** are what management decides (staffing, pay, tools spend);
* **uncertainties** are what it does not control (demand, patience).

A scenario never mutates the base parameters: :meth:`Scenario.apply` returns
new, validated :class:`~spchain.params.Params`.  The design functions
:func:`full_factorial`, :func:`one_at_a_time` and :func:`latin_hypercube`
return plain lists of scenarios for an :class:`~spchain.experiments.experiment.Experiment`.

Examples
--------
>>> from spchain import Params
>>> invest = Scenario("invest", levers={"internal.tools_spend_per_week": 3000.0}, at_week=26)
>>> invest.apply(Params()).schedule[0].at_week
26
>>> grid = full_factorial(levers={"workforce.n_employees": [6, 7]},
...                       uncertainties={"customers.visit_rate": [0.06, 0.08]})
>>> for s in grid:
...     print(s.name)
n_employees=6 | visit_rate=0.06
n_employees=6 | visit_rate=0.08
n_employees=7 | visit_rate=0.06
n_employees=7 | visit_rate=0.08
"""

from __future__ import annotations

import itertools
from dataclasses import KW_ONLY, InitVar, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from ..params import Change, ParamError, Params, check_schedulable

__all__ = ["Scenario", "full_factorial", "one_at_a_time", "latin_hypercube", "short_names"]

KINDS = ("lever", "uncertainty")


def _plain(value: Any) -> Any:
    """NumPy scalars as Python numbers, so scenarios are JSON-able and hash stably."""
    return value.item() if isinstance(value, np.generic) else value


def _changes(kind: str, name: str, given, at_week: int) -> tuple:
    if given is None:
        return ()
    if isinstance(given, Mapping):
        items = [Change(at_week=at_week, path=p, value=_plain(v)) for p, v in given.items()]
    elif isinstance(given, (list, tuple)):
        items = []
        for i, c in enumerate(given):
            if isinstance(c, Mapping) and set(c) == {"at_week", "path", "value"}:
                c = Change(**c)
            if not isinstance(c, Change):
                raise ParamError(f"scenario {name!r}: {kind}s[{i}] must be a spchain.Change or a "
                                 f"mapping with keys at_week, path, value; got {c!r}")
            items.append(Change(at_week=c.at_week, path=c.path, value=_plain(c.value)))
    else:
        raise ParamError(f"scenario {name!r}: {kind}s must be a mapping of dotted path to value "
                         f"or a sequence of spchain.Change, got {given!r}")
    return tuple(items)


@dataclass(frozen=True)
class Scenario:
    """A named set of lever and uncertainty changes to apply to base parameters.

    Parameters
    ----------
    name : str
        Unique within an experiment; used in every table and frame.
    levers : mapping of str to value, or sequence of Change
        What management decides.  A mapping ``{dotted path: value}`` takes
        effect at ``at_week``; a sequence of :class:`~spchain.Change` gives
        each change its own week (a tools budget from week 13, cut in week 39).
    uncertainties : mapping of str to value, or sequence of Change
        What management does not control.  A mapping holds from week 0 (it
        describes the world the levers act in); use :class:`~spchain.Change`
        objects for a timed shock such as a demand surge.
    at_week : int
        Week from which levers given as a mapping take effect (default 0,
        from the start).

    Raises
    ------
    ParamError
        For an empty name, a bad week, a path that is both a lever and an
        uncertainty, or a change after week 0 to a parameter fixed for a
        whole run (:func:`spchain.params.check_schedulable`; at week 0 such
        a change is allowed, since it overrides the base).

    Attributes
    ----------
    levers, uncertainties : tuple of Change
        The changes, each with its week.

    Notes
    -----
    :meth:`apply` overrides the base with every week-0 change and adds the
    later ones to the base's schedule, so a base schedule change of the same
    path later in the run still takes effect at its week.
    """

    name: str
    _: KW_ONLY
    levers: Any = ()
    uncertainties: Any = ()
    at_week: InitVar[int] = 0

    def __post_init__(self, at_week):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ParamError(f"scenario name must be a non-empty string, got {self.name!r}")
        if isinstance(at_week, bool) or not isinstance(at_week, (int, np.integer)) or at_week < 0:
            raise ParamError(f"scenario {self.name!r}: at_week must be an integer >= 0, got {at_week!r}")
        levers = _changes("lever", self.name, self.levers, int(at_week))
        uncertainties = _changes("uncertainty", self.name, self.uncertainties, 0)
        both = {c.path for c in levers} & {c.path for c in uncertainties}
        if both:
            raise ParamError(f"scenario {self.name!r}: {sorted(both)[0]!r} is both a lever and an "
                             f"uncertainty; a path must be one or the other")
        for c in levers + uncertainties:
            if c.at_week > 0:  # week-0 changes override the base; later ones are scheduled
                check_schedulable(c.path, c.at_week, context=f"scenario {self.name!r}: ")
        object.__setattr__(self, "levers", levers)
        object.__setattr__(self, "uncertainties", uncertainties)

    @property
    def changes(self) -> tuple:
        """``(kind, Change)`` pairs, uncertainties first, in the order given."""
        return tuple(("uncertainty", c) for c in self.uncertainties) + tuple(
            ("lever", c) for c in self.levers)

    def apply(self, base: Params) -> Params:
        """New validated parameters: ``base`` with this scenario's changes.

        Raises
        ------
        ParamError
            Naming the scenario, the path and the value, for an unknown path
            or a value out of range.
        """
        if not isinstance(base, Params):
            raise ParamError(f"base must be a spchain.Params, got {type(base).__name__}")
        now = {c.path: c.value for _, c in self.changes if c.at_week == 0}
        later = [c for _, c in self.changes if c.at_week > 0]
        try:
            params = base.override(now) if now else base
            return params.with_changes(*later) if later else params
        except ParamError as exc:
            raise ParamError(f"scenario {self.name!r}: {exc}") from None

    def describe(self) -> str:
        """One line: the levers and the uncertainties with their weeks."""
        def part(changes):
            return ", ".join(f"{c.path} = {_short_value(c.value)}" + (f" from week {c.at_week}" if c.at_week else "")
                             for c in changes) or "none"
        return f"levers: {part(self.levers)}; uncertainties: {part(self.uncertainties)}"

    def to_dict(self) -> dict:
        """Plain, JSON-able data that :meth:`from_dict` reads back."""
        return {"name": self.name, "levers": [c.to_dict() for c in self.levers],
                "uncertainties": [c.to_dict() for c in self.uncertainties]}

    @classmethod
    def from_dict(cls, data: Mapping) -> "Scenario":
        """The scenario written by :meth:`to_dict`."""
        if not isinstance(data, Mapping) or "name" not in data:
            raise ParamError(f"a scenario must be a mapping with a name, got {data!r}")
        unknown = set(data) - {"name", "levers", "uncertainties"}
        if unknown:
            raise ParamError(f"scenario {data['name']!r}: unknown key(s) {sorted(unknown)}; "
                             f"expected name, levers, uncertainties")
        return cls(data["name"], levers=list(data.get("levers", ())),
                   uncertainties=list(data.get("uncertainties", ())))


# ------------------------------------------------------------------ designs
def _short_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def short_names(paths: Sequence[str]) -> dict:
    """The shortest dotted suffix of each path that no other path shares."""
    out = {}
    for path in paths:
        parts = path.split(".")
        for k in range(1, len(parts) + 1):
            suffix = ".".join(parts[-k:])
            if not any(p != path and (p == suffix or p.endswith("." + suffix)) for p in paths):
                break
        out[path] = suffix
    return out


def _factors(levers, uncertainties, what) -> list:
    """``[(kind, path, spec)]`` from the design's two mappings."""
    factors = []
    for kind, arg, given in (("lever", "levers", levers), ("uncertainty", "uncertainties", uncertainties)):
        if given is None:
            continue
        if not isinstance(given, Mapping):
            raise ParamError(f"{arg} must be a mapping of dotted path to {what}, got {given!r}")
        for path, spec in given.items():
            if not isinstance(path, str) or not path:
                raise ParamError(f"a {kind} must be a dotted parameter path, got {path!r}")
            factors.append((kind, path, spec))
    paths = [p for _, p, _ in factors]
    dup = {p for p in paths if paths.count(p) > 1}
    if dup:
        raise ParamError(f"{sorted(dup)[0]!r} is both a lever and an uncertainty; "
                         f"a path must be one or the other")
    if not factors:
        raise ParamError("a design needs at least one lever or uncertainty")
    return factors


def _scenario(factors, values, short, at_week, name=None) -> Scenario:
    levers = {p: v for (kind, p, _), v in zip(factors, values) if kind == "lever"}
    uncertainties = {p: v for (kind, p, _), v in zip(factors, values) if kind == "uncertainty"}
    if name is None:
        parts = (", ".join(f"{short[p]}={_short_value(v)}" for p, v in changes.items())
                 for changes in (levers, uncertainties))
        name = " | ".join(part for part in parts if part)
    return Scenario(name, levers=levers, uncertainties=uncertainties, at_week=at_week)


def _bounds(path, spec):
    try:
        low, high = spec
    except (TypeError, ValueError):
        raise ParamError(f"{path}: bounds must be a pair (low, high), got {spec!r}") from None
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not np.isfinite(v):
            raise ParamError(f"{path}: bounds must be finite numbers, got {spec!r}")
    if not low < high:
        raise ParamError(f"{path}: low bound must be below the high bound, got ({low!r}, {high!r})")
    return _plain(low), _plain(high)


def full_factorial(*, levers: Mapping | None = None, uncertainties: Mapping | None = None,
                   at_week: int = 0) -> list:
    """Every combination of the given levels.

    Parameters
    ----------
    levers, uncertainties : mapping of dotted path to a sequence of values
        The levels of each factor.
    at_week : int
        Week the levers take effect; uncertainties hold from week 0.

    Returns
    -------
    list of Scenario
        Named ``"lever=value, ... | uncertainty=value, ..."`` with the
        shortest unambiguous suffix of each path; the last factor varies
        fastest.
    """
    factors = _factors(levers, uncertainties, "a sequence of levels")
    for _, path, levels in factors:
        if isinstance(levels, (str, bytes)) or not isinstance(levels, Sequence) or len(levels) == 0:
            raise ParamError(f"{path}: levels must be a non-empty sequence, got {levels!r}")
        plain = [_plain(v) for v in levels]
        if any(plain.count(v) > 1 for v in plain):
            raise ParamError(f"{path}: levels must be distinct, got {list(levels)!r}")
    short = short_names([p for _, p, _ in factors])
    grid = itertools.product(*[[_plain(v) for v in spec] for _, _, spec in factors])
    return [_scenario(factors, values, short, at_week) for values in grid]


def one_at_a_time(*, levers: Mapping | None = None, uncertainties: Mapping | None = None,
                  at_week: int = 0, baseline: str = "baseline") -> list:
    """The base, then each factor at its low and at its high value, the rest at base.

    The scenarios for a tornado chart: paired differences against
    ``baseline`` give each factor's effect in each direction.

    Parameters
    ----------
    levers, uncertainties : mapping of dotted path to (low, high)
    at_week : int
        Week the levers take effect; uncertainties hold from week 0.
    baseline : str
        Name of the first scenario, which changes nothing.

    Returns
    -------
    list of Scenario
        ``[baseline, "path=low", "path=high", ...]`` (``2 k + 1`` scenarios).
    """
    factors = _factors(levers, uncertainties, "a (low, high) pair")
    short = short_names([p for _, p, _ in factors])
    out = [Scenario(baseline)]
    for i, (_, path, spec) in enumerate(factors):
        for value in _bounds(path, spec):
            out.append(_scenario([factors[i]], [value], short, at_week))
    return out


def latin_hypercube(n: int = 10, *, levers: Mapping | None = None,
                    uncertainties: Mapping | None = None, seed: int = 0, at_week: int = 0) -> list:
    """``n`` scenarios spread over a box by Latin hypercube sampling.

    Uses :class:`scipy.stats.qmc.LatinHypercube` with a generator seeded
    from ``numpy.random.SeedSequence(seed)``.  A factor whose bounds are both
    integers takes integer values, each equally likely (the stratum
    ``[low, high + 1)`` floored).

    Parameters
    ----------
    n : int
        Number of scenarios, >= 1.
    levers, uncertainties : mapping of dotted path to (low, high)
    seed : int
        Seed of the sample (not of the simulation runs).
    at_week : int
        Week the levers take effect; uncertainties hold from week 0.

    Returns
    -------
    list of Scenario
        Named ``"lhs 1"`` ... ``"lhs n"``; their levers and uncertainties
        hold the sampled values.
    """
    from scipy.stats import qmc

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParamError(f"n must be an integer >= 1, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParamError(f"seed must be an integer >= 0, got {seed!r}")
    factors = _factors(levers, uncertainties, "a (low, high) pair")
    bounds = [_bounds(path, spec) for _, path, spec in factors]
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    try:
        sampler = qmc.LatinHypercube(d=len(factors), rng=rng)
    except TypeError:  # scipy < 1.15 calls it seed
        sampler = qmc.LatinHypercube(d=len(factors), seed=rng)
    unit = sampler.random(int(n))
    columns = []
    for j, (low, high) in enumerate(bounds):
        if isinstance(low, int) and isinstance(high, int):
            columns.append([int(v) for v in np.minimum(np.floor(low + unit[:, j] * (high - low + 1)), high)])
        else:
            columns.append([float(v) for v in low + unit[:, j] * (high - low)])
    return [_scenario(factors, [col[i] for col in columns], {}, at_week, name=f"lhs {i + 1}")
            for i in range(int(n))]

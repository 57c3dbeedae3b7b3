"""Scenario files: an experiment written in TOML, validated before anything runs.

A scenario file names a base (a preset, a parameter file, or the defaults,
with overrides), the scenarios (lever changes and their weeks), optionally
a design that generates scenarios, the experiment settings and what the
report shows.  ``docs/consultants.md`` documents every key; ``examples/``
holds files to start from::

    [base]
    preset = "workshop"

    [experiment]
    replications = 5
    horizon = 104
    warmup = 13
    seed = 2026

    [scenarios.baseline]
    description = "As today"

    [scenarios.invest]
    description = "Internal tools and one more IT employee from week 13"
    at_week = 13
    changes = { "internal.tools_spend_per_week" = 3000.0, "internal.departments.it.n_staff" = 3 }

:func:`load_scenario_file` reads a file into a :class:`Plan` (an
:class:`~spchain.experiments.experiment.Experiment` plus run and report settings).  Every
problem raises :class:`ScenarioFileError` naming the file, the key path
(``scenarios.invest.changes."internal.tools_spend_per_week"``), the value
and what was expected, with the nearest valid name for a typo.  Files are
parsed with :mod:`tomllib` (``tomli`` on Python 3.10); nothing in a file is
ever evaluated as code.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..params import Change, ParamError, Params, check_schedulable, suggest
from .tables import DEFAULT_REPORT_METRICS, MONEY_SCALES

__all__ = ["ScenarioFileError", "Plan", "SensitivitySpec", "SelectionSpec", "load_scenario_file",
           "read_parameter_file", "dumps_toml"]

_KEYS = {
    "": ("base", "experiment", "scenarios", "design", "report", "sensitivity", "selection"),
    "base": ("preset", "file", "parameters"),
    "experiment": ("replications", "horizon", "warmup", "seed", "workers", "baseline", "crn"),
    "scenario": ("description", "at_week", "changes", "steps", "uncertainties", "cost"),
    "step": ("at_week", "changes"),
    "design": ("kind", "levers", "uncertainties", "at_week", "n", "seed", "baseline"),
    "report": ("title", "metrics", "focus", "level", "currency", "money_scale"),
    "sensitivity": ("method", "kpi", "factors", "groups", "trajectories", "levels", "n", "replications",
                    "window", "bootstrap", "seed"),
    "selection": ("kpi", "delta", "alpha", "direction", "procedure", "n0", "budget", "batch", "scenarios"),
}
_METHODS = ("morris", "sobol")
_DESIGNS = ("one_at_a_time", "full_factorial", "latin_hypercube")
#: Most scenarios a [design] may generate (each is validated when the file is read).
_MAX_DESIGN = 10_000
#: The smallest useful scenario file, shown when a file is empty.
_MINIMAL = """[base]
preset = "workshop"

[experiment]
replications = 5
horizon = 52

[scenarios.baseline]
description = "As today"
"""


class ScenarioFileError(ParamError):
    """A scenario or parameter file is unreadable or invalid.

    Attributes
    ----------
    file : str
        The file.
    key : str
        Key path of the offending entry (empty for syntax errors).
    """

    def __init__(self, file, key, message):
        self.file, self.key = str(file), key
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")


@dataclass(frozen=True)
class Plan:
    """A validated scenario file: the experiment and how to run and report it.

    Attributes
    ----------
    experiment : Experiment
    workers : int
        Local worker processes (``[experiment] workers``).
    title : str
        Report title.
    metrics : tuple of str
        KPIs of the report's scenario table and comparison charts.
    focus : str
        KPI of the fan chart and the tornado chart.
    level : float
        Confidence level of every interval in the report.
    currency : str
        What the model's money is in (``"EUR"``, ``"USD"``...); every amount
        in the report names it.  Default ``"money units"``.
    money_scale : str
        ``"units"``, ``"thousands"`` or ``"millions"``: the amounts of the
        report's tables and findings are divided by it (CSV files stay in
        units of the currency).
    costs : dict of str to float
        One-off cost of each scenario (outside the model) for its return.
    descriptions : dict of str to str
        Scenario descriptions.
    base : str
        What the base parameters are, in words.
    source : str
        The file (empty when built in code).
    sensitivity : SensitivitySpec or None
        The file's ``[sensitivity]`` section (what ``spchain sensitivity`` runs).
    selection : SelectionSpec or None
        The file's ``[selection]`` section (what ``spchain select`` runs).
    """

    experiment: Any
    workers: int = 1
    title: str = "spchain scenario report"
    metrics: tuple = DEFAULT_REPORT_METRICS
    focus: str = "profit"
    level: float = 0.95
    currency: str = "money units"
    money_scale: str = "units"
    costs: dict = field(default_factory=dict)
    descriptions: dict = field(default_factory=dict)
    base: str = "spchain defaults"
    source: str = ""
    sensitivity: "SensitivitySpec | None" = None
    selection: "SelectionSpec | None" = None

    def settings(self) -> dict:
        """The report settings as JSON-able data (written next to the results)."""
        return {"title": self.title, "metrics": list(self.metrics), "focus": self.focus,
                "level": self.level, "currency": self.currency, "money_scale": self.money_scale,
                "costs": dict(self.costs), "descriptions": dict(self.descriptions),
                "base": self.base, "source": self.source, "workers": self.workers}


@dataclass(frozen=True)
class SensitivitySpec:
    """A scenario file's ``[sensitivity]`` section: which factors, which KPI, which method.

    The runs use the file's base parameters, ``[experiment]`` horizon and
    warm-up (the KPI is read over the weeks after it) and, unless the
    section sets its own, ``[experiment]`` seed.

    Attributes
    ----------
    method : str
        ``"morris"`` (screening, :func:`spchain.experiments.sensitivity.morris`) or
        ``"sobol"`` (:func:`spchain.experiments.sensitivity.sobol`).
    kpi : str
        A key of :data:`spchain.METRICS`.
    factors : dict of str to tuple
        Dotted parameter path -> ``(low, high)``; integer bounds give integer values.
    groups : dict of str to tuple of str, or None
        Group name -> its factor paths; one index per group.
    n_trajectories : int
        Morris trajectories (``trajectories``).
    num_levels : int
        Morris grid levels (``levels``).
    n : int
        Sobol' base sample size, a power of 2.
    n_replications : int or None
        Replications per design point; None (``replications = "plan"``)
        measures the noise first (:func:`spchain.experiments.sensitivity.plan_replications`).
    window : int or None
        Weeks per output window (indices over time); None: one output.
    n_bootstrap : int
        Sobol' bootstrap resamples (``bootstrap``).
    seed : int
        Seed of the runs (common random numbers), the sample and the bootstrap.
    """

    method: str
    kpi: str
    factors: dict
    groups: dict | None = None
    n_trajectories: int = 10
    num_levels: int = 4
    n: int = 256
    n_replications: int | None = None
    window: int | None = None
    n_bootstrap: int = 200
    seed: int = 0

    @property
    def n_groups(self) -> int:
        """Factors, or groups when groups are given."""
        return len(self.groups) if self.groups else len(self.factors)

    def n_points(self) -> int:
        """Design points: ``trajectories * (groups + 1)`` (Morris) or ``n * (groups + 2)`` (Sobol')."""
        if self.method == "morris":
            return self.n_trajectories * (self.n_groups + 1)
        return self.n * (self.n_groups + 2)

    def max_runs(self) -> int:
        """Most runs the analysis can take (with ``replications = "plan"``: the plan's cap of 64, plus its 26 runs)."""
        from ..experiments.sensitivity import plan_replications

        if self.n_replications is not None:
            return self.n_points() * self.n_replications
        cap = plan_replications.__kwdefaults__
        return self.n_points() * cap["max_replications"] + cap["n_centre"] + 2 * cap["n_spread"]

    def model(self, params, *, horizon: int, warmup: int, executor=None, store=None):
        """The :class:`spchain.experiments.sensitivity.SimulationModel` this section runs."""
        from ..experiments.sensitivity import SimulationModel

        return SimulationModel(params, kpi=self.kpi, horizon=horizon, start=warmup, seed=self.seed,
                               executor=executor, window=self.window, store=store)

    def run(self, params, *, horizon: int, warmup: int, executor=None, store=None):
        """Run the analysis: ``spchain.experiments.sensitivity.morris`` or ``sobol`` with this section's settings.

        Parameters
        ----------
        params : Params
            Base parameters (the file's ``[base]``).
        horizon, warmup : int
            Weeks per run and weeks before the KPI's window.
        executor : concurrent.futures.Executor, optional
            Where the runs go; serial when None.
        store : str or Path, optional
            A :class:`spchain.experiments.store.SensitivityStore` file; runs already in it are read back.

        Returns
        -------
        MorrisResult or SobolResult
        """
        from ..experiments import sensitivity

        model = self.model(params, horizon=horizon, warmup=warmup, executor=executor, store=store)
        groups = {k: list(v) for k, v in self.groups.items()} if self.groups else None
        if self.method == "morris":
            return sensitivity.morris(model, self.factors, n_trajectories=self.n_trajectories,
                                      num_levels=self.num_levels, n_replications=self.n_replications, groups=groups,
                                      seed=self.seed)
        return sensitivity.sobol(model, self.factors, n=self.n, n_replications=self.n_replications, groups=groups,
                                 seed=self.seed, n_bootstrap=self.n_bootstrap)

    def to_dict(self) -> dict:
        """The section as JSON-able data (written to the report's manifest)."""
        return {"method": self.method, "kpi": self.kpi, "factors": {k: list(v) for k, v in self.factors.items()},
                "groups": {k: list(v) for k, v in self.groups.items()} if self.groups else None,
                "trajectories": self.n_trajectories, "levels": self.num_levels, "n": self.n,
                "replications": "plan" if self.n_replications is None else self.n_replications,
                "window": self.window, "bootstrap": self.n_bootstrap, "seed": self.seed}


@dataclass(frozen=True)
class SelectionSpec:
    """A scenario file's ``[selection]`` section: choose the best of its scenarios for a KPI.

    Runs :func:`spchain.experiments.selection.select_best` on the file's base, with its
    ``[experiment]`` horizon, warm-up and seed.

    Attributes
    ----------
    kpi : str
        A key of :data:`spchain.METRICS`; each run's total after the warm-up is compared.
    delta : float
        Indifference zone in the KPI's unit over the run.
    alpha : float
        One minus the confidence.
    direction : str
        ``"max"`` or ``"min"`` (default: from the KPI's direction).
    procedure : str
        ``"kn++"``, ``"kn"``, ``"rinott"`` or ``"ocba"``.
    n0 : int
        First-stage replications per scenario.
    budget : int or None
        Total runs (``"ocba"`` only).
    batch : int or None
        Runs per scenario added at a time (see :func:`spchain.experiments.selection.select`).
    scenarios : tuple of str
        The scenarios compared, in order (default: every scenario of the file).
    """

    kpi: str
    delta: float
    alpha: float = 0.05
    direction: str = "max"
    procedure: str = "kn++"
    n0: int = 10
    budget: int | None = None
    batch: int | None = None
    scenarios: tuple = ()

    def first_stage_runs(self) -> int:
        """Runs certain to be made: the budget (OCBA) or ``n0`` per scenario (the later stages depend on the noise)."""
        return self.budget if self.procedure == "ocba" else self.n0 * len(self.scenarios)

    def run(self, experiment, *, executor=None):
        """Run the selection among ``experiment``'s scenarios named here.

        Parameters
        ----------
        experiment : Experiment
            The file's experiment: base, scenarios, horizon, warm-up and seed.
        executor : concurrent.futures.Executor, optional

        Returns
        -------
        Selection
        """
        from ..experiments.selection import select_best

        chosen = [s for name in self.scenarios for s in experiment.scenarios if s.name == name]
        return select_best(experiment.base, chosen, kpi=self.kpi, delta=self.delta, alpha=self.alpha,
                           direction=self.direction, procedure=self.procedure, n0=self.n0, budget=self.budget,
                           horizon=experiment.horizon, warmup=experiment.warmup, seed=experiment.seed,
                           batch=self.batch, executor=executor)

    def to_dict(self) -> dict:
        """The section as JSON-able data."""
        return {"kpi": self.kpi, "delta": self.delta, "alpha": self.alpha, "direction": self.direction,
                "procedure": self.procedure, "n0": self.n0, "budget": self.budget, "batch": self.batch,
                "scenarios": list(self.scenarios)}


# ----------------------------------------------------------------- reading
def _read(path: Path, file_label: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.toml"))[:3]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        raise ScenarioFileError(file_label, "", f"is a directory, not a file; give the path of a TOML "
                                                f"file{hint}")
    if not path.is_file():
        raise ScenarioFileError(file_label, "", "no such file")
    text = path.read_bytes()
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ScenarioFileError(file_label, "", f"invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ScenarioFileError(file_label, "", "a JSON parameter file must hold an object")
        return data
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ScenarioFileError(file_label, "", f"not UTF-8 text: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioFileError(file_label, "", f"invalid TOML: {exc}") from None


def _key(prefix: str, name: str) -> str:
    part = name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else json.dumps(name)
    return f"{prefix}.{part}" if prefix else part



class _Checker:
    """Typed access to a file's entries, raising errors that name the file and key."""

    def __init__(self, file):
        self.file = file

    def fail(self, key, message):
        raise ScenarioFileError(self.file, key, message)

    def table(self, value, key, kind=None):
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {_show(value)}")
        if kind is not None:
            for name in value:
                if name not in _KEYS[kind]:
                    where = f"unknown key {name!r}" if kind else f"unknown section {name!r}"
                    self.fail(_key(key, name), f"{where}{suggest(name, _KEYS[kind])}; expected one of "
                                               f"{list(_KEYS[kind])}")
        return value

    def integer(self, value, key, low, high=None):
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer >= {low}, got {_show(value)}")
        if value < low or (high is not None and value > high):
            bound = f">= {low}" + (f" and <= {high}" if high is not None else "")
            self.fail(key, f"expected an integer {bound}, got {value!r}")
        return value

    def number(self, value, key, *, low=None, high=None, open_low=False, open_high=False):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(key, f"expected a finite number, got {_show(value)}")
        if low is not None and (value < low or (open_low and value == low)) or \
                high is not None and (value > high or (open_high and value == high)):
            lo = f"{'>' if open_low else '>='} {low}" if low is not None else ""
            hi = f"{'<' if open_high else '<='} {high}" if high is not None else ""
            self.fail(key, f"expected a number {' and '.join(b for b in (lo, hi) if b)}, got {value!r}")
        return float(value)

    def string(self, value, key):
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty string, got {_show(value)}")
        return value

    def choice(self, value, key, options, what):
        self.string(value, key)
        if value not in options:
            self.fail(key, f"unknown {what} {value!r}{suggest(value, options)}; expected one of {list(options)}")
        return value


def _show(value) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})" if not isinstance(value, (dict, list)) else kind


def _flatten(table: Mapping, prefix="") -> dict:
    """Nested tables to dotted paths; ``{"workforce": {"n_employees": 7}}`` -> ``{"workforce.n_employees": 7}``."""
    out = {}
    for name, value in table.items():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict) and value:
            out.update(_flatten(value, path))
        else:
            out[path] = value
    return out


def _override(check, params, path, value, key):
    try:
        return params.override({path: value})
    except ParamError as exc:
        check.fail(key, str(exc))


# -------------------------------------------------------------- base params
def read_parameter_file(path, *, _seen=()) -> tuple:
    """Parameters from a parameter file: ``(Params, description)``.

    A parameter file is TOML (or JSON) with an optional ``preset`` and
    sections named like :meth:`spchain.Params.to_dict` (``[workforce]``,
    ``[links]``...; missing entries keep the preset's or the default
    values) and an optional ``schedule`` array; or a scenario file, whose
    ``[base]`` is used.

    Raises
    ------
    ScenarioFileError
        Naming the file and key.
    """
    path = Path(path)
    if path.resolve() in _seen:
        raise ScenarioFileError(path, "", "parameter files refer to each other in a loop")
    data = _read(path, str(path))
    check = _Checker(str(path))
    if "base" in data:
        return _base(check, data["base"], path.parent, _seen + (path.resolve(),))
    from ..params import STAGE_CLASSES
    from ..presets import PRESETS, preset

    sections = set(STAGE_CLASSES) | {"preset", "schedule"}
    for name in data:
        if name not in sections:
            check.fail(_key("", name), f"unknown section {name!r}{suggest(name, sections)}; expected one "
                                       f"of {sorted(sections)}")
    params, what = Params(), "spchain defaults"
    if "preset" in data:
        name = check.choice(data["preset"], "preset", PRESETS, "preset")
        params, what = preset(name), f"preset {name!r}"
    for name in STAGE_CLASSES:
        if name in data:
            for p, v in _flatten(check.table(data[name], name), name).items():
                params = _override(check, params, p, v, p)
    for i, entry in enumerate(data.get("schedule", [])):
        key = f"schedule[{i}]"
        check.table(entry, key)
        try:
            params = params.with_changes(Change(**entry))
        except (TypeError, ParamError) as exc:
            check.fail(key, f"expected keys at_week, path, value: {exc}")
    return params, f"{what} with parameter file {path.name}"


def _base(check, table, folder: Path, seen=()) -> tuple:
    from ..presets import PRESETS, preset

    check.table(table, "base", "base")
    if "preset" in table and "file" in table:
        check.fail("base", "give a preset or a parameter file, not both")
    params, what = Params(), "spchain defaults"
    if "preset" in table:
        name = check.choice(table["preset"], "base.preset", PRESETS, "preset")
        params, what = preset(name), f"preset {name!r}"
    if "file" in table:
        target = folder / check.string(table["file"], "base.file")
        if not target.is_file():
            check.fail("base.file", f"no parameter file {str(target)!r} (paths are relative to the scenario file)")
        params, what = read_parameter_file(target, _seen=seen)
    overrides = _flatten(check.table(table.get("parameters", {}), "base.parameters"))
    for path, value in overrides.items():
        params = _override(check, params, path, value, _key("base.parameters", path))
    if overrides:
        what += f", {len(overrides)} parameter{'s' if len(overrides) > 1 else ''} overridden"
    return params, what


# ---------------------------------------------------------------- scenarios
def _schedulable(check, path, at_week, key):
    """Refuse, under ``key``, a change after week 0 to a parameter fixed for a whole run."""
    if at_week > 0:  # week-0 changes override the base; later ones are scheduled
        try:
            check_schedulable(path, at_week)
        except ParamError as exc:
            check.fail(key, str(exc))


def _changes(check, params, table, key, at_week, horizon):
    out = []
    for path, value in _flatten(check.table(table, key)).items():
        k = _key(key, path)
        _override(check, params, path, value, k)
        _schedulable(check, path, at_week, k)
        if at_week >= horizon:
            check.fail(k, f"change at week {at_week} is beyond the horizon of {horizon} weeks")
        out.append(Change(at_week=at_week, path=path, value=value))
    return out


def _scenario(check, params, name, table, horizon):
    from ..experiments.scenarios import Scenario

    key = _key("scenarios", name)
    check.table(table, key, "scenario")
    at_week = check.integer(table.get("at_week", 0), f"{key}.at_week", 0)
    levers = _changes(check, params, table.get("changes", {}), f"{key}.changes", at_week, horizon)
    steps = table.get("steps", [])
    if not isinstance(steps, list):
        check.fail(f"{key}.steps", f"expected an array of tables ([[{key}.steps]]), got {_show(steps)}")
    for i, step in enumerate(steps):
        skey = f"{key}.steps[{i}]"
        check.table(step, skey, "step")
        if "at_week" not in step or "changes" not in step:
            check.fail(skey, "each step needs at_week and changes")
        week = check.integer(step["at_week"], f"{skey}.at_week", 0)
        levers += _changes(check, params, step["changes"], f"{skey}.changes", week, horizon)
    unc = _changes(check, params, table.get("uncertainties", {}), f"{key}.uncertainties", 0, horizon)
    cost = check.number(table.get("cost", 0.0), f"{key}.cost", low=0)
    description = table.get("description", "")
    if description:
        check.string(description, f"{key}.description")
    try:
        return Scenario(name, levers=levers, uncertainties=unc), cost, description
    except ParamError as exc:
        check.fail(key, str(exc))


def _design(check, params, table, horizon):
    from ..experiments import scenarios

    check.table(table, "design", "design")
    if "kind" not in table:
        check.fail("design.kind", f"missing; expected one of {list(_DESIGNS)}")
    kind = check.choice(table["kind"], "design.kind", _DESIGNS, "design")
    at_week = check.integer(table.get("at_week", 0), "design.at_week", 0)
    args = {}
    for part in ("levers", "uncertainties"):
        factors = _flatten(check.table(table.get(part, {}), f"design.{part}"))
        for path, spec in factors.items():
            k = _key(f"design.{part}", path)
            if not isinstance(spec, list) or not spec:
                check.fail(k, f"expected an array of {'levels' if kind == 'full_factorial' else '[low, high]'}, "
                              f"got {_show(spec)}")
            if kind != "full_factorial" and len(spec) != 2:
                check.fail(k, f"expected [low, high], got {spec!r}")
            for v in spec:
                _override(check, params, path, v, k)
            week = at_week if part == "levers" else 0
            _schedulable(check, path, week, k)
            if week >= horizon:
                check.fail(k, f"change at week {week} is beyond the horizon of {horizon} weeks")
        args[part] = factors or None
    if not args["levers"] and not args["uncertainties"]:
        check.fail("design", "a design needs at least one entry in levers or uncertainties")
    if kind == "full_factorial":
        n_cells = math.prod(len(spec) for part in args.values() for spec in (part or {}).values())
        if n_cells > _MAX_DESIGN:
            check.fail("design", f"a full factorial of these levels has {n_cells:,} scenarios; expected at "
                                 f"most {_MAX_DESIGN:,} (use fewer levels, or kind = \"latin_hypercube\")")
    if kind == "one_at_a_time":
        baseline = check.string(table.get("baseline", "baseline"), "design.baseline")
    if kind == "latin_hypercube":
        n = check.integer(table.get("n", 10), "design.n", 1, _MAX_DESIGN)
        seed = check.integer(table.get("seed", 0), "design.seed", 0)
    try:
        if kind == "one_at_a_time":
            return scenarios.one_at_a_time(**args, at_week=at_week, baseline=baseline)
        if kind == "full_factorial":
            return scenarios.full_factorial(**args, at_week=at_week)
        return scenarios.latin_hypercube(n, **args, seed=seed, at_week=at_week)
    except ParamError as exc:
        check.fail("design", str(exc))


def _report(check, table, names):
    from ..metrics import METRICS

    check.table(table, "report", "report")
    metrics = table.get("metrics", list(DEFAULT_REPORT_METRICS))
    if not isinstance(metrics, list) or not metrics:
        check.fail("report.metrics", f"expected a non-empty array of KPI names, got {_show(metrics)}")
    for i, m in enumerate(metrics):
        check.choice(m, f"report.metrics[{i}]", METRICS, "KPI")
    out = dict(metrics=tuple(metrics),
               focus=check.choice(table.get("focus", "profit"), "report.focus", METRICS, "KPI"),
               level=check.number(table.get("level", 0.95), "report.level", low=0, high=1,
                                  open_low=True, open_high=True))
    if "title" in table:
        out["title"] = check.string(table["title"], "report.title")
    if "currency" in table:
        currency = check.string(table["currency"], "report.currency")
        if len(currency.strip()) > 20:
            check.fail("report.currency", f"expected a currency name or code of at most 20 characters "
                                          f"(such as \"EUR\"), got {currency!r}")
        out["currency"] = currency.strip()
    if "money_scale" in table:
        out["money_scale"] = check.choice(table["money_scale"], "report.money_scale", MONEY_SCALES, "money scale")
    return out


def _sensitivity(check, params, table, horizon, warmup, seed):
    from ..metrics import METRICS

    check.table(table, "sensitivity", "sensitivity")
    if "method" not in table:
        check.fail("sensitivity.method", f"missing; expected one of {list(_METHODS)}")
    method = check.choice(table["method"], "sensitivity.method", _METHODS, "method")
    kpi = check.choice(table.get("kpi", "profit"), "sensitivity.kpi", METRICS, "KPI")
    factors = _sensitivity_factors(check, params, table)
    groups = _sensitivity_groups(check, table["groups"], factors) if "groups" in table else None
    out = dict(method=method, kpi=kpi, factors=factors, groups=groups, **_design_size(check, table, method))
    reps = table.get("replications", "plan")
    if reps != "plan":
        if isinstance(reps, str):
            check.fail("sensitivity.replications", f'expected an integer >= 1 or "plan", got {_show(reps)}')
        reps = check.integer(reps, "sensitivity.replications", 1, 100_000)
    out["n_replications"] = None if reps == "plan" else reps
    if "window" in table:
        out["window"] = check.integer(table["window"], "sensitivity.window", 1, horizon - warmup)
    out["seed"] = check.integer(table.get("seed", seed), "sensitivity.seed", 0)
    return SensitivitySpec(**out)


def _sensitivity_factors(check, params, table) -> dict:
    """``[sensitivity.factors]``: parameter path -> ``(low, high)``, both ends valid values of the parameter."""
    if "factors" not in table:
        check.fail("sensitivity.factors", 'missing; expected a table of parameter path = [low, high], e.g. '
                                          '{ "links.satisfaction_from_internal" = [0.5, 1.5] }')
    factors = {}
    for path, spec in _flatten(check.table(table["factors"], "sensitivity.factors")).items():
        key = _key("sensitivity.factors", path)
        if not isinstance(spec, list) or len(spec) != 2:
            check.fail(key, f"expected [low, high], got {spec!r}" if isinstance(spec, list) else
                            f"expected [low, high], got {_show(spec)}")
        low = check.number(spec[0], f"{key}[0]")
        high = check.number(spec[1], f"{key}[1]")
        if not low < high:
            check.fail(key, f"expected low < high, got {spec!r}")
        for value in spec:
            _override(check, params, path, value, key)
        factors[path] = tuple(spec)
    if not factors:
        check.fail("sensitivity.factors", "expected at least one factor (parameter path = [low, high])")
    return factors


def _sensitivity_groups(check, table, factors) -> dict:
    """``[sensitivity.groups]``: group name -> its factors; every factor in exactly one group."""
    groups, group_of = {}, {}
    for name, members in check.table(table, "sensitivity.groups").items():
        key = _key("sensitivity.groups", name)
        if not isinstance(members, list) or not members:
            check.fail(key, f"expected a non-empty array of factor paths, got {_show(members)}")
        for i, member in enumerate(members):
            check.choice(member, f"{key}[{i}]", list(factors), "factor")
            if member in group_of:
                check.fail(f"{key}[{i}]", f"{member!r} is already in group {group_of[member]!r}; a factor "
                                          f"belongs to one group")
            group_of[member] = name
        groups[name] = tuple(members)
    missing = [path for path in factors if path not in group_of]
    if missing:
        check.fail("sensitivity.groups", f"factors {missing} are in no group; every factor needs one")
    if not groups:
        check.fail("sensitivity.groups", "expected at least one group (name = [factor paths])")
    return groups


def _design_size(check, table, method) -> dict:
    """The method's own options: Morris' trajectories and grid levels, or Sobol' n and bootstrap."""
    if method == "morris":
        for other in ("n", "bootstrap"):
            if other in table:
                check.fail(f"sensitivity.{other}",
                           "is for method = \"sobol\"; Morris takes trajectories and levels")
        n_trajectories = check.integer(table.get("trajectories", 10), "sensitivity.trajectories", 2, 10_000)
        levels = check.integer(table.get("levels", 4), "sensitivity.levels", 2, 100)
        if levels % 2:
            check.fail("sensitivity.levels", f"expected an even number of grid levels, got {levels}")
        return dict(n_trajectories=n_trajectories, num_levels=levels)
    for other in ("trajectories", "levels"):
        if other in table:
            check.fail(f"sensitivity.{other}", "is for method = \"morris\"; Sobol' takes n and bootstrap")
    n = check.integer(table.get("n", 256), "sensitivity.n", 8, 2 ** 20)
    if n & (n - 1):
        check.fail("sensitivity.n", f"expected a power of 2 (the Sobol' sequence's balance), got {n}; "
                                    f"nearest: {2 ** round(math.log2(n))}")
    return dict(n=n, n_bootstrap=check.integer(table.get("bootstrap", 200), "sensitivity.bootstrap", 20, 100_000))


def _selection(check, table, names):
    from ..metrics import METRICS
    from ..experiments.selection import PROCEDURES

    check.table(table, "selection", "selection")
    kpi = check.choice(table.get("kpi", "profit"), "selection.kpi", METRICS, "KPI")
    better = METRICS[kpi].better
    if "direction" in table:
        direction = check.choice(table["direction"], "selection.direction", ("max", "min"), "direction")
    elif better in ("higher", "lower"):
        direction = "max" if better == "higher" else "min"
    else:
        check.fail("selection.direction", f"missing; {kpi!r} is neither better high nor low, so say "
                                          f"\"max\" or \"min\"")
    if "delta" not in table:
        check.fail("selection.delta", f"missing; expected the smallest difference in {kpi} over a run worth "
                                      f"detecting (a number > 0, the indifference zone)")
    delta = check.number(table["delta"], "selection.delta", low=0, open_low=True)
    procedure = check.choice(table.get("procedure", "kn++"), "selection.procedure", PROCEDURES, "procedure")
    chosen = table.get("scenarios", list(names))
    if not isinstance(chosen, list):
        check.fail("selection.scenarios", f"expected an array of scenario names, got {_show(chosen)}")
    for i, name in enumerate(chosen):
        check.choice(name, f"selection.scenarios[{i}]", list(names), "scenario")
    if len(set(chosen)) != len(chosen):
        check.fail("selection.scenarios", f"expected each scenario once, got {chosen!r}")
    k = len(chosen)
    if k < 2:
        check.fail("selection.scenarios" if "scenarios" in table else "selection",
                   f"a selection needs at least 2 scenarios, got {k} ({chosen!r})")
    alpha = check.number(table.get("alpha", 0.05), "selection.alpha", low=0, high=1, open_low=True, open_high=True)
    if procedure != "ocba" and not alpha < 1 - 1 / k:
        check.fail("selection.alpha", f"expected < 1 - 1/k = {1 - 1 / k:.3g} for {k} scenarios (otherwise a "
                                      f"guess would do), got {alpha!r}")
    n0 = check.integer(table.get("n0", 10), "selection.n0", 2, 100_000)
    budget = None
    if procedure == "ocba":
        if "budget" not in table:
            check.fail("selection.budget", f"missing; procedure \"ocba\" needs a budget of runs, at least "
                                           f"n0 x scenarios = {n0 * k}")
        budget = check.integer(table["budget"], "selection.budget", n0 * k, 10_000_000)
    elif "budget" in table:
        check.fail("selection.budget", f"is for procedure \"ocba\" only; {procedure!r} decides its own "
                                       f"replications")
    batch = check.integer(table["batch"], "selection.batch", 1, 100_000) if "batch" in table else None
    return SelectionSpec(kpi=kpi, delta=delta, alpha=alpha, direction=direction, procedure=procedure, n0=n0,
                         budget=budget, batch=batch, scenarios=tuple(chosen))


def load_scenario_file(path, *, workers: int | None = None) -> Plan:
    """Read and validate a scenario file; nothing runs.

    Parameters
    ----------
    path : str or Path
        A TOML scenario file.
    workers : int, optional
        Overrides ``[experiment] workers``.

    Returns
    -------
    Plan

    Raises
    ------
    ScenarioFileError
        The first problem found, naming the file, the key path, the value
        and what was expected.
    """
    from ..experiments.experiment import Experiment

    path = Path(path)
    data = _read(path, str(path))
    check = _Checker(str(path))
    check.table(data, "", "")
    if not data:
        check.fail("", f"the file is empty (or holds only comments), so it says nothing to run; "
                       f"a minimal scenario file is:\n{_MINIMAL}")
    params, what = _base(check, data.get("base", {}), path.parent)
    exp = check.table(data.get("experiment", {}), "experiment", "experiment")
    n_rep = check.integer(exp.get("replications", 10), "experiment.replications", 1)
    horizon = check.integer(exp.get("horizon", 52), "experiment.horizon", 1)
    warmup = check.integer(exp.get("warmup", 0), "experiment.warmup", 0)
    if warmup >= horizon:
        check.fail("experiment.warmup", f"expected fewer weeks than the horizon ({horizon}), got {warmup}")
    seed = check.integer(exp.get("seed", 0), "experiment.seed", 0)
    n_workers = check.integer(exp.get("workers", 1), "experiment.workers", 1)
    crn = exp.get("crn", True)
    if not isinstance(crn, bool):
        check.fail("experiment.crn", f"expected true or false, got {_show(crn)}")
    scenarios, costs, descriptions = [], {}, {}
    for name, table in check.table(data.get("scenarios", {}), "scenarios").items():
        s, cost, description = _scenario(check, params, name, table, horizon)
        scenarios.append(s)
        costs[name], descriptions[name] = cost, description
    if "design" in data:
        for s in _design(check, params, data["design"], horizon):
            if s.name in costs:
                check.fail("design", f"the design's scenario {s.name!r} has the name of a scenario in "
                                     f"[scenarios]; rename one of them")
            scenarios.append(s)
            costs[s.name], descriptions[s.name] = 0.0, ""
    if not scenarios:
        from ..experiments.scenarios import Scenario

        scenarios, costs, descriptions = [Scenario("baseline")], {"baseline": 0.0}, {"baseline": ""}
    baseline = exp.get("baseline")
    if baseline is not None:
        check.choice(baseline, "experiment.baseline", list(costs), "scenario")
    report = _report(check, data.get("report", {}), list(costs))
    try:
        experiment = Experiment(params, scenarios=scenarios, n_replications=n_rep, horizon=horizon,
                                warmup=warmup, seed=seed, crn=crn, baseline=baseline)
    except ParamError as exc:
        check.fail("scenarios", str(exc))
    sensitivity = selection = None
    if "sensitivity" in data:
        sensitivity = _sensitivity(check, params, data["sensitivity"], horizon, warmup, seed)
    if "selection" in data:
        selection = _selection(check, data["selection"], experiment.names)
    if workers is not None:
        n_workers = workers
    title = report.pop("title", f"spchain report: {path.stem}")
    return Plan(experiment=experiment, workers=n_workers, title=title, costs=costs,
                descriptions=descriptions, base=what, source=str(path), sensitivity=sensitivity,
                selection=selection, **report)


# ------------------------------------------------------------------ writing
def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key('', k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} to TOML")


def dumps_toml(data: Mapping, *, comments: Mapping | None = None) -> str:
    """A nested mapping as TOML text (tables, arrays of tables, scalars, inline tables).

    ``comments`` maps a key path (``"base.parameters.\\"links.x\\""``) to a
    comment written at the end of that key's line.

    >>> print(dumps_toml({"base": {"preset": "workshop"}, "experiment": {"seed": 1}}))
    [base]
    preset = "workshop"
    <BLANKLINE>
    [experiment]
    seed = 1
    <BLANKLINE>
    """
    comments = comments or {}
    lines = []

    def table(prefix, body):
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict) and not _is_tables(v)}
        if prefix and (scalars or not body):
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            key = _key(prefix, k)
            note = f"  # {comments[key]}" if key in comments else ""
            lines.append(f"{_key('', k)} = {_toml_value(v)}{note}")
        if scalars or (prefix and not body):
            lines.append("")
        for k, v in body.items():
            if isinstance(v, dict):
                table(_key(prefix, k), v)
            elif _is_tables(v):
                for item in v:
                    lines.append(f"[[{_key(prefix, k)}]]")
                    lines.extend(f"{_key('', a)} = {_toml_value(b)}" for a, b in item.items())
                    lines.append("")

    table("", dict(data))
    return "\n".join(lines) + ("\n" if lines and lines[-1] else "")


def _is_tables(value) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, dict) for v in value)

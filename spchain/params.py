"""Model parameters: frozen, validated, one dataclass per stage of the chain.

Every field carries its unit, its bounds and its source in the dataclass
metadata; :func:`describe` renders them as a table.  Parameters are changed
by making a new object: ``params.override({"workforce.n_employees": 7})``.
Dotted paths address fields; departments are addressed by name
(``"internal.departments.it.n_staff"``).  :meth:`Params.to_dict` and
:meth:`Params.from_dict` round-trip through plain JSON/TOML-able data.

Time units: the simulation clock runs in *open hours*; a period is one week
of ``organisation.hours_per_week`` open hours.  Rates say their unit in the
field's metadata.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .links import LOYALTY_FORMS

__all__ = [
    "ParamError",
    "Organisation",
    "Department",
    "InternalService",
    "Workforce",
    "Customers",
    "Economics",
    "Links",
    "Measurement",
    "Change",
    "Params",
    "RUN_FIXED_PATHS",
    "STAGE_CLASSES",
    "suggest",
    "check_integer",
    "check_schedulable",
    "is_run_fixed",
    "run_fixed_differences",
    "describe",
]

ASSUMPTION = "assumption"

#: Parameters fixed for a whole run: the organisation's structure, the set of
#: departments, the service-time distribution's shape and the initial
#: customer base.  A scheduled change to them is refused
#: (:func:`check_schedulable`).  An entry ending in "." covers every path
#: below it; any other entry is that exact path only, so
#: ``"internal.departments"`` fixes the set of departments while each
#: department's fields (``"internal.departments.it.n_staff"``) stay levers.
RUN_FIXED_PATHS = ("organisation.", "internal.departments", "workforce.service_time_cv",
                   "customers.n_customers")


class ParamError(ValueError):
    """A parameter value, path or file entry is invalid.

    The message names the dotted path, the value and what was expected.
    """


def check_schedulable(path: str, at_week: int, *, context: str = "") -> None:
    """Refuse a scheduled change to a parameter fixed for a whole run.

    The one rule every entry point applies (:func:`spchain.simulate`,
    :class:`~spchain.experiments.scenarios.Scenario`,
    :class:`~spchain.experiments.experiment.Experiment`, scenario files): a path in
    :data:`RUN_FIXED_PATHS` -- or below an entry ending in ``"."`` -- cannot
    be in a schedule at any week, because the engine reads it once, at the
    start of a run.  Set it in the base parameters instead
    (:meth:`Params.override`), which a scenario's change at week 0 also
    does.

    Parameters
    ----------
    path : str
        Dotted parameter path of the change.
    at_week : int
        Week the change would take effect (named in the message).
    context : str
        Prefix of the message saying where the change comes from, e.g.
        ``"scenario 'grow': "``.

    Raises
    ------
    ParamError
        Naming the path, the week and what to do instead.

    Examples
    --------
    >>> check_schedulable("internal.departments.it.n_staff", 5)  # a lever: fine
    >>> check_schedulable("organisation.n_units", 5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    spchain.params.ParamError: organisation.n_units is fixed for a whole run and cannot change at week 5 ...
    """
    if is_run_fixed(path):
        raise ParamError(f"{context}{path} is fixed for a whole run and cannot change at week {at_week} "
                         f"(the engine reads it once, at the start); set it in the base parameters instead "
                         f"(Params.override, [base.parameters] in a scenario file, or a scenario change "
                         f"at week 0)")



def is_run_fixed(path: str) -> bool:
    """Whether the dotted ``path`` is fixed for a whole run (:data:`RUN_FIXED_PATHS`).

    Parameters
    ----------
    path : str
        Dotted parameter path.

    Returns
    -------
    bool
        ``True`` for an entry of :data:`RUN_FIXED_PATHS`, or a path below an
        entry ending in ``"."``.

    Examples
    --------
    >>> is_run_fixed("organisation.n_units"), is_run_fixed("internal.departments.it.n_staff")
    (True, False)
    """
    return any(path == entry or entry.endswith(".") and path.startswith(entry) for entry in RUN_FIXED_PATHS)


def run_fixed_differences(old: Params, new: Params) -> list:
    """The run-fixed parameters whose values differ between two parameter sets.

    What a run started with ``old`` cannot take on when it goes on with
    ``new`` (:class:`spchain.engine.run.Simulation`): each entry of
    :data:`RUN_FIXED_PATHS` (without its trailing ``"."``) whose value
    differs; for ``"internal.departments"``, the set of department names.

    Parameters
    ----------
    old, new : Params
        The parameters the run started with, and those it would go on with.

    Returns
    -------
    list of str
        The differing entries, in the order of :data:`RUN_FIXED_PATHS`.

    Examples
    --------
    >>> base = Params()
    >>> run_fixed_differences(base, base.override({"internal.departments.it.n_staff": 9}))
    []
    >>> run_fixed_differences(base, base.override({"customers.n_customers": 10}))
    ['customers.n_customers']
    """
    out = []
    for entry in RUN_FIXED_PATHS:
        key = entry.rstrip(".")
        before, after = old.get(key), new.get(key)
        if key == "internal.departments":  # the set of departments, not their levers
            before, after = sorted(before), sorted(after)
        if before != after:
            out.append(key)
    return out

def _p(default, unit="", *, ge=None, gt=None, le=None, lt=None, integer=False, allow_inf=False,
       source=ASSUMPTION, doc=""):
    """Declare a numeric parameter with its unit, bounds, source and meaning."""
    meta = dict(unit=unit, ge=ge, gt=gt, le=le, lt=lt, integer=integer, allow_inf=allow_inf,
                source=source, doc=doc)
    return field(default=default, metadata=meta)


def _choice(default, choices, *, source=ASSUMPTION, doc=""):
    """Declare a parameter that names one of ``choices`` (e.g. a functional form)."""
    return field(default=default, metadata=dict(unit="name", choices=tuple(choices), source=source, doc=doc))


def _check_number(path, value, meta):
    integer = meta.get("integer", False)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "an integer" if integer else "a number"
        raise ParamError(f"{path} must be {kind}, got {value!r}")
    if integer and not float(value).is_integer():
        raise ParamError(f"{path} must be an integer, got {value!r}")
    if math.isnan(value):
        raise ParamError(f"{path} must be a number, got nan")
    kind = "an integer" if integer else "a number"
    for key, op, ok in (("ge", ">=", lambda v, b: v >= b),
                        ("gt", ">", lambda v, b: v > b),
                        ("le", "<=", lambda v, b: v <= b),
                        ("lt", "<", lambda v, b: v < b)):
        bound = meta.get(key)
        if bound is not None and not ok(value, bound):
            raise ParamError(f"{path} must be {kind} {op} {bound}, got {value!r}")
    if math.isinf(value) and not meta.get("allow_inf"):
        raise ParamError(f"{path} must be finite, got {value!r}")


class _Stage:
    """Mixin: validation and dict conversion for a flat dataclass of numbers."""

    def _validate(self, prefix: str) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if "choices" in f.metadata:
                if value not in f.metadata["choices"]:
                    raise ParamError(f"{prefix}.{f.name} must be one of {list(f.metadata['choices'])}, "
                                     f"got {value!r}{suggest(str(value), f.metadata['choices'])}")
            elif "unit" in f.metadata:
                _check_number(f"{prefix}.{f.name}", value, f.metadata)
                if f.metadata.get("integer"):
                    object.__setattr__(self, f.name, int(value))
                else:
                    object.__setattr__(self, f.name, float(value))

    def to_dict(self) -> dict:
        """Plain ``dict`` of this stage's fields."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


#: Explicit per-unit characteristics (``organisation.units``) and their bounds.
_UNIT_FACTOR_BOUNDS = {"manager": {"ge": -1, "le": 1}, "market_size": {"gt": 0},
                       "attractiveness": {"gt": 0}, "competition": {"gt": 0}, "staffing": {"gt": 0},
                       "expectations": {"ge": -1, "le": 1}, "process": {"gt": 0}}


@dataclass(frozen=True, kw_only=True)
class Organisation(_Stage):
    """How many service units there are and how long they are open."""

    n_units: int = _p(1, "units", ge=1, integer=True,
                      doc="Service units (branches, stores, teams) sharing the internal departments.")
    hours_per_week: float = _p(45.0, "h/week", gt=0, le=168,
                               doc="Open hours per week; one period is one week of open hours.")
    manager_sd: float = _p(0.0, "0-1", ge=0, le=0.5,
                           doc="Spread (sd) across units of the manager's effect on employees' base "
                               "satisfaction (0 = identical units; spchain.engine.units).")
    market_size_sd: float = _p(0.0, "log", ge=0, le=2,
                               doc="Spread (sd of the log) across units of local market size, which "
                                   "multiplies the initial customer base and marketing acquisition.")
    attractiveness_sd: float = _p(0.0, "log", ge=0, le=2,
                                  doc="Spread (sd of the log) across units of a multiplier of customers' visit rates.")
    competition_sd: float = _p(0.0, "log", ge=0, le=2,
                               doc="Spread (sd of the log) across units of a multiplier of customers' churn hazard.")
    expectations_sd: float = _p(0.0, "0-1", ge=0, le=0.5,
                                doc="Spread (sd) across units of the quality their local customers expect.")
    process_sd: float = _p(0.0, "log", ge=0, le=2,
                           doc="Spread (sd of the log) across units of a multiplier of mean service time "
                               "(processes, layout, systems).")
    staffing_sd: float = _p(0.0, "log", ge=0, le=2,
                            doc="Spread (sd of the log) across units of positions beyond what demand explains.")
    staffing_elasticity: float = _p(1.0, "ratio", ge=0, le=2,
                                    doc="Elasticity of a unit's positions to its demand "
                                        "(market size x attractiveness); 0 = every unit has n_employees.")
    footfall_sd: float = _p(0.0, "log", ge=0, le=2,
                            doc="Sd of the weekly footfall shock (log visit-rate multiplier, AR(1)) that moves "
                                "each unit's visits independently of the chain.")
    footfall_persistence: float = _p(0.8, "AR(1) coefficient", ge=0, lt=1,
                                     doc="Week-to-week persistence of the footfall shock.")
    units: tuple = ()

    def __post_init__(self):
        table = self.units
        if not isinstance(table, Mapping):
            if isinstance(table, tuple) and all(isinstance(row, tuple) and len(row) == 2 for row in table):
                table = dict(table)
            else:
                raise ParamError(f"organisation.units must map unit indices to characteristics, got {table!r}")
        rows = []
        for key, values in table.items():
            path = f"organisation.units.{key}"
            try:
                index = int(key)
            except (TypeError, ValueError):
                raise ParamError(f"{path}: unit keys must be unit indices (0, 1, ...), got {key!r}") from None
            if index < 0 or str(key).strip() != str(index):
                raise ParamError(f"{path}: unit keys must be unit indices (0, 1, ...), got {key!r}")
            if not isinstance(values, Mapping):
                raise ParamError(f"{path} must map characteristics to values, got {values!r}")
            for name, value in values.items():
                meta = _UNIT_FACTOR_BOUNDS.get(name)
                if meta is None:
                    raise ParamError(f"unknown unit characteristic {path}.{name}"
                                     f"{suggest(name, _UNIT_FACTOR_BOUNDS)}; expected one of "
                                     f"{list(_UNIT_FACTOR_BOUNDS)}")
                _check_number(f"{path}.{name}", value, meta)
            rows.append((index, tuple(sorted((k, float(v)) for k, v in values.items()))))
        object.__setattr__(self, "units", tuple(sorted(rows)))

    def _validate(self, prefix: str) -> None:
        super()._validate(prefix)
        for index, _ in self.units:
            if index >= self.n_units:
                raise ParamError(f"{prefix}.units.{index}: no such unit; units are 0 to {self.n_units - 1}")

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["units"] = {str(i): dict(values) for i, values in self.units}
        return d


@dataclass(frozen=True, kw_only=True)
class Department(_Stage):
    """One internal service department (IT, HR, back office...).

    ``requests_to`` maps other departments' names to the requests each of
    this department's staff raises with them per week: departments are
    internal customers of each other.
    """

    name: str = "it"
    n_staff: int = _p(2, "staff", ge=0, integer=True,
                      doc="Department staff serving internal requests in parallel.")
    service_time_hours: float = _p(2.0, "h", gt=0,
                                   doc="Mean hands-on time to handle one request (exponential).")
    ftr_prob: float = _p(0.8, "probability", ge=0, le=1,
                         doc="Probability a request is resolved right first time; otherwise it is reworked.")
    sla_hours: float = _p(16.0, "h", gt=0,
                          doc="Resolution time promised (open hours); a request resolved within it meets the SLA.")
    wage_per_week: float = _p(1000.0, "money/staff/week", ge=0,
                              doc="Loaded weekly cost of one department employee.")
    share: float = _p(1.0, "weight", ge=0,
                      doc="Relative share of front-line requests routed to this department.")
    requests_to: tuple = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ParamError(f"department name must be an identifier-like string, got {self.name!r}")
        pairs = self.requests_to
        if isinstance(pairs, Mapping):
            pairs = tuple(pairs.items())
        try:
            pairs = tuple((str(k), v) for k, v in pairs)
        except (TypeError, ValueError):
            raise ParamError(f"internal.departments.{self.name}.requests_to must map department "
                             f"names to rates, got {self.requests_to!r}") from None
        object.__setattr__(self, "requests_to", tuple(sorted(pairs)))

    def to_dict(self) -> dict:
        d = super().to_dict()
        d.pop("name")
        d["requests_to"] = dict(self.requests_to)
        return d


_DEFAULT_DEPARTMENTS = (
    Department(name="it", n_staff=2, service_time_hours=1.5, ftr_prob=0.8, sla_hours=8.0,
               wage_per_week=1300.0, share=0.5, requests_to={"hr": 0.2}),
    Department(name="hr", n_staff=1, service_time_hours=2.0, ftr_prob=0.85, sla_hours=24.0,
               wage_per_week=1100.0, share=0.2, requests_to={"it": 0.5}),
    Department(name="back_office", n_staff=2, service_time_hours=1.5, ftr_prob=0.8,
               sla_hours=16.0, wage_per_week=900.0, share=0.3, requests_to={"it": 0.3}),
)


@dataclass(frozen=True, kw_only=True)
class InternalService(_Stage):
    """Internal service departments and the requests the front line raises."""

    departments: tuple = _DEFAULT_DEPARTMENTS
    request_rate: float = _p(1.0, "requests/employee/week", ge=0,
                             doc="Internal requests each front-line employee raises per week.")
    timely_weight: float = _p(0.5, "weight", ge=0, le=1,
                              doc="Weight of meeting the SLA (vs. right first time) in a request's perceived quality.")
    tools_spend_per_week: float = _p(0.0, "money/week", ge=0,
                                     doc="Investment in internal tools and training (lever).")
    tools_half_spend: float = _p(2000.0, "money/week", gt=0,
                                 doc="Spend at which half of the maximum tools effect is reached.")
    tools_max_speedup: float = _p(0.5, "fraction", ge=0,
                                  doc="Maximum relative speed-up of department work from tools.")
    tools_max_ftr_gain: float = _p(0.5, "fraction", ge=0, le=1,
                                   doc="Maximum share of rework removed by tools.")

    def __post_init__(self):
        deps = self.departments
        if isinstance(deps, Mapping):
            deps = tuple(Department(name=k, **v) if isinstance(v, Mapping) else v
                         for k, v in deps.items())
        if not isinstance(deps, (tuple, list)) or not all(isinstance(d, Department) for d in deps):
            raise ParamError(f"internal.departments must be a mapping of name to department, got {deps!r}")
        # canonical order (by name): a mapping's order, e.g. after sorted-key JSON, changes nothing
        object.__setattr__(self, "departments", tuple(sorted(deps, key=lambda d: d.name)))

    def _validate(self, prefix: str) -> None:
        super()._validate(prefix)
        names = [d.name for d in self.departments]
        if len(set(names)) != len(names):
            raise ParamError(f"{prefix}.departments has duplicate names: {names}")
        for d in self.departments:
            d._validate(f"{prefix}.departments.{d.name}")
            for target, rate in d.requests_to:
                path = f"{prefix}.departments.{d.name}.requests_to.{target}"
                if target not in names or target == d.name:
                    raise ParamError(f"{path}: unknown department {target!r}; expected one of "
                                     f"{[n for n in names if n != d.name]}")
                _check_number(path, rate, {"ge": 0})
        if self.departments and self.request_rate > 0 and sum(d.share for d in self.departments) <= 0:
            raise ParamError(f"{prefix}.departments.*.share must not all be 0 when request_rate > 0")

    def department(self, name: str) -> Department:
        """The department called ``name``."""
        for d in self.departments:
            if d.name == name:
                return d
        raise KeyError(name)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["departments"] = {dep.name: dep.to_dict() for dep in self.departments}
        return d


@dataclass(frozen=True, kw_only=True)
class Workforce(_Stage):
    """Front-line employees of each unit: service, satisfaction, turnover, skill."""

    n_employees: int = _p(6, "positions/unit", ge=1, integer=True,
                          doc="Front-line positions per unit (headcount + vacancies).")
    service_time_minutes: float = _p(12.0, "min", gt=0,
                                     doc="Mean service time of a fully skilled employee at reference satisfaction.")
    service_time_cv: float = _p(1.0, "ratio", gt=0,
                                doc="Coefficient of variation of service time (gamma; 1 = exponential).")
    base_satisfaction: float = _p(0.65, "0-1", ge=0, le=1,
                                  doc="Target satisfaction with every driver at its reference.")
    reference_satisfaction: float = _p(0.65, "0-1", ge=0, le=1,
                                       doc="Satisfaction at which quit, productivity and quality links are neutral.")
    satisfaction_delay_weeks: float = _p(8.0, "weeks", gt=0,
                                         doc="Time constant of the first-order delay of satisfaction toward its target.")
    base_quit_rate: float = _p(0.3, "1/year", ge=0,
                               doc="Annual quit hazard at reference satisfaction.")
    time_to_fill_weeks: float = _p(6.0, "weeks", ge=0,
                                   doc="Mean time to fill a vacancy (exponential).")
    initial_skill: float = _p(0.5, "0-1", gt=0, le=1,
                              doc="Skill of a new hire on the learning curve (1 = fully skilled).")
    learning_weeks: float = _p(12.0, "weeks", gt=0,
                               doc="Time constant of the learning curve.")
    recognition: float = _p(0.0, "index", ge=-1, le=1,
                            doc="Recognition programme intensity relative to the reference (lever).")
    pay_index: float = _p(1.0, "ratio", gt=0,
                          doc="Pay relative to the local market (lever).")
    training_hours: float = _p(1.0, "h/employee/week", ge=0, le=40,
                               doc="Training per employee per week (lever); speeds learning, costs wages.")
    reference_training_hours: float = _p(1.0, "h/employee/week", ge=0,
                                         doc="Training at which the training link is neutral.")
    learning_gain_per_training_hour: float = _p(0.1, "1/(h/week)", ge=0,
                                                doc="Relative speed-up of learning per weekly training hour.")
    base_quality: float = _p(0.8, "0-1", ge=0, le=1,
                             doc="Service quality of a fully skilled employee at reference satisfaction.")
    reference_utilisation: float = _p(0.9, "fraction", gt=0, le=1,
                                      doc="Work pressure (utilisation plus waiting customers per server) "
                                          "above which workload lowers satisfaction.")
    reference_isq: float = _p(0.9, "0-1", ge=0, le=1,
                              doc="Perceived internal service quality at which its links are neutral "
                                  "(for employees and for departments receiving service).")
    isq_smoothing: float = _p(0.3, "weight", gt=0, le=1,
                              doc="Weight of this week's requests in an employee's (and a department's) perceived ISQ.")
    pressure_utilisation: float = _p(0.9, "fraction", gt=0, le=1,
                                     doc="Utilisation of staffed hours at which the work asked at the service "
                                         "standard just fits (Oliva-Sterman work pressure 1); used only by "
                                         "links.effort_from_pressure and links.satisfaction_from_fatigue.")
    standard_erosion_weeks: float = _p(18.8, "weeks", gt=0, allow_inf=True,
                                       source="Oliva & Sterman 2001 (13-29 weeks)",
                                       doc="Time constant of the service standard's adjustment toward the time "
                                           "given per customer when less time is given (erosion); inf = never. "
                                           "Moves only when links.effort_from_pressure > 0.")
    standard_recovery_weeks: float = _p(float("inf"), "weeks", gt=0, allow_inf=True,
                                        source="Oliva & Sterman 2001 (no detectable recovery)",
                                        doc="Time constant of the service standard's adjustment when more time "
                                            "is given than the standard (recovery); inf = never.")
    fatigue_weeks: float = _p(8.0, "weeks", gt=0,
                              doc="Time constant of the fatigue stock's first-order delay toward the work "
                                  "pressure above 1.")


@dataclass(frozen=True, kw_only=True)
class Customers(_Stage):
    """The customer base of each unit: visits, patience, satisfaction, loyalty."""

    n_customers: int = _p(3000, "customers/unit", ge=0, integer=True,
                          doc="Active customers per unit at the start.")
    visit_rate: float = _p(0.06, "visits/customer/week", ge=0,
                           doc="Visits per customer per week at reference satisfaction.")
    patience_minutes: float = _p(30.0, "min", gt=0, allow_inf=True,
                                      doc="Mean patience in the queue (exponential); inf = nobody abandons.")
    wait_tolerance_minutes: float = _p(10.0, "min", gt=0,
                                       doc="Wait that costs one unit of the wait link's experienced value.")
    expected_quality: float = _p(0.77, "0-1", ge=0, le=1,
                                 doc="Service quality customers expect; quality above it raises value.")
    initial_satisfaction: float = _p(0.7, "0-1", ge=0, le=1,
                                     doc="Satisfaction of existing and newly acquired customers.")
    reference_satisfaction: float = _p(0.7, "0-1", ge=0, le=1,
                                       doc="Satisfaction at which loyalty links are neutral; also the "
                                           "experience that exactly meets expectations.")
    update_weight: float = _p(0.3, "weight", gt=0, le=1,
                              doc="Weight of one experience in a customer's satisfaction.")
    abandonment_penalty: float = _p(2.0, "value", ge=0,
                                    doc="Loss of experienced value when a customer abandons, in wait-tolerance units.")
    base_churn_rate: float = _p(0.15, "1/year", ge=0,
                                doc="Annual churn hazard at reference satisfaction.")
    acquisition_rate: float = _p(8.0, "customers/unit/week", ge=0,
                                 doc="New customers per unit per week from marketing.")
    referral_rate: float = _p(0.05, "referrals/customer/year", ge=0,
                              doc="New customers each active customer brings per year at reference satisfaction.")
    zone_low: float = _p(0.55, "0-1", ge=0, le=1, source="Johnston 1995; Jones & Sasser 1995 (form); levels assumed",
                         doc="Lower edge of the zone of tolerance of the 'threshold' loyalty form.")
    zone_high: float = _p(0.85, "0-1", ge=0, le=1, source="Jones & Sasser 1995 (apostles); level assumed",
                          doc="Upper edge of the zone of tolerance: above it customers are delighted.")
    visit_form: str = _choice("exponential", LOYALTY_FORMS,
                              doc="Functional form of the visit link (links.revisit_from_satisfaction).")
    spend_form: str = _choice("linear", LOYALTY_FORMS,
                              doc="Functional form of the spend link (links.spend_from_satisfaction).")
    churn_form: str = _choice("exponential", LOYALTY_FORMS,
                              doc="Functional form of the churn link (links.churn_from_satisfaction).")
    referral_form: str = _choice("exponential", LOYALTY_FORMS,
                                 doc="Functional form of the referral link (links.referral_from_satisfaction).")
    relationship_share: float = _p(0.0, "share", ge=0, le=1,
                                   source="Heskett et al. 1994, the insurer (direction); share assumed",
                                   doc="Share of customers served in a relationship: each has an assigned "
                                       "front-line position whose holder serves them when free (0 = pure "
                                       "encounter service).")
    bond_rate: float = _p(0.3, "weight", ge=0, le=1,
                          doc="Growth of a customer's bond with their employee per service: bond += rate (1 - bond).")
    relationship_loss: float = _p(0.1, "0-1", ge=0, le=1,
                                  doc="Drop in a customer's satisfaction when their employee quits.")
    relationship_churn_prob: float = _p(0.05, "probability", ge=0, le=1,
                                        doc="Extra probability that a customer leaves in the week their employee quits.")
    expectation_sd: float = _p(0.0, "0-1", ge=0, le=0.5,
                               doc="Spread (sd) across customers of a lasting offset to the quality they expect.")
    tolerance_sd: float = _p(0.0, "log", ge=0, le=2,
                             doc="Spread (sd of the log) across customers of their wait tolerance.")
    churn_propensity_sd: float = _p(0.0, "log", ge=0, le=2,
                                    doc="Spread (sd of the log) across customers of a lasting churn-hazard multiplier.")
    spend_sd: float = _p(0.0, "log", ge=0, le=2,
                         doc="Spread (sd of the log) across customers of spend per visit (value segments).")

    def _validate(self, prefix: str) -> None:
        super()._validate(prefix)
        if self.zone_low >= self.zone_high:
            raise ParamError(f"{prefix}.zone_low must be < {prefix}.zone_high, got {self.zone_low} >= "
                             f"{self.zone_high}")


@dataclass(frozen=True, kw_only=True)
class Economics(_Stage):
    """Prices, wages and other money flows."""

    spend_per_visit: float = _p(40.0, "money/visit", ge=0,
                                doc="Revenue per served visit at reference satisfaction.")
    price_index: float = _p(1.0, "ratio", gt=0,
                            doc="Price relative to the reference (lever); scales revenue per visit.")
    gross_margin: float = _p(1.0, "fraction", ge=0, le=1,
                             doc="Share of revenue left after the cost of goods sold.")
    wage_per_week: float = _p(900.0, "money/employee/week", ge=0,
                              doc="Loaded weekly cost of a front-line employee at pay_index 1.")
    hiring_cost: float = _p(4000.0, "money/hire", ge=0,
                            doc="Recruiting and onboarding cost of one hire.")
    acquisition_cost: float = _p(50.0, "money/customer", ge=0,
                                 doc="Marketing cost of acquiring one customer (used in CLV and costs).")
    fixed_cost_per_week: float = _p(2000.0, "money/unit/week", ge=0,
                                    doc="Rent and other fixed costs of a unit.")
    discount_rate: float = _p(0.08, "1/year", gt=-1,
                              doc="Annual discount rate for customer lifetime value.")
    reinvestment_share: float = _p(0.0, "fraction", ge=0, le=1,
                                   doc="Share of each week's positive profit spent on internal tools the next "
                                       "week, on top of internal.tools_spend_per_week (the reinvestment loop).")


@dataclass(frozen=True, kw_only=True)
class Links(_Stage):
    """Strengths of the chain's links; 0 switches a link off.

    Each field is the coefficient of the response function of the same name
    in :mod:`spchain.links`.
    """

    satisfaction_from_internal: float = _p(
        1.0, "1/ISQ", ge=0, source="Hallowell, Schlesinger & Zornitsky 1996 (direction); size assumed",
        doc="Rise in employee satisfaction target per unit of perceived ISQ above its reference.")
    satisfaction_from_workload: float = _p(
        0.8, "1/utilisation", ge=0, doc="Fall in satisfaction target per unit of utilisation above its reference.")
    satisfaction_from_recognition: float = _p(
        0.1, "1/index", ge=0, doc="Rise in satisfaction target per unit of recognition.")
    satisfaction_from_pay: float = _p(
        0.3, "1/ratio", ge=0, doc="Rise in satisfaction target per unit of pay index above 1.")
    satisfaction_from_training: float = _p(
        0.01, "week/h", ge=0, doc="Rise in satisfaction target per weekly training hour above the reference.")
    satisfaction_from_customers: float = _p(
        0.2, "1/satisfaction", ge=0, source="Heskett et al. 1997, the satisfaction mirror (direction); size assumed",
        doc="Rise in employee satisfaction target per unit of the unit's customer satisfaction above reference.")
    quit_from_satisfaction: float = _p(
        5.0, "1/satisfaction", ge=0, source="Harter, Schmidt & Hayes 2002 (direction); size assumed",
        doc="Log-change of the quit hazard per unit of satisfaction below its reference.")
    productivity_from_skill: float = _p(
        0.5, "1/skill", ge=0, le=1, doc="Share of productivity lost per unit of missing skill.")
    productivity_from_satisfaction: float = _p(
        0.5, "1/satisfaction", ge=0, doc="Relative productivity gain per unit of satisfaction above reference.")
    quality_from_skill: float = _p(
        0.3, "1/skill", ge=0, doc="Service quality lost per unit of missing skill.")
    quality_from_satisfaction: float = _p(
        0.5, "1/satisfaction", ge=0, doc="Service quality gained per unit of satisfaction above reference.")
    value_from_quality: float = _p(
        2.0, "1/quality", ge=0, source="Heskett et al. 1997, the value equation (direction); size assumed",
        doc="Experienced value per unit of service quality above expectation.")
    value_from_wait: float = _p(
        0.1, "1/tolerance", ge=0, doc="Experienced value lost per wait-tolerance of waiting.")
    value_from_price: float = _p(
        0.3, "1/ratio", ge=0, doc="Experienced value lost per unit of price index above 1.")
    revisit_from_satisfaction: float = _p(
        2.0, "1/satisfaction", ge=0, doc="Log-change of the visit rate per unit of customer satisfaction above reference.")
    spend_from_satisfaction: float = _p(
        1.0, "1/satisfaction", ge=0, doc="Relative change of spend per visit (share of wallet) per unit of satisfaction.")
    churn_from_satisfaction: float = _p(
        8.0, "1/satisfaction", ge=0, source="Reichheld & Sasser 1990 (direction); size assumed",
        doc="Log-change of the churn hazard per unit of satisfaction below reference.")
    referral_from_satisfaction: float = _p(
        8.0, "1/satisfaction", ge=0, source="Reichheld 2003 (direction); size assumed",
        doc="Log-change of the referral rate per unit of satisfaction above reference.")
    internal_speed_from_internal: float = _p(
        0.5, "1/ISQ", ge=0, doc="Relative speed change of a department per unit of the ISQ it receives above reference.")
    value_from_relationship: float = _p(
        0.3, "1/bond", ge=0, source="Heskett et al. 1994 (direction); size assumed",
        doc="Experienced value per unit of bond when a relationship customer is served by their own employee "
            "(acts only when customers.relationship_share > 0).")
    loyalty_from_employees: float = _p(
        0.0, "1/satisfaction", ge=0, source="Evanschitzky et al. 2011 (moderation); size assumed",
        doc="Relative strengthening of every loyalty link per unit of the unit's employee satisfaction above "
            "reference (0 = additive chain).")
    effort_from_pressure: float = _p(
        0.0, "elasticity", ge=0, le=3, source="Oliva & Sterman 2001: 0.64 (0.59-0.70)",
        doc="Minus the elasticity of the time given per customer to work pressure (T = T* p^-k); "
            "0 = employees always give the standard time.")
    quality_from_time: float = _p(
        0.0, "1/ratio", ge=0, source="Oliva & Sterman 2001 (direction); size assumed",
        doc="Service quality lost per unit of relative shortfall of the time given against the time needed.")
    satisfaction_from_fatigue: float = _p(
        0.0, "1/pressure", ge=0,
        doc="Fall in employee satisfaction target per unit of fatigue (smoothed work pressure above 1).")

    def off(self) -> "Links":
        """A copy with every link switched off."""
        return Links(**{f.name: 0.0 for f in dataclasses.fields(self)})


@dataclass(frozen=True, kw_only=True)
class Measurement(_Stage):
    """How surveys turn latent customer satisfaction into CSAT and NPS."""

    response_rate: float = _p(0.1, "probability", ge=0, le=1,
                              doc="Probability a served customer answers the survey.")
    csat_noise: float = _p(0.1, "0-1", ge=0,
                           doc="Standard deviation of response noise on the 0-1 satisfaction scale.")
    csat_cut_2: float = _p(0.3, "0-1", doc="Latent response above which CSAT is at least 2.")
    csat_cut_3: float = _p(0.5, "0-1", doc="... at least 3.")
    csat_cut_4: float = _p(0.65, "0-1", doc="... at least 4.")
    csat_cut_5: float = _p(0.8, "0-1", doc="... 5.")
    ltr_intercept: float = _p(2.0, "points", doc="Likelihood to recommend at satisfaction 0.")
    ltr_slope: float = _p(9.0, "points/satisfaction", ge=0, doc="Points of LTR per unit of satisfaction.")
    ltr_noise: float = _p(1.2, "points", ge=0, doc="Standard deviation of LTR response noise.")
    service_level_seconds: float = _p(20.0, "s", ge=0,
                                      source="call-centre convention (80% answered within 20 s)",
                                      doc="Threshold of the service level KPI: the share of customers "
                                          "answered (service started) within it.")

    def _validate(self, prefix: str) -> None:
        super()._validate(prefix)
        cuts = [self.csat_cut_2, self.csat_cut_3, self.csat_cut_4, self.csat_cut_5]
        if any(b <= a for a, b in zip(cuts, cuts[1:])):
            raise ParamError(f"{prefix}.csat_cut_2..5 must increase strictly, got {cuts}")


@dataclass(frozen=True, kw_only=True)
class Change:
    """A lever change taking effect at the start of week ``at_week``."""

    at_week: int
    path: str
    value: Any

    def __post_init__(self):
        if isinstance(self.at_week, bool) or not isinstance(self.at_week, int) or self.at_week < 0:
            raise ParamError(f"schedule change at_week must be an integer >= 0, got {self.at_week!r}")
        if not isinstance(self.path, str) or not self.path:
            raise ParamError(f"schedule change path must be a dotted parameter path, got {self.path!r}")

    def to_dict(self) -> dict:
        return {"at_week": self.at_week, "path": self.path, "value": self.value}


#: Stage name -> its dataclass, in the order of :class:`Params`.
STAGE_CLASSES = {
    "organisation": Organisation,
    "internal": InternalService,
    "workforce": Workforce,
    "customers": Customers,
    "economics": Economics,
    "links": Links,
    "measurement": Measurement,
}


@dataclass(frozen=True, kw_only=True)
class Params:
    """All parameters of the model, validated on creation.

    Parameters
    ----------
    organisation, internal, workforce, customers, economics, links, measurement
        One frozen dataclass per stage of the chain.
    schedule : tuple of Change
        Lever changes at scheduled weeks, applied in order.

    Examples
    --------
    >>> p = Params()
    >>> p.override({"workforce.n_employees": 7}).workforce.n_employees
    7
    >>> Params().override({"workforce.n_employees": 0})
    Traceback (most recent call last):
    ...
    spchain.params.ParamError: workforce.n_employees must be an integer >= 1, got 0
    """

    organisation: Organisation = field(default_factory=Organisation)
    internal: InternalService = field(default_factory=InternalService)
    workforce: Workforce = field(default_factory=Workforce)
    customers: Customers = field(default_factory=Customers)
    economics: Economics = field(default_factory=Economics)
    links: Links = field(default_factory=Links)
    measurement: Measurement = field(default_factory=Measurement)
    schedule: tuple = ()

    def __post_init__(self):
        for name, cls in STAGE_CLASSES.items():
            stage = getattr(self, name)
            if not isinstance(stage, cls):
                raise ParamError(f"{name} must be a {cls.__name__}, got {type(stage).__name__}")
            stage._validate(name)
        changes = tuple(c if isinstance(c, Change) else Change(**c) for c in self.schedule)
        changes = tuple(sorted(changes, key=lambda c: c.at_week))  # stable: same week keeps order
        object.__setattr__(self, "schedule", changes)
        if changes:
            self.at_week(max(c.at_week for c in changes))  # validates every change

    # ------------------------------------------------------------------ dicts
    def to_dict(self) -> dict:
        """Plain nested ``dict`` (JSON- and TOML-able) that :meth:`from_dict` reads back."""
        d = {name: getattr(self, name).to_dict() for name in STAGE_CLASSES}
        d["schedule"] = [c.to_dict() for c in self.schedule]
        return d

    @classmethod
    def from_dict(cls, data: Mapping) -> "Params":
        """Build parameters from a nested mapping; missing entries keep defaults.

        Unknown keys raise :class:`ParamError` naming the key and the valid ones.
        """
        if not isinstance(data, Mapping):
            raise ParamError(f"parameters must be a mapping, got {type(data).__name__}")
        kwargs = {}
        for key, value in data.items():
            if key == "schedule":
                kwargs[key] = tuple(_change_from(v, i) for i, v in enumerate(value))
                continue
            if key not in STAGE_CLASSES:
                raise ParamError(f"unknown parameter section {key!r}; expected one of "
                                 f"{sorted(list(STAGE_CLASSES) + ['schedule'])}")
            kwargs[key] = _stage_from(STAGE_CLASSES[key], key, value)
        return cls(**kwargs)

    # -------------------------------------------------------------- override
    def override(self, changes: Mapping[str, Any]) -> "Params":
        """A new validated ``Params`` with dotted-path entries replaced.

        Parameters
        ----------
        changes : mapping of str to value
            E.g. ``{"workforce.n_employees": 7, "internal.departments.it.n_staff": 3}``.
        """
        if not isinstance(changes, Mapping):
            raise ParamError(f"override() expects a mapping of dotted parameter paths to values, e.g. "
                             f"{{'workforce.n_employees': 7}}; got {type(changes).__name__} {changes!r}")
        data = self.to_dict()
        for path, value in changes.items():
            if not isinstance(path, str):
                raise ParamError(f"override() keys must be dotted parameter paths (str), got "
                                 f"{type(path).__name__} {path!r}")
            _set_path(data, path, value)
        return Params.from_dict(data)

    def get(self, path: str) -> Any:
        """The value at a dotted path."""
        node: Any = self.to_dict()
        for i, part in enumerate(path.split(".")):
            if not isinstance(node, dict) or part not in node:
                raise ParamError(_unknown_path(path, i, node))
            node = node[part]
        return node

    def at_week(self, week: int) -> "Params":
        """Parameters in force during ``week``: every change with ``at_week <= week`` applied.

        The returned object has an empty schedule.
        """
        result = dataclasses.replace(self, schedule=())
        data = result.to_dict()
        for c in self.schedule:
            if c.at_week <= week:
                context = f"schedule change at week {c.at_week}: "
                _set_path(data, c.path, c.value, context=context)
                try:
                    result = Params.from_dict(data)
                except ParamError as exc:
                    raise ParamError(context + str(exc)) from None
        return result

    def with_changes(self, *changes: Change) -> "Params":
        """A new ``Params`` whose schedule also holds ``changes``."""
        return dataclasses.replace(self, schedule=self.schedule + tuple(changes))


def _change_from(value, index) -> Change:
    if isinstance(value, Change):
        return value
    if not isinstance(value, Mapping) or set(value) != {"at_week", "path", "value"}:
        raise ParamError(f"schedule[{index}] must have keys at_week, path, value; got {value!r}")
    return Change(**value)


def _stage_from(cls, prefix, value):
    if isinstance(value, cls):
        return value
    if not isinstance(value, Mapping):
        raise ParamError(f"{prefix} must be a mapping, got {value!r}")
    names = {f.name for f in dataclasses.fields(cls)}
    for key in value:
        if key not in names:
            raise ParamError(f"unknown parameter {prefix}.{key}{suggest(key, names)}; "
                             f"expected one of {sorted(names)}")
    kwargs = dict(value)
    if cls is InternalService and "departments" in kwargs:
        deps = kwargs["departments"]
        if not isinstance(deps, Mapping):
            raise ParamError(f"{prefix}.departments must be a mapping of name to department, got {deps!r}")
        kwargs["departments"] = tuple(
            _stage_from(Department, f"{prefix}.departments.{k}", dict(v, name=k) if isinstance(v, Mapping) else v)
            for k, v in deps.items())
    return cls(**kwargs)


def suggest(word, options) -> str:
    """`` (did you mean 'x'?)`` for the option closest to ``word``, or ``""`` when none is close."""
    import difflib
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_integer(name: str, value, low: int, high: int | None = None, *, error: type = ParamError) -> int:
    """``value`` as an ``int``, or ``error`` naming ``name``, the value and the allowed range.

    Booleans are refused; NumPy integers are accepted.

    >>> check_integer("n_replications", 4, 2)
    4
    >>> check_integer("n_replications", 1, 2)
    Traceback (most recent call last):
    ...
    spchain.params.ParamError: n_replications must be an integer >= 2, got 1
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low \
            or high is not None and value > high:
        bound = f">= {low}" if high is None else f"from {low} to {high}"
        raise error(f"{name} must be an integer {bound}, got {value!r}")
    return int(value)


def _unknown_path(path, depth, node) -> str:
    parts = path.split(".")
    options = sorted(node) if isinstance(node, dict) else []
    return (f"unknown parameter path {path!r}: {'.'.join(parts[:depth + 1])!r} not found"
            f"{suggest(parts[depth], options)}; expected one of {options}")


def _set_path(data: dict, path: str, value: Any, context: str = "") -> None:
    if not isinstance(path, str) or not path:
        raise ParamError(f"{context}parameter path must be a non-empty dotted string, got {path!r}")
    parts = path.split(".")
    # entries may be added to open tables: requests_to (targets) and organisation.units (units and
    # their characteristics, validated by Organisation); every other key must exist
    open_table = parts[:2] == ["organisation", "units"] and len(parts) <= 4
    node = data
    for i, part in enumerate(parts[:-1]):
        if open_table and i == 2 and isinstance(node, dict) and part not in node:
            node[part] = {}
        if not isinstance(node, dict) or part not in node or not isinstance(node[part], dict):
            raise ParamError(context + _unknown_path(path, i, node))
        node = node[part]
    last = parts[-1]
    if last not in node and not open_table and not (len(parts) >= 2 and parts[-2] == "requests_to"):
        raise ParamError(context + _unknown_path(path, len(parts) - 1, node))
    if path == "schedule":
        raise ParamError(f"{context}the schedule cannot be overridden by path; use Params.with_changes")
    node[last] = copy.deepcopy(value)


def describe() -> list[dict]:
    """One row per numeric parameter: path, default, unit, bounds, source, doc.

    Used to render the parameter tables in ``docs/``.
    """
    rows = []

    def walk(prefix, cls):
        for f in dataclasses.fields(cls):
            if "unit" not in f.metadata:
                continue
            m = f.metadata
            bounds = " ".join(f"{op}{m[k]}" for k, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
                              if m.get(k) is not None)
            rows.append(dict(path=f"{prefix}.{f.name}", default=f.default, unit=m["unit"],
                             bounds=bounds, source=m["source"], doc=m["doc"]))

    for name, cls in STAGE_CLASSES.items():
        walk(name, cls)
        if cls is InternalService:
            walk("internal.departments.<name>", Department)
    return rows

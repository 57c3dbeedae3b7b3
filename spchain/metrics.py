"""The one registry of recorded quantities and the KPIs derived from them.

The engine records additive *fields* per period and unit (counts, sums of
hours, money).  Every KPI is either a field or a ratio of two fields, so it
aggregates correctly over units and periods: the organisation's mean wait is
total waiting time over total customers, never a mean of unit means.
Labels and units here are the ones every table and chart uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FIELDS", "DEPARTMENT_FIELDS", "FIELD_INDEX", "DEPARTMENT_FIELD_INDEX", "STOCK_FIELDS", "DIRECTIONS", "Metric", "METRICS", "metric"]

#: The values of :attr:`Metric.better`.
DIRECTIONS = ("higher", "lower", "neither")

#: Additive quantities the engine records per period and unit.
FIELDS = (
    # internal service, as perceived by the unit's requesters: a scored item is a
    # resolution, or a request open past its SLA at a week's end (scored 0)
    "requests_resolved", "requests_overdue", "isq_scored", "isq_sum", "resolution_hours_sum",
    "sla_due", "sla_met",
    # workforce (stocks are end-of-period; *_sum over filled positions)
    "positions", "headcount", "vacancies", "hires", "quits",
    "satisfaction_sum", "skill_sum", "productivity_sum", "staffed_hours", "busy_hours",
    # effort and service standards (Oliva & Sterman 2001): stocks over filled positions, a flow
    "standard_minutes_sum", "time_given_minutes_sum", "required_hours",
    # front-line queue
    "arrivals", "started", "served", "abandoned", "waiting", "in_service",
    "waited", "wait_hours_sum", "abandoned_wait_hours_sum", "answered_in_target", "quality_sum",
    # customers
    "customers_start", "active_customers", "churned", "acquired", "referred",
    "customer_satisfaction_sum",
    # surveys
    "responses", "csat_sum", "promoters", "detractors",
    # money
    "revenue", "wage_cost", "training_cost", "hiring_cost", "marketing_cost",
    "goods_cost", "fixed_cost", "internal_cost", "costs", "profit",
)

#: Additive quantities recorded per period and internal department.
DEPARTMENT_FIELDS = ("raised", "resolved", "reworked", "overdue", "resolution_hours_sum", "sla_due",
                     "sla_met", "busy_hours", "staff_hours", "backlog", "cost")

#: Column of each field in a run's ``sums`` (and of each department field in ``department_sums``).
FIELD_INDEX = {name: i for i, name in enumerate(FIELDS)}
DEPARTMENT_FIELD_INDEX = {name: i for i, name in enumerate(DEPARTMENT_FIELDS)}


#: Fields recorded as end-of-period stocks (or sums over people at the period's
#: end): over several periods they are averaged, every other field is summed.
STOCK_FIELDS = frozenset({
    "positions", "headcount", "vacancies", "waiting", "in_service", "active_customers", "requests_overdue",
    "customers_start", "satisfaction_sum", "skill_sum", "productivity_sum", "standard_minutes_sum",
    "time_given_minutes_sum", "customer_satisfaction_sum"})


@dataclass(frozen=True)
class Metric:
    """A KPI: ``scale * numerator / denominator`` (or a field when no denominator).

    ``numerator`` and ``denominator`` name a recorded field, or a tuple of
    fields that are added (e.g. customers who started service plus those who
    abandoned).

    ``better`` says which way is good for the business: ``"higher"`` (profit,
    NPS, service level...), ``"lower"`` (turnover, waits, costs...) or
    ``"neither"`` (volumes, utilisation, work pressure: more is not better or
    worse in itself).  Reports and charts colour and word a change by it, not
    by its sign.  ``change_in_points`` is true for scores and shares (NPS,
    CSAT, satisfaction, probabilities, attainment): a change of those is an
    absolute difference in points (percentage points for shares); a change of
    a level (money, counts, times, rates) is given in percent of the baseline.
    """

    name: str
    label: str
    unit: str
    numerator: str | tuple
    denominator: str | tuple | None = None
    scale: float = 1.0
    stage: str = ""
    kind: str = "ratio"  # "ratio", "nps" or "retention"
    better: str = "neither"
    change_in_points: bool = False

    def __post_init__(self):
        if self.better not in DIRECTIONS:
            raise ValueError(f"metric {self.name!r}: better={self.better!r}; expected one of {DIRECTIONS}")

    @property
    def is_share(self) -> bool:
        """A share or probability in [0, 1] (reports print it in percent, its changes in points)."""
        return self.unit.startswith("share")

    @property
    def points_scale(self) -> float:
        """Points per unit of the KPI: 100 for shares and 0-1 scores (0.80 to 0.83 is +3 points), else 1."""
        return 100.0 if self.is_share or self.unit == "0-1" else 1.0

    @property
    def is_money(self) -> bool:
        """An amount of money (reports print it with the scenario file's currency)."""
        return self.unit.startswith("money")

    def assess(self, low, high) -> str:
        """Word a change from its confidence interval ``[low, high]``, by the KPI's direction.

        Returns ``"not distinguishable"`` when the interval covers 0 (or is not
        finite); otherwise ``"better"`` or ``"worse"`` for a directional KPI, and
        ``"higher"`` or ``"lower"`` for one whose ``better`` is ``"neither"``.
        """
        if not (np.isfinite(low) and np.isfinite(high)) or low <= 0 <= high:
            return "not distinguishable"
        up = low > 0
        if self.better == "neither":
            return "higher" if up else "lower"
        return "better" if up == (self.better == "higher") else "worse"

    @property
    def is_flow(self) -> bool:
        """A plain flow field (visits, revenue...): its total over periods is a sum, not a mean or ratio."""
        return self.denominator is None and self.numerator not in STOCK_FIELDS

    @property
    def fields(self) -> tuple:
        """Every recorded field the KPI reads, numerator first."""
        out = ()
        for part in (self.numerator, self.denominator, "detractors" if self.kind == "nps" else None):
            if part is not None:
                out += (part,) if isinstance(part, str) else tuple(part)
        return out

    def evaluate(self, sums):
        """The KPI from a mapping of field name to (arrays of) sums.

        ``nps``: ``100 (promoters - detractors) / responses``;
        ``retention``: annualised, ``(1 - churned / customers_start) ** 52``.
        Undefined ratios (0/0) are NaN.
        """
        num = _total(sums, self.numerator)
        if self.denominator is None:
            return num * self.scale
        den = _total(sums, self.denominator)
        if self.kind == "nps":
            num = num - np.asarray(sums["detractors"], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        if self.kind == "retention":
            return (1.0 - ratio) ** 52
        return ratio * self.scale


def _total(sums, names):
    if isinstance(names, str):
        return np.asarray(sums[names], dtype=float)
    return sum(np.asarray(sums[n], dtype=float) for n in names)


def _m(name, label, unit, num, den=None, scale=1.0, stage="", kind="ratio", *, better, points=False):
    return Metric(name, label, unit, num, den, scale, stage, kind, better, points)


_LIST = [
    _m("internal_service_quality", "Internal service quality", "0-1", "isq_sum", "isq_scored",
       stage="internal", better="higher", points=True),
    _m("resolution_time", "Internal request resolution time", "h", "resolution_hours_sum",
       "isq_scored", stage="internal", better="lower"),
    _m("sla_attainment", "SLA attainment", "share", "sla_met", "sla_due", stage="internal",
       better="higher", points=True),
    _m("overdue_requests", "Requests open past their SLA", "requests", "requests_overdue",
       stage="internal", better="lower"),
    _m("employee_satisfaction", "Employee satisfaction", "0-1", "satisfaction_sum", "headcount",
       stage="employees", better="higher", points=True),
    _m("headcount", "Headcount", "employees", "headcount", stage="employees", better="neither"),
    _m("vacancies", "Vacancies", "positions", "vacancies", stage="employees", better="lower"),
    _m("turnover", "Staff turnover (annualised)", "1/year", "quits", "headcount", scale=52.0,
       stage="employees", better="lower"),
    _m("skill", "Skill", "0-1", "skill_sum", "headcount", stage="employees", better="higher", points=True),
    _m("productivity", "Productivity", "x reference", "productivity_sum", "headcount",
       stage="employees", better="higher"),
    _m("utilisation", "Utilisation", "share", "busy_hours", "staffed_hours", stage="employees",
       better="neither", points=True),
    _m("work_pressure", "Work pressure", "customers per server",
       ("busy_hours", "wait_hours_sum", "abandoned_wait_hours_sum"), "staffed_hours", stage="employees",
       better="neither"),
    _m("standard_pressure", "Work pressure at the standard", "ratio", "required_hours", "staffed_hours",
       stage="employees", better="neither"),
    _m("service_standard", "Service standard", "min/customer", "standard_minutes_sum", "headcount",
       stage="employees", better="neither"),
    _m("time_per_customer", "Time given per customer", "min/customer", "time_given_minutes_sum", "headcount",
       stage="employees", better="neither"),
    _m("arrivals", "Visits", "visits/week", "arrivals", stage="service", better="neither"),
    _m("served", "Customers served", "customers/week", "served", stage="service", better="neither"),
    _m("wait_time", "Mean wait", "min", "wait_hours_sum", "started", scale=60.0, stage="service",
       better="lower"),
    _m("prob_wait", "Probability of waiting", "share", "waited", "started", stage="service",
       better="lower", points=True),
    _m("wait_time_all", "Mean wait, all arrivals", "min", ("wait_hours_sum", "abandoned_wait_hours_sum"),
       ("started", "abandoned"), scale=60.0, stage="service", better="lower"),
    _m("prob_wait_all", "Probability of waiting, all arrivals", "share", ("waited", "abandoned"),
       ("started", "abandoned"), stage="service", better="lower", points=True),
    _m("service_level", "Service level (answered within target)", "share", "answered_in_target",
       ("started", "abandoned"), stage="service", better="higher", points=True),
    _m("abandonment", "Abandonment", "share of customers leaving the queue", "abandoned",
       ("started", "abandoned"), stage="service", better="lower", points=True),
    _m("service_quality", "Service quality", "0-1", "quality_sum", "served", stage="service",
       better="higher", points=True),
    _m("customer_satisfaction", "Customer satisfaction", "0-1", "customer_satisfaction_sum",
       "active_customers", stage="customers", better="higher", points=True),
    _m("csat", "CSAT", "1-5", "csat_sum", "responses", stage="customers", better="higher", points=True),
    _m("nps", "NPS", "points", "promoters", "responses", scale=100.0, kind="nps",
       stage="customers", better="higher", points=True),
    _m("active_customers", "Active customers", "customers", "active_customers", stage="loyalty",
       better="higher"),
    _m("retention", "Customer retention (annualised)", "share/year", "churned", "customers_start",
       kind="retention", stage="loyalty", better="higher", points=True),
    _m("acquisition", "New customers", "customers/week", "acquired", stage="loyalty", better="higher"),
    _m("revenue", "Revenue", "money/week", "revenue", stage="money", better="higher"),
    _m("costs", "Costs", "money/week", "costs", stage="money", better="lower"),
    _m("profit", "Profit", "money/week", "profit", stage="money", better="higher"),
]

#: KPI name -> :class:`Metric`, in chain order.
METRICS = {m.name: m for m in _LIST}


def metric(name: str) -> Metric:
    """The :class:`Metric` called ``name``; a clear error for an unknown name."""
    try:
        return METRICS[name]
    except KeyError:
        import difflib
        close = difflib.get_close_matches(name, list(METRICS) + list(FIELDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise KeyError(f"unknown metric {name!r}{hint}; expected one of {list(METRICS)} "
                       f"or a recorded field") from None

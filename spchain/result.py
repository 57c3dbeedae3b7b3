"""One replication's result: per-period, per-unit KPI series.

A :class:`RunResult` holds the additive sums the engine recorded
(``sums[period, unit, field]``) and derives every KPI from them through the
registry in :mod:`spchain.metrics`, so organisation-level values are exact
aggregates, not averages of unit averages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .metrics import DEPARTMENT_FIELD_INDEX, DEPARTMENT_FIELDS, FIELD_INDEX, FIELDS, METRICS, STOCK_FIELDS, metric
from .params import Params
from .records import RECORDS, to_columns

__all__ = ["RunResult", "FieldView", "format_value"]


@dataclass(frozen=True, eq=False)
class RunResult:
    """Output of :func:`spchain.simulate`.

    Attributes
    ----------
    params : Params
        The parameters that were run (with their schedule).
    horizon : int
        Number of periods (weeks).
    seed : int
        Root seed; ``simulate(params, horizon=horizon, seed=seed)`` reproduces
        this result bit for bit.
    sums : ndarray, shape (horizon, n_units, len(FIELDS))
        Additive quantities per week and unit (see :data:`spchain.metrics.FIELDS`).
    department_sums : ndarray, shape (horizon, n_departments, len(DEPARTMENT_FIELDS))
        Per internal department.
    events : dict or None
        Per-event records as kept by the engine, ``None`` when none were
        asked for: one list of row tuples per kind asked for
        (``simulate(..., record=...)``; every kind with
        ``record_events=True``), columns as in :data:`spchain.records.RECORDS`,
        e.g. ``"served"`` rows
        ``(unit, position, customer, arrival_time, wait, service_time, quality)`` and
        ``"abandoned"`` rows ``(unit, customer, arrival_time, abandon_time)``,
        times in open hours.  Read them as arrays with :meth:`records`.
    wall_seconds : float
        Wall-clock time of the run.
    """

    params: Params
    horizon: int
    seed: int
    sums: np.ndarray
    department_sums: np.ndarray
    events: dict | None = None
    wall_seconds: float = float("nan")
    metadata: dict = field(default_factory=dict)

    # ------------------------------------------------------------ access
    @property
    def n_units(self) -> int:
        return self.sums.shape[1]

    @property
    def metrics(self) -> list[str]:
        """Names of the KPIs, in chain order."""
        return list(METRICS)

    def field(self, name: str, unit: int | None = None) -> np.ndarray:
        """A recorded field per period: one unit, or summed over units."""
        if name not in FIELD_INDEX:
            raise KeyError(f"unknown field {name!r}; expected one of {list(FIELDS)}")
        data = self.sums[:, :, FIELD_INDEX[name]]
        return data.sum(axis=1) if unit is None else data[:, self._unit(unit)]

    def kpi(self, name: str, unit: int | None = None, *, by_unit: bool = False) -> np.ndarray:
        """A KPI per period.

        Parameters
        ----------
        name : str
            A key of :data:`spchain.metrics.METRICS`, e.g. ``"employee_satisfaction"``.
        unit : int, optional
            One unit's series; by default the organisation's (exact aggregate).
        by_unit : bool
            Return shape ``(horizon, n_units)`` instead.
        """
        kpi = metric(name)
        if by_unit:
            return kpi.evaluate(FieldView(self.sums))
        data = self.sums.sum(axis=1) if unit is None else self.sums[:, self._unit(unit)]
        return kpi.evaluate(FieldView(data))

    def total(self, name: str, *, start: int = 0, stop: int | None = None, unit: int | None = None) -> float:
        """A KPI over periods ``start`` to ``stop - 1`` (ratios of summed fields).

        Stock fields (headcount, customers, waiting) are averaged over periods;
        flows (served, revenue, quits) are summed, so ``total("revenue")`` is
        the run's revenue and ``total("turnover")`` its annualised rate.

        Parameters
        ----------
        name : str
            A key of :data:`spchain.metrics.METRICS`.
        start : int, default 0
            First period (week) of the window.
        stop : int, optional
            End of the window, exclusive; default the horizon.
            ``0 <= start < stop <= horizon``.
        unit : int, optional
            One unit; by default the organisation.
        """
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < self.horizon:
            raise ValueError(f"start must be in [0, {self.horizon}), got {start!r}")
        stop = self.horizon if stop is None else stop
        if isinstance(stop, bool) or not isinstance(stop, (int, np.integer)) or not start < stop <= self.horizon:
            raise ValueError(f"stop must be an integer in ({start}, {self.horizon}] (start < stop <= horizon), "
                             f"got {stop!r}")
        data = self.sums[start:stop]
        data = data.sum(axis=1) if unit is None else data[:, self._unit(unit)]
        window = {field_name: (data[:, i].mean() if field_name in STOCK_FIELDS else data[:, i].sum())
                  for field_name, i in FIELD_INDEX.items()}
        kpi = metric(name)
        if kpi.denominator is not None and kpi.denominator in STOCK_FIELDS and kpi.numerator not in STOCK_FIELDS:
            window[kpi.numerator] = window[kpi.numerator] / data.shape[0]  # flow per period over a stock
        return float(kpi.evaluate(window))

    def department(self, name: str, field_name: str) -> np.ndarray:
        """A department's recorded field per period (see ``DEPARTMENT_FIELDS``)."""
        names = [d.name for d in self.params.internal.departments]
        if name not in names:
            raise KeyError(f"unknown department {name!r}; expected one of {names}")
        if field_name not in DEPARTMENT_FIELD_INDEX:
            raise KeyError(f"unknown department field {field_name!r}; expected one of {list(DEPARTMENT_FIELDS)}")
        return self.department_sums[:, names.index(name), DEPARTMENT_FIELD_INDEX[field_name]]

    # ------------------------------------------------- per-event records
    @property
    def recorded(self) -> tuple:
        """Kinds of per-event records this run kept, in :data:`spchain.records.RECORDS` order."""
        return () if self.events is None else tuple(k for k in RECORDS if k in self.events)

    def records(self, kind: str) -> dict:
        """One kind of per-event records, as NumPy columns.

        Kept only when asked for: ``simulate(..., record=(kind, ...))``, or
        every kind with ``record_events=True``.  Times are open hours since
        the start of the run; ``week`` is the week whose sums count the
        event; ``customer`` is a slot of the unit's customer base (one
        customer from its acquisition, or the start, to its churn; reused
        from the week after a churn).

        Parameters
        ----------
        kind : str
            One of (columns in order):

            * ``"served"`` -- a completed service: ``unit, position,
              customer, arrival_time, wait, service_time`` (hours) and
              ``quality`` (0-1, the server's quality when it started);
              one row per count of field ``served``.
            * ``"abandoned"`` -- ``unit, customer, arrival_time,
              abandon_time``; one row per count of ``abandoned``.
            * ``"surveys"`` -- a response of a customer served in the week:
              ``unit, week, customer, satisfaction`` (latent, 0-1, at the
              week's end), ``csat`` (1-5), ``ltr`` (likelihood to
              recommend, 0-10); rows per week = field ``responses``, their
              CSAT sums to ``csat_sum``, ``ltr >= 9`` are the
              ``promoters``, ``ltr <= 6`` the ``detractors``.
            * ``"churn"`` -- a defection at the week's end: ``unit, week,
              customer, satisfaction`` (0-1, the level its hazard was
              computed from); rows = field ``churned``.
            * ``"acquisition"`` -- a new customer at the week's end:
              ``unit, week, customer`` (the slot it took) and ``source``
              (``"referral"`` or ``"marketing"``; the model does not tell
              them apart, so the first ``referred`` new slots of a week are
              labelled referrals); rows = field ``acquired``, referrals =
              ``referred``.
            * ``"quits"`` -- ``unit, week, time, position, tenure`` (weeks
              as the model counts them: the initial tenure, or 0 at hire,
              plus one per week closed in post) and ``satisfaction`` (0-1)
              at the quit; rows = field ``quits``.
            * ``"hires"`` -- ``unit, week, time, position``; rows = field
              ``hires``.
            * ``"staff"`` -- one row per unit and week, at the week's end:
              ``unit, week, headcount`` and the means over the staff in
              post of their ``perceived_isq`` (the smoothed ISQ each
              employee feels, the driver of their satisfaction) and
              ``satisfaction`` (the ``employee_satisfaction`` KPI).
            * ``"customers"`` -- one row per active customer and week, at
              the week's end: ``unit, week, customer, satisfaction`` (the
              level the week's churn hazard used) and ``churned`` (0/1);
              rows a week = field ``customers_start``, ``churned`` sums
              to field ``churned``.
            * ``"employees"`` -- one row per employee in post at the
              week's start: ``unit, week, position, satisfaction`` (the
              level the week's quit hazard used), ``tenure``, ``skill``,
              ``quality`` (delivered this week) and ``quit`` (0/1); rows
              a week = last week's ``headcount``, ``quit`` sums to field
              ``quits``.

        Returns
        -------
        dict of str to ndarray
            Equal-length columns, in event order within each unit and week
            (``int64``, ``float64``; ``source`` a string array).

        Raises
        ------
        KeyError
            ``kind`` is not a record kind.
        ValueError
            This run did not keep that kind.

        Examples
        --------
        >>> from spchain import simulate, preset
        >>> r = simulate(preset("workshop"), horizon=3, seed=1, record=("churn",))
        >>> churn = r.records("churn")
        >>> bool(len(churn["week"]) == r.field("churned").sum())
        True
        """
        if kind not in RECORDS:
            raise KeyError(f"unknown record kind {kind!r}; expected one of {list(RECORDS)}")
        if self.events is None or kind not in self.events:
            raise ValueError(f"this run kept no {kind!r} records (kept: {list(self.recorded)}); "
                             f"run simulate(..., record=({kind!r},)) or record_events=True")
        return to_columns(kind, self.events[kind])

    def records_frame(self, kind: str):
        """One kind of per-event records as a pandas DataFrame (requires pandas); see :meth:`records`."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("records_frame() needs pandas: pip install 'spchain[pandas]'") from exc
        return pd.DataFrame(self.records(kind))

    def customer_lifetime_value(self, *, start: int = 0, first_period: str = "retained") -> float:
        """CLV of the average new customer, from this run's margin, retention and discounting.

        Parameters
        ----------
        start : int, default 0
            First period (week) of the window the rates are measured over.
        first_period : {"retained", "certain"}, default "retained"
            Timing of the first year's margin, as in
            :func:`spchain.theory.customer_lifetime_value`.

        Returns
        -------
        float
            ``m r / (1 + i - r) - s AC`` (``"retained"``) or
            ``m / (1 + i - r) - s AC`` (``"certain"``), in money, with the
            period a **year** throughout:

            * ``m``, the annual contribution per active customer: revenue over
              the window times ``economics.gross_margin``, divided by the mean
              number of active customers, times ``52 / weeks``;
            * ``r``, the annual retention ``total("retention", start=start)``,
              ``(1 - churned / customers_start) ** 52`` from the window's
              weekly churn (capped just below 1);
            * ``i``, the annual ``economics.discount_rate``;
            * ``AC = economics.acquisition_cost`` and ``s`` the share of the
              window's new customers that marketing acquired,
              ``(acquired - referred) / acquired`` (1 if no one was acquired):
              referred customers cost nothing, so this is the lifetime value
              of the *average* new customer.

        Notes
        -----
        Timing (Reichheld & Sasser 1990; Gupta & Lehmann 2003): the customer
        is acquired at time 0, paying the acquisition cost, and earns ``m``
        at the end of each year; with ``"retained"`` a year counts only if
        the customer stays through it, with ``"certain"`` the first year is
        earned for sure.  The engine's customers earn week by week until they
        defect, which neither annual convention reproduces exactly.  The
        gross margin, discount rate and acquisition cost are read from the
        base :attr:`params` (scheduled changes are not taken into account).
        """
        from .theory import customer_lifetime_value

        economics = self.params.economics
        retention = min(self.total("retention", start=start), 1.0 - 1e-9)  # also checks start
        weeks = self.horizon - start
        customers = self.field("active_customers")[start:].mean()
        margin = self.field("revenue")[start:].sum() * economics.gross_margin / max(customers, 1e-12) * 52.0 / weeks
        acquired = self.field("acquired")[start:].sum()
        referred = self.field("referred")[start:].sum()
        marketing_share = (acquired - referred) / acquired if acquired > 0 else 1.0
        return float(customer_lifetime_value(margin, retention, economics.discount_rate,
                                             economics.acquisition_cost * marketing_share,
                                             first_period=first_period))

    def _unit(self, unit):
        if not isinstance(unit, (int, np.integer)) or not 0 <= unit < self.n_units:
            raise IndexError(f"unit must be an integer in [0, {self.n_units}), got {unit!r}")
        return int(unit)

    # ---------------------------------------------------------- reporting
    def summary(self, *, start: int = 0) -> str:
        """A readable table of every KPI: its first and last week, and its total from ``start``.

        ``start`` counts weeks from 0, as ``at_week`` does; the column labels
        number weeks from 1, as the charts do, so ``start=13`` leaves out 13
        weeks and labels its columns "week 14", "week 52" and "weeks 14-52"
        in a 52-week run.
        """
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < self.horizon:
            raise ValueError(f"start must be an integer in [0, {self.horizon}), got {start!r}")
        first, last = f"week {start + 1}", f"week {self.horizon}"
        span = f"weeks {start + 1}-{self.horizon}" if start + 1 < self.horizon else last
        lines = [f"spchain run: {self.n_units} unit(s), {self.horizon} weeks, seed {self.seed}"
                 + (f", {self.wall_seconds:.2f} s" if np.isfinite(self.wall_seconds) else ""),
                 f"{'KPI':<36}{first:>14}{last:>14}{span:>14}  unit "
                 f"({span}: flows summed, stocks and ratios averaged; weeks numbered from 1)"]
        for name, kpi in METRICS.items():
            series = self.kpi(name)
            unit = kpi.unit.replace("/week", "") + " (sum)" if kpi.is_flow else kpi.unit
            lines.append(f"{kpi.label:<36}{format_value(series[start]):>14}{format_value(series[-1]):>14}"
                         f"{format_value(self.total(name, start=start)):>14}  {unit}")
        try:
            clv, note = format_value(self.customer_lifetime_value(start=start)), ""
        except ValueError as exc:  # e.g. retention >= 1 + a negative discount rate: the sum diverges
            clv, note = "undefined", (f"note: customer lifetime value undefined (the discounted sum "
                                      f"diverges or an input is missing): {exc}")
        lines.append(f"{'Customer lifetime value':<36}{'':>14}{'':>14}{clv:>14}  money")
        if note:
            lines.append(note)
        return "\n".join(lines)

    def to_frame(self, *, units: bool = True):
        """Tidy pandas frame: ``period, unit, metric, value`` (requires pandas).

        ``unit`` is ``"all"`` for the organisation's aggregate; with
        ``units=False`` only the aggregate rows are returned.
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frame() needs pandas: pip install 'spchain[pandas]'") from exc
        return pd.DataFrame(self.to_records(units=units), columns=["period", "unit", "metric", "value"])

    def to_panel(self, *, start: int = 0, levers=()):
        """The run as a unit-by-week :class:`spchain.Panel`, the input of :func:`spchain.fit_links`.

        Parameters
        ----------
        start : int, default 0
            First week in the panel (a warm-up to leave out).
        levers : sequence of str
            Dotted parameter paths (e.g. ``"workforce.recognition"``) to
            add as columns named by their last part, with the value in force
            each week (the schedule applied).  Constant levers are absorbed
            by unit effects, so add only levers the schedule changes.

        Returns
        -------
        Panel
            One row per unit and week (``period`` is the run's week number),
            with every KPI of :data:`spchain.metrics.METRICS` per unit (the
            column ``name`` equals ``kpi(name, by_unit=True)[start:, unit]``)
            and the raw counts ``quits, churned, customers_start,
            responses`` for the hazard equations, as
            :func:`spchain.synthetic_panel` gives; with the run's
            ``"staff"`` records (``simulate(..., record=("staff",))``)
            also ``perceived_isq``, the staff's mean perceived ISQ
            (:func:`spchain.panel.staff_perceived_isq`).  ``truth`` holds the
            run's link coefficients and reference levels (of the base
            :attr:`params`), ``meta`` the seed, horizon and parameters.

        Examples
        --------
        >>> from spchain import simulate, preset
        >>> panel = simulate(preset("bank_branches"), horizon=4, seed=1).to_panel()
        >>> panel.n_units, panel.n_periods
        (5, 4)
        """
        from .panel import Panel

        return Panel.from_result(self, start=start, levers=levers)

    def to_records(self, *, units: bool = True) -> list[tuple]:
        """Rows ``(period, unit, metric, value)`` as plain tuples (for CSV files)."""
        rows = []
        periods = range(self.horizon)
        for name in METRICS:
            for t, v in zip(periods, self.kpi(name).tolist()):
                rows.append((t, "all", name, v))
            if units:
                for u in range(self.n_units):
                    for t, v in zip(periods, self.kpi(name, u).tolist()):
                        rows.append((t, u, name, v))
        return rows


class FieldView:
    """Field-name access to the last axis of a sums array, as :meth:`spchain.metrics.Metric.evaluate` reads it.

    Parameters
    ----------
    data : ndarray
        Sums whose last axis runs over :data:`spchain.metrics.FIELDS`, of any
        leading shape (weeks; weeks and units; replications and weeks).

    Examples
    --------
    >>> import numpy as np
    >>> from spchain.metrics import FIELDS
    >>> sums = np.zeros((3, len(FIELDS)))
    >>> sums[:, FIELDS.index("served")] = [4.0, 5.0, 6.0]
    >>> FieldView(sums)["served"]
    array([4., 5., 6.])
    """

    def __init__(self, data):
        self.data = data

    def __getitem__(self, name):
        return self.data[..., FIELD_INDEX[name]]


def format_value(x) -> str:
    """A KPI value for a plain-text table: thousands separated, 3 decimals below 10, "-" if undefined.

    The plain-text rule of :func:`spchain.formatting.format_number` (``plain=True``).
    """
    from .formatting import format_number

    return format_number(x, plain=True)

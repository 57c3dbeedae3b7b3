"""The report's numbers and units: the scenario table, KPI units, money and CSV cells.

Shared by the report folder (:mod:`.report`), its page (:mod:`.report_html`)
and the scenario file's ``[report]`` section (:mod:`.scenario_file`), so
each of them imports from here and none from another:

* :data:`DEFAULT_REPORT_METRICS`: the KPIs of the scenario table unless a
  scenario file says otherwise;
* :data:`MONEY_SCALES`, :data:`DEFAULT_CURRENCY` and :func:`money_unit`: the
  unit every amount of money is printed in;
* :func:`kpi_unit`: the unit of a KPI's per-run total;
* :func:`summary_rows`: the scenario table (``summary.csv``);
* :func:`csv_number`: a number at full precision for CSV files.

Numbers are printed by :func:`spchain.formatting.format_number`.
"""

from __future__ import annotations

import math
import re

from ..metrics import METRICS

__all__ = ["DEFAULT_REPORT_METRICS", "MONEY_SCALES", "DEFAULT_CURRENCY", "money_unit", "kpi_unit",
           "summary_rows", "csv_number"]

#: KPIs of the report's scenario table unless ``[report] metrics`` says otherwise.
DEFAULT_REPORT_METRICS = ("internal_service_quality", "employee_satisfaction", "turnover",
                          "service_quality", "wait_time", "customer_satisfaction", "nps",
                          "active_customers", "revenue", "costs", "profit")
#: ``[report] money_scale`` -> the divisor of every amount of money the report prints, and its word.
MONEY_SCALES = {"units": (1.0, ""), "thousands": (1e3, "thousand"), "millions": (1e6, "million")}
#: The currency of a report whose settings name none: honest about what the model's money is.
DEFAULT_CURRENCY = "money units"


def money_unit(currency=DEFAULT_CURRENCY, money_scale="units") -> str:
    """The unit the report prints money in: ``"EUR"``, ``"thousand EUR"``, ``"money units"``...

    Parameters
    ----------
    currency : str
        A currency name or code (``"EUR"``).
    money_scale : {"units", "thousands", "millions"}
        A key of :data:`MONEY_SCALES`.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For a currency that is not a non-empty string or an unknown scale.
    """
    if not isinstance(currency, str) or not currency.strip():
        raise ValueError(f"currency={currency!r}: expected a non-empty string such as 'EUR'")
    if money_scale not in MONEY_SCALES:
        raise ValueError(f"money_scale={money_scale!r}: expected one of {list(MONEY_SCALES)}")
    word = MONEY_SCALES[money_scale][1]
    return f"{word} {currency.strip()}" if word else currency.strip()


def csv_number(x) -> str:
    """A number for CSV files and data attributes: full precision, empty when missing or not finite."""
    return "" if x is None or not math.isfinite(x) else repr(float(x))


def kpi_unit(name, result, money=DEFAULT_CURRENCY) -> str:
    """The unit of a KPI's per-run total in a report, with money in ``money`` (``"EUR"``, ``"thousand EUR"``).

    Examples: ``"EUR, total of weeks 14-104"`` for profit, ``"min"`` for the mean wait.

    Parameters
    ----------
    name : str
        A KPI of :data:`spchain.METRICS`.
    result : ExperimentResult
        Its warm-up and horizon give the weeks a flow is summed over.
    money : str
        What ``money`` in a unit becomes (:func:`money_unit`).

    Returns
    -------
    str
    """
    from ..viz.plotting import total_unit

    unit = total_unit(name, result)
    return re.sub(r"\bmoney\b", money, unit) if METRICS[name].is_money else unit


def summary_rows(result, metrics, level=0.95, *, currency=DEFAULT_CURRENCY) -> list:
    """The scenario table as dicts: one row per KPI and scenario (as in ``summary.csv``).

    Values are unrounded and unscaled; the ``unit`` of money names ``currency``.

    Parameters
    ----------
    result : ExperimentResult
    metrics : sequence of str
        The KPIs, in the table's order.
    level : float
        Confidence level of the intervals.
    currency : str
        The currency the ``unit`` of money names.

    Returns
    -------
    list of dict
        ``metric, label, unit, scenario, mean, ci_low, ci_high, n``, and the
        paired ``difference`` and ``relative`` change against the baseline
        with their ``_low`` and ``_high`` ends (NaN in the baseline's rows).
    """
    rows = []
    for name in metrics:
        label = METRICS[name].label
        for scenario in result.scenarios:
            estimate = result.estimate(name, scenario=scenario, level=level)
            row = dict(metric=name, label=label, unit=kpi_unit(name, result, currency), scenario=scenario,
                       mean=estimate.mean, ci_low=estimate.low, ci_high=estimate.high, n=estimate.n,
                       difference=math.nan, difference_low=math.nan, difference_high=math.nan,
                       relative=math.nan, relative_low=math.nan, relative_high=math.nan)
            if scenario != result.baseline:
                d = result.difference(name, scenario=scenario, level=level)
                row.update(difference=d.mean, difference_low=d.low, difference_high=d.high,
                           relative=d.relative, relative_low=d.relative_low, relative_high=d.relative_high)
            rows.append(row)
    return rows

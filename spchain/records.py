"""Optional per-event records: which kinds exist, their columns, and conversion to arrays.

The engine aggregates everything into weekly sums; when asked
(``simulate(..., record=("surveys", "churn"))`` or ``record_events=True``
for every kind) it also keeps one row per event of the kinds asked for, as
plain tuples in a list per kind (nothing is kept, and nothing is checked on
the hot path, for a kind not asked for).  :meth:`spchain.RunResult.records`
turns a kind's rows into NumPy columns once, after the run.

Times are open hours since the start of the run (week ``w`` covers
``[w H, (w + 1) H)`` with ``H = organisation.hours_per_week``); ``week`` is
the week whose sums count the event; ``customer`` is a slot of the unit's
customer base, which identifies one customer from its ``acquisition`` row
(or the start) to its ``churn`` row and is reused by a later customer from
the week after a churn.
"""

from __future__ import annotations

import numpy as np

__all__ = ["RECORDS", "record_kinds", "to_columns"]

_INT, _FLOAT, _LABEL = np.int64, np.float64, np.dtype("U9")  # column types; a label of up to 9 characters

#: Per-event record kinds -> their columns ``(name, dtype)``, in row order.
RECORDS = {
    # a completed service, counted in the week it completed
    "served": (("unit", _INT), ("position", _INT), ("customer", _INT), ("arrival_time", _FLOAT),
               ("wait", _FLOAT), ("service_time", _FLOAT), ("quality", _FLOAT)),
    # a customer who left the queue when its patience ran out at abandon_time
    "abandoned": (("unit", _INT), ("customer", _INT), ("arrival_time", _FLOAT), ("abandon_time", _FLOAT)),
    # a survey response of a customer served this week (CSAT 1-5, likelihood to recommend 0-10),
    # with the customer's latent satisfaction (0-1) the responses were drawn from
    "surveys": (("unit", _INT), ("week", _INT), ("customer", _INT), ("satisfaction", _FLOAT),
                ("csat", _INT), ("ltr", _INT)),
    # a defection at the week's end, with the satisfaction (0-1) its hazard was computed from
    "churn": (("unit", _INT), ("week", _INT), ("customer", _INT), ("satisfaction", _FLOAT)),
    # a new customer at the week's end and the slot it took; source "referral" or "marketing"
    "acquisition": (("unit", _INT), ("week", _INT), ("customer", _INT), ("source", _LABEL)),
    # an employee leaving position at time, with tenure (weeks) and satisfaction (0-1) at the quit
    "quits": (("unit", _INT), ("week", _INT), ("time", _FLOAT), ("position", _INT), ("tenure", _FLOAT),
              ("satisfaction", _FLOAT)),
    # a new employee taking up position at time
    "hires": (("unit", _INT), ("week", _INT), ("time", _FLOAT), ("position", _INT)),
    # one row per unit and week, at the week's end after the satisfaction update: the staff in post,
    # the mean of their perceived ISQ (the smoothed ISQ each employee feels, the driver of their
    # satisfaction target) and of their satisfaction (0-1; NaN with nobody in post)
    "staff": (("unit", _INT), ("week", _INT), ("headcount", _INT), ("perceived_isq", _FLOAT), ("satisfaction", _FLOAT)),
    # one row per active customer and week, at the week's end: the satisfaction (0-1) the week's churn
    # hazard was computed from, and 1 if the customer defected that week (individual-level churn data)
    "customers": (("unit", _INT), ("week", _INT), ("customer", _INT), ("satisfaction", _FLOAT),
                  ("churned", _INT)),
    # one row per employee in post at the start of the week: the satisfaction (0-1) the week's quit
    # hazard was computed from, tenure (weeks), skill and the quality of service she delivers this week
    # (0-1), and 1 if she quits during the week (individual-level HR data)
    "employees": (("unit", _INT), ("week", _INT), ("position", _INT), ("satisfaction", _FLOAT),
                  ("tenure", _FLOAT), ("skill", _FLOAT), ("quality", _FLOAT), ("quit", _INT)),
}


def record_kinds(record) -> tuple:
    """The record kinds asked for, validated, in :data:`RECORDS` order.

    Parameters
    ----------
    record : bool, str, iterable of str or None
        ``True`` or ``"all"``: every kind; ``False``, ``None`` or empty:
        none; a kind's name or several names.

    Raises
    ------
    ValueError
        A name that is not a kind of :data:`RECORDS`, or a value of another type.

    Examples
    --------
    >>> record_kinds(("churn", "surveys"))
    ('surveys', 'churn')
    >>> record_kinds(False)
    ()
    """
    if record is None or record is False:
        return ()
    if record is True or record == "all":
        return tuple(RECORDS)
    names = (record,) if isinstance(record, str) else record
    try:
        names = list(names)
    except TypeError:
        raise ValueError(f"record must be True, 'all', a record kind or an iterable of them, "
                         f"got {record!r}") from None
    unknown = [n for n in names if not isinstance(n, str) or n not in RECORDS]
    if unknown:
        raise ValueError(f"unknown record kind {unknown[0]!r}; expected 'all' or some of {list(RECORDS)}")
    return tuple(k for k in RECORDS if k in names)


def to_columns(kind: str, rows) -> dict:
    """``{column: ndarray}`` of one kind's rows (length 0 when there are none)."""
    spec = RECORDS[kind]
    if not rows:
        return {name: np.zeros(0, dtype) for name, dtype in spec}
    return {name: np.array(col, dtype) for (name, dtype), col in zip(spec, zip(*rows))}

"""Unit-level panels: a light table with CSV input and output.

A :class:`Panel` holds one row per unit and period as NumPy columns (``unit``
and ``period`` plus any measured quantity).  :func:`read_panel` and
:meth:`Panel.to_csv` use the standard-library ``csv`` module; pandas is only
needed for :meth:`Panel.to_frame` / :meth:`Panel.from_frame`.
:meth:`Panel.from_result` (and :meth:`spchain.RunResult.to_panel`) turn a
run into a panel.  Panels with known truth, for testing estimators, are
drawn by :mod:`spchain.fitting.synthetic`.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Mapping

import numpy as np

from .metrics import METRICS
from .params import Change, ParamError, Params

class DataError(ValueError):
    """Data or targets handed to a fitting function are unusable.

    The message names the column (or target), the offending value or count
    and what was expected.
    """


__all__ = ["Panel", "read_panel", "staff_perceived_isq", "DataError", "RAW_FIELDS"]

#: Raw fields copied into model panels next to the KPIs (counts for the hazard equations).
RAW_FIELDS = ("quits", "churned", "customers_start", "responses")


class Panel:
    """A unit-by-period table of NumPy columns.

    Parameters
    ----------
    columns : mapping of str to array_like
        Equal-length 1-D columns; must include ``unit`` and ``period``
        (integers).  Other columns are converted to float (empty strings
        and ``"nan"`` become NaN).
    truth : mapping, optional
        Known true values (parameter paths or coefficient names) for
        synthetic panels.
    meta : mapping, optional
        JSON-able description of how the panel was made.

    Examples
    --------
    >>> p = Panel({"unit": [0, 0, 1, 1], "period": [0, 1, 0, 1], "csat": [4.1, 4.2, 3.9, 4.0]})
    >>> p.n_units, p.n_periods, len(p)
    (2, 2, 4)
    """

    def __init__(self, columns: Mapping, *, truth: Mapping | None = None, meta: Mapping | None = None):
        if not isinstance(columns, Mapping):
            raise DataError(f"panel columns must be a mapping of name to array, got {type(columns).__name__}")
        for key in ("unit", "period"):
            if key not in columns:
                raise DataError(f"panel needs a {key!r} column; got columns {sorted(columns)}")
        cols = {}
        n = None
        for name, values in columns.items():
            arr = np.asarray(values)
            if arr.ndim != 1:
                raise DataError(f"panel column {name!r} must be one-dimensional, got shape {arr.shape}")
            if n is None:
                n = arr.size
            elif arr.size != n:
                raise DataError(f"panel column {name!r} has {arr.size} rows; expected {n} like the others")
            if name in ("unit", "period"):
                try:
                    f = arr.astype(float)
                except (TypeError, ValueError):
                    raise DataError(f"panel column {name!r} must hold integers, got {arr[:3].tolist()}") from None
                bad = ~np.isfinite(f) | (f != np.round(f))
                if bad.any():
                    i = int(np.flatnonzero(bad)[0])
                    raise DataError(f"panel column {name!r} must hold integers; row {i} is {arr[i].item()!r}")
                cols[name] = f.astype(np.int64)
            else:
                cols[name] = _to_float(name, arr)
        key = np.stack([cols["unit"], cols["period"]], axis=1)
        if n and np.unique(key, axis=0).shape[0] != n:
            order = np.lexsort((cols["period"], cols["unit"]))
            k = key[order]
            dup = np.flatnonzero((k[1:] == k[:-1]).all(axis=1))[0]
            raise DataError(f"panel has more than one row for unit {k[dup, 0]}, period {k[dup, 1]}")
        order = np.lexsort((cols["period"], cols["unit"]))
        self._columns = {name: arr[order] for name, arr in cols.items()}
        self.truth = dict(truth or {})
        self.meta = dict(meta or {})

    # ------------------------------------------------------------ access
    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._columns[name]
        except KeyError:
            raise KeyError(f"unknown panel column {name!r}; expected one of {self.columns}") from None

    def __contains__(self, name) -> bool:
        return name in self._columns

    def __len__(self) -> int:
        return self._columns["unit"].size

    def __repr__(self) -> str:
        return (f"Panel({self.n_units} units x {self.n_periods} periods, {len(self)} rows, "
                f"columns {self.columns})")

    @property
    def columns(self) -> list[str]:
        """Column names, ``unit`` and ``period`` first."""
        return list(self._columns)

    @property
    def n_units(self) -> int:
        return int(np.unique(self._columns["unit"]).size)

    @property
    def n_periods(self) -> int:
        return int(np.unique(self._columns["period"]).size)

    def to_dict(self) -> dict:
        """``{column: ndarray}`` (copies)."""
        return {k: v.copy() for k, v in self._columns.items()}

    # ------------------------------------------------------------- files
    def to_csv(self, path) -> Path:
        """Write the panel as CSV (header row, one row per unit and period).

        When the panel carries ``truth`` or ``meta`` they are written next to
        it as ``<path>.json``, which :func:`read_panel` reads back.
        """
        path = Path(path)
        names = self.columns
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(names)
            cols = [self._columns[n] for n in names]
            for row in zip(*cols):
                w.writerow([_fmt(v) for v in row])
        if self.truth or self.meta:
            side = path.with_name(path.name + ".json")
            side.write_text(json.dumps({"truth": self.truth, "meta": self.meta}, indent=2, default=_json))
        return path

    def to_frame(self):
        """A pandas DataFrame of the columns (requires pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frame() needs pandas: pip install 'spchain[pandas]'") from exc
        return pd.DataFrame(self._columns)

    @classmethod
    def from_frame(cls, frame, *, truth=None, meta=None) -> "Panel":
        """A panel from a pandas DataFrame (or any mapping of columns)."""
        return cls({str(c): np.asarray(frame[c]) for c in frame.columns}
                   if hasattr(frame, "columns") else frame, truth=truth, meta=meta)

    @classmethod
    def from_result(cls, result, *, start: int = 0, levers=()) -> "Panel":
        """The unit-by-week panel of one simulated run; see :meth:`spchain.RunResult.to_panel`."""
        h, n_units = result.horizon, result.n_units
        if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not 0 <= start < h:
            raise ValueError(f"start must be an integer in [0, {h}), got {start!r}")
        levers = (levers,) if isinstance(levers, str) else tuple(levers)
        weeks = np.arange(int(start), h)
        cols = {"unit": np.repeat(np.arange(n_units), weeks.size), "period": np.tile(weeks, n_units)}
        for name in METRICS:  # (weeks, units) -> unit-major rows
            cols[name] = result.kpi(name, by_unit=True)[start:].T.ravel()
        for name in RAW_FIELDS:
            cols[name] = np.concatenate([result.field(name, u)[start:] for u in range(n_units)])
        if "staff" in result.recorded:
            cols["perceived_isq"] = staff_perceived_isq(result)[start:].T.ravel()
        in_force = [result.params.at_week(int(w)) for w in weeks] if levers else []
        for path in levers:
            result.params.get(path)  # ParamError for an unknown path
            col = path.rsplit(".", 1)[-1]
            if col in cols:
                raise ValueError(f"lever {path}: its column {col!r} is already in the panel")
            cols[col] = np.tile(np.array([p.get(path) for p in in_force], float), n_units)
        meta = dict(kind="run", seed=result.seed, horizon=h, start=int(start), levers=list(levers),
                    params=result.params.to_dict())
        return cls(cols, truth=true_links(result.params), meta=meta)


def read_panel(path, *, unit: str = "unit", period: str = "period") -> Panel:
    """Read a panel CSV (header row; ``unit`` and ``period`` columns, numbers elsewhere).

    Parameters
    ----------
    path : str or Path
        The CSV file; a ``<path>.json`` written by :meth:`Panel.to_csv` is
        read back into ``truth`` and ``meta``.
    unit, period : str
        Names of the unit and period columns in the file (renamed to
        ``unit`` and ``period``).  Unit labels that are not integers are
        numbered in order of appearance; the labels are kept in
        ``meta["unit_labels"]``.

    Raises
    ------
    DataError
        Missing unit/period column, ragged rows, or a non-numeric value
        (named by column, row and value).
    """
    path = Path(path)
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise DataError(f"{path}: empty file; expected a header row")
    header = [h.strip() for h in rows[0]]
    for key in (unit, period):
        if key not in header:
            raise DataError(f"{path}: no {key!r} column; the header has {header}")
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise DataError(f"{path}: row {i + 2} has {len(r)} fields; the header has {len(header)}")
    cols = {h: [r[j].strip() for r in body] for j, h in enumerate(header)}
    meta = {}
    labels = cols.pop(unit)
    try:
        unit_ids = [int(float(v)) for v in labels]
    except ValueError:
        order = {}
        unit_ids = [order.setdefault(v, len(order)) for v in labels]
        meta["unit_labels"] = list(order)
    out = {"unit": unit_ids, "period": cols.pop(period)}
    for name, values in cols.items():
        arr = np.empty(len(values))
        for i, v in enumerate(values):
            if v == "" or v.lower() in ("na", "nan", "null", "none"):
                arr[i] = np.nan
                continue
            try:
                arr[i] = float(v)
            except ValueError:
                raise DataError(f"{path}: column {name!r}, row {i + 2}: {v!r} is not a number") from None
        out[name] = arr
    truth = {}
    side = path.with_name(path.name + ".json")
    if side.exists():
        extra = json.loads(side.read_text())
        truth = extra.get("truth", {})
        meta = {**extra.get("meta", {}), **meta}
    return Panel(out, truth=truth, meta=meta)


def staff_perceived_isq(result) -> np.ndarray:
    """The mean perceived ISQ of each unit's staff at each week's end, ``(weeks, units)``.

    What an internal-service survey of every employee in post would read:
    the mean of the smoothed ISQ each employee feels (``docs/model.md``,
    section 2.5), the driver of their satisfaction target, which the
    unit's weekly ``internal_service_quality`` KPI (the mean score of the
    week's scored items) measures only with error.  NaN in a week with
    nobody in post.

    Parameters
    ----------
    result : RunResult
        A run that kept the ``"staff"`` records
        (``simulate(..., record=("staff",))``).

    Returns
    -------
    numpy.ndarray
        Shape ``(horizon, n_units)``.

    Raises
    ------
    ValueError
        The run kept no ``"staff"`` records.
    """
    rows = result.records("staff")
    out = np.full((result.horizon, result.n_units), np.nan)
    out[rows["week"], rows["unit"]] = rows["perceived_isq"]
    return out


def true_links(params) -> dict:
    """The data-generating values a model panel's ``truth`` records: every link and the reference levels."""
    truth = {f"links.{k}": v for k, v in params.links.to_dict().items()}
    for path in ("workforce.satisfaction_delay_weeks", "workforce.base_quit_rate",
                 "customers.base_churn_rate", "workforce.reference_satisfaction",
                 "customers.reference_satisfaction", "workforce.reference_isq",
                 "customers.wait_tolerance_minutes"):
        truth[path] = params.get(path)
    return truth


# --------------------------------------------------------------- helpers
def _to_float(name, arr):
    if arr.dtype.kind in "fiub":
        return arr.astype(float)
    out = np.empty(arr.size)
    for i, v in enumerate(arr.tolist()):
        if v is None or (isinstance(v, str) and v.strip().lower() in ("", "na", "nan", "null", "none")):
            out[i] = np.nan
            continue
        try:
            out[i] = float(v)
        except (TypeError, ValueError):
            raise DataError(f"panel column {name!r}, row {i}: {v!r} is not a number") from None
    return out


def _fmt(v) -> str:
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if not math.isfinite(v):
        return ""
    return repr(v)


def _json(x):
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating,)):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def __getattr__(name):
    """The panel generators' old home: they moved to :mod:`spchain.fitting.synthetic`."""
    if name in ("synthetic_panel", "structural_panel", "panel_params", "DEFAULT_LEVERS"):
        import importlib
        import warnings

        warnings.warn(f"spchain.panel.{name} has moved to spchain.fitting.synthetic.{name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module("spchain.fitting.synthetic"), name)
    raise AttributeError(f"module 'spchain.panel' has no attribute {name!r}")

"""Workshops: the two regimes, round-by-round play, and an interactive what-if panel.

Three tools for a room of participants, all built on :func:`spchain.simulate`
and common random numbers (the same seed gives the same customers, quits and
survey answers, so any difference between two runs is the levers' doing):

:func:`regimes`
    the cycle of failure, the baseline and the cycle of success from one
    preset, for a side-by-side dashboard;
:class:`Game`
    round-by-round play: participants set the levers at the start of each
    quarter (13 weeks) and watch the chain respond; a debrief chart
    compares their path with the baseline (4-week means, rounds labelled,
    money written for people) and a summary table names each change;
:func:`what_if_panel`
    ipywidgets sliders for the main levers; each change re-runs the model
    and redraws only what changed on the chain dashboard.

The charts are drawn by :mod:`spchain.viz.workshop`; Matplotlib and
ipywidgets are imported only when a chart or a panel is made, so
``import spchain.apps.workshop`` stays light.
"""

from __future__ import annotations

import dataclasses
import html
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass

from ..params import Change, ParamError, Params
from ..presets import preset
from ..engine.units import CapacityWarning
from ..engine.run import Simulation, simulate

__all__ = ["LEVERS", "QUARTER", "Lever", "regimes", "Game", "WhatIf", "what_if_panel", "lever_change_text"]

#: Weeks per round of a :class:`Game`.
QUARTER = 13


@dataclass(frozen=True)
class Lever:
    """A management lever as a slider: dotted path, label and range.

    Attributes
    ----------
    path : str
        Dotted parameter path (see :meth:`spchain.Params.override`).
    label : str
        What the room sees.
    low, high, step : float
        Slider range and step; integer parameters use integer steps.
    """

    path: str
    label: str
    low: float
    high: float
    step: float


#: The main levers of a workshop, in chain order.
LEVERS = (
    Lever("internal.tools_spend_per_week", "Internal tools budget (per week)", 0.0, 10000.0, 500.0),
    Lever("internal.departments.it.n_staff", "IT support staff", 0, 6, 1),
    Lever("workforce.training_hours", "Training (hours/employee/week)", 0.0, 8.0, 0.5),
    Lever("workforce.recognition", "Recognition programme", -1.0, 1.0, 0.1),
    Lever("workforce.pay_index", "Pay relative to market", 0.7, 1.5, 0.05),
    Lever("economics.price_index", "Price relative to reference", 0.7, 1.5, 0.05),
)

_POOR_INTERNAL = {"internal.departments.it.n_staff": 1,
                  "internal.departments.it.service_time_hours": 6.0,
                  "internal.departments.it.ftr_prob": 0.4,
                  "internal.departments.back_office.ftr_prob": 0.4}
_GOOD_INTERNAL = {"internal.tools_spend_per_week": 6000.0}


def _base(params) -> Params:
    if params is None:
        return preset("workshop")
    if isinstance(params, str):
        return preset(params)
    if not isinstance(params, Params):
        raise ParamError(f"params must be a spchain.Params or a preset name, got {type(params).__name__}")
    return params


def _levers(levers) -> tuple:
    if levers is None:
        return LEVERS
    by_path = {lever.path: lever for lever in LEVERS}
    out = []
    for item in levers:
        if isinstance(item, Lever):
            out.append(item)
        elif item in by_path:
            out.append(by_path[item])
        else:
            raise ParamError(f"unknown lever {item!r}; pass a spchain.apps.workshop.Lever or one of "
                             f"{sorted(by_path)}")
    return tuple(out)


def regimes(params=None, *, horizon: int = 104, seed: int = 2026) -> dict:
    """The cycle of failure, the baseline and the cycle of success from one preset.

    The failure run starves internal service (one slow IT employee, rework
    on most IT and back-office requests); the success run invests 6,000 a
    week in internal tools.  The three runs share their seed, so they differ
    only by the internal service they start from.  The failure run's IT
    department is overloaded on purpose (its backlog grows without bound:
    that is the cycle of failure), so the
    :class:`~spchain.engine.units.CapacityWarning` it would raise is not shown; the
    baseline's and the success run's warnings are.

    Parameters
    ----------
    params : Params or str, optional
        Base parameters or a preset name; default the ``workshop`` preset.
        Its internal departments must include ``it`` and ``back_office``.
    horizon : int
        Weeks per run.
    seed : int
        Seed shared by the three runs.

    Returns
    -------
    dict of str to RunResult
        ``{"cycle of failure": ..., "baseline": ..., "cycle of success": ...}``.

    Examples
    --------
    >>> runs = regimes(horizon=8, seed=1)
    >>> list(runs)
    ['cycle of failure', 'baseline', 'cycle of success']
    """
    base = _base(params)
    variants = {"cycle of failure": base.override(_POOR_INTERNAL), "baseline": base,
                "cycle of success": base.override(_GOOD_INTERNAL)}
    runs = {}
    for name, p in variants.items():
        with warnings.catch_warnings():
            if name == "cycle of failure":
                warnings.simplefilter("ignore", CapacityWarning)
            runs[name] = simulate(p, horizon=horizon, seed=seed)
    return runs


class Game:
    """Round-by-round play: set the levers each quarter, watch the chain respond.

    Every round simulates one more quarter from the saved state of the run
    (a :class:`spchain.engine.run.Simulation`), with the levers of every round
    played so far scheduled as :class:`~spchain.Change` s at the start of
    their quarter: the numbers are exactly those of one run with that
    schedule, and a round costs one quarter of simulation however late in
    the game it is.

    Parameters
    ----------
    params : Params or str, optional
        Starting organisation (a preset name or parameters); default the
        ``workshop`` preset.  Its own schedule is kept.
    quarters : int
        Rounds in the game (13 weeks each).
    seed : int
        Seed of every run (and of the baseline).
    levers : sequence of Lever or str, optional
        Levers the participants may set; default :data:`LEVERS`.

    Examples
    --------
    >>> game = Game(quarters=2, seed=1)
    >>> result = game.play({"workforce.recognition": 0.5})
    >>> game.week, result.horizon
    (13, 13)
    >>> game.levers()["workforce.recognition"]
    0.5
    """

    def __init__(self, params=None, *, quarters: int = 8, seed: int = 2026, levers=None):
        if isinstance(quarters, bool) or not isinstance(quarters, int) or quarters < 1:
            raise ParamError(f"quarters must be an integer >= 1, got {quarters!r}")
        self.params = _base(params)
        self.quarters = quarters
        self.seed = seed
        self.lever_set = _levers(levers)
        self.rounds: list = []  # one dict of path -> value per quarter played
        self.result = None
        self._play = Simulation(self.params, horizon=QUARTER * quarters, seed=seed)
        self._base_run = Simulation(self.params, horizon=QUARTER * quarters, seed=seed)
        self._baseline = None

    @property
    def week(self) -> int:
        """Weeks played so far."""
        return QUARTER * len(self.rounds)

    @property
    def finished(self) -> bool:
        """Whether every quarter has been played."""
        return len(self.rounds) >= self.quarters

    def levers(self) -> dict:
        """The lever values in force now (after the rounds played), by path."""
        current = self._scheduled(self.rounds).at_week(self.week)
        return {lever.path: current.get(lever.path) for lever in self.lever_set}

    def _scheduled(self, rounds) -> Params:
        changes = [Change(at_week=QUARTER * q, path=path, value=value)
                   for q, choice in enumerate(rounds) for path, value in choice.items()]
        return self.params.with_changes(*changes)

    def play(self, choices=None) -> "RunResult":  # noqa: F821
        """Set levers for the next quarter and simulate it.

        Parameters
        ----------
        choices : mapping of str to value, optional
            Lever path -> value from the start of this quarter; levers left
            out keep their current values.  ``None`` plays a quarter without
            changes.

        Returns
        -------
        RunResult
            The chain from week 0 to the end of this quarter.

        Raises
        ------
        ParamError
            The game is over, a path is not one of the game's levers, or a
            value is out of bounds; the round is not played.
        """
        if self.finished:
            raise ParamError(f"the game is over: all {self.quarters} quarters have been played")
        allowed = {lever.path for lever in self.lever_set}
        choice = dict(choices or {})
        for path in choice:
            if path not in allowed:
                raise ParamError(f"{path!r} is not a lever of this game; expected one of {sorted(allowed)}")
        current = self.levers()
        choice = {p: v for p, v in choice.items() if v != current[p]}
        rounds = self.rounds + [choice]
        params = self._scheduled(rounds)  # validates every value before anything changes
        result = self._play.advance(QUARTER * len(rounds), params=params)
        self.rounds, self.result = rounds, result
        return result

    def baseline(self) -> "RunResult":  # noqa: F821
        """The same organisation and seed with no lever changes, over the weeks played."""
        weeks = max(self.week, QUARTER)
        if self._baseline is None or self._baseline.horizon != weeks:
            self._baseline = self._base_run.advance(weeks)
        return self._baseline

    def summary(self, metrics=("employee_satisfaction", "customer_satisfaction", "profit")) -> str:
        """A plain-text table: per quarter, the changes made and each KPI against the baseline.

        Each change is written ``name=value``; a department's lever also names
        its department (``n_staff=4 (internal: it)``), and the column grows to
        fit every change, one per line.  Money is thousands separated,
        shares in percent (differences in percentage points), never in
        scientific notation.

        Parameters
        ----------
        metrics : sequence of str
            KPIs, one column each, computed per quarter as
            :meth:`spchain.RunResult.total` does (sums of flows, ratios of sums).

        Returns
        -------
        str
            ``"No quarter played yet."`` before the first round.
        """
        from ..metrics import metric

        kpis = [metric(m) for m in metrics]
        if not self.rounds:
            return "No quarter played yet."
        base = self.baseline()
        header = ["quarter", "changes"] + [_column_title(m) for m in kpis]
        rows = []
        for q, choice in enumerate(self.rounds):
            start, stop = QUARTER * q, QUARTER * (q + 1)
            cells = [_with_difference(m, _window(self.result, m.name, start, stop),
                                      _window(base, m.name, start, stop)) for m in kpis]
            changes = [lever_change_text(p, v) for p, v in choice.items()] or ["-"]
            rows.append([f"Q{q + 1}", changes[0]] + cells)
            rows.extend(["", more] + [""] * len(cells) for more in changes[1:])
        widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
        lines = ["  ".join(f"{cell:<{w}}" if i < 2 else f"{cell:>{w}}"
                           for i, (cell, w) in enumerate(zip(row, widths))).rstrip()
                 for row in [header] + rows]
        lines.append("per quarter as RunResult.total computes it (sums of flows, ratios of sums); "
                     "in brackets: difference from the baseline (same seed, no changes)")
        return "\n".join(lines)

    def plot_debrief(self, *, metrics=None, smooth: int = 4, fig=None):
        """The debrief chart: the room's path against the baseline, quarters marked.

        Weekly values of a 10-person branch are noisy (turnover jumps between
        0 and several quits a year), so each week shows by default the KPI of
        the 4 weeks up to it (:func:`spchain.viz.plotting.trailing_kpi`);
        ``smooth=1`` draws the raw weekly values.  The x axis is labelled by
        round (``Q1``, ``Q2``, ...) with a line where each round starts,
        dashed where the room changed a lever; money is written ``52k`` or
        ``5,000`` and shares in percent.

        Parameters
        ----------
        metrics : sequence of str, optional
            KPIs to draw; default :data:`spchain.viz.plotting.CHAIN_METRICS`.
        smooth : int
            Weeks in each trailing window; 1 for weekly values.
        fig : matplotlib.figure.Figure, optional
            Draw into this figure (it is cleared).

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        ParamError
            Before the first round, or for a ``smooth`` that is not a whole
            number of weeks >= 1.
        """
        if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
            raise ParamError(f"smooth must be a whole number of weeks >= 1 (1: weekly values), got {smooth!r}")
        if self.result is None:
            raise ParamError("play at least one quarter before the debrief")
        from ..viz.plotting import CHAIN_METRICS
        from ..viz.workshop import plot_debrief

        changed = {q for q, choice in enumerate(self.rounds) if q and choice}
        return plot_debrief(self.baseline(), self.result, rounds=len(self.rounds), weeks_per_round=QUARTER,
                            changed=changed, metrics=tuple(metrics or CHAIN_METRICS), smooth=smooth, fig=fig)


def lever_change_text(path, value) -> str:
    """A lever change as a table shows it: ``recognition=0.5``, ``n_staff=4 (internal: it)``.

    Parameters
    ----------
    path : str
        Dotted parameter path.
    value : float or int
        The new value; written with thousands separators and no trailing zeros.

    Returns
    -------
    str
        The path's last name, ``=`` and the value; a department's field
        (``internal.departments.<name>.<field>``) is followed by the
        department's name, so ``n_staff`` never leaves open whose staff.

    Examples
    --------
    >>> lever_change_text("internal.departments.it.n_staff", 4)
    'n_staff=4 (internal: it)'
    >>> lever_change_text("internal.tools_spend_per_week", 3000.0)
    'tools_spend_per_week=3,000'
    """
    parts = str(path).split(".")
    text = f"{parts[-1]}={value:,g}" if isinstance(value, (int, float)) else f"{parts[-1]}={value}"
    if len(parts) == 4 and parts[:2] == ["internal", "departments"]:
        text += f" (internal: {parts[2]})"
    return text


def _window(result, name, start, stop):
    """``result.total(name)`` over weeks ``start`` to ``stop - 1``."""
    cut = dataclasses.replace(result, horizon=stop, sums=result.sums[:stop],
                              department_sums=result.department_sums[:stop])
    return cut.total(name, start=start)


def _column_title(m) -> str:
    """A summary column's title: the KPI and its unit (flows are summed over the quarter)."""
    if m.is_flow:
        unit = m.unit.replace("/week", "")
        return f"{m.label} ({'' if unit == 'money' else unit + ', '}quarter total)"
    if m.unit.startswith("share"):
        return f"{m.label} (%)"
    return f"{m.label} ({m.unit})"


def _with_difference(m, mine, ref) -> str:
    """``"138,412 (+1,204)"``; shares ``"87.3% (+1.2 pts)"``."""
    from ..formatting import format_number

    if m.unit.startswith("share"):
        return f"{100 * mine:.1f}% ({100 * (mine - ref):+.1f} pts)".replace("-", "\u2212")
    return f"{format_number(mine, among=(ref,))} ({format_number(mine - ref, sign=True, among=(mine,))})"


class WhatIf:
    """The state behind :func:`what_if_panel`: sliders, the runs and the figure.

    The figure is built once; a change re-runs the model and then redraws
    only what changed: the "what if" line of each panel (its data set in
    place) over a saved image of everything else, and a panel on its own
    when its line leaves the panel's value range or fills less than a
    quarter of it.  With every slider at its base value the "what if" line
    lies on the baseline.  A lever combination seen before is not re-run
    (the last ``cache`` runs are kept).  On the ``workshop`` preset over 52 weeks a
    change costs 0.3-0.4 s of CPU for the model and 0.02-0.3 s for the
    redraw (``benchmarks/bench_whatif.py``; drawing the whole dashboard
    again took 0.5-0.9 s).

    Parameters
    ----------
    params : Params or str, optional
        Base parameters or a preset name; default the ``workshop`` preset.
    levers : sequence of Lever or str, optional
        Sliders to show; default :data:`LEVERS`.
    horizon : int
        Weeks per run.
    seed : int
        Seed of every run (common random numbers against the baseline).
    metrics : sequence of str, optional
        KPIs of the dashboard; default :data:`spchain.viz.plotting.CHAIN_METRICS`.
    smooth : int
        Weeks in each trailing window of the dashboard's lines (1: weekly values).
    cache : int
        Runs kept for lever combinations seen before (0: none).

    Attributes
    ----------
    widget : ipywidgets.VBox
        Sliders, a reset button, a status line and the dashboard image.
    sliders : dict of str to ipywidgets widget
        One slider per lever path.
    baseline, result : RunResult
        The run at the base parameters and the run at the sliders' values.
    figure : matplotlib.figure.Figure
        The dashboard, drawn on an Agg canvas; ``image`` holds it as PNG.
    timings : dict of str to float
        Seconds of the latest change on the clock: ``"model"`` (the run, 0
        when it came from the cache) and ``"redraw"`` (lines, panels and
        PNG); ``"model_cpu"`` and ``"redraw_cpu"``: the same in CPU seconds
        of this process (on a busy machine the clock runs ahead of them).
    n_updates : int
        Changes handled so far.
    n_full_redraws : int
        Drawings of the whole figure so far (the first one included).
    n_panel_redraws : int
        Panels drawn again on their own so far (a value range changed).
    """

    def __init__(self, params=None, *, levers=None, horizon: int = 52, seed: int = 2026, metrics=None,
                 smooth: int = 4, cache: int = 32):
        import ipywidgets as w

        from ..metrics import metric
        from ..viz.plotting import CHAIN_METRICS

        if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
            raise ParamError(f"horizon must be an integer >= 1 (weeks), got {horizon!r}")
        if isinstance(smooth, bool) or not isinstance(smooth, int) or smooth < 1:
            raise ParamError(f"smooth must be a whole number of weeks >= 1 (1: weekly values), got {smooth!r}")
        if isinstance(cache, bool) or not isinstance(cache, int) or cache < 0:
            raise ParamError(f"cache must be an integer >= 0 (runs kept), got {cache!r}")
        self.params = _base(params)
        self.levers = _levers(levers)
        self.metrics = tuple(metrics or CHAIN_METRICS)
        for name in self.metrics:
            metric(name)
        self.horizon, self.seed, self.smooth, self.cache = horizon, seed, smooth, cache
        started, cpu = time.perf_counter(), time.process_time()
        self.baseline = simulate(self.params, horizon=horizon, seed=seed)
        self.result = self.baseline
        self.timings = {"model": time.perf_counter() - started, "redraw": 0.0,
                        "model_cpu": time.process_time() - cpu, "redraw_cpu": 0.0}
        self._runs = OrderedDict()
        self.n_updates = 0
        self.sliders = {}
        for lever in self.levers:
            value = self.params.get(lever.path)
            integer = isinstance(value, int) and float(lever.step).is_integer()
            cls = w.IntSlider if integer else w.FloatSlider
            slider = cls(value=value, min=lever.low, max=lever.high, step=lever.step,
                         description=lever.label, continuous_update=False,
                         style={"description_width": "16em"}, layout=w.Layout(width="34em"))
            slider.observe(self._on_change, names="value")
            self.sliders[lever.path] = slider
        reset = w.Button(description="Reset to baseline")
        reset.on_click(lambda _: self.reset())
        self.status = w.HTML()
        self.image = w.Image(format="png")
        self.widget = w.VBox([*self.sliders.values(), reset, self.status, self.image])
        self.widget.what_if = self  # reach the state from the widget a notebook displays
        self._dashboard = None  # the figure, built by the first redraw
        self.redraw()

    def values(self) -> dict:
        """The sliders' values, by lever path."""
        return {path: s.value for path, s in self.sliders.items()}

    def changed(self) -> dict:
        """The sliders whose value differs from the base parameters."""
        return {p: v for p, v in self.values().items() if v != self.params.get(p)}

    def _on_change(self, _change=None):
        self.update()

    def update(self):
        """Re-run at the sliders' values and redraw; returns the new run.

        A combination the model refuses leaves the run and the figure as
        they were and says why in the status line.
        """
        changed = self.changed()
        key = tuple(sorted(changed.items()))
        started, cpu = time.perf_counter(), time.process_time()
        if not changed:
            result = self.baseline
        elif key in self._runs:
            result = self._runs[key]
            self._runs.move_to_end(key)
        else:
            try:
                params = self.params.override(changed)
            except ParamError as exc:  # e.g. a combination the model refuses
                self.status.value = f"<b>Not run:</b> {html.escape(str(exc))}"
                return self.result
            result = simulate(params, horizon=self.horizon, seed=self.seed)
            if self.cache:
                self._runs[key] = result
                while len(self._runs) > self.cache:
                    self._runs.popitem(last=False)
        self.result = result
        self.timings = {"model": time.perf_counter() - started, "redraw": 0.0,
                        "model_cpu": time.process_time() - cpu, "redraw_cpu": 0.0}
        self.n_updates += 1
        self.redraw()
        return self.result

    def reset(self):
        """Put every slider back at the base value (one redraw, no re-run)."""
        for path, slider in self.sliders.items():
            slider.unobserve(self._on_change, names="value")
            slider.value = self.params.get(path)
            slider.observe(self._on_change, names="value")
        return self.update()

    def redraw(self):
        """Draw the dashboard (baseline against the sliders' run) into the image; returns the figure.

        Only the "what if" lines are drawn anew, over the saved image of
        the rest (:class:`spchain.viz.workshop.LiveDashboard`).  A panel whose
        value range must change is drawn again on its own (its place cleared
        first); the whole figure only the first time, or when such a panel's
        labels would reach into another panel.
        """
        from ..viz.workshop import LiveDashboard

        started, cpu = time.perf_counter(), time.process_time()
        if self._dashboard is None:
            self._dashboard = LiveDashboard(self.baseline, self.metrics, self.smooth)
        self.image.value = self._dashboard.show(self.result)
        self.timings["redraw"] = time.perf_counter() - started
        self.timings["redraw_cpu"] = time.process_time() - cpu
        self._status()
        return self.figure

    # the dashboard's state, under the names the class's Attributes document
    @property
    def figure(self):
        return self._dashboard.figure

    @property
    def n_full_redraws(self) -> int:
        return self._dashboard.n_full_redraws

    @property
    def n_panel_redraws(self) -> int:
        return self._dashboard.n_panel_redraws

    @property
    def _panels(self):
        return self._dashboard.panels

    @property
    def _boxes(self):
        return self._dashboard.boxes

    def _status(self):
        changed = self.changed()
        profit = self.result.total("profit")
        base_profit = self.baseline.total("profit")
        text = ", ".join(lever_change_text(p, v) for p, v in changed.items()) or "baseline levers"
        self.status.value = (f"{html.escape(text)}: profit over {self.horizon} weeks {profit:,.0f} "
                             f"({profit - base_profit:+,.0f} against the baseline); "
                             f"model {self.timings['model']:.2f} s, redraw {self.timings['redraw']:.2f} s")


def what_if_panel(params=None, *, levers=None, horizon: int = 52, seed: int = 2026, metrics=None,
                  smooth: int = 4):
    """An interactive what-if panel: sliders for the main levers and the chain dashboard.

    Moving a slider re-runs the model with the new lever values from week 0
    (same seed, so the difference from the baseline is the levers' effect)
    and redraws what changed on the dashboard (:class:`WhatIf`); with the
    ``workshop`` preset and a one-year horizon a change takes under half a
    second of CPU, the status line says how long the model and the redraw
    took.  Needs the ``workshop`` extra (``pip install "spchain[workshop]"``:
    ipywidgets and JupyterLab) and a Jupyter front end.

    Parameters
    ----------
    params : Params or str, optional
        Base parameters or a preset name; default the ``workshop`` preset.
    levers : sequence of Lever or str, optional
        Sliders to show; default :data:`LEVERS`.
    horizon : int
        Weeks per run.
    seed : int
        Seed of every run.
    metrics : sequence of str, optional
        KPIs of the dashboard; default :data:`spchain.viz.plotting.CHAIN_METRICS`.
    smooth : int
        Weeks in each trailing window of the lines (1: weekly values).

    Returns
    -------
    ipywidgets.VBox
        Display it as the last expression of a cell.  Its ``what_if``
        attribute is the :class:`WhatIf` behind it (``panel.what_if.update()``
        re-runs; ``panel.what_if.result`` is the latest run).
    """
    return WhatIf(params, levers=levers, horizon=horizon, seed=seed, metrics=metrics, smooth=smooth).widget

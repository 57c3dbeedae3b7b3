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
    compares their path with the baseline;
:func:`what_if_panel`
    ipywidgets sliders for the main levers; each change re-runs the model
    (about a second) and redraws the chain dashboard.

matplotlib and ipywidgets are imported only when a chart or a panel is made,
so ``import spchain.workshop`` stays light.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

from .params import Change, ParamError, Params
from .presets import preset
from .run import Simulation, simulate

__all__ = ["LEVERS", "QUARTER", "Lever", "regimes", "Game", "WhatIf", "what_if_panel"]

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
            raise ParamError(f"unknown lever {item!r}; pass a spchain.workshop.Lever or one of "
                             f"{sorted(by_path)}")
    return tuple(out)


def regimes(params=None, *, horizon: int = 104, seed: int = 2026) -> dict:
    """The cycle of failure, the baseline and the cycle of success from one preset.

    The failure run starves internal service (one slow IT employee, rework
    on most IT and back-office requests); the success run invests 6,000 a
    week in internal tools.  The three runs share their seed, so they differ
    only by the internal service they start from.

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
    return {name: simulate(p, horizon=horizon, seed=seed) for name, p in variants.items()}


class Game:
    """Round-by-round play: set the levers each quarter, watch the chain respond.

    Every round simulates one more quarter from the saved state of the run
    (a :class:`spchain.run.Simulation`), with the levers of every round
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
        """A plain-text table: per quarter, the changes made and each KPI against the baseline."""
        from .metrics import METRICS

        if not self.rounds:
            return "No quarter played yet."
        base = self.baseline()
        lines = [f"{'quarter':<8} {'changes':<44} " + " ".join(f"{METRICS[m].label[:22]:>24}" for m in metrics)]
        for q, choice in enumerate(self.rounds):
            start, stop = QUARTER * q, QUARTER * (q + 1)
            text = ", ".join(f"{p.split('.')[-1]}={v:g}" for p, v in choice.items()) or "-"
            cells = []
            for m in metrics:
                mine, ref = _window(self.result, m, start, stop), _window(base, m, start, stop)
                cells.append(f"{mine:>12.3g} ({mine - ref:+.3g})".rjust(24))
            lines.append(f"{q + 1:<8} {text[:44]:<44} " + " ".join(cells))
        lines.append("per quarter as RunResult.total computes it (sums of flows, ratios of sums); "
                     "in brackets: difference from the baseline")
        return "\n".join(lines)

    def plot_debrief(self, *, metrics=None, fig=None):
        """The debrief chart: the room's path against the baseline, quarters marked.

        Parameters
        ----------
        metrics : sequence of str, optional
            KPIs to draw; default :data:`spchain.plotting.CHAIN_METRICS`.
        fig : matplotlib.figure.Figure, optional
            Draw into this figure (it is cleared).

        Returns
        -------
        matplotlib.figure.Figure
        """
        from .plotting import CHAIN_METRICS, plot_chain

        if self.result is None:
            raise ParamError("play at least one quarter before the debrief")
        fig = plot_chain([self.baseline(), self.result], labels=["baseline", "your path"],
                         metrics=metrics or CHAIN_METRICS, fig=fig, smooth=1,
                         title="Debrief: your path against the baseline")
        for ax in fig.axes:
            if ax.get_visible() and ax.lines:
                for q, choice in enumerate(self.rounds):
                    if q and choice:
                        ax.axvline(QUARTER * q, color="#555555", lw=0.8, ls=(0, (2, 2)))
        return fig


def _window(result, name, start, stop):
    """``result.total(name)`` over weeks ``start`` to ``stop - 1``."""
    cut = dataclasses.replace(result, horizon=stop, sums=result.sums[:stop],
                              department_sums=result.department_sums[:stop])
    return cut.total(name, start=start)


class WhatIf:
    """The state behind :func:`what_if_panel`: sliders, the runs and the figure.

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
        KPIs of the dashboard; default :data:`spchain.plotting.CHAIN_METRICS`.

    Attributes
    ----------
    widget : ipywidgets.VBox
        Sliders, a reset button, a status line and the dashboard image.
    sliders : dict of str to ipywidgets widget
        One slider per lever path.
    baseline, result : RunResult
        The run at the base parameters and the run at the sliders' values.
    n_updates : int
        Re-runs so far.
    """

    def __init__(self, params=None, *, levers=None, horizon: int = 52, seed: int = 2026, metrics=None):
        import ipywidgets as w

        self.params = _base(params)
        self.levers = _levers(levers)
        self.horizon, self.seed = horizon, seed
        self.metrics = metrics
        self.baseline = simulate(self.params, horizon=horizon, seed=seed)
        self.result = self.baseline
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
        self._figure = None
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
        """Re-run at the sliders' values and redraw; returns the new run."""
        try:
            params = self.params.override(self.changed())
        except ParamError as exc:  # e.g. a combination the model refuses
            self.status.value = f"<b>Not run:</b> {exc}"
            return self.result
        self.result = simulate(params, horizon=self.horizon, seed=self.seed)
        self.n_updates += 1
        self.redraw()
        return self.result

    def reset(self):
        """Put every slider back at the base value (one re-run)."""
        for path, slider in self.sliders.items():
            slider.unobserve(self._on_change, names="value")
            slider.value = self.params.get(path)
            slider.observe(self._on_change, names="value")
        return self.update()

    def redraw(self):
        """Draw the dashboard (baseline against the sliders' run) into the image."""
        from matplotlib.figure import Figure

        from .plotting import CHAIN_METRICS, plot_chain

        if self._figure is None:
            self._figure = Figure()
        changed = self.changed()
        runs, labels = [self.baseline], ["baseline"]
        if changed:
            runs.append(self.result)
            labels.append("what if")
        fig = plot_chain(runs, labels=labels, metrics=self.metrics or CHAIN_METRICS, fig=self._figure,
                         title="What if? The chain over time")
        fig.set_size_inches(14, 8.5)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=72)
        self.image.value = buffer.getvalue()
        profit = self.result.total("profit")
        base_profit = self.baseline.total("profit")
        text = ", ".join(f"{p.split('.')[-1]} = {v:g}" for p, v in changed.items()) or "baseline levers"
        self.status.value = (f"{text}: profit over {self.horizon} weeks {profit:,.0f} "
                             f"({profit - base_profit:+,.0f} against the baseline); "
                             f"run in {self.result.wall_seconds:.2f} s")
        return fig


def what_if_panel(params=None, *, levers=None, horizon: int = 52, seed: int = 2026, metrics=None):
    """An interactive what-if panel: sliders for the main levers and the chain dashboard.

    Moving a slider re-runs the model with the new lever values from week 0
    (same seed, so the difference from the baseline is the levers' effect)
    and redraws :func:`spchain.plotting.plot_chain`; with the ``workshop``
    preset and a one-year horizon a change takes about a second.  Needs
    ``ipywidgets`` (``pip install ipywidgets``) and a Jupyter front end.

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
        KPIs of the dashboard.

    Returns
    -------
    ipywidgets.VBox
        Display it as the last expression of a cell.  Its ``what_if``
        attribute is the :class:`WhatIf` behind it (``panel.what_if.update()``
        re-runs; ``panel.what_if.result`` is the latest run).
    """
    return WhatIf(params, levers=levers, horizon=horizon, seed=seed, metrics=metrics).widget

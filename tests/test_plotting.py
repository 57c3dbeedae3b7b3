"""Every plotting helper on real results: Axes back, drawn where asked, labelled, reproducible.

Each case is drawn from small, seeded results and compared with the image
committed in ``tests/baseline_images/`` (``matplotlib.testing.compare``, a
small RMS tolerance).  After an intended change of a chart, regenerate them
with ``SPCHAIN_UPDATE_BASELINES=1 python -m pytest tests/test_plotting.py``
and look at them before committing.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.testing.compare import compare_images  # noqa: E402

from spchain import Experiment, Scenario, one_at_a_time, preset, simulate  # noqa: E402
from spchain.viz import plotting as sp  # noqa: E402
from spchain.metrics import METRICS  # noqa: E402

BASELINES = Path(__file__).resolve().parent / "baseline_images"
UPDATE = os.environ.get("SPCHAIN_UPDATE_BASELINES") == "1"
TOL = 3.0   # RMS difference (0-255) allowed against the committed image
DPI = 60    # small committed images; the shapes still show every difference that matters


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    """Small seeded results of every kind the helpers draw."""
    from spchain.fitting.calibration import Target, calibrate
    from spchain.fitting.distributions import fit_distribution
    from spchain.fitting.estimation import fit_links
    from spchain.fitting.synthetic import structural_panel

    base = preset("workshop")
    experiment = Experiment(base, scenarios=[
        Scenario("baseline"),
        Scenario("invest", levers={"internal.tools_spend_per_week": 3000.0,
                                   "internal.departments.it.n_staff": 3}, at_week=4),
        Scenario("cut", levers={"internal.departments.it.n_staff": 1}, at_week=4)],
        n_replications=3, horizon=14, warmup=2, seed=11).run()
    oat = Experiment(base, scenarios=one_at_a_time(levers={
        "internal.departments.it.n_staff": (1, 3), "workforce.pay_index": (0.9, 1.1)}),
        n_replications=2, horizon=10, warmup=2, seed=5).run()
    panel = structural_panel(n_units=30, n_periods=12, seed=3)
    rng = np.random.default_rng(4)
    minutes = rng.gamma(4.0, 3.0, size=200)
    tenure = rng.exponential(150.0, size=200)
    seen = rng.uniform(0, 200, size=200)
    calibration = calibrate(base, free={"customers.visit_rate": (0.15, 0.35)},
                            targets=[Target.mean("arrivals", 5000.0, sd=50.0), Target.mean("csat", 4.0, sd=0.05)],
                            horizon=6, n_replications=2, seed=1, method="least_squares", maxfev=8)
    return dict(run=simulate(base, horizon=14, seed=2), experiment=experiment, oat=oat, panel=panel,
                links=fit_links(panel, unit_effects=False), minutes=minutes,
                service=fit_distribution(minutes, target="workforce.service_time_minutes"),
                tenure_data=(np.minimum(tenure, seen), tenure > seen),
                tenure=fit_distribution(np.minimum(tenure, seen), censored=tenure > seen,
                                        target="workforce.base_quit_rate"),
                calibration=calibration)


def _chain(d, ax=None):
    fig = None if ax is None else ax.figure
    return sp.plot_chain(d["experiment"], fig=fig)


#: name -> (draw(data, ax), x label must contain, y label must contain)
CASES = {
    "kpi_run": (lambda d, ax: sp.plot_kpi(d["run"], "employee_satisfaction", ax=ax), "week", "0-1"),
    "kpi_experiment": (lambda d, ax: sp.plot_kpi(d["experiment"], "profit", smooth=2, ax=ax),
                       "week", "money/week"),
    "fan": (lambda d, ax: sp.plot_fan(d["experiment"], "customer_satisfaction", scenario="invest", ax=ax),
            "week", "0-1"),
    "comparison_difference": (lambda d, ax: sp.plot_comparison(d["experiment"], "profit", ax=ax),
                              "money, total of weeks 3-14", ""),
    "comparison_mean": (lambda d, ax: sp.plot_comparison(d["experiment"], "nps", kind="mean", ax=ax),
                        "points", ""),
    "comparison_relative": (lambda d, ax: sp.plot_comparison(d["experiment"], "revenue", relative=True, ax=ax),
                            "%", ""),
    "tornado": (lambda d, ax: sp.plot_tornado(d["oat"], "profit", ax=ax), "money, total of weeks 3-10", "factor"),
    "diagram_experiment": (lambda d, ax: sp.plot_chain_diagram(d["experiment"], scenario="invest", ax=ax),
                           None, None),
    "diagram_fit": (lambda d, ax: sp.plot_chain_diagram(d["run"], fit=d["links"], ax=ax), None, None),
    "fit_qq": (lambda d, ax: sp.plot_fit(d["service"], d["minutes"], ax=ax), "minutes", "minutes"),
    "fit_density": (lambda d, ax: sp.plot_fit(d["service"], d["minutes"], kind="density", ax=ax),
                    "minutes", "1/minutes"),
    "fit_survival_censored": (lambda d, ax: sp.plot_fit(d["tenure"], d["tenure_data"][0],
                                                        censored=d["tenure_data"][1], kind="survival", ax=ax),
                              "weeks", "share"),
    "fit_qq_censored": (lambda d, ax: sp.plot_fit(d["tenure"], d["tenure_data"][0],
                                                  censored=d["tenure_data"][1], ax=ax), "weeks", "weeks"),
    "fit_links_observed": (lambda d, ax: sp.plot_fit(d["links"], d["panel"], equation="service_quality", ax=ax),
                           "0-1", "0-1"),
    "fit_links_residuals": (lambda d, ax: sp.plot_fit(d["links"], d["panel"], equation="turnover",
                                                      kind="residuals", ax=ax), "count/week", "sd"),
    "fit_calibration": (lambda d, ax: sp.plot_fit(d["calibration"], ax=ax), "%", "target"),
    "fit_calibration_residuals": (lambda d, ax: sp.plot_fit(d["calibration"], kind="residuals", ax=ax),
                                  "standard deviations", "target"),
}


def _draw(name, data, ax=None):
    return CASES[name][0](data, ax)


def _save(fig, path, fmt="png"):
    with sp.style():
        fig.savefig(path, format=fmt, dpi=DPI, metadata={"Date": None} if fmt == "svg" else None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_returns_axes_and_draws_into_given_ax(name, data):
    ax = _draw(name, data)
    assert isinstance(ax, matplotlib.axes.Axes)
    with sp.style():
        _, given = plt.subplots(figsize=(6, 4))
    assert _draw(name, data, given) is given
    assert given.has_data() or given.patches or given.texts


@pytest.mark.parametrize("name", sorted(CASES))
def test_axes_are_labelled_with_units(name, data):
    ax = _draw(name, data)
    _, xlab, ylab = CASES[name]
    assert ax.get_title(loc="left") or ax.get_title()
    if xlab is None:  # the diagram: boxes and arrows, no axes to label
        texts = " ".join(t.get_text() for t in ax.texts)
        for stage in ("Internal service", "Employee", "Customer", "Revenue", "Profit"):
            assert stage in texts
        assert "0-1" in texts and "money per week" in texts  # units of the stage values
        return
    assert xlab in ax.get_xlabel(), ax.get_xlabel()
    if ylab == "":  # comparisons: the tick labels are the scenarios' names, so the axis needs no label
        assert ax.get_ylabel() == ""
        names = [t.get_text() for t in ax.get_yticklabels()]
        assert names == [s for s in data["experiment"].scenarios
                         if s != "baseline" or name == "comparison_mean"], names
        return
    assert ylab in ax.get_ylabel(), ax.get_ylabel()


def test_dashboard_panels_are_labelled_with_registry_units(data):
    fig = sp.plot_chain(data["experiment"])
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(sp.CHAIN_METRICS)
    for ax, name in zip(visible, sp.CHAIN_METRICS):
        assert ax.get_title(loc="left") == METRICS[name].label
        assert ax.get_ylabel() == METRICS[name].unit
    for k, ax in enumerate(visible):  # "week" under every panel with no panel below it
        assert ax.get_xlabel() == ("week" if k + 4 >= len(visible) else "")
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:3] == ["baseline", "invest", "cut"] and "warm-up" in labels


def test_dashboard_of_runs_keeps_the_old_call(data):
    fig = sp.plot_chain([data["run"], data["run"]], labels=["a", "b"])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="one entry per result"):
        sp.plot_chain([data["run"]], labels=["a", "b"])


@pytest.mark.parametrize("name", sorted(CASES) + ["dashboard"])
def test_same_input_same_image(name, data, tmp_path):
    """Two drawings of the same result give the same SVG bytes, and match the committed PNG."""
    def figure():
        return _chain(data) if name == "dashboard" else _draw(name, data).figure

    first, second = figure(), figure()
    _save(first, tmp_path / "a.svg", "svg")
    _save(second, tmp_path / "b.svg", "svg")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()
    actual = tmp_path / f"{name}.png"
    _save(first, actual)
    expected = BASELINES / f"{name}.png"
    if UPDATE:
        BASELINES.mkdir(exist_ok=True)
        expected.write_bytes(actual.read_bytes())
    assert expected.is_file(), f"no baseline image {expected}; run with SPCHAIN_UPDATE_BASELINES=1"
    diff = compare_images(str(expected), str(actual), tol=TOL)
    assert diff is None, diff


def test_save_figure_runs_the_layout_of_a_figure_made_outside_pyplot(data, tmp_path):
    """A Figure() has a base canvas whose draw() does nothing: the layout must still run before it is frozen.

    Without it the constrained layout was switched off unrun: the 9-inch tornado of a report lost its
    x label below the figure and its y label at the left edge.
    """
    from matplotlib.figure import Figure

    with sp.style():
        fig = Figure(figsize=(9, 2.1), layout="constrained")  # as the report draws a one-factor tornado
    ax = sp.plot_tornado(data["oat"], "profit", ax=fig.add_subplot())
    default = fig.subplotpars.left
    sp.save_figure(fig, tmp_path / "tornado", formats=("png",))
    assert ax.get_position().x0 != pytest.approx(default)  # the layout moved the axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    frame = fig.bbox
    for text in (ax.xaxis.label, ax.yaxis.label, ax.title):
        box = text.get_window_extent(renderer)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, \
            (text.get_text(), box, frame)


def test_save_figure_writes_reproducible_svg_and_png(data, tmp_path):
    fig = _draw("comparison_difference", data).figure
    (tmp_path / "one").mkdir()
    first = sp.save_figure(fig, tmp_path / "one" / "chart.png")  # the suffix is replaced
    second = sp.save_figure(fig, tmp_path / "chart")
    assert [p.suffix for p in first] == [".png", ".svg"]
    assert first[1].read_bytes() == second[1].read_bytes()
    assert first[0].read_bytes() == second[0].read_bytes()
    svg = first[1].read_text()
    assert "<dc:date>" not in svg
    with pytest.raises(ValueError, match="formats"):
        sp.save_figure(fig, tmp_path / "x", formats=("gif",))


def test_helpers_never_show(data, monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("a helper called plt.show()"))
    for name in CASES:
        _draw(name, data)
    _chain(data)


def test_clear_errors(data):
    with pytest.raises(ValueError, match="one-at-a-time"):
        sp.plot_tornado(data["experiment"], "profit")
    with pytest.raises(TypeError, match="ExperimentResult"):
        sp.plot_fan(data["run"], "profit")
    with pytest.raises(KeyError, match="did you mean 'profit'"):
        sp.plot_kpi(data["run"], "profits")
    with pytest.raises(ValueError, match="kind must be one of"):
        sp.plot_fit(data["service"], data["minutes"], kind="observed")
    with pytest.raises(ValueError, match="needs the data"):
        sp.plot_fit(data["service"])
    with pytest.raises(ValueError, match="uncensored"):
        sp.plot_fit(data["tenure"], data["tenure_data"][0], censored=data["tenure_data"][1], kind="density")
    with pytest.raises(KeyError, match="not in this fit"):
        sp.plot_fit(data["links"], data["panel"], equation="nope")


def test_link_predictions_reproduce_the_fit(data):
    """Fitted values from the stored coefficients give back the regression's R^2."""
    from spchain.viz.fitplots import link_predictions

    p = link_predictions(data["links"], data["panel"], "service_quality")
    r2 = 1 - np.sum(p["residuals"] ** 2) / np.sum((p["observed"] - p["observed"].mean()) ** 2)
    eq = {d["name"]: d for d in data["links"].diagnostics["equations"]}["service_quality"]
    assert r2 == pytest.approx(eq["r2"], rel=1e-9)


def test_importing_spchain_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, spchain, spchain.viz.plotting, spchain.apps.report, spchain.apps.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr

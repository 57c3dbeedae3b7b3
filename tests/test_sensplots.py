"""Charts of sensitivity and selection: what is drawn is the result's numbers.

Each test draws a hand-made or small seeded result and reads the artists
back: bar lengths equal the indices, interval lines equal the bootstrap
intervals, points sit at (mu*, sigma), lines end where a scenario left.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from spchain.experiments.selection import select  # noqa: E402
from spchain.experiments.sensitivity import MorrisResult, SobolResult, array_model, morris, sobol  # noqa: E402
from spchain.viz.sensplots import plot_morris, plot_selection, plot_sobol, plot_sobol_over_time  # noqa: E402

BOX = {"a": (0.0, 1.0), "b": (0.0, 1.0), "c": (0.0, 1.0)}


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def sobol_result():
    model = array_model(lambda x, r: 3 * x[:, 0] + x[:, 1] + 0.5 * x[:, 0] * x[:, 2])
    return sobol(model, BOX, n=64, n_replications=1, n_bootstrap=60, seed=1)


def weekly_result():
    """Three windows whose indices change over time: a, then b, then both."""
    def model(points, n_replications):
        out = {}
        for p in points:
            a, b = p.values["a"], p.values["b"]
            out[p.id] = np.tile([a, b, a + b], (n_replications, 1))
        return out
    return sobol(model, {"a": (0.0, 1.0), "b": (0.0, 1.0)}, n=32, n_replications=1, n_bootstrap=40, seed=2)


def _segments(collection):
    return [np.asarray(s) for s in collection.get_segments()]


def test_sobol_bars_are_the_indices_and_lines_the_intervals():
    res = sobol_result()
    ax = plot_sobol(res, alpha=0.1)
    first, total = ax.containers[0], ax.containers[1]
    np.testing.assert_allclose([b.get_width() for b in first], res.first_order)
    np.testing.assert_allclose([b.get_width() for b in total], res.total_order)
    ci = res.conf_int(0.1)
    lines = [c for c in ax.collections if hasattr(c, "get_segments")]
    assert len(lines) == 2
    for collection, key in zip(lines, ("first_order", "total_order")):
        ends = np.array([[s[0, 0], s[1, 0]] for s in _segments(collection)])
        np.testing.assert_allclose(ends, ci[key])
    # each interval line crosses its own bar
    for bar, seg in zip(total, _segments(lines[1])):
        assert bar.get_y() < seg[0, 1] < bar.get_y() + bar.get_height()
    assert [t.get_text() for t in ax.get_yticklabels()] == res.names
    assert "90% interval" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_morris_points_sit_at_mu_star_and_sigma_with_labels():
    model = array_model(lambda x, r: 5 * x[:, 0] + x[:, 1] ** 2 + 0 * x[:, 2])
    res = morris(model, BOX, n_trajectories=8, n_replications=1, seed=3)
    ax = plot_morris(res)
    points = ax.lines[0]
    np.testing.assert_allclose(points.get_xdata(), res.mu_star)
    np.testing.assert_allclose(points.get_ydata(), res.sigma)
    labels = {t.get_text(): t.xy for t in ax.texts}
    assert set(labels) == set(res.names)
    np.testing.assert_allclose(labels["a"], (res.mu_star[0], res.sigma[0]))
    # the horizontal error bars span mu* +/- its bootstrap half-width
    bars = [c for c in ax.collections if hasattr(c, "get_segments")][0]
    ends = np.array([[s[0, 0], s[1, 0]] for s in _segments(bars)])
    np.testing.assert_allclose(ends, np.column_stack([res.mu_star - res.mu_star_conf,
                                                      res.mu_star + res.mu_star_conf]))


def test_morris_of_groups_is_refused_with_the_reason():
    res = MorrisResult(["g1", "g2"], np.ones(2), np.ones(2), np.full(2, np.nan), np.zeros(2), 4, 1, 12)
    with pytest.raises(ValueError, match="grouped"):
        plot_morris(res)


def test_indices_over_time_follow_the_windows():
    res = weekly_result()
    ax = plot_sobol_over_time(res, index="first", alpha=0.2)
    assert [line.get_label() for line in ax.lines] == ["a", "b"]
    for i, line in enumerate(ax.lines):
        np.testing.assert_allclose(line.get_xdata(), [0, 1, 2])
        np.testing.assert_allclose(line.get_ydata(), res.first_order[i])
    # a alone, then b alone, then half each
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 0.0, 0.5], atol=0.08)
    ci = res.conf_int(0.2)["first_order"]
    band = ax.collections[0].get_paths()[0].vertices
    for w in range(3):
        ys = band[np.isclose(band[:, 0], w), 1]
        assert ys.min() == pytest.approx(ci[0, w, 0]) and ys.max() == pytest.approx(ci[0, w, 1])
    only_b = plot_sobol_over_time(res, names=["b"])
    np.testing.assert_allclose(only_b.lines[0].get_ydata(), res.total_order[1])


def test_window_choice_and_bad_input():
    res = weekly_result()
    ax = plot_sobol(res, window=1)
    np.testing.assert_allclose([b.get_width() for b in ax.containers[0]], res.first_order[:, 1])
    assert "(week 1)" in ax.get_title(loc="left")
    with pytest.raises(ValueError, match="needs window="):
        plot_sobol(res)
    with pytest.raises(ValueError, match="one output per window"):
        plot_sobol_over_time(sobol_result())
    with pytest.raises(ValueError, match="index must be"):
        plot_sobol_over_time(res, index="second")
    with pytest.raises(ValueError, match="expected some of"):
        plot_sobol_over_time(res, names=["z"])
    with pytest.raises(ValueError, match="one output, not one per window"):
        plot_sobol(sobol_result(), window=0)


def _selection(procedure, **kwargs):
    means = np.array([0.0, 0.5, 1.0, 1.6])

    def sample(i, r):
        common = np.random.default_rng([7, r]).normal()
        return float(means[i] + common + 0.4 * np.random.default_rng([8, i, r]).normal())
    return select(sample, ["w", "x", "y", "z"], delta=0.5, alpha=0.05, procedure=procedure, n0=6, **kwargs)


def test_selection_elimination_lines_end_where_each_scenario_left():
    sel = _selection("kn++")
    ax = plot_selection(sel)
    paths = [line for line in ax.lines if line.get_linestyle() != "None"]
    ends = [line for line in ax.lines if line.get_linestyle() == "None"]
    assert [p.get_label() for p in paths] == list(sel.names)
    for i, line in enumerate(paths):
        x = np.asarray(sel.samples[i])
        assert line.get_xdata()[-1] == x.size == sel.n_replications[i]
        np.testing.assert_allclose(line.get_ydata(), np.cumsum(x) / np.arange(1, x.size + 1))
        assert ends[i].get_marker() == ("*" if sel.names[i] == sel.best else "x")
    assert sel.eliminated  # something really was eliminated before the end
    assert max(p.get_linewidth() for p in paths) == paths[list(sel.names).index(sel.best)].get_linewidth()


def test_selection_allocation_bars_are_the_runs():
    sel = _selection("ocba", budget=80)
    ax = plot_selection(sel)
    np.testing.assert_array_equal([b.get_width() for b in ax.containers[0]], sel.n_replications)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(sel.names)
    assert sum(sel.n_replications) == 80
    assert any("chosen" in t.get_text() for t in ax.texts)
    with pytest.raises(ValueError, match="kind must be"):
        plot_selection(sel, kind="pie")


def test_charts_save(tmp_path):
    from spchain.viz.plotting import save_figure

    paths = []
    for i, ax in enumerate([plot_sobol(sobol_result()), plot_sobol_over_time(weekly_result()),
                            plot_selection(_selection("kn"))]):
        paths += save_figure(ax.figure, tmp_path / f"chart{i}", formats=("png",))
    assert all(p.stat().st_size > 5000 for p in paths)

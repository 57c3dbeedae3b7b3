"""Sensitivity analysis: analytic indices recovered through noise, screening, errors, the simulation.

Oracles: the Ishigami function (a=7, b=0.1) and Sobol's G function, whose
first-order and total indices are known in closed form (Saltelli et al.
2008, *Global Sensitivity Analysis: The Primer*, sections 4.9 and 3.6).
"""

import concurrent.futures as cf

import numpy as np
import pytest

import spchain
from spchain.experiments.sensitivity import (MorrisResult, Point, ReplicationPlan, SensitivityError, SimulationModel,
                                 SobolResult, array_model, morris, plan_replications, sobol)

PI = (-np.pi, np.pi)
ISHIGAMI = {"x1": PI, "x2": PI, "x3": PI}
ISHIGAMI_S1 = np.array([0.3139, 0.4424, 0.0])
ISHIGAMI_ST = np.array([0.5576, 0.4424, 0.2437])
ISHIGAMI_VARIANCE = 49 / 8 + 0.1 * np.pi ** 4 / 5 + 0.01 * np.pi ** 8 / 18 + 0.5  # 13.845

G_A = np.array([0.0, 1.0, 4.5, 9.0, 99.0, 99.0])


def ishigami(x):
    return np.sin(x[:, 0]) + 7 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])


def g_function(x):
    return np.prod((np.abs(4 * x - 2) + G_A) / (1 + G_A), axis=1)


def g_indices():
    v = 1 / (3 * (1 + G_A) ** 2)
    total = np.prod(1 + v) - 1
    return v / total, v * np.prod(1 + v) / (1 + v) / total


def noisy(func, sd, seed=0):
    """``func`` plus independent Gaussian noise, a fresh stream per replication."""
    return array_model(lambda x, r: func(x) + np.random.default_rng([seed, r]).normal(0, sd, len(x)))


def inside(value, interval):
    return (interval[:, 0] <= value) & (value <= interval[:, 1])


def test_ishigami_through_noise_recovers_the_analytic_indices():
    res = sobol(noisy(ishigami, sd=1.0), ISHIGAMI, n=1024, n_replications=4, seed=1)
    ci = res.conf_int(0.05)
    assert isinstance(res, SobolResult) and res.names == ["x1", "x2", "x3"]
    assert inside(ISHIGAMI_S1, ci["first_order"]).all(), (res.first_order, ci["first_order"])
    assert inside(ISHIGAMI_ST, ci["total_order"]).all(), (res.total_order, ci["total_order"])
    np.testing.assert_allclose(res.first_order, ISHIGAMI_S1, atol=0.06)
    np.testing.assert_allclose(res.total_order, ISHIGAMI_ST, atol=0.06)
    assert res.n_runs == 1024 * 5 * 4
    assert res.noise_variance == pytest.approx(1 / 4, rel=0.1)  # sd 1, mean of 4
    assert res.output_variance == pytest.approx(ISHIGAMI_VARIANCE, rel=0.1)


def test_without_the_noise_correction_noise_would_shrink_the_indices():
    """Heavy noise: the corrected totals still cover the truth."""
    res = sobol(noisy(ishigami, sd=3.0), ISHIGAMI, n=1024, n_replications=2, seed=2)
    assert res.noise_variance / res.output_variance > 0.25
    assert inside(ISHIGAMI_ST, res.conf_int(0.05)["total_order"]).all(), res.summary()


def test_g_function_through_noise_recovers_the_analytic_indices():
    s1, st = g_indices()
    box = {f"x{i + 1}": (0.0, 1.0) for i in range(len(G_A))}
    res = sobol(noisy(g_function, sd=0.05), box, n=1024, n_replications=3, seed=3)
    ci = res.conf_int(0.05)
    assert inside(s1, ci["first_order"]).all(), (res.first_order, s1)
    assert inside(st, ci["total_order"]).all(), (res.total_order, st)
    assert np.argmax(res.total_order) == 0 and res.total_order[-1] < 0.01


def test_groups_give_closed_indices_of_the_group():
    """x1 and x3 together explain everything x2 does not: S = ST = 1 - S2."""
    groups = {"x1 and x3": ["x1", "x3"], "x2": ["x2"]}
    res = sobol(noisy(ishigami, sd=0.5), ISHIGAMI, n=1024, n_replications=2, groups=groups, seed=4)
    ci = res.conf_int()
    assert res.names == ["x1 and x3", "x2"]
    expected = np.array([1 - 0.4424, 0.4424])
    assert inside(expected, ci["first_order"]).all() and inside(expected, ci["total_order"]).all()
    assert res.n_runs == 1024 * 4 * 2


def test_agrees_with_salib_on_the_same_sample():
    salib = pytest.importorskip("SALib.analyze.sobol")
    seen = []

    def recording(x, r):
        seen.append(x.copy())
        return ishigami(x)

    n = 256
    res = sobol(array_model(recording), ISHIGAMI, n=n, n_replications=1, seed=5, n_bootstrap=20)
    y = ishigami(seen[0]).reshape(5, n)  # pages A, B, AB_1..AB_3
    rows = np.column_stack([y[0], y[2], y[3], y[4], y[1]]).reshape(-1)  # SALib: A, AB_i..., B per row
    problem = {"num_vars": 3, "names": list(ISHIGAMI), "bounds": [list(PI)] * 3}
    ref = salib.analyze(problem, rows, calc_second_order=False, seed=1)
    # same estimators; SALib centres on the mean of every run, scipy on A and B's
    np.testing.assert_allclose(res.first_order, ref["S1"], atol=1e-4)
    np.testing.assert_allclose(res.total_order, ref["ST"], rtol=1e-10, atol=1e-12)


def test_same_seed_same_indices():
    a = sobol(noisy(ishigami, 1.0), ISHIGAMI, n=64, n_replications=2, seed=7, n_bootstrap=20)
    b = sobol(noisy(ishigami, 1.0), ISHIGAMI, n=64, n_replications=2, seed=7, n_bootstrap=20)
    np.testing.assert_array_equal(a.first_order_bootstrap, b.first_order_bootstrap)


def test_morris_ranks_inactive_factors_last():
    pytest.importorskip("SALib")
    box = {"a": (0.0, 1.0), "idle 1": (0.0, 1.0), "b": (0.0, 1.0), "idle 2": (5, 9), "c": (-1.0, 1.0)}

    def func(x):
        return 10 * x[:, 0] + 5 * np.sin(3 * x[:, 2]) + x[:, 0] * x[:, 4] ** 2

    res = morris(array_model(lambda x, r: func(x)), box, n_trajectories=20, n_replications=1, seed=1)
    assert isinstance(res, MorrisResult)
    assert set(res.ranking()[-2:]) == {"idle 1", "idle 2"}
    idle = [res.names.index("idle 1"), res.names.index("idle 2")]
    assert np.all(res.mu_star[idle] < 1e-9) and res.mu_star[res.names.index("a")] > 5
    assert res.n_runs == 20 * 6
    # G function with noise: the a = 99 factors come last
    g_box = {f"x{i + 1}": (0.0, 1.0) for i in range(len(G_A))}
    res = morris(noisy(g_function, 0.01), g_box, n_trajectories=20, n_replications=2, seed=2)
    assert set(res.ranking()[-2:]) == {"x5", "x6"}
    assert res.ranking()[0] == "x1"


def test_morris_groups_and_reproducibility():
    pytest.importorskip("SALib")
    groups = {"x1 and x3": ["x1", "x3"], "x2": ["x2"]}
    model = array_model(lambda x, r: ishigami(x))
    a = morris(model, ISHIGAMI, groups=groups, n_trajectories=8, n_replications=1, seed=0)
    b = morris(model, ISHIGAMI, groups=groups, n_trajectories=8, n_replications=1, seed=0)
    assert a.names == ["x1 and x3", "x2"] and a.n_runs == 8 * 3
    np.testing.assert_array_equal(a.mu_star, b.mu_star)
    assert "trajectories" in a.summary()


def test_plan_replications_measures_noise_and_design_variance():
    plan = plan_replications(noisy(ishigami, sd=2.0), ISHIGAMI, share=0.05, n_centre=400, n_spread=400)
    assert isinstance(plan, ReplicationPlan)
    assert plan.noise_variance == pytest.approx(4.0, rel=0.2)
    assert plan.design_variance == pytest.approx(ISHIGAMI_VARIANCE, rel=0.2)
    assert 4 <= plan.n_replications <= 9  # ceil(4 / (0.05 * 13.85)) = 6
    assert plan.n_runs == 400 + 800
    res = sobol(noisy(ishigami, sd=2.0), ISHIGAMI, n=64, n_replications=plan, n_bootstrap=20)
    assert res.n_replications == plan.n_replications and res.plan is plan
    assert res.n_runs == 64 * 5 * plan.n_replications + plan.n_runs


class _Never:
    """A model that fails the test if it is ever run."""

    def __call__(self, points, n_replications):
        raise AssertionError("the model ran before the input was checked")


@pytest.mark.parametrize("factors, kwargs, match", [
    ({"x": (1.0, 1.0)}, {}, "low bound must be below the high bound"),
    ({"x": (2.0, 1.0)}, {}, "low bound must be below"),
    ({"x": (0.0, float("nan"))}, {}, "finite numbers"),
    ({"x": 3.0}, {}, "a pair"),
    ({}, {}, "non-empty mapping"),
    (ISHIGAMI, {"n": 100}, "power of 2"),
    (ISHIGAMI, {"n": 4}, "n must be an integer >= 8"),
    (ISHIGAMI, {"n_replications": 0}, "n_replications"),
    (ISHIGAMI, {"seed": -1}, "seed"),
    (ISHIGAMI, {"groups": {"g": ["x1", "x2"]}}, "in no group"),
    (ISHIGAMI, {"groups": {"g": ["x1", "x2"], "h": ["x2", "x3"]}}, "both group"),
    (ISHIGAMI, {"groups": {"g": ["x1", "x9"], "h": ["x2", "x3"]}}, "not a factor"),
])
def test_bad_input_raises_before_any_run(factors, kwargs, match):
    with pytest.raises(SensitivityError, match=match):
        sobol(_Never(), factors, **{"n_replications": 2, **kwargs})


def test_bad_morris_and_plan_input_raises_before_any_run():
    with pytest.raises(SensitivityError, match="num_levels must be even"):
        morris(_Never(), ISHIGAMI, num_levels=3, n_replications=1)
    with pytest.raises(SensitivityError, match="share"):
        plan_replications(_Never(), ISHIGAMI, share=1.5)


def test_simulation_model_rejects_unknown_paths_and_bounds_before_any_run(monkeypatch):
    import spchain.experiments.sensitivity as sensitivity

    monkeypatch.setattr(sensitivity, "_run_point", _Never())
    model = SimulationModel(spchain.preset("workshop"), horizon=4)
    with pytest.raises(SensitivityError, match="workforce.recognitoin"):
        sobol(model, {"workforce.recognitoin": (0.0, 0.5)}, n=8, n_replications=1)
    with pytest.raises(SensitivityError, match="workforce.n_employees"):
        morris(model, {"workforce.n_employees": (-3, 5)}, n_replications=1)
    with pytest.raises(SensitivityError, match="unknown kpi"):
        SimulationModel(spchain.preset("workshop"), kpi="profits")
    with pytest.raises(SensitivityError, match="start"):
        SimulationModel(spchain.preset("workshop"), horizon=4, start=4)


def test_outputs_are_matched_by_id_and_a_bad_model_is_caught():
    def dropping(points, n_replications):
        return {p.id: np.zeros(n_replications) for p in points[1:]}

    def misshapen(points, n_replications):
        return {p.id: np.zeros(n_replications + 1) for p in points}

    for model in (dropping, misshapen):
        with pytest.raises(SensitivityError, match="model|output"):
            sobol(model, ISHIGAMI, n=8, n_replications=2)

    def reversed_order(points, n_replications):  # same outputs, another order: fine
        x = np.array([list(p.values.values()) for p in points])
        return dict(reversed(list(zip([p.id for p in points], ishigami(x)[:, None].repeat(n_replications, 1)))))

    a = sobol(reversed_order, ISHIGAMI, n=64, n_replications=1, n_bootstrap=20)
    b = sobol(array_model(lambda x, r: ishigami(x)), ISHIGAMI, n=64, n_replications=1, n_bootstrap=20)
    np.testing.assert_array_equal(a.total_order, b.total_order)


class _ShufflingExecutor(cf.Executor):
    """Returns results out of order: the model must notice."""

    def map(self, fn, *iterables, **kwargs):
        results = [fn(*args) for args in zip(*iterables)]
        return results[::-1]


def test_simulation_model_common_random_numbers_and_executors():
    params = spchain.preset("workshop")
    points = [Point(7, {"workforce.recognition": 0.1}), Point(3, {"workforce.recognition": 0.4})]
    serial = SimulationModel(params, kpi="profit", horizon=3, seed=11)(points, 2)
    with cf.ThreadPoolExecutor(2) as pool:
        pooled = SimulationModel(params, kpi="profit", horizon=3, seed=11, executor=pool)(points, 2)
    assert sorted(serial) == [3, 7]
    for i in serial:
        np.testing.assert_array_equal(serial[i], pooled[i])
    seed = spchain.experiments.experiment.replication_seed(11, 1)
    direct = spchain.simulate(params.override(points[1].values), horizon=3, seed=seed).total("profit")
    assert serial[3][1] == direct
    with pytest.raises(SensitivityError, match="expected"):
        SimulationModel(params, horizon=3, executor=_ShufflingExecutor())(points, 2)


def test_workshop_end_to_end_returns_indices_for_profit():
    factors = {"internal.tools_spend_per_week": (0, 6000), "workforce.recognition": (0.0, 0.5),
               "economics.price_index": (0.9, 1.1)}
    model = SimulationModel(spchain.preset("workshop"), kpi="profit", horizon=8, seed=1)
    plan = plan_replications(model, factors, n_centre=4, n_spread=4)
    res = sobol(model, factors, n=8, n_replications=plan, n_bootstrap=50)
    assert res.names == list(factors)
    assert res.first_order.shape == res.total_order.shape == (3,)
    assert np.all(np.isfinite(res.total_order)) and res.output_variance > 0
    assert res.n_runs == 8 * 5 * plan.n_replications + plan.n_runs
    assert "economics.price_index" in res.summary()
    # price is the largest total effect on profit over eight weeks; recognition barely moves it
    assert res.total_order[2] > res.total_order[1]


def test_the_howto_page_runs():
    """The code of docs/howto/which_levers.md, blocks in order in one namespace."""
    import re
    from pathlib import Path

    page = Path(__file__).resolve().parents[1] / "docs" / "howto" / "which_levers.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 4
    namespace = {}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
    assert namespace["indices"].names == list(namespace["levers"])
    assert namespace["by_group"].names == ["employee links", "customer links"]
    assert namespace["by_week"].total_order.shape == (3, 6)
    assert namespace["by_week"].windows == [(w, w + 1) for w in range(6)]
    assert namespace["resumed"].last_call["n_simulated"] == 0
    assert namespace["resumed"].last_call["n_reused"] == namespace["stored"].last_call["n_simulated"] == 80

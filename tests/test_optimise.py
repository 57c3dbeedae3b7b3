"""Lever optimisation under noise (spchain.experiments.optimise): analytic optima, budgets, fresh replications, the simulator.

The synthetic objectives are quadratics with noise that depends on the
replication (and, multiplicatively, on how far the point is from the
optimum), so under common random numbers the sample average over any set
of replications has its optimum exactly where the expected objective has
it.  For ``f(x) = -||x - c||^2`` maximised over a convex feasible set, the
first-order condition at the optimum ``x*`` gives, for every feasible
``x``, ``f(x*) - f(x) >= ||x - x*||^2``: a point whose mean is within
``delta`` of the best finalist's lies within ``sqrt(gap + delta)`` of
``x*``, ``gap`` being the best finalist's own shortfall.  The tolerances
below come from that inequality.
"""

import math

import numpy as np
import pytest

import spchain
from spchain import ParamError, Scenario, preset
from spchain.experiments.experiment import Experiment, replication_seed
from spchain.experiments.optimise import OptimisationResult, optimise, optimise_levers


class Quadratic:
    """``sign * (-||x - c||^2 (1 + s1 z1) + s0 z0)`` with ``z`` drawn from the replication only.

    Records every call as ``(tuple(x), replication)``.
    """

    def __init__(self, centre, *, sign=1.0, s0=5.0, s1=0.1):
        self.centre, self.sign, self.s0, self.s1 = np.asarray(centre, float), sign, s0, s1
        self.calls = []

    def mean(self, x):
        return -self.sign * float(np.sum((np.asarray(x) - self.centre) ** 2))

    def __call__(self, x, r):
        self.calls.append((tuple(float(v) for v in x), r))
        z0, z1 = np.random.default_rng([r, 12345]).standard_normal(2)
        return self.sign * (-float(np.sum((x - self.centre) ** 2)) * (1.0 + self.s1 * z1) + self.s0 * z0)


def shortfall(objective, result, x_star):
    """The best finalist's gap to the optimum in expected objective (>= 0)."""
    best = max(objective.sign * objective.mean(row) for row in result.finalists)
    return objective.sign * objective.mean(x_star) - best


@pytest.mark.parametrize("direction, sign", [("max", 1.0), ("min", -1.0)])
def test_finds_the_optimum_of_a_noisy_concave_function(direction, sign):
    centre = np.array([1.0, -2.0, 0.5])
    f = Quadratic(centre, sign=sign)
    delta = 0.05
    res = optimise(f, [(-4.0, 4.0)] * 3, direction=direction, n_replications=5, maxfev=120,
                   delta=delta, seed=3)
    assert isinstance(res, OptimisationResult)
    gap = shortfall(f, res, centre)
    assert -1e-9 <= gap < 1e-3  # the search itself got (nearly) to the optimum
    # chosen within delta of the best finalist => within sqrt(gap + delta) of the optimum
    assert np.linalg.norm(res.x - centre) <= math.sqrt(max(gap, 0.0) + delta)
    assert res.levers == {f"x{j}": pytest.approx(v) for j, v in enumerate(res.x)}
    assert res.direction == direction and res.seed == 3
    # the estimate is the chosen point's mean over its fresh outputs
    chosen = res.selection.names.index(res.selection.best)
    assert res.estimate.mean == pytest.approx(np.mean(res.selection.samples[chosen]))
    assert res.estimate.low < res.estimate.mean < res.estimate.high


def test_budget_constrained_optimum_lies_on_the_boundary_at_the_lagrange_point():
    # max -(x0-3)^2 - (x1-3)^2  s.t.  x0 + 2 x1 <= 4 in [0, 5]^2.  Unconstrained optimum (3, 3): 9 > 4.
    # Lagrange: -2(x0 - 3) = lam, -2(x1 - 3) = 2 lam  =>  x1 - 3 = 2 (x0 - 3); on x0 + 2 x1 = 4: (2, 1).
    f = Quadratic([3.0, 3.0])
    weights, total = np.array([1.0, 2.0]), 4.0
    x_star = np.array([2.0, 1.0])
    delta = 0.05
    res = optimise(f, [(0.0, 5.0), (0.0, 5.0)], budget=(weights, total), n_replications=5,
                   maxfev=80, delta=delta, seed=2)
    # every point evaluated, in the search and in the selection, meets the budget and the box
    seen = np.array([x for x, _ in f.calls])
    assert np.all(seen @ weights <= total + 1e-9)
    assert np.all((seen >= 0.0) & (seen <= 5.0))
    assert np.all(res.history_x @ weights <= total + 1e-9)
    gap = shortfall(f, res, x_star)
    assert -1e-9 <= gap < 1e-3
    assert np.linalg.norm(res.x - x_star) <= math.sqrt(max(gap, 0.0) + delta)
    assert res.x @ weights == pytest.approx(total, abs=math.sqrt(max(gap, 0.0) + delta) * np.linalg.norm(weights))
    assert res.budget[1] == total
    # the space-filling start: the first n_initial points, all strictly inside the box's feasible part
    start = res.history_x[:res.n_initial]
    assert len(start) == 8 and np.all(start @ weights <= total)


def test_design_spreads_over_a_small_feasible_region_and_projects_when_needed():
    # The feasible triangle x0 + x1 <= 0.05 in [0, 1]^2 is 1/800 of the box: below one Sobol' point
    # in 64, so part of the start is projected onto it -- and still feasible.
    f = Quadratic([0.5, 0.5])
    delta = 1e-4
    res = optimise(f, [(0.0, 1.0), (0.0, 1.0)], budget=([1.0, 1.0], 0.05), n_replications=2,
                   maxfev=30, n_starts=1, xtol=1e-3, delta=delta, seed=1)
    assert np.all(res.history_x.sum(axis=1) <= 0.05 + 1e-12)
    assert len(np.unique(res.history_x[:res.n_initial], axis=0)) == res.n_initial
    # the optimum of -||x - 0.5||^2 on that triangle is its hypotenuse's midpoint (0.025, 0.025)
    x_star = np.array([0.025, 0.025])
    gap = shortfall(f, res, x_star)
    assert -1e-9 <= gap < 1e-4
    assert np.linalg.norm(res.x - x_star) <= math.sqrt(max(gap, 0.0) + delta)


def test_finalists_are_rerun_on_fresh_replications_disjoint_from_the_search():
    f = Quadratic([0.3, 0.7])
    n_rep = 4
    res = optimise(f, [(0.0, 1.0), (0.0, 1.0)], n_replications=n_rep, maxfev=40, finalists=3,
                   x0=[0.9, 0.1], delta=0.01, n0=6, seed=5)
    search = [(x, r) for x, r in f.calls if r < n_rep]
    fresh = [(x, r) for x, r in f.calls if r >= n_rep]
    # the search ran each of its points on replications 0 .. n_rep - 1, exactly once each
    points = sorted(set(x for x, _ in search))
    assert len(points) == res.n_evaluations == len(res.history_x)
    assert sorted(search) == sorted((x, r) for x in points for r in range(n_rep))
    assert set(map(tuple, res.history_x)) == set(points)
    # the selection ran only finalists, only on replications n_rep, n_rep + 1, ...
    finalists = set(map(tuple, res.finalists))
    assert {x for x, _ in fresh} <= finalists and len(fresh) == res.selection.n_runs
    for i, row in enumerate(res.finalists):
        rs = sorted(r for x, r in fresh if x == tuple(row))
        assert rs == list(range(n_rep, n_rep + len(res.selection.samples[i])))
        # and its samples are the objective's values there, replication by replication
        expected = [f(row, r) for r in rs]
        np.testing.assert_allclose(res.selection.samples[i], expected)
    # x0 is always a finalist, named "start", and the chosen plan is compared with it, paired
    assert res.selection.names[0] == "start" and tuple(res.finalists[0]) == (0.9, 0.1)
    assert len(res.finalists) == 4
    i, j = res.selection.names.index(res.selection.best), 0
    n = min(len(res.selection.samples[i]), len(res.selection.samples[j]))
    d = res.selection.samples[i][:n] - res.selection.samples[j][:n]
    assert res.versus_start.mean == pytest.approx(d.mean()) and res.versus_start.n == n
    assert res.versus_start.low > 0  # (0.9, 0.1) is 0.72 below the optimum, the chosen plan ~0
    assert res.n_runs == res.n_evaluations * n_rep + res.selection.n_runs == len(f.calls) - sum(
        len(s) for s in res.selection.samples)  # less the calls this test made itself


@pytest.mark.parametrize("maxfev, n_starts", [(12, 0), (15, 1), (23, 2), (40, 3)])
def test_maxfev_counts_every_evaluation(maxfev, n_starts):
    f = Quadratic([0.2, 0.4, 0.6])
    n_rep = 3
    res = optimise(f, [(0.0, 1.0)] * 3, n_replications=n_rep, maxfev=maxfev, n_initial=12,
                   n_starts=n_starts, xtol=1e-4, delta=0.01, seed=4)
    search_points = {x for x, r in f.calls if r < n_rep}
    assert len(search_points) == res.n_evaluations <= maxfev
    assert len([c for c in f.calls if c[1] < n_rep]) == res.n_evaluations * n_rep
    assert res.n_runs == len(f.calls)
    assert res.n_initial == 12
    assert len(res.messages) == (n_starts if maxfev > 12 else 0)
    if n_starts and maxfev - 12 < 20:  # too few for COBYQA to converge at xtol=1e-4: stopped by maxfev
        assert res.n_evaluations == maxfev
        assert all("maxfev" in m for m in res.messages)


def test_same_seed_same_result_and_the_seed_scrambles_the_design():
    runs = [optimise(Quadratic([0.5]), [(0.0, 1.0)], n_replications=2, maxfev=12, delta=0.01, seed=s)
            for s in (7, 7, 8)]
    np.testing.assert_array_equal(runs[0].history_x, runs[1].history_x)
    assert runs[0].x.tolist() == runs[1].x.tolist()
    assert not np.array_equal(runs[0].history_x[:8], runs[2].history_x[:8])
    fresh = optimise(Quadratic([0.5]), [(0.0, 1.0)], n_replications=2, maxfev=10, delta=0.01)
    again = optimise(Quadratic([0.5]), [(0.0, 1.0)], n_replications=2, maxfev=10, delta=0.01, seed=fresh.seed)
    assert isinstance(fresh.seed, int) and np.array_equal(fresh.history_x, again.history_x)


def test_summary_and_to_dict_say_what_was_chosen_and_what_the_guarantee_covers():
    res = optimise(Quadratic([0.5, 0.5]), [(0.0, 1.0)] * 2, budget=([1.0, 1.0], 0.8), x0=[0.1, 0.1],
                   names=["tools", "training"], n_replications=3, maxfev=25, delta=0.01, seed=1)
    text = res.summary()
    assert "tools" in text and "training" in text and "fresh" in text
    assert "Versus the starting point" in text and "Budget" in text
    assert "finalists only" in text and res.selection.guarantee in text
    data = res.to_dict()
    import json

    json.dumps(data)
    assert data["levers"] == res.levers
    assert len(data["history"]) == res.n_evaluations
    assert set(data["finalists"]) == set(res.selection.names)


@pytest.mark.parametrize("kwargs, match", [
    (dict(bounds=[(1.0, 1.0)]), "low bound must be below"),
    (dict(bounds=[(0.0, math.inf)]), "finite number"),
    (dict(bounds=[(0.0, 1.0, 2.0)]), "pair"),
    (dict(budget=([1.0], -1.0)), r"least 1 \* x0 in the box is 0, above the total -1"),
    (dict(budget=([1.0, 2.0], 1.0)), "one per lever"),
    (dict(budget=([0.0], 1.0)), "all zero"),
    (dict(x0=[2.0]), r"x0 = 2 is outside its bounds \(0, 1\)"),
    (dict(x0=[0.9], budget=([1.0], 0.5)), "x0 breaks the budget"),
    (dict(maxfev=5, n_initial=8), r"maxfev \(5\) must cover the 8 initial points"),
    (dict(delta=0.0), "delta"),
    (dict(alpha=0.5), r"alpha must be in \(0, 0.5\)"),
    (dict(finalists=1), "finalists must be an integer >= 2"),
    (dict(procedure="ocba"), "procedure"),
    (dict(direction="up"), "direction"),
    (dict(xtol=0.5), "xtol"),
    (dict(n_replications=0), "n_replications"),
    (dict(seed=-1), "seed"),
    (dict(executor="pool"), "executor"),
])
def test_bad_input_is_refused_before_any_run(kwargs, match):
    f = Quadratic([0.5])
    args = dict(bounds=[(0.0, 1.0)], delta=0.1, maxfev=20, seed=1) | kwargs
    with pytest.raises(ParamError, match=match):
        optimise(f, **args)
    assert f.calls == []


def test_a_non_finite_output_is_named():
    with pytest.raises(ValueError, match="returned nan"):
        optimise(lambda x, r: math.nan, [(0.0, 1.0)], delta=0.1, maxfev=10, seed=1)


# ------------------------------------------------------------------ simulator
def test_simulator_finds_a_plan_no_worse_than_today_and_its_numbers_are_experiment_totals():
    base = preset("workshop")
    levers = {"economics.price_index": (0.9, 1.3), "internal.tools_spend_per_week": (0.0, 3000.0),
              "workforce.training_hours": (0.0, 4.0)}
    budget = {"weights": {"internal.tools_spend_per_week": 1.0, "workforce.training_hours": 225.0},
              "total": 1500.0}
    res = optimise_levers(base, levers, kpi="profit", delta=2000.0, budget=budget, horizon=8, warmup=2,
                          n_replications=3, maxfev=16, n_starts=1, n0=5, seed=11)
    assert res.names == tuple(levers) and res.kpi == "profit"
    weights = np.array([0.0, 1.0, 225.0])
    assert np.all(res.history_x @ weights <= 1500.0 + 1e-6) and res.x @ weights <= 1500.0 + 1e-6
    for (lo, hi), v in zip(levers.values(), res.x):
        assert lo <= v <= hi
    # today's levers (1.0, 0, 1 h) are the start, and the chosen plan is no worse on fresh replications
    assert res.history_x[0].tolist() == [1.0, 0.0, 1.0]
    assert "start" in res.selection.names
    assert res.versus_start.high >= 0.0  # paired: the chosen plan is not significantly worse
    today = res.selection.samples[res.selection.names.index("start")]
    assert res.estimate.high >= today.mean()  # today's fresh mean is not above the chosen plan's interval
    # a fresh output is the KPI total an Experiment with the same seed gives that replication
    i = res.selection.names.index(res.selection.best)
    plan = Scenario("chosen", levers=res.levers)
    exp = Experiment(base, scenarios=[plan], n_replications=res.n_replications + 1, horizon=8,
                     warmup=2, seed=11)
    total = exp.run().totals("profit", scenario="chosen")[res.n_replications]
    assert res.selection.samples[i][0] == pytest.approx(total, rel=1e-12)


def test_simulator_levers_take_effect_at_at_week():
    base = preset("workshop")
    res = optimise_levers(base, {"economics.price_index": (0.8, 1.2)}, kpi="revenue", delta=5000.0,
                          at_week=3, horizon=6, n_replications=2, maxfev=6, n_initial=4, n_starts=0,
                          n0=3, seed=2)
    i = res.selection.names.index(res.selection.best)
    value = res.levers["economics.price_index"]
    params = base.with_changes(spchain.Change(at_week=3, path="economics.price_index", value=value))
    run = spchain.simulate(params, horizon=6, seed=replication_seed(2, res.n_replications))
    assert res.selection.samples[i][0] == pytest.approx(run.total("revenue"), rel=1e-12)
    # over six weeks revenue rises with price (customers have not yet left): the top of the range wins
    assert value > 1.1 and res.versus_start.low > 0


@pytest.mark.parametrize("levers, kwargs, error, match", [
    ({"internal.tool_spend_per_week": (0.0, 1.0)}, {}, ParamError, "did you mean 'tools_spend_per_week'"),
    ({"economics.price_index": (1.2, 0.8)}, {}, ParamError, "economics.price_index: the low bound"),
    ({"economics.price_index": (0.8, math.nan)}, {}, ParamError, "finite"),
    ({"internal.tools_spend_per_week": (-100.0, 10.0)}, {}, ParamError, "at its bound -100"),
    ({"workforce.n_employees": (8, 12)}, {}, ParamError, "must be an integer"),
    ({"internal.tools_spend_per_week": (500.0, 1000.0)},
     {"budget": {"paths": ["internal.tools_spend_per_week"], "total": 400.0}}, ParamError,
     r"least 1 \* internal.tools_spend_per_week in the box is 500, above the total 400"),
    ({"internal.tools_spend_per_week": (0.0, 1000.0)},
     {"budget": {"paths": ["workforce.training_hours"], "total": 4.0}}, ParamError, "not a lever"),
    ({"internal.tools_spend_per_week": (0.0, 1000.0)}, {"budget": {"total": 4.0}}, ParamError, "budget must be"),
    ({"internal.tools_spend_per_week": (0.0, 1000.0)}, {"warmup": 8}, ParamError, "longer than the warm-up"),
    ({"internal.tools_spend_per_week": (0.0, 1000.0)}, {"at_week": 8}, ParamError, "at_week"),
    ({"organisation.n_units": (1.0, 2.0)}, {"at_week": 2}, ParamError, "organisation"),
    ({"internal.tools_spend_per_week": (0.0, 1000.0)}, {"kpi": "proft"}, KeyError, "did you mean 'profit'"),
    ({}, {}, ParamError, "non-empty mapping"),
])
def test_simulator_bad_input_is_refused_before_any_run(monkeypatch, levers, kwargs, error, match):
    ran = []
    monkeypatch.setattr(spchain.engine.run, "simulate", lambda *a, **k: ran.append(1))
    with pytest.raises(error, match=match):
        optimise_levers(preset("workshop"), levers, delta=1.0, horizon=8, seed=1, **kwargs)
    assert ran == []


def test_an_executor_gives_the_same_result_as_serial():
    import concurrent.futures as cf

    kwargs = dict(budget=([1.0, 1.0], 1.0), n_replications=3, maxfev=30, delta=0.01, seed=9)
    serial = optimise(Quadratic([0.8, 0.6]), [(0.0, 1.0)] * 2, **kwargs)
    with cf.ThreadPoolExecutor(2) as pool:
        parallel = optimise(Quadratic([0.8, 0.6]), [(0.0, 1.0)] * 2, executor=pool, **kwargs)
    np.testing.assert_array_equal(serial.history_x, parallel.history_x)
    np.testing.assert_array_equal(serial.history_mean, parallel.history_mean)
    assert serial.x.tolist() == parallel.x.tolist() and serial.n_runs == parallel.n_runs


@pytest.mark.slow
def test_the_howto_page_runs_and_prints_what_it_shows():
    """The code of docs/howto/optimise.md: the workshop example prints the summary the page shows,
    and the own-objective example ends at the Lagrange point the page names."""
    import contextlib
    import io
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "howto" / "optimise.md").read_text(encoding="utf-8")
    workshop, year, own = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    compile(year, "optimise.md", "exec")  # the year of the workshop takes minutes: not run here
    [shown] = re.findall(r"```text\n(.*?)```", page, flags=re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(workshop, "optimise.md", "exec"), namespace := {})
    assert out.getvalue().strip() == shown.strip()
    levers = namespace["result"].levers
    assert levers["workforce.training_hours"] == pytest.approx(7.5)  # the whole budget, to training
    assert levers["internal.tools_spend_per_week"] == pytest.approx(0.0, abs=1e-9)
    exec(compile(own, "optimise.md", "exec"), namespace := {})
    np.testing.assert_allclose(namespace["res"].x, [2.0, 1.0], atol=0.05)


def test_fresh_replications_remove_the_optimisers_curse():
    # A flat objective (mean 0 everywhere) whose noise differs from point to point: the best search
    # average is the maximum of many noisy averages, biased upwards (about 0.9 here for 20 averages
    # of 4 standard normals); the chosen plan's fresh estimate is not, and its interval covers 0.
    import hashlib

    def flat(x, r):
        key = int.from_bytes(hashlib.sha256(np.asarray(x, float).tobytes()).digest()[:8], "little")
        return float(np.random.default_rng([key, r]).standard_normal())

    res = optimise(flat, [(0.0, 1.0), (0.0, 1.0)], n_replications=4, n_initial=20, maxfev=20,
                   n_starts=0, delta=0.5, n0=20, seed=6)
    assert res.history_mean.max() > 0.5
    assert res.estimate.low <= 0.0 <= res.estimate.high
    assert abs(res.estimate.mean) < res.history_mean.max()

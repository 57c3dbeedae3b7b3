"""Ranking and selection (spchain.experiments.selection): constants, guarantees on synthetic data, the simulator.

The procedures take a sampler ``sample(scenario, replication) -> float``,
so their probability of correct selection (PCS) is checked here on normal
outputs with known means: the slippage configuration (the best mean is
``delta`` above all others, common variance) with a CRN-like positive
correlation between scenarios within a replication.
"""

import concurrent.futures as cf
import math

import numpy as np
import pytest

from spchain import ParamError, Scenario, preset
from spchain.experiments.experiment import Experiment
from spchain.experiments.selection import kn_eta, ocba_allocation, rinott_h, rinott_pcs, select, select_best

REPETITIONS = 300


class Slippage:
    """Normal outputs, best mean ``delta`` above the rest, correlation ``rho`` within a replication."""

    def __init__(self, k, delta, sigma, rho, rng, *, best=None, direction="max"):
        self.k, self.best = k, k - 1 if best is None else best
        self.mu = np.zeros(k)
        self.mu[self.best] = delta if direction == "max" else -delta
        self.sigma, self.rho, self.rng, self.rows = sigma, rho, rng, {}

    def __call__(self, i, r):
        if r not in self.rows:
            z = self.rng.standard_normal(self.k + 1)
            self.rows[r] = self.mu + self.sigma * (math.sqrt(self.rho) * z[0]
                                                   + math.sqrt(1 - self.rho) * z[1:])
        return self.rows[r][i]


def pcs(procedure, *, k=5, delta=1.0, sigma=2.0, rho=0.5, alpha=0.05, n0=10, seed=7,
        direction="max", repetitions=REPETITIONS):
    """Empirical PCS and mean runs over ``repetitions`` independent selections."""
    rng = np.random.default_rng(seed)
    correct, runs = 0, []
    for _ in range(repetitions):
        sample = Slippage(k, delta, sigma, rho, rng, direction=direction)
        chosen = select(sample, k, delta=delta, alpha=alpha, procedure=procedure, n0=n0,
                        direction=direction)
        correct += chosen.best == str(sample.best)
        runs.append(chosen.n_runs)
    return correct / repetitions, float(np.mean(runs))


def lower_tolerance(alpha, n=REPETITIONS):
    """``1 - alpha`` less three binomial standard errors."""
    return 1 - alpha - 3 * math.sqrt(alpha * (1 - alpha) / n)


# ------------------------------------------------------------ Rinott's h
@pytest.mark.parametrize("k, n0, confidence, table", [
    # k = 2, n0 = 20: Law, Simulation Modeling and Analysis (5th ed.), Table 10.11 (for k = 2
    # Rinott's and Dudewicz-Dalal's constants coincide)
    (2, 20, 0.90, 1.896),
    (2, 20, 0.95, 2.453),
    # n0 = 51: Bechhofer, Santner & Goldsman (1995) values, as checked in the KSL's Rinott code
    (10, 51, 0.975, 4.045),
    (1000, 51, 0.90, 5.488),
    (1000, 51, 0.975, 6.057),
])
def test_rinott_h_matches_published_tables(k, n0, confidence, table):
    assert rinott_h(k, n0, confidence) == pytest.approx(table, abs=2e-3)


def test_rinott_h_solves_its_integral_and_grows_with_k_and_confidence():
    h = rinott_h(4, 10, 0.95)
    assert rinott_pcs(h, 4, 10) == pytest.approx(0.95, abs=1e-9)
    assert rinott_h(5, 10, 0.95) > h > rinott_h(3, 10, 0.95)
    assert rinott_h(4, 10, 0.99) > h > rinott_h(4, 30, 0.95)


def test_rinott_integral_matches_adaptive_quadrature():
    from scipy import integrate, stats

    nu, h = 9, 3.0
    f = stats.chi2(nu).pdf

    def inner(y):
        return integrate.quad(lambda x: stats.norm.cdf(h / math.sqrt(nu * (1 / x + 1 / y))) * f(x),
                              0, np.inf, epsabs=1e-10)[0]

    exact = integrate.quad(lambda y: inner(y) ** 2 * f(y), 0, np.inf, epsabs=1e-9)[0]
    assert rinott_pcs(h, 3, 10) == pytest.approx(exact, abs=1e-7)


def test_kn_eta_formula():
    # Kim & Nelson (2001): eta = ((2 alpha / (k - 1))^(-2/(n0 - 1)) - 1) / 2
    assert kn_eta(2, 3, 0.05) == pytest.approx(0.5 * (0.1 ** -1 - 1))
    assert kn_eta(5, 10, 0.05) == pytest.approx(0.5 * ((0.025) ** (-2 / 9) - 1))


# ------------------------------------------------------------ PCS on synthetic data
@pytest.mark.parametrize("procedure", ["rinott", "kn", "kn++"])
def test_pcs_meets_the_guarantee_in_the_slippage_configuration(procedure):
    rate, _ = pcs(procedure)
    assert rate >= lower_tolerance(0.05), (procedure, rate)


def test_pcs_when_minimising():
    rate, _ = pcs("kn++", direction="min", k=3, seed=11)
    assert rate >= lower_tolerance(0.05)


def test_kn_plus_plus_uses_fewer_replications_than_rinott():
    # k = 5, delta = 1, sigma = 2, rho = 0.5, n0 = 10, alpha = 0.05, 300 repetitions:
    # Rinott about 279 runs, KN about 85, KN++ about 71 (PCS 0.99, 0.98, 0.98)
    _, rinott = pcs("rinott")
    _, kn = pcs("kn")
    _, knpp = pcs("kn++")
    assert knpp < kn < rinott / 2


def test_eliminated_scenarios_and_stages():
    rng = np.random.default_rng(2)
    chosen = select(Slippage(4, 1.0, 1.0, 0.5, rng), ["a", "b", "c", "d"], delta=1.0, n0=10)
    assert chosen.best == "d"
    assert set(chosen.eliminated) == {"a", "b", "c"}
    for name, stage in chosen.eliminated.items():
        assert stage >= 10
        assert chosen.n_replications[chosen.names.index(name)] == stage
    assert chosen.n_replications.max() == chosen.n_replications[3]


def test_batches_and_executors_do_not_change_the_choice():
    data = np.random.default_rng(5).normal([0, 0.2, 0.5, 1.0], 2.0, size=(2000, 4))
    sample = data.T.__getitem__  # picklable, deterministic

    def run(**kw):
        return select(lambda i, r: sample((i, r)), 4, delta=0.5, **kw)

    one = run()
    many = run(batch=7)
    assert many.best == one.best and many.eliminated == one.eliminated
    assert np.all(many.n_replications >= one.n_replications)
    with cf.ThreadPoolExecutor(4) as pool:
        threaded = run(executor=pool)
    assert threaded.best == one.best and np.array_equal(threaded.n_replications, one.n_replications)
    assert np.array_equal(threaded.means, one.means)


# ------------------------------------------------------------ OCBA
def test_ocba_allocation_matches_chen_and_lee_example():
    # Chen & Lee (2011), p. 49: minimise, means 1..5, variances 1, 1, 9, 9, 4, budget 50
    assert ocba_allocation([1, 2, 3, 4, 5], [1, 1, 9, 9, 4], 50, direction="min").tolist() == [11, 9, 19, 9, 2]


def test_ocba_allocation_defining_ratios():
    means = np.array([3.0, 1.0, 2.5, 0.0])
    variances = np.array([4.0, 1.0, 2.0, 9.0])
    n = ocba_allocation(means, variances, 10_000_000).astype(float)
    b, others = 0, [1, 2, 3]
    d = means[b] - means
    for i in others:
        for j in others:
            assert n[i] / n[j] == pytest.approx((variances[i] / d[i] ** 2) / (variances[j] / d[j] ** 2), rel=1e-5)
    assert n[b] == pytest.approx(math.sqrt(variances[b] * sum(n[i] ** 2 / variances[i] for i in others)),
                                 rel=1e-5)
    assert n.sum() == 10_000_000


def test_ocba_beats_equal_allocation_on_chen_et_al_example():
    # Chen et al. (2000) example 1: ten designs, means 1..10, sigma 6, minimise
    rng = np.random.default_rng(3)
    mu, budget = np.arange(1.0, 11.0), 300
    ocba = equal = 0
    for _ in range(REPETITIONS):
        rows = {}

        def sample(i, r):
            if r not in rows:
                rows[r] = mu + 6.0 * rng.standard_normal(10)
            return rows[r][i]

        chosen = select(sample, 10, delta=1.0, procedure="ocba", budget=budget, n0=10, direction="min")
        assert chosen.n_runs == budget
        ocba += chosen.best == "0"
        equal += (mu[:, None] + 6.0 * rng.standard_normal((10, budget // 10))).mean(axis=1).argmin() == 0
    # about 0.85 against 0.68 in 300 repetitions
    assert ocba / REPETITIONS > equal / REPETITIONS + 0.08
    assert 0 <= chosen.pgs <= 1 and "no guarantee" in chosen.guarantee


# ------------------------------------------------------------ validation
@pytest.mark.parametrize("kw, message", [
    (dict(delta=0.0), "delta"),
    (dict(delta=-1.0), "delta"),
    (dict(alpha=0.0), "alpha"),
    (dict(alpha=1.0), "alpha"),
    (dict(alpha=0.6), "1 - 1/k"),
    (dict(n0=1), "n0"),
    (dict(direction="up"), "direction"),
    (dict(procedure="bechhofer"), "procedure"),
    (dict(procedure="ocba"), "budget"),
    (dict(budget=100), "'ocba' only"),
    (dict(procedure="ocba", budget=5), "budget"),
    (dict(executor="pool"), "executor"),
])
def test_bad_inputs_fail_before_any_run(kw, message):
    calls = []
    args = dict(delta=1.0)
    args.update(kw)
    with pytest.raises(ParamError, match=message):
        select(lambda i, r: calls.append((i, r)) or 0.0, 2, **args)
    assert calls == []


def test_select_best_validates_before_running():
    base = preset("workshop")
    with pytest.raises(ParamError, match="at least 2"):
        select_best(base, [Scenario("only")], kpi="revenue", delta=1.0)
    with pytest.raises(KeyError, match="unknown metric"):
        select_best(base, [Scenario("a"), Scenario("b")], kpi="revenu", delta=1.0)
    with pytest.raises(ParamError, match="delta"):
        select_best(base, [Scenario("a"), Scenario("b")], kpi="revenue", delta=0)
    with pytest.raises(ParamError, match="unique"):
        select_best(base, [Scenario("a"), Scenario("a")], kpi="revenue", delta=1.0)


# ------------------------------------------------------------ the simulator
def test_select_best_on_the_workshop_picks_the_clearly_better_price():
    base = preset("workshop")
    scenarios = [Scenario("now"),
                 Scenario("spend 42", levers={"economics.spend_per_visit": 42.0}),
                 Scenario("spend 50", levers={"economics.spend_per_visit": 50.0})]
    chosen = select_best(base, scenarios, kpi="revenue", delta=5000.0, horizon=8, n0=5, seed=3)
    assert chosen.best == "spend 50"
    assert set(chosen.eliminated) == {"now", "spend 42"}
    assert chosen.seed == 3
    assert "95% confidence" in chosen.guarantee and "5,000" in chosen.guarantee
    assert "spend 50" in chosen.summary()
    # common random numbers: replication i's outputs are Experiment's totals
    n = int(chosen.n_replications.min())
    totals = Experiment(base, scenarios=scenarios, n_replications=n, horizon=8, seed=3).run()
    for i, name in enumerate(chosen.names):
        assert np.allclose(chosen.samples[i][:n], totals.totals("revenue", scenario=name))


def test_select_best_minimising_wait_with_rinott():
    base = preset("workshop")
    scenarios = [Scenario("fewer staff", levers={"workforce.n_employees": base.workforce.n_employees - 2}),
                 Scenario("more staff", levers={"workforce.n_employees": base.workforce.n_employees + 2})]
    chosen = select_best(base, scenarios, kpi="wait_time", direction="min", delta=0.5,
                         procedure="rinott", horizon=6, n0=4, seed=1)
    assert chosen.best == "more staff"
    assert chosen.means[1] < chosen.means[0]
    assert chosen.to_dict()["best"] == "more staff"


def test_the_howto_page_runs_and_prints_what_it_shows():
    """The code of docs/howto/choose_best.md prints the summary the page shows."""
    import contextlib
    import io
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "howto" / "choose_best.md").read_text(encoding="utf-8")
    [code] = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    [shown] = re.findall(r"```text\n(.*?)```", page, flags=re.S)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "choose_best.md", "exec"), {})
    assert out.getvalue().strip() == shown.strip()

"""calibrate tells the truth: misfit and success, x0 checks, the evaluation budget, the full-covariance
sandwich, skipping standard errors, and the identifiability report (issue 11, item 4)."""

import json
import math

import numpy as np
import pytest
from scipy import stats

import spchain.fitting.calibration as calibration
from spchain.fitting.calibration import Target, calibrate
from spchain.fitting.synthetic import panel_params
from spchain.params import ParamError

# one small unit whose visits do not depend on satisfaction: arrivals move with the visit rate only
SMALL = panel_params().override({"organisation.n_units": 1, "customers.n_customers": 200,
                                 "links.revisit_from_satisfaction": 0.0, "links.churn_from_satisfaction": 0.0,
                                 "links.referral_from_satisfaction": 0.0})
HORIZON = 6
VISITS = {"customers.visit_rate": (0.1, 0.5)}


def _arrivals(rate, seeds=range(50, 54)):
    p = SMALL.override({"customers.visit_rate": rate})
    return float(np.mean([calibration._run((p, HORIZON, s, None)).total("arrivals") for s in seeds]))


def test_a_missed_target_is_not_a_success_even_when_the_optimiser_converges():
    # CSAT cannot be moved to 4.9 by the visit rate: the optimiser converges, the target is missed
    targets = [Target.mean("arrivals", _arrivals(0.3), sd=10.0), Target.mean("csat", 4.9, sd=0.01)]
    fit = calibrate(SMALL, free=VISITS, targets=targets, horizon=HORIZON, n_replications=4, seed=2,
                    method="least_squares")
    d = fit.diagnostics
    assert d["converged"] and not fit.success
    missed = [row["target"] for row in d["targets"] if abs(row["z"]) > 2]
    assert "csat mean" in missed and d["missed_targets"] == missed
    assert "targets missed (|z| > 2)" in fit.message and all(f"{n} (z = " in fit.message for n in missed)
    # over-identified (2 statistics, 1 parameter): J on 1 degree of freedom, from the full covariance
    r = np.array([row["simulated"] - row["value"] for row in d["targets"]])
    omega = np.diag([10.0 ** 2, 0.01 ** 2]) + np.array(d["moment_cov"])
    assert d["dof"] == 1
    assert d["misfit"] == pytest.approx(r @ np.linalg.solve(omega, r))
    assert d["chi2_pvalue"] == pytest.approx(stats.chi2.sf(d["misfit"], 1))
    # a looser tolerance accepts the same fit
    z_max = max(abs(row["z"]) for row in d["targets"])
    loose = calibrate(SMALL, free=VISITS, targets=targets, horizon=HORIZON, n_replications=4, seed=2,
                      method="least_squares", tolerance=z_max + 1)
    assert loose.success and loose.diagnostics["missed_targets"] == []


def test_j_falls_back_to_the_diagonal_when_the_replications_cannot_estimate_the_covariance():
    targets = [Target.mean("arrivals", _arrivals(0.3), sd=10.0), Target.mean("csat", 3.7, sd=0.05)]
    fit = calibrate(SMALL, free=VISITS, targets=targets, horizon=HORIZON, n_replications=2, seed=2,
                    method="least_squares", tolerance=100)
    d = fit.diagnostics
    assert d["misfit"] == pytest.approx(sum(row["z"] ** 2 for row in d["targets"]))
    assert any("J uses the diagonal" in note for note in d["notes"])


def test_a_met_target_is_a_success_and_just_identified_fits_have_no_j_test():
    fit = calibrate(SMALL, free=VISITS, targets=[Target.mean("arrivals", _arrivals(0.3), sd=5.0)],
                    horizon=HORIZON, n_replications=4, seed=2, method="least_squares")
    assert fit.success and fit.diagnostics["converged"], fit.message
    assert fit.diagnostics["dof"] == 0 and math.isnan(fit.diagnostics["chi2_pvalue"])
    assert abs(fit.diagnostics["targets"][0]["z"]) <= 2
    with pytest.raises(ValueError, match="tolerance must be a positive number"):
        calibrate(SMALL, free=VISITS, targets=[Target.mean("arrivals", 280.0, sd=5.0)], horizon=HORIZON,
                  tolerance=0)


def test_x0_outside_its_bounds_is_refused_before_any_simulation(monkeypatch):
    def no_runs(task):
        raise AssertionError("simulated before validating")

    monkeypatch.setattr(calibration, "_run", no_runs)
    target = [Target.mean("arrivals", 280.0, sd=5.0)]
    with pytest.raises(ParamError, match=r"x0 for customers.visit_rate = 0.7 is outside its bounds \[0.1, 0.5\]"):
        calibrate(SMALL, free=VISITS, targets=target, horizon=HORIZON, x0={"customers.visit_rate": 0.7})
    with pytest.raises(ParamError, match="x0 for customers.visit_rate must be a finite number"):
        calibrate(SMALL, free=VISITS, targets=target, horizon=HORIZON, x0={"customers.visit_rate": math.nan})
    with pytest.raises(ParamError, match="not free"):
        calibrate(SMALL, free=VISITS, targets=target, horizon=HORIZON, x0={"customers.expected_quality": 0.7})


@pytest.mark.parametrize("method", ["least_squares", "Nelder-Mead", "Powell"])
@pytest.mark.parametrize("maxfev", [1, 2, 5, 15])
def test_maxfev_counts_every_simulated_point(monkeypatch, method, maxfev):
    points = set()
    run = calibration._run

    def counting(task):
        p = task[0]
        points.add((p.customers.visit_rate, p.customers.expected_quality))
        return run(task)

    monkeypatch.setattr(calibration, "_run", counting)
    free = {"customers.visit_rate": (0.1, 0.5), "customers.expected_quality": (0.6, 0.95)}
    targets = [Target.mean("arrivals", 250.0, sd=5.0), Target.mean("csat", 3.8, sd=0.05)]
    kw = dict(free=free, targets=targets, horizon=HORIZON, n_replications=2, seed=1, method=method, maxfev=maxfev)
    fit = calibrate(SMALL, standard_errors=False, **kw)
    assert len(points) <= maxfev
    assert fit.diagnostics["n_evaluations"] == fit.diagnostics["n_evaluations_total"] == len(points)
    # standard errors add at most 2 central-difference points per free parameter
    points.clear()
    fit = calibrate(SMALL, **kw)
    assert len(points) <= maxfev + 2 * 2
    assert fit.diagnostics["n_evaluations"] <= maxfev
    assert len(points) == fit.diagnostics["n_evaluations_total"]
    if maxfev <= 2:
        assert not fit.success and not fit.diagnostics["converged"]


def test_the_sandwich_uses_the_full_covariance_of_the_simulated_moments():
    # toy by hand: two moments, one parameter
    G = np.array([[2.0], [1.0]])
    sd = np.array([1.0, 0.5])
    S = np.array([[0.5, 0.3], [0.3, 0.4]])  # covariance of the simulated means
    # W = diag(1, 4); G'WG = 4 + 4 = 8; W G = (2, 4); Omega = [[1.5, 0.3], [0.3, 0.65]]
    # (WG)' Omega (WG) = 4 * 1.5 + 2 * 2 * 4 * 0.3 + 16 * 0.65 = 6 + 4.8 + 10.4 = 21.2
    assert calibration._sandwich(G, sd, S) == pytest.approx(np.array([[21.2 / 64]]))
    # the diagonal alone would give (6 + 10.4) / 64: the moments' correlation matters
    assert calibration._sandwich(G, sd, np.diag(np.diag(S)))[0, 0] == pytest.approx(16.4 / 64)
    with pytest.raises(np.linalg.LinAlgError):
        calibration._sandwich(np.zeros((2, 1)), sd, S)


def test_calibrate_reports_the_sandwich_of_its_own_jacobian_and_moment_covariance():
    free = {"customers.visit_rate": (0.1, 0.5), "customers.expected_quality": (0.6, 0.95)}
    targets = [Target.mean("arrivals", _arrivals(0.3), sd=5.0), Target.mean("csat", 3.7, sd=0.05),
               Target.mean("revenue", 11000.0, sd=300.0)]
    fit = calibrate(SMALL, free=free, targets=targets, horizon=HORIZON, n_replications=5, seed=4,
                    method="least_squares", tolerance=100)
    d = fit.diagnostics
    # the moments' covariance: the replications at the estimate, on the calibration's seeds
    sim = calibration._Simulator(fit.params, [], targets, HORIZON, d["seeds"], None)
    reps = sim.moments(np.zeros(0))
    S = np.cov(reps, rowvar=False) / 5
    assert np.array(d["moment_cov"]) == pytest.approx(S)
    assert abs(np.corrcoef(reps, rowvar=False)[0, 2]) > 0.3  # arrivals and revenue move together
    sd = np.array([5.0, 0.05, 300.0])
    G = np.array(d["jacobian"])
    WG = G / sd[:, None] ** 2
    b_inv = np.linalg.inv(G.T @ WG)
    V = b_inv @ WG.T @ (np.diag(sd ** 2) + S) @ WG @ b_inv
    assert fit.cov == pytest.approx(V, rel=1e-9)
    assert [row["mc_se"] for row in d["targets"]] == pytest.approx(np.sqrt(np.diag(S)))


def test_standard_errors_can_be_skipped():
    kw = dict(free=VISITS, targets=[Target.mean("arrivals", _arrivals(0.3), sd=5.0)], horizon=HORIZON,
              n_replications=3, seed=2)
    fit = calibrate(SMALL, standard_errors=False, **kw)
    d = fit.diagnostics
    assert math.isnan(fit.std_errors["customers.visit_rate"])
    assert all(math.isnan(v) for v in fit.conf_int()["customers.visit_rate"])
    assert d["n_evaluations_total"] == d["n_evaluations"]
    assert "standard_errors=False" in fit.summary() and "no standard errors" in fit.method
    json.dumps(fit.to_dict())
    # least squares still reports identifiability from its own finite differences
    ls = calibrate(SMALL, standard_errors=False, method="least_squares", **kw)
    assert ls.diagnostics["identifiability"]["available"]
    assert ls.diagnostics["identifiability"]["pinned"] == ["customers.visit_rate"]
    with pytest.raises(ValueError, match="standard_errors must be True or False"):
        calibrate(SMALL, standard_errors="no", **kw)


def test_identifiability_report_names_the_parameters_the_targets_pin_down():
    # arrivals do not depend on how strongly quality shows in value (visits are held off satisfaction)
    free = {"customers.visit_rate": (0.1, 0.5), "links.value_from_quality": (0.5, 4.0)}
    fit = calibrate(SMALL, free=free, targets=[Target.mean("arrivals", _arrivals(0.3), sd=5.0)],
                    horizon=HORIZON, n_replications=3, seed=2, method="least_squares")
    ident = fit.diagnostics["identifiability"]
    assert ident["rank"] == 1 and ident["n_free"] == 2 and ident["condition_number"] > 1e3
    assert ident["pinned"] == ["customers.visit_rate"] and ident["not_pinned"] == ["links.value_from_quality"]
    assert ident["sensitivity"]["customers.visit_rate"] > 1 > ident["sensitivity"]["links.value_from_quality"]
    assert "identifiability: Jacobian rank 1 of 2" in fit.summary()
    # by hand: two targets, two parameters, the second seen only through a tiny slope
    G = np.array([[3.0, 0.0], [0.0, 1e-5]])
    r = calibration._identifiability(G, np.ones(2), np.ones(2), ["a", "b"], "test")
    assert r["rank"] == 1 and r["pinned"] == ["a"] and r["condition_number"] == pytest.approx(3e5)
    r = calibration._identifiability(np.array([[3.0, 1.0], [1.0, 2.0]]), np.ones(2), np.ones(2), ["a", "b"], "t")
    assert r["rank"] == 2 and r["pinned"] == ["a", "b"]

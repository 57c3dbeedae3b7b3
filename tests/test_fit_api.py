"""The one result type of the three fitting functions, and their public names."""

import json
import math

import numpy as np
import pytest

import spchain
from spchain.fitting.calibration import Target, calibrate
from spchain.fitting.distributions import fit_distribution
from spchain.fitting.estimation import fit_links
from spchain.fitting.result import FitResult
from spchain.fitting.synthetic import panel_params, structural_panel, synthetic_panel
from spchain.params import Params


@pytest.fixture(scope="module")
def fits():
    rng = np.random.default_rng(0)
    dist = fit_distribution(rng.gamma(2.0, 5.0, 400), target="workforce.service_time_minutes")
    links = fit_links(structural_panel(n_units=40, n_periods=10, seed=0), unit_effects=False)
    cal = calibrate(panel_params(), free={"customers.visit_rate": (0.1, 0.5)},
                    targets=[Target.mean("arrivals", 300.0, sd=10.0)], horizon=4, n_replications=2,
                    maxfev=12, seed=0)
    return {"distribution": dist, "links": links, "calibration": cal}


@pytest.mark.parametrize("kind", ["distribution", "links", "calibration"])
def test_one_result_type(fits, kind):
    fit = fits[kind]
    assert isinstance(fit, FitResult) and fit.kind == kind
    assert list(fit.std_errors) == list(fit.estimates) == fit.names
    assert fit.cov.shape == (len(fit.estimates),) * 2
    ci90, ci99 = fit.conf_int(0.10), fit.conf_int(0.01)
    for name, est in fit.estimates.items():
        se = fit.std_errors[name]
        if np.isfinite(se) and se > 0:
            assert ci99[name][0] < ci90[name][0] <= est <= ci90[name][1] < ci99[name][1]
    text = fit.summary()
    assert isinstance(text, str) and all(name in text for name in fit.estimates)
    d = fit.to_dict()
    assert json.loads(json.dumps(d, allow_nan=False))["kind"] == kind
    assert isinstance(fit.params, Params)
    assert fit.apply(Params()).to_dict() == Params().override(fit.overrides).to_dict()
    for path, value in fit.overrides.items():
        assert fit.params.get(path) == pytest.approx(value)


def test_wald_intervals_use_t_when_df_is_set(fits):
    fit = fits["links"]
    name = "links.quality_from_satisfaction"
    lo, hi = fit.conf_int(0.05)[name]
    from scipy import stats
    q = stats.t.ppf(0.975, fit.df)
    assert hi - fit.estimates[name] == pytest.approx(q * fit.std_errors[name])


def test_conf_int_arguments(fits):
    fit = fits["distribution"]
    with pytest.raises(ValueError, match="alpha must be a number in"):
        fit.conf_int(1.5)
    with pytest.raises(ValueError, match="needs bootstrap draws"):
        fit.conf_int(method="bootstrap")
    with pytest.raises(ValueError, match="'wald' or 'bootstrap'"):
        fit.conf_int(method="profile")


def test_to_frame(fits):
    pytest.importorskip("pandas")
    frame = fits["links"].to_frame()
    assert list(frame.columns) == ["estimate", "std_error", "p_value", "ci_low", "ci_high"]
    assert frame.loc["links.quality_from_satisfaction", "estimate"] == pytest.approx(
        fits["links"].estimates["links.quality_from_satisfaction"])


def test_json_is_strict_even_with_nan():
    fit = fit_distribution(np.random.default_rng(1).exponential(2.0, 50), families="expon")
    assert math.isnan(fit.p_values()["cv"])  # cv of the exponential has no spread
    json.dumps(fit.to_dict(), allow_nan=False)


def test_public_names():
    """``import spchain`` offers the fitting functions beside the synthetic-panel generator."""
    for name in ("fit_distribution", "fit_links", "calibrate", "synthetic_panel", "structural_panel",
                 "read_panel", "Panel", "Target", "FitResult"):
        assert hasattr(spchain, name), name
    assert spchain.fit_links is fit_links and spchain.synthetic_panel is synthetic_panel


# ------------------------------------------------- fitted values and residuals
@pytest.mark.parametrize("kind", ["distribution", "links", "calibration"])
def test_every_fit_carries_observed_fitted_residuals_and_data(fits, kind):
    fit = fits[kind]
    assert fit.observed and set(fit.observed) == set(fit.fitted) == set(fit.residuals) == set(fit.data)
    for part, obs in fit.observed.items():
        assert obs.shape == fit.fitted[part].shape == fit.residuals[part].shape
        np.testing.assert_array_equal(fit.residuals[part] + fit.fitted[part], obs)
        assert all(len(col) == len(obs) for col in fit.data[part].values())
        with pytest.raises(ValueError, match="read-only"):
            obs[0] = 1.0


@pytest.mark.parametrize("unit_effects", [False, True])
def test_link_residuals_plus_fitted_is_the_response(unit_effects):
    """Per equation: observed = fitted + residuals; least-squares residuals reproduce R^2 and
    are orthogonal to the regressors; Poisson fitted means add up to the observed counts."""
    panel = structural_panel(n_units=30, n_periods=12, seed=3)
    fit = fit_links(panel, unit_effects=unit_effects)
    eqs = {d["name"]: d for d in fit.diagnostics["equations"]}
    assert set(fit.observed) == set(eqs)
    for name, d in eqs.items():
        y, f, r = fit.observed[name], fit.fitted[name], fit.residuals[name]
        np.testing.assert_allclose(r + f, y, rtol=0, atol=1e-12)
        assert y.size == d["n_obs"] and set(fit.data[name]) >= {"unit", "period"}
        terms = [t for t in d["terms"] if t != "const"]
        X = np.column_stack([fit.data[name][t] for t in terms])
        if d["kind"] == "ols":
            if unit_effects:  # within residuals: zero mean in every unit
                units = fit.data[name]["unit"]
                assert max(abs(r[units == u].mean()) for u in np.unique(units)) < 1e-10
                X = X - np.array([X[units == u].mean(axis=0) for u in units])
                tss = np.sum((y - np.array([y[units == u].mean() for u in units])) ** 2)
            else:
                tss = np.sum((y - y.mean()) ** 2)
            np.testing.assert_allclose(X.T @ r, 0, atol=1e-8 * len(y))
            assert 1 - r @ r / tss == pytest.approx(d["r2"], rel=1e-9)
        else:
            assert "exposure" in fit.data[name] and np.all(f >= 0)  # 0 in units without events (conditional)
            assert f.sum() == pytest.approx(y.sum(), rel=1e-6)


def test_distribution_parts_are_the_empirical_and_fitted_cdf():
    rng = np.random.default_rng(4)
    tenure, seen = rng.exponential(150.0, 200), rng.uniform(0, 200, 200)
    for x, cens in ((rng.gamma(4.0, 3.0, 60), None), (np.minimum(tenure, seen), tenure > seen)):
        fit = fit_distribution(x, censored=cens)
        d = fit.data["cdf"]
        np.testing.assert_array_equal(d["duration"], np.sort(x))
        np.testing.assert_allclose(fit.fitted["cdf"], fit.value.cdf(d["duration"]))
        ecdf = fit.observed["cdf"]
        assert np.all(np.diff(ecdf) >= 0) and 0 < ecdf[-1] <= 1
        if cens is None:
            np.testing.assert_allclose(ecdf, np.arange(1, x.size + 1) / x.size)
        else:
            assert d["censored"].sum() == cens.sum()


def test_calibration_parts_are_the_targets(fits):
    fit = fits["calibration"]
    for row in fit.diagnostics["targets"]:
        assert fit.observed[row["target"]].tolist() == [row["value"]]
        assert fit.fitted[row["target"]].tolist() == [row["simulated"]]
        assert fit.data[row["target"]]["sd"].tolist() == [row["sd"]]


def test_select_overrides_rule():
    from spchain.fitting.result import build

    fit = build("links", ["links.a", "links.b", "links.c", "links.d"], [2.0, 0.1, 1.0, 1.0],
                np.diag([0.25, 1.0, 0.3 ** 2, np.nan]),
                overrides={"links.a": 2.0, "links.b": 0.1, "links.c": 1.0, "links.d": 1.0})
    kept, why = fit.select_overrides()
    assert kept == {"links.a": 2.0} and list(why) == ["links.b", "links.c", "links.d"]
    assert why["links.b"] == "95% CI [-1.86, 2.06] includes 0"
    assert "59% of the estimate 1, more than 50%" in why["links.c"]  # 1.96 * 0.3 = 0.588
    assert "not available" in why["links.d"]
    assert "links.c" in fit.select_overrides(max_share=0.6)[0]
    assert "links.c" in fit.select_overrides(max_share=math.inf)[0]
    assert "links.b" not in fit.select_overrides(max_share=math.inf)[0]
    assert "links.c" not in fit.select_overrides(alpha=0.01, max_share=0.6)[0]
    for bad in (0, -1, "0.5", True):
        with pytest.raises(ValueError, match="max_share"):
            fit.select_overrides(max_share=bad)


def test_fitplots_imports_no_private_names():
    """spchain.viz.fitplots draws from public results: no underscore name from another spchain module."""
    import ast
    from pathlib import Path

    source = (Path(spchain.__file__).parent / "viz" / "fitplots.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level > 0 or (node.module or "").startswith("spchain")):
            private = [a.name for a in node.names if a.name.startswith("_")]
            assert not private, f"fitplots imports {private} from {node.module}"
            assert not (node.module or "").split(".")[-1].startswith("_")
            modules |= {a.asname or a.name for a in node.names if node.module is None}
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("spchain") for a in node.names), "use relative imports"
    for node in ast.walk(tree):  # e.g. `from . import estimation as est; est._design`
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            assert not node.attr.startswith("_"), f"fitplots uses {node.value.id}.{node.attr}"

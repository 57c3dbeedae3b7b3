"""The one result type of the three fitting functions, and their public names."""

import json
import math

import numpy as np
import pytest

import spchain
from spchain.calibration import Target, calibrate
from spchain.distributions import fit_distribution
from spchain.estimation import fit_links
from spchain.fitresult import FitResult
from spchain.panel import panel_params, structural_panel, synthetic_panel
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

"""fit_links and panels: coverage on exactly identified panels, model panels, CSV, bad data."""

import json

import numpy as np
import pytest
from scipy import stats

from spchain.fitting.estimation import EQUATIONS, Equation, fit_links
from spchain.fitting.result import DataError
from spchain.panel import Panel, read_panel
from spchain.fitting.synthetic import structural_panel, synthetic_panel

#: equations whose regressors are strictly exogenous in structural_panel, so the
#: within (unit fixed effects) estimator is exact there (see structural_panel's docstring)
EXOGENOUS = ["productivity", "turnover", "retention", "revenue"]


def _coverage(make, fit, n_rep, alpha=0.05, **ci_kw):
    hits, names = {}, None
    for rep in range(n_rep):
        panel = make(rep)
        res = fit(panel)
        ci = res.conf_int(alpha, **ci_kw)
        names = [k for k in panel.truth if k in ci]
        for k in names:
            lo, hi = ci[k]
            hits[k] = hits.get(k, 0) + int(lo <= panel.truth[k] <= hi)
    return hits, names


def _assert_nominal(hits, n_rep, level=1e-3, p=0.95):
    """Each interval's coverage is consistent with p: exact binomial test, p-value > level."""
    bad = {k: v / n_rep for k, v in hits.items() if stats.binomtest(v, n_rep, p).pvalue <= level}
    assert not bad, f"coverage off nominal {p}: {bad} (all: { {k: v / n_rep for k, v in hits.items()} })"


@pytest.mark.slow
def test_pooled_intervals_cover_the_truth_at_the_nominal_rate():
    """Exactly identified panels (no unit effects): every coefficient and mapped link."""
    n_rep = 200
    hits, names = _coverage(lambda r: structural_panel(n_units=50, n_periods=20, seed=r),
                            lambda p: fit_links(p, unit_effects=False), n_rep)
    assert len(names) >= 20
    _assert_nominal(hits, n_rep)


@pytest.mark.slow
def test_within_intervals_cover_the_truth_where_regressors_are_exogenous():
    n_rep = 200
    hits, names = _coverage(lambda r: structural_panel(n_units=50, n_periods=20, unit_sd=0.05, seed=10_000 + r),
                            lambda p: fit_links(p, equations=EXOGENOUS), n_rep)
    assert {"links.quit_from_satisfaction", "links.churn_from_satisfaction",
            "links.revisit_from_satisfaction", "links.productivity_from_satisfaction"} <= set(names)
    _assert_nominal(hits, n_rep)


@pytest.mark.slow
def test_cluster_bootstrap_percentile_intervals_cover_the_truth():
    """Percentile intervals of the unit-resampling bootstrap, with enough units for its asymptotics.

    With few units (50) percentile intervals are known to be short (measured 0.885-0.93 for
    these quantities; Wald intervals with clustered errors and t(G - 1) 0.92-0.945): docs/fitting.md
    says so and recommends the Wald intervals there.
    """
    n_rep = 200
    hits, names = _coverage(lambda r: structural_panel(n_units=200, n_periods=10, seed=20_000 + r),
                            lambda p: fit_links(p, equations=["service_quality", "customer_satisfaction",
                                                              "revenue"],
                                                unit_effects=False, n_bootstrap=199, seed=p.meta["seed"]), n_rep)
    assert len(names) >= 5
    _assert_nominal(hits, n_rep)


def test_within_estimator_of_a_dynamic_equation_shows_the_documented_nickell_bias():
    """Unit effects + lagged dependent variable: biased by about -(1 + phi)/(T - 1), as the notes say."""
    panel = structural_panel(n_units=400, n_periods=10, unit_sd=0.05, seed=3)
    fit = fit_links(panel, equations=["customer_satisfaction"])
    key = "customer_satisfaction: customer_satisfaction[t-1]"
    lo, hi = fit.conf_int(0.01)[key]
    assert hi < panel.truth[key]
    assert any("Nickell" in n for n in fit.diagnostics["notes"])
    pooled = fit_links(structural_panel(n_units=400, n_periods=10, seed=3), equations=["customer_satisfaction"],
                       unit_effects=False)
    lo, hi = pooled.conf_int(0.01)[key]
    assert lo < panel.truth[key] < hi


@pytest.mark.slow
def test_model_panel_recovery_matches_the_documented_picture():
    """On panels simulated by the model (feedback, delays, surveys), docs/fitting.md says:
    the hazard and quality links are recovered within their 99% intervals; the
    satisfaction-from-ISQ link is attenuated and the satisfaction delay overstated,
    because the unit's weekly ISQ is a noisy measure of the smoothed ISQ employees feel."""
    panel = synthetic_panel(n_units=60, horizon=30, warmup=10, seed=1)
    fit = fit_links(panel, unit_effects=False)
    ci = fit.conf_int(0.01)
    for key in ("links.quit_from_satisfaction", "links.churn_from_satisfaction",
                "links.quality_from_satisfaction", "customers.base_churn_rate"):
        assert ci[key][0] < panel.truth[key] < ci[key][1], key
    assert ci["links.satisfaction_from_internal"][1] < panel.truth["links.satisfaction_from_internal"]
    assert ci["workforce.satisfaction_delay_weeks"][0] > panel.truth["workforce.satisfaction_delay_weeks"]
    # the fitted links drop into the model
    assert fit.params.links.quality_from_satisfaction == pytest.approx(
        fit.estimates["links.quality_from_satisfaction"])


def test_synthetic_panel_is_reproducible_and_has_varying_levers():
    a = synthetic_panel(n_units=3, horizon=6, seed=7)
    b = synthetic_panel(n_units=3, horizon=6, seed=7)
    assert a.columns == b.columns
    for c in a.columns:
        np.testing.assert_array_equal(a[c], b[c])
    assert a.n_units == 3 and a.n_periods == 6 and len(a) == 18
    assert np.unique(a["recognition"]).size > 3  # across and within units
    assert a.truth["links.value_from_quality"] == 2.0
    c = synthetic_panel(n_units=3, horizon=6, seed=8)
    assert not np.array_equal(a["revenue"], c["revenue"])


def test_panel_csv_round_trip(tmp_path):
    panel = structural_panel(n_units=4, n_periods=5, seed=2)
    cols = panel.to_dict()
    cols["revenue"][3] = np.nan
    panel = Panel(cols, truth=panel.truth, meta=panel.meta)
    path = panel.to_csv(tmp_path / "panel.csv")
    back = read_panel(path)
    assert back.columns == panel.columns
    for c in panel.columns:
        np.testing.assert_array_equal(back[c], panel[c])
    assert back.truth == pytest.approx(panel.truth)
    assert json.loads((tmp_path / "panel.csv.json").read_text())["meta"]["kind"] == "structural_panel"


def test_read_panel_with_labels_and_own_column_names(tmp_path):
    path = tmp_path / "client.csv"
    path.write_text("store,month,engagement,csat\nNorth,1,71,4.1\nNorth,2,,4.2\nSouth,1,64,3.9\n")
    panel = read_panel(path, unit="store", period="month")
    assert panel.meta["unit_labels"] == ["North", "South"]
    assert np.isnan(panel["engagement"][1])
    bad = tmp_path / "bad.csv"
    bad.write_text("unit,period,csat\n0,1,4.1\n0,2,high\n")
    with pytest.raises(DataError, match=r"column 'csat', row 3: 'high' is not a number"):
        read_panel(bad)
    with pytest.raises(DataError, match="no 'store' column"):
        read_panel(bad, unit="store")


def test_scales_map_survey_scales_onto_the_model_scale():
    panel = structural_panel(n_units=30, n_periods=12, seed=4)
    cols = panel.to_dict()
    cols["engagement"] = 100 * cols.pop("employee_satisfaction")
    rescaled = fit_links(Panel(cols), equations=["service_quality"], unit_effects=False,
                         columns={"employee_satisfaction": "engagement"}, scales={"engagement": (0, 100)})
    direct = fit_links(panel, equations=["service_quality"], unit_effects=False)
    for k, v in direct.estimates.items():
        assert rescaled.estimates[k] == pytest.approx(v)


def test_derived_counts_from_rates():
    panel = structural_panel(n_units=30, n_periods=12, seed=5)
    cols = panel.to_dict()
    del cols["quits"]  # only the annualised turnover rate and headcount remain
    fit = fit_links(Panel(cols), equations=["turnover"], unit_effects=False)
    direct = fit_links(panel, equations=["turnover"], unit_effects=False)
    assert fit.estimates["links.quit_from_satisfaction"] == pytest.approx(
        direct.estimates["links.quit_from_satisfaction"])
    assert any("quits derived" in n for n in fit.diagnostics["notes"])


def test_summary_table_and_json():
    fit = fit_links(structural_panel(n_units=30, n_periods=10, seed=6), n_bootstrap=20, seed=1)
    text = fit.summary()
    assert "employee_satisfaction: internal_service_quality" in text
    assert "links.value_from_quality" in text and "equation" in text
    assert fit.interval == "bootstrap" and fit.draws.shape == (20, len(fit.estimates))
    json.dumps(fit.to_dict())
    assert set(fit.overrides) <= set(fit.estimates)


# ---------------------------------------------------------------- bad data
def _small():
    return structural_panel(n_units=6, n_periods=6, seed=0).to_dict()


def test_unknown_columns_and_equations_are_named():
    panel = Panel(_small())
    with pytest.raises(DataError, match="unknown equation 'retension'.*did you mean 'retention'"):
        fit_links(panel, equations=["retension"])
    with pytest.raises(DataError, match="unknown panel column 'cast'"):
        fit_links(panel, columns={"customer_satisfaction": "cast"})
    with pytest.raises(DataError, match="scales: unknown panel column 'nps'"):
        fit_links(panel, scales={"nps": "nps"})
    cols = _small()
    del cols["service_quality"]
    with pytest.raises(DataError, match=r"equation 'service_quality' needs column\(s\) \['service_quality'\]"):
        fit_links(Panel(cols), equations=["service_quality"])
    with pytest.raises(DataError, match="supports none of the chain's equations"):
        fit_links({"unit": [0, 0, 1, 1], "period": [0, 1, 0, 1], "x": [1.0, 2.0, 3.0, 4.0]})


def test_missing_values_are_counted_or_raised():
    cols = _small()
    cols["service_quality"][[2, 9]] = np.nan
    fit = fit_links(Panel(cols), equations=["service_quality"], unit_effects=False)
    eq = fit.diagnostics["equations"][0]
    assert eq["dropped"] == {"service_quality": 2}
    msg = r"column 'service_quality' has 2 missing value\(s\), first at unit 0, period 2"
    with pytest.raises(DataError, match=msg):
        fit_links(Panel(cols), equations=["service_quality"], missing="raise")


def test_too_few_rows_constant_and_collinear_columns():
    tiny = {k: v[:4] for k, v in _small().items()}  # one unit, four periods
    with pytest.raises(DataError, match="usable row"):
        fit_links(Panel(tiny), equations=["service_quality"])
    cols = _small()
    cols["pay_index"] = np.repeat(np.linspace(0.9, 1.1, 6), 6)  # differs between units only
    with pytest.raises(DataError, match="'pay_index' does not vary within any unit"):
        fit_links(Panel(cols), equations=["employee_satisfaction"])
    cols["pay_index"] = np.ones(36)
    with pytest.raises(DataError, match="'pay_index' is constant"):
        fit_links(Panel(cols), equations=["employee_satisfaction"], unit_effects=False)
    cols = _small()
    cols["recognition"] = 2 * cols["internal_service_quality"] + 1
    with pytest.raises(DataError, match="'recognition' is collinear"):
        fit_links(Panel(cols), equations=["employee_satisfaction"], unit_effects=False)


def test_panel_validation():
    with pytest.raises(DataError, match="needs a 'period' column"):
        Panel({"unit": [0, 1]})
    with pytest.raises(DataError, match="more than one row for unit 0, period 1"):
        Panel({"unit": [0, 0], "period": [1, 1]})
    with pytest.raises(DataError, match="has 1 rows; expected 2"):
        Panel({"unit": [0, 0], "period": [0, 1], "x": [1.0]})
    with pytest.raises(ValueError, match="kind must be 'ols' or 'poisson'"):
        Equation("e", "y", ("x",), kind="logit")
    assert set(EQUATIONS) == {"employee_satisfaction", "turnover", "productivity", "service_quality",
                              "customer_satisfaction", "retention", "revenue"}


def test_custom_equation():
    panel = structural_panel(n_units=40, n_periods=10, seed=9)
    eq = Equation("quality_on_isq", "service_quality",
                  ("employee_satisfaction[t-1]", "internal_service_quality"))
    fit = fit_links(panel, equations=[eq], unit_effects=False)
    assert "quality_on_isq: internal_service_quality" in fit.estimates
    assert fit.overrides == {}  # custom equations map onto no parameter
    lo, hi = fit.conf_int(0.01)["quality_on_isq: internal_service_quality"]
    assert lo < 0 < hi  # ISQ has no direct effect on quality in the generating equations

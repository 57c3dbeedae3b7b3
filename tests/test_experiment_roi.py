"""The return on an intervention counts from the week its first lever acts, not from the warm-up."""

import numpy as np
import pytest

from spchain import Change, preset
from spchain.experiments.experiment import Experiment
from spchain.experiments.scenarios import Scenario

LEVER_WEEK, WARMUP, HORIZON = 2, 10, 20


@pytest.fixture(scope="module")
def early_lever():
    """Tools spend raised by 4,000 a week from week 2, with a warm-up of 10 weeks."""
    base = preset("workshop")
    spend = base.internal.tools_spend_per_week + 4000.0
    exp = Experiment(base, scenarios=[
        Scenario("baseline"),
        Scenario("tools", levers={"internal.tools_spend_per_week": spend}, at_week=LEVER_WEEK)],
        n_replications=3, horizon=HORIZON, warmup=WARMUP, seed=5)
    return exp, exp.run()


def _discounted_sum(result, scenario, start, baseline="baseline"):
    """Each replication's profit difference against ``baseline``, discounted, from week ``start``."""
    i = result.experiment.params[baseline].economics.discount_rate
    weeks = np.arange(start, result.horizon)
    delta = result.kpi("profit", scenario=scenario)[:, start:] - result.kpi("profit", scenario=baseline)[:, start:]
    return delta @ ((1.0 + i) ** (-(weeks + 1) / 52.0))


def test_roi_counts_from_the_levers_week_even_inside_the_warmup(early_lever):
    _, result = early_lever
    ret = result.roi("tools")
    from_lever = _discounted_sum(result, "tools", LEVER_WEEK)
    from_warmup = _discounted_sum(result, "tools", WARMUP)
    assert ret.gain.mean == pytest.approx(from_lever.mean())
    # the spend of weeks 2-9 is part of the intervention's return: leaving it out overstates it
    assert not np.allclose(from_lever, from_warmup)
    assert ret.gain.mean < from_warmup.mean()


def test_an_explicit_start_still_overrides_the_default(early_lever):
    _, result = early_lever
    assert result.roi("tools", start=WARMUP).gain.mean == pytest.approx(
        _discounted_sum(result, "tools", WARMUP).mean())
    assert result.roi("tools", start=0).gain.mean == pytest.approx(_discounted_sum(result, "tools", 0).mean())


def test_first_difference_is_the_first_week_the_two_scenarios_parameters_differ(early_lever):
    _, result = early_lever
    assert result.first_difference("tools") == LEVER_WEEK
    assert result.first_difference("baseline") is None  # a scenario never differs from itself


def test_the_baselines_own_levers_count_and_identical_scenarios_fall_back_to_the_warmup():
    pay = Change(at_week=3, path="workforce.pay_index", value=1.1)
    tools = Change(at_week=6, path="internal.tools_spend_per_week", value=5000.0)
    exp = Experiment(preset("workshop"), scenarios=[
        Scenario("pay rise", levers=[pay]),
        Scenario("pay rise, then tools", levers=[pay, tools]),
        Scenario("tools only", levers=[tools]),
        Scenario("pay rise again", levers=[pay])],
        n_replications=2, horizon=10, warmup=4, seed=1, crn=False)
    result = exp.run()
    assert result.first_difference("pay rise, then tools") == 6  # the same pay rise in both
    assert result.first_difference("tools only") == 3  # the baseline's own pay rise comes first
    assert result.first_difference("tools only", baseline="pay rise, then tools") == 3
    assert result.roi("tools only").gain.mean == pytest.approx(
        _discounted_sum(result, "tools only", 3, baseline="pay rise").mean())
    # never different: nothing marks an intervention's start, so the warm-up applies
    assert result.first_difference("pay rise again") is None
    assert not np.allclose(_discounted_sum(result, "pay rise again", 0, baseline="pay rise"),
                           _discounted_sum(result, "pay rise again", 4, baseline="pay rise"))  # crn=False: noise
    assert result.roi("pay rise again").gain.mean == pytest.approx(
        _discounted_sum(result, "pay rise again", 4, baseline="pay rise").mean())

"""The metric registry says which way is good and how a change is read."""

import dataclasses

import numpy as np
import pytest

from spchain.metrics import DIRECTIONS, METRICS, Metric


def test_every_metric_declares_a_direction_and_a_change_scale():
    for m in METRICS.values():
        assert m.better in DIRECTIONS, m.name
        assert isinstance(m.change_in_points, bool), m.name
        if m.is_share:  # a share's change is in percentage points, never a percent of a percent
            assert m.change_in_points, m.name
        if m.is_money:  # money is a level: its change is a percent of the baseline
            assert not m.change_in_points, m.name


@pytest.mark.parametrize("name, better", [
    ("profit", "higher"), ("revenue", "higher"), ("nps", "higher"), ("csat", "higher"),
    ("employee_satisfaction", "higher"), ("internal_service_quality", "higher"),
    ("sla_attainment", "higher"), ("service_level", "higher"), ("retention", "higher"),
    ("turnover", "lower"), ("wait_time", "lower"), ("wait_time_all", "lower"), ("abandonment", "lower"),
    ("costs", "lower"), ("overdue_requests", "lower"), ("resolution_time", "lower"),
    ("utilisation", "neither"), ("work_pressure", "neither"), ("arrivals", "neither"),
    ("served", "neither"), ("headcount", "neither"),
])
def test_directions_follow_the_meaning(name, better):
    assert METRICS[name].better == better


@pytest.mark.parametrize("name, points", [
    ("nps", True), ("csat", True), ("service_level", True), ("abandonment", True),
    ("sla_attainment", True), ("employee_satisfaction", True),
    ("profit", False), ("turnover", False), ("wait_time", False), ("costs", False), ("arrivals", False),
])
def test_scores_and_shares_change_in_points_levels_in_percent(name, points):
    assert METRICS[name].change_in_points is points


def test_assess_words_a_change_by_direction_not_sign():
    # turnover falls (good), profit falls (bad): the same sign, opposite words
    assert METRICS["turnover"].assess(-0.2, -0.1) == "better"
    assert METRICS["profit"].assess(-200.0, -100.0) == "worse"
    assert METRICS["wait_time"].assess(0.5, 1.5) == "worse"
    assert METRICS["nps"].assess(4.4, 13.0) == "better"
    assert METRICS["utilisation"].assess(0.01, 0.02) == "higher"
    assert METRICS["utilisation"].assess(-0.02, -0.01) == "lower"
    for name in ("profit", "turnover", "utilisation"):  # an interval covering 0 decides nothing
        assert METRICS[name].assess(-1.0, 2.0) == "not distinguishable"
        assert METRICS[name].assess(0.0, 2.0) == "not distinguishable"
        assert METRICS[name].assess(np.nan, np.nan) == "not distinguishable"


def test_an_unknown_direction_is_refused_by_name():
    with pytest.raises(ValueError, match=r"'x'.*better='up'.*higher"):
        Metric("x", "X", "u", "revenue", better="up")
    assert dataclasses.replace(METRICS["profit"], better="lower").better == "lower"


def test_points_are_percentage_points_for_shares_and_0_1_scores():
    assert METRICS["service_level"].points_scale == 100.0
    assert METRICS["internal_service_quality"].points_scale == 100.0
    assert METRICS["nps"].points_scale == 1.0  # NPS is already in points
    assert METRICS["csat"].points_scale == 1.0  # points of the 1-5 scale
    assert METRICS["profit"].is_money and not METRICS["nps"].is_money and not METRICS["revenue"].is_share

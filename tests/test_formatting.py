"""``spchain.formatting.format_number``: the report's rule and the plain-text rule, in one function."""

from __future__ import annotations

import math

import numpy as np
import pytest

from spchain.formatting import format_number
from spchain.result import format_value

MINUS = "\u2212"


@pytest.mark.parametrize("x, text", [
    (0.0, "0.000"), (5.4321, "5.432"), (9.9994, "9.999"), (9.9996, "10.000"),  # below 10: three decimals
    (10.0, "10.0"), (123.456, "123.5"), (999.94, "999.9"),  # from 10: one decimal
    (999.96, "1000.0"),  # the decimals follow the magnitude before rounding, as Python prints it
    (1000.0, "1,000"), (1234567.8, "1,234,568"),  # from 1,000: none, thousands separated
    (-0.25, "-0.250"), (-1234.5, "-1,234"), (-0.0001, "-0.000"),  # Python's own minus sign, as before
    (np.float64(2.5), "2.500"), (np.int64(12), "12.0"), (7, "7.000"),
])
def test_the_plain_rule_gives_fixed_decimals_by_magnitude(x, text):
    assert format_number(x, plain=True) == text
    assert format_value(x) == text  # RunResult.summary's formatter is the same rule


@pytest.mark.parametrize("x", [None, math.nan, math.inf, -math.inf, np.nan])
def test_a_missing_number_is_a_dash_in_either_rule(x):
    assert format_number(x, plain=True) == "-"
    assert format_number(x) == "\u2013"


def test_the_plain_rule_shares_decimals_with_its_neighbours_and_signs_on_request():
    # an interval printed next to 1,234: its ends get the value's (zero) decimals
    assert format_number(5.4321, among=(1234.0,), plain=True) == "5"
    assert format_number(12.5, among=(3.0,), plain=True) == "12.5"
    assert format_number(3.0, among=(12.5,), plain=True) == "3.0"
    assert format_number(2.5, sign=True, plain=True) == "+2.500"
    assert format_number(-2.5, sign=True, plain=True) == "-2.500"
    assert format_number(1500.0, sign=True, plain=True) == "+1,500"


def test_the_report_rule_gives_significant_digits_and_a_true_minus():
    assert format_number(0.012345) == "0.0123"
    assert format_number(-12.345) == MINUS + "12.3"
    assert format_number(12.345, digits=4) == "12.35"
    assert format_number(8.696, among=(4.44, 13.04), sign=True) == "+8.7"
    assert format_number(-0.0004, among=(1.0,)) == "0.00"  # rounds to zero: no sign


@pytest.mark.parametrize("digits", [0, -1, 2.0, True, None])
def test_digits_must_be_a_positive_integer(digits):
    with pytest.raises(ValueError, match=rf"digits={digits!r}: expected an integer >= 1"):
        format_number(1.0, digits=digits)

"""How spchain prints a number: one function, :func:`format_number`, for every front end.

Two rules of decimals share it.  The report's rule (the HTML page, the
workshop's screens) gives the largest magnitude of a value and the numbers
printed next to it three significant digits, so a value and its interval
share their decimals (``8.7 [4.4, 13.0]``).  The plain-text rule
(``plain=True``: :meth:`spchain.RunResult.summary`, the ``spchain``
command's tables) gives fixed decimals by magnitude, so the columns of a
terminal table line up.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["format_number"]

_MINUS = "\u2212"
_MISSING = {False: "\u2013", True: "-"}


def format_number(x, digits=3, *, among=(), sign=False, plain=False) -> str:
    """A number as spchain prints it: thousands separated, decimals by one rule.

    The report's rule (the default): the largest magnitude of ``x`` and the
    numbers in ``among`` gets ``digits`` significant digits (never fewer
    than its integer digits), and ``x`` is printed with the same number of
    decimals.  Pass a value's interval as ``among`` (and the value when
    printing the interval's ends) and a value and its interval share their
    decimals: ``8.7 [4.4, 13.0]``, never ``8.696 [4.440, 13.0]``.  A
    negative number gets a true minus sign (U+2212), a number that rounds to
    zero none.

    The plain-text rule (``plain=True``), for the columns of a terminal
    table: no decimals from 1,000 on, one from 10 on, three below; an ASCII
    ``-`` before a negative number (as Python prints it).

    Parameters
    ----------
    x : float
        The number; ``None`` or a non-finite one is printed as missing.
    digits : int
        Significant digits of the largest magnitude (the report's rule).
    among : sequence of float
        The numbers printed next to ``x``, which share its decimals
        (non-finite ones are ignored).
    sign : bool
        Print ``+`` before a positive number (for differences and changes).
    plain : bool
        Use the plain-text rule instead of the report's.

    Returns
    -------
    str
        The number; ``"\u2013"`` (``"-"`` with ``plain``) when ``x`` is
        missing or not finite.

    Raises
    ------
    ValueError
        For ``digits`` that is not an integer >= 1.

    Examples
    --------
    >>> format_number(1234567.8), format_number(12.345), format_number(0.0012345)
    ('1,234,568', '12.3', '0.00123')
    >>> format_number(8.696, among=(4.44, 13.04))
    '8.7'
    >>> format_number(-1234.5, plain=True), format_number(5.4321, plain=True), format_number(None, plain=True)
    ('-1,234', '5.432', '-')
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits={digits!r}: expected an integer >= 1")
    if not _is_finite_number(x):
        return _MISSING[bool(plain)]
    sizes = [abs(float(v)) for v in (x, *among) if _is_finite_number(v) and v != 0]
    largest = max(sizes, default=0.0)
    if plain:
        return _plain_text(x, largest, sign)
    decimals = 0 if not largest else min(9, max(0, digits - 1 - math.floor(math.log10(largest))))
    text = f"{abs(x):,.{decimals}f}"
    if float(text.replace(",", "")) == 0:
        return text
    return (_MINUS if x < 0 else "+" if sign else "") + text


def _is_finite_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def _plain_text(x, largest, sign) -> str:
    """The plain-text rule: fixed decimals by the largest magnitude, Python's own minus sign."""
    plus = "+" if sign else ""
    if largest >= 1000:
        return f"{x:{plus},.0f}"
    return f"{x:{plus}.{1 if largest >= 10 else 3}f}"

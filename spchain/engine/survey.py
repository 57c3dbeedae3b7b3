"""The measurement model: survey responses from latent customer satisfaction.

Pure functions on NumPy arrays, used by the engine every week and testable
on hand-built inputs.  A respondent's latent satisfaction ``s`` (0-1) gives

* a CSAT answer on the 1-5 scale: ``1 + #{cuts at or below s + noise}``;
* a likelihood-to-recommend answer on the 0-10 scale:
  ``clip(round(a + b s + noise), 0, 10)``;

and NPS is computed from the integer LTR answers: the percentage of
promoters (9-10) minus the percentage of detractors (0-6) (Reichheld 2003),
never from a mean.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PROMOTER_MIN", "DETRACTOR_MAX", "csat_responses", "ltr_responses",
           "promoters", "detractors", "net_promoter_score"]

#: Lowest LTR answer of a promoter (9 and 10 promote).
PROMOTER_MIN = 9
#: Highest LTR answer of a detractor (0 to 6 detract).
DETRACTOR_MAX = 6


def csat_responses(latent, cuts):
    """CSAT answers (1-5) from latent responses and the four increasing cut points.

    Parameters
    ----------
    latent : array_like
        Satisfaction plus response noise, on the 0-1 scale.
    cuts : sequence of 4 floats
        ``csat_cut_2 .. csat_cut_5``: a latent response at or above
        ``cuts[k]`` answers at least ``k + 2``.

    Examples
    --------
    >>> csat_responses([0.1, 0.3, 0.31, 0.6, 0.9], [0.3, 0.5, 0.65, 0.8]).tolist()
    [1, 2, 2, 3, 5]
    """
    return 1 + np.searchsorted(np.asarray(cuts, float), np.asarray(latent, float), side="right")


def ltr_responses(satisfaction, noise, *, intercept, slope):
    """Likelihood-to-recommend answers (integers 0-10).

    ``clip(rint(intercept + slope * satisfaction + noise), 0, 10)``.

    Examples
    --------
    >>> ltr_responses([0.0, 0.5, 1.0], [0.0, 0.0, 0.4], intercept=2.0, slope=9.0).tolist()
    [2, 6, 10]
    """
    s = np.asarray(satisfaction, float)
    return np.clip(np.rint(intercept + slope * s + np.asarray(noise, float)), 0, 10).astype(np.int64)


def promoters(ltr):
    """Number of promoters (answers 9-10) among integer LTR answers."""
    return int(np.count_nonzero(np.asarray(ltr) >= PROMOTER_MIN))


def detractors(ltr):
    """Number of detractors (answers 0-6) among integer LTR answers."""
    return int(np.count_nonzero(np.asarray(ltr) <= DETRACTOR_MAX))


def net_promoter_score(ltr):
    """NPS of integer LTR answers: % promoters - % detractors (NaN with no answers).

    Examples
    --------
    >>> net_promoter_score([10, 9, 8, 7, 6, 0, 10, 3])
    0.0
    >>> net_promoter_score([9, 9, 8, 6])
    25.0
    """
    ltr = np.asarray(ltr)
    if ltr.size == 0:
        return float("nan")
    return 100.0 * (promoters(ltr) - detractors(ltr)) / ltr.size

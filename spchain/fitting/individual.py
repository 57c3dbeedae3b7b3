"""The churn, quit, quality, value and productivity links from individual-level records.

A unit-by-week panel holds unit means of individuals who each follow the
model's equations, with a changing composition and few events, so the
loyalty and turnover links cannot be pinned down from it (``docs/fitting.md``,
"What still misses").  A researcher with a CRM and HR records sees each
customer and each employee week by week; the simulation keeps the same
records when asked (``simulate(..., record=("customers", "employees"))``,
:data:`spchain.records.RECORDS`).  :func:`fit_individual_links` estimates the
two hazards from them by maximum likelihood (:func:`fit_exit_hazard`), and
the service-quality equation by least squares within unit-weeks, the
experienced-value equation from each customer's week by profile least
squares (:func:`fit_value_equation`), and the productivity equation from
each employee's service times by Poisson pseudo-maximum likelihood within
unit-weeks (:func:`fit_productivity_equation`).

The model's weekly exit law (docs/model.md, sections 3.4 and 4.5) is

.. math::

    P(\\text{exit in week } t \\mid S_{it}) = 1 - \\exp(-h_{it}/52), \\qquad
    \\log h_{it} = \\alpha_{u(i)} + \\beta\\,(S_{it} - S_{ref}),

a binomial GLM with the complementary log-log link and offset
:math:`-\\log 52`: the grouped-time proportional hazards model of Prentice &
Gloeckler (1978, Biometrics 34(1), 57-67).  For customers
:math:`\\beta = -k_c` (``links.churn_from_satisfaction``) and
:math:`e^{\\alpha_u} = h_0\\,c_u` with the unit's mean-one competition
multiplier :math:`c_u`; for employees :math:`\\beta = -k_q`
(``links.quit_from_satisfaction``) and :math:`e^{\\alpha} = h_0`
(``workforce.base_quit_rate``).  Standard errors are cluster-robust
(sandwich) by individual or unit (Cameron & Miller 2015, J. Human Resources
50(2), 317-372).

Customers who differ in a lasting churn propensity (a log-normal frailty,
``customers.churn_propensity_sd``) leave the frailty-free slope attenuated:
:func:`fit_frailty_hazard` integrates the frailty out by Gauss-Hermite
quadrature, conditioning on survival to the first week used
(``fit_individual_links(..., frailty=True)``; Vaupel, Manton & Stallard
1979, Demography 16(3), 439-454; Heckman & Singer 1984, Econometrica 52(2),
271-320).
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from scipy import optimize
from scipy.linalg import block_diag

from .. import links
from ..panel import DataError
from ..params import Params, check_integer, suggest
from .result import build

__all__ = ["fit_individual_links", "fit_exit_hazard", "fit_frailty_hazard", "fit_value_equation",
           "fit_productivity_equation", "HAZARDS", "EQUATIONS"]

#: Equations of :func:`fit_individual_links`: the record kind each needs, its exit and
#: individual columns, the parameter paths of its strength and base rate, the section of the
#: parameters holding its reference satisfaction, and the path of its frailty's log-sd (``None``:
#: the model has none).
HAZARDS = {
    "churn": dict(kind="customers", exit="churned", individual="customer",
                  link="links.churn_from_satisfaction", base="customers.base_churn_rate", section="customers",
                  frailty="customers.churn_propensity_sd"),
    "quit": dict(kind="employees", exit="quit", individual="position",
                 link="links.quit_from_satisfaction", base="workforce.base_quit_rate", section="workforce",
                 frailty=None),
}
#: Every equation of :func:`fit_individual_links` and the record kinds it needs: the hazards,
#: ``"quality"`` (the service-quality equation on employee-weeks), ``"value"`` (each customer's
#: satisfaction update from the week's experiences) and ``"productivity"`` (each employee's service
#: times).
EQUATIONS = dict({eq: (spec["kind"],) for eq, spec in HAZARDS.items()}, quality=("employees",),
                 value=("customers", "served", "abandoned"), productivity=("employees", "served"))
_QUALITY_LINKS = ("links.quality_from_skill", "links.quality_from_satisfaction")
_CLUSTERS = ("individual", "unit", None)
_CLUSTER_NOTES = {"individual": " (quality: by unit; productivity: by unit-week)", "unit": "",
                  None: " (productivity: sandwich by unit-week)"}
_WEEKS_PER_YEAR = 52.0


def fit_exit_hazard(exited, satisfaction, reference, *, groups=None, clusters=None, max_iter: int = 100,
                    tol: float = 1e-10) -> dict:
    r"""Maximum likelihood of the weekly exit law :math:`P(y=1) = 1 - \exp(-e^{\alpha_g + \beta x}/52)`.

    One row per individual and week at risk, ``x = satisfaction -
    reference``.  Fisher scoring (iteratively reweighted least squares) of
    the complementary log-log binomial GLM with offset :math:`-\log 52`
    (Prentice & Gloeckler 1978), with step halving on the log-likelihood.
    Score of row ``i`` with respect to its linear predictor:
    :math:`\mu_i (y_i - p_i) / p_i`, expected information
    :math:`\mu_i^2 (1 - p_i) / p_i`, where :math:`\mu_i = e^{\eta_i}/52`
    and :math:`p_i = 1 - e^{-\mu_i}`.

    Parameters
    ----------
    exited : array_like of {0, 1}
        1 if the individual left in that week.
    satisfaction : array_like of float
        The satisfaction the week's hazard was computed from.
    reference : float
        :math:`S_{ref}` of the model's hazard.
    groups : array_like of int, optional
        A group (unit) per row: one intercept :math:`\alpha_g` per group.
        Groups without an exit have no finite intercept and are dropped
        (``dropped_groups``).  ``None``: one common intercept.
    clusters : array_like of int, optional
        Cluster of each row for the sandwich covariance
        :math:`\frac{G}{G-1} I^{-1} (\sum_g s_g s_g^\top) I^{-1}`
        (Cameron & Miller 2015); ``None`` gives the inverse information.
    max_iter : int
        Most scoring steps.
    tol : float
        Convergence: the largest step below ``tol``.

    Returns
    -------
    dict
        ``alpha`` (per kept group, or one), ``groups`` (their labels),
        ``beta``, ``cov`` (of ``(alpha..., beta)``), ``p`` (fitted exit
        probabilities), ``keep`` (rows used), ``loglik``, ``iterations``,
        ``converged``, ``dropped_groups``, ``n_clusters``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = rng.uniform(0.3, 0.9, 200_000)
    >>> y = rng.random(s.size) < -np.expm1(-2.0 * np.exp(-5.0 * (s - 0.7)) / 52)
    >>> fit = fit_exit_hazard(y, s, 0.7)
    >>> bool(abs(fit["beta"] + 5.0) < 1.96 * np.sqrt(fit["cov"][1, 1]))  # the 95% interval covers -5
    True
    >>> round(float(np.exp(fit["alpha"][0])), 1)
    2.0
    """
    y = np.asarray(exited, float)
    x = np.asarray(satisfaction, float) - float(reference)
    label = np.zeros(y.size, np.int64) if groups is None else np.asarray(groups)
    names, g = np.unique(label, return_inverse=True)
    events = np.bincount(g, weights=y, minlength=names.size)
    kept_names = names[events > 0]
    keep = events[g] > 0
    y, x = y[keep], x[keep]
    g = np.searchsorted(kept_names, label[keep])
    n_groups = kept_names.size
    if n_groups == 0:
        raise DataError("no exit in the records: the hazard cannot be estimated (need at least one 1 in the "
                        "exit column)")
    theta = np.zeros(n_groups + 1)
    rate = np.bincount(g, weights=y) / np.bincount(g)
    theta[:n_groups] = np.log(-np.log1p(-np.minimum(rate, 0.5)) * _WEEKS_PER_YEAR)
    loglik = _loglik(theta, g, x, y)
    converged, iteration = False, 0
    for iteration in range(1, max_iter + 1):
        score, info = _score_information(theta, g, x, y, n_groups)
        step = np.linalg.solve(info, score)
        for _ in range(30):  # step halving keeps the log-likelihood rising
            trial = theta + step
            new = _loglik(trial, g, x, y)
            if new >= loglik - 1e-12 * abs(loglik):
                break
            step = step / 2.0
        theta, loglik = trial, new
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    d_eta, info = _score_information(theta, g, x, y, n_groups, per_row=True)
    bread = np.linalg.inv(info)
    if clusters is None:
        cov, n_clusters = bread, None
    else:
        cluster = np.unique(np.asarray(clusters)[keep], return_inverse=True)[1].ravel()
        n_clusters = int(cluster.max()) + 1
        summed = np.zeros((n_clusters, n_groups + 1))  # each cluster's score
        np.add.at(summed, (cluster, g), d_eta)
        summed[:, -1] = np.bincount(cluster, weights=d_eta * x, minlength=n_clusters)
        meat = summed.T @ summed * (n_clusters / max(n_clusters - 1, 1))
        cov = bread @ meat @ bread
    eta = theta[g] + theta[-1] * x
    return dict(alpha=theta[:n_groups], groups=kept_names, beta=float(theta[-1]), cov=cov,
                p=-np.expm1(-np.exp(eta) / _WEEKS_PER_YEAR), keep=keep, loglik=float(loglik),
                iterations=iteration, converged=converged,
                dropped_groups=[name.item() for name in names[events == 0]], n_clusters=n_clusters)


def fit_frailty_hazard(exited, satisfaction, reference, individuals, *, groups=None, week=None, start: int = 0,
                       clusters=None, n_nodes: int = 20, sigma_start: float = 0.3, max_iter: int = 500) -> dict:
    r"""Maximum likelihood of the weekly exit law with a log-normal frailty, integrated out.

    Individual :math:`i` leaves in week :math:`t` with probability
    :math:`1 - \exp(-v_i \mu_{it})`, :math:`\mu_{it} = e^{\alpha_g + \beta x_{it}}/52`,
    where its lasting frailty :math:`v_i = e^{\sigma z_i - \sigma^2/2}`,
    :math:`z_i \sim N(0, 1)`, is unobserved (mean one; the model's
    ``customers.churn_propensity_sd`` is :math:`\sigma`).  Its likelihood
    over the weeks used (from ``start``), given that it was still there at
    ``start``, is

    .. math::

        L_i = \frac{\int \phi(z)\, e^{-v(z) (\Lambda^{pre}_i + \Lambda_i)}
                     \bigl(1 - e^{-v(z) m_i}\bigr)^{y_i} dz}
                   {\int \phi(z)\, e^{-v(z) \Lambda^{pre}_i} dz},

    with :math:`\Lambda_i` the sum of :math:`\mu_{it}` over the weeks it
    stayed, :math:`m_i` the exit week's :math:`\mu` (:math:`y_i = 1` if it
    left) and :math:`\Lambda^{pre}_i` the sum over its weeks before
    ``start``: the ratio conditions on surviving them (left
    truncation; those present at ``start`` are the less exit-prone), which
    needs each individual's rows from its first week, where its frailty is
    drawn unselected.  Gauss-Hermite quadrature with ``n_nodes`` nodes
    (:func:`numpy.polynomial.hermite_e.hermegauss`) integrates out :math:`z`
    (Vaupel, Manton & Stallard 1979; Heckman & Singer 1984).  The analytic
    gradient drives L-BFGS-B from the frailty-free fit
    (:func:`fit_exit_hazard`) and :math:`\sigma` = ``sigma_start``, with
    :math:`\sigma \ge 0` (the likelihood is even in :math:`\sigma`).

    Parameters
    ----------
    exited : array_like of {0, 1}
        1 if the individual left in that week.
    satisfaction : array_like of float
        The satisfaction the week's hazard was computed from.
    reference : float
        :math:`S_{ref}` of the model's hazard.
    individuals : array_like of int
        The individual of each row (one label per occupant, not per reused
        slot; an individual's rows are its weeks at risk, its exit last).
    groups : array_like of int, optional
        A group (unit) per row: one intercept per group (groups without an
        exit from ``start`` are dropped).  ``None``: one intercept.
    week : array_like of int, optional
        The week of each row; rows before ``start`` only condition on
        survival.  ``None``: every row is used (no truncation).
    start : int
        First week used.
    clusters : {None, "individual"} or array_like of int
        Clusters of the sandwich covariance
        :math:`\frac{G}{G-1} H^{-1} (\sum_c s_c s_c^\top) H^{-1}`, with
        :math:`H` from central differences of the analytic gradient:
        ``"individual"`` each individual, an array a label per row (constant
        within an individual, e.g. the unit), ``None`` the inverse of
        :math:`-H`.
    n_nodes : int
        Quadrature nodes.
    sigma_start : float
        Starting :math:`\sigma` (not 0, a stationary point by symmetry).
    max_iter : int
        Most L-BFGS-B iterations.

    Returns
    -------
    dict
        ``alpha`` (per kept group), ``groups``, ``beta``, ``sigma``, ``cov``
        (of ``(alpha..., beta, sigma)``), ``keep`` (rows used), ``loglik``,
        ``iterations``, ``converged``, ``message``, ``dropped_groups``,
        ``n_clusters``, ``n_individuals``, ``n_truncated`` (individuals
        with rows before ``start``) and ``start_fit`` (the frailty-free fit).

    Raises
    ------
    DataError
        Arrays of different lengths, an exit not 0 or 1, a satisfaction
        not finite, no exit from ``start``, or an individual that exits
        twice, has rows after its exit or in two groups.
    ValueError
        A bad ``n_nodes``, ``sigma_start`` or ``clusters``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n, weeks, sigma = 20_000, 30, 0.6
    >>> v = np.exp(sigma * rng.standard_normal(n) - sigma ** 2 / 2)
    >>> s = rng.uniform(0.3, 0.9, (n, weeks))
    >>> h = 4.0 * np.exp(-5.0 * (s - 0.7)) * v[:, None]
    >>> leave = rng.random((n, weeks)) < -np.expm1(-h / 52)
    >>> stay = np.cumsum(np.cumsum(leave, axis=1), axis=1) <= 1  # weeks up to and with the exit
    >>> who, t = np.nonzero(stay)
    >>> fit = fit_frailty_hazard(leave[who, t], s[who, t], 0.7, who, week=t, start=10, clusters="individual")
    >>> se = np.sqrt(np.diag(fit["cov"]))
    >>> bool(abs(fit["beta"] + 5.0) < 3 * se[1]), bool(abs(fit["sigma"] - sigma) < 3 * se[2])
    (True, True)
    """
    y = np.asarray(exited, float)
    x = np.asarray(satisfaction, float) - float(reference)
    ids = np.asarray(individuals)
    n = y.size
    label = np.zeros(n, np.int64) if groups is None else np.asarray(groups)
    weeks = None if week is None else np.asarray(week, np.int64)
    for name, column in (("satisfaction", x), ("individuals", ids), ("groups", label), ("week", weeks)):
        if column is not None and column.shape != y.shape:
            raise DataError(f"{name} must have one value per row of exited ({n}), got shape {column.shape}")
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise DataError(f"exited must be 0 or 1, got {y[bad][0]:g}")
    if not np.all(np.isfinite(x)):
        raise DataError(f"satisfaction must be finite, got {x[~np.isfinite(x)][0] + float(reference):g}")
    n_nodes = check_integer("n_nodes", n_nodes, 2, error=ValueError)
    if not (math.isfinite(sigma_start) and sigma_start > 0):
        raise ValueError(f"sigma_start must be a finite number > 0 (0 is a stationary point), got {sigma_start!r}")
    if isinstance(clusters, str) and clusters != "individual":
        raise ValueError(f"clusters must be None, 'individual' or one label per row, got {clusters!r}")
    used = np.ones(n, bool) if weeks is None else weeks >= start
    names, g_row = np.unique(label, return_inverse=True)
    g_row = g_row.ravel()
    events = np.bincount(g_row, weights=y * used, minlength=names.size)
    if not np.any(events > 0):
        raise DataError(f"no exit in the rows from week {start}: the hazard cannot be estimated (need at least "
                        f"one 1 in the exit column)")
    kept_names = names[events > 0]
    # individuals with a row from start, in groups with an exit
    person, p_row = np.unique(ids, return_inverse=True)
    p_row = p_row.ravel()
    person_group = np.zeros(person.size, np.int64)
    person_group[p_row] = g_row
    moved = g_row != person_group[p_row]
    if moved.any():
        raise DataError(f"individual {ids[moved][0].item()!r} has rows in more than one group: an individual "
                        f"stays in its group")
    has_used = np.bincount(p_row, weights=used, minlength=person.size) > 0
    in_kept = events[g_row] > 0
    rows = has_used[p_row] & in_kept
    exits_per = np.bincount(p_row[rows], weights=y[rows], minlength=person.size)
    if np.any(exits_per > 1):
        raise DataError(f"individual {person[np.argmax(exits_per > 1)].item()!r} exits more than once: give each "
                        f"occupant of a reused slot its own label (individuals)")
    r_idx = np.flatnonzero(rows)
    r_w = (np.zeros(n, np.int64) if weeks is None else weeks)[r_idx]
    exit_week = np.full(person.size, np.iinfo(np.int64).max)
    np.minimum.at(exit_week, p_row[r_idx][y[r_idx] > 0], r_w[y[r_idx] > 0])
    if weeks is not None and np.any(r_w > exit_week[p_row[r_idx]]):
        raise DataError("an individual has rows after its exit: give each occupant of a reused slot its own "
                        "label (individuals)")
    c_names, c_row = np.unique(p_row[rows], return_inverse=True)
    c_row = c_row.ravel()
    n_c = c_names.size
    g_kept = np.searchsorted(kept_names, label[rows])
    c_group = np.zeros(n_c, np.int64)
    c_group[c_row] = g_kept
    y_r, x_r, used_r = y[rows], x[rows], used[rows]
    y_c = np.bincount(c_row, weights=y_r, minlength=n_c)
    kinds = {"stay": used_r & (y_r == 0), "exit": used_r & (y_r > 0), "pre": ~used_r}
    parts = {k: (c_row[m], x_r[m]) for k, m in kinds.items()}
    n_groups = kept_names.size
    first = fit_exit_hazard(y[used], x[used], 0.0, groups=label[used])
    nodes, weight = np.polynomial.hermite_e.hermegauss(n_nodes)
    weight = weight / weight.sum()  # the standard normal's
    leavers = np.flatnonzero(y_c > 0)
    cache = {}

    def sums(beta):
        if cache.get("beta") != beta:
            cache["beta"] = beta
            out = {}
            for k, (c, xk) in parts.items():
                e = np.exp(beta * xk) / _WEEKS_PER_YEAR
                out[k] = (np.bincount(c, weights=e, minlength=n_c), np.bincount(c, weights=e * xk, minlength=n_c))
            cache["sums"] = out
        return cache["sums"]

    def terms(theta):
        """Each individual's log-likelihood and its gradient in (alpha of its group, beta, sigma).

        Arrays are nodes x individuals; the survival factors are scaled by the
        largest one (the smallest frailty's), which keeps the sums away from
        underflow, and the exit factors are computed for the leavers only.
        """
        alpha, beta, sigma = theta[:n_groups], float(theta[n_groups]), float(theta[n_groups + 1])
        s = sums(beta)
        scale = np.exp(alpha)[c_group]
        lam, lam_x = s["stay"][0] * scale, s["stay"][1] * scale
        m, m_x = s["exit"][0][leavers] * scale[leavers], s["exit"][1][leavers] * scale[leavers]
        pre, pre_x = s["pre"][0] * scale, s["pre"][1] * scale
        total, total_x = lam + pre, lam_x + pre_x
        v = np.exp(sigma * nodes - 0.5 * sigma * sigma)
        dv = v * (nodes - sigma)  # d v / d sigma
        low = v.min()
        top = weight[:, None] * np.exp(-(v - low)[:, None] * total[None, :])
        vm = v[:, None] * m[None, :]
        leave = -np.expm1(-vm)
        hazard_ratio = np.exp(-vm) / leave  # d log(1 - e^{-vm}) / d(vm)
        top[:, leavers] *= leave
        top_sum = top.sum(axis=0)
        pi = top / top_sum
        bottom = weight[:, None] * np.exp(-(v - low)[:, None] * pre[None, :])
        bottom_sum = bottom.sum(axis=0)
        rho = bottom / bottom_sum
        loglik = np.log(top_sum) - low * total - np.log(bottom_sum) + low * pre
        d_total = -(v @ pi)  # d log(numerator) / d total
        d_pre = v @ rho  # - d log(denominator) / d pre
        d_m = np.zeros(n_c)
        d_m[leavers] = np.einsum("kn,kn->n", pi[:, leavers], v[:, None] * hazard_ratio)
        m_full, m_x_full = np.zeros(n_c), np.zeros(n_c)
        m_full[leavers], m_x_full[leavers] = m, m_x
        d_alpha = d_total * total + d_m * m_full + d_pre * pre
        d_beta = d_total * total_x + d_m * m_x_full + d_pre * pre_x
        d_sigma = -total * (dv @ pi) + pre * (dv @ rho)
        d_sigma[leavers] += m * np.einsum("kn,kn->n", pi[:, leavers], dv[:, None] * hazard_ratio)
        return loglik, d_alpha, d_beta, d_sigma

    scale = 1.0 / n_c

    def objective(theta):
        loglik, d_alpha, d_beta, d_sigma = terms(theta)
        grad = np.r_[np.bincount(c_group, weights=d_alpha, minlength=n_groups), d_beta.sum(), d_sigma.sum()]
        return -loglik.sum() * scale, -grad * scale

    theta0 = np.r_[first["alpha"], first["beta"], sigma_start]
    # bounds far from any plausible estimate keep the line search's trial points finite
    bounds = [(a - 10.0, a + 10.0) for a in theta0[:n_groups]] + [(theta0[n_groups] - 50.0,
                                                                   theta0[n_groups] + 50.0), (0.0, 5.0)]
    result = optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                               options=dict(maxiter=max_iter, ftol=1e-13, gtol=1e-8))
    theta = result.x
    n_par = theta.size
    # central differences of the analytic gradient: an individual's terms depend on its own group's
    # intercept only, so one shift of every intercept at once gives the intercepts' columns
    hessian = np.zeros((n_par, n_par))
    for j in (None, n_groups, n_groups + 1):
        step = 1e-5 * (max(1.0, abs(theta[j])) if j is not None else 1.0)
        up, down = theta.copy(), theta.copy()
        if j is None:
            up[:n_groups] += step
            down[:n_groups] -= step
        else:
            up[j] += step
            down[j] -= step
        change = [(a - b) / (2 * step) for a, b in zip(terms(up)[1:], terms(down)[1:])]
        if j is None:
            hessian[np.arange(n_groups), np.arange(n_groups)] = np.bincount(c_group, weights=change[0],
                                                                           minlength=n_groups)
            hessian[n_groups, :n_groups] = np.bincount(c_group, weights=change[1], minlength=n_groups)
            hessian[n_groups + 1, :n_groups] = np.bincount(c_group, weights=change[2], minlength=n_groups)
        else:
            hessian[:n_groups, j] = np.bincount(c_group, weights=change[0], minlength=n_groups)
            hessian[n_groups, j], hessian[n_groups + 1, j] = change[1].sum(), change[2].sum()
    hessian = 0.5 * (hessian + hessian.T)
    bread = np.linalg.pinv(-hessian)
    loglik, d_alpha, d_beta, d_sigma = terms(theta)
    if clusters is None:
        cov, n_clusters = bread, None
    else:
        if isinstance(clusters, str):
            cluster = np.arange(n_c)
        else:
            labels_r = np.asarray(clusters)
            if labels_r.shape != y.shape:
                raise DataError(f"clusters must have one label per row ({n}), got shape {labels_r.shape}")
            per = np.zeros(n_c, labels_r.dtype)
            per[c_row] = labels_r[rows]
            cluster = np.unique(per, return_inverse=True)[1].ravel()
        n_clusters = int(cluster.max()) + 1
        summed = np.zeros((n_clusters, n_par))
        np.add.at(summed, (cluster, c_group), d_alpha)
        summed[:, -2] = np.bincount(cluster, weights=d_beta, minlength=n_clusters)
        summed[:, -1] = np.bincount(cluster, weights=d_sigma, minlength=n_clusters)
        meat = summed.T @ summed * (n_clusters / max(n_clusters - 1, 1))
        cov = bread @ meat @ bread
    keep = rows & used
    return dict(alpha=theta[:n_groups], groups=kept_names, beta=float(theta[-2]), sigma=float(theta[-1]), cov=cov,
                keep=keep, loglik=float(loglik.sum()), iterations=int(result.nit), converged=bool(result.success),
                message=str(result.message), dropped_groups=[name.item() for name in names[events == 0]],
                n_clusters=n_clusters, n_individuals=int(n_c),
                n_truncated=int(np.count_nonzero(np.bincount(c_row, weights=~used_r, minlength=n_c) > 0)),
                start_fit=first)


def _probabilities(theta, g, x):
    """``mu = exp(eta) / 52`` and ``p = 1 - exp(-mu)`` of each row."""
    mu = np.exp(theta[g] + theta[-1] * x) / _WEEKS_PER_YEAR
    return mu, -np.expm1(-mu)


def _loglik(theta, g, x, y):
    """Bernoulli log-likelihood: ``sum y log p - (1 - y) mu``."""
    mu, p = _probabilities(theta, g, x)
    with np.errstate(divide="ignore"):
        return float(np.sum(np.where(y > 0, np.log(p), -mu)))


def _score_information(theta, g, x, y, n_groups, per_row=False):
    """The score (summed; with ``per_row`` each row's derivative by its linear predictor) and the
    expected information of ``theta``."""
    mu, p = _probabilities(theta, g, x)
    d_eta = mu * (y - p) / p  # d loglik / d eta
    weight = mu * mu * (1.0 - p) / p  # E[-d2 loglik / d eta2]
    info = np.zeros((n_groups + 1, n_groups + 1))
    info[np.arange(n_groups), np.arange(n_groups)] = np.bincount(g, weights=weight, minlength=n_groups)
    cross = np.bincount(g, weights=weight * x, minlength=n_groups)
    info[:n_groups, -1] = info[-1, :n_groups] = cross
    info[-1, -1] = np.sum(weight * x * x)
    if per_row:
        return d_eta, info
    score = np.append(np.bincount(g, weights=d_eta, minlength=n_groups), np.sum(d_eta * x))
    return score, info


def fit_individual_links(data, *, equations: Sequence[str] = ("churn", "quit", "quality"), start: int = 0,
                         unit_effects=("churn",), cluster: str | None = "individual",
                         params: Params | None = None, frailty=False):
    r"""The churn, quit, quality, value and productivity links from individual-level records.

    For the churn and quit equations, the grouped-time proportional hazards
    model of the model's weekly exit law (Prentice & Gloeckler 1978; module
    docstring):

    * ``"churn"`` from ``"customers"`` records,
      :math:`\log h = \log h_0 + \log c_u - k_c (S - S_{ref})` →
      ``links.churn_from_satisfaction`` (:math:`k_c`) and
      ``customers.base_churn_rate`` (:math:`h_0`);
    * ``"quit"`` from ``"employees"`` records,
      :math:`\log h = \log h_0 + k_q (S_{ref} - S)` →
      ``links.quit_from_satisfaction`` (:math:`k_q`) and
      ``workforce.base_quit_rate`` (:math:`h_0`);
    * ``"value"`` from ``"customers"``, ``"served"`` and ``"abandoned"``
      records: each customer's satisfaction update from the week's
      experiences (:func:`fit_value_equation`) →
      ``links.value_from_quality``, ``links.value_from_wait`` and
      ``customers.update_weight``; not in the default ``equations``
      (its records grow with every service);
    * ``"productivity"`` from ``"employees"`` and ``"served"`` records:
      each employee-week's service times against
      :math:`\pi = (1 - k_K(1 - K))(1 + k_S(S - S_{ref}))`, the unit's week
      conditioned out (:func:`fit_productivity_equation`) →
      ``links.productivity_from_skill`` and
      ``links.productivity_from_satisfaction``; not in the default
      ``equations`` either;
    * ``"quality"`` from ``"employees"`` records, least squares within
      unit-weeks of
      :math:`q = q_0 - k_K(1 - K) + k_S(S - S_{ref}) - k_T\max(0, 1 - T/T^{need})`
      (the time term is common to a unit's week) on the rows below the
      clip at 0 and 1 → ``links.quality_from_skill`` (:math:`k_K`) and
      ``links.quality_from_satisfaction`` (:math:`k_S`); standard errors
      clustered by unit (the equation has no error term in the model, so
      its estimates are the truth to rounding and their intervals have
      almost no width).

    With unit effects (one intercept :math:`\alpha_u` per unit, absorbing
    the units' mean-one competition multipliers :math:`c_u`), the base rate
    is the mean of the units' :math:`e^{\alpha_u}`, with the standard error
    of that mean across units (units with no exit are dropped: their
    intercept has no finite estimate).  Without, :math:`h_0 = e^{\alpha}`
    by the delta method.  Standard errors are cluster-robust sandwich
    errors (Cameron & Miller 2015).  The law holds exactly when the
    loyalty links are not moderated by staff satisfaction
    (``links.loyalty_from_employees = 0``), the churn form is
    ``"exponential"``, no relationship customers follow a leaving employee
    and customers share one churn propensity (``customers.churn_propensity_sd
    = 0``; unobserved frailty attenuates :math:`k_c`).

    Parameters
    ----------
    data : RunResult or mapping
        A run that kept the records (``simulate(..., record=("customers",
        "employees"))``), or ``{kind: {column: array}}`` with the columns of
        :data:`spchain.records.RECORDS` each equation needs (``unit, week``,
        the individual, ``satisfaction`` and the exit column).
    equations : sequence of str
        Some of :data:`EQUATIONS` (``"churn"``, ``"quit"``, ``"quality"``,
        ``"value"``, ``"productivity"``).
    start : int
        First week used (earlier weeks are a warm-up).
    unit_effects : bool or sequence of str
        Hazard equations with one intercept per unit; ``True`` both,
        ``False`` none.  The default gives churn unit effects (the model's units
        differ in competition) and quits one intercept (the model's quit
        hazard has no unit factor, and a unit has few employees).
    cluster : {"individual", "unit", None}
        Clusters of the sandwich covariance: each customer or employee
        (a slot's occupant from its first week to its exit), the unit, or
        ``None`` for the inverse information (the quality equation: by
        unit, or classical with ``None``; the productivity equation: by
        unit with ``"unit"``, else by unit-week).
    params : Params, optional
        Base parameters: the reference satisfactions and what ``params``
        of the result starts from.  Defaults to the run's parameters (or
        ``Params()`` for a mapping).
    frailty : bool or sequence of str
        Hazard equations fitted with a log-normal frailty integrated out
        (:func:`fit_frailty_hazard`; only ``"churn"`` has one in the model:
        ``True`` is ``("churn",)``), which adds
        ``customers.churn_propensity_sd`` to the estimates.  Its rows
        before ``start`` condition on survival to ``start`` (left
        truncation), so each customer's history is read from its first
        week; ``observed``/``fitted`` hold the exit indicators from
        ``start`` and the exit probabilities of a customer of mean frailty
        (:math:`v = 1`).  Default ``False``: the fit without frailty.

    Returns
    -------
    FitResult
        ``kind="links"``; estimates and ``overrides`` named by the
        parameter paths above; ``observed``/``fitted`` per equation the
        exit indicators and fitted probabilities (quality: the quality
        and its fitted value; productivity: each employee-week's mean
        service time and its fitted mean), ``data`` their ``unit``, ``week`` and
        regressors; ``diagnostics["equations"]`` the rows, exits, units,
        clusters, iterations and log-likelihood of each.

    Raises
    ------
    DataError
        A record kind an equation needs was not kept (the message says how
        to record it), a column is missing, an exit value is not 0/1, a
        regressor is not finite, or no rows or exits remain from
        ``start``.
    ValueError
        An unknown equation or ``cluster``, a bad ``start``, or ``frailty``
        naming an equation without a frailty in the model.

    Examples
    --------
    >>> from spchain import preset, simulate
    >>> run = simulate(preset("workshop"), horizon=8, seed=1, record=("customers", "employees"))
    >>> fit = fit_individual_links(run, equations=("churn",))
    >>> sorted(fit.estimates)
    ['customers.base_churn_rate', 'links.churn_from_satisfaction']
    """
    equations, unit_effects, start, cluster = _check_options(equations, unit_effects, start, cluster)
    frailty = _check_frailty(frailty)
    records, base = _records_and_params(data, equations, params)
    parts = {}
    for eq in equations:
        if eq == "quality":
            parts[eq] = _quality_part(records["employees"], base, start, cluster)
        elif eq == "value":
            parts[eq] = fit_value_equation(records, base, start=start)
        elif eq == "productivity":
            parts[eq] = fit_productivity_equation(records, base, start=start,
                                                  cluster="unit" if cluster == "unit" else "unit-week")
        elif eq in frailty:
            parts[eq] = _frailty_part(eq, records[HAZARDS[eq]["kind"]], base, start, eq in unit_effects, cluster)
        else:
            parts[eq] = _hazard_part(eq, records[HAZARDS[eq]["kind"]], base, start, eq in unit_effects, cluster)
    names = [name for part in parts.values() for name in part["names"]]
    values = [value for part in parts.values() for value in part["values"]]
    summaries = [part["summary"] for part in parts.values()]
    overrides = {n: float(v) for n, v in zip(names, values) if math.isfinite(v)}
    cov = block_diag(*(part["cov"] for part in parts.values()))
    return build("links", names, values, cov, overrides=overrides, params=base.override(overrides), value=dict(overrides), n_obs=sum(s["n_obs"] for s in summaries),
                 success=all(s["converged"] for s in summaries),
                 message="; ".join(f"{s['equation']}: not converged" for s in summaries if not s["converged"]),
                 method=f"grouped-time proportional hazards (cloglog binomial GLM, Prentice & Gloeckler 1978), "
                        f"maximum likelihood{_frailty_note(parts)}; quality: least squares within unit-weeks; "
                        f"value: profile least squares of each customer's week; productivity: Poisson pseudo-maximum likelihood "
                        f"within unit-weeks (Wooldridge 1999); "
                        f"{'cluster-robust by ' + cluster if cluster else 'model-based'} standard errors"
                        f"{_CLUSTER_NOTES[cluster] if 'productivity' in parts else ''}",
                 observed={eq: p["observed"] for eq, p in parts.items()},
                 fitted={eq: p["fitted"] for eq, p in parts.items()},
                 data={eq: p["data"] for eq, p in parts.items()},
                 diagnostics=dict(equations=summaries, start=start, cluster=cluster))


def _hazard_part(eq, columns, base, start, unit_effects, cluster) -> dict:
    """One hazard equation of :func:`fit_individual_links`: its estimates, covariance, data and summary."""
    spec = HAZARDS[eq]
    rows = _rows(columns, spec, start, eq)
    reference = getattr(base, spec["section"]).reference_satisfaction
    fit = fit_exit_hazard(rows["exit"], rows["satisfaction"], reference,
                          groups=rows["unit"] if unit_effects else None, clusters=_clusters(rows, cluster))
    values, cov = _map_hazard(fit)
    keep = fit["keep"]
    summary = dict(equation=eq, records=spec["kind"], n_obs=int(keep.sum()), n_exits=int(rows["exit"][keep].sum()),
                   n_units=int(np.unique(rows["unit"]).size), unit_effects=bool(unit_effects),
                   dropped_units=fit["dropped_groups"], n_clusters=fit["n_clusters"],
                   iterations=fit["iterations"], converged=fit["converged"], loglik=fit["loglik"])
    return dict(names=[spec["link"], spec["base"]], values=values, cov=cov, observed=rows["exit"][keep],
                fitted=fit["p"], data={c: rows[c][keep] for c in ("unit", "week", "satisfaction")}, summary=summary)


def _check_frailty(frailty) -> tuple:
    """The hazard equations of :func:`fit_individual_links` fitted with a frailty, checked before any work."""
    with_frailty = [eq for eq, spec in HAZARDS.items() if spec["frailty"]]
    if frailty is True or frailty is False:
        return tuple(with_frailty) if frailty else ()
    named = (frailty,) if isinstance(frailty, str) else frailty
    try:
        named = tuple(named)
    except TypeError:
        raise ValueError(f"frailty must be True, False or some of {with_frailty}, got {frailty!r}") from None
    for eq in named:
        if eq not in with_frailty:
            why = ("a hazard without a frailty in the model" if eq in HAZARDS else
                   "not a hazard equation" if eq in EQUATIONS else f"an unknown equation{suggest(eq, EQUATIONS)}")
            raise ValueError(f"frailty: {eq!r} is {why}; expected True, False or some of {with_frailty}")
    return named


def _frailty_note(parts) -> str:
    """The method text's note of the hazards fitted with a frailty."""
    eqs = [eq for eq, part in parts.items() if part["summary"].get("frailty")]
    return (f" ({', '.join(eqs)}: log-normal frailty integrated out by Gauss-Hermite quadrature, conditioned on "
            f"survival to the first week used)") if eqs else ""


def _frailty_part(eq, columns, base, start, unit_effects, cluster) -> dict:
    """One hazard of :func:`fit_individual_links` with a log-normal frailty (:func:`fit_frailty_hazard`)."""
    spec = HAZARDS[eq]
    rows = _rows(columns, spec, 0, eq)  # from each individual's first week: survival to start conditions
    if not np.any(rows["week"] >= start):
        raise DataError(f"{spec['kind']!r} records have no rows from week {start} (start={start}); "
                        f"the last week recorded is {int(rows['week'].max())}")
    reference = getattr(base, spec["section"]).reference_satisfaction
    individual = _clusters(rows, "individual")
    fit = fit_frailty_hazard(rows["exit"], rows["satisfaction"], reference, individual,
                             groups=rows["unit"] if unit_effects else None, week=rows["week"], start=start,
                             clusters=None if cluster is None else ("individual" if cluster == "individual"
                                                                    else rows["unit"]))
    n_groups = fit["alpha"].size
    (k, h0), pair = _map_hazard(dict(alpha=fit["alpha"], beta=fit["beta"], cov=fit["cov"][:-1, :-1]))
    cov = np.zeros((3, 3))
    cov[:2, :2] = pair
    cov[2, 2] = fit["cov"][-1, -1]
    cov[0, 2] = cov[2, 0] = -fit["cov"][-2, -1]
    rates = np.exp(fit["alpha"])
    h0_sigma = float(np.append(rates / n_groups, 0.0) @ fit["cov"][:-1, -1])
    bound = math.sqrt(max(cov[1, 1] * cov[2, 2], 0.0))
    cov[1, 2] = cov[2, 1] = min(max(h0_sigma, -bound), bound)
    keep = fit["keep"]
    label = rows["unit"][keep] if unit_effects else np.zeros(int(keep.sum()), np.int64)
    alpha = fit["alpha"][np.searchsorted(fit["groups"], label)]
    fitted = -np.expm1(-np.exp(alpha + fit["beta"] * (rows["satisfaction"][keep] - reference)) / _WEEKS_PER_YEAR)
    summary = dict(equation=eq, records=spec["kind"], n_obs=int(keep.sum()), n_exits=int(rows["exit"][keep].sum()),
                   n_units=int(np.unique(rows["unit"][rows["week"] >= start]).size), unit_effects=bool(unit_effects),
                   dropped_units=fit["dropped_groups"], n_clusters=fit["n_clusters"],
                   iterations=fit["iterations"], converged=fit["converged"], loglik=fit["loglik"], frailty=True,
                   n_individuals=fit["n_individuals"], n_truncated=fit["n_truncated"])
    return dict(names=[spec["link"], spec["base"], spec["frailty"]], values=[k, h0, fit["sigma"]], cov=cov,
                observed=rows["exit"][keep], fitted=fitted,
                data={c: rows[c][keep] for c in ("unit", "week", "satisfaction")}, summary=summary)

def _quality_part(columns, base, start, cluster) -> dict:
    r"""The quality equation on employee-weeks, least squares within unit-weeks.

    :math:`q_{it} = q_0 - k_K(1 - K_{it}) + k_S(S_{it} - S_{ref}) - k_T\max(0, 1 - T_{ut}/T^{need}_{ut})`
    (docs/model.md section 3.6): the time term and :math:`q_0` are common to a
    unit's week, so unit-week effects absorb them and the slopes on skill
    :math:`K` and satisfaction :math:`S` are :math:`k_K` and :math:`k_S`.
    Rows at the clip (quality 0 or 1) are left out.
    """
    needed = ("unit", "week", "skill", "satisfaction", "quality")
    rows = _columns(columns, "employees", needed, start, "quality")
    keep = (rows["quality"] > 0.0) & (rows["quality"] < 1.0)
    unit, week = rows["unit"][keep], rows["week"][keep]
    cell = np.unique(unit * (int(week.max()) + 1) + week, return_inverse=True)[1].ravel()
    counts = np.bincount(cell)

    def within(x):
        return x - (np.bincount(cell, weights=x) / counts)[cell]

    design = np.column_stack([within(rows["skill"][keep]), within(rows["satisfaction"][keep])])
    response = within(rows["quality"][keep])
    coef, *_ = np.linalg.lstsq(design, response, rcond=None)
    residual = response - design @ coef
    bread = np.linalg.pinv(design.T @ design)
    n, k = design.shape
    if cluster is None:
        cov = bread * (residual @ residual) / max(n - k - cell.max() - 1, 1)
        n_clusters = None
    else:  # clustered by unit, either way: an employee stays in her unit
        group = np.unique(unit, return_inverse=True)[1].ravel()
        n_clusters = int(group.max()) + 1
        summed = np.column_stack([np.bincount(group, weights=design[:, j] * residual, minlength=n_clusters)
                                  for j in range(k)])
        cov = bread @ (summed.T @ summed) @ bread * (n_clusters / max(n_clusters - 1, 1))
    summary = dict(equation="quality", records="employees", n_obs=int(n), n_units=int(np.unique(unit).size),
                   n_cells=int(counts.size), clipped=int((~keep).sum()), n_clusters=n_clusters, converged=True,
                   residual_sd=float(np.sqrt(residual @ residual / max(n - k, 1))))
    return dict(names=list(_QUALITY_LINKS), values=[float(coef[0]), float(coef[1])], cov=cov,
                observed=rows["quality"][keep], fitted=rows["quality"][keep] - residual,
                data={"unit": unit, "week": week, "skill": rows["skill"][keep],
                      "satisfaction": rows["satisfaction"][keep]}, summary=summary)


def _check_options(equations, unit_effects, start, cluster):
    """The options of :func:`fit_individual_links`, checked before any work."""
    equations = (equations,) if isinstance(equations, str) else tuple(equations)
    for eq in equations:
        if eq not in EQUATIONS:
            raise ValueError(f"unknown equation {eq!r}{suggest(eq, EQUATIONS)}; expected some of {list(EQUATIONS)}")
    if not equations:
        raise ValueError(f"equations must name at least one of {list(EQUATIONS)}, got none")
    if unit_effects is True or unit_effects is False:
        unit_effects = equations if unit_effects else ()
    else:
        unit_effects = (unit_effects,) if isinstance(unit_effects, str) else tuple(unit_effects)
        for eq in unit_effects:
            if eq not in HAZARDS:
                raise ValueError(f"unit_effects: unknown equation {eq!r}{suggest(eq, HAZARDS)}; expected True, "
                                 f"False or some of {list(HAZARDS)}")
    start = check_integer("start", start, 0, error=ValueError)
    if cluster not in _CLUSTERS:
        raise ValueError(f"cluster must be one of {list(_CLUSTERS)}, got {cluster!r}")
    return equations, unit_effects, start, cluster


def _records_and_params(data, equations, params):
    """``{kind: columns}`` of the kinds the equations need, and the base parameters."""
    needed = list(dict.fromkeys(kind for eq in equations for kind in EQUATIONS[eq]))
    is_run = hasattr(data, "records") and hasattr(data, "recorded")
    if not is_run and not isinstance(data, Mapping):
        raise DataError(f"data must be a RunResult with records or a mapping of record kind to columns, "
                        f"got {type(data).__name__}")
    kept = tuple(data.recorded) if is_run else tuple(data)
    for eq in equations:
        for kind in EQUATIONS[eq]:
            if kind not in kept:
                raise DataError(f"the {eq} equation needs {kind!r} records, which the data do not hold (kinds "
                                f"held: {list(kept)}); keep them with simulate(..., record={tuple(needed)!r})")
    if params is None:
        params = data.params if is_run else Params()
    if not isinstance(params, Params):
        raise DataError(f"params must be a spchain.Params, got {type(params).__name__}")
    return {kind: (data.records(kind) if is_run else data[kind]) for kind in needed}, params


def _columns(columns, kind, needed, start, eq) -> dict:
    """Columns ``needed`` of one kind's records from week ``start`` (``unit, week`` as integers)."""
    for name in needed:
        if name not in columns:
            raise DataError(f"{kind!r} records have no column {name!r}{suggest(name, list(columns))}; "
                            f"the {eq} equation needs {list(needed)}")
    week = np.asarray(columns["week"], np.int64)
    use = week >= start
    if not use.any():
        raise DataError(f"{kind!r} records have no rows from week {start} (start={start}); "
                        f"the last week recorded is {int(week.max()) if week.size else 'none'}")
    rows = {name: np.asarray(columns[name], np.int64 if name in ("unit", "week") else float)[use]
            for name in needed}
    for name in needed[3:]:
        if not np.all(np.isfinite(rows[name])):
            raise DataError(f"{kind!r} column {name!r} must be finite, got "
                            f"{rows[name][~np.isfinite(rows[name])][0]:g}")
    return rows


def _rows(columns, spec, start, eq):
    """The rows of one hazard from ``start``: unit, week, individual, satisfaction, exit (checked)."""
    needed = ("unit", "week", spec["individual"], "satisfaction", spec["exit"])
    rows = _columns(columns, spec["kind"], needed, start, eq)
    rows["individual"] = rows.pop(spec["individual"]).astype(np.int64)
    rows["exit"] = rows.pop(spec["exit"])
    bad = ~np.isin(rows["exit"], (0.0, 1.0))
    if bad.any():
        raise DataError(f"{spec['kind']!r} column {spec['exit']!r} must be 0 or 1, got "
                        f"{rows['exit'][bad][0]:g}")
    return rows


def _clusters(rows, cluster):
    """A cluster label per row: the unit, or each individual (a slot's occupant until its exit)."""
    if cluster is None:
        return None
    if cluster == "unit":
        return rows["unit"]
    slot = rows["unit"] * (int(rows["individual"].max()) + 1) + rows["individual"]
    order = np.lexsort((rows["week"], slot))
    exits = rows["exit"][order]
    before = np.cumsum(exits) - exits  # exits earlier in the sorted rows
    first = np.r_[True, slot[order][1:] != slot[order][:-1]]
    occupant = before - np.maximum.accumulate(np.where(first, before, 0.0))  # earlier exits of this slot
    label = np.empty(slot.size, np.int64)
    label[order] = slot[order] * (int(occupant.max()) + 1) + occupant.astype(np.int64)
    return label


def _map_hazard(fit):
    """``[k, h0]`` and their covariance from a hazard fit (``k = -beta``; ``h0`` over the units)."""
    alpha, cov = fit["alpha"], fit["cov"]
    rates = np.exp(alpha)
    n = alpha.size
    gradient = np.append(rates / n, 0.0)
    k_var = cov[-1, -1]
    if n > 1:  # mean of the units' base rates; its spread across units gives its standard error
        h0 = float(rates.mean())
        h0_var = float(rates.var(ddof=1) / n)
    else:
        h0 = float(rates[0])
        h0_var = float(gradient @ cov @ gradient)
    covariance = -float(gradient @ cov[:, -1])
    bound = math.sqrt(max(k_var * h0_var, 0.0))
    covariance = min(max(covariance, -bound), bound)
    return [-fit["beta"], h0], np.array([[k_var, covariance], [covariance, h0_var]])


_VALUE_LINKS = ("links.value_from_quality", "links.value_from_wait", "customers.update_weight")


def fit_value_equation(records, params, *, start: int = 0) -> dict:
    r"""The experienced-value equation from each customer's week: nonlinear least squares.

    After the week's experiences :math:`E_1..E_n` in time order (docs/model.md
    sections 4.2-4.3), a customer's satisfaction is

    .. math::

        S_t = (1-\gamma)^n S_{t-1} + \sum_k \gamma(1-\gamma)^{n-k} E_k, \qquad
        E_k = \mathrm{clip}_0^1(S_{ref} + v_k),

    with :math:`v_k = k_q q_k - k_w W_k / W_{tol} + c_u - S_{ref}` for a service
    (quality :math:`q_k` of the server, wait :math:`W_k` in minutes; the unit
    constant :math:`c_u = S_{ref} - k_q q^{exp}_u - k_p (p - 1)` absorbs the
    unit's expectations and the price) and :math:`v_k = -k_w \cdot`
    ``abandonment_penalty`` for an abandonment.  Given :math:`\gamma` the
    equation is linear in :math:`(c_u, k_q, k_w)`; :math:`\gamma` is found by
    minimising the residual sum of squares (profile least squares,
    ``scipy.optimize.minimize_scalar``).  Experiences at the clip under
    the estimates enter at their bound (0 or 1), and the fit is repeated
    until those flags settle; a unit whose served experiences are all at
    the clip has no estimate of its constant, and their flags stay.
    The rows are a customer's consecutive weeks (a row the week before, not
    churned, and a row this week) with at least one experience.

    Parameters
    ----------
    records : mapping
        ``"customers"``, ``"served"`` and ``"abandoned"`` records as columns
        (:data:`spchain.records.RECORDS`).
    params : Params
        ``customers.reference_satisfaction``, ``wait_tolerance_minutes``,
        ``abandonment_penalty`` and ``organisation.hours_per_week``.
    start : int
        First week whose update is used.

    Returns
    -------
    dict
        ``names`` (``links.value_from_quality``, ``links.value_from_wait``,
        ``customers.update_weight``), ``values``, ``cov`` (cluster-robust
        by unit given :math:`\gamma`, plus :math:`\gamma`'s variance from the
        profile's curvature carried through the slopes' derivatives in
        :math:`\gamma`), ``observed``/``fitted`` (each customer-week's
        satisfaction), ``data`` and ``summary``.

    Notes
    -----
    Exact when the model's value equation is the data's: customers' own
    tolerance and expectation spreads (``customers.tolerance_sd``,
    ``expectation_sd``) and relationship service add terms it leaves out.
    """
    weeks = _customer_weeks(records, params, start)
    clip = np.zeros(weeks["served"].size, np.int8)  # experiences at the clip: +1 at 1, -1 at 0
    settled = False
    for _ in range(10):  # the clipped experiences under the estimates, until they settle
        found = optimize.minimize_scalar(lambda g: _value_regression(weeks, g, clip)["ssr"], bounds=(0.01, 0.99),
                                         method="bounded", options={"xatol": 1e-10})
        fit = _value_regression(weeks, found.x, clip)
        flags = _clip_flags(weeks, fit, clip)
        changed = np.count_nonzero(flags != clip)
        clip = flags
        settled = changed <= 1e-4 * clip.size  # a few experiences at the clip to rounding may flip
        if settled:
            break
    found = optimize.minimize_scalar(lambda g: _value_regression(weeks, g, clip)["ssr"], bounds=(0.01, 0.99),
                                     method="bounded", options={"xatol": 1e-10})
    fit = _value_regression(weeks, found.x, clip)
    gamma = float(found.x)
    step = 1e-4 * min(gamma, 1 - gamma)
    above, below = _value_regression(weeks, gamma + step, clip), _value_regression(weeks, gamma - step, clip)
    curvature = (above["ssr"] - 2 * fit["ssr"] + below["ssr"]) / step ** 2
    slope = np.array([above["k_q"] - below["k_q"], above["k_w"] - below["k_w"]]) / (2 * step)  # d(k_q, k_w)/d gamma
    fit = _value_regression(weeks, gamma, clip, covariance=True)
    n = weeks["n_groups"]
    sigma2 = fit["ssr"] / max(n - fit["n_params"] - 1, 1)
    gamma_var = 2 * sigma2 / curvature if curvature > 0 else math.inf
    # delta method of the profile: (k_q, k_w) move with gamma
    cov = np.zeros((3, 3))
    cov[:2, :2] = fit["cov"] + np.outer(slope, slope) * gamma_var
    cov[:2, 2] = cov[2, :2] = slope * gamma_var
    cov[2, 2] = gamma_var
    summary = dict(equation="value", records="customers, served, abandoned", n_obs=n,
                   clipped=int(np.count_nonzero(clip)), n_units=int(np.unique(weeks["unit"]).size), converged=bool(found.success and settled),
                   residual_sd=float(math.sqrt(sigma2)))
    return dict(names=list(_VALUE_LINKS), values=[fit["k_q"], fit["k_w"], gamma], cov=cov,
                observed=weeks["s_new"], fitted=weeks["s_new"] - fit["residual"],
                data={"unit": weeks["unit"], "week": weeks["week"], "previous_satisfaction": weeks["s_prev"]},
                summary=summary)


def _customer_weeks(records, params, start) -> dict:
    """Each customer-week with its previous satisfaction and its experiences in time order."""
    customers = params.customers
    hours = params.organisation.hours_per_week
    rows = _columns(records["customers"], "customers", ("unit", "week", "customer", "satisfaction", "churned"),
                    0, "value")
    served = _columns_all(records["served"], "served", ("unit", "customer", "arrival_time", "wait", "service_time",
                                                        "quality"))
    abandoned = _columns_all(records["abandoned"], "abandoned", ("unit", "customer", "abandon_time"))
    n_slots = int(max(rows["customer"].max(initial=0), served["customer"].max(initial=0),
                      abandoned["customer"].max(initial=0))) + 1
    n_weeks = int(rows["week"].max()) + 2

    def key(unit, customer, week):
        return (unit.astype(np.int64) * n_slots + customer.astype(np.int64)) * n_weeks + week.astype(np.int64)

    done = served["arrival_time"] + served["wait"] + served["service_time"]
    time = np.concatenate([done, abandoned["abandon_time"]])
    is_served = np.r_[np.ones(done.size, bool), np.zeros(abandoned["abandon_time"].size, bool)]
    exp_key = key(np.r_[served["unit"], abandoned["unit"]], np.r_[served["customer"], abandoned["customer"]],
                  np.floor(time / hours))
    order = np.lexsort((~is_served, time, exp_key))
    exp_key, time, is_served = exp_key[order], time[order], is_served[order]
    quality = np.r_[served["quality"], np.zeros(abandoned["abandon_time"].size)][order]
    wait = np.r_[served["wait"] * 60.0 / customers.wait_tolerance_minutes,
                 np.full(abandoned["abandon_time"].size, customers.abandonment_penalty)][order]
    row_key = key(rows["unit"], rows["customer"], rows["week"])
    previous = {int(k): (s, c) for k, s, c in zip((row_key + 1).tolist(), rows["satisfaction"].tolist(),
                                                   rows["churned"].tolist())}
    groups, counts = np.unique(exp_key, return_counts=True)
    sorted_keys = np.sort(row_key)
    at = np.minimum(np.searchsorted(sorted_keys, groups), sorted_keys.size - 1)
    now = sorted_keys[at] == groups  # a row this week
    prior = np.array([previous.get(int(g), (math.nan, 1))[1] == 0 for g in groups.tolist()], bool)
    week = groups % n_weeks
    usable = now & prior & (week >= max(start, 1))
    s_new_by_key = dict(zip(row_key.tolist(), rows["satisfaction"].tolist()))
    member = np.repeat(usable, counts)
    groups, counts = groups[usable], counts[usable]
    group_of = np.repeat(np.arange(groups.size), counts)
    rank = np.arange(group_of.size) - np.repeat(np.r_[0, np.cumsum(counts)[:-1]], counts)  # 0-based order
    unit = (groups // n_weeks) // n_slots
    units, unit_index = np.unique(unit, return_inverse=True)
    return dict(n_groups=groups.size, unit=unit, unit_index=unit_index.ravel(), n_units=units.size,
                week=week[usable], counts=counts,
                s_prev=np.array([previous[int(g)][0] for g in groups.tolist()]),
                s_new=np.array([s_new_by_key[int(g)] for g in groups.tolist()]),
                group_of=group_of, after=(np.repeat(counts, counts) - 1 - rank), served=is_served[member],
                quality=quality[member], wait=wait[member], reference=customers.reference_satisfaction)


def _columns_all(columns, kind, needed, eq="value") -> dict:
    """Columns ``needed`` of a kind without a week column, as float arrays (``unit``, ``customer``,
    ``position``: int)."""
    for name in needed:
        if name not in columns:
            raise DataError(f"{kind!r} records have no column {name!r}{suggest(name, list(columns))}; "
                            f"the {eq} equation needs {list(needed)}")
    return {name: np.asarray(columns[name], np.int64 if name in ("unit", "customer", "position") else float)
            for name in needed}


def _value_regression(weeks, gamma, clip, covariance=False) -> dict:
    """Least squares of the satisfaction update given ``gamma``, the experiences ``clip`` flags at 0 or 1.

    Regressors per customer-week: the weight of its served experiences
    (times the unit's constant), of their quality, and of the waits and
    abandonment penalties; the clipped experiences' known values (0 or 1)
    move to the response.  Normal equations, the unit block diagonal.
    """
    weight = gamma * (1 - gamma) ** weeks["after"]
    g, n_groups, served = weeks["group_of"], weeks["n_groups"], weeks["served"]
    free = clip == 0

    def per_group(values):
        return np.bincount(g, weights=weight * values, minlength=n_groups)

    total_served = per_group(served & free)
    quality = per_group(weeks["quality"] * (served & free))
    wait = -per_group(weeks["wait"] * free)
    response = (weeks["s_new"] - (1 - gamma) ** weeks["counts"] * weeks["s_prev"]
                - weeks["reference"] * per_group(~served & free) - per_group(clip == 1))
    unit, n_units = weeks["unit_index"], weeks["n_units"]
    slopes = np.column_stack([quality, wait])
    normal = np.zeros((n_units + 2, n_units + 2))
    normal[np.arange(n_units), np.arange(n_units)] = np.bincount(unit, weights=total_served ** 2, minlength=n_units)
    for j in range(2):
        normal[:n_units, n_units + j] = normal[n_units + j, :n_units] = np.bincount(
            unit, weights=total_served * slopes[:, j], minlength=n_units)
    normal[n_units:, n_units:] = slopes.T @ slopes
    rhs = np.r_[np.bincount(unit, weights=total_served * response, minlength=n_units), slopes.T @ response]
    bread = np.linalg.pinv(normal)
    coef = bread @ rhs
    residual = response - coef[unit] * total_served - slopes @ coef[n_units:]
    out = dict(ssr=float(residual @ residual), residual=residual, k_q=float(coef[-2]), k_w=float(coef[-1]),
               constants=coef[:n_units], n_params=n_units + 2, cov=None)
    if covariance:  # clustered by unit
        scores = np.zeros((n_units, n_units + 2))
        scores[np.arange(n_units), np.arange(n_units)] = np.bincount(unit, weights=total_served * residual,
                                                                    minlength=n_units)
        for j in range(2):
            scores[:, n_units + j] = np.bincount(unit, weights=slopes[:, j] * residual, minlength=n_units)
        cov = bread @ (scores.T @ scores) @ bread * n_units / max(n_units - 1, 1)
        out["cov"] = cov[-2:, -2:]
    return out


def _clip_flags(weeks, fit, clip) -> np.ndarray:
    """Each experience under the fitted equation: +1 at or above 1, -1 at or below 0, else 0.

    A unit whose served experiences are all flagged at the clip (``clip``,
    the flags ``fit`` was computed with) has no estimate of its constant:
    the regression leaves it at 0 (the pseudo-inverse's minimum norm), and
    its served experiences keep their flags instead of being judged by that
    0 (which moved a unit served far below expectations, every experience
    at 0, wholly to 1: flags that settle away from the truth).
    """
    served = weeks["served"]
    unit = weeks["unit_index"][weeks["group_of"]]
    constant = fit["constants"][unit]
    experience = np.where(served, constant + fit["k_q"] * weeks["quality"] - fit["k_w"] * weeks["wait"],
                          weeks["reference"] - fit["k_w"] * weeks["wait"])
    edge = 1e-9  # within rounding of the clip: its value is the bound either way
    flags = np.where(experience >= 1.0 - edge, 1, np.where(experience <= edge, -1, 0)).astype(np.int8)
    free_served = np.bincount(unit, weights=served & (clip == 0), minlength=weeks["n_units"])
    unknown = served & (free_served[unit] == 0)  # the unit's constant is not estimated
    flags[unknown] = clip[unknown]
    return flags


_PRODUCTIVITY_LINKS = ("links.productivity_from_skill", "links.productivity_from_satisfaction")


def fit_productivity_equation(records, params, *, start: int = 0, cluster: str = "unit-week",
                              max_iter: int = 100, tol: float = 1e-10) -> dict:
    r"""The productivity equation from each employee's services: Poisson pseudo-ML within unit-weeks.

    A service started by employee :math:`e` of unit :math:`u` in week
    :math:`t` lasts on average (docs/model.md section 3.7)

    .. math::

        E[\text{service time}] = \frac{\tau_{ut}}{\pi_e}, \qquad
        \pi_e = \max\bigl(0.2,\ (1 - k_K(1 - K_e))\,(1 + k_S(S_e - S_{ref}))\bigr),

    where :math:`\tau_{ut}` (the standard time, the unit's processes, the
    effort in force) is common to the unit's week.  An employee-week's total
    service time :math:`T_e` over its :math:`n_e` services has mean
    :math:`n_e e^{\alpha_{ut}} / \pi_e`; the unit-week effects are
    conditioned out as in the Poisson fixed-effects model, whose
    pseudo-likelihood is consistent when only this mean is right, whatever
    the distribution of service times (Hausman, Hall & Griliches 1984;
    Wooldridge 1999, J. Econometrics 90(1), 77-97).  Within a unit-week
    :math:`c`, :math:`\sum_e T_e \log p_e` with
    :math:`p_e = (n_e/\pi_e) / \sum_{k \in c} n_k/\pi_k` is maximised by
    Fisher scoring (step halving on the objective) from
    :math:`k_K = k_S = 0`.

    Services are joined to the ``"employees"`` row of their position and
    the week they started in.  Left out: positions whose employee quits
    during the week (a replacement may take the position), the last week
    recorded (services still running at the run's end are not recorded),
    and unit-weeks with fewer than two employees who served.

    Parameters
    ----------
    records : mapping
        ``"employees"`` (``unit, week, position, skill, satisfaction,
        quit``) and ``"served"`` (``unit, position, arrival_time, wait,
        service_time``) records as columns (:data:`spchain.records.RECORDS`).
    params : Params
        ``workforce.reference_satisfaction`` and
        ``organisation.hours_per_week``.
    start : int
        First week used.
    cluster : {"unit-week", "unit"}
        Clusters of the sandwich covariance.  Employee-weeks of one
        unit-week are tied by its effect, so the sandwich is never per
        employee; a week's scores have mean zero given all earlier weeks
        (each service's expected time given everything before it is
        :math:`\tau_{ut}/\pi_e`), so unit-weeks are uncorrelated and are the
        default, with many more clusters than units.
    max_iter : int
        Most scoring steps.
    tol : float
        Convergence: the largest step below ``tol``.

    Returns
    -------
    dict
        ``names`` (``links.productivity_from_skill``,
        ``links.productivity_from_satisfaction``), ``values``, ``cov``
        (sandwich), ``observed``/``fitted`` (each employee-week's mean
        service time in hours and its fitted mean), ``data`` (``unit,
        week, skill, satisfaction, services``) and ``summary``.

    Raises
    ------
    DataError
        A column is missing, or no unit-week has two employees with
        services from ``start``.

    Examples
    --------
    >>> from spchain.fitting.synthetic import panel_params
    >>> from spchain import simulate
    >>> params = panel_params().override({"organisation.n_units": 4})
    >>> run = simulate(params, horizon=12, seed=3, record=("employees", "served"))
    >>> fit = fit_productivity_equation({k: run.records(k) for k in ("employees", "served")}, run.params, start=2)
    >>> fit["names"]
    ['links.productivity_from_skill', 'links.productivity_from_satisfaction']
    >>> bool(fit["summary"]["converged"]), fit["summary"]["n_services"] > 1000
    (True, True)
    """
    if cluster not in ("unit-week", "unit"):
        raise ValueError(f"cluster must be 'unit-week' or 'unit', got {cluster!r}")
    weeks = _employee_services(records, params, start)
    theta = np.zeros(2)
    value = _productivity_terms(theta, weeks)["objective"]
    converged, iteration, step = False, 0, np.zeros(2)
    for iteration in range(1, max_iter + 1):
        terms = _productivity_terms(theta, weeks)
        step = np.linalg.solve(terms["information"], terms["score"].sum(axis=0))
        for _ in range(30):  # step halving keeps the objective rising (and the factors positive)
            trial = _productivity_terms(theta + step, weeks)
            if trial["objective"] >= value - 1e-12 * abs(value):
                break
            step = step / 2.0
        theta, value = theta + step, trial["objective"]
        if np.max(np.abs(step)) < tol:
            converged = True
            break
    terms = _productivity_terms(theta, weeks)
    group = weeks["unit_index"] if cluster == "unit" else weeks["cell"]
    n_clusters = int(group.max()) + 1
    summed = np.column_stack([np.bincount(group, weights=terms["score"][:, j], minlength=n_clusters)
                              for j in range(2)])
    bread = np.linalg.inv(terms["information"])
    cov = bread @ (summed.T @ summed) @ bread * (n_clusters / max(n_clusters - 1, 1))
    observed = weeks["total"] / weeks["services"]
    summary = dict(equation="productivity", records="employees, served", n_obs=int(observed.size),
                   n_services=int(weeks["services"].sum()), n_units=int(weeks["n_units"]),
                   n_cells=int(weeks["cell"].max()) + 1, n_clusters=n_clusters, iterations=iteration,
                   converged=converged, objective=float(value))
    return dict(names=list(_PRODUCTIVITY_LINKS), values=[float(theta[0]), float(theta[1])], cov=cov,
                observed=observed, fitted=terms["fitted_total"] / weeks["services"],
                data={name: weeks[name] for name in ("unit", "week", "skill", "satisfaction", "services")},
                summary=summary)


def _employee_services(records, params, start) -> dict:
    """Each employee-week's services (count and total hours), joined by position and start week."""
    rows = _columns(records["employees"], "employees", ("unit", "week", "position", "skill", "satisfaction", "quit"),
                    start, "productivity")
    served = _columns_all(records["served"], "served", ("unit", "position", "arrival_time", "wait", "service_time"),
                          "productivity")
    last = int(rows["week"].max())
    keep = (rows["quit"] == 0) & (rows["week"] < last)
    rows = {name: column[keep] for name, column in rows.items()}
    positions = int(max(rows["position"].max(initial=0), served["position"].max(initial=0))) + 1
    span = last + 1

    def key(unit, position, week):
        return (unit * positions + position) * span + week

    row_key = key(rows["unit"], rows["position"].astype(np.int64), rows["week"])
    week = np.floor((served["arrival_time"] + served["wait"]) / params.organisation.hours_per_week).astype(np.int64)
    inside = (week >= 0) & (week < span)  # a key of another week would name another position
    service_key = key(served["unit"], served["position"], week)[inside]
    order = np.argsort(row_key)
    at = np.searchsorted(row_key[order], service_key)
    matched = at < row_key.size
    matched[matched] = row_key[order][at[matched]] == service_key[matched]
    row = order[at[matched]]
    services = np.bincount(row, minlength=row_key.size).astype(float)
    total = np.bincount(row, weights=served["service_time"][inside][matched], minlength=row_key.size)
    cells, cell = np.unique(rows["unit"] * span + rows["week"], return_inverse=True)
    serving = services > 0
    enough = np.bincount(cell.ravel(), weights=serving, minlength=cells.size) >= 2  # a comparison within the week
    use = serving & enough[cell.ravel()]
    if not use.any():
        raise DataError(f"no unit-week from week {start} has two employees with services on record (the "
                        f"productivity equation compares employees within a unit's week; the last week, and "
                        f"positions whose employee quit, are left out)")
    cell = np.unique(cell.ravel()[use], return_inverse=True)[1].ravel()
    units, unit_index = np.unique(rows["unit"][use], return_inverse=True)
    return dict(unit=rows["unit"][use], week=rows["week"][use], skill=rows["skill"][use],
                satisfaction=rows["satisfaction"][use], services=services[use], total=total[use], cell=cell,
                unit_index=unit_index.ravel(), n_units=units.size,
                reference=params.workforce.reference_satisfaction)


def _productivity_terms(theta, weeks) -> dict:
    """The within-unit-week objective at ``theta = (k_K, k_S)``, each employee-week's score and the
    expected information (``objective`` is ``-inf`` where a factor of the productivity is not positive)."""
    missing = 1.0 - weeks["skill"]
    above = weeks["satisfaction"] - weeks["reference"]
    a, b = 1.0 - theta[0] * missing, 1.0 + theta[1] * above
    if np.any(a <= 0) or np.any(b <= 0):
        return dict(objective=-math.inf)
    productivity = a * b
    floored = productivity <= links.PRODUCTIVITY_FLOOR
    gradient = np.column_stack([missing / a, -above / b])  # d log(1 / pi) / d theta
    gradient[floored] = 0.0
    cell, total = weeks["cell"], weeks["total"]
    weight = weeks["services"] / np.maximum(productivity, links.PRODUCTIVITY_FLOOR)
    share = weight / np.bincount(cell, weights=weight)[cell]
    cell_total = np.bincount(cell, weights=total)[cell]
    mean_gradient = np.column_stack([np.bincount(cell, weights=share * gradient[:, j]) for j in range(2)])[cell]
    centred = gradient - mean_gradient
    return dict(objective=float(np.sum(total * np.log(share))),
                score=(total - cell_total * share)[:, None] * gradient,
                information=(centred * (cell_total * share)[:, None]).T @ centred,
                fitted_total=cell_total * share)

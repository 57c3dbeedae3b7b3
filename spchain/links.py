"""The chain's links: named response functions, one per arrow of the chain.

Each function takes the upstream quantity (a float or a NumPy array), the
link's strength ``k`` (the field of :class:`spchain.params.Links` with the
same name) and the reference values at which the link is neutral.  With
``k = 0`` every function returns its neutral value, so switching every link
off leaves a plain queue.  The functional forms are documented assumptions;
``docs/model.md`` lists them with their sources.

All satisfaction-like quantities are on a 0-1 scale.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "employee_satisfaction_target",
    "quit_hazard",
    "productivity",
    "service_quality",
    "EFFORT_BOUNDS",
    "standard_pressure",
    "time_per_customer",
    "service_standard",
    "experienced_value",
    "LOYALTY_FORMS",
    "loyalty_response",
    "loyalty_strength",
    "customer_visit_rate",
    "spend_per_visit",
    "churn_hazard",
    "referral_rate",
    "internal_speed",
    "first_order_delay",
    "learning_curve",
]


def employee_satisfaction_target(base, *, isq, isq_ref, workload, workload_ref,
                                 recognition, pay_index, training_hours, training_ref,
                                 customer_satisfaction, customer_ref, links, fatigue=0.0):
    r"""Satisfaction an employee moves toward (Heskett et al. 1994, links 1-2).

    .. math::

        S^*_e = \mathrm{clip}_{[0,1]}\big(S_0
              + k_{isq}(ISQ_e - ISQ_{ref})
              - k_{load}\max(0, \omega - \omega_{ref})
              + k_{rec}\,R + k_{pay}(P - 1) + k_{train}(T - T_{ref})
              + k_{cust}(S^c - S^c_{ref}) - k_{fat} F\big)

    ``links`` supplies ``satisfaction_from_internal``, ``..._workload``,
    ``..._recognition``, ``..._pay``, ``..._training``, ``..._customers``
    (the satisfaction mirror, Heskett, Sasser & Schlesinger 1997) and
    ``..._fatigue``.  ``fatigue`` :math:`F` is the unit's fatigue stock:
    work pressure above 1, smoothed (Oliva & Sterman 2001).
    ``workload`` :math:`\omega` is the work pressure the employees face:
    hours of customers in service or waiting per staffed hour (utilisation
    plus waiting customers per server), not capped at 1.
    """
    target = (base
              + links.satisfaction_from_internal * (isq - isq_ref)
              - links.satisfaction_from_workload * np.maximum(0.0, workload - workload_ref)
              + links.satisfaction_from_recognition * recognition
              + links.satisfaction_from_pay * (pay_index - 1.0)
              + links.satisfaction_from_training * (training_hours - training_ref)
              + links.satisfaction_from_customers * (customer_satisfaction - customer_ref))
    k_fatigue = getattr(links, "satisfaction_from_fatigue", 0.0)
    if k_fatigue != 0.0:
        target = target - k_fatigue * fatigue
    return np.clip(target, 0.0, 1.0)


def first_order_delay(current, target, weeks, time_constant):
    r"""Exponential smoothing toward a target: :math:`x + (x^* - x)(1 - e^{-\Delta t/\tau})`."""
    return current + (target - current) * (1.0 - np.exp(-weeks / time_constant))


def learning_curve(tenure_weeks, initial_skill, learning_weeks, speedup=1.0):
    r"""Skill on an exponential learning curve (Argote & Epple 1990 form).

    :math:`K(t) = 1 - (1 - K_0)\exp(-s\,t/\tau_L)`, with ``speedup`` *s* >= 1
    from training.
    """
    return 1.0 - (1.0 - initial_skill) * np.exp(-speedup * tenure_weeks / learning_weeks)


def quit_hazard(satisfaction, base_rate, reference, k):
    r"""Annual quit hazard: :math:`h = h_0\exp(k(S_{ref} - S))`.

    Lower satisfaction raises turnover (Harter et al. 2002 meta-analysis
    direction; the exponential form is an assumption).
    """
    return base_rate * np.exp(k * (reference - satisfaction))


#: Lowest service-rate multiplier of :func:`productivity`.
PRODUCTIVITY_FLOOR = 0.2


def productivity(skill, satisfaction, reference, k_skill, k_satisfaction):
    r"""Service-rate multiplier (1 = reference employee).

    :math:`\pi = (1 - k_K(1 - K))\,(1 + k_S(S - S_{ref}))`, floored at
    :data:`PRODUCTIVITY_FLOOR` (0.2).
    """
    return np.maximum(PRODUCTIVITY_FLOOR, (1.0 - k_skill * (1.0 - skill))
                      * (1.0 + k_satisfaction * (satisfaction - reference)))


def service_quality(base, skill, satisfaction, reference, k_skill, k_satisfaction,
                    time_ratio=1.0, k_time=0.0):
    r"""Quality of the service an employee delivers, 0-1.

    :math:`q = \mathrm{clip}(q_0 - k_K(1 - K) + k_S(S - S_{ref}) - k_T\max(0, 1 - T/T^{need}))`,

    ``time_ratio`` :math:`T/T^{need}` being the time given per customer
    against the time needed (Oliva & Sterman 2001: corners cut cost
    quality; giving more time than needed adds none).
    """
    q = base - k_skill * (1.0 - skill) + k_satisfaction * (satisfaction - reference)
    if k_time != 0.0:
        q = q - k_time * np.maximum(0.0, 1.0 - np.asarray(time_ratio, float))
    return np.clip(q, 0.0, 1.0)


#: Range of the effort multiplier :math:`T/T^*` (:func:`time_per_customer`).
EFFORT_BOUNDS = (0.5, 1.5)


def standard_pressure(arrivals, standard_hours, staffed_hours, productivity, utilisation):
    r"""Work pressure after Oliva & Sterman (2001): required over available capacity.

    .. math::

        p = \frac{C^*}{C} = \frac{N\,T^*}{\bar\pi\,\rho_n\,H}

    ``arrivals`` :math:`N` in the week, each asking the service standard
    :math:`T^*` (``standard_hours``, hours of a reference employee), against
    the staffed hours :math:`H` at the utilisation :math:`\rho_n` at which
    the work just fits, scaled by the mean productivity :math:`\bar\pi` of
    the employees in post.  1 (neutral) when nobody was in post.

    Examples
    --------
    >>> standard_pressure(360, 0.25, 450.0, 1.0, 0.8)
    0.25
    """
    capacity = productivity * utilisation * staffed_hours
    return arrivals * standard_hours / capacity if capacity > 0 else 1.0


def time_per_customer(standard, pressure, k, bounds=EFFORT_BOUNDS):
    r"""Time given per customer under work pressure (Oliva & Sterman 2001).

    :math:`T = T^*\,\mathrm{clip}(p^{-k}, m_{lo}, m_{hi})`: :math:`k` is
    minus their :math:`\alpha` (estimated 0.64, CI 0.59-0.70); under
    pressure employees cut corners, with slack they take more time.  The
    multiplier is clipped to ``bounds`` (:data:`EFFORT_BOUNDS`); :math:`k = 0`
    gives the standard.

    Examples
    --------
    >>> round(float(time_per_customer(1.0, 1.2, 0.64)), 4)
    0.8899
    """
    if k == 0.0:
        return standard * np.ones_like(np.asarray(pressure, float))
    return standard * np.clip(np.asarray(pressure, float) ** -k, *bounds)


def service_standard(standard, achieved, erosion_weeks, recovery_weeks, weeks=1.0):
    r"""The service standard's asymmetric first-order adjustment (Oliva & Sterman 2001).

    :math:`T^* \leftarrow T^* + (T - T^*)(1 - e^{-\Delta t/\tau})` with
    :math:`\tau = \tau_d` (erosion) when the time achieved :math:`T` is
    below the standard and :math:`\tau = \tau_i` (recovery) otherwise; an
    infinite time constant leaves the standard where it is.

    Examples
    --------
    >>> round(float(service_standard(1.0, 0.9, 10.0, float("inf"))), 6)
    0.990484
    >>> float(service_standard(1.0, 1.1, 10.0, float("inf")))
    1.0
    """
    standard = np.asarray(standard, float)
    achieved = np.asarray(achieved, float)
    tau = np.where(achieved < standard, erosion_weeks, recovery_weeks)
    return standard + (achieved - standard) * -np.expm1(-weeks / tau)


def experienced_value(quality, expected_quality, wait_minutes, wait_tolerance, price_index,
                      k_quality, k_wait, k_price):
    r"""External service value of one visit relative to expectations.

    .. math::

        v = k_q(q - q_{exp}) - k_w\,W/W_{tol} - k_p(p - 1)

    Heskett's value equation: results and process quality against price and
    access costs (Heskett, Sasser & Schlesinger 1997).  ``v = 0`` means
    service exactly as expected.
    """
    return (k_quality * (quality - expected_quality) - k_wait * wait_minutes / wait_tolerance
            - k_price * (price_index - 1.0))


#: Named functional forms of the loyalty links, each neutral at strength 0 and at
#: the reference satisfaction (see :func:`loyalty_response`).
LOYALTY_FORMS = ("exponential", "linear", "logistic", "threshold")


def loyalty_response(satisfaction, reference, k, form="exponential", zone=(0.55, 0.85)):
    r"""Multiplier of a loyalty rate as satisfaction moves, by named form.

    With :math:`x = S - S_{ref}` and strength :math:`k`:

    ``"exponential"``
        :math:`e^{kx}` (constant elasticity; the default for visits, churn
        and referrals).
    ``"linear"``
        :math:`\max(0, 1 + kx)` (the default for spend, share of wallet).
    ``"logistic"``
        :math:`2 / (1 + e^{-2kx})`: the same slope :math:`k` at the
        reference, saturating at 0 and 2 (diminishing returns at both ends).
    ``"threshold"``
        a zone of tolerance :math:`[S_{lo}, S_{hi}]` inside which behaviour
        does not change, and exponential response outside it:
        :math:`e^{k(\max(0, S - S_{hi}) - \max(0, S_{lo} - S))}`.  Delighted
        customers ("apostles", above :math:`S_{hi}`) behave very differently
        from merely satisfied ones (Jones & Sasser 1995; Heskett et al.
        1994); the reference does not enter.

    Every form is 1 at :math:`k = 0`.  A negative ``k`` reverses the
    direction (the churn hazard falls as satisfaction rises).

    Examples
    --------
    >>> float(loyalty_response(0.9, 0.7, 0.0, "logistic"))
    1.0
    >>> [round(float(loyalty_response(s, 0.7, 8.0, "threshold")), 3) for s in (0.5, 0.7, 0.95)]
    [0.67, 1.0, 2.226]
    """
    s = np.asarray(satisfaction, float)
    if form == "exponential":
        return np.exp(k * (s - reference))
    if form == "linear":
        return np.maximum(0.0, 1.0 + k * (s - reference))
    if form == "logistic":
        return 2.0 / (1.0 + np.exp(-2.0 * k * (s - reference)))
    if form == "threshold":
        low, high = zone
        return np.exp(k * (np.maximum(0.0, s - high) - np.maximum(0.0, low - s)))
    raise ValueError(f"unknown loyalty form {form!r}; expected one of {list(LOYALTY_FORMS)}")


def customer_visit_rate(satisfaction, base_rate, reference, k, form="exponential", zone=(0.55, 0.85)):
    r"""Visits per week: :math:`\lambda_i = \lambda_0 g(S_i)`, :math:`g` by :func:`loyalty_response`."""
    return base_rate * loyalty_response(satisfaction, reference, k, form, zone)


def spend_per_visit(satisfaction, base_spend, reference, k, form="linear", zone=(0.55, 0.85)):
    r"""Spend per visit (share of wallet): :math:`m_i = m_0 g(S_i)`; default :math:`\max(0, 1 + k(S_i - S_{ref}))`."""
    return base_spend * loyalty_response(satisfaction, reference, k, form, zone)


def churn_hazard(satisfaction, base_rate, reference, k, form="exponential", zone=(0.55, 0.85)):
    r"""Annual churn hazard: :math:`h_i = h_0 g(S_i)` with strength :math:`-k`; default :math:`h_0\exp(-k(S_i - S_{ref}))`.

    Satisfied customers defect less (Reichheld & Sasser 1990).
    """
    return base_rate * loyalty_response(satisfaction, reference, -k, form, zone)


def referral_rate(satisfaction, base_rate, reference, k, form="exponential", zone=(0.55, 0.85)):
    r"""Referrals per customer per year: :math:`\rho_i = \rho_0 g(S_i)`; default exponential.

    Word of mouth rises steeply with satisfaction (Reichheld 2003).
    """
    return base_rate * loyalty_response(satisfaction, reference, k, form, zone)


def loyalty_strength(k, employee_satisfaction, reference, m):
    r"""Strength of a loyalty link in a unit: :math:`k \max(0, 1 + m(\bar S^e - S^e_{ref}))`.

    Where employees are satisfied, customer satisfaction turns into loyalty
    more strongly (Evanschitzky, Groening, Mittal & Wunderlich 2011, J.
    Service Research 14(2)); :math:`m = 0` keeps the additive chain.
    """
    return k * max(0.0, 1.0 + m * (employee_satisfaction - reference))


def internal_speed(isq_received, reference, k):
    r"""Speed multiplier of a department from the internal service it receives.

    :math:`\sigma_d = \max(0.2, 1 + k(ISQ_d - ISQ_{ref}))`: departments are
    internal customers of each other.
    """
    return np.maximum(0.2, 1.0 + k * (isq_received - reference))

"""Named starting points: documented parameter sets for common organisations.

Each preset is a :class:`~spchain.params.Params` built from the defaults
with a few overrides; :data:`PRESETS` holds their descriptions and sources.
Magnitudes are plausible, not fitted: annual front-line turnover, customer
retention and margins are taken from the sources named, everything else is
an assumption to be replaced by :mod:`spchain` fitting when data exist.

``queue_only`` builds the verification model: every link off, no turnover,
no churn, a fixed customer base, so the front line is a plain M/M/c (or
M/M/c+M with finite patience) queue.
"""

from __future__ import annotations

import math
import numbers

from .params import Links, Params, ParamError

__all__ = ["PRESETS", "preset", "queue_only"]

#: name -> (description, overrides); see ``docs/model.md`` for the sources.
PRESETS = {
    "bank_branches": (
        "Retail bank: 5 branches of 4 tellers/advisers sharing IT, HR and a back office. "
        "Teller turnover ~30%/year (US BLS JOLTS finance & insurance quits plus "
        "industry surveys of teller attrition, assumption within that range); customer "
        "retention ~85-90%/year (Reichheld & Sasser 1990 report bank defection "
        "rates of about 10-20%/year); contribution per visit assumed.",
        {
            "organisation.n_units": 5,
            "organisation.hours_per_week": 45.0,
            "workforce.n_employees": 4,
            "workforce.service_time_minutes": 12.0,
            "workforce.base_quit_rate": 0.3,
            "customers.n_customers": 3000,
            "customers.visit_rate": 0.2,
            "customers.base_churn_rate": 0.12,
            "customers.referral_rate": 0.04,
            "customers.acquisition_rate": 5.0,
            "customers.patience_minutes": 45.0,
            "economics.spend_per_visit": 40.0,
            "economics.gross_margin": 0.6,
            "economics.wage_per_week": 900.0,
            "economics.fixed_cost_per_week": 6500.0,
        },
    ),
    "contact_centre": (
        "Inbound contact centre: one site, 25 agents, 60 open hours a week, callers "
        "who hang up (mean patience 4 minutes). Agent attrition ~40%/year (industry "
        "benchmarks commonly cite 30-45%; assumption 40%); mean handling time 6 "
        "minutes; customer retention ~90%/year; revenue per call assumed.",
        {
            "organisation.hours_per_week": 60.0,
            "workforce.n_employees": 25,
            "workforce.service_time_minutes": 6.0,
            "workforce.base_quit_rate": 0.4,
            "workforce.time_to_fill_weeks": 5.0,
            "customers.n_customers": 50000,
            "customers.visit_rate": 0.23,
            "customers.patience_minutes": 4.0,
            "customers.wait_tolerance_minutes": 2.0,
            "customers.base_churn_rate": 0.10,
            "customers.referral_rate": 0.03,
            "customers.acquisition_rate": 67.0,
            "economics.spend_per_visit": 12.0,
            "economics.gross_margin": 0.8,
            "economics.wage_per_week": 750.0,
            "economics.hiring_cost": 5000.0,
            "economics.fixed_cost_per_week": 20000.0,
            "internal.request_rate": 0.6,
        },
    ),
    "retail_stores": (
        "Store chain: 8 stores of 6 sales associates. Retail front-line turnover is "
        "high, ~60%/year (US BLS JOLTS retail quits rates of ~3-4%/month); gross margin "
        "~35% (typical specialty retail); customer retention ~70%/year (assumption).",
        {
            "organisation.n_units": 8,
            "organisation.hours_per_week": 60.0,
            "workforce.n_employees": 6,
            "workforce.service_time_minutes": 8.0,
            "workforce.base_quit_rate": 0.6,
            "workforce.time_to_fill_weeks": 3.0,
            "workforce.learning_weeks": 8.0,
            "customers.n_customers": 4000,
            "customers.visit_rate": 0.5,
            "customers.patience_minutes": 8.0,
            "customers.base_churn_rate": 0.35,
            "customers.referral_rate": 0.05,
            "customers.acquisition_rate": 25.0,
            "economics.spend_per_visit": 45.0,
            "economics.gross_margin": 0.35,
            "economics.wage_per_week": 650.0,
            "economics.hiring_cost": 2500.0,
            "economics.fixed_cost_per_week": 9000.0,
        },
    ),
    "workshop": (
        "Workshop branch: one unit of 10 front-line employees for a room to play with; "
        "one simulated year runs in well under a second. Magnitudes as bank_branches.",
        {
            "organisation.n_units": 1,
            "workforce.n_employees": 10,
            "workforce.service_time_minutes": 15.0,
            "customers.n_customers": 6000,
            "customers.visit_rate": 0.23,
            "customers.base_churn_rate": 0.12,
            "customers.referral_rate": 0.04,
            "customers.acquisition_rate": 11.5,
            "customers.patience_minutes": 45.0,
            "economics.spend_per_visit": 40.0,
            "economics.gross_margin": 0.6,
            "economics.fixed_cost_per_week": 9000.0,
        },
    ),
    "retail_chain": (
        "Retail chain of 250 stores of 4 front-line staff each, heterogeneous: stores differ "
        "by manager, local market size, attractiveness, competition, local expectations, "
        "processes and staffing (spchain.engine.units), with weekly footfall shocks, and customers "
        "differ lastingly (expectations, churn propensity, spend). Built for cross-sectional "
        "studies: unit-level correlations of employee satisfaction with customer satisfaction "
        "(about .45), turnover (-.33), productivity (.37) and profit (.32) fall in the moderate "
        "region unit-level studies report (Harter, Schmidt & Hayes 2002 meta-analysis; "
        "Brown & Lam 2008), not the near-deterministic one of identical units. Spreads are "
        "assumptions chosen for that; shared IT, HR and back office sized for an offered load "
        "of about 0.7 (spchain.engine.units.size_departments).",
        {
            "organisation.n_units": 250,
            "organisation.hours_per_week": 50.0,
            "organisation.manager_sd": 0.05,
            "organisation.market_size_sd": 0.4,
            "organisation.attractiveness_sd": 0.2,
            "organisation.competition_sd": 0.3,
            "organisation.expectations_sd": 0.15,
            "organisation.process_sd": 0.25,
            "organisation.staffing_sd": 0.15,
            "organisation.footfall_sd": 0.08,
            "internal.departments.it.n_staff": 28,
            "internal.departments.hr.n_staff": 14,
            "internal.departments.back_office.n_staff": 17,
            "workforce.n_employees": 4,
            "workforce.service_time_minutes": 15.0,
            "customers.n_customers": 1000,
            "customers.visit_rate": 0.4,
            "customers.acquisition_rate": 3.0,
            "customers.base_churn_rate": 0.1,
            "customers.patience_minutes": 20.0,
            "customers.expectation_sd": 0.04,
            "customers.churn_propensity_sd": 0.5,
            "customers.spend_sd": 0.4,
            "economics.spend_per_visit": 30.0,
            "economics.gross_margin": 0.5,
            "economics.fixed_cost_per_week": 950.0,
        },
    ),
}


def preset(name: str) -> Params:
    """The preset called ``name`` as validated :class:`Params`.

    >>> preset("contact_centre").workforce.n_employees
    25
    """
    if name not in PRESETS:
        raise ParamError(f"unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return Params().override(PRESETS[name][1])


def queue_only(arrival_rate: float, service_rate: float, n_servers: int, *,
               patience_rate: float = 0.0, hours_per_week: float = 168.0,
               n_customers: int = 10_000) -> Params:
    """Parameters under which the front line is exactly M/M/c (Erlang C) or M/M/c+M (Erlang A).

    Every link is off, nobody quits, churns or is acquired, every employee
    is fully skilled, and internal requests are off.  Arrivals are the
    superposition of ``n_customers`` Poisson streams with total
    ``arrival_rate``.

    Parameters
    ----------
    arrival_rate, service_rate : float
        Per open hour.
    n_servers : int
        Front-line positions.
    patience_rate : float
        Abandonment rate per hour (``theta``); 0 means infinite patience.
    """
    _positive("arrival_rate", arrival_rate)
    _positive("service_rate", service_rate)
    _positive("hours_per_week", hours_per_week)
    if hours_per_week > 168:
        raise ParamError(f"queue_only: hours_per_week must be a number in (0, 168], got {hours_per_week!r}")
    _positive("patience_rate", patience_rate, zero=True, what=" (0 means infinite patience)")
    for name, value in (("n_servers", n_servers), ("n_customers", n_customers)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ParamError(f"queue_only: {name} must be an integer >= 1, got {value!r}")
    return Params(links=Links().off()).override({
        "organisation.n_units": 1,
        "organisation.hours_per_week": hours_per_week,
        "workforce.n_employees": n_servers,
        "workforce.service_time_minutes": 60.0 / service_rate,
        "workforce.service_time_cv": 1.0,
        "workforce.base_quit_rate": 0.0,
        "workforce.initial_skill": 1.0,
        "internal.request_rate": 0.0,
        "internal.departments": {},
        "customers.n_customers": n_customers,
        "customers.visit_rate": arrival_rate * hours_per_week / n_customers,
        "customers.patience_minutes": float("inf") if patience_rate == 0 else 60.0 / patience_rate,
        "customers.base_churn_rate": 0.0,
        "customers.referral_rate": 0.0,
        "customers.acquisition_rate": 0.0,
    })


def _positive(name, value, *, zero=False, what=""):
    """Refuse, naming the argument of :func:`queue_only`, a value that is not a finite number > 0 (>= 0)."""
    ok = (not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
          and (value >= 0 if zero else value > 0))
    if not ok:
        raise ParamError(f"queue_only: {name} must be a finite number {'>=' if zero else '>'} 0{what}, "
                         f"got {value!r}")

"""A unit's customer base: its customers' slots, and their weekly experiences and loyalty.

Customers live in slots of NumPy arrays (active or not, satisfaction, visit
rate, spend, lasting traits, an assigned employee and the bond with her).
Once a week, :meth:`CustomerBase.close_week` turns the week's services and
abandonments into experiences, surveys the customers served, draws churn,
referrals and marketing acquisition, and sets next week's visit rates and
spend.  The event-driven part (arrivals, queue, service) is in
:mod:`spchain.engine.frontline`.
"""

from __future__ import annotations

import numpy as np

from .. import links
from ..metrics import FIELD_INDEX
from . import streams, survey
from .weekly import (TRAIT_CHURN, TRAIT_EXPECTATION, TRAIT_SPEND, TRAIT_TOLERANCE, assign_positions,
                     customer_traits, sequential_update)

__all__ = ["CustomerBase"]

#: Services per customer and week whose survey draws come from the shared block.
_SURVEYS_PER_SLOT = 2


class CustomerBase:
    """The customers of one unit, in slots that churned customers free for new ones.

    Parameters
    ----------
    engine : spchain.engine.model.Engine
        The run: parameters in force, week, keyed generators, event records.
    unit_index : int
        The unit whose customers these are (keys their random numbers).
    profile : spchain.engine.units.UnitProfile
        The unit's lasting characteristics.
    n_positions : int
        Front-line positions of the unit (for relationship assignments).
    """

    def __init__(self, engine, unit_index, profile, n_positions):
        self.engine = engine
        self.unit_index = unit_index
        self.profile = profile
        params = engine.in_force.customers
        n = round(params.n_customers * profile.market_size)
        capacity = max(16, int(n * 1.25))
        self.active = np.zeros(capacity, bool)
        self.active[:n] = True
        self.satisfaction = np.zeros(capacity)
        self.satisfaction[:n] = params.initial_satisfaction
        self.free_slots = list(range(capacity - 1, n - 1, -1))
        self.released = []  # slots of last week's churned customers
        self.spend = np.zeros(capacity)
        self.visit_rate = np.zeros(capacity)
        self.traits = np.zeros((capacity, 4))  # lasting differences: see weekly.customer_traits
        self.traits[:, 1:] = 1.0
        z = engine.generator("customers", 0, unit_index, 3).standard_normal((n, 4))
        self.traits[:n] = customer_traits(params, z)
        # relationship service: an assigned position (-1: none), a bond, a relationship just lost
        self.relationships = params.relationship_share > 0
        self.assigned = np.full(capacity, -1, np.intp)
        self.bond = np.zeros(capacity)
        self.lost_relationship = np.zeros(capacity, bool)
        if self.relationships:
            u = engine.generator("customers", 0, unit_index, 5).random((n, 2))
            self.assigned[:n] = assign_positions(u, params.relationship_share, n_positions)

    def close_week(self, record, served, abandoned, staff_satisfaction, n_positions):
        """The week's experiences, surveys, churn, referrals and acquisition.

        Parameters
        ----------
        record : numpy.ndarray
            The unit's week record (fields of :data:`spchain.metrics.FIELDS`), added to.
        served : list of tuple
            ``(position, customer, arrival, wait, service time, quality)`` of each service.
        abandoned : list of tuple
            ``(customer, arrival, abandonment time)`` of each abandonment.
        staff_satisfaction : float
            Mean satisfaction of the unit's employees (moderates loyalty).
        n_positions : int
            Front-line positions of the unit (for new customers' assignments).
        """
        events = self.engine.events  # per-event records asked for (spchain.records), or None
        if events is not None:
            if "served" in events:
                events["served"].extend((self.unit_index,) + row for row in served)
            if "abandoned" in events:
                events["abandoned"].extend((self.unit_index,) + row for row in abandoned)
        customers_served = self._experience(record, served, abandoned)
        if customers_served.size:
            self._survey(record, customers_served)
        self._churn_and_acquire(record, staff_satisfaction, n_positions)
        self.update_loyalty_rates(staff_satisfaction)

    def _experience(self, record, served, abandoned):
        """Experiences of the week, in the order they end; returns the served customers' slots."""
        params = self.engine.in_force
        customer_params, strength = params.customers, params.links
        if served:
            rows = np.array(served)
            slots = rows[:, 1].astype(np.intp)
            wait_minutes = rows[:, 3] * 60.0
            quality = rows[:, 5]
            done_at = rows[:, 2] + rows[:, 3] + rows[:, 4]
            traits = self.traits[slots]
            expected = customer_params.expected_quality + self.profile.expectations + traits[:, TRAIT_EXPECTATION]
            value = links.experienced_value(quality, expected, wait_minutes,
                                            customer_params.wait_tolerance_minutes * traits[:, TRAIT_TOLERANCE],
                                            params.economics.price_index, strength.value_from_quality,
                                            strength.value_from_wait, strength.value_from_price)
            if self.relationships:  # continuity: served by their own employee, with the bond built so far
                own = self.assigned[slots] == rows[:, 0].astype(np.intp)
                value = value + strength.value_from_relationship * self.bond[slots] * own
                sequential_update(self.bond, slots[own], np.ones(int(own.sum())), customer_params.bond_rate)
            record[FIELD_INDEX["served"]] += len(served)
            record[FIELD_INDEX["quality_sum"]] += quality.sum()
            revenue = self.spend[slots].sum() * params.economics.price_index
        else:
            slots = np.zeros(0, np.intp)
            value = done_at = np.zeros(0)
            revenue = 0.0
        record[FIELD_INDEX["revenue"]] += revenue
        if abandoned:
            rows = np.array(abandoned)  # (customer, arrival, abandon time) rows
            record[FIELD_INDEX["abandoned_wait_hours_sum"]] += (rows[:, 2] - rows[:, 1]).sum()
            times = np.concatenate([done_at, rows[:, 2]])
            who = np.concatenate([slots, rows[:, 0].astype(np.intp)])
            values = np.concatenate([value, np.full(len(abandoned), -strength.value_from_wait
                                                    * customer_params.abandonment_penalty)])
        else:
            times, who, values = done_at, slots, value
        order = np.argsort(times, kind="stable")  # experiences count in the order they end
        record[FIELD_INDEX["abandoned"]] += len(abandoned)
        experience = np.clip(customer_params.reference_satisfaction + values[order], 0.0, 1.0)
        sequential_update(self.satisfaction, who[order], experience, customer_params.update_weight)
        return slots

    def _survey_draws(self, by_customer):
        """Response, CSAT-noise and LTR-noise draws of each service (sorted by customer).

        Each slot's ``k``-th service of the week owns its draws in the
        week's shared block; further services of a slot use a generator
        keyed by the slot and ``k``.
        """
        engine, week, unit = self.engine, self.engine.week, self.unit_index
        nth = streams.ordinals(by_customer)
        n_rows = int(by_customer[-1]) + 1
        respond_u = engine.generator("surveys", week, unit, 0).random((n_rows, _SURVEYS_PER_SLOT))
        noise = engine.generator("surveys", week, unit, 1).standard_normal((n_rows, 2 * _SURVEYS_PER_SLOT))
        draws = np.empty((by_customer.size, 3))
        inside = nth < _SURVEYS_PER_SLOT
        draws[inside, 0] = respond_u[by_customer[inside], nth[inside]]
        draws[inside, 1:] = noise[by_customer[inside, None], 2 * nth[inside, None] + np.arange(2)]
        for k in np.flatnonzero(~inside).tolist():  # a customer served many times this week
            g = engine.generator("surveys", week, unit, 2, int(by_customer[k]), int(nth[k]))
            draws[k] = [g.random(), *g.standard_normal(2)]
        return draws

    def _survey(self, record, customers_served):
        """Survey the customers served: CSAT and likelihood to recommend of those who respond."""
        measurement = self.engine.in_force.measurement
        by_customer = customers_served[np.argsort(customers_served, kind="stable")]
        draws = self._survey_draws(by_customer)
        respond = draws[:, 0] < measurement.response_rate
        satisfaction = self.satisfaction[by_customer[respond]]
        latent = satisfaction + measurement.csat_noise * draws[respond, 1]
        csat = survey.csat_responses(latent, [measurement.csat_cut_2, measurement.csat_cut_3,
                                              measurement.csat_cut_4, measurement.csat_cut_5])
        ltr = survey.ltr_responses(satisfaction, measurement.ltr_noise * draws[respond, 2],
                                   intercept=measurement.ltr_intercept, slope=measurement.ltr_slope)
        record[FIELD_INDEX["responses"]] += satisfaction.size
        record[FIELD_INDEX["csat_sum"]] += csat.sum()
        record[FIELD_INDEX["promoters"]] += survey.promoters(ltr)
        record[FIELD_INDEX["detractors"]] += survey.detractors(ltr)
        events = self.engine.events
        if events is not None and "surveys" in events:
            events["surveys"].extend(
                (self.unit_index, self.engine.week, customer, s, q, r) for customer, s, q, r in
                zip(by_customer[respond].tolist(), satisfaction.tolist(), csat.tolist(), ltr.tolist()))

    def _loyalty(self, strength, staff_satisfaction):
        """A loyalty link's strength, moderated by the unit's employees' satisfaction."""
        params = self.engine.in_force
        moderation = params.links.loyalty_from_employees
        if moderation == 0.0 or strength == 0.0:
            return strength
        return links.loyalty_strength(strength, staff_satisfaction, params.workforce.reference_satisfaction,
                                      moderation)

    def _churn_and_acquire(self, record, staff_satisfaction, n_positions):
        """Churn, referrals and marketing acquisition, each on its own keyed stream."""
        engine, week, unit = self.engine, self.engine.week, self.unit_index
        params = engine.in_force
        customer_params, strength = params.customers, params.links
        active = np.flatnonzero(self.active)
        satisfaction = self.satisfaction[active]
        zone = (customer_params.zone_low, customer_params.zone_high)
        referral = links.referral_rate(satisfaction, customer_params.referral_rate,
                                       customer_params.reference_satisfaction,
                                       self._loyalty(strength.referral_from_satisfaction, staff_satisfaction),
                                       customer_params.referral_form, zone).sum() / 52.0
        n_referred = int(streams.poisson_quantile(engine.generator("customers", week, unit, 1).random(), referral))
        n_marketing = int(streams.poisson_quantile(engine.generator("customers", week, unit, 2).random(),
                                                   customer_params.acquisition_rate * self.profile.market_size))
        hazard = links.churn_hazard(satisfaction, customer_params.base_churn_rate * self.profile.competition,
                                    customer_params.reference_satisfaction,
                                    self._loyalty(strength.churn_from_satisfaction, staff_satisfaction),
                                    customer_params.churn_form, zone) * self.traits[active, TRAIT_CHURN]
        churn_u = engine.generator("customers", week, unit, 0).random(self.active.size)  # one per slot
        leave = churn_u[active] < -np.expm1(-hazard / 52.0)
        if self.relationships:  # customers whose employee quit this week may follow her out
            lost = self.lost_relationship[active]
            follow_u = engine.generator("customers", week, unit, 6).random(self.active.size)[active]
            leave |= lost & (follow_u < customer_params.relationship_churn_prob)
            self.lost_relationship[:] = False
        gone = active[leave]
        self.active[gone] = False
        # a churned customer may still be queueing or in service: reuse the slot a week later
        self.free_slots.extend(self.released)
        self.released = gone[::-1].tolist()
        new = self.add(n_referred + n_marketing, n_positions)
        events = engine.events
        if events is not None:
            if "churn" in events:
                events["churn"].extend((unit, week, customer, s) for customer, s in
                                       zip(gone.tolist(), self.satisfaction[gone].tolist()))
            if "customers" in events:  # every customer at risk this week, with the hazard's satisfaction
                events["customers"].extend((unit, week, customer, s, left) for customer, s, left in
                                           zip(active.tolist(), satisfaction.tolist(), leave.tolist()))
            if "acquisition" in events:  # the first n_referred new slots are counted as the referred ones
                events["acquisition"].extend((unit, week, customer, "referral" if k < n_referred else "marketing")
                                             for k, customer in enumerate(new))
        record[FIELD_INDEX["churned"]] += gone.size
        record[FIELD_INDEX["acquired"]] += n_referred + n_marketing
        record[FIELD_INDEX["referred"]] += n_referred
        record[FIELD_INDEX["marketing_cost"]] += n_marketing * params.economics.acquisition_cost
        record[FIELD_INDEX["active_customers"]] = self.active.sum()
        record[FIELD_INDEX["customer_satisfaction_sum"]] = self.satisfaction[self.active].sum()

    def _grow(self, extra):
        """Add ``extra`` empty slots."""
        capacity = self.active.size
        self.active = np.concatenate([self.active, np.zeros(extra, bool)])
        self.satisfaction = np.concatenate([self.satisfaction, np.zeros(extra)])
        self.spend = np.concatenate([self.spend, np.zeros(extra)])
        self.visit_rate = np.concatenate([self.visit_rate, np.zeros(extra)])
        self.traits = np.concatenate([self.traits, np.zeros((extra, self.traits.shape[1]))])
        self.assigned = np.concatenate([self.assigned, np.full(extra, -1, np.intp)])
        self.bond = np.concatenate([self.bond, np.zeros(extra)])
        self.lost_relationship = np.concatenate([self.lost_relationship, np.zeros(extra, bool)])
        self.free_slots[:0] = range(capacity + extra - 1, capacity - 1, -1)

    def add(self, n, n_positions):
        """Activate ``n`` new customers in free slots (growing the arrays if needed).

        Parameters
        ----------
        n : int
            Customers acquired.
        n_positions : int
            Front-line positions of the unit (for relationship assignments).

        Returns
        -------
        list of int
            Their slots; the ``k``-th draws row ``k`` of the week's trait block.
        """
        if n <= 0:
            return []
        engine = self.engine
        if len(self.free_slots) < n:
            self._grow(max(n - len(self.free_slots), self.active.size // 2))
        slots = [self.free_slots.pop() for _ in range(n)]
        self.active[slots] = True
        self.satisfaction[slots] = engine.in_force.customers.initial_satisfaction
        z = engine.generator("customers", engine.week, self.unit_index, 4).standard_normal((n, 4))
        self.traits[slots] = customer_traits(engine.in_force.customers, z)
        self.bond[slots] = 0.0
        self.lost_relationship[slots] = False
        if self.relationships:
            u = engine.generator("customers", engine.week, self.unit_index, 5).random((n, 2))
            self.assigned[slots] = assign_positions(u, engine.in_force.customers.relationship_share, n_positions)
        else:
            self.assigned[slots] = -1
        return slots

    def lose_relationship(self, position, loss):
        """The employee in ``position`` left: her customers lose their bond and ``loss`` satisfaction.

        Parameters
        ----------
        position : int
            The leaver's position.
        loss : float
            Drop in satisfaction (floored at 0); they may follow her out at the week's churn.
        """
        lost = np.flatnonzero((self.assigned == position) & self.active)
        self.bond[lost] = 0.0
        self.satisfaction[lost] = np.maximum(0.0, self.satisfaction[lost] - loss)
        self.lost_relationship[lost] = True

    def update_loyalty_rates(self, staff_satisfaction):
        """Visit rate (visits per week, per slot; 0 when inactive) and spend per visit for next week.

        Parameters
        ----------
        staff_satisfaction : float
            Mean satisfaction of the unit's employees (moderates loyalty).
        """
        params = self.engine.in_force
        customer_params, strength = params.customers, params.links
        zone = (customer_params.zone_low, customer_params.zone_high)
        self.visit_rate = np.where(
            self.active,
            links.customer_visit_rate(self.satisfaction, customer_params.visit_rate * self.profile.attractiveness,
                                      customer_params.reference_satisfaction,
                                      self._loyalty(strength.revisit_from_satisfaction, staff_satisfaction),
                                      customer_params.visit_form, zone), 0.0)
        self.spend = links.spend_per_visit(self.satisfaction, params.economics.spend_per_visit,
                                           customer_params.reference_satisfaction,
                                           self._loyalty(strength.spend_from_satisfaction, staff_satisfaction),
                                           customer_params.spend_form, zone) * self.traits[:, TRAIT_SPEND]

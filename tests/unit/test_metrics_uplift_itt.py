"""Uplift is the intent-to-treat effect: unbiased where consent decides who can be contacted.

The population: 1,000 enrolled churned customers, 10 % held out at random. 400 have no consent for
any channel (every action to them is suppressed) and come back on their own three times as often
(30 %) as the 600 with consent (10 %). A contact lifts a consenting customer's chance from 10 % to
20 %. Both potential outcomes of every customer are known, so the true effects are too.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from winback_metrics.domain.uplift import Arms, EnrolledEpisode, Group, arms_of, newcombe_interval, uplift


@dataclass(frozen=True)
class Customer:
    consent: bool
    held_out: bool
    back_if_left_alone: bool
    back_if_assigned: bool  # contacted when consent allows, else left alone all the same

    def observed(self) -> EnrolledEpisode:
        assigned = not self.held_out
        return EnrolledEpisode(
            held_out=self.held_out,
            contacted=assigned and self.consent,
            won_back=self.back_if_assigned if assigned else self.back_if_left_alone,
        )


def population() -> list[Customer]:
    # Outcomes depend on i // 10, holdout on i % 10: the holdout is an exact 10 % of every outcome stratum.
    customers = []
    for i in range(600):  # consent: 10 % back alone, 20 % when contacted
        stratum = (i // 10) % 10
        customers.append(Customer(True, i % 10 == 9, stratum == 0, stratum in (0, 1)))
    for i in range(400):  # no consent: never contacted, 30 % back on their own
        stratum = (i // 10) % 10
        back = stratum in (0, 1, 2)
        customers.append(Customer(False, i % 10 == 9, back, back))
    return customers


def true_effects(customers: list[Customer]) -> tuple[float, float]:
    """The programme's effect over every enrolled customer, and over those it can contact."""
    effect = [c.back_if_assigned - c.back_if_left_alone for c in customers]
    reachable = [c.back_if_assigned - c.back_if_left_alone for c in customers if c.consent]
    return sum(effect) / len(effect), sum(reachable) / len(reachable)


def test_the_population_is_confounded_as_described() -> None:
    customers = population()
    assert len(customers) == 1000 and sum(c.held_out for c in customers) == 100
    assert true_effects(customers) == (pytest.approx(0.06), pytest.approx(0.1))


def test_itt_uplift_recovers_the_true_effect_where_contacted_vs_holdout_does_not() -> None:
    customers = population()
    arms = arms_of([c.observed() for c in customers])
    assert arms == Arms(treated=Group(900, 216), contacted=Group(540, 108), holdout=Group(100, 18))

    answer = uplift(arms)
    true_itt, true_on_contacted = true_effects(customers)
    low, high = newcombe_interval(Group(900, 216), Group(100, 18))
    assert answer == {
        "uplift": 0.06,
        "ci_low": round(low, 6),
        "ci_high": round(high, 6),
        "p_value": 0.178797,
        "treated": 900,
        "treated_rate": 0.24,
        "holdout": 100,
        "holdout_rate": 0.18,
        "contact_rate": 0.6,
        "uplift_contacted": 0.1,
        "uplift_contacted_ci_low": round(low / 0.6, 6),
        "uplift_contacted_ci_high": round(high / 0.6, 6),
        "contacted": 540,
        "contacted_rate": 0.2,
    }
    assert (answer["ci_low"], answer["ci_high"]) == (-0.030711, 0.12934)
    assert answer["uplift"] == pytest.approx(true_itt)
    assert answer["uplift_contacted"] == pytest.approx(true_on_contacted)
    # The old estimate, contacted against the holdout, sees 0.02: the unreachable customers, who come
    # back more often anyway, sit in the holdout but not among the contacted.
    naive = answer["contacted_rate"] - answer["holdout_rate"]
    assert naive == pytest.approx(0.02)
    assert abs(naive - true_on_contacted) > 0.07 and abs(naive - true_itt) > 0.03


def test_everyone_contacted_makes_both_effects_one() -> None:
    # Newcombe (1998) example (a) as a trial where everyone assigned was reached.
    answer = uplift(Arms(Group(70, 56), Group(70, 56), Group(80, 48)))
    assert (answer["uplift"], answer["ci_low"], answer["ci_high"]) == (0.2, 0.052431, 0.333873)
    assert answer["contact_rate"] == 1.0
    assert (answer["uplift_contacted"], answer["uplift_contacted_ci_low"], answer["uplift_contacted_ci_high"]) == (
        0.2,
        0.052431,
        0.333873,
    )


def test_nobody_reached_leaves_the_effect_on_the_contacted_undefined() -> None:
    answer = uplift(Arms(Group(50, 10), Group(0, 0), Group(10, 2)))
    assert (answer["uplift"], answer["contact_rate"], answer["contacted_rate"]) == (0.0, 0.0, None)
    assert (answer["uplift_contacted"], answer["uplift_contacted_ci_low"], answer["uplift_contacted_ci_high"]) == (
        None,
        None,
        None,
    )


def test_the_contacted_interval_stays_within_minus_one_and_one() -> None:
    # ITT interval up to 1.0 divided by a contact rate of 0.5 would pass 1: a difference of rates cannot.
    answer = uplift(Arms(Group(10, 10), Group(5, 5), Group(10, 0)))
    assert answer["ci_high"] == 1.0 and answer["uplift_contacted_ci_high"] == 1.0
    assert answer["uplift_contacted_ci_low"] == round(min(1.0, answer["ci_low"] / 0.5), 6)


def test_without_a_holdout_only_the_descriptive_fields_are_filled() -> None:
    answer = uplift(Arms(Group(5, 1), Group(4, 1), Group(0, 0)))
    assert answer == {
        "uplift": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "treated": 5,
        "treated_rate": 0.2,
        "holdout": 0,
        "holdout_rate": None,
        "contact_rate": 0.8,
        "uplift_contacted": None,
        "uplift_contacted_ci_low": None,
        "uplift_contacted_ci_high": None,
        "contacted": 4,
        "contacted_rate": 0.25,
    }

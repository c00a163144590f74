"""Quiet hours with German public holidays, the frequency cap, and one round of the scheduler (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from winback_campaign.domain.actions import DueStep
from winback_campaign.domain.regions import customer_state, normalise_state, state_of_postal_code
from winback_campaign.domain.rounds import plan_round
from winback_campaign.domain.templates import Recipient
from winback_campaign.domain.timing import FrequencyCap, allowed_at, next_quiet_hours_slot, public_holidays

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_the_nationwide_holidays_when_the_state_is_unknown() -> None:
    assert public_holidays(2025) == {
        date(2025, 1, 1),
        date(2025, 4, 18),  # Good Friday
        date(2025, 4, 21),  # Easter Monday
        date(2025, 5, 1),
        date(2025, 5, 29),  # Ascension
        date(2025, 6, 9),  # Whit Monday
        date(2025, 10, 3),
        date(2025, 12, 25),
        date(2025, 12, 26),
    }


def test_inside_quiet_hours_nothing_moves() -> None:
    at = berlin(2025, 3, 11, 9, 0)  # a Tuesday
    assert next_quiet_hours_slot(at) == at
    assert next_quiet_hours_slot(berlin(2025, 3, 15, 19, 59)) == berlin(2025, 3, 15, 19, 59)  # Saturday


def test_evening_night_and_sunday_wait_for_the_next_working_morning() -> None:
    assert next_quiet_hours_slot(berlin(2025, 3, 11, 20, 0)) == berlin(2025, 3, 12, 9, 0)
    assert next_quiet_hours_slot(berlin(2025, 3, 12, 6, 30)) == berlin(2025, 3, 12, 9, 0)
    assert next_quiet_hours_slot(berlin(2025, 3, 15, 21, 0)) == berlin(2025, 3, 17, 9, 0)  # Sat night -> Monday
    assert next_quiet_hours_slot(berlin(2025, 3, 16, 12, 0)) == berlin(2025, 3, 17, 9, 0)  # Sunday


def test_public_holidays_are_skipped() -> None:
    # Thursday before Easter evening -> Good Friday, Easter Saturday is a working day.
    assert next_quiet_hours_slot(berlin(2025, 4, 17, 21, 0)) == berlin(2025, 4, 19, 9, 0)
    # Christmas Eve evening -> 25th, 26th holidays, 27th is a Saturday.
    assert next_quiet_hours_slot(berlin(2025, 12, 24, 20, 30)) == berlin(2025, 12, 27, 9, 0)


def test_the_customer_time_zone_counts_and_utc_comes_back_as_utc() -> None:
    at = datetime(2025, 3, 11, 7, 30, tzinfo=UTC)  # 08:30 in Berlin, 03:30 in New York
    assert next_quiet_hours_slot(at) == datetime(2025, 3, 11, 8, 0, tzinfo=UTC)
    assert next_quiet_hours_slot(at, "America/New_York") == datetime(2025, 3, 11, 13, 0, tzinfo=UTC)
    assert next_quiet_hours_slot(at, "Not/AZone") == datetime(2025, 3, 11, 8, 0, tzinfo=UTC)


NOW = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)
CAP = FrequencyCap(per_week=1, per_month=3)


def test_cap_one_contact_in_seven_days() -> None:
    assert CAP.earliest(NOW, []) == NOW
    assert CAP.earliest(NOW, [NOW - timedelta(days=2)]) == NOW + timedelta(days=5)
    assert CAP.earliest(NOW, [NOW - timedelta(days=7)]) == NOW


def test_cap_three_contacts_in_thirty_days() -> None:
    contacts = [NOW - timedelta(days=d) for d in (25, 17, 9)]
    assert CAP.earliest(NOW, contacts) == NOW + timedelta(days=5)  # the oldest leaves the 30-day window


def test_email_moves_only_for_the_cap_phone_also_for_quiet_hours() -> None:
    sunday = datetime(2025, 3, 16, 10, 0, tzinfo=UTC)
    assert allowed_at(sunday, "email", [], CAP, None) == (sunday, None)
    assert allowed_at(sunday, "phone", [], CAP, None) == (datetime(2025, 3, 17, 8, 0, tzinfo=UTC), "quiet_hours")
    capped = allowed_at(sunday, "sms", [sunday - timedelta(days=1)], CAP, None)
    assert capped == (datetime(2025, 3, 22, 10, 0, tzinfo=UTC), "frequency_cap")  # a Saturday, 11:00 Berlin


def test_states_add_their_own_holidays() -> None:
    assert date(2025, 6, 19) in public_holidays(2025, "BY")  # Fronleichnam
    assert date(2025, 6, 19) not in public_holidays(2025, "HH")
    assert date(2025, 10, 31) in public_holidays(2025, "SN")  # Reformationstag
    assert date(2025, 10, 31) not in public_holidays(2025, "BY")
    assert date(2025, 11, 19) in public_holidays(2025, "SN")  # Buß- und Bettag, Saxony only
    assert public_holidays(2025, "BY") > public_holidays(2025)


def test_the_state_comes_from_the_postal_code_unless_given() -> None:
    assert [state_of_postal_code(p) for p in ("80331", "20095", "01067", "D-10115", "88131", "88045")] == [
        "BY",
        "HH",
        "SN",
        "BE",
        "BY",  # Lindau lies in the Bavarian part of the 88 region
        "BW",
    ]
    assert state_of_postal_code("00999") is None and state_of_postal_code("1234") is None
    assert [normalise_state(s) for s in ("by", "DE-SN", "Thüringen", "Bavaria", "Texas")] == [
        "BY",
        "SN",
        "TH",
        "BY",
        None,
    ]
    assert customer_state("Sachsen", {"postal_code": "80331"}) == "SN"  # an explicit state wins
    assert customer_state(None, {"postal_code": "80331", "country": "DE"}) == "BY"
    assert customer_state("nowhere", {"postal_code": "80331"}) == "BY"
    # Abroad, or no postal code: no state, so only the nationwide holidays count.
    assert customer_state(None, {"postal_code": "80331", "country": "AT"}) is None
    assert customer_state(None, {"city": "Berlin"}) is None and customer_state(None, None) is None


FRONLEICHNAM = datetime(2025, 6, 19, 8, 0, tzinfo=UTC)  # a Thursday, 10:00 in Germany
REFORMATIONSTAG = datetime(2025, 10, 31, 9, 0, tzinfo=UTC)  # a Friday, 10:00 in Germany


def test_fronleichnam_blocks_a_phone_task_in_bavaria_not_in_hamburg() -> None:
    munich = customer_state(None, {"postal_code": "80331", "city": "München"})
    hamburg = customer_state(None, {"postal_code": "20095", "city": "Hamburg"})
    plan = plan_round([due("m", "1", "phone", munich), due("h", "1", "phone", hamburg)], {}, FRONLEICHNAM, CAP)
    assert [s.customer_id for s in plan.send] == ["h"]
    assert [(s.customer_id, at, r) for s, at, r in plan.moves] == [("m", berlin(2025, 6, 20, 9, 0), "quiet_hours")]


def test_reformationstag_blocks_in_saxony_not_in_bavaria() -> None:
    dresden = customer_state(None, {"postal_code": "01067", "city": "Dresden"})
    munich = customer_state(None, {"postal_code": "80331", "city": "München"})
    assert allowed_at(REFORMATIONSTAG, "phone", [], CAP, None, dresden) == (
        berlin(2025, 11, 1, 9, 0),  # Saturday: a working day for quiet hours
        "quiet_hours",
    )
    assert allowed_at(REFORMATIONSTAG, "phone", [], CAP, None, munich) == (REFORMATIONSTAG, None)
    assert allowed_at(REFORMATIONSTAG, "email", [], CAP, None, dresden) == (REFORMATIONSTAG, None)


def due(customer: str, step: str, channel: str = "email", state: str | None = None) -> DueStep:
    return DueStep(
        enrollment_id=f"enr-{customer}",
        step_id=step,
        customer_id=customer,
        playbook_id="winback-basic",
        variant="default",
        channel=channel,
        template="we_miss_you",
        offer=None,
        offer_category=None,
        due_at=NOW,
        recipient=Recipient(name="A", email="a@example.com", language="de"),
        state=state,
    )


def test_one_contact_per_customer_per_round_and_capped_steps_move() -> None:
    steps = [due("a", "1"), due("a", "2"), due("b", "1"), due("c", "1", "phone")]
    contacts = {"b": [NOW - timedelta(days=1)]}
    plan = plan_round(steps, contacts, NOW, CAP)
    assert [(s.customer_id, s.step_id) for s in plan.send] == [("a", "1"), ("c", "1")]
    assert [(s.customer_id, s.step_id) for s in plan.deferred] == [("a", "2")]
    assert [(s.customer_id, at, reason) for s, at, reason in plan.moves] == [
        ("b", NOW + timedelta(days=6), "frequency_cap")
    ]

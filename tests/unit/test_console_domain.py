"""The console's own decisions: language, formats, roles, task groups, the merged timeline, the playbook form."""

from __future__ import annotations

import pytest

from winback_console.domain.i18n import Translator, negotiate
from winback_console.domain.playbook_form import document_of, form_of, problems_by_field
from winback_console.domain.roles import Permission, may
from winback_console.domain.timeline import ledger_items, merge
from winback_console.domain.today import group_tasks
from winback_console.domain.words import WORDS
from winback_console.entrypoints.auth_routes import safe_next
from winback_console.settings import ConsoleSettings


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "de"),
        ("en-US,en;q=0.9,de;q=0.8", "en"),
        ("fr-FR, de;q=0.5, en;q=0.4", "de"),
        ("de;q=0.2, en;q=0.7", "en"),
        ("fr", "de"),
        ("en;q=0, de", "de"),
        ("!!, en", "en"),
    ],
)
def test_the_language_is_the_first_of_ours_the_browser_asks_for(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_money_and_dates_are_written_as_each_language_writes_them() -> None:
    de, en = Translator("de"), Translator("en")
    assert de.money("1234.5") == "1.234,50\xa0€"
    assert en.money("1234.5") == "€1,234.50"
    assert de.day("2026-03-01T10:00:00+00:00") == "01.03.2026"
    assert en.day("2026-03-01T10:00:00+00:00") == "1 Mar 2026"
    assert de.money(None) == "\u2013"
    # Times in the display zone (Europe/Berlin), with its name: never a UTC time taken for local.
    assert de.when("2026-12-05T08:00:00+00:00") == "05.12.2026, 09:00 MEZ"
    assert en.when("2026-07-05T08:00:00+00:00") == "5 Jul 2026, 10:00 CEST"


def test_every_word_exists_in_both_languages() -> None:
    assert [k for k, (en, de) in WORDS.items() if not en.strip() or not de.strip()] == []


def test_ops_may_export_but_only_admin_may_erase() -> None:
    assert may("ops", Permission.EXPORT) and not may("ops", Permission.ERASE)
    assert may("admin", Permission.ERASE)
    assert not may("ingest", Permission.READ)


def test_production_refuses_the_public_session_secret() -> None:
    keys = {"api_keys": "k-12345:admin", "env": "production"}
    with pytest.raises(ValueError, match="WINBACK_CONSOLE_SECRET"):
        ConsoleSettings(**keys)  # type: ignore[arg-type]
    assert ConsoleSettings(**keys, console_secret="s" * 32).https_only_cookies is True  # type: ignore[arg-type]


def _task(
    action_id: str, assignee: str, name: str | None, due: str, customer: str = "c1", **extra: object
) -> dict[str, object]:
    return {
        "action_id": action_id,
        "customer_id": customer,
        "assignee": assignee,
        "assignee_name": name,
        "due_at": due,
        "channel": "post" if assignee == "print_house" else "phone",
        **extra,
    }


def test_tasks_are_grouped_by_assignee_account_managers_first_oldest_due_first() -> None:
    tasks = [
        _task("a3", "print_house", None, "2026-01-01T09:00:00+00:00"),
        _task("a1", "call_centre", None, "2026-01-02T09:00:00+00:00"),
        _task("a2", "account_manager", "Petra", "2026-01-03T09:00:00+00:00"),
        _task("a0", "account_manager", "Petra", "2026-01-01T08:00:00+00:00"),
        _task("a4", "account_manager", "Jens", "2026-01-01T08:00:00+00:00"),
    ]
    groups = group_tasks(tasks, {}, {})
    assert [(g.assignee, g.name, [t["action_id"] for t in g.tasks]) for g in groups] == [
        ("account_manager", "Jens", ["a4"]),
        ("account_manager", "Petra", ["a0", "a2"]),
        ("call_centre", None, ["a1"]),
        ("print_house", None, ["a3"]),
    ]


def test_a_task_carries_the_ledger_entries_its_consent_rests_on_and_the_customers_value() -> None:
    task = _task(
        "a1",
        "account_manager",
        "Petra",
        "2026-01-01T08:00:00+00:00",
        consent={"basis": "express_consent", "evidence_ids": ["g2"]},
    )
    ledger = [
        {"id": "g1", "entry_type": "grant"},
        {"id": "g2", "entry_type": "grant", "payload": {"method": "written"}},
    ]
    [group] = group_tasks(
        [task], {"c1": {"value": {"revenue": "10.00"}, "segment": "star"}}, {"c1": {"ledger": ledger}}
    )
    [shown] = group.tasks
    assert shown["evidence"] == [ledger[1]]
    assert shown["value"] == {"revenue": "10.00"} and shown["risk_segment"] == "star"


def test_the_timeline_is_every_services_items_newest_first_with_their_source() -> None:
    merged = merge(
        {
            "risk": [
                {"at": "2026-01-03T00:00:00+00:00", "type": "status_changed"},
                {"at": "2026-01-01T00:00:00+00:00", "type": "order_placed"},
            ],
            "campaign": [{"at": "2026-01-02T00:00:00+01:00", "type": "enrolled"}],
            "consent": ledger_items(
                [
                    {"id": "e1", "entry_type": "use", "occurred_at": "2026-01-04T00:00:00+00:00"},
                    {
                        "id": "e2",
                        "entry_type": "objection",
                        "occurred_at": "2026-01-05T00:00:00Z",
                        "payload": {"channels": ["all"]},
                    },
                ]
            ),
        }
    )
    assert [(i["source"], i["type"]) for i in merged] == [
        ("consent", "objection"),
        ("risk", "status_changed"),
        ("campaign", "enrolled"),
        ("risk", "order_placed"),
    ]


PLAYBOOK = {
    "playbook_id": "pb",
    "version": 3,
    "name": "Test",
    "enabled": True,
    "priority": 10,
    "holdout_percent": 10.0,
    "trigger": {"status": "churned", "churn_reasons": ["price"]},
    "steps": [
        {"step_id": "ask", "after": "P1D", "channel": "email", "template": "t1"},
        {
            "step_id": "call",
            "after": "P3D",
            "channel": "phone",
            "template": "t2",
            "assignee": "account_manager",
            "when": {"value_tiers": ["A"]},
        },
    ],
    "templates": {"t1": {"de": {}, "en": {}}},
}


def test_an_unchanged_form_gives_back_the_playbook_without_its_version() -> None:
    document, problems = document_of(PLAYBOOK, form_of(PLAYBOOK))
    assert problems == {}
    assert document == {k: v for k, v in PLAYBOOK.items() if k != "version"}


def test_yaml_that_does_not_parse_is_a_problem_of_its_own_field() -> None:
    form = form_of(PLAYBOOK)
    form["steps"][1]["when"] = "value_tiers: [A"
    form["advanced"] = "- just a list"
    _, problems = document_of(PLAYBOOK, form)
    assert set(problems) == {"steps.1.when", "advanced"}


def test_campaigns_problems_land_on_the_fields_they_name() -> None:
    detail = (
        'steps.1.after: Input should be a valid timedelta, "P3X" is not valid; name: String should have at '
        "least 1 character; trigger.status: Input should be 'churned'; steps.7.after: gone; playbook: odd"
    )
    assert problems_by_field(detail, step_count=2) == {
        "steps.1.after": ['Input should be a valid timedelta, "P3X" is not valid'],
        "name": ["String should have at least 1 character"],
        "advanced": ["Input should be 'churned'"],
        "form": ["gone", "odd"],
    }
    assert problems_by_field("body must be a JSON object", 2) == {"form": ["body must be a JSON object"]}


@pytest.mark.parametrize(
    ("target", "goes_to"),
    [
        ("/customers?q=acme", "/customers?q=acme"),
        ("//evil.example/x", "/today"),
        ("/\t/evil.example", "/today"),
        ("/\\evil.example", "/today"),
        ("https://evil.example", "/today"),
        ("", "/today"),
        (None, "/today"),
    ],
)
def test_after_sign_in_only_a_path_of_the_console_is_followed(target: str | None, goes_to: str) -> None:
    assert safe_next(target) == goes_to

"""A playbook's own templates: checked when saved, and rendered (text and HTML) for its enrolments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.db import migrated
from winback_campaign.adapters import enrollment_repository as repo
from winback_campaign.adapters import step_repository
from winback_campaign.bootstrap import MIGRATIONS
from winback_campaign.domain.actions import ConsentDecision, settle
from winback_campaign.domain.enrollment import EnrollmentPlan, StatusChange, plan_enrollment
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.service_layer.playbooks import InvalidPlaybook, PlaybookService
from winback_shared.clock import FixedClock
from winback_shared.db.engine import create_sessionmaker

pytestmark = pytest.mark.integration

T0 = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)
SENDER = SenderIdentity("Acme GmbH", "Weg 1, 10115 Berlin", "hi@acme.example", "https://acme.example/u")
OWN = {
    "de": {
        "subject": "Hallo $name",  # string.Template syntax: converted on save
        "body": "Hallo {{ name }},\n\n{% if offer %}{{ offer }}{% else %}wir vermissen Sie{% endif %}.",
        "html": "<h1>Hallo {{ name }}</h1><p>{{ 1234.5 | money }}</p>",
    },
    "en": {"subject": "Hello {{ name }}", "body": "Hello {{ name }}, we miss you."},
}


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated(database_url, MIGRATIONS) as engine:
        yield create_sessionmaker(engine)


def _document(service: PlaybookService, **templates: Any) -> dict[str, Any]:
    shipped = next(p for p in service.shipped if p.playbook_id == "winback-basic")
    return {**shipped.as_dict(), "holdout_percent": 0, "templates": templates}


async def test_a_template_is_refused_on_save_with_the_exact_problem(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    service = PlaybookService(sessions, FixedClock(T0))
    cases = [
        ({"de": {**OWN["de"], "body": "Hallo {{ name "}}, "templates.we_miss_you: Value error, de.body: line 1:"),
        ({"de": {**OWN["de"], "body": "{{ iban }}"}}, "de.body: unknown values ['iban']"),
        ({"en": {**OWN["en"], "body": "{{ name.__class__ }}"}}, "en.body: access to attribute '__class__'"),
        (
            {"de": {**OWN["de"], "html": "<div style='display: none'>{{ name }}"}},
            "de.html: the opt-out link is not a visible link in the HTML part",
        ),
        ({"de": {**OWN["de"], "html": "<p>Hi</p><!-- draft"}}, "de.html: an HTML comment is never closed"),
    ]
    for change, problem in cases:
        with pytest.raises(InvalidPlaybook) as refused:
            await service.replace("winback-basic", _document(service, we_miss_you={**OWN, **change}))
        assert problem in str(refused.value)


async def test_a_saved_template_renders_for_the_playbooks_enrollments(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    service = PlaybookService(sessions, FixedClock(T0))
    playbook = await service.replace("winback-basic", _document(service, we_miss_you=OWN))
    assert playbook.as_dict()["templates"]["we_miss_you"]["de"]["subject"] == "Hallo {{ name }}"
    change = StatusChange("c1", "churned", T0, True, "/winback/risk", "e1", value_tier="C")
    plan = plan_enrollment(change, [playbook], now=T0, has_active_enrollment=False, replay_window=timedelta(days=7))
    assert isinstance(plan, EnrollmentPlan)
    async with sessions.begin() as session:
        await repo.upsert_profiles(
            session, {"c1": {"name": "Anna <3", "email": "a@example.org", "language": "de", "state": "BY"}}, T0
        )
        await repo.insert_enrollments(session, [plan], {}, T0)
        [due] = await step_repository.claim_due_steps(session, now=T0, address_grace=timedelta(hours=1), limit=10)
    assert due.message == playbook.as_dict()["templates"]["we_miss_you"]
    assert due.state == "BY"  # quiet hours of the scheduler see the customer's state
    content = settle(due, ConsentDecision(True, "express_consent"), sender=SENDER, default_language="de").content
    assert content is not None
    assert content["subject"] == "Hallo Anna <3"
    assert content["body"].startswith("Hallo Anna <3,\n\nwir vermissen Sie.\n\n--\nAcme GmbH")
    assert "<h1>Hallo Anna &lt;3</h1><p>1.234,50\xa0€</p>" in content["html"]
    assert f'<a href="{content["opt_out_url"]}">Keine weiteren Nachrichten</a>' in content["html"]

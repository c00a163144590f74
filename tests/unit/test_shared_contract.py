"""Each service's declared contract is what it really subscribes to and the only way it can publish."""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI

from winback_campaign.bootstrap import build_app as campaign_app
from winback_campaign.settings import CampaignSettings
from winback_consent.bootstrap import build_app as consent_app
from winback_consent.settings import ConsentSettings
from winback_ingest.bootstrap import build_app as ingest_app
from winback_ingest.settings import IngestSettings
from winback_metrics.bootstrap import build_app as metrics_app
from winback_metrics.settings import MetricsSettings
from winback_risk.bootstrap import build_app as risk_app
from winback_risk.settings import RiskSettings
from winback_shared.events.contract import ServiceContract, UndeclaredEvent, service_contracts
from winback_shared.events.export import TABLE_BEGIN, readme_with_topic_table
from winback_shared.events.produced import ConsentChanged
from winback_shared.events.topics import Topic
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
# Nothing is contacted while an app is only built: engines, producers and clients start lazily.
NOWHERE = {"kafka_bootstrap": "127.0.0.1:1", "database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
APPS: dict[str, tuple[Callable[[ServiceSettings], FastAPI], type[ServiceSettings]]] = {
    "campaign": (campaign_app, CampaignSettings),
    "consent": (consent_app, ConsentSettings),
    "ingest": (ingest_app, IngestSettings),
    "metrics": (metrics_app, MetricsSettings),
    "risk": (risk_app, RiskSettings),
}


@pytest.fixture
def contracts() -> dict[str, ServiceContract]:
    return {c.name: c for c in service_contracts()}


@pytest.fixture
def gc_restored() -> Iterator[None]:
    """Ingest's and risk's composition roots tune the collector for their process; undo it here."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_every_service_registers_its_contract(contracts: dict[str, ServiceContract]) -> None:
    assert sorted(contracts) == sorted(APPS)


@pytest.mark.usefixtures("gc_restored")
@pytest.mark.parametrize("name", sorted(APPS))
def test_a_service_subscribes_to_exactly_the_topics_it_declares(
    name: str, contracts: dict[str, ServiceContract]
) -> None:
    build, settings_type = APPS[name]
    app = build(settings_type(**NOWHERE))  # type: ignore[arg-type]
    runtime: ServiceRuntime = app.state.runtime
    assert runtime.consumers, f"{name} runs no consumer"
    for consumer in runtime.consumers:
        assert consumer.topics == tuple(contracts[name].consumed_topics)
        assert consumer.group_id == contracts[name].group


def test_the_known_drift_is_fixed(contracts: dict[str, ServiceContract]) -> None:
    # Metrics reads winback.consent for the erasure only, never consent.changed.
    assert contracts["metrics"].consumes[Topic.CONSENT] == ("customer.erased",)
    assert contracts["campaign"].topic_of("campaign.response") == Topic.INBOUND.value
    assert contracts["consent"].topic_of("action.triggered") == Topic.ACTIONS.value


def test_a_service_cannot_put_an_undeclared_event_in_its_outbox(contracts: dict[str, ServiceContract]) -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    changed = ConsentChanged.new(
        source="/t", time=now, data={"customer_id": "c-1", "channel": "email", "state": "granted", "at": now}
    )
    assert contracts["consent"].message(changed).topic == Topic.CONSENT.value
    for name in ("risk", "campaign", "metrics"):
        with pytest.raises(UndeclaredEvent, match=r"consent\.changed"):
            contracts[name].message(changed)


def test_a_declaration_names_known_types_once() -> None:
    with pytest.raises(ValueError, match="unknown event types"):
        ServiceContract("x", produces={Topic.RISK: ("customer.teleported",)})
    with pytest.raises(ValueError, match="two topics"):
        ServiceContract("x", produces={Topic.RISK: ("order.placed",), Topic.EVENTS: ("order.placed",)})
    with pytest.raises(ValueError, match="rejected records"):
        ServiceContract("x", produces={Topic.DEADLETTER: ("order.placed",)})


def _service_sources() -> Iterator[tuple[Path, str]]:
    for path in sorted((REPO / "services").glob("*/src/**/*.py")):
        yield path, path.read_text()


def test_outbox_messages_take_their_topic_from_the_contract() -> None:
    # A topic chosen by hand next to an event would bypass the declaration the tests above check.
    by_hand = [str(p.relative_to(REPO)) for p, text in _service_sources() if re.search(r"OutboxMessage(\.of)?\(", text)]
    assert by_hand == []


def test_no_consumer_reads_undeclared_fields() -> None:
    # Fields other services rely on are declared on the shared models, so they are in the schemas.
    readers = [str(p.relative_to(REPO)) for p, text in _service_sources() if "model_extra" in text]
    assert readers == []


def test_readme_topic_table_is_generated_from_the_contracts() -> None:
    readme = (REPO / "README.md").read_text()
    assert TABLE_BEGIN in readme
    assert readme_with_topic_table(readme) == readme, "the topic table drifted: run `make schemas` and commit"

"""The checked-in JSON Schemas and AsyncAPI document match the models and describe every topic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.unit.test_shared_events import SAMPLE_DATA, sample
from winback_shared.events import EVENT_TYPES, Topic, parse_event
from winback_shared.events.export import export

SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"


@pytest.fixture(scope="module")
def asyncapi() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SCHEMAS / "asyncapi.yaml").read_text())
    return document


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_checked_in_schemas_match_the_models(tmp_path: Path) -> None:
    export(tmp_path)
    fresh, checked_in = _files(tmp_path), _files(SCHEMAS)
    assert sorted(fresh) == sorted(checked_in), "event types changed: run `make schemas` and commit shared/schemas"
    drifted = [name for name in fresh if fresh[name] != checked_in[name]]
    assert not drifted, f"{drifted} differ from the event models: run `make schemas` and commit shared/schemas"


def test_export_is_deterministic(tmp_path: Path) -> None:
    export(tmp_path / "a")
    export(tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_export_removes_schemas_of_vanished_types(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "order.teleported.json").write_text("{}")
    export(tmp_path)
    assert not (tmp_path / "events" / "order.teleported.json").exists()


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in _refs(item)]
    return []


def test_asyncapi_document_is_structurally_valid(asyncapi: dict[str, Any]) -> None:
    assert asyncapi["asyncapi"] == "3.0.0"
    assert {"title", "version"} <= set(asyncapi["info"])
    assert {s["protocol"] for s in asyncapi["servers"].values()} == {"kafka"}
    assert {"production", "dev"} <= set(asyncapi["servers"])
    for ref in _refs(asyncapi):
        if ref.startswith("#/"):
            assert _resolve(asyncapi, ref) is not None, ref
        else:
            assert (SCHEMAS / ref).is_file(), ref
    for name, operation in asyncapi["operations"].items():
        assert operation["action"] in {"send", "receive"}, name
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            # AsyncAPI 3: an operation's messages are a subset of its channel's messages.
            assert message["$ref"].startswith(channel_ref + "/messages/"), name


def test_every_topic_is_a_channel_keyed_by_customer_id(asyncapi: dict[str, Any]) -> None:
    channels = asyncapi["channels"]
    assert {c["address"] for c in channels.values()} == {t.value for t in Topic}
    for event_type in EVENT_TYPES:
        key = asyncapi["components"]["messages"][event_type]["bindings"]["kafka"]["key"]
        if "customer_id" in SAMPLE_DATA[event_type]:
            assert (key["type"], key["minLength"], key["maxLength"]) == ("string", 1, 128), event_type
        else:
            assert key["type"] == "null", event_type


def test_every_event_type_is_a_message_on_its_topics(asyncapi: dict[str, Any]) -> None:
    messages = asyncapi["components"]["messages"]
    assert set(EVENT_TYPES) <= set(messages)
    on_channels = {name for c in asyncapi["channels"].values() for name in c["messages"]}
    assert set(EVENT_TYPES) <= on_channels
    assert set(asyncapi["channels"][Topic.RISK.value]["messages"]) == {
        "customer.status_changed",
        "customer.risk_assessed",
    }
    assert set(asyncapi["channels"][Topic.ACTIONS.value]["messages"]) == {"action.triggered", "action.suppressed"}
    for event_type in EVENT_TYPES:
        payload = _resolve(asyncapi, messages[event_type]["payload"]["$ref"])
        assert payload == {"$ref": f"events/{event_type}.json"}


def test_each_service_sends_and_receives_what_its_contract_declares(asyncapi: dict[str, Any]) -> None:
    pairs = {
        (op["tags"][0]["name"], op["action"], op["channel"]["$ref"].rsplit("/", 1)[1])
        for op in asyncapi["operations"].values()
    }
    assert ("ingest", "receive", "winback.inbound") in pairs
    assert ("ingest", "send", "winback.events") in pairs
    assert ("ingest", "send", "winback.events.dlq") in pairs
    for service in ("risk", "consent", "campaign", "metrics"):
        assert (service, "receive", "winback.events") in pairs
    assert ("risk", "send", "winback.risk") in pairs
    assert ("consent", "send", "winback.consent") in pairs
    assert {("campaign", "send", "winback.campaign"), ("campaign", "send", "winback.actions")} <= pairs
    # Opt-out clicks enter like tool feedback; double opt-in mails are actions like any other.
    assert ("campaign", "send", "winback.inbound") in pairs
    assert ("consent", "send", "winback.actions") in pairs
    assert {("metrics", "receive", t) for t in ("winback.risk", "winback.campaign", "winback.actions")} <= pairs
    # Erasure reaches every service that keeps personal data: consent announces it on its topic.
    assert {(s, "receive", "winback.consent") for s in ("risk", "campaign", "metrics")} <= pairs
    assert {(s, "send", "winback.deadletter") for s in ("ingest", "risk", "consent", "campaign", "metrics")} <= pairs


def _schema(event_type: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / "events" / f"{event_type}.json").read_text())
    return schema


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_json_schema_accepts_a_sample_and_its_serialised_form(event_type: str) -> None:
    schema = _schema(event_type)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    raw = sample(event_type)
    validator.validate(raw)
    validator.validate(json.loads(parse_event(raw).to_json_bytes()))


@pytest.mark.parametrize("event_type", sorted(t for t in EVENT_TYPES if "customer_id" in SAMPLE_DATA[t]))
def test_json_schema_rejects_an_event_without_customer_id(event_type: str) -> None:
    raw = sample(event_type)
    del raw["data"]["customer_id"]
    with pytest.raises(jsonschema.ValidationError, match="customer_id"):
        jsonschema.validate(raw, _schema(event_type), cls=jsonschema.Draft202012Validator)


def test_json_schema_rejects_another_type_and_keeps_unknown_fields() -> None:
    schema = _schema("order.placed")
    jsonschema.validate(sample("order.placed", loyalty_points=3), schema, cls=jsonschema.Draft202012Validator)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**sample("order.placed"), "type": "order.returned"}, schema)


def test_json_schema_states_the_survey_scale() -> None:
    schema = _schema("survey.answered")
    jsonschema.validate(sample("survey.answered", survey="nps", score=0), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(sample("survey.answered", survey="csat", score=0), schema)

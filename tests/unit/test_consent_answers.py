"""The batch answer's JSON, written without a json.dumps per item, is what json.dumps gives."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from winback_consent.domain.model import Decision
from winback_consent.entrypoints.http import _answers
from winback_consent.service_layer.decisions import DecisionOutcome

AT = datetime(2026, 12, 6, 10, 0, 0, 123456, tzinfo=UTC)


def _reference(outcomes: list[DecisionOutcome]) -> list[str]:
    """The answers as json.dumps wrote them before (equal decision and time: the first text)."""
    texts: dict[tuple[Decision, datetime], str] = {}
    for o in outcomes:
        d = o.decision
        answer = {
            "allowed": d.allowed,
            "basis": d.basis,
            "reason": d.reason,
            "evidence_ids": list(d.evidence_ids),
            "decided_at": o.decided_at.isoformat(),
        }
        if d.pending:
            answer["pending"] = True
        texts.setdefault((d, o.decided_at), json.dumps(answer, separators=(",", ":")))
    return [texts[(o.decision, o.decided_at)] for o in outcomes]


texts = st.text() | st.sampled_from(["express_consent", "objection", "g-1", 'ü\u2028"\\</'])
decisions = st.builds(
    Decision,
    allowed=st.booleans(),
    basis=st.none() | texts,
    reason=st.none() | texts,
    evidence_ids=st.lists(texts, max_size=3).map(tuple),
    pending=st.booleans(),
)
instants = st.sampled_from([AT, AT + timedelta(seconds=1), AT.astimezone(timezone(timedelta(hours=2)))])


@given(st.lists(st.tuples(decisions, instants), max_size=8))
@settings(max_examples=300, deadline=None)
def test_answers_are_the_bytes_json_dumps_writes(items: list[tuple[Decision, datetime]]) -> None:
    outcomes = [DecisionOutcome(d, at) for d, at in items]
    assert _answers(outcomes) == _reference(outcomes)


def test_the_usual_answers() -> None:
    outcomes = [
        DecisionOutcome(Decision.allow("express_consent", "g1", "g2"), AT),
        DecisionOutcome(Decision.deny("objection"), AT),
        DecisionOutcome(Decision.not_yet(), AT),
        DecisionOutcome(Decision.allow("express_consent", "g1", "g2"), AT),
    ]
    assert _answers(outcomes) == _reference(outcomes)

"""Playbooks as validated data: what triggers an enrolment, who is eligible, which steps follow."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator, model_validator

from winback_campaign.domain.offers import (
    MAX_DISCOUNT_PERCENT,
    PRICE_REASONS,
    UNHAPPY_REASONS,
    is_discount,
    parse_offer,
)
from winback_campaign.domain.template_engine import convert_legacy
from winback_campaign.domain.templates import known_template, template_problem

Status = Literal["churned", "lapsed", "at_risk", "won_back"]
Channel = Literal["email", "sms", "phone", "post", "messenger"]
Kind = Literal["consumer", "business"]
Tier = Literal["A", "B", "C"]
Segment = Literal["star", "question_mark", "take_along", "loss"]
FEATURE_RELEASED = "product.feature_released"
# Why an enrolment can end early; exits cancel every pending step at once.
ExitReason = Literal[
    "won_back", "objection", "unsubscribe", "complaint", "reply", "re_churn", "superseded", "no_contact_requested"
]
DEFAULT_EXIT_ON: frozenset[str] = frozenset(
    {"won_back", "objection", "unsubscribe", "complaint", "reply", "re_churn", "superseded", "no_contact_requested"}
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _allows(allowed: frozenset[str], value: str | None) -> bool:
    return not allowed or value in allowed


class Trigger(_Model):
    """A status change (with reason, segment, tier filters) or an event whose tags match; empty sets match any."""

    status: Status | None = None
    event: Literal["product.feature_released"] | None = None
    churn_reasons: frozenset[str] = frozenset()
    segments: frozenset[Segment] = frozenset()
    value_tiers: frozenset[Tier] = frozenset()
    # For event triggers: the release's tags must share one with these (empty: any release).
    tags: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if (self.status is None) == (self.event is None):
            raise ValueError("trigger needs exactly one of 'status' or 'event'")
        return self

    def matches(self, *, status: str, churn_reason: str | None, segment: str | None, value_tier: str | None) -> bool:
        return (
            self.status is not None
            and status == self.status
            and _allows(self.churn_reasons, churn_reason)
            and _allows(self.segments, segment)
            and _allows(self.value_tiers, value_tier)
        )

    def matches_release(self, tags: Iterable[str], churn_reason: str | None) -> bool:
        return (
            self.event == FEATURE_RELEASED
            and _allows(self.churn_reasons, churn_reason)
            and (not self.tags or bool(self.tags & {t.lower() for t in tags}))
        )


class Eligibility(_Model):
    winback_eligible: bool = True
    max_enrollments_per_year: int = Field(default=2, ge=1, le=52)
    # A completed, contacted win-back without return within this many days excludes the customer.
    exclude_failed_within_days: int = Field(default=180, ge=0, le=3650)


class When(_Model):
    """Conditions on the customer a step applies to; empty sets match any."""

    value_tiers: frozenset[Tier] = frozenset()
    segments: frozenset[Segment] = frozenset()
    reasons: frozenset[str] = frozenset()
    kinds: frozenset[Kind] = frozenset()

    def applies(self, *, value_tier: str | None, segment: str | None, reason: str | None, kind: str | None) -> bool:
        return (
            _allows(self.value_tiers, value_tier)
            and _allows(self.segments, segment)
            and _allows(self.reasons, reason)
            and _allows(self.kinds, kind or "consumer")
        )


class Step(_Model):
    """One contact, `after` the trigger time; phone steps are tasks for a person."""

    step_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    after: timedelta
    channel: Channel
    template: str = Field(min_length=1, max_length=128)
    offer: str | None = Field(default=None, max_length=128)
    offer_category: str | None = Field(default=None, max_length=128)
    when: When | None = None
    assignee: Literal["account_manager", "call_centre"] | None = None

    @field_serializer("after")
    def _after(self, value: timedelta) -> str:
        return iso_duration(value)

    @model_validator(mode="after")
    def _valid(self) -> Step:
        if self.after < timedelta(0):
            raise ValueError(f"step {self.step_id}: 'after' must not be negative")
        if self.channel == "phone" and self.assignee is None:
            raise ValueError(f"step {self.step_id}: a phone step is a task for a person and needs 'assignee'")
        if self.offer is not None:
            parse_offer(self.offer)  # raises ValueError naming the problem
        return self

    def applies(self, **customer: str | None) -> bool:
        return self.when is None or self.when.applies(**customer)


class TemplateParts(_Model):
    """One language of a message: subject, plain-text body, optional HTML (Jinja2; `$name` is converted)."""

    subject: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=20_000)
    html: str | None = Field(default=None, max_length=200_000)

    @field_validator("subject", "body", "html")
    @classmethod
    def _jinja(cls, value: str | None) -> str | None:
        return None if value is None else convert_legacy(value)


@lru_cache(maxsize=1024)
def _template_problem(document: str) -> str | None:
    """Checked once per text: stored playbooks are validated again on every read."""
    return template_problem(json.loads(document))


class MessageTemplate(_Model):
    """A playbook's own template, in both languages; its name may replace a shipped one for this playbook."""

    de: TemplateParts
    en: TemplateParts

    @model_validator(mode="after")
    def _usable(self) -> MessageTemplate:
        problem = _template_problem(json.dumps(self.model_dump(exclude_none=True), sort_keys=True))
        if problem is not None:
            raise ValueError(problem)
        return self


class StepOverride(_Model):
    """What a variant changes in one step."""

    template: str | None = None
    offer: str | None = None
    channel: Channel | None = None
    after: timedelta | None = None

    @field_serializer("after")
    def _after(self, value: timedelta | None) -> str | None:
        return None if value is None else iso_duration(value)


class Variant(_Model):
    name: str = Field(min_length=1, max_length=64)
    weight: int = Field(ge=1, le=1000)
    steps: dict[str, StepOverride] = Field(default_factory=dict)


class Playbook(_Model):
    playbook_id: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: int = Field(default=1, ge=1)
    name: str = Field(min_length=1, max_length=256)
    enabled: bool = True
    priority: int = 0
    trigger: Trigger
    eligibility: Eligibility = Eligibility()
    holdout_percent: float = Field(default=10, ge=0, le=100)
    variants: tuple[Variant, ...] = ()
    steps: tuple[Step, ...] = Field(min_length=1)
    exit_on: frozenset[ExitReason] = DEFAULT_EXIT_ON  # type: ignore[assignment]
    # Templates of this playbook (name -> both languages); steps use these first, then the shipped ones.
    templates: dict[str, MessageTemplate] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Playbook:
        used = [(s.step_id, s.template) for s in self.steps] + [
            (step_id, o.template) for v in self.variants for step_id, o in v.steps.items() if o.template
        ]
        for step_id, template in used:
            if template not in self.templates and not known_template(template):
                raise ValueError(f"step {step_id}: unknown template {template!r}")
        ids = [s.step_id for s in self.steps]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate step_id in {ids}")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate variant name in {names}")
        for variant in self.variants:
            unknown = set(variant.steps) - set(ids)
            if unknown:
                raise ValueError(f"variant {variant.name!r} overrides unknown steps {sorted(unknown)}")
            for step in self.steps:
                if step.step_id in variant.steps:
                    self._check_offer(self._apply(step, variant.steps[step.step_id]))
        for step in self.steps:
            self._check_offer(step)
        self._check_relationship_first()
        return self

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.step_id == step_id), None)

    @staticmethod
    def _apply(step: Step, override: StepOverride) -> Step:
        changes = {k: v for k, v in override.model_dump(exclude_none=True).items()}
        if override.after is not None:
            changes["after"] = override.after
        return Step.model_validate({**step.model_dump(), **changes, "after": changes.get("after", step.after)})

    def steps_for(self, variant: str) -> tuple[Step, ...]:
        """The steps with the variant's overrides applied."""
        chosen = next((v for v in self.variants if v.name == variant), None)
        if chosen is None:
            return self.steps
        return tuple(self._apply(s, chosen.steps[s.step_id]) if s.step_id in chosen.steps else s for s in self.steps)

    def _reasons_of(self, step: Step) -> frozenset[str] | None:
        """The churn reasons a step can reach (None: any reason)."""
        sets = [r for r in (self.trigger.churn_reasons, step.when.reasons if step.when else frozenset()) if r]
        if not sets:
            return None
        reasons = sets[0]
        for other in sets[1:]:
            reasons = reasons & other
        return reasons

    def _check_offer(self, step: Step) -> None:
        if step.offer is None or not is_discount(step.offer):
            return
        reasons = self._reasons_of(step)
        if reasons is None or not reasons <= PRICE_REASONS:
            raise ValueError(
                f"step {step.step_id}: discount {step.offer!r} only for reasons price or budget; "
                "restrict the trigger or the step's 'when.reasons'"
            )
        if parse_offer(step.offer).percent > MAX_DISCOUNT_PERCENT:
            raise ValueError(f"step {step.step_id}: discount above the policy cap of {MAX_DISCOUNT_PERCENT} %")

    def _reaches(self, step: Step, reason: str) -> bool:
        reasons = self._reasons_of(step)
        return reasons is None or reason in reasons

    def _check_relationship_first(self) -> None:
        """Customers who left unhappy get a contact without an offer before any offer."""
        for step in self.steps:
            if step.offer is None:
                continue
            for reason in sorted(UNHAPPY_REASONS):
                if self._reaches(step, reason) and not any(
                    s.offer is None and s.after < step.after and self._reaches(s, reason) and _for_everyone(s)
                    for s in self.steps
                ):
                    raise ValueError(
                        f"step {step.step_id}: customers who left for {reason!r} need a contact without an offer first"
                    )

    @property
    def is_winback(self) -> bool:
        """Win-back playbooks (after churn or lapse) count towards the failed-win-back exclusion."""
        return self.trigger.event is not None or self.trigger.status in ("churned", "lapsed")

    def as_dict(self) -> dict[str, Any]:
        """The playbook as the API shows it (durations in ISO 8601)."""
        document: dict[str, Any] = _sorted_sets(self.model_dump(mode="json"))
        return document


def _for_everyone(step: Step) -> bool:
    """No condition but the reason: every customer of that reason gets the step."""
    w = step.when
    return w is None or not (w.value_tiers or w.kinds or w.segments)


def _sorted_sets(value: Any) -> Any:
    """JSON with every list of strings sorted (they are sets), so the output is stable."""
    if isinstance(value, dict):
        return {k: _sorted_sets(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_sorted_sets(v) for v in value]
        return sorted(items) if items and all(isinstance(i, str) for i in items) else items
    return value


def iso_duration(delta: timedelta) -> str:
    if delta.seconds == 0 and delta.microseconds == 0:
        return f"P{delta.days}D"
    hours, rest = divmod(delta.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"P{delta.days}DT{hours}H{minutes}M{seconds}S"

"""Webhook signing, retry decisions and configuration (pure)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from winback_campaign.domain.webhooks import Attempt, RetryPolicy, after_attempt, sign, signature_valid
from winback_campaign.settings import DEV_WEBHOOK_SECRET, CampaignSettings

NOW = datetime(2025, 3, 11, 10, 0, tzinfo=UTC)
POLICY = RetryPolicy(max_attempts=4, base=timedelta(seconds=2), ceiling=timedelta(seconds=5))


def test_signature_is_hmac_sha256_over_the_exact_bytes() -> None:
    body = b'{"type":"action.triggered","data":{"x":1}}'
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == expected
    assert signature_valid("s3cret", body, expected)
    assert not signature_valid("s3cret", body + b" ", expected)
    assert not signature_valid("other", body, expected)
    assert not signature_valid("s3cret", body, None)


def test_2xx_delivers() -> None:
    assert after_attempt(Attempt(204), 2, NOW, POLICY).status == "delivered"


@pytest.mark.parametrize("attempt", [Attempt(None, "ConnectError"), Attempt(503), Attempt(429), Attempt(408)])
def test_transient_failures_retry_with_exponential_backoff_capped(attempt: Attempt) -> None:
    first = after_attempt(attempt, 0, NOW, POLICY)
    second = after_attempt(attempt, 1, NOW, POLICY)
    third = after_attempt(attempt, 2, NOW, POLICY)
    assert (first.status, first.attempts, first.next_attempt_at) == ("pending", 1, NOW + timedelta(seconds=2))
    assert second.next_attempt_at == NOW + timedelta(seconds=4)
    assert third.next_attempt_at == NOW + timedelta(seconds=5)  # capped
    assert first.last_error


def test_dead_after_max_attempts_and_at_once_on_a_refusal() -> None:
    last = after_attempt(Attempt(500, "boom"), 3, NOW, POLICY)
    assert (last.status, last.attempts, last.next_attempt_at, last.last_error) == ("dead", 4, None, "HTTP 500: boom")
    refused = after_attempt(Attempt(401), 0, NOW, POLICY)
    assert (refused.status, refused.attempts, refused.last_error) == ("dead", 1, "HTTP 401")


def test_webhooks_configuration_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINBACK_WEBHOOKS", '{"email": "https://hooks.example/email", "sms": "http://sms.example/in"}')
    assert CampaignSettings().webhooks == {"email": "https://hooks.example/email", "sms": "http://sms.example/in"}
    with pytest.raises(ValidationError, match="unknown channel"):
        CampaignSettings(webhooks={"fax": "https://hooks.example"})
    with pytest.raises(ValidationError, match="not an http"):
        CampaignSettings(webhooks={"email": "ftp://hooks.example"})


def test_production_refuses_the_dev_webhook_secret() -> None:
    production: dict[str, Any] = {
        "env": "production",
        "api_keys": "a-production-key:ops",
        "opt_out_secret": "a-long-production-opt-out-secret",
        "erasure_key": "a-long-production-erasure-key",
    }
    hooks = {"email": "https://hooks.example/email"}
    with pytest.raises(ValidationError, match="WINBACK_WEBHOOK_SECRET"):
        CampaignSettings(**production, webhooks=hooks)
    with pytest.raises(ValidationError, match="WINBACK_WEBHOOK_SECRET"):
        CampaignSettings(**production, webhooks=hooks, webhook_secret="short")
    assert CampaignSettings(**production, webhooks=hooks, webhook_secret="a-long-production-secret").webhooks == hooks
    # Without webhooks the secret is never used.
    assert CampaignSettings(**production).webhook_secret == DEV_WEBHOOK_SECRET


def test_production_refuses_a_weak_opt_out_secret() -> None:
    """A known key would let anyone forge opt-out links for other customers."""
    production: dict[str, Any] = {
        "env": "production",
        "api_keys": "a-production-key:ops",
        "erasure_key": "a-long-production-erasure-key",
    }
    with pytest.raises(ValidationError, match="WINBACK_OPT_OUT_SECRET"):
        CampaignSettings(**production)
    with pytest.raises(ValidationError, match="WINBACK_OPT_OUT_SECRET"):
        CampaignSettings(**production, opt_out_secret="short")
    assert CampaignSettings(**production, opt_out_secret="a-long-production-opt-out-secret").is_production

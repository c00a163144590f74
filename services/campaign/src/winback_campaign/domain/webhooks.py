"""Signed webhooks: the signature, which answers count as delivered, and when to try again (pure)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

SIGNATURE_HEADER = "X-Winback-Signature"
# Receivers deduplicate on it: a delivery is at-least-once (a crash after the POST repeats it).
IDEMPOTENCY_HEADER = "Idempotency-Key"

# Worth another attempt: the receiver was down, overloaded or too slow. Other 4xx are refusals.
RETRYABLE_STATUS = frozenset({408, 425, 429})


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the exact body bytes>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver checks (constant-time comparison)."""
    return header is not None and hmac.compare_digest(sign(secret, body).encode(), header.encode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base: timedelta = timedelta(seconds=2)
    ceiling: timedelta = timedelta(minutes=10)

    def delay(self, attempts: int) -> timedelta:
        """Exponential: base, 2 base, 4 base ... after the 1st, 2nd, 3rd failed attempt, capped."""
        delay: timedelta = self.base * 2 ** max(attempts - 1, 0)
        return min(delay, self.ceiling)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One POST: the HTTP status, or None with the error when no answer came (connection, timeout)."""

    status_code: int | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Settled:
    """A delivery's state after an attempt."""

    status: str  # delivered | pending | dead
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


def after_attempt(attempt: Attempt, attempts_before: int, now: datetime, policy: RetryPolicy) -> Settled:
    """2xx delivers; no answer, 5xx, 408/425/429 retry with backoff until `max_attempts`; other codes are refused."""
    attempts = attempts_before + 1
    code = attempt.status_code
    if code is not None and 200 <= code < 300:
        return Settled("delivered", attempts, None, None)
    error = attempt.error if code is None else f"HTTP {code}" + (f": {attempt.error}" if attempt.error else "")
    retryable = code is None or code >= 500 or code in RETRYABLE_STATUS
    if not retryable or attempts >= policy.max_attempts:
        return Settled("dead", attempts, None, error)
    return Settled("pending", attempts, now + policy.delay(attempts), error)

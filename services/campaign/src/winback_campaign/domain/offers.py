"""Offers a step may make: discounts only for price or budget leavers, capped; otherwise non-price offers."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Policy default: a win-back discount is a limited introductory rate of at most this much, never
# better than the best offer for new or loyal customers (which is configured no higher).
MAX_DISCOUNT_PERCENT = 20
PRICE_REASONS = frozenset({"price", "budget"})
# Left unhappy: relationship contact (apology, what changed) comes before any offer.
UNHAPPY_REASONS = frozenset({"service", "quality", "disappointed", "neglected"})
# The non-price offers and the reasons they answer.
NON_PRICE_OFFERS = {
    "extended_trial": "a longer free trial",
    "dedicated_onboarding": "dedicated onboarding",
    "migration_help": "help moving your data back",
    "money_back_guarantee": "a money-back guarantee",
    "success_plan": "a success plan with regular check-ins",
}
_DISCOUNT = re.compile(r"^discount_(\d{1,3})$")


@dataclass(frozen=True, slots=True)
class Offer:
    name: str
    percent: int = 0


def is_discount(name: str) -> bool:
    return bool(_DISCOUNT.match(name))


def parse_offer(name: str) -> Offer:
    """`discount_<percent>` or one of the non-price offers; ValueError names the problem."""
    match = _DISCOUNT.match(name)
    if match:
        percent = int(match.group(1))
        if not 1 <= percent <= 100:
            raise ValueError(f"offer {name!r}: discount percent must be 1-100")
        return Offer(name, percent)
    if name in NON_PRICE_OFFERS:
        return Offer(name)
    raise ValueError(f"unknown offer {name!r}; use discount_<percent> or one of {sorted(NON_PRICE_OFFERS)}")

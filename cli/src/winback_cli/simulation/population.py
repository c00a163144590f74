"""Who the customers are: drawn once per customer from its own seeded stream."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from winback_cli.simulation import texts
from winback_cli.simulation.params import SimParams

CATEGORIES = ("subscription", "hardware", "accessories", "services")


@dataclass
class Customer:
    """A customer's lasting traits (a life's random draws live in `lifecycle.Life`)."""

    customer_id: str
    index: int
    kind: Literal["consumer", "business"]
    contract: bool  # a subscription/contract customer; else a shop buyer
    joined: float  # days since the start
    language: str
    name: str
    email: str
    phone: str
    city: tuple[str, str]
    purchase_rate: float  # per day (shop buyers)
    dropout_rate: float  # per day before driver factors (shop: Pareto/NBD mu; contract: cancellation hazard)
    monthly_value: float
    usage_baseline: float
    wishes: tuple[str, ...]
    category: str
    rng: random.Random = field(repr=False)


def customer_id_of(index: int) -> str:
    """The simulated customer id of the n-th customer (`sim-000042`)."""
    return f"sim-{index:06d}"


def draw_customer(index: int, seed: int, params: SimParams) -> Customer:
    """One customer from its own stream `seed:index`, so adding customers never changes the others."""
    rng = random.Random(f"{seed}:{index}")
    kind: Literal["consumer", "business"] = "business" if rng.random() < params.business_share else "consumer"
    contract_share = params.contract_share_business if kind == "business" else params.contract_share_consumer
    contract = rng.random() < contract_share
    language = "de" if rng.random() < params.german_share else "en"
    name = texts.company_name(rng) if kind == "business" else texts.person_name(rng)
    cid = customer_id_of(index)
    if contract:
        low, high = params.monthly_value_business if kind == "business" else params.monthly_value_consumer
        # Log-uniform: many small contracts, a few large ones.
        monthly = round(low * (high / low) ** rng.random(), 2)
        dropout = params.cancel_hazard_per_month / 30.4375
    else:
        monthly = 0.0
        dropout = rng.gammavariate(params.dropout_rate_shape, 1.0 / params.dropout_rate_scale_days)
    wishes = (rng.choice(params.feature_tags),) if rng.random() < params.wish_probability else ()
    return Customer(
        customer_id=cid,
        index=index,
        kind=kind,
        contract=contract,
        joined=rng.uniform(0.0, params.join_window_days),
        language=language,
        name=name,
        email=f"{cid}@example.com",
        phone=f"+4930{index:08d}",
        city=rng.choice(texts.CITIES),
        purchase_rate=rng.gammavariate(params.purchase_rate_shape, 1.0 / params.purchase_rate_scale_days),
        dropout_rate=dropout,
        monthly_value=monthly,
        usage_baseline=rng.uniform(*params.usage_baseline),
        wishes=wishes,
        category="subscription" if contract else rng.choice(CATEGORIES[1:]),
        rng=rng,
    )

"""A young shop with eight customers: too little data for a model, yet decisions that make sense.

Issue 13, finding 4: on a base of 8 customers a fit stored alpha 3e5, p 2e12 and tier cut-offs of
1e-21 as if they were a model, so every customer was tier A. A shop that has just started must
get the documented prior instead, said so by `GET /v1/model`, and value tiers that still rank its
customers by what they are worth. This module runs its own system (broker, database, the five
services, shipped playbooks), because the other scenarios need a large, fitted base.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.scenarios.conftest import ALL, PRODUCTION_CONSUMERS
from tests.support.histories import MONTH, Customer, days, months
from tests.support.infra import create_database, kafka_broker
from tests.support.services import running_services
from tests.support.world import ADMIN, World

pytestmark = pytest.mark.scenario

# The published CDNOW Pareto/NBD estimates in days (risk README, "When a fit is not a model").
PRIOR = {"r": 0.553, "alpha": 10.578 * 7, "s": 0.606, "beta": 11.669 * 7}


def young_shop() -> list[Customer]:
    """Six monthly buyers of 25-60 EUR for half a year, one who bought once, one business on contract."""
    buyers = [
        Customer(f"young-{i}").with_profile(name=f"Kunde {i}").ordered(25 + 7 * i, times=6, last=days(3 + i))
        for i in range(6)
    ]
    once = Customer("young-once").with_profile(name="Einmal Kaeufer").ordered(19.90, last=months(2))
    return [*buyers, once]


@pytest.fixture(scope="module")
def shop(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    logs = Path(tmp_path_factory.mktemp("young-shop-logs"))
    database_url = create_database(postgres_url)
    with (
        kafka_broker() as bootstrap,
        running_services(
            ALL, bootstrap=bootstrap, database_url=database_url, log_dir=logs, extra=PRODUCTION_CONSUMERS
        ) as running,
    ):
        world = World({name: process.url for name, process in running.items()}, bootstrap)
        try:
            world.play_many(young_shop())
            yield world
        finally:
            world.close()


def test_eight_customers_get_the_documented_prior_and_tiers_that_rank_them(shop: World):
    """The shop's eighth customer, a business on a 900 EUR/month contract, cancels over its budget.

    The fit says it cannot carry a model (too few customers) and serves the prior; the tier
    cut-offs are at least one typical order, not 1e-21, so the small buyers are not all A. The
    business that paid 7,200 EUR in contract fees and ordered on top is the most valuable
    relationship of this shop: tier A. A budget cancellation is situational, so the
    situation-changed playbook: the e-mail after five weeks, the account manager's call, a letter,
    the capped budget offer, and a reminder when next year's budget is planned.
    """
    model = shop.fit_model()
    assert (model["basis"], model["reason"]) == ("prior", "too_few_customers")
    purchases = model["parameters"]["purchases"]
    assert {k: round(purchases[k], 3) for k in PRIOR} == {k: round(v, 3) for k, v in PRIOR.items()}
    cut_a, cut_b = model["parameters"]["tier_cutoffs"]
    assert cut_a >= 25 and cut_a >= cut_b > 0

    werk = (
        Customer("young-werk", kind="business")
        .with_profile(name="Werkstatt Nord GmbH", account_manager="Petra Klein")
        .ordered(400, every=MONTH, times=8, last=days(10))
        .contract(900, started=months(8))
        .cancels("budget")
    )
    shop.play(werk)

    decision = shop.decision("young-werk")
    assert decision.status == "churned"
    assert decision.revenue == Decimal("3200.00") + Decimal("7200.00")
    assert decision.tier == "A"
    assert decision.playbook == "situation-changed"
    assert [(s.step_id, s.channel, s.assignee, s.offer) for s in decision.steps] == [
        ("hello", "email", None, None),
        ("call", "phone", "account_manager", None),
        ("letter", "post", None, None),
        ("offer", "email", None, "discount_20"),
        ("budget-cycle", "email", None, "discount_20"),
    ]
    # The smallest monthly buyer (25 EUR) and the one-time buyer are C; the largest (60 EUR) is A.
    tiers = {c: shop.customer(c)["value"]["value_tier"] for c in ("young-0", "young-5", "young-once")}
    assert tiers == {"young-0": "C", "young-5": "A", "young-once": "C"}
    assert shop.client.get(f"{shop.urls['risk']}/v1/model", headers=ADMIN).json()["basis"] == "prior"

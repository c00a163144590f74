"""A background population, generated deterministically, against which value tiers and segments rank.

Three hundred customers of a mixed shop and subscription business: buyers with their own rhythms
(weekly to quarterly) and basket sizes, some of whom stopped buying months or years ago; one-time
buyers; businesses with monthly contracts, some cancelled long ago; tickets and surveys here and
there. Everything lies at least two weeks before the moment, outside campaign's replay window, so
the base is scored and ranked but enrols nobody by its history alone.
"""

from __future__ import annotations

import random

from tests.support.histories import Customer, days

REASONS = ("price", "budget", "competitor", "service", "no_need", "moved")


def background(size: int = 300, seed: int = 13) -> list[Customer]:
    """`size` customers; the same seed gives the same histories."""
    rng = random.Random(seed)
    return [_customer(rng, i) for i in range(size)]


def _customer(rng: random.Random, i: int) -> Customer:
    business = rng.random() < 0.15
    customer = Customer(f"bg-{i:04d}", kind="business" if business else "consumer").with_profile(name=f"Kunde {i}")
    # Lognormal basket: most baskets 30-150 EUR, a long tail; businesses buy bigger. Each order varies
    # by up to 40 % around the customer's basket, so the spend model has something to fit.
    basket = round(rng.lognormvariate(4.2, 0.7) * (8 if business else 1), 2)
    if rng.random() < 0.3:
        customer.ordered(basket, times=1, last=days(rng.uniform(14, 700)), spread=0.4)
    else:
        every = days(rng.choice((7, 14, 30, 45, 60, 90)))
        times = rng.randint(2, 24)
        # Most are still buying; about a third stopped some time ago (drop-outs the model can learn from).
        silent = rng.uniform(14, 40) if rng.random() < 0.65 else rng.uniform(120, 600)
        customer.ordered(basket, every=every, times=times, last=days(silent), spread=0.4)
    if business and rng.random() < 0.7:
        started = days(rng.uniform(200, 900))
        customer.contract(round(rng.uniform(100, 3000), -1), started=started)
        if rng.random() < 0.3:
            customer.cancels(rng.choice(REASONS), ago=days(rng.uniform(30, 180)))
    if rng.random() < 0.1:
        customer.ticket(rng.choice(("complaint", "technical", "billing")), opened=days(rng.uniform(20, 200)))
    if rng.random() < 0.15:
        customer.survey("nps", rng.randint(0, 10), ago=days(rng.uniform(15, 300)))
    return customer

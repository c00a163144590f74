"""Every parameter of the simulated business, with its default (README: "The simulated business").

Rates are per day unless the name says otherwise. Hazard factors multiply a base hazard while the
driver is present. Lifts multiply the return (or next-purchase) hazard while a contact works.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Reason codes of spec/events.md that a customer chooses when leaving (the company-side endings
# company_initiated, insolvency and fraud have hazards of their own below).
VOLUNTARY_REASON_SHARES: dict[str, float] = {
    "price": 0.20,
    "budget": 0.10,
    "competitor": 0.14,
    "feature_gap": 0.08,
    "quality": 0.08,
    "service": 0.08,
    "low_usage": 0.09,
    "moved": 0.05,
    "life_change": 0.06,
    "no_need": 0.07,
    "other": 0.05,
}

# Probability of ever coming back without any contact, by reason (base return hazard: b * exp(-t/D),
# so P(return within t) = 1 - exp(-b*D*(1 - exp(-t/D))) and b = -ln(1 - p) / D).
RETURN_EVER_PROBABILITY: dict[str, float] = {
    "price": 0.30,
    "budget": 0.35,
    "competitor": 0.15,
    "feature_gap": 0.20,
    "quality": 0.10,
    "service": 0.18,
    "low_usage": 0.08,
    "moved": 0.05,
    "life_change": 0.15,
    "no_need": 0.06,
    "other": 0.12,
    "company_initiated": 0.03,
    "insolvency": 0.0,
    "fraud": 0.0,
}

# Lift of one contact on the return hazard, by channel, while the contact works.
CHANNEL_LIFT: dict[str, float] = {
    "email": 2.5,
    "sms": 2.5,
    "messenger": 2.5,
    "phone": 5.0,
    "fax": 1.5,
    "automated_call": 1.5,
    "post": 3.0,
}

# Offers (and, without an offer, templates) that answer a churn reason.
ANSWERS: dict[str, tuple[str, ...]] = {
    "price": ("discount_15", "discount_20"),
    "budget": ("discount_15", "discount_20"),
    "competitor": ("migration_help",),
    "feature_gap": ("we_built_it", "whats_new", "dedicated_onboarding"),
    "quality": ("money_back_guarantee",),
    "service": ("money_back_guarantee", "dedicated_onboarding"),
    "low_usage": ("dedicated_onboarding", "extended_trial"),
    "moved": ("extended_trial",),
    "life_change": ("extended_trial",),
    "no_need": ("extended_trial",),
}

# Timing windows (days after churn) in which a contact lands best, by reason (spec/campaign.md).
TIMING_WINDOWS: dict[str, tuple[tuple[float, float], ...]] = {
    "price": ((0, 7),),
    "service": ((0, 7),),
    "budget": ((30, 60), (335, 395)),
    "moved": ((30, 60),),
    "life_change": ((30, 60),),
    "no_need": ((30, 60),),
    "competitor": ((75, 120),),
    "feature_gap": ((150, 210),),
}

# Hazard factors of the early-warning drivers on the hazard of leaving (the truth risk's drivers should find).
HAZARD_FACTORS: dict[str, float] = {
    "complaint": 2.0,
    "ticket_unresolved": 1.6,
    "nps_detractor": 1.8,
    "csat_low": 1.5,
    "falling_usage": 2.5,
}

# Rate (per day, per customer life) at which each driver first appears.
DRIVER_RATES: dict[str, float] = {
    "complaint": 1 / 900,
    "ticket_unresolved": 1 / 1500,
    "nps_detractor": 1 / 1000,
    "csat_low": 1 / 1500,
    "falling_usage": 1 / 1200,
}

# Reasons a driver makes likelier (weights multiply the base shares when the driver is present).
DRIVER_REASON_WEIGHTS: dict[str, dict[str, float]] = {
    "complaint": {"service": 3.0, "quality": 3.0},
    "ticket_unresolved": {"service": 3.0},
    "nps_detractor": {"quality": 2.0, "competitor": 1.5},
    "csat_low": {"service": 2.0},
    "falling_usage": {"low_usage": 4.0, "no_need": 2.0},
}

FEATURE_TAGS: tuple[str, ...] = ("api", "sso", "datev-export", "mobile-app", "multi-currency", "offline-mode")

# Feature releases: (day offset from the start, feature name, tags).
FEATURE_RELEASES: tuple[tuple[int, str, tuple[str, ...]], ...] = (
    (120, "Public REST API", ("api",)),
    (240, "Single sign-on (SAML, OIDC)", ("sso",)),
    (330, "DATEV export", ("datev-export",)),
    (500, "Mobile app", ("mobile-app",)),
)


@dataclass(frozen=True)
class SimParams:
    """Every stated parameter of the simulated business's models; `as_dict()` goes into truth.json."""

    # Population
    business_share: float = 0.25
    contract_share_consumer: float = 0.30
    contract_share_business: float = 0.70
    join_window_days: int = 90  # customers join in the first days of the run (history for risk to learn)
    german_share: float = 0.7

    # Shop buyers: Pareto/NBD-like buy-till-you-die process.
    purchase_rate_shape: float = 1.2  # r of gamma(r, alpha) purchase rates per day
    purchase_rate_scale_days: float = 40.0  # alpha: mean rate r / alpha = one order per ~33 days
    dropout_rate_shape: float = 1.0  # s of gamma(s, beta) drop-out rates per day
    dropout_rate_scale_days: float = 300.0  # beta: mean drop-out hazard s / beta
    order_amount_shape: float = 4.0  # gamma spend per order (EUR)
    order_amount_mean: float = 80.0
    margin_share: float = 0.35
    order_return_probability: float = 0.05
    # Contract payments carry no cost in this business: all margin (metrics' WINBACK_CONTRACT_MARGIN_RATE=1).
    contract_margin_share: float = 1.0

    # Contract customers
    monthly_value_consumer: tuple[float, float] = (9.0, 49.0)
    monthly_value_business: tuple[float, float] = (49.0, 990.0)
    contract_months: int = 12
    cancel_hazard_per_month: float = 0.025  # base hazard of giving notice
    notice_days: tuple[int, int] = (30, 90)
    usage_baseline: tuple[float, float] = (20.0, 200.0)  # logins per month
    usage_decline_per_month: float = 0.25  # share lost per month once usage falls
    company_initiated_hazard_per_year: float = 0.01
    insolvency_hazard_per_year: float = 0.015  # businesses only
    fraud_hazard_per_year: float = 0.002
    no_contact_requested_probability: float = 0.06

    # Early-warning drivers and the true hazard factors they carry
    hazard_factors: dict[str, float] = field(default_factory=lambda: dict(HAZARD_FACTORS))
    driver_rates: dict[str, float] = field(default_factory=lambda: dict(DRIVER_RATES))
    driver_reason_weights: dict[str, dict[str, float]] = field(default_factory=lambda: dict(DRIVER_REASON_WEIGHTS))
    at_risk_factor_threshold: float = 2.0  # truly at risk: alive with drivers multiplying the hazard by this
    noise_ticket_rate: float = 1 / 200  # technical/billing tickets that carry no hazard
    survey_rate: float = 1 / 120  # NPS or CSAT answers of customers without a driver

    # Why they leave
    reason_shares: dict[str, float] = field(default_factory=lambda: dict(VOLUNTARY_REASON_SHARES))
    wish_probability: float = 0.25  # a customer wants a feature tag
    feature_gap_weight_with_wish: float = 4.0
    feature_tags: tuple[str, ...] = FEATURE_TAGS
    feature_releases: tuple[tuple[int, str, tuple[str, ...]], ...] = FEATURE_RELEASES

    # Returns after churn: base hazard b(reason) * exp(-t / D), t = days since churn
    return_ever_probability: dict[str, float] = field(default_factory=lambda: dict(RETURN_EVER_PROBABILITY))
    return_decay_days: float = 150.0
    feature_release_lift: float = 3.0  # on feature-gap leavers whose wish shipped
    # Lift of a contact: channel * (answers the reason ? answer : 1) * (in timing window ? window : 1)
    channel_lift: dict[str, float] = field(default_factory=lambda: dict(CHANNEL_LIFT))
    answer_lift: float = 1.5
    window_lift: float = 1.4
    effect_scale: float = 1.0  # lift used = 1 + effect_scale * (lift - 1); 0 makes contacts useless
    contact_effect_days: float = 45.0  # a contact works for this many days from the day after it
    answers: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(ANSWERS))
    timing_windows: dict[str, tuple[tuple[float, float], ...]] = field(default_factory=lambda: dict(TIMING_WINDOWS))

    # Responses of the campaign tool, per triggered action
    delivery_probability: float = 0.97
    open_probability: float = 0.45
    click_probability: float = 0.15  # of opened
    reply_probability: float = 0.03
    unsubscribe_probability: float = 0.02
    complaint_probability: float = 0.003
    phone_reached_probability: float = 0.55
    doi_confirm_probability: float = 0.7

    # Consents
    email_express_probability: float = 0.45  # web form then DOI
    doi_confirmed_probability: float = 0.75  # the rest stay pending
    doi_confirm_delay_hours: tuple[float, float] = (0.05, 48.0)
    existing_customer_notice_probability: float = 0.55  # of those without express e-mail consent
    phone_express_probability_consumer: float = 0.15  # recorded call or written, with a text version
    phone_express_probability_business: float = 0.2
    presumed_b2b_probability: float = 0.6  # businesses with facts on file
    sms_express_probability: float = 0.08
    objection_rate: float = 1 / 4000  # objections out of the blue (per day)
    revoke_rate: float = 1 / 6000
    erasure_rate: float = 1 / 40000

    def as_dict(self) -> dict[str, Any]:
        """Every parameter as JSON-ready data (tuples become lists)."""
        answer: dict[str, Any] = _jsonable(asdict(self))
        return answer


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value

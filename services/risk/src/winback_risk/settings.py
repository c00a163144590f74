"""Risk configuration (environment prefix WINBACK_)."""

from decimal import Decimal
from typing import Literal

from pydantic import Field

from winback_risk.domain.model.limits import FitRules
from winback_risk.domain.scoring import RiskConfig
from winback_shared.settings import PersonalDataSettings


class RiskSettings(PersonalDataSettings):
    service_name: str = "risk"
    port: int = 8002
    consumer_group: str = "winback-risk"
    event_source: str = "/winback/risk"
    default_horizon_days: int = 90
    # Per-batch costs (one transaction, one statement per table, one scoring pass) dominate
    # small batches; bigger batches also assess a customer once for several of their events
    # (20,000 vs 5,000 in a backlog: 10-25 % less CPU per event, bench/risk/README.md round 4).
    consumer_max_records: int = 20_000
    # Room for those 20,000 records in one fetch of a partition (an order event is 300-450 bytes):
    # with the default 1 MiB a backlog came in polls of about 3,700 records (bench/risk/consume.py's
    # `applied_by_first_batch`), and a customer was assessed again in every one of them.
    consumer_max_partition_fetch_bytes: int = 16 * 1_048_576
    # Consumers (asyncio tasks, one group) in this process: one's Python overlaps another's database wait.
    consumer_tasks: int = Field(2, ge=1, le=16)
    # Processes of the instance that consume (each with `consumer_tasks` tasks): folding and
    # scoring are Python, one process uses one core. 1: only the HTTP process consumes.
    # Outside production, POST /v1/clock moves the HTTP process's clock only: keep 1 for
    # demos and tests that move time (events then carry their own times; the rest follows).
    consumer_processes: int = Field(1, ge=1, le=16)
    # Scheduled work, measured on the injected clock.
    model_refit_interval_s: float = 86_400.0
    # How often to check whether a refit is due (and to retry while too few customers exist to fit).
    model_poll_s: float = 60.0
    assess_interval_s: float = 900.0
    assess_page_size: int = 2_000
    # Minimum data for a fit of the population model; below it the documented priors stand in
    # (README "Model"). A drop-out is a repeat buyer silent for `dropout_silence_ratio` x their interval.
    model_min_customers: int = Field(30, ge=1)
    model_min_repeat_customers: int = Field(10, ge=1)
    model_min_dropouts: int = Field(3, ge=0)
    model_dropout_silence_ratio: float = Field(3.0, gt=0)
    # Value per order for CLV: contribution margin when orders carry one, else revenue.
    clv_basis: Literal["margin", "revenue"] = "margin"
    # predicted_clv_12m quantiles: A at or above the first, B at or above the second, C below.
    value_tier_quantiles: tuple[float, float] = (0.8, 0.5)
    at_risk_score: float = 0.5
    lapsed_overdue_ratio: float = 2.0
    lapsed_min_occasions: int = 2
    churn_p_alive: float = 0.1
    churn_min_days: float = 365.0
    risk_assessed_min_change: float = 0.1
    segment_probability: float = 0.3
    segment_high_tiers: str = "AB"
    # Share of a contract payment counted as contribution margin (contract events carry no cost).
    contract_margin_rate: Decimal = Field(Decimal(1), ge=0, le=1)

    def fit_rules(self) -> FitRules:
        return FitRules(
            min_customers=self.model_min_customers,
            min_repeat_customers=self.model_min_repeat_customers,
            min_dropouts=self.model_min_dropouts,
            dropout_silence_ratio=self.model_dropout_silence_ratio,
        )

    def risk_config(self) -> RiskConfig:
        return RiskConfig(
            at_risk_score=self.at_risk_score,
            lapsed_overdue_ratio=self.lapsed_overdue_ratio,
            lapsed_min_occasions=self.lapsed_min_occasions,
            churn_p_alive=self.churn_p_alive,
            churn_min_days=self.churn_min_days,
            material_change=self.risk_assessed_min_change,
            segment_probability=self.segment_probability,
            segment_high_tiers=self.segment_high_tiers,
            contract_margin_rate=self.contract_margin_rate,
        )

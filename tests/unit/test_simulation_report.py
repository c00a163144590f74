"""The simulation report's checks decide, on figures a wrong estimator or a wrong decision would give."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from winback_cli.simulation.driver import add_months
from winback_cli.simulation.observed import Observed
from winback_cli.simulation.report import detection, law, uplift_acceptable, uplift_comparison

T0 = datetime(2027, 1, 1, tzinfo=UTC)
# A run where consent suppresses the customers who would have come back anyway least often:
# intent-to-treat (enrolled, not held out) 0.20 vs holdout 0.10, true effect 0.10; the contacted
# customers return at 0.30, so contacted minus holdout says 0.20.
KPI_UPLIFT = {
    "overall": {
        "uplift": 0.095,
        "ci_low": 0.04,
        "ci_high": 0.15,
        "contacted_rate": 0.30,
        "holdout_rate": 0.10,
        "treated": 900,
        "holdout": 100,
    },
    "by_playbook": {"quick-fix": {"uplift": 0.02, "ci_low": -0.08, "ci_high": 0.12}},
}
TRUTH_UPLIFT = {"overall": {"true": 0.10}, "by_playbook": {"quick-fix": {"true": 0.05}}}


def test_the_intent_to_treat_estimate_passes_and_the_contacted_vs_holdout_figure_fails():
    report = uplift_comparison(KPI_UPLIFT, TRUTH_UPLIFT)
    overall = report["overall"]
    assert overall["covered"] is True
    assert round(overall["error"], 3) == -0.005
    assert uplift_acceptable(overall, max_error=0.05)
    # The biased estimator on the same run, with the same interval width around it.
    biased = overall["contacted_minus_holdout"]
    assert round(biased, 3) == 0.2
    width = overall["ci_high"] - overall["ci_low"]
    biased_check = {"covered": biased - width / 2 <= 0.10 <= biased + width / 2, "error": biased - 0.10}
    assert not uplift_acceptable(biased_check, max_error=0.05)


def test_per_playbook_rows_pair_each_answer_with_its_truth():
    row = uplift_comparison(KPI_UPLIFT, TRUTH_UPLIFT)["by_playbook"]["quick-fix"]
    assert (row["estimate"], row["true"], row["covered"]) == (0.02, 0.05, True)


def test_an_interval_that_misses_the_truth_is_not_acceptable_however_close():
    check = uplift_comparison({"overall": {"uplift": 0.09, "ci_low": 0.085, "ci_high": 0.095}}, TRUTH_UPLIFT)
    assert check["overall"]["covered"] is False
    assert not uplift_acceptable(check["overall"], max_error=0.05)


def _observed(*events: dict) -> Observed:
    observed = Observed()
    for e in events:
        observed.record(e)
    return observed


def _action(customer: str, channel: str, at: datetime, status: str = "triggered") -> dict:
    data = {"customer_id": customer, "channel": channel, "action_id": f"a-{customer}", "playbook_id": "quick-fix"}
    return {"type": f"action.{status}", "time": at.isoformat(), "data": data}


def test_law_counts_a_contact_without_basis_and_one_after_an_objection_and_passes_the_rest():
    observed = _observed(
        _action("ok", "email", T0),
        _action("never", "email", T0),
        _action("objector", "email", T0 + timedelta(days=3)),
        _action("objector-before", "email", T0 - timedelta(days=3)),
        _action("suppressed", "email", T0, status="suppressed"),
        _action("letters-objector", "email", T0 + timedelta(days=3)),
    )
    objected_at = T0

    def basis(customer: str, channel: str, at: datetime) -> str | None:
        if customer == "ok":
            return "express"
        if customer.startswith("objector"):
            return None if at >= objected_at else "express"
        return None

    truth = {
        "consents": {
            "objector": [{"at": objected_at.isoformat(), "what": "objection", "channel": "all"}],
            # An objection to letters does not make an e-mail without basis one "after an objection".
            "letters-objector": [{"at": objected_at.isoformat(), "what": "objection", "channel": "post"}],
        }
    }
    result = law(observed, basis, truth)
    assert (result["checked"], result["without_basis"], result["after_objection"]) == (5, 2, 1)
    assert {(v["customer_id"], v["kind"]) for v in result["violations"]} == {
        ("never", "without_basis"),
        ("letters-objector", "without_basis"),
        ("objector", "after_objection"),
    }


def _flag(customer: str, to: str, at: datetime) -> dict:
    return {"type": "customer.status_changed", "data": {"customer_id": customer, "to": to, "at": at.isoformat()}}


def test_detection_measures_days_to_flag_and_lapsed_precision_and_recall_at_the_end():
    truth = {
        "dropouts": {
            "a": T0.isoformat(),
            "b": T0.isoformat(),
            "c": (T0 + timedelta(days=10)).isoformat(),
            "d": (T0 + timedelta(days=10)).isoformat(),
        }
    }
    observed = _observed(
        _flag("a", "lapsed", T0 + timedelta(days=30)),
        _flag("b", "churned", T0 + timedelta(days=50)),
        _flag("z", "lapsed", T0 + timedelta(days=40)),  # never dropped out: a false alarm
        _flag("c", "lapsed", T0 + timedelta(days=5)),  # already lapsed when it truly left: found at once
        _flag("d", "lapsed", T0 + timedelta(days=5)),
        _flag("d", "active", T0 + timedelta(days=8)),  # bought again, then left: never flagged since
    )
    final = [
        {"customer_id": "a", "status": "lapsed"},
        {"customer_id": "b", "status": "churned"},
        {"customer_id": "z", "status": "lapsed"},
        {"customer_id": "c", "status": "lapsed"},
        {"customer_id": "d", "status": "active"},
    ]
    found = detection(truth, observed, end=T0 + timedelta(days=200), customers=final)
    assert found["days_to_flag"]["n"] == 3
    assert found["days_to_flag"]["median"] == 30.0
    assert found["never_flagged"] == 1
    lapsed = found["lapsed"]
    assert (lapsed["flagged"], lapsed["true_positive"]) == (3, 2)
    assert lapsed["recall"] == 3 / 4


def test_add_months_keeps_the_day_or_takes_the_months_last():
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert add_months(date(2026, 12, 6), 18) == date(2028, 6, 6)

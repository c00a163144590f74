"""What metrics reads: the source of its subscription and of the generated AsyncAPI document."""

from winback_shared.events.contract import ServiceContract
from winback_shared.events.topics import Topic

CONTRACT = ServiceContract(
    "metrics",
    group_id="winback-metrics",
    consumes={
        Topic.EVENTS: (
            "campaign.response",
            "contract.cancelled",
            "contract.renewed",
            "contract.started",
            "order.placed",
            "order.returned",
            "survey.answered",
        ),
        Topic.RISK: ("customer.risk_assessed", "customer.status_changed"),
        Topic.CAMPAIGN: ("campaign.enrolled", "campaign.exited"),
        Topic.ACTIONS: ("action.suppressed", "action.triggered"),
        # Only `customer.erased` (consent.changed is not measured): the person is pseudonymised.
        Topic.CONSENT: ("customer.erased",),
    },
)

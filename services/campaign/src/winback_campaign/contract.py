"""What campaign reads and writes: the source of its subscription, its outbox topics and the AsyncAPI document."""

from winback_shared.events.contract import ServiceContract
from winback_shared.events.topics import Topic

CONTRACT = ServiceContract(
    "campaign",
    group_id="winback-campaign",
    consumes={
        Topic.RISK: ("customer.status_changed",),
        Topic.EVENTS: (
            "campaign.response",
            "contact.objected",
            "contract.cancelled",
            "customer.upserted",
            "order.placed",
            "product.feature_released",
        ),
        Topic.CONSENT: ("consent.changed", "customer.erased"),
    },
    produces={
        Topic.CAMPAIGN: ("campaign.enrolled", "campaign.exited"),
        Topic.ACTIONS: ("action.suppressed", "action.triggered"),
        # An opt-out link clicked is feedback like a tool's: it enters through ingest as other systems' events do.
        Topic.INBOUND: ("campaign.response", "contact.objected"),
    },
)

"""What consent reads and writes: the source of its subscription, its outbox topics and the AsyncAPI document."""

from winback_shared.events.contract import ServiceContract
from winback_shared.events.topics import Topic

CONTRACT = ServiceContract(
    "consent",
    group_id="winback-consent",
    consumes={
        Topic.EVENTS: (
            "campaign.response",
            "consent.granted",
            "consent.revoked",
            "contact.objected",
            "contract.cancelled",
            "contract.renewed",
            "contract.started",
            "customer.upserted",
            "order.placed",
        ),
    },
    produces={
        Topic.CONSENT: ("consent.changed", "customer.erased"),
        # Double opt-in confirmations are actions a campaign tool sends like any other.
        Topic.ACTIONS: ("action.triggered",),
    },
)

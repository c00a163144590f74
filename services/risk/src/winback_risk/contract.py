"""What risk reads and writes: the source of its subscription, its outbox topics and the AsyncAPI document."""

from winback_shared.events.contract import INBOUND, ServiceContract
from winback_shared.events.topics import Topic

CONTRACT = ServiceContract(
    "risk",
    group_id="winback-risk",
    # Every customer event is activity (first and last seen); orders, tickets, usage, surveys and
    # responses are also drivers.
    # winback.consent only for `customer.erased`: an erased customer's state and facts go.
    consumes={Topic.EVENTS: INBOUND, Topic.CONSENT: ("customer.erased",)},
    produces={Topic.RISK: ("customer.risk_assessed", "customer.status_changed")},
)

"""What ingest reads and writes: the source of its subscription and of the generated AsyncAPI document."""

from winback_shared.events.contract import INBOUND, ServiceContract
from winback_shared.events.topics import Topic

CONTRACT = ServiceContract(
    "ingest",
    group_id="winback-ingest",
    consumes={Topic.INBOUND: INBOUND},
    # Refused records go to the DLQ as they came; accepted ones are forwarded unchanged.
    produces={Topic.EVENTS: INBOUND, Topic.EVENTS_DLQ: ()},
)

"""What a campaign tool reports back about one contact, drawn from a stream keyed by the contact.

The key names the customer, the enrolment's ordinal, the template, the channel and the occurrence,
never an action id (campaign makes those), so the same contact gets the same answer in a repeated
run and in the counterfactual world of a held-out customer (common random numbers).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from winback_cli.simulation.params import SimParams

# Minutes after the action at which each outcome is reported.
_DELAY_MINUTES = {
    "delivered": (1, 10),
    "bounced": (1, 30),
    "opened": (20, 2880),
    "clicked": (1, 60),  # after the open
    "replied": (60, 4320),
    "unsubscribed": (1, 120),  # after the open
    "complained": (1, 120),
    "reached": (0, 5),
    "not_reached": (0, 5),
}


@dataclass(frozen=True, slots=True)
class Response:
    """The outcomes in time order (minutes after the action), and whether the contact got through."""

    outcomes: tuple[tuple[str, float], ...]
    got_through: bool

    @property
    def objected(self) -> bool:
        return any(o in ("unsubscribed", "complained") for o, _ in self.outcomes)

    @property
    def replied(self) -> bool:
        return any(o == "replied" for o, _ in self.outcomes)


def response_stream(seed: int, customer_id: str, ordinal: int, template: str, channel: str, k: int) -> random.Random:
    """The stream of the k-th contact with this template and channel in the customer's n-th enrolment."""
    return random.Random(f"{seed}:response:{customer_id}:{ordinal}:{template}:{channel}:{k}")


def respond(rng: random.Random, channel: str, params: SimParams) -> Response:
    """The tool's answer to one advertising contact on `channel`."""
    out: list[tuple[str, float]] = []

    def at(outcome: str, after: float = 0.0) -> float:
        low, high = _DELAY_MINUTES[outcome]
        minute = after + rng.uniform(low, high)
        out.append((outcome, minute))
        return minute

    # Every draw below is made whatever the branch, so one answer never shifts another's draws.
    u_deliver, u_open, u_click, u_reply, u_unsub, u_complain, u_reach = (rng.random() for _ in range(7))
    if channel in ("phone", "automated_call"):
        reached = u_reach < params.phone_reached_probability
        at("reached" if reached else "not_reached")
        if reached and u_unsub < params.unsubscribe_probability:
            at("unsubscribed", 5)
        return Response(tuple(out), reached)
    if channel == "post":
        # The print house reports each letter handed to the post (`delivered`); nothing is tracked
        # after that unless the customer writes back. The report is drawn last, so the reply keeps
        # the time it had before the print house reported anything.
        if u_reply < params.reply_probability:
            at("replied", 2 * 1440)
        at("delivered")
        return Response(tuple(sorted(out, key=lambda o: o[1])), True)
    if u_deliver >= params.delivery_probability:
        at("bounced")
        return Response(tuple(out), False)
    delivered = at("delivered")
    if channel == "email" and u_open < params.open_probability:
        opened = at("opened", delivered)
        if u_click < params.click_probability:
            at("clicked", opened)
        if u_unsub < params.unsubscribe_probability:
            at("unsubscribed", opened)
    elif channel != "email" and u_unsub < params.unsubscribe_probability:
        at("unsubscribed", delivered)
    if u_complain < params.complaint_probability:
        at("complained", delivered)
    if u_reply < params.reply_probability:
        at("replied", delivered)
    return Response(tuple(sorted(out, key=lambda o: o[1])), True)

"""Letting time pass on a whole stack: every service's clock endpoint, moved forward together.

Outside production each service reads time from an adjustable clock (`GET|POST /v1/clock`,
admin key). A demo or a test that wants the shipped playbooks' steps to come due moves every
service to the same moment; clocks only move forward, so the target is never before the latest.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import httpx

ADMIN = {"Authorization": "Bearer dev-admin-key"}
# A moment a little ahead of the latest clock: the clocks keep running while we move them one by one.
SLACK = timedelta(seconds=1)
ATTEMPTS = 4


def read_clocks(client: httpx.Client, urls: Mapping[str, str]) -> dict[str, datetime]:
    """Each service's current time."""
    moments = {}
    for name, url in urls.items():
        r = client.get(f"{url}/v1/clock", headers=ADMIN)
        r.raise_for_status()
        moments[name] = datetime.fromisoformat(r.json()["now"])
    return moments


def advance_all(client: httpx.Client, urls: Mapping[str, str], moment: datetime | None = None) -> datetime:
    """Move every service to `moment` (or to the latest clock when it is earlier); returns the moment set."""
    for attempt in range(ATTEMPTS):
        # On a loaded machine a service's own clock can run past the slack while the others are moved
        # (409: it would move backwards): read again and leave more room.
        latest = max(read_clocks(client, urls).values()) + SLACK * 4**attempt
        target = latest if moment is None or moment < latest else moment
        if all(_move(client, url, target) for url in urls.values()):
            return target
    raise RuntimeError(f"the services' clocks kept running past the target {ATTEMPTS} times")


def _move(client: httpx.Client, url: str, target: datetime) -> bool:
    r = client.post(f"{url}/v1/clock", json={"now": target.isoformat()}, headers=ADMIN)
    if r.status_code == 409:
        return False
    r.raise_for_status()
    return True

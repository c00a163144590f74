"""What the deployment files must agree on: service ports, consumer groups and topics, file locations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = REPO / "docker-compose.yml"

# spec/apis.md
PORTS: dict[str, int] = {"ingest": 8001, "risk": 8002, "campaign": 8003, "consent": 8004, "metrics": 8005}
SERVICES: tuple[str, ...] = tuple(PORTS)
# The console (issue 18): an image and a Deployment like the services, without database, broker or migration.
CONSOLE = "console"
IMAGE_PORTS: dict[str, int] = {**PORTS, CONSOLE: 8006}
IMAGES: tuple[str, ...] = tuple(IMAGE_PORTS)

# Topics each consumer group reads; KEDA scales on exactly these (group winback-<service>).
CONSUMED: dict[str, frozenset[str]] = {
    "risk": frozenset({"winback.events"}),
    "consent": frozenset({"winback.events"}),
    "campaign": frozenset({"winback.events", "winback.risk"}),
    "metrics": frozenset({"winback.events", "winback.risk", "winback.campaign", "winback.actions"}),
}
CONSUMERS: tuple[str, ...] = tuple(CONSUMED)

SECRET_NAME = "winback-secrets"
_EVERY_SERVICE_SECRETS = frozenset({"WINBACK_API_KEYS", "WINBACK_DATABASE_URL"})
# Every service that holds personal data keeps tombstones of erased customers under a keyed hash.
_PERSONAL_DATA_SECRETS = _EVERY_SERVICE_SECRETS | {"WINBACK_ERASURE_KEY"}
SECRET_KEYS: dict[str, frozenset[str]] = {name: _PERSONAL_DATA_SECRETS for name in SERVICES} | {
    "ingest": _EVERY_SERVICE_SECRETS,
    "campaign": _PERSONAL_DATA_SECRETS | {"WINBACK_CONSENT_API_KEY", "WINBACK_OPT_OUT_SECRET"},
    "consent": _PERSONAL_DATA_SECRETS | {"WINBACK_CONSENT_HASH_KEY"},
    CONSOLE: frozenset({"WINBACK_API_KEYS", "WINBACK_CONSOLE_SECRET"}),
}


def dockerfile(name: str) -> Path:
    return REPO / "services" / name / "Dockerfile"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]

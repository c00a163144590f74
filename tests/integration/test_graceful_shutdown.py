"""SIGTERM (what Kubernetes and `make down` send) ends a service cleanly, with offsets committed."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.events import cancellation
from tests.support.kafka import produce
from tests.support.services import running_services

pytestmark = pytest.mark.integration


async def test_sigterm_runs_the_graceful_shutdown(kafka_bootstrap: str, database_url: str, tmp_path: Path):
    await produce(kafka_bootstrap, "winback.events", [cancellation(f"term-{i}") for i in range(200)])
    with running_services(["risk"], bootstrap=kafka_bootstrap, database_url=database_url, log_dir=tmp_path) as s:
        process = s["risk"].proc
        assert process is not None
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal once its graceful shutdown is done.
        assert process.wait(30) in (0, -signal.SIGTERM)
    log = (tmp_path / "risk.log").read_text()
    assert "Application shutdown complete" in log
    assert "worker_crashed" not in log

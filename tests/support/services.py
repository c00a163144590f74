"""Starting services as real processes for integration and end-to-end tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from winback_cli.servers import free_port
from winback_cli.stack import STARTED, ServiceProcess, migrate, service_env, service_url_env

# Short group timeouts: Tansu holds a dead member's partitions for a whole session timeout.
FAST_CONSUMERS = {
    "WINBACK_CONSUMER_SESSION_TIMEOUT_MS": "1000",
    "WINBACK_CONSUMER_HEARTBEAT_INTERVAL_MS": "300",
    "WINBACK_OUTBOX_POLL_INTERVAL_S": "0.05",
    "WINBACK_ENV": "test",
}


@contextlib.contextmanager
def running_services(
    names: list[str],
    *,
    bootstrap: str,
    database_url: str,
    log_dir: Path,
    extra: dict[str, str] | None = None,
    replicas: dict[str, int] | None = None,
) -> Iterator[dict[str, ServiceProcess]]:
    """Migrate and start the named services on free ports; each one's URL is wired to the others.

    `replicas`: more instances of a service ("risk": 2 adds "risk-2"), each on its own port with
    the same database and consumer group, as a second pod would run.
    """
    specs = {s.name: s for s in STARTED}
    ports = {name: free_port() for name in names}
    instances = [(name, name) for name in names]
    instances += [(f"{name}-{i}", name) for name, n in (replicas or {}).items() for i in range(2, n + 1)]
    env_extra = dict(FAST_CONSUMERS)
    # Each started service's URL, for campaign (consent) and the console (all five).
    env_extra.update(service_url_env({name: f"http://127.0.0.1:{port}" for name, port in ports.items()}))
    env_extra.update(extra or {})
    processes: dict[str, ServiceProcess] = {}
    try:
        for instance, name in instances:
            port = ports[name] if instance == name else free_port()
            env = service_env(bootstrap=bootstrap, database_url=database_url, port=port, extra=env_extra)
            if instance == name:
                migrate(specs[name], env)
            process = ServiceProcess(specs[name], port, env, log_path=log_dir / f"{instance}.log")
            process.start()
            processes[instance] = process
        for process in processes.values():
            process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()

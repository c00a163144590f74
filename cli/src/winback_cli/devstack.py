"""The embedded development stack behind `make up`, `make down` and `make run`.

State lives in `.winback/` (override with WINBACK_STATE_DIR): the PostgreSQL data directory,
which survives `down`/`up`, the logs, and the pids of what was started. A broker or database
named by WINBACK_KAFKA_BOOTSTRAP / WINBACK_DATABASE_URL is used instead of starting one.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from winback_cli.servers import EmbeddedPostgres, TansuBroker, port_open, prepare_dir_for_system_user
from winback_cli.stack import STARTED, ServiceProcess, migrate, service_env
from winback_shared.events.topics import ALL_TOPICS
from winback_shared.kafka.admin import ensure_topics

DEV_BROKER_PORT = int(os.environ.get("WINBACK_DEV_BROKER_PORT", "9092"))
DEV_PG_PORT = int(os.environ.get("WINBACK_DEV_PG_PORT", "55432"))
TOPIC_PARTITIONS = 4


@dataclass
class StackPaths:
    root: Path

    @classmethod
    def default(cls) -> StackPaths:
        return cls(Path(os.environ.get("WINBACK_STATE_DIR", Path.cwd() / ".winback")).resolve())

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids.json"

    @property
    def demo_marker(self) -> Path:
        return self.root / "demo-replayed"

    def pg_data(self) -> Path:
        return prepare_dir_for_system_user(self.root / "pgdata")


def _read_pids(paths: StackPaths) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(paths.pids.read_text()).items()}
    except (FileNotFoundError, ValueError):
        return {}


def _write_pids(paths: StackPaths, pids: dict[str, int]) -> None:
    paths.pids.write_text(json.dumps(pids, indent=2))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _terminate(pid: int, timeout_s: float = 20.0) -> None:
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


@dataclass
class Endpoints:
    bootstrap: str
    database_url: str


class DevStack:
    """Starts what is missing, in order: broker, database, topics, migrations, services."""

    def __init__(self, paths: StackPaths | None = None, *, detach: bool = True) -> None:
        self.paths = paths or StackPaths.default()
        self.detach = detach
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        self.broker: TansuBroker | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.services: list[ServiceProcess] = []

    def _broker_running(self, pids: dict[str, int]) -> bool:
        return "tansu" in pids and _alive(pids["tansu"]) and port_open(DEV_BROKER_PORT)

    def _start_broker(self, pids: dict[str, int]) -> str:
        if bootstrap := os.environ.get("WINBACK_KAFKA_BOOTSTRAP"):
            return bootstrap
        if self._broker_running(pids):
            return f"127.0.0.1:{DEV_BROKER_PORT}"
        # A restarted Tansu has lost every topic and offset, and clients still hammering it
        # from before can take it down during start-up: stop the services first, restart them
        # after the topics exist again.
        for spec in STARTED:
            if spec.name in pids:
                _terminate(pids.pop(spec.name))
        self.broker = TansuBroker(DEV_BROKER_PORT, log_path=self.paths.logs / "tansu.log")
        self.broker.start(detach=self.detach)
        assert self.broker.proc is not None
        pids["tansu"] = self.broker.proc.pid
        _write_pids(self.paths, pids)
        return self.broker.bootstrap

    def _start_postgres(self) -> str:
        if url := os.environ.get("WINBACK_DATABASE_URL"):
            return url
        self.postgres = EmbeddedPostgres(self.paths.pg_data(), DEV_PG_PORT)
        if not port_open(DEV_PG_PORT):
            self.postgres.start()
        self.postgres.create_database("winback")
        return self.postgres.url_for("winback")

    def up(self) -> Endpoints:
        pids = _read_pids(self.paths)
        bootstrap = self._start_broker(pids)
        database_url = self._start_postgres()
        asyncio.run(ensure_topics(bootstrap, ALL_TOPICS, partitions=TOPIC_PARTITIONS))
        for spec in STARTED:
            env = service_env(bootstrap=bootstrap, database_url=database_url, port=spec.port)
            if spec.name in pids and _alive(pids[spec.name]):
                continue
            migrate(spec, env)
            process = ServiceProcess(spec, spec.port, env, log_path=self.paths.logs / f"{spec.name}.log")
            process.start(detach=self.detach)
            assert process.proc is not None
            pids[spec.name] = process.proc.pid
            self.services.append(process)
        _write_pids(self.paths, pids)
        for process in self.services:
            process.wait_ready()
        return Endpoints(bootstrap, database_url)

    def down(self) -> list[str]:
        """Stop services, then broker, then database; returns what was stopped."""
        pids = _read_pids(self.paths)
        stopped = []
        for spec in STARTED:
            if spec.name in pids:
                _terminate(pids.pop(spec.name))
                stopped.append(spec.name)
        if "tansu" in pids:
            _terminate(pids.pop("tansu"))
            stopped.append("tansu")
        if not os.environ.get("WINBACK_DATABASE_URL"):
            pg = EmbeddedPostgres(self.paths.pg_data(), DEV_PG_PORT)
            if (pg.data_dir / "postmaster.pid").exists():
                pg.stop()
                stopped.append("postgres")
        _write_pids(self.paths, pids)
        return stopped

    def status(self) -> dict[str, bool]:
        pids = _read_pids(self.paths)
        state = {name: _alive(pid) for name, pid in pids.items()}
        state["postgres"] = port_open(DEV_PG_PORT) if not os.environ.get("WINBACK_DATABASE_URL") else True
        return state

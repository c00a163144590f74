"""Starting the five services as processes against a broker and a database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int

    @property
    def module(self) -> str:
        return f"winback_{self.name}"


# Ports of spec/apis.md; WINBACK_DEV_PORT_OFFSET shifts them all, so a second stack (a test
# of the tooling, say) can run beside a developer's own.
DEV_PORT_OFFSET = int(os.environ.get("WINBACK_DEV_PORT_OFFSET", "0"))
SERVICES: tuple[ServiceSpec, ...] = tuple(
    ServiceSpec(name, port + DEV_PORT_OFFSET)
    for name, port in (("ingest", 8001), ("risk", 8002), ("campaign", 8003), ("consent", 8004), ("metrics", 8005))
)
SERVICE_URLS: dict[str, str] = {spec.name: f"http://127.0.0.1:{spec.port}" for spec in SERVICES}
# The console (pages for people) owns no data and has no clock, so it is not one of SERVICES
# (the demo moves every service's clock); the dev stack starts it after them.
CONSOLE = ServiceSpec("console", 8006 + DEV_PORT_OFFSET)
STARTED: tuple[ServiceSpec, ...] = (*SERVICES, CONSOLE)


def service_url_env(urls: dict[str, str]) -> dict[str, str]:
    """WINBACK_<NAME>_URL of each service, as the console (and campaign, for consent) find them."""
    return {f"WINBACK_{name.upper()}_URL": url for name, url in urls.items()}


def service_env(*, bootstrap: str, database_url: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "WINBACK_KAFKA_BOOTSTRAP": bootstrap,
            "WINBACK_DATABASE_URL": database_url,
            "WINBACK_PORT": str(port),
            **{name: env.get(name, url) for name, url in service_url_env(SERVICE_URLS).items()},
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def migrate(spec: ServiceSpec, env: dict[str, str]) -> None:
    result = subprocess.run([sys.executable, "-m", spec.module, "migrate"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"migrating {spec.name} failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class ServiceProcess:
    spec: ServiceSpec
    port: int
    env: dict[str, str]
    log_path: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, detach: bool = False) -> None:
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.spec.module, "serve"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"{self.spec.name} exited with {self.proc.returncode}; see {self.log_path}")
            try:
                response = httpx.get(f"{self.url}/readyz", timeout=2)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise TimeoutError(f"{self.spec.name} not ready after {timeout_s}s: {last}")

    def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as a crash or an OOM kill would do."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout_s: float = 20.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

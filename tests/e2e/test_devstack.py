"""The README's tooling on real servers: `winback run --demo` shows the demo working on the shipped
playbooks (months passing on the clock endpoints), Ctrl-C stops it all, and `winback up` / `down`
keep the database's state, and the demo's clock, between starts."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.services import FAST_CONSUMERS
from winback_cli.servers import free_port, port_open

pytestmark = pytest.mark.e2e

ADMIN = {"Authorization": "Bearer dev-admin-key"}
# Rows of the demo's day-by-day table: the shipped playbooks at their own timing (an e-mail at once,
# the apology after two days, the competitor's 90-day window, re-onboarding after the return on day 10).
EXPECTED_ACTIONS = {
    ("0", "demo-anna", "winback-basic", "email", "we_miss_you", "triggered", ""),
    ("2", "demo-ben", "we-are-sorry", "email", "we_are_sorry", "suppressed", "objection"),
    ("2", "demo-eva", "we-are-sorry", "email", "we_are_sorry", "suppressed", "double_opt_in_pending"),
    ("11", "demo-anna", "re-onboarding", "email", "welcome_back", "triggered", ""),
    ("35", "demo-clara", "situation-changed", "email", "situation_changed", "suppressed", "no_consent"),
    ("90", "demo-hans", "grass-greener", "email", "grass_greener", "triggered", ""),
}


def _free_offset() -> int:
    while True:
        offset = random.randrange(20_000, 40_000, 10)
        if not any(port_open(8000 + offset + i) for i in range(1, 7)):
            return offset


@pytest.fixture
def stack_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    state = tmp_path / "state"
    state.mkdir()
    tmp_path.chmod(0o755)
    env = {
        **os.environ,
        **FAST_CONSUMERS,
        "WINBACK_ENV": "development",
        "WINBACK_STATE_DIR": str(state),
        "WINBACK_DEV_BROKER_PORT": str(free_port()),
        "WINBACK_DEV_PG_PORT": str(free_port()),
        "WINBACK_DEV_PORT_OFFSET": str(_free_offset()),
    }
    env.pop("WINBACK_KAFKA_BOOTSTRAP", None)
    env.pop("WINBACK_DATABASE_URL", None)
    yield env
    _winback(env, "down")


def _winback(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "winback_cli.main", *args], env=env, capture_output=True, text=True, timeout=240
    )


def test_run_replays_the_demo_and_up_down_keep_state(stack_env: dict[str, str]):
    run = subprocess.Popen(
        [sys.executable, "-m", "winback_cli.main", "run", "--demo"],
        env=stack_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert run.stdout is not None
    shown: list[str] = []
    for line in run.stdout:
        shown.append(line)
        if "Press Ctrl-C" in line:
            break
    output = "".join(shown)
    run.send_signal(signal.SIGINT)
    rest, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output + rest
    assert "Events in: 40 accepted, 0 duplicates" in output
    assert "Time passed: 120 days" in output
    actions = {tuple(cell.strip() for cell in line.split("│")[1:-1]) for line in shown if line.count("│") == 8}
    assert actions >= EXPECTED_ACTIONS, sorted(actions)
    assert not any(a[1] in ("demo-david", "demo-felix") for a in actions), "no enrolment without eligibility"
    assert "stopping" in rest
    # The console is started with the services and its sign-in page is printed with them.
    assert f"http://127.0.0.1:{8006 + int(stack_env['WINBACK_DEV_PORT_OFFSET'])}/login" in output

    offset = int(stack_env["WINBACK_DEV_PORT_OFFSET"])
    assert not any(port_open(8000 + offset + i) for i in range(1, 7)), "Ctrl-C left services running"

    up = _winback(stack_env, "up")
    assert up.returncode == 0, up.stdout + up.stderr
    # The demo's clocks come back with the data: the services stand 120 days after the demo's start.
    clock = httpx.get(f"http://127.0.0.1:{8002 + offset}/v1/clock", headers=ADMIN, timeout=10).json()["now"]
    assert datetime.fromisoformat(clock) > datetime.now(UTC) + timedelta(days=119)
    customer = httpx.get(f"http://127.0.0.1:{8002 + offset}/v1/customers/demo-hans", headers=ADMIN, timeout=10)
    assert customer.status_code == 200
    assert (customer.json()["status"], customer.json()["churn_reason"]) == ("churned", "competitor")

    console = httpx.get(f"http://127.0.0.1:{8006 + offset}/readyz", timeout=10)
    assert console.status_code == 200 and console.json()["ready"] is True

    down = _winback(stack_env, "down")
    assert "console" in down.stdout
    assert "postgres" in down.stdout and "tansu" in down.stdout
    assert not port_open(int(stack_env["WINBACK_DEV_PG_PORT"]))

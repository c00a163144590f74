"""`winback`: the development stack (up, down, run, status) and ops tools."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from winback_cli import demo
from winback_cli.backtest import backtest_command
from winback_cli.devstack import DevStack
from winback_cli.importer import import_command
from winback_cli.stack import SERVICES

app = typer.Typer(add_completion=False, no_args_is_help=True, help="winback: win back customers, lawfully.")
# Wide enough for the tables even when stdout is not a terminal (make run piped to a log).
console = Console(width=None if Console().is_terminal else 120)
app.command("import")(import_command)
app.command("backtest")(backtest_command)


def _print_urls() -> None:
    table = Table(title="winback is running", show_lines=False)
    table.add_column("service")
    table.add_column("API")
    table.add_column("OpenAPI")
    for spec in SERVICES:
        base = f"http://127.0.0.1:{spec.port}"
        table.add_row(spec.name, base, f"{base}/docs")
    console.print(table)
    console.print("Dev API keys: [bold]dev-admin-key[/] (admin), [bold]dev-ingest-key[/] (ingest)")


@app.command()
def up() -> None:
    """Start broker, database and the five services in the background; return when all are ready."""
    stack = DevStack(detach=True)
    endpoints = stack.up()
    console.print(f"broker {endpoints.bootstrap}, database {endpoints.database_url}, state in {stack.paths.root}")
    _print_urls()


@app.command()
def down() -> None:
    """Stop what `up` started; the database's data is kept."""
    stopped = DevStack(detach=True).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def status() -> None:
    """Which parts of the development stack run."""
    for name, alive in DevStack(detach=True).status().items():
        console.print(f"{name:10} {'[green]running' if alive else '[red]stopped'}")


def _summarise(replayed: dict[str, int] | None) -> None:
    with httpx.Client(timeout=10) as client:
        outcomes = demo.wait_for_outcomes(client)
        statuses = demo.statuses(client)
        if replayed:
            console.print(f"[bold]Events in:[/] {replayed['accepted']} accepted, {replayed['duplicates']} duplicates")
        table = Table(title="Customers")
        for column in ("customer", "status", "churn reason", "win-back eligible", "action", "channel", "reason"):
            table.add_column(column)
        for c in demo.CUSTOMERS:
            s: dict[str, Any] = statuses.get(c.customer_id, {})
            actions = outcomes.get(c.customer_id, [])
            action = actions[0] if actions else {}
            table.add_row(
                c.customer_id,
                str(s.get("status", "?")),
                str(s.get("churn_reason") or ""),
                str(s.get("winback_eligible", "")),
                str(action.get("status", "not contacted")),
                str(action.get("channel", "")),
                str(action.get("reason") or ""),
            )
        console.print(table)
        expected = sum(1 for actions in outcomes.values() if actions)
        _print_kpis(demo.wait_for_kpis(client, expected))


def _print_kpis(kpis: dict[str, Any]) -> None:
    actions = kpis.get("actions", {})
    table = Table(title="KPIs (metrics GET /v1/kpis)")
    table.add_column("KPI")
    table.add_column("value")
    for label, value in (
        ("churned", kpis.get("churned")),
        ("won back", kpis.get("won_back")),
        ("win-back rate", kpis.get("winback_rate")),
        ("actions triggered", actions.get("triggered")),
        ("actions suppressed", actions.get("suppressed")),
        ("suppressed by reason", actions.get("suppressed_by_reason")),
        ("cost total (EUR)", kpis.get("cost_total")),
    ):
        table.add_row(label, str(value))
    console.print(table)


@app.command()
def run() -> None:
    """Start everything in the foreground, replay the demo on first start, stop all on Ctrl-C."""
    stack = DevStack(detach=False)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        endpoints = stack.up()
        console.print(f"broker {endpoints.bootstrap}, database {endpoints.database_url}")
        replayed = None
        if not stack.paths.demo_marker.exists():
            with httpx.Client(timeout=30) as client:
                replayed = demo.replay(client, demo.now_utc())
            stack.paths.demo_marker.write_text("replayed\n")
        _summarise(replayed)
        _print_urls()
        console.print("Press Ctrl-C to stop everything.")
        while not stopping.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping ...")
        stack.down()


if __name__ == "__main__":
    app()

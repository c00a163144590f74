"""`winback`: the development stack (up, down, run, status) and ops tools."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from winback_cli import demo
from winback_cli.backtest import backtest_command
from winback_cli.clock import advance_all
from winback_cli.deadletters import deadletters_command
from winback_cli.devstack import DevStack
from winback_cli.importer import import_command
from winback_cli.simulation import state as sim_state
from winback_cli.simulation.command import SimulationRequest, default_address, run_with_progress, simulate_command
from winback_cli.simulation.summary import print_summary
from winback_cli.stack import CONSOLE, SERVICE_URLS, SERVICES

app = typer.Typer(add_completion=False, no_args_is_help=True, help="winback: win back customers, lawfully.")
# Wide enough for the tables even when stdout is not a terminal (make run piped to a log).
console = Console(width=None if Console().is_terminal else 120)
app.command("import")(import_command)
app.command("backtest")(backtest_command)
app.command("simulate")(simulate_command)
app.command("deadletters")(deadletters_command)


def _print_urls() -> None:
    table = Table(title="winback is running", show_lines=False)
    table.add_column("service")
    table.add_column("API")
    table.add_column("OpenAPI")
    for spec in SERVICES:
        base = f"http://127.0.0.1:{spec.port}"
        table.add_row(spec.name, base, f"{base}/docs")
    table.add_row(CONSOLE.name, f"http://127.0.0.1:{CONSOLE.port}", "pages, no API")
    console.print(table)
    console.print(f"Console: [bold]http://127.0.0.1:{CONSOLE.port}/login[/] (sign in with an ops or admin key)")
    console.print("Dev API keys: [bold]dev-admin-key[/] (admin), [bold]dev-ingest-key[/] (ingest)")


@app.command()
def up() -> None:
    """Start broker, database, the five services and the console in the background; return when all are ready."""
    stack = DevStack(detach=True)
    endpoints = stack.up()
    console.print(f"broker {endpoints.bootstrap}, database {endpoints.database_url}, state in {stack.paths.root}")
    if run := demo.DemoRun.load(stack.paths.demo_marker):
        # The services restarted at wall time; the demo's data lives at the moment it left the clocks.
        with httpx.Client(timeout=30) as client:
            demo.resume(client, run)
        console.print(f"clocks moved to {run.end:%Y-%m-%d %H:%M}, where the demo left them")
    if finished := sim_state.load(stack.paths):
        with httpx.Client(timeout=30) as client:
            advance_all(client, SERVICE_URLS, finished.end)
        console.print(f"clocks moved to {finished.end:%Y-%m-%d}, where the simulation left them")
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


def _summarise(client: httpx.Client, run: demo.DemoRun | None, replayed: dict[str, int] | None) -> None:
    outcomes = demo.outcomes(client)
    statuses = demo.statuses(client)
    if replayed:
        console.print(f"[bold]Events in:[/] {replayed['accepted']} accepted, {replayed['duplicates']} duplicates")
    if run:
        days = demo.demo_day(run, run.end)
        span = f"{run.start:%Y-%m-%d} to {run.end:%Y-%m-%d}"
        console.print(f"[bold]Time passed:[/] {days} days on every service's clock ({span})")
    _print_customers(client, statuses, outcomes)
    _print_actions(outcomes, run)
    _print_kpis(demo.wait_for_kpis(client))


def _print_customers(
    client: httpx.Client, statuses: dict[str, dict[str, Any]], outcomes: dict[str, list[dict[str, Any]]]
) -> None:
    table = Table(title="Customers")
    for column in ("customer", "status", "churn reason", "win-back eligible", "playbooks", "contacts"):
        table.add_column(column)
    for c in demo.CUSTOMERS:
        s: dict[str, Any] = statuses.get(c.customer_id, {})
        enrollments = demo.enrollments_of(client, c.customer_id)
        playbooks = ", ".join(e["playbook_id"] + (" (holdout)" if e["holdout"] else "") for e in reversed(enrollments))
        actions = outcomes.get(c.customer_id, [])
        triggered = sum(1 for a in actions if a["status"] == "triggered")
        contacts = f"{triggered} sent, {len(actions) - triggered} suppressed" if actions else "not contacted"
        table.add_row(
            c.customer_id,
            str(s.get("status", "?")),
            str(s.get("churn_reason") or ""),
            str(s.get("winback_eligible", "")),
            playbooks or "none",
            contacts,
        )
    console.print(table)


def _print_actions(outcomes: dict[str, list[dict[str, Any]]], run: demo.DemoRun | None) -> None:
    table = Table(title="What campaign did, day by day (consent asked before every contact)")
    for column in ("day", "customer", "playbook", "channel", "template", "action", "reason"):
        table.add_column(column)
    rows = sorted((a for actions in outcomes.values() for a in actions), key=lambda a: (a["due_at"], a["customer_id"]))
    for a in rows:
        due = datetime.fromisoformat(a["due_at"])
        day = str(demo.demo_day(run, due)) if run else f"{due:%Y-%m-%d}"
        table.add_row(
            day, a["customer_id"], a["playbook_id"], a["channel"], a["template"], a["status"], a.get("reason") or ""
        )
    console.print(table)


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
def run(
    customers: Annotated[int, typer.Option(min=1, help="simulated customers")] = 2_000,
    months: Annotated[int, typer.Option(min=1, max=120, help="months the simulated business lives")] = 18,
    seed: Annotated[int, typer.Option(help="seed of the simulated business")] = 1,
    demo: Annotated[bool, typer.Option("--demo", help="the eight scripted demo customers instead")] = False,
    fresh: Annotated[bool, typer.Option("--fresh", help="wipe the database and simulate again")] = False,
) -> None:
    """Start everything in the foreground, simulate a business on first start (or continue), stop all on Ctrl-C."""
    stack = DevStack(detach=False)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    # Ctrl-C is how this stops, even when started from a script's background job, whose shell
    # ignores SIGINT for it (and Python then never raises KeyboardInterrupt).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if not demo and (fresh or sim_state.interrupted(stack.paths)):
            why = "as asked (--fresh)" if fresh else "the last simulation was interrupted before it finished"
            console.print(f"[yellow]Wiping the database and the simulation's files: {why}.[/]")
            stack.down()
            sim_state.wipe(stack.paths)
            stack.paths.demo_marker.unlink(missing_ok=True)
        endpoints = stack.up()
        console.print(f"broker {endpoints.bootstrap}, database {endpoints.database_url}")
        if demo:
            _run_demo(stack, endpoints.bootstrap)
        else:
            _run_simulation(stack, endpoints.bootstrap, SimulationRequest(customers, months, seed, Path()))
        _print_urls()
        console.print("Press Ctrl-C to stop everything.")
        while not stopping.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping ...")
        stack.down()


def _run_demo(stack: DevStack, bootstrap: str) -> None:
    with httpx.Client(timeout=30) as client:
        replayed = None
        run = demo.DemoRun.load(stack.paths.demo_marker)
        if run is not None:
            demo.resume(client, run)
        elif not stack.paths.demo_marker.exists():
            console.print(f"replaying the demo and letting {demo.HORIZON.days} days pass ...")
            run, replayed = demo.run_demo(client, bootstrap)
            run.save(stack.paths.demo_marker)
        _summarise(client, run, replayed)


def _run_simulation(stack: DevStack, bootstrap: str, request: SimulationRequest) -> None:
    """A fresh simulation on a fresh state, or the finished one of this checkout continued."""
    finished = sim_state.load(stack.paths)
    if finished is not None:
        with httpx.Client(timeout=30) as client:
            advance_all(client, SERVICE_URLS, finished.end)
        console.print(
            f"[bold]Continuing[/] the simulation started {finished.started_at:%Y-%m-%d %H:%M} "
            f"(state in {stack.paths.root}): clocks moved to {finished.end:%Y-%m-%d}, where it left them. "
            "To start fresh: make run ARGS=--fresh"
        )
    else:
        out = sim_state.folder(stack.paths)
        request = SimulationRequest(request.customers, request.months, request.seed, out)
        console.print(
            f"[bold]Starting fresh:[/] {request.customers:,} simulated customers, {request.months} months, "
            f"seed {request.seed} (report in {out})"
        )
        sim_state.mark_started(stack.paths)
        address = replace(default_address(), bootstrap=bootstrap)
        report = run_with_progress(request, address, console)
        finished = sim_state.save(stack.paths, report)
    print_summary(console, finished.report)
    console.print(f"Full report: {sim_state.folder(stack.paths) / 'report.md'}")
    console.print(
        f"Dashboard: open {SERVICE_URLS['metrics']}/dashboard#key=dev-admin-key in a browser "
        "(the key stays in the URL fragment, the browser never sends it)"
    )


if __name__ == "__main__":
    app()

"""`winback simulate`: a simulated business through the running stack, and the report against its truth."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from winback_cli.simulation.business import Business
from winback_cli.simulation.driver import Driver, Pacing, Progress, RunResult, ServicesStuck, add_months, midnight
from winback_cli.simulation.http_client import StackAddress, StackClient, StackUnavailable
from winback_cli.simulation.report import build_report, to_markdown
from winback_cli.stack import SERVICE_URLS

DEV_BROKER = f"127.0.0.1:{os.environ.get('WINBACK_DEV_BROKER_PORT', '9092')}"


@dataclass(frozen=True)
class SimulationRequest:
    customers: int
    months: int
    seed: int
    out: Path
    # The first simulated day; None: the stack's next midnight. A fixed start makes a run repeatable
    # to the day (weekdays, holidays and quiet hours depend on the date); it must lie after every clock.
    start: date | None = None


def default_address() -> StackAddress:
    """The development stack's URLs and keys (as `winback import` and `winback up` use them)."""
    return StackAddress(
        urls=dict(SERVICE_URLS),
        ingest_key=os.environ.get("WINBACK_API_KEY", "dev-ingest-key"),
        admin_key=os.environ.get("WINBACK_ADMIN_KEY", "dev-admin-key"),
        bootstrap=os.environ.get("WINBACK_KAFKA_BOOTSTRAP", DEV_BROKER),
    )


def progress_line(p: Progress) -> Text:
    lags = ", ".join(f"{name} {lag}" for name, lag in p.lags.items())
    return Text.from_markup(
        f"[bold]simulate[/] {p.day or '…'}  day {p.days_done}/{p.days_total}  "
        f"events sent {p.events_sent:,}  lag: {lags or '…'}  {p.elapsed_s:,.0f} s"
    )


async def run_simulation(
    request: SimulationRequest,
    address: StackAddress,
    *,
    pacing: Pacing | None = None,
    on_progress: Callable[[Progress], None] = lambda _: None,
    business_factory: Callable[..., Any] = Business,
) -> dict[str, Any]:
    """Simulate, write events.ndjson, truth.json, report.json and report.md into `request.out`; returns the report."""
    request.out.mkdir(parents=True, exist_ok=True)
    stack = StackClient(address)
    try:
        latest = max((await stack.clocks()).values())
        # The first simulated day is the stack's next midnight (clocks only move forward).
        start = (latest + timedelta(days=1)).date()
        if request.start is not None:
            if request.start < start:
                raise ValueError(
                    f"--start {request.start} is not after every service's clock (latest {latest:%Y-%m-%d})"
                )
            start = request.start
        end = add_months(start, request.months)
        business = business_factory(
            customers=request.customers, seed=request.seed, start=midnight(start), end=midnight(end)
        )
        with (request.out / "events.ndjson").open("w") as events_out:
            driver = Driver(
                stack, business, start=start, end=end, events_out=events_out, pacing=pacing, on_progress=on_progress
            )
            result = await driver.run()
        truth = business.truth()
        _write_json(request.out / "truth.json", truth)
        report = await _report(stack, business, truth, result, request)
    finally:
        await stack.close()
    _write_json(request.out / "report.json", report)
    (request.out / "report.md").write_text(to_markdown(report))
    return report


async def _report(
    stack: StackClient, business: Any, truth: dict[str, Any], result: RunResult, request: SimulationRequest
) -> dict[str, Any]:
    began = time.monotonic()
    kpis = await stack.get("metrics", "/v1/kpis")
    customers = await stack.get_all("risk", "/v1/customers")
    run = {
        "customers": request.customers,
        "months": request.months,
        "seed": request.seed,
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "events_sent": result.progress.events_sent,
        "responses_sent": result.progress.responses_sent,
        "wall_s": round(result.wall_s, 1),
        "waited_for_services_s": round(result.progress.waited_s, 1),
        "waited_for": {k: round(v, 1) for k, v in result.progress.waited_for.items()},
        "posting_s": round(result.progress.posting_s, 1),
        "business_s": round(result.progress.business_s, 1),
        "clocks_s": round(result.progress.clocks_s, 1),
        "lags_s": round(result.progress.lags_s, 1),
        "events_per_s": round(result.progress.events_sent / result.wall_s, 1) if result.wall_s else None,
        "peak_lag": result.peak_lags,
        "parked": result.parked,
        "published_seen": dict(result.observed.counts),
    }
    report = build_report(
        truth=truth,
        kpis=kpis,
        customers=customers,
        observed=result.observed,
        consent_basis_at=business.consent_basis_at,
        end=result.end,
        run=run,
    )
    report["run"]["report_s"] = round(time.monotonic() - began, 1)
    report["kpis"] = kpis
    return report


def _write_json(path: Path, body: Any) -> None:
    path.write_text(json.dumps(body, indent=1, default=str) + "\n")


def simulate_command(
    customers: Annotated[int, typer.Option(min=1, help="simulated customers")] = 3_000,
    months: Annotated[int, typer.Option(min=1, max=120, help="months the simulated business lives")] = 12,
    seed: Annotated[int, typer.Option(help="seed of every random draw (same seed, same business)")] = 1,
    start: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="first simulated day (default: the stack's next midnight)"),
    ] = None,
    out: Annotated[Path, typer.Option(file_okay=False, help="folder for events, truth and report")] = Path(
        "simulation"
    ),
    ingest_url: Annotated[str, typer.Option(help="ingest base URL")] = SERVICE_URLS["ingest"],
    risk_url: Annotated[str, typer.Option(help="risk base URL")] = SERVICE_URLS["risk"],
    campaign_url: Annotated[str, typer.Option(help="campaign base URL")] = SERVICE_URLS["campaign"],
    consent_url: Annotated[str, typer.Option(help="consent base URL")] = SERVICE_URLS["consent"],
    metrics_url: Annotated[str, typer.Option(help="metrics base URL")] = SERVICE_URLS["metrics"],
    api_key: Annotated[str, typer.Option(envvar="WINBACK_API_KEY", help="key with role ingest")] = "dev-ingest-key",
    admin_key: Annotated[
        str, typer.Option(envvar="WINBACK_ADMIN_KEY", help="admin key (clocks, erasure, reads)")
    ] = "dev-admin-key",
    bootstrap: Annotated[str, typer.Option(envvar="WINBACK_KAFKA_BOOTSTRAP", help="Kafka bootstrap")] = DEV_BROKER,
) -> None:
    """Simulate a business with known truth through the running stack; report the services' answers against it."""
    console = Console(stderr=True)
    address = StackAddress(
        urls={
            "ingest": ingest_url,
            "risk": risk_url,
            "campaign": campaign_url,
            "consent": consent_url,
            "metrics": metrics_url,
        },
        ingest_key=api_key,
        admin_key=admin_key,
        bootstrap=bootstrap,
    )
    request = SimulationRequest(customers, months, seed, out, start.date() if start else None)
    try:
        report = run_with_progress(request, address, console)
    except (StackUnavailable, ServicesStuck, ValueError) as exc:
        console.print(f"[red]simulation stopped:[/] {exc}")
        raise typer.Exit(2) from exc
    Console().print(to_markdown(report))
    console.print(f"written: {out}/events.ndjson, truth.json, report.json, report.md")
    raise typer.Exit(1 if report["law"]["violations"] else 0)


def run_with_progress(request: SimulationRequest, address: StackAddress, console: Console) -> dict[str, Any]:
    """run_simulation with a live progress line (one line per simulated month when not a terminal)."""
    last_month: list[date] = []
    with Live(Text("simulate: starting"), console=console, refresh_per_second=4, transient=False) as live:

        def show(p: Progress) -> None:
            live.update(progress_line(p))
            if not console.is_terminal and p.day and (not last_month or p.day.month != last_month[-1].month):
                last_month.append(p.day)
                console.print(progress_line(p))

        report = asyncio.run(run_simulation(request, address, on_progress=show))
    console.print()
    return report

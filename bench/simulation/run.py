"""Simulation benchmark: `winback simulate` at scale through the five services, as `make up` starts them.

    python -m bench.simulation.run [--quick] [--customers 100000] [--months 24] [--seed 1] [--out DIR]

The full size is 100,000 simulated customers over 24 months; `--quick` is 3,000 over 12 months
(the issue's five-minute target). The driver (cli/src/winback_cli/simulation/driver.py) moves every
clock day by day, posts each day's events to ingest in batches of up to 1,000, waits for consent
and risk before each clock move and reads `winback.actions` and `winback.campaign` as a campaign
tool would. Measured: wall time of the run, events per second (every event sent, responses
included), each service's peak consumer lag (records, read from the broker after every day), and
where the driver's time went (posting, waiting for services, the business's own code). Baseline:
the same events over the time spent in ingest's POSTs alone, the ceiling the driver could reach
if the services never had to catch up. The report's checks (uplift covered, law violations) go in
the conditions, so a fast run that decided wrongly shows.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from bench import harness
from winback_cli.simulation.command import SimulationRequest, run_simulation
from winback_cli.simulation.driver import Progress
from winback_cli.simulation.http_client import StackAddress

KEYS = {"WINBACK_API_KEYS": "bench-admin:admin,bench-ingest:ingest,bench-ops:ops"}


def _progress(p: Progress, last: list[int]) -> None:
    if p.day is not None and p.day.month != (last[-1] if last else None):
        last.append(p.day.month)
        lags = ", ".join(f"{k} {v}" for k, v in p.lags.items())
        print(
            f"{p.day} day {p.days_done}/{p.days_total} events {p.events_sent:,} lag {lags} {p.elapsed_s:,.0f} s",
            file=sys.stderr,
            flush=True,
        )


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--customers", type=int)
    parser.add_argument("--months", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--measure",
        choices=("risk", "campaign", "metrics", "ingest", "consent"),
        help="the service --profile or --py-spy samples (default: none)",
    )
    parser.add_argument("--out", type=Path, help="keep events, truth and report here (default: a temporary folder)")
    args = parser.parse_args()
    customers = harness.sized(args, "customers", 100_000, 3_000)
    months = harness.sized(args, "months", 24, 12)
    with harness.Stack(args, "simulation") as stack:
        consent = stack.start("consent", KEYS, profile=args.measure == "consent")
        urls = {"consent": consent.url}
        for name in ("risk", "campaign", "metrics", "ingest"):
            extra = {**KEYS, "WINBACK_CONSENT_URL": consent.url, "WINBACK_CONSENT_API_KEY": "bench-ops"}
            urls[name] = stack.start(name, extra, profile=args.measure == name).url
        address = StackAddress(urls=urls, ingest_key="bench-ingest", admin_key="bench-admin", bootstrap=stack.bootstrap)
        out = args.out or Path(stack.logs) / "simulation"
        months_seen: list[int] = []
        report = asyncio.run(
            run_simulation(
                SimulationRequest(customers, months, args.seed, out),
                address,
                on_progress=lambda p: _progress(p, months_seen),
            )
        )
        run: dict[str, Any] = report["run"]
        events_per_s = run["events_sent"] / run["wall_s"]
        ceiling = run["events_sent"] / run["posting_s"] if run["posting_s"] else None
        stack.emit(
            "simulation",
            "events_per_s",
            events_per_s,
            "events/s",
            baseline=ceiling,
            conditions={
                "customers": customers,
                "months": months,
                "wall_s": run["wall_s"],
                "events": run["events_sent"],
                "peak_lag": run["peak_lag"],
                "parked": run["parked"],
                "waited_for_services_s": run["waited_for_services_s"],
                "waited_for": run["waited_for"],
                "posting_s": run["posting_s"],
                "clocks_s": run["clocks_s"],
                "lags_s": run["lags_s"],
                "business_s": run["business_s"],
                "actions": {k: v for k, v in run["published_seen"].items() if k.startswith("action.")},
                "baseline": "the same events over the time spent in ingest's POSTs only",
                "target": "3,000 customers x 12 months within 300 s",
                "uplift_covered": report["uplift"]["overall"]["covered"],
                "law_checked": report["law"]["checked"],
                "law_violations": len(report["law"]["violations"]),
            },
        )


if __name__ == "__main__":
    main()

"""Every benchmark in turn, each on fresh servers; the result lines on stdout (and appended to --out).

    python -m bench [--quick] [--non-durable] [--only NAME ...] [--wait-quiet 1.5 [--wait-max 600]] [--out FILE.jsonl]

--wait-quiet L waits before each benchmark until the machine's 1-minute load average is below L
(figures taken on a busy shared machine are depressed by its load; each line records the load);
--wait-max S gives up waiting after S seconds and runs anyway (the line records the load it ran at).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

# (name, module, arguments, arguments of the full size only): the rows of bench/README.md.
BENCHMARKS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("ingest", "bench.ingest.run", (), ()),
    ("risk", "bench.risk.consume", ("--consumer-processes", "2"), ()),
    ("risk-scale-out", "bench.risk.consume", ("--scale-out",), ()),
    ("risk-refit", "bench.risk.run", (), ()),
    ("consent", "bench.consent.run", (), ()),
    # Two campaign instances: two batches in flight at one consent process (one worker: with two, both
    # connections may land on the same worker, and the figure measures the kernel's choice).
    ("consent-two-in-flight", "bench.consent.run", ("--batch-connections", "2"), ()),
    ("campaign", "bench.campaign.run", (), ()),
    # Twice 1,000,000 would take most of an hour; 100,000 shows the sharing as well.
    ("campaign-scale-out", "bench.campaign.run", ("--scale-out",), ("--customers", "100000")),
    ("metrics", "bench.metrics.run", (), ()),
)


def wait_quiet(limit: float, max_s: float | None) -> None:
    """Until the 1-minute load is below `limit`, or `max_s` seconds have passed (then run at whatever load)."""
    deadline = None if max_s is None else time.monotonic() + max_s
    while (load := os.getloadavg()[0]) >= limit:
        if deadline is not None and time.monotonic() >= deadline:
            print(f"load {load:.2f} >= {limit} after {max_s:.0f} s: running anyway", file=sys.stderr, flush=True)
            return
        print(f"load {load:.2f} >= {limit}: waiting", file=sys.stderr, flush=True)
        time.sleep(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--non-durable", action="store_true")
    parser.add_argument("--only", nargs="+", choices=[b[0] for b in BENCHMARKS])
    parser.add_argument("--wait-quiet", type=float, help="wait until the 1-minute load is below this")
    parser.add_argument("--wait-max", type=float, help="with --wait-quiet: run anyway after this many seconds")
    parser.add_argument("--out", type=Path, help="also append the result lines to this file")
    args = parser.parse_args()
    failed = []
    for name, module, extra, full_only in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        if args.wait_quiet is not None:
            wait_quiet(args.wait_quiet, args.wait_max)
        command = [sys.executable, "-m", module, *extra, *(["--quick"] if args.quick else full_only)]
        command += ["--non-durable"] * args.non_durable
        print(f"== {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
        result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
        lines = [line for line in result.stdout.splitlines() if line.startswith('{"benchmark"')]
        if args.out is not None:
            with args.out.open("a") as out:
                out.writelines(line + "\n" for line in lines)
        print("\n".join(lines), flush=True)
        if result.returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

"""The one benchmark harness: servers and services as `make up` starts them, load, one result line.

Every benchmark (`python -m bench.<name>.run`, from the repository root) uses it the same way:

    args = harness.parser(__doc__).parse_args()
    with harness.Stack(args, "ingest") as stack:
        service = stack.start("ingest")
        ... measure, baseline in the same run ...
        stack.emit("ingest", "events_per_s", value, "events/s", baseline=raw, conditions={...})

- PostgreSQL runs with its durable defaults (fsync, synchronous_commit, full_page_writes on) unless
  the run says `--non-durable` (the throwaway test settings); the result line says which, with the
  settings read back from the server.
- One database `winback` with every service in its own schema, the contract's topics with the dev
  stack's partition count, each service migrated and started as `python -m winback_<name> serve`
  with `service_env`: what `make up` does, on free ports, so benchmarks run beside tests.
- The machine's load average is taken before and sampled during the run; both go into every
  result line, because the development machines are shared and figures depend on it.
- `--quick`: every benchmark has a size that finishes in under 3 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from winback_cli.devstack import TOPIC_PARTITIONS
from winback_cli.servers import EmbeddedPostgres, TansuBroker, free_port, prepare_dir_for_system_user
from winback_cli.stack import ServiceProcess, ServiceSpec, migrate, service_env
from winback_shared.events.topics import ALL_TOPICS
from winback_shared.kafka.admin import ensure_topics

API_KEY = "bench-ops"
DATABASE = "winback"
PROFILER = Path(__file__).parent / "profile_service.py"


def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark shares; each adds its own sizes."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a smaller size that finishes in under 3 minutes")
    p.add_argument(
        "--non-durable",
        dest="durable",
        action="store_false",
        help="PostgreSQL with fsync, synchronous_commit and full_page_writes off (labelled in the output)",
    )
    p.add_argument("--profile", type=Path, help="run the measured service under cProfile, write its stats here")
    p.add_argument(
        "--py-spy",
        type=Path,
        help="sample the measured service (and its child processes) with py-spy for the run; collapsed stacks here",
    )
    p.add_argument(
        "--statements",
        type=int,
        metavar="N",
        help="load pg_stat_statements and print the N statements with the most total time at the end",
    )
    p.add_argument("--logs", type=Path, help="keep the servers' and services' logs in this folder")
    p.add_argument(
        "--log-level",
        default="WARNING",
        help="the services' WINBACK_LOG_LEVEL (WARNING by default: INFO logs each batch, which costs time)",
    )
    return p


def sized(args: argparse.Namespace, name: str, full: int, quick: int) -> int:
    """`--name` if given, else the full or the quick size."""
    given = getattr(args, name.replace("-", "_"), None)
    return int(given) if given is not None else (quick if args.quick else full)


def percentile(values: Iterable[float], q: float) -> float:
    """The q-quantile by nearest rank (no interpolation): a value that was observed."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def dsn(database_url: str) -> str:
    """asyncpg's form of a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


class LoadMeter:
    """The 1-minute load average before the run and sampled every `every_s` seconds during it."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.before = os.getloadavg()[0]
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="load-meter", daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, Any]:
        during = [*self.samples, os.getloadavg()[0]]
        return {
            "cpus": os.cpu_count(),
            "before": round(self.before, 2),
            "during_mean": round(statistics.fmean(during), 2),
            "during_max": round(max(during), 2),
            "samples": len(during),
        }

    def stop(self) -> None:
        self._stop.set()


class Stack:
    """Broker, database and services for one benchmark run; stops everything it started on exit."""

    def __init__(self, args: argparse.Namespace, name: str, *, extra_topics: Iterable[str] = ()) -> None:
        self.args = args
        self.name = name
        self.durable: bool = args.durable
        self.extra_topics = tuple(extra_topics)
        self.processes: list[ServiceProcess] = []
        self._migrated: set[str] = set()
        self._tmp = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
        self._tmp.chmod(0o755)  # the PostgreSQL system user must reach its data directory
        self.logs: Path = args.logs or self._tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        statements = {"shared_preload_libraries": "pg_stat_statements"} if args.statements else {}
        self.pg = EmbeddedPostgres(
            prepare_dir_for_system_user(self._tmp / "pg"), free_port(), throwaway=not self.durable, settings=statements
        )
        self.broker = TansuBroker(free_port(), log_path=self.logs / "tansu.log")
        self.load: LoadMeter | None = None
        self._spy: subprocess.Popen[bytes] | None = None

    @property
    def database_url(self) -> str:
        return self.pg.url_for(DATABASE)

    @property
    def dsn(self) -> str:
        return dsn(self.database_url)

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def __enter__(self) -> Stack:
        # A TERM (e.g. from `timeout`) must still stop the servers this run started.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        self.load = LoadMeter()
        try:
            self.pg.start()
            self.broker.start()
            self.pg.create_database(DATABASE)
            if self.args.statements:
                asyncio.run(_execute(self.dsn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
            asyncio.run(ensure_topics(self.bootstrap, [*ALL_TOPICS, *self.extra_topics], partitions=TOPIC_PARTITIONS))
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._spy is not None:
            self._spy.send_signal(signal.SIGINT)  # py-spy writes its samples on SIGINT
            self._spy.wait(60)
            print_top_frames(self.args.py_spy)
        for process in reversed(self.processes):
            process.stop(timeout_s=60)
        if self.args.statements:
            print_top_statements(self.dsn, self.args.statements)
        self.broker.stop()
        self.pg.stop()
        if self.load is not None:
            self.load.stop()
        if kind is None or self.args.logs is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        else:  # a failed run keeps its logs (the database goes: it can be large)
            shutil.rmtree(self.pg.data_dir, ignore_errors=True)
            print(f"run failed; logs kept in {self.logs}", file=sys.stderr, flush=True)
        if self.args.profile is not None and self.args.profile.exists():
            import pstats

            pstats.Stats(str(self.args.profile)).sort_stats("tottime").print_stats(30)

    def env(self, service: str, port: int, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The service's environment as `make up` builds it, with the benchmark's API key."""
        settings = {"WINBACK_API_KEYS": f"{API_KEY}:ops", "WINBACK_LOG_LEVEL": self.args.log_level, **(extra or {})}
        return service_env(bootstrap=self.bootstrap, database_url=self.database_url, port=port, extra=settings)

    def migrate(self, service: str) -> None:
        """Create the service's schema (once), as `make up` does before starting it."""
        if service not in self._migrated:
            migrate(ServiceSpec(service, 0), self.env(service, 0))
            self._migrated.add(service)

    def start(
        self,
        service: str,
        extra: Mapping[str, str] | None = None,
        *,
        profile: bool = False,
        command: list[str] | None = None,
    ) -> ServiceProcess:
        """Migrate, start and wait until ready; `profile` runs it under cProfile when --profile is given.

        `command` replaces `python -m winback_<service> serve` (a probe wrapper), same environment.
        """
        return self.start_all(service, 1, extra, profile=profile, command=command)[0]

    def start_all(
        self,
        service: str,
        instances: int,
        extra: Mapping[str, str] | None = None,
        *,
        profile: bool = False,
        command: list[str] | None = None,
    ) -> list[ServiceProcess]:
        """`instances` processes of one service (one consumer group), started together, then waited for."""
        self.migrate(service)
        started: list[ServiceProcess] = []
        for i in range(instances):
            spec = ServiceSpec(service, free_port())
            log = self.logs / f"{service}-{len(self.processes)}.log"
            process = _Profiled(spec, spec.port, self.env(service, spec.port, extra), log_path=log)
            if profile and i == 0 and self.args.profile is not None:
                process.command = [sys.executable, str(PROFILER), service, str(self.args.profile)]
            process.command = command or process.command
            self.processes.append(process)
            process.start()
            started.append(process)
            if profile and i == 0 and self.args.py_spy is not None:
                self._spy = _py_spy(process, self.args.py_spy)
        for each in started:
            each.wait_ready(timeout_s=120)
        return started

    def stop(self, process: ServiceProcess) -> None:
        process.stop(timeout_s=60)
        self.processes.remove(process)

    def postgres_settings(self) -> dict[str, Any]:
        """The durability settings as the server reports them (not as this script meant them), and its WAL so far.

        The cluster is fresh per run, so the WAL counters (records, full-page images, bytes) and the
        checkpoints cover this run: what durability costs, independent of the machine's load.
        """

        async def read() -> dict[str, Any]:
            conn = await asyncpg.connect(self.dsn)
            try:
                names = ("fsync", "synchronous_commit", "full_page_writes")
                settings: dict[str, Any] = {n: await conn.fetchval(f"SHOW {n}") for n in names}
                wal = await conn.fetchrow("SELECT wal_records, wal_fpi, wal_bytes FROM pg_stat_wal")
                checkpoints = await conn.fetchval("SELECT num_timed + num_requested FROM pg_stat_checkpointer")
                return {**settings, **{k: int(v) for k, v in dict(wal).items()}, "checkpoints": int(checkpoints)}
            finally:
                await conn.close()

        return asyncio.run(read())

    def emit(
        self,
        benchmark: str,
        metric: str,
        value: float | None,
        unit: str,
        *,
        baseline: float | None,
        ratio: float | None = None,
        conditions: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The benchmark's result line, with the database's durability settings as the server reports them."""
        assert self.load is not None
        return emit(
            benchmark,
            metric,
            value,
            unit,
            baseline=baseline,
            ratio=ratio,
            durable=self.durable,
            conditions={"quick": self.args.quick, "postgres": self.postgres_settings(), **(conditions or {})},
            load=self.load,
        )


async def _execute(dsn: str, statement: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def print_top_statements(dsn: str, n: int) -> None:
    """The `n` statements with the most total execution time (pg_stat_statements), to stderr."""

    async def read() -> tuple[float, list[asyncpg.Record]]:
        conn = await asyncpg.connect(dsn)
        try:
            total = await conn.fetchval("SELECT sum(total_exec_time) FROM pg_stat_statements")
            return float(total or 1.0), await conn.fetch(
                "SELECT calls, total_exec_time, mean_exec_time, rows, query FROM pg_stat_statements"
                " ORDER BY total_exec_time DESC LIMIT $1",
                n,
            )
        finally:
            await conn.close()

    try:
        total, rows = asyncio.run(read())
    except (OSError, asyncpg.PostgresError) as error:
        print(f"pg_stat_statements not read: {error}", file=sys.stderr)
        return
    print(f"PostgreSQL execution time, all statements: {total / 1000:,.1f} s", file=sys.stderr)
    for r in rows:
        query = " ".join(r["query"].split())[:160]
        print(
            f"{r['total_exec_time'] / 1000:9.1f} s {100 * r['total_exec_time'] / total:5.1f} % "
            f"{r['calls']:>9,} calls {r['mean_exec_time']:8.2f} ms  {query}",
            file=sys.stderr,
        )


def emit(
    benchmark: str,
    metric: str,
    value: float | None,
    unit: str,
    *,
    baseline: float | None,
    durable: bool | None,
    load: LoadMeter,
    ratio: float | None = None,
    conditions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Print one final JSON result line on stdout; `ratio` defaults to value / baseline.

    `durable` is None for a benchmark without a database (nothing is committed).
    """
    if ratio is None and baseline and value is not None:
        ratio = value / baseline
    line = {
        "benchmark": benchmark,
        "metric": metric,
        "value": None if value is None else round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "ratio": None if ratio is None else round(ratio, 3),
        "durable": durable,
        "conditions": {"load": load.summary(), **(conditions or {})},
    }
    print(json.dumps(line, default=str), flush=True)
    return line


class _Profiled(ServiceProcess):
    """A service process; `command` runs it another way (under cProfile, with probes), same environment."""

    command: list[str] | None = None

    def start(self, *, detach: bool = False) -> None:
        if self.command is None:
            super().start(detach=detach)
            return
        out = open(self.log_path or os.devnull, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT)


def counter(process: ServiceProcess, name: str) -> float:
    """The sum of a Prometheus counter's samples on the process's GET /metrics: its own share of the work."""
    text = httpx.get(f"{process.url}/metrics", timeout=10).raise_for_status().text
    samples = [line.rsplit(" ", 1) for line in text.splitlines() if line.startswith((f"{name} ", f"{name}{{"))]
    return sum(float(value) for _, value in samples)


def own_group_consumer(bootstrap: str, topic: str, max_records: int = 500) -> AIOKafkaConsumer:
    """A consumer in a group of its own reading `topic` from the start, committing only when told."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_records,
    )


def _py_spy(process: ServiceProcess, out: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling `process` and its children (consumer processes) until SIGINT, collapsed stacks to `out`."""
    assert process.proc is not None
    spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if spy is None:
        raise SystemExit("--py-spy needs py-spy (pip install py-spy)")
    command = [spy, "record", "--pid", str(process.proc.pid), "--subprocesses", "--rate", "100"]
    return subprocess.Popen([*command, "--format", "raw", "--output", str(out)], stdout=subprocess.DEVNULL)


def print_top_frames(collapsed: Path, top: int = 25) -> None:
    """Where the samples were: the functions by own (leaf) and inclusive share, from collapsed stacks."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines() if collapsed.exists() else []:
        stack, _, count = line.rpartition(" ")
        frames, n = stack.split(";"), int(count)
        total += n
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    print(f"py-spy: {total} samples in {collapsed}", file=sys.stderr)
    for title, table in (("own", own), ("inclusive", inclusive)):
        print(f"top {top} by {title} samples:", file=sys.stderr)
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"  {100 * n / max(total, 1):5.1f} %  {frame}", file=sys.stderr)


def progress(message: str) -> None:
    """A progress line on stderr, with the time and load: stdout holds only the result lines."""
    print(f"{time.strftime('%H:%M:%S')} [load {os.getloadavg()[0]:.2f}] {message}", file=sys.stderr, flush=True)

"""`winback import FILE`: history from a CRM or ERP export (CSV or NDJSON) through ingest's HTTP API.

Rows become CloudEvents (one type per file via `--type`, or a `type` column), are sent in batches
and checkpointed after each acknowledged batch in `FILE.winback-import.json`. Event ids derive
from source, type and the row's content, so a resumed or repeated import is de-duplicated by
ingest. Rows ingest rejects (422) are reported with line number and reason; the rest of their
batch is sent again without them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

# Plural nouns an ops team thinks in, for `--type` or a `type` column.
TYPE_ALIASES = {
    "customers": "customer.upserted",
    "orders": "order.placed",
    "returns": "order.returned",
    "contracts": "contract.started",
    "renewals": "contract.renewed",
    "cancellations": "contract.cancelled",
    "consents": "consent.granted",
    "revocations": "consent.revoked",
    "objections": "contact.objected",
}
ENVELOPE_FIELDS = ("id", "source", "type", "time", "subject")
CHECKPOINT_SUFFIX = ".winback-import.json"
REJECTS_SUFFIX = ".winback-import.rejected.ndjson"


class RowError(ValueError):
    """A row that cannot become an event; reported like ingest's errors."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ImportAborted(RuntimeError):
    """The import cannot go on now (auth, broker down too long); the checkpoint allows resuming."""


@dataclass(frozen=True)
class Row:
    line: int
    content: str
    record: dict[str, Any]


@dataclass(frozen=True)
class ImportOptions:
    source: str
    event_type: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    default_time: str | None = None

    def fingerprint(self) -> str:
        """What must not change between an interrupted run and its resumption."""
        raw = json.dumps([self.source, self.event_type, sorted(self.mapping.items())])
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


# --- rows to events (pure) ------------------------------------------------------------------


def parse_mapping(pairs: Sequence[str]) -> dict[str, str]:
    """`COLUMN=FIELD` pairs, e.g. `customer=customer_id`."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        column, sep, target = (part.strip() for part in pair.partition("="))
        if not sep or not column or not target:
            raise typer.BadParameter(f"{pair!r} is not COLUMN=FIELD", param_hint="--map")
        mapping[column] = target
    return mapping


def resolve_type(value: str) -> str:
    return TYPE_ALIASES.get(value.strip().lower(), value.strip())


def _cell(value: Any) -> Any:
    # CSV cells are text; a cell holding a JSON list or object (items, channels, evidence) is decoded.
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """`postal_address.city` columns become nested objects."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        target = nested
        *parents, leaf = key.split(".")
        for parent in parents:
            target = target.setdefault(parent, {})
            if not isinstance(target, dict):
                raise RowError(key, f"column {key!r} clashes with a plain column {parent!r}")
        target[leaf] = value
    return nested


def event_id(source: str, event_type: str, content: str) -> str:
    """Deterministic: the same row of the same import is the same event, however often it is sent."""
    return "imp-" + hashlib.sha256(f"{source}\n{event_type}\n{content}".encode()).hexdigest()[:40]


def row_to_event(row: Row, options: ImportOptions) -> dict[str, Any]:
    """One CloudEvent for one row; raises RowError when the row lacks what every event needs."""
    record = {options.mapping.get(k, k): v for k, v in row.record.items() if k is not None}
    if isinstance(record.get("data"), dict):
        envelope = {k: v for k, v in record.items() if k != "data"}
        data: dict[str, Any] = dict(record["data"])
    else:
        envelope = {k: record[k] for k in ENVELOPE_FIELDS if k in record}
        # An empty CSV cell means "not given", not an empty string.
        flat = {k: _cell(v) for k, v in record.items() if k not in ENVELOPE_FIELDS and v not in ("", None)}
        data = _nest(flat)
    raw_type = envelope.get("type") or options.event_type
    if not raw_type or not isinstance(raw_type, str):
        raise RowError("type", "no event type: add a `type` column or pass --type")
    event_type = resolve_type(raw_type)
    source = envelope.get("source") or options.source
    when = envelope.get("time") or options.default_time
    if not when:
        raise RowError("time", "no event time: add a `time` column (or --map COLUMN=time) or pass --time")
    return {
        **envelope,
        "specversion": "1.0",
        "id": envelope.get("id") or event_id(source, event_type, row.content),
        "source": source,
        "type": event_type,
        "time": when,
        "data": data,
    }


# --- reading files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadRow:
    line: int
    error: RowError


def read_rows(path: Path) -> Iterator[Row | BadRow]:
    """Rows with their line numbers (CSV: the header is line 1); unreadable rows as BadRow."""
    is_ndjson = path.suffix.lower() in (".ndjson", ".jsonl", ".json")
    with path.open(newline="" if not is_ndjson else None, encoding="utf-8-sig") as handle:
        if is_ndjson:
            for number, text in enumerate(handle, start=1):
                text = text.strip()
                if not text:
                    continue
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    yield BadRow(number, RowError("", f"line is not JSON: {exc}"))
                    continue
                if not isinstance(value, dict):
                    yield BadRow(number, RowError("", "line is not a JSON object"))
                    continue
                yield Row(number, text, value)
            return
        reader = csv.DictReader(handle)
        for record in reader:
            if None in record:
                yield BadRow(reader.line_num, RowError("", "row has more cells than the header has columns"))
                continue
            content = json.dumps(record, sort_keys=True, ensure_ascii=False)
            yield Row(reader.line_num, content, record)


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


# --- checkpoint -------------------------------------------------------------------------------


@dataclass
class Checkpoint:
    last_line: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    complete: bool = False


def checkpoint_path(path: Path) -> Path:
    return path.with_name(path.name + CHECKPOINT_SUFFIX)


def load_checkpoint(path: Path, options: ImportOptions) -> Checkpoint:
    target = checkpoint_path(path)
    if not target.exists():
        return Checkpoint()
    saved = json.loads(target.read_text())
    if saved.get("fingerprint") != options.fingerprint():
        raise ImportAborted(
            f"{target.name} belongs to an import with other options (source, type or mapping); "
            "use the same options to resume, or --restart"
        )
    return Checkpoint(**{k: saved[k] for k in ("last_line", "accepted", "duplicates", "rejected", "complete")})


def save_checkpoint(path: Path, options: ImportOptions, progress: Checkpoint) -> None:
    target = checkpoint_path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps({"fingerprint": options.fingerprint(), **progress.__dict__}, indent=1))
    os.replace(tmp, target)  # atomic: an interruption leaves the old or the new checkpoint


# --- sending ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rejection:
    line: int
    field: str
    message: str


class Sender:
    """Posts batches to ingest; retries 503 and transport errors, drops rows ingest rejects."""

    def __init__(self, client: httpx.Client, url: str, api_key: str, *, max_retries: int = 20) -> None:
        self._client = client
        self._url = url.rstrip("/") + "/v1/events"
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/cloudevents-batch+json"}
        self._max_retries = max_retries

    def send(self, batch: list[tuple[int, dict[str, Any]]]) -> tuple[int, int, list[Rejection]]:
        """(accepted, duplicates, rejections) of one batch of (line, event)."""
        rejections: list[Rejection] = []
        pending = batch
        failures = 0
        while pending:
            try:
                response = self._client.post(
                    self._url, content=json.dumps([e for _, e in pending]), headers=self._headers
                )
            except httpx.TransportError as exc:
                failures += 1
                self._pause(failures, None, f"ingest unreachable: {exc!r}")
                continue
            if response.status_code == 202:
                body = response.json()
                return int(body["accepted"]), int(body["duplicates"]), rejections
            if response.status_code == 422:
                bad = self._rejections(response, pending)
                if not bad:
                    raise ImportAborted(f"ingest answered 422 without usable errors: {response.text[:500]}")
                rejections.extend(r for _, r in bad)
                bad_indexes = {i for i, _ in bad}
                pending = [item for i, item in enumerate(pending) if i not in bad_indexes]
                continue
            if response.status_code in (429, 502, 503, 504):
                failures += 1
                self._pause(failures, response.headers.get("Retry-After"), f"ingest answered {response.status_code}")
                continue
            raise ImportAborted(f"ingest answered {response.status_code}: {_detail(response)}")
        return 0, 0, rejections

    @staticmethod
    def _rejections(response: httpx.Response, pending: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, Rejection]]:
        try:
            errors = response.json().get("errors") or []
        except ValueError:
            return []
        found: list[tuple[int, Rejection]] = []
        for error in errors:
            index = error.get("index")
            if isinstance(index, int) and 0 <= index < len(pending):
                found.append((index, Rejection(pending[index][0], str(error.get("field", "")), str(error["message"]))))
        return found

    def _pause(self, failures: int, retry_after: str | None, why: str) -> None:
        if failures > self._max_retries:
            raise ImportAborted(f"{why}; gave up after {self._max_retries} retries")
        delay = float(retry_after) if retry_after and retry_after.isdigit() else min(2.0**failures / 4, 30.0)
        time.sleep(delay)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text[:500]))
    except ValueError:
        return response.text[:500]


@dataclass
class ImportReport:
    progress: Checkpoint
    rejections: list[Rejection]
    resumed_from: int


def run_import(
    path: Path,
    options: ImportOptions,
    sender: Sender,
    *,
    batch_size: int = 500,
    stop_after_batches: int | None = None,
    restart: bool = False,
    console: Console | None = None,
) -> ImportReport:
    """Import `path`, resuming after the checkpoint's last acknowledged line unless `restart`."""
    progress = Checkpoint() if restart else load_checkpoint(path, options)
    resumed_from = progress.last_line
    rejects_file = path.with_name(path.name + REJECTS_SUFFIX)
    if restart or resumed_from == 0:
        rejects_file.unlink(missing_ok=True)
    rejections: list[Rejection] = []
    batch: list[tuple[int, dict[str, Any]]] = []
    batches_sent = 0

    def flush(last_line: int) -> None:
        nonlocal batch, batches_sent
        accepted, duplicates, rejected = sender.send(batch) if batch else (0, 0, [])
        record(rejected)
        progress.accepted += accepted
        progress.duplicates += duplicates
        progress.last_line = last_line
        save_checkpoint(path, options, progress)
        batch = []
        batches_sent += 1

    def record(rejected: list[Rejection]) -> None:
        if not rejected:
            return
        rejections.extend(rejected)
        progress.rejected += len(rejected)
        with rejects_file.open("a") as out:
            out.writelines(json.dumps(r.__dict__) + "\n" for r in rejected)

    total = count_lines(path)
    bar = Progress(
        TextColumn("[bold]import[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("lines"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=console is None,
    )
    with bar:
        task = bar.add_task(path.name, total=total, completed=resumed_from)
        line = resumed_from
        for item in read_rows(path):
            line = item.line
            if line <= resumed_from:
                continue
            if isinstance(item, BadRow):
                record([Rejection(line, item.error.field, item.error.message)])
            else:
                try:
                    batch.append((line, row_to_event(item, options)))
                except RowError as exc:
                    record([Rejection(line, exc.field, exc.message)])
            if len(batch) >= batch_size:
                flush(line)
                bar.update(task, completed=line)
                if stop_after_batches is not None and batches_sent >= stop_after_batches:
                    return ImportReport(progress, rejections, resumed_from)
        flush(max(line, progress.last_line))
        bar.update(task, completed=total)
    progress.complete = True
    save_checkpoint(path, options, progress)
    return ImportReport(progress, rejections, resumed_from)


# --- the command ----------------------------------------------------------------------------


def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV (header row) or NDJSON file")],
    event_type: Annotated[
        str | None,
        typer.Option("--type", help="event type of every row, e.g. order.placed or orders; else a `type` column"),
    ] = None,
    mapping: Annotated[
        list[str] | None, typer.Option("--map", help="COLUMN=FIELD, repeatable: --map customer=customer_id")
    ] = None,
    source: Annotated[str | None, typer.Option(help="CloudEvents source; default /import/<file name>")] = None,
    default_time: Annotated[
        str | None, typer.Option("--time", help="RFC 3339 time for rows without a `time` column")
    ] = None,
    url: Annotated[str, typer.Option(help="ingest base URL")] = "http://127.0.0.1:8001",
    api_key: Annotated[str, typer.Option(envvar="WINBACK_API_KEY", help="key with role ingest")] = "dev-ingest-key",
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="events per request")] = 500,
    restart: Annotated[bool, typer.Option(help="ignore the checkpoint and start from the first line")] = False,
    stop_after: Annotated[
        int | None, typer.Option(help="stop after this many batches (resume later by running again)")
    ] = None,
) -> None:
    """Import customers, orders, contracts, cancellations or consents from CSV or NDJSON, resumably."""
    console = Console(stderr=True)
    options = ImportOptions(
        source=source or f"/import/{file.name}",
        event_type=resolve_type(event_type) if event_type else None,
        mapping=parse_mapping(mapping or []),
        default_time=default_time,
    )
    try:
        with httpx.Client(timeout=60) as client:
            report = run_import(
                file,
                options,
                Sender(client, url, api_key),
                batch_size=batch_size,
                stop_after_batches=stop_after,
                restart=restart,
                console=console,
            )
    except ImportAborted as exc:
        console.print(f"[red]import stopped:[/] {exc}\nRun the same command again to resume.")
        raise typer.Exit(2) from exc
    p = report.progress
    if report.resumed_from:
        console.print(f"resumed after line {report.resumed_from}")
    for r in report.rejections[:50]:
        console.print(f"[yellow]line {r.line}[/] {r.field or '(row)'}: {r.message}")
    if len(report.rejections) > 50:
        console.print(f"... {len(report.rejections) - 50} more in {file.name}{REJECTS_SUFFIX}")
    state = "done" if p.complete else f"paused after line {p.last_line}"
    console.print(f"{state}: {p.accepted} accepted, {p.duplicates} duplicates, {p.rejected} rejected rows")
    raise typer.Exit(1 if p.rejected else 0)

"""Which simulation `make run` left in the stack's state folder: none, an interrupted one, or a finished one."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol


class HasRoot(Protocol):
    @property
    def root(self) -> Path: ...


@dataclass(frozen=True)
class FinishedRun:
    started_at: datetime
    end: datetime
    report: dict[str, Any]


def folder(paths: HasRoot) -> Path:
    return paths.root / "simulation"


def _started(paths: HasRoot) -> Path:
    return folder(paths) / "started.json"


def mark_started(paths: HasRoot) -> None:
    """Written before the first event: a run killed midway is recognised on the next start."""
    folder(paths).mkdir(parents=True, exist_ok=True)
    _started(paths).write_text(json.dumps({"started_at": datetime.now(UTC).isoformat()}) + "\n")


def interrupted(paths: HasRoot) -> bool:
    return _started(paths).exists() and not (folder(paths) / "report.json").exists()


def wipe(paths: HasRoot) -> None:
    """The database and the simulation's files (the stack must be down): ingest would take the same
    events again as duplicates, so an interrupted run cannot simply be repeated on its data."""
    shutil.rmtree(paths.root / "pgdata", ignore_errors=True)
    shutil.rmtree(folder(paths), ignore_errors=True)


def save(paths: HasRoot, report: dict[str, Any]) -> FinishedRun:
    """The report is written by the run itself; the start marker gets the moment the clocks were left at."""
    started = json.loads(_started(paths).read_text())
    started["end"] = report["run"]["end"]
    _started(paths).write_text(json.dumps(started) + "\n")
    return FinishedRun(datetime.fromisoformat(started["started_at"]), datetime.fromisoformat(started["end"]), report)


def load(paths: HasRoot) -> FinishedRun | None:
    try:
        started = json.loads(_started(paths).read_text())
        report = json.loads((folder(paths) / "report.json").read_text())
        return FinishedRun(
            datetime.fromisoformat(started["started_at"]), datetime.fromisoformat(started["end"]), report
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None

"""The playbooks in force: the shipped defaults, replaced by the newest version ops saved."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from winback_campaign.adapters import playbook_repository as repo
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.playbooks import Playbook
from winback_shared.clock import Clock


class InvalidPlaybook(ValueError):
    """The document is not a valid playbook; the message names the exact problem."""


class VersionConflict(Exception):
    """Another writer saved the same version first."""


def validate(playbook_id: str, document: Any, *, version: int) -> Playbook:
    """Parse a PUT body; the path's id wins over a missing one, a different one is an error."""
    if not isinstance(document, dict):
        raise InvalidPlaybook("body must be a JSON object")
    body_id = document.get("playbook_id", playbook_id)
    if body_id != playbook_id:
        raise InvalidPlaybook(f"playbook_id {body_id!r} in the body differs from {playbook_id!r} in the path")
    try:
        return Playbook.model_validate({**document, "playbook_id": playbook_id, "version": version})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'playbook'}: {err['msg']}" for err in exc.errors()
        )
        raise InvalidPlaybook(problems) from exc


def merge(stored: Sequence[Playbook], shipped: Sequence[Playbook] = BUILTIN_PLAYBOOKS) -> tuple[Playbook, ...]:
    """Shipped order first, each replaced by its stored version; new ids after them by id."""
    by_id = {p.playbook_id: p for p in stored}
    in_force = tuple(by_id.pop(p.playbook_id, p) for p in shipped)
    return in_force + tuple(by_id[k] for k in sorted(by_id))


def in_force(
    documents: Sequence[dict[str, Any]], shipped: Sequence[Playbook] = BUILTIN_PLAYBOOKS
) -> tuple[Playbook, ...]:
    """The playbooks in force given the newest stored document of each id."""
    return merge([Playbook.model_validate(d) for d in documents], shipped)


async def current(session: AsyncSession, shipped: Sequence[Playbook] = BUILTIN_PLAYBOOKS) -> tuple[Playbook, ...]:
    """The playbooks in force, read in the caller's transaction (so every replica sees a PUT at once)."""
    return in_force(await repo.latest_documents(session), shipped)


class PlaybookService:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], clock: Clock, shipped: Sequence[Playbook] = BUILTIN_PLAYBOOKS
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.shipped = tuple(shipped)

    async def list(self) -> tuple[Playbook, ...]:
        async with self._sessions() as session:
            return await current(session, self.shipped)

    async def get(self, playbook_id: str) -> Playbook | None:
        return next((p for p in await self.list() if p.playbook_id == playbook_id), None)

    async def replace(self, playbook_id: str, document: Any) -> Playbook:
        """Validate and store as a new version (one above the highest stored or shipped)."""
        shipped = next((p.version for p in self.shipped if p.playbook_id == playbook_id), 0)
        try:
            async with self._sessions.begin() as session:
                version = max(await repo.highest_version(session, playbook_id), shipped) + 1
                playbook = validate(playbook_id, document, version=version)
                await repo.insert_version(session, playbook_id, version, playbook.as_dict(), self._clock.now())
        except IntegrityError as exc:
            raise VersionConflict(f"playbook {playbook_id!r} was saved concurrently; retry") from exc
        return playbook

"""API keys and roles as spec/apis.md fixes them: `Authorization: Bearer <key>`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from winback_shared.http.problems import ProblemError
from winback_shared.settings import Role

_bearer = HTTPBearer(auto_error=False)

# admin may do everything; ops may read everything and manage campaigns; ingest publishes.
_GRANTS: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin", "ops", "ingest"}),
    "ops": frozenset({"ops"}),
    "ingest": frozenset({"ingest"}),
}


def require_role(*needed: Role) -> Callable[..., Awaitable[str]]:
    """Dependency: 401 without a known key, 403 when the key's role grants none of `needed`."""

    # async although it awaits nothing: FastAPI runs a sync dependency in a worker thread, a costly hop per request.
    async def _check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise ProblemError(
                401, "missing API key: send 'Authorization: Bearer <key>'", headers={"WWW-Authenticate": "Bearer"}
            )
        keys: dict[str, Role] = request.app.state.api_keys
        role = keys.get(credentials.credentials)
        if role is None:
            raise ProblemError(401, "unknown API key", headers={"WWW-Authenticate": "Bearer"})
        if not _GRANTS[role] & set(needed):
            raise ProblemError(403, f"role '{role}' may not do this; needs one of: {', '.join(needed)}")
        return role

    return _check

"""HTTP routes the console needs from consent (ops): the customer's ledger a page at a time."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from winback_consent.service_layer import ledger_pages
from winback_consent.service_layer.customers import UnknownCustomer
from winback_shared.http.auth import require_role
from winback_shared.http.problems import ProblemError
from winback_shared.runtime import ServiceRuntime
from winback_shared.timeline import DEFAULT_LIMIT, MAX_LIMIT

Reader = Annotated[str, Depends(require_role("ops", "admin"))]
EntryTypeName = Literal["grant", "revocation", "objection", "no_contact", "use", "erasure", "tombstone"]


def build_console_router(runtime: ServiceRuntime) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["consent"])

    @router.get("/customers/{customer_id}/ledger", responses={404: {"description": "unknown customer"}})
    async def get_ledger(
        _: Reader,
        customer_id: Annotated[str, Path(min_length=1, max_length=128)],
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        before: Annotated[str | None, Query(max_length=64, description="next_before of the previous page")] = None,
        entry_type: Annotated[list[EntryTypeName] | None, Query(description="only these entry types")] = None,
    ) -> dict[str, Any]:
        """The ledger entries with their evidence and hashes, newest first."""
        try:
            return await ledger_pages.ledger_page(
                runtime.sessions, customer_id, limit=limit, before=before, entry_types=entry_type or []
            )
        except ledger_pages.InvalidBefore as exc:
            raise ProblemError(422, str(exc), errors=[{"field": "before", "message": str(exc)}]) from exc
        except UnknownCustomer as exc:
            raise ProblemError(404, f"customer {customer_id!r} is unknown to consent") from exc

    return router

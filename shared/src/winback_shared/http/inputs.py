"""The shared text rule over every request's path, query and JSON body, before any route runs.

Installed once as an app-wide dependency (`create_app`), so every string parameter of every
service is covered without each route declaring it: a NUL in `?channel=` or in a path segment
answers 422 naming the parameter instead of reaching PostgreSQL as a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from winback_shared.http.problems import ProblemError
from winback_shared.validation import MAX_PARAM_CHARS, Location, text_acceptable, text_problem, text_problems

# How many problems one 422 lists: enough to fix a request, bounded for a hostile one.
_MAX_LISTED = 20


def _field(loc: Location) -> str:
    return ".".join(str(part) for part in loc)


async def _body(request: Request) -> Any:
    # Only routes that declare a body: FastAPI has read and cached it by now. A route reading the
    # raw stream itself (ingest's events, with its own size limit and rule) is left alone.
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return None
    if "json" not in request.headers.get("content-type", "json"):
        return None
    try:
        return await request.json()  # parsed once: FastAPI's own parse is cached on the request
    except (ValueError, RecursionError):
        return None  # not JSON: FastAPI answers that itself


async def refuse_unusable_text(request: Request) -> None:
    """Dependency: 422 naming every path/query parameter or body string that breaks the text rule."""
    problems: list[tuple[str, str]] = []
    for name, value in request.path_params.items():
        if isinstance(value, str) and (problem := text_problem(value, MAX_PARAM_CHARS)) is not None:
            problems.append((name, problem))
    for name, value in request.query_params.multi_items():
        if (problem := text_problem(name, MAX_PARAM_CHARS)) is not None:
            problems.append((name, f"parameter name {problem}"))
        elif (problem := text_problem(value, MAX_PARAM_CHARS)) is not None:
            problems.append((name, problem))
    body = await _body(request)
    if body is not None and not text_acceptable(body):
        problems.extend((_field(loc) or "body", problem) for loc, problem in text_problems(body))
    if problems:
        listed = problems[:_MAX_LISTED]
        raise ProblemError(
            422,
            "; ".join(f"{field}: {message}" for field, message in listed[:5]),
            errors=[{"field": field, "message": message} for field, message in listed],
        )

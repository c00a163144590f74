"""The console's routes, page by page."""

from __future__ import annotations

from fastapi import FastAPI

from winback_console.entrypoints import auth_routes, customer_routes, overview_routes, playbook_routes, today_routes
from winback_console.entrypoints.web import Web


def install(app: FastAPI, web: Web) -> None:
    for module in (auth_routes, today_routes, customer_routes, overview_routes, playbook_routes):
        app.include_router(module.router(web))

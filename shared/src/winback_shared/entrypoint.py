"""Command line every service shares: `migrate` and `serve`."""

from __future__ import annotations

from collections.abc import Callable

import typer
import uvicorn
from fastapi import FastAPI

from winback_shared.db.migrate import upgrade
from winback_shared.logging import configure_logging
from winback_shared.settings import ServiceSettings


def service_cli(
    *,
    settings_factory: Callable[[], ServiceSettings],
    app_factory: Callable[[ServiceSettings], FastAPI],
    migrations: str,
) -> typer.Typer:
    cli = typer.Typer(add_completion=False, no_args_is_help=True)

    @cli.command()
    def migrate() -> None:
        """Create or upgrade this service's schema."""
        settings = settings_factory()
        configure_logging(settings.service_name, settings.log_level)
        upgrade(settings.database_url, migrations)

    @cli.command()
    def serve(with_migrate: bool = typer.Option(False, "--migrate", help="migrate before serving")) -> None:
        """Run the HTTP API and the service's background workers."""
        settings = settings_factory()
        configure_logging(settings.service_name, settings.log_level)
        if with_migrate:
            upgrade(settings.database_url, migrations)
        app = app_factory(settings)
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=20,
        )

    return cli

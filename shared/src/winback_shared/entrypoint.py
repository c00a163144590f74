"""Command line every service shares: `migrate` and `serve`."""

from __future__ import annotations

import os
from collections.abc import Callable

import typer
import uvicorn
from fastapi import FastAPI
from uvicorn.importer import import_from_string

from winback_shared.db.migrate import upgrade
from winback_shared.logging import configure_logging
from winback_shared.settings import ServiceSettings

# Where a worker process (WINBACK_WORKERS > 1) finds the service's settings class and app factory.
_SETTINGS_FACTORY = "WINBACK_SERVE_SETTINGS_FACTORY"
_APP_FACTORY = "WINBACK_SERVE_APP_FACTORY"


def worker_app() -> FastAPI:
    """The app of one uvicorn worker process; each runs the service's background workers too."""
    settings = import_from_string(os.environ[_SETTINGS_FACTORY])()
    configure_logging(settings.service_name, settings.log_level)
    app: FastAPI = import_from_string(os.environ[_APP_FACTORY])(settings)
    return app


def _import_string(obj: Callable[..., object]) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


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
        # Settings that declare `workers` (WINBACK_WORKERS) may serve from several processes on one port.
        workers = int(getattr(settings, "workers", 1))
        if workers > 1:
            # Worker processes are spawned: they rebuild settings and app from these import strings.
            os.environ[_SETTINGS_FACTORY] = _import_string(settings_factory)
            os.environ[_APP_FACTORY] = _import_string(app_factory)
        uvicorn.run(
            f"{__name__}:worker_app" if workers > 1 else app_factory(settings),
            factory=workers > 1,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=20,
        )

    return cli

"""`python -m winback_console migrate|serve` (migrate has nothing to do: the console owns no data)."""

from __future__ import annotations

import logging

import typer
import uvicorn

from winback_console.bootstrap import build_app
from winback_console.settings import ConsoleSettings
from winback_shared.logging import configure_logging

cli = typer.Typer(add_completion=False, no_args_is_help=True)


@cli.command()
def migrate() -> None:
    """Nothing to migrate: the console has no database (the same command as every service, for tooling)."""
    ConsoleSettings()  # still refuses a configuration it could not serve with


@cli.command()
def serve() -> None:
    """Serve the console's pages."""
    settings = ConsoleSettings()
    configure_logging(settings.service_name, settings.log_level)
    # One line per call to a service would drown the log; failures are logged where they are handled.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    uvicorn.run(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


if __name__ == "__main__":
    cli()

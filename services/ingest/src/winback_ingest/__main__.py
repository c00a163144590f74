"""`python -m winback_ingest migrate|serve`."""

from winback_ingest.bootstrap import MIGRATIONS, build_app
from winback_ingest.settings import IngestSettings
from winback_shared.entrypoint import service_cli

cli = service_cli(settings_factory=IngestSettings, app_factory=build_app, migrations=MIGRATIONS)

if __name__ == "__main__":
    cli()

"""`python -m winback_consent migrate|serve`."""

from winback_consent.bootstrap import MIGRATIONS, build_app
from winback_consent.settings import ConsentSettings
from winback_shared.entrypoint import service_cli

cli = service_cli(settings_factory=ConsentSettings, app_factory=build_app, migrations=MIGRATIONS)

if __name__ == "__main__":
    cli()

"""`python -m winback_risk migrate|serve`."""

from winback_risk.bootstrap import MIGRATIONS, build_app
from winback_risk.settings import RiskSettings
from winback_shared.entrypoint import service_cli

cli = service_cli(settings_factory=RiskSettings, app_factory=build_app, migrations=MIGRATIONS)

if __name__ == "__main__":
    cli()

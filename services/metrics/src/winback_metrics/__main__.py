"""`python -m winback_metrics migrate|serve`."""

from winback_metrics.bootstrap import MIGRATIONS, build_app
from winback_metrics.settings import MetricsSettings
from winback_shared.entrypoint import service_cli

cli = service_cli(settings_factory=MetricsSettings, app_factory=build_app, migrations=MIGRATIONS)

if __name__ == "__main__":
    cli()

"""`python -m winback_campaign migrate|serve`."""

from winback_campaign.bootstrap import MIGRATIONS, build_app
from winback_campaign.settings import CampaignSettings
from winback_shared.entrypoint import service_cli

cli = service_cli(settings_factory=CampaignSettings, app_factory=build_app, migrations=MIGRATIONS)

if __name__ == "__main__":
    cli()

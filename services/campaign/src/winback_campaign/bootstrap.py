"""Composition root: the one place where campaign's parts are built and wired."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from fastapi import FastAPI

from winback_campaign.adapters.consent_client import ConsentClient
from winback_campaign.adapters.tables import outbox
from winback_campaign.domain.builtin_playbooks import BUILTIN_PLAYBOOKS
from winback_campaign.domain.playbooks import Playbook
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.entrypoints.http import build_router
from winback_campaign.service_layer.enrolment import EnrolmentHandler
from winback_campaign.service_layer.scheduler import Scheduler, SchedulerConfig
from winback_campaign.settings import CampaignSettings
from winback_shared.clock import Clock
from winback_shared.events.topics import Topic
from winback_shared.http.app import create_app
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_campaign:migrations"
GROUP_ID = "winback-campaign"


def playbooks() -> Sequence[Playbook]:
    """The playbooks in force; built-in only until playbooks become editable."""
    return BUILTIN_PLAYBOOKS


def build_app(settings: ServiceSettings, *, clock: Clock | None = None) -> FastAPI:
    assert isinstance(settings, CampaignSettings)
    runtime = ServiceRuntime(settings, clock=clock)
    relay = runtime.add_outbox_relay(outbox)
    scheduler = Scheduler(
        sessions=runtime.sessions,
        clock=runtime.clock,
        consent=ConsentClient(settings.consent_url, settings.consent_api_key, timeout_s=settings.consent_timeout_s),
        sender=SenderIdentity(
            name=settings.sender_name,
            address=settings.sender_address,
            email=settings.sender_email,
            opt_out_base_url=settings.opt_out_base_url,
        ),
        config=SchedulerConfig(
            batch_size=settings.scheduler_batch_size,
            interval_s=settings.scheduler_interval_s,
            retry_max_s=settings.consent_retry_max_s,
            address_grace=timedelta(hours=settings.address_grace_hours),
            default_language=settings.default_language,
        ),
        on_committed=(relay.wake,),
    )
    handler = EnrolmentHandler(
        sessions=runtime.sessions,
        clock=runtime.clock,
        playbooks=playbooks,
        replay_window=timedelta(days=settings.replay_window_days),
        on_committed=(relay.wake, scheduler.wake),
    )
    runtime.add_consumer(group_id=GROUP_ID, topics=[Topic.RISK.value, Topic.EVENTS.value], handler=handler)
    runtime.add_worker("scheduler", scheduler.run)
    runtime.on_clock_moved(scheduler.wake)
    return create_app(
        runtime,
        [build_router(runtime.sessions, playbooks)],
        title="winback campaign",
        description="Win-back sequences: enrolment by playbook, consent asked before every contact.",
    )

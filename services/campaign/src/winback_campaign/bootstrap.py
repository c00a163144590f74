"""Composition root: the one place where campaign's parts are built and wired."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from winback_campaign.adapters.consent_client import ConsentClient
from winback_campaign.adapters.tables import outbox
from winback_campaign.domain.builtin_playbooks import shipped_playbooks
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.domain.timing import FrequencyCap
from winback_campaign.entrypoints.http import build_router
from winback_campaign.service_layer.enrolment import EnrolmentHandler
from winback_campaign.service_layer.playbooks import PlaybookService
from winback_campaign.service_layer.scheduler import Scheduler, SchedulerConfig
from winback_campaign.service_layer.unsubscribe import Unsubscriber
from winback_campaign.settings import CampaignSettings
from winback_shared.clock import Clock
from winback_shared.events.topics import Topic
from winback_shared.http.app import create_app
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_campaign:migrations"
GROUP_ID = "winback-campaign"


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
            opt_out_secret=settings.opt_out_secret,
        ),
        config=SchedulerConfig(
            batch_size=settings.scheduler_batch_size,
            interval_s=settings.scheduler_interval_s,
            retry_max_s=settings.consent_retry_max_s,
            address_grace=timedelta(hours=settings.address_grace_hours),
            default_language=settings.default_language,
            cap=FrequencyCap(per_week=settings.cap_per_week, per_month=settings.cap_per_month),
        ),
        on_committed=(relay.wake,),
    )
    shipped = shipped_playbooks(settings.playbook_set)
    handler = EnrolmentHandler(
        shipped=shipped,
        sessions=runtime.sessions,
        clock=runtime.clock,
        replay_window=timedelta(days=settings.replay_window_days),
        on_committed=(relay.wake, scheduler.wake),
    )
    runtime.add_consumer(
        group_id=GROUP_ID, topics=[Topic.RISK.value, Topic.EVENTS.value, Topic.CONSENT.value], handler=handler
    )
    runtime.add_worker("scheduler", scheduler.run)
    runtime.on_clock_moved(scheduler.wake)
    return create_app(
        runtime,
        [
            build_router(
                runtime.sessions,
                PlaybookService(runtime.sessions, runtime.clock, shipped),
                Unsubscriber(runtime.sessions, runtime.clock, settings.opt_out_secret, on_committed=(relay.wake,)),
                clock=runtime.clock,
                replay_window=timedelta(days=settings.replay_window_days),
            )
        ],
        title="winback campaign",
        description="Win-back sequences: enrolment by playbook, consent asked before every contact.",
    )

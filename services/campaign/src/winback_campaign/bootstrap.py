"""Composition root: the one place where campaign's parts are built and wired."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta

from fastapi import FastAPI

from winback_campaign.adapters.consent_client import ConsentClient
from winback_campaign.adapters.tables import outbox
from winback_campaign.adapters.webhook_sender import WebhookSender
from winback_campaign.contract import CONTRACT
from winback_campaign.domain.builtin_playbooks import shipped_playbooks
from winback_campaign.domain.templates import SenderIdentity
from winback_campaign.domain.timing import FrequencyCap
from winback_campaign.domain.waiting import Backoff
from winback_campaign.domain.webhooks import RetryPolicy
from winback_campaign.entrypoints.http import build_router, build_webhook_router
from winback_campaign.service_layer.enrollment import EnrollmentHandler
from winback_campaign.service_layer.playbooks import PlaybookService
from winback_campaign.service_layer.scheduler import Scheduler, SchedulerConfig
from winback_campaign.service_layer.unsubscribe import Unsubscriber
from winback_campaign.service_layer.webhooks import DelivererConfig, WebhookDeliverer
from winback_campaign.settings import CampaignSettings
from winback_shared.clock import Clock
from winback_shared.http.app import create_app
from winback_shared.runtime import ServiceRuntime
from winback_shared.settings import ServiceSettings

MIGRATIONS = "winback_campaign:migrations"


async def freeze_startup_objects(stop: asyncio.Event) -> None:
    """Move the start-up heap out of the collector's reach once the app runs (as consent and ingest do).

    A scheduler round renders and serialises a thousand messages; every full collection would
    otherwise rescan the imports' and wiring's objects too.
    """
    gc.freeze()
    await stop.wait()


def build_app(settings: ServiceSettings, *, clock: Clock | None = None) -> FastAPI:
    assert isinstance(settings, CampaignSettings)
    runtime = ServiceRuntime(settings, clock=clock)
    relay = runtime.add_outbox_relay(outbox)
    deliverer = WebhookDeliverer(
        sessions=runtime.sessions,
        clock=runtime.clock,
        sender=WebhookSender(timeout_s=settings.webhook_timeout_s),
        config=DelivererConfig(
            secret=settings.webhook_secret,
            policy=RetryPolicy(
                max_attempts=settings.webhook_max_attempts,
                base=timedelta(seconds=settings.webhook_backoff_s),
                ceiling=timedelta(seconds=settings.webhook_backoff_max_s),
            ),
            batch_size=settings.webhook_batch_size,
        ),
    )
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
            webhooks=dict(settings.webhooks),
            pipeline_depth=settings.scheduler_pipeline_depth,
            backoff=Backoff(
                base=timedelta(seconds=settings.cause_wait_backoff_s),
                ceiling=timedelta(seconds=settings.cause_wait_backoff_max_s),
            ),
        ),
        on_committed=(relay.wake, deliverer.wake),
    )
    shipped = shipped_playbooks()
    handler = EnrollmentHandler(
        shipped=shipped,
        sessions=runtime.sessions,
        clock=runtime.clock,
        replay_window=timedelta(days=settings.replay_window_days),
        cause_grace=timedelta(hours=settings.cause_wait_grace_hours),
        on_committed=(relay.wake, scheduler.wake),
        erasure_key=settings.erasure_hash_key,
    )
    runtime.add_consumer(group_id=CONTRACT.group, topics=CONTRACT.consumed_topics, handler=handler)
    runtime.add_worker("scheduler", scheduler.run)
    # Deliveries are written only for configured channels; without webhooks the worker just idles.
    runtime.add_worker("webhooks", deliverer.run)
    runtime.add_worker("gc-freeze", freeze_startup_objects)
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
            ),
            build_webhook_router(runtime.sessions, runtime.clock),
        ],
        title="winback campaign",
        description="Win-back sequences: enrolment by playbook, consent asked before every contact.",
    )

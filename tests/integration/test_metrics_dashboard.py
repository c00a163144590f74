"""The dashboard in a real headless Chromium: every chart renders from the service's own data, offline."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually
from winback_shared.events.envelope import CloudEvent
from winback_shared.events.inbound import ContractCancelled
from winback_shared.events.produced import ActionTriggered, CampaignEnrolled, CustomerStatusChanged
from winback_shared.events.topics import Topic
from winback_shared.kafka.producer import EventPublisher, OutgoingRecord

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
CHARTS = ("winback-rate", "funnel", "churn-reasons", "uplift", "cost-per-winback")
T0 = datetime(2024, 2, 1, 9, tzinfo=UTC)
DAY = timedelta(days=1)


def _chromium() -> str:
    for name in (os.environ.get("WINBACK_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and (path := shutil.which(name)):
            return path
    pytest.skip(
        "no Chromium found (install Debian's `chromium`, `make browser` does it as root, or set WINBACK_CHROMIUM)"
    )


def _history() -> tuple[list[CloudEvent], list[CloudEvent], list[CloudEvent], list[CloudEvent]]:
    """Three months of churn: 30 contacted by e-mail or SMS, 10 held out, some of each back."""
    risk: list[CloudEvent] = []
    campaign: list[CloudEvent] = []
    actions: list[CloudEvent] = []
    events: list[CloudEvent] = []
    for i in range(40):
        customer, churned, holdout = f"d-{i}", T0 + (i * 2) * DAY, i >= 30
        status = {"customer_id": customer, "from": "lapsed", "to": "churned", "at": churned}
        risk.append(CustomerStatusChanged.new(source="/risk", time=churned, data={**status, "churn_reason": "price"}))
        enrollment = {"customer_id": customer, "playbook_id": "pb-dash", "enrollment_id": f"en-{i}", "holdout": holdout}
        campaign.append(CampaignEnrolled.new(source="/campaign", time=churned + DAY, data=enrollment))
        if i % 3 == 0:
            text = {"customer_id": customer, "contract_id": f"k{i}", "reason_text": "Preis zu hoch"}
            events.append(ContractCancelled.new(source="/billing", time=churned - DAY, data=text))
        if not holdout:
            channel = "email" if i % 2 else "sms"
            action = {
                "action_id": f"da-{i}",
                "customer_id": customer,
                "channel": channel,
                "template": f"{channel}-1",
                "playbook_id": "pb-dash",
                "enrollment_id": f"en-{i}",
            }
            actions.append(ActionTriggered.new(source="/campaign", time=churned + 2 * DAY, data=action))
        if (not holdout and i % 3 == 0) or i == 30:
            back = {"customer_id": customer, "from": "churned", "to": "won_back", "at": churned + 9 * DAY}
            risk.append(CustomerStatusChanged.new(source="/risk", time=churned + 9 * DAY, data=back))
    return risk, campaign, actions, events


async def _load(bootstrap: str) -> None:
    risk, campaign, actions, events = _history()
    publisher = EventPublisher(bootstrap)
    try:
        for topic, batch in ((Topic.RISK, risk), (Topic.CAMPAIGN, campaign), (Topic.ACTIONS, actions)):
            await publisher.publish([OutgoingRecord.of(topic.value, e) for e in batch])
        await publisher.publish([OutgoingRecord.of(Topic.EVENTS.value, e) for e in events])
    finally:
        await publisher.close()


def _run_chromium(binary: str, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    # --no-sandbox: CI runs as root; --virtual-time-budget lets the page's fetches finish before the dump.
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1366,900",
        "--virtual-time-budget=20000",
        *extra,
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


async def test_the_page_is_self_contained_and_its_data_needs_a_key(metrics: str) -> None:
    async with httpx.AsyncClient(base_url=metrics, timeout=10) as client:
        page = await client.get("/dashboard")
        assert page.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        # No external asset: the only URL in the page is the SVG namespace.
        assert re.findall(r"https?://[^\s\"'`]+", page.text) == ["http://www.w3.org/2000/svg"]
        assert (await client.get("/v1/funnel")).status_code == 401


async def test_every_chart_renders_in_headless_chromium(metrics: str, kafka_bootstrap: str) -> None:
    binary = _chromium()
    await _load(kafka_bootstrap)
    async with httpx.AsyncClient(base_url=metrics, timeout=10) as client:
        headers = {"Authorization": "Bearer dev-admin-key"}
        kpis = await eventually(
            lambda: client.get("/v1/kpis", headers=headers),
            lambda r: (
                r.json()["churned"] == 40
                and r.json()["uplift"]["overall"]["holdout"] == 10
                and r.json()["won_back"] == 11
                and r.json()["churn_reasons"][0]["themes"] != []
            ),
            timeout_s=60,
        )
    url = f"{metrics}/dashboard#key=dev-admin-key"
    dumped = await asyncio.to_thread(_run_chromium, binary, url, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    dom = dumped.stdout
    assert 'data-loaded="1"' in dom, dom[-3000:]
    for chart in CHARTS:
        match = re.search(rf'<svg[^>]*data-chart="{chart}"[^>]*>', dom)
        assert match, f"chart {chart} missing"
        marks = re.search(r'data-marks="(\d+)"', match.group(0))
        assert 'data-rendered="1"' in match.group(0) and marks and int(marks.group(1)) > 0, match.group(0)
    # The headline is the intent-to-treat uplift, the effect on the contacted beside it.
    itt = kpis.json()["uplift"]["overall"]
    headline = re.search(r'<div class="headline" id="uplift-headline" data-uplift="([^"]*)">(.*?)</section>', dom, re.S)
    assert headline and headline.group(1) == str(itt["uplift"]), dom[-3000:]
    assert "uplift (intent-to-treat)" in headline.group(2) and "on customers actually contacted" in headline.group(2)
    assert f"contact rate {100 * itt['contact_rate']:.1f} %" in headline.group(2)
    assert "dev-admin-key" not in dom  # the key left the address bar and the page
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "metrics-dashboard.png"
    shot.unlink(missing_ok=True)
    taken = await asyncio.to_thread(_run_chromium, binary, url, f"--screenshot={shot}")
    assert taken.returncode == 0, taken.stderr[-2000:]
    assert shot.stat().st_size > 10_000

"""The console in a real browser (Debian's Chromium driven by Playwright) on the five real services.

One walk through a working day: sign in, find ACME, read its timeline, record that the customer
objected on the phone and see the sequence stop, edit a playbook with a mistake and fix it, read a
step's message in German and English, sign out. Each page is kept as a screenshot in
artifacts/console/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.console import ACME, ADMIN_KEY, ConsoleWorld, console_world

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "console"
CHROMIUM = os.environ.get("WINBACK_CHROMIUM", "/usr/bin/chromium")
# No sandbox: CI runs as root. No network but the console's own: nothing phones home.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    reason = f"no Chromium at {CHROMIUM} (Debian's `chromium`: `make browser` installs it as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleWorld]:
    binary = _chromium()  # before minutes of set-up, not after
    assert binary
    logs = tmp_path_factory.mktemp("console-browser")
    with console_world(bootstrap=kafka_bootstrap, database_url=database_url, log_dir=logs) as world:
        yield world


@pytest.fixture(scope="module")
def browser(stack: ConsoleWorld) -> Iterator[Browser]:
    # After the stack: Playwright's sync API runs an event loop in this thread, and the stack's
    # set-up (broker topics) needs asyncio.run.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=_chromium(), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: ConsoleWorld) -> Iterator[Page]:
    context = browser.new_context(base_url=stack.console, viewport={"width": 1366, "height": 860}, locale="en-GB")
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def reload_until(page: Page, check: str, timeout_s: float = 30.0) -> None:
    """Reload until the page shows `check` (the services act on events a moment later)."""
    deadline = time.monotonic() + timeout_s
    while page.locator(check).count() == 0:
        assert time.monotonic() < deadline, f"{check} not shown on {page.url}"
        time.sleep(0.5)
        page.reload()


def test_a_working_day_in_the_console(page: Page, stack: ConsoleWorld) -> None:
    # Sign in.
    page.goto("/today")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Ftoday$"))
    shot(page, "01-login")
    page.fill("#api_key", ADMIN_KEY)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/today$"))

    # Today: ACME's call for Petra Klein, with the §7a record of the written phone consent.
    task = page.locator(f"article.task[data-customer='{ACME}']")
    expect(task).to_have_count(1)
    expect(page.locator("section.group[data-assignee='account_manager'] h2")).to_contain_text("Petra Klein")
    expect(task.locator("details.consent")).to_contain_text("phone-consent-v2")
    expect(task.locator(".facts")).to_contain_text("service")
    shot(page, "02-today")

    # Find the customer from the search box and read the timeline.
    page.fill("header .search input", "ACME Masch")
    page.press("header .search input", "Enter")
    expect(page).to_have_url(re.compile(r"/customers\?q=ACME"))
    shot(page, "03-search")
    page.click(f"a[href='/customers/{ACME}']")
    timeline = page.locator("ol.timeline")
    for kind in ("order_placed", "contract_cancelled", "status_changed", "enrolled", "action_triggered"):
        expect(timeline.locator(f"li[data-type='{kind}']").first).to_be_visible()
    expect(page.locator("tr[data-channel='phone'] td[data-basis='express_consent']")).to_contain_text("express consent")
    page.click("#verify-ledger")
    expect(page.locator("[data-ledger='valid']")).to_be_visible()
    shot(page, "04-customer")

    # The customer objects on the phone: recorded, the sequence stops, consent refuses every channel.
    page.goto("/today")
    form = page.locator(f"article.task[data-customer='{ACME}'] form.outcome")
    form.locator("input[value='objected']").check()
    form.locator("input[name='note']").fill("Wants no more calls or letters")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash.ok")).to_contain_text("objection")
    expect(page.locator(f"article.task[data-customer='{ACME}']")).to_have_count(0)
    page.goto(f"/customers/{ACME}")
    reload_until(page, "li[data-type='objection']")
    expect(page.locator("li[data-type='exited']").first).to_contain_text("objection")
    # The next step, the letter, will not go out.
    expect(page.locator(".enrolment[data-playbook='console-call'] tr[data-step='letter']")).to_have_attribute(
        "data-step-status", "skipped"
    )
    reload_until(page, "tr[data-channel='post'] td.no")
    expect(page.locator("tr[data-channel='phone'] td.no")).to_contain_text("objection")
    shot(page, "05-customer-after-objection")

    # A playbook edited with a mistake, the problem shown at its field, then fixed.
    page.goto("/playbooks")
    shot(page, "06-playbooks")
    page.click("a[href='/playbooks/quick-fix']")
    page.click("#edit")
    page.fill("input[name='steps.0.after']", "P3X")
    page.click("#save")
    problem = page.locator(".field-error[data-field='steps.0.after']")
    expect(problem).to_be_visible()
    expect(page.locator("input[name='steps.0.after']")).to_have_value("P3X")
    shot(page, "07-playbook-error")
    page.fill("input[name='steps.0.after']", "P2D")
    page.click("#save")
    expect(page.locator(".flash.ok")).to_contain_text("version 2")

    # Each step's message for ACME in German and English, with sender and opt-out link.
    page.fill("#render-customer", ACME)
    page.click("#render")
    first = page.locator(".step-messages").first
    for language in ("de", "en"):
        card = first.locator(f"article.message-card[data-language='{language}']")
        expect(card.locator("[data-field='sender']")).not_to_be_empty()
        expect(card.locator("[data-field='opt_out_url']")).to_contain_text("unsubscribe")
    shot(page, "08-playbook-messages")

    page.goto("/segments")
    expect(page.locator(".quadrant")).to_have_count(4)
    shot(page, "09-segments")
    page.goto("/results")
    expect(page.locator("[data-kpi='churned']")).to_be_visible()
    shot(page, "10-results")

    # Sign out: the session is gone.
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator(".flash")).to_contain_text("signed out")
    page.goto("/today")
    expect(page).to_have_url(re.compile(r"/login\?next="))

"""A whole case worked in the console, in real Chromium, on a compressed calendar: the call centre enters a phone
complaint, customer service triages, the
department sees it (and another department does not), it escalates to the Director General's queue, the DG
instructs, the department replies, customer service answers; the timeline shows every step. And the same work
with JavaScript off, by plain forms."""

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Page

from domain.kinds import Role
from tests.conftest import DEPARTMENT, OTHER_DEPARTMENT, running_workers, services_for
from tests.e2e.accessibility import assert_accessible
from tests.e2e.conftest import serving
from tests.e2e.console import csrf_of, new_staff, signed_in_client
from tests.e2e.test_console_queues import signed_in_in
from tests.helpers import bearer, complaint, created_references, eventually, submit

pytestmark = pytest.mark.asyncio

# Long enough for the triage and the department's look before the department's 3 days are up (30 s), short
# enough to watch the escalation happen.
FLOW_WORKING_DAY_SECONDS = 10.0


@pytest.fixture(scope="module")
async def flow_api(settings, database, temporal_client) -> AsyncIterator[str]:
    """The app and a worker of its own on a calendar of 10-second working days; yields the app's base URL."""
    flow_settings = settings.model_copy(update={"task_queue": "complaints-test-console-flow",
                                                "working_day_seconds": FLOW_WORKING_DAY_SECONDS})
    async with running_workers(temporal_client, flow_settings, database):
        async with serving(services_for(flow_settings, database, temporal_client)) as base_url:
            yield base_url


async def _submitted(base_url: str, keys) -> str:
    async with httpx.AsyncClient(base_url=base_url) as api:
        reference = (await submit(api, keys.channel, complaint(subject="Passport renewal delayed"))) ["reference"]

        async def recorded() -> bool:
            return (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.auditor))).status_code == 200
        await eventually(recorded)
    return reference


async def _entered_by_phone(page: Page) -> str:
    """The call centre types in the complaint a caller gave by phone; the reference it reads out to them."""
    await page.goto("/console/cases/new")
    await page.select_option("#kind", "complaint")
    await page.select_option("#channel", "phone")
    await page.select_option("#submitter-category", "beneficiary")
    await page.fill("#submitter-name", "Salim Al-Harthy")
    await page.fill("#submitter-civil_id", "12345678")
    await page.fill("#submitter-phone", "+96891234567")
    await page.fill("#subject", "Passport renewal delayed")
    await page.fill("#description", "Called to say the renewal has waited three weeks.")
    await page.click("form.new-case button[type=submit]")
    await page.wait_for_selector("#tracking-code")
    reference = (await page.text_content("#case-reference")).strip()
    created_references.append(reference)
    return reference


async def _act(page: Page, reference: str, slug: str, text: str | None = None) -> None:
    """Open the case, fill the action's text and send it; htmx swaps the case in with the outcome."""
    await page.goto(f"/console/cases/{reference}")
    if text is not None:
        await page.fill(f"#{slug}-text", text)
    await page.click(f"form[action$='/{slug}'] button[type=submit]")
    await page.wait_for_selector("#case-part .alert-success")


async def _until_listed(page: Page, url: str, reference: str, timeout: float) -> None:
    """Reload the queue until the case is in it (the escalation is the workflow's, on its own clock)."""
    deadline = time.monotonic() + timeout
    while True:
        await page.goto(url)
        if await page.locator(f"#queue-rows a:text-is('{reference}')").count():
            return
        assert time.monotonic() < deadline, f"{reference} not in {url} within {timeout} s"
        await asyncio.sleep(1)


async def test_a_case_worked_in_the_console_from_triage_through_escalation_to_the_answer(
        browser, flow_api, database, keys, screenshots):
    people = {
        "caller": await new_staff(database, Role.CALL_CENTRE, name="Huda Al-Saadi"),
        "agent": await new_staff(database, Role.CS_AGENT, name="Aisha Al-Balushi"),
        "officer": await new_staff(database, Role.DEPARTMENT, DEPARTMENT, name="Khalid Al-Rawahi"),
        "other": await new_staff(database, Role.DEPARTMENT, OTHER_DEPARTMENT, name="Maryam Al-Hinai"),
        "dg": await new_staff(database, Role.DIRECTOR_GENERAL, name="Said Al-Maawali"),
    }
    # Everyone signs in first: the case's clock starts when it is submitted.
    tabs = {who: await signed_in_in(browser, flow_api, account, "ar", "/console/queues")
            for who, account in people.items()}
    page = {who: tab[1] for who, tab in tabs.items()}
    try:
        reference = await _entered_by_phone(page["caller"])

        await _until_listed(page["agent"], f"/console/queues/triage?q={reference}", reference, 10)
        await page["agent"].click(f"#queue-rows a:text-is('{reference}')")
        await page["agent"].select_option("#triage-department", DEPARTMENT)
        await page["agent"].click("form[action$='/triage'] button[type=submit]")
        await page["agent"].wait_for_selector("#case-part .alert-success")

        await _until_listed(page["officer"], "/console/queues/department", reference, 5)
        hidden = await page["other"].goto(f"/console/cases/{reference}")
        assert hidden.status == 404
        await page["other"].goto("/console/queues/department")
        assert await page["other"].locator(f"#queue-rows a:text-is('{reference}')").count() == 0

        # No reply within the department's 3 working days: the case is raised to the Director General.
        await _until_listed(page["dg"], "/console/queues/escalated", reference, 60)
        row = page["dg"].locator("#queue-rows tr", has=page["dg"].locator(f"a:text-is('{reference}')"))
        assert await row.locator(".badge-overdue").count() >= 1  # the department's deadline has passed
        assert "مضى على الموعد" in await row.inner_text()
        await page["dg"].screenshot(path=screenshots / "console-queue-escalated-flow-ar.png", full_page=True)
        await assert_accessible(page["dg"], "console-queue-escalated-flow-ar")

        await _act(page["dg"], reference, "instruct", "Renew the passport this week and report back.")
        await _act(page["officer"], reference, "reply", "Renewed on the Director General's instruction.")
        await _until_listed(page["agent"], "/console/queues/replies", reference, 5)
        await _act(page["agent"], reference, "respond", "Your passport is renewed; collect it at the office.")

        timeline = await page["agent"].locator(".timeline").inner_text()
        # The complaint was routed at intake (its subject's keywords) to the department the triage then keeps.
        for step in ("الاستلام والتوثيق", "أُحيلت إلى التقسيم المختص", "التقييم: تبقى لدى التقسيم المختص",
                     "رُفعت إلى المدير العام (المستوى الثاني)", "توجيه التقسيم المختص",
                     "الرد إلى دائرة خدمة المراجعين", "إبلاغ مقدم الطلب بالنتائج"):
            assert step in timeline, step
        for name in ("Huda Al-Saadi", "Aisha Al-Balushi", "Said Al-Maawali", "Khalid Al-Rawahi"):
            assert name in timeline, name
        assert "Renewed on the Director General's instruction." in timeline
        await page["agent"].screenshot(path=screenshots / "console-case-flow-ar.png", full_page=True)
    finally:
        for context, _ in tabs.values():
            await context.close()


def _outcome(html: str) -> str:
    found = re.search(r'<div class="alert alert-success no-print" role="status">([^<]+)</div>', html)
    return found.group(1) if found else ""


async def _send(client: httpx.AsyncClient, reference: str, slug: str, **fields) -> str:
    """Open the case, post the action's form as a browser without JavaScript does, follow the redirect back."""
    page = await client.get(f"/console/cases/{reference}")
    attempt = re.search(r'name="attempt" value="([0-9a-f]{32})"', page.text).group(1)
    sent = await client.post(f"/console/cases/{reference}/{slug}",
                             data={"csrf_token": csrf_of(page.text), "attempt": attempt, **fields})
    assert sent.status_code == 303, sent.text
    back = await client.get(sent.headers["location"])
    assert back.status_code == 200
    return back.text


async def test_without_javascript_a_case_is_worked_to_its_close_by_plain_forms(calm_served_api, database, keys):
    reference = await _submitted(calm_served_api, keys)
    agent = await new_staff(database, Role.CS_AGENT)
    officer = await new_staff(database, Role.DEPARTMENT, DEPARTMENT)
    async with signed_in_client(calm_served_api, agent) as cs, signed_in_client(calm_served_api, officer) as dept:
        triaged = await _send(cs, reference, "triage", department=DEPARTMENT)
        assert _outcome(triaged) == "تم تقييم الحالة وتصنيفها وإحالتها."
        assert _outcome(await _send(dept, reference, "reply", summary="Renewed.")) == "سُجّل الرد."
        assert _outcome(await _send(cs, reference, "respond", message="It is renewed.")) == "أُرسل الرد إلى مقدم الطلب."
        closed = await _send(cs, reference, "close")
    assert _outcome(closed) == "أُغلقت الحالة." and "لا يوجد إجراء متاح لك" in closed
    for step in ("الرد إلى دائرة خدمة المراجعين", "إبلاغ مقدم الطلب بالنتائج", "الإغلاق والحفظ",
                 "قبِل مقدم الطلب الرد"):
        assert step in closed, step

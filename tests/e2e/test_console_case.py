"""A case's page in the console: facts, deadlines, timeline and messages; exactly the actions the policy allows,
as forms that work without JavaScript (POST, redirect, GET) and, with htmx, swap the case in place."""

import re
import secrets

import httpx
import pytest
from sqlmodel import select

from api.auth import staff_caller
from api.schemas import CaseCreate
from api.service.intake import accept_submission, check_may_submit
from domain.kinds import Role
from store.cases import find_case
from store.models import CaseRead
from store.staff import user_with_login
from tests.conftest import DEPARTMENT, OTHER_DEPARTMENT
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console import csrf_of, new_staff, signed_in_client
from tests.e2e.test_console_queues import signed_in_in
from tests.helpers import bearer, complaint, eventually, submit

pytestmark = pytest.mark.asyncio


async def _new_case(base_url: str, keys, **overrides) -> str:
    async with httpx.AsyncClient(base_url=base_url) as api:
        reference = (await submit(api, keys.channel, complaint(**overrides)))["reference"]

        async def recorded() -> bool:
            return (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.auditor))).status_code == 200
        await eventually(recorded)
    return reference


def _forms(html: str) -> list[str]:
    """The actions the page offers, by the paths its forms post to."""
    return re.findall(r'<form method="post" action="/console/cases/[^/]+/([a-z-]+)"', html)


def _attempt(html: str) -> str:
    return re.search(r'name="attempt" value="([0-9a-f]{32})"', html).group(1)


async def _post(client, reference: str, slug: str, page_html: str, **fields) -> httpx.Response:
    return await client.post(f"/console/cases/{reference}/{slug}",
                             data={"csrf_token": csrf_of(page_html), "attempt": _attempt(page_html), **fields})


async def test_without_javascript_customer_service_triages_and_the_page_says_so(calm_served_api, database, keys):
    reference = await _new_case(calm_served_api, keys)
    agent = await new_staff(database, Role.CS_AGENT, name="Aisha Al-Balushi")
    async with signed_in_client(calm_served_api, agent) as client:
        page = await client.get(f"/console/cases/{reference}")
        assert page.status_code == 200
        # Customer service on a received case: triage, reject, ask for details, reply; nothing else.
        assert _forms(page.text) == ["triage", "reject", "request-info", "reply"]
        assert "Salim Al-Harthy" in page.text  # customer service sees a complaint's submitter
        moved = await _post(client, reference, "triage", page.text, department=OTHER_DEPARTMENT, kind="", priority="")
        assert moved.status_code == 303 and moved.headers["location"] == f"/console/cases/{reference}?done=triage"
        after = await client.get(moved.headers["location"])
        assert "تم تقييم الحالة وتصنيفها وإحالتها." in after.text
        assert "Aisha Al-Balushi" in after.text and "التقييم والتصنيف والإحالة إلى التقسيم المختص" in after.text
    async with database.session() as session:
        reads = (await session.exec(select(CaseRead).where(CaseRead.reference == reference))).all()
    assert any(read.user_id is not None for read in reads)  # opening the page is recorded as a read


async def test_a_refused_action_shows_its_reason_by_its_form_and_changes_nothing(calm_served_api, database, keys):
    reference = await _new_case(calm_served_api, keys)
    agent = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(calm_served_api, agent) as client:
        page = await client.get(f"/console/cases/{reference}")
        empty = await _post(client, reference, "reject", page.text, reason="  ")
        assert empty.status_code == 422 and "أكمل النموذج: هناك نص ناقص." in empty.text
        # Responding before the department replied: the workflow refuses it, in words, next to the form's place.
        refused = await _post(client, reference, "respond", page.text, message="Here is your answer")
        assert refused.status_code == 409 and "وضع الحالة لا يسمح بهذا الإجراء الآن" in refused.text
        again = await client.get(f"/console/cases/{reference}")
        assert "مستلمة، بانتظار التقييم" in again.text and "Here is your answer" not in again.text
        # A form without the session's CSRF token is refused before anything is read.
        forged = await client.post(f"/console/cases/{reference}/reject", data={"csrf_token": "x", "reason": "No"})
        assert forged.status_code == 403


async def test_another_department_gets_not_found_and_a_report_hides_its_submitter(calm_served_api, database, keys):
    reference = await _new_case(calm_served_api, keys, kind="report", priority="normal")
    async with httpx.AsyncClient(base_url=calm_served_api) as api:
        routed = await api.post(f"/v1/cases/{reference}/triage", json={"department": DEPARTMENT},
                                headers=bearer(keys.cs_agent))
        assert routed.status_code == 200, routed.text
    ours = await new_staff(database, Role.DEPARTMENT, DEPARTMENT)
    theirs = await new_staff(database, Role.DEPARTMENT, OTHER_DEPARTMENT)
    async with signed_in_client(calm_served_api, theirs) as client:
        hidden = await client.get(f"/console/cases/{reference}")
        assert hidden.status_code == 404 and "case-part" not in hidden.text and "Renewal delayed" not in hidden.text
        page = await client.get("/console/queues/department")
        acting = await client.post(f"/console/cases/{reference}/reply",
                                   data={"csrf_token": csrf_of(page.text), "summary": "x"})
        assert acting.status_code == 404
    async with signed_in_client(calm_served_api, ours) as client:
        page = await client.get(f"/console/cases/{reference}")
        assert page.status_code == 200 and "Salim Al-Harthy" not in page.text and "12345678" not in page.text
        assert "لا تظهر هوية مقدم البلاغ لدورك." in page.text
        assert _forms(page.text) == ["request-info", "reply"]
        replied = await _post(client, reference, "reply", page.text, summary="We renewed it.")
        assert replied.status_code == 303
        after = await client.get(replied.headers["location"])
        assert _forms(after.text) == [] and "We renewed it." in after.text


async def test_the_same_form_sent_twice_is_one_action(calm_served_api, database, keys):
    reference = await _new_case(calm_served_api, keys)
    agent = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(calm_served_api, agent) as client:
        page = await client.get(f"/console/cases/{reference}")
        first = await _post(client, reference, "request-info", page.text, question="Which office?")
        second = await _post(client, reference, "request-info", page.text, question="Which office?")
        assert first.status_code == second.status_code == 303
        after = await client.get(f"/console/cases/{reference}")
    assert after.text.count("Which office?") == 1
    assert "متوقف: بانتظار مقدم الطلب" in after.text and _forms(after.text) == ["submitter-info"]


async def test_new_is_not_a_reference(calm_served_api, database):
    agent = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(calm_served_api, agent) as client:
        answer = await client.get("/console/cases/new")
    # Another page's path (the new-case form): never taken for a case of reference "new".
    assert "console/case.html" not in answer.text and 'class="case-part"' not in answer.text


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_the_case_page_in_chromium_swaps_an_action_in_place(browser, calm_served_api, database, keys,
                                                                  screenshots, language):
    reference = await _new_case(calm_served_api, keys, subject=f"Renewal delayed {secrets.token_hex(3)}")
    agent = await new_staff(database, Role.CS_AGENT, name="Aisha Al-Balushi")
    context, page = await signed_in_in(browser, calm_served_api, agent, language, f"/console/cases/{reference}")
    try:
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=screenshots / f"console-case-{language}.png", full_page=True)
        await assert_accessible(page, f"console-case-{language}")
        await page.fill("#request-info-text", "Which office did you apply at?")
        marker = await page.evaluate("window.performance.timeOrigin")
        await page.click("form[action$='/request-info'] button[type=submit]")
        await page.wait_for_selector("#case-part .alert-success")
        # htmx swapped the case's part: the same document, the question in the timeline, the answer form now.
        assert await page.evaluate("window.performance.timeOrigin") == marker
        assert await page.locator("#case-part").get_by_text("Which office did you apply at?").count() == 1
        assert await page.locator("#submitter-info-text").count() == 1
        await assert_accessible(page, f"console-case-after-action-{language}")
        if language == "ar":
            await page.emulate_media(media="print")
            await page.screenshot(path=screenshots / "console-case-print.png", full_page=True)
            assert await page.locator("form.console-action").first.is_hidden()
            assert await page.locator("header").is_hidden()
            await page.pdf(path=screenshots.parent / "console-case-print.pdf")
    finally:
        await context.close()


async def _entered_by_phone(services, database, account) -> str:
    """A phone complaint the call-centre agent typed in (the new-case form's application function)."""
    user = await user_with_login(database, account.login)
    caller = staff_caller(user.id, Role.CALL_CENTRE, None)
    submission = CaseCreate.model_validate(complaint(channel="phone", subject="Called about a delayed renewal"))
    check_may_submit(caller, submission)
    reference = (await accept_submission(services, submission, caller)).intake.reference

    async def recorded() -> bool:
        return await find_case(database, reference) is not None
    await eventually(recorded)
    return reference


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_the_call_centre_reads_a_case_it_entered_as_its_submitter_does(browser, calm_served_api, calm_services,
                                                                            database, screenshots, language):
    agent = await new_staff(database, Role.CALL_CENTRE)
    reference = await _entered_by_phone(calm_services, database, agent)
    context, page = await signed_in_in(browser, calm_served_api, agent, language, "/console/queues/entered")
    try:
        assert await page.locator(f"#queue-rows a:text-is('{reference}')").count() == 1
        await page.click(f"#queue-rows a:text-is('{reference}')")
        await page.wait_for_load_state("networkidle")
        # The tracking view: where the case stands in the submitter's words, no staff forms, no identity.
        assert await page.locator("form.console-action").count() == 0
        assert await page.get_by_text("Salim Al-Harthy").count() == 0
        await page.screenshot(path=screenshots / f"console-case-tracking-{language}.png", full_page=True)
        await assert_accessible(page, f"console-case-tracking-{language}")
        missing = await page.goto("/console/cases/C-2026-999999")
        assert missing.status == 404
        await page.screenshot(path=screenshots / f"console-case-not-found-{language}.png", full_page=True)
        await assert_accessible(page, f"console-case-not-found-{language}")
    finally:
        await context.close()

"""Following a case on the public site (`/track`): the reference and code in a form, a short session of its own for
that one case, the question answered (by an anonymous reporter too, unseen by the department), the answer
contested, the closed case rated, a wrong code that looks like an unknown reference; and the messages' link."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import select

from activities.messages import MessageRenderer
from api.auth import hash_secret
from api.routes.tracking import default_limiter
from api.service.public_site import open_tracking_session, tracking_session_for
from store.models import PublicSession
from store.public_sessions import add_public_session
from store.ratings import Rating
from tests.conftest import DEPARTMENT
from tests.e2e.accessibility import assert_accessible
from tests.e2e.public import (
    act,
    anonymous_report_form,
    complaint_form,
    read_case,
    served_public_site,  # noqa: F401 (the fixture `public_site`)
    submit_on_the_site,
)
from tests.helpers import eventually
from web.i18n import words_for

COOKIE = "complaints_public_tracking"


async def _open_in_chromium(browser, public_site: str, receipt, language: str):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, base_url=public_site)
    page = await context.new_page()
    await page.goto(f"/track?lang={language}")
    await page.fill("#reference", receipt.reference)
    await page.fill("#tracking_code", receipt.tracking_code)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert page.url == f"{public_site}/track"  # the code went in the POST's body, never in a URL
    return context, page


async def _post_in_page(page, selector: str) -> None:
    async with page.expect_navigation():
        await page.click(selector)


async def test_an_anonymous_reporter_answers_the_departments_question_unseen(public_site, browser, screenshots, api,
                                                                            keys):
    async with httpx.AsyncClient(base_url=public_site) as client:
        receipt = await submit_on_the_site(client, anonymous_report_form(), language="ar")
    await act(api, keys.cs_agent, receipt.reference, "triage", {"department": DEPARTMENT})
    question = "في أي يوم دفعتم الرسوم، وكم كان المبلغ؟"
    await act(api, keys.department, receipt.reference, "request-info", {"question": question})

    context, page = await _open_in_chromium(browser, public_site, receipt, "ar")
    assert (await page.inner_text("#question")).strip() == question
    assert "أجيبوا عن السؤال" in await page.inner_text("#next-step")
    await page.screenshot(path=screenshots / "public-track-ar.png", full_page=True)
    await assert_accessible(page, "public-track-ar")
    answer = f"يوم الأحد، عشرة ريالات {uuid.uuid4().hex[:6]}"
    await page.fill("#answer", answer)
    await _post_in_page(page, "button[type=submit]:has-text('إرسال الإجابة')")
    assert "أُرسلت إجابتكم" in await page.inner_text("main")
    assert "with_department" in (await read_case(api, keys.cs_agent, receipt.reference))["status"]
    await context.close()

    seen = await read_case(api, keys.department, receipt.reference)
    answered = [entry for entry in seen["timeline"] if entry["action"] == "submitter_info"]
    assert answered and answered[0]["detail"]["answer"] == answer
    # The department reads the answer, and nothing of who sent it: no identity, no channel reference, no key.
    assert seen["submitter"] is None and seen["channel_ref"] is None
    assert answered[0]["actor"] == "submitter"


async def test_a_named_reporter_answers_without_javascript_and_stays_hidden_from_the_department(public_site, api,
                                                                                              keys, database):
    form = anonymous_report_form(name="Aisha Al-Balushi", civil_id="87654321", email="aisha@example.om")
    async with httpx.AsyncClient(base_url=public_site, follow_redirects=False) as client:
        receipt = await submit_on_the_site(client, form, language="en")
        await act(api, keys.cs_agent, receipt.reference, "triage", {"department": DEPARTMENT})
        await act(api, keys.department, receipt.reference, "request-info", {"question": "Which office?"})
        opened = await client.post("/track", data={"reference": receipt.reference.lower(),
                                                   "tracking_code": receipt.tracking_code})
        assert opened.status_code == 303 and opened.headers["location"] == "/track"
        cookie = next(c for c in client.cookies.jar if c.name == COOKIE)
        assert cookie.has_nonstandard_attr("HttpOnly") and cookie.get_nonstandard_attr("SameSite") == "lax"
        assert cookie.path == "/" and not cookie.secure  # Secure over HTTPS; this test serves plain HTTP
        page = await client.get("/track?lang=en")
        assert "Which office?" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        action_key = re.search(r'name="action_key" value="([^"]+)"', page.text).group(1)

        forged = await client.post("/track/answer", data={"answer": "Seeb", "csrf_token": "forged"})
        assert forged.status_code == 403
        assert (await read_case(api, keys.cs_agent, receipt.reference))["status"] == "awaiting_submitter"

        fields = {"answer": "The Seeb office.", "csrf_token": csrf, "action_key": action_key}
        sent = await client.post("/track/answer", data=fields)
        again = await client.post("/track/answer", data=fields)  # a double click: the same Update, taken once
        assert sent.status_code == 303 and sent.headers["location"] == "/track?done=answered"
        assert again.status_code in (303, 409)

    async with database.session() as session:
        rows = (await session.exec(select(PublicSession).where(PublicSession.reference == receipt.reference))).all()
    assert len(rows) == 1 and rows[0].token_hash == hash_secret(cookie.value)
    assert rows[0].expires_at - rows[0].created_at == timedelta(minutes=30)

    staff = await read_case(api, keys.cs_agent, receipt.reference)
    assert [e["action"] for e in staff["timeline"]].count("submitter_info") == 1
    assert staff["submitter"]["name"] == "Aisha Al-Balushi"  # customer service sees who reported
    department = await read_case(api, keys.department, receipt.reference)
    assert department["submitter"] is None and "Aisha" not in str(department) and "87654321" not in str(department)


async def test_the_answer_is_contested_and_the_closed_case_rated(public_site, browser, screenshots, api, keys,
                                                                  database):
    async with httpx.AsyncClient(base_url=public_site) as client:
        receipt = await submit_on_the_site(client, complaint_form(), language="en")
    reference = receipt.reference
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "reply", {"summary": "The file was found and renewed."})
    await act(api, keys.cs_agent, reference, "respond", {"message": "Your passport is ready at the Seeb office."})

    context, page = await _open_in_chromium(browser, public_site, receipt, "en")
    assert "Your passport is ready" in await page.inner_text("#ministry-answer")
    assert "contest it until" in await page.inner_text("#next-step")
    await page.screenshot(path=screenshots / "public-track-en.png", full_page=True)
    await assert_accessible(page, "public-track-en")
    await page.fill("#reason", "The office says it has no passport for me.")
    await _post_in_page(page, "button:has-text('Contest the answer')")
    assert "Your objection was sent" in await page.inner_text("main")
    reopened = await read_case(api, keys.cs_agent, reference)
    assert reopened["escalation_level"] == 2

    await act(api, keys.director_general, reference, "reply", {"summary": "Issued again today."})
    await act(api, keys.cs_agent, reference, "respond", {"message": "It was issued again today."})
    await act(api, keys.cs_agent, reference, "close")

    async def closed() -> bool:
        await page.goto("/track?lang=en")
        return await page.is_visible("#score-4")

    await eventually(closed, timeout=30, interval=0.5)
    await page.screenshot(path=screenshots / "public-track-closed-en.png", full_page=True)
    await assert_accessible(page, "public-track-closed-en")
    await page.check("#score-4")
    await page.fill("#comment", "Solved in the end.")
    await _post_in_page(page, "button:has-text('Send the rating')")
    assert "your rating was recorded" in await page.inner_text("main")
    assert not await page.is_visible("#score-4")
    await context.close()
    async with database.session() as session:
        rating = (await session.exec(select(Rating).where(Rating.reference == reference))).one()
    assert (rating.score, rating.comment) == (4, "Solved in the end.")


async def test_a_wrong_code_answers_like_an_unknown_reference_and_counts(public_site, browser, screenshots):
    async with httpx.AsyncClient(base_url=public_site) as client:
        receipt = await submit_on_the_site(client, complaint_form(), language="en")
        before = default_limiter.by_case.failures(receipt.reference)
        wrong = await client.post("/track?lang=en", data={"reference": receipt.reference, "tracking_code": "x" * 22})
        unknown = await client.post("/track?lang=en", data={"reference": "C-2026-999999", "tracking_code": "x" * 22})
    assert wrong.status_code == unknown.status_code == 404

    def alert(html: str) -> str:
        return re.search(r'id="track-error">([^<]+)<', html).group(1)

    assert alert(wrong.text) == alert(unknown.text) == "No case has this reference and tracking code."
    assert COOKIE not in wrong.headers.get("set-cookie", "")
    # The same limiter as /v1/track: this guess counts against the case.
    assert default_limiter.by_case.failures(receipt.reference) == before + 1

    context = await browser.new_context(base_url=public_site)
    page = await context.new_page()
    for language, refusal in [("ar", "لا يوجد طلب بهذا الرقم المرجعي"), ("en", "No case has this reference")]:
        await page.goto(f"/track?lang={language}")
        await page.screenshot(path=screenshots / f"public-track-open-{language}.png", full_page=True)
        await assert_accessible(page, f"public-track-open-{language}")
        await page.fill("#reference", receipt.reference)
        await page.fill("#tracking_code", "not the code")
        async with page.expect_navigation():
            await page.click("button[type=submit]")
        assert refusal in await page.inner_text("#track-error")
    await context.close()


async def test_leaving_ends_the_session_and_a_copied_cookie_opens_nothing(public_site, database, api, keys):
    async with httpx.AsyncClient(base_url=public_site, follow_redirects=False) as client:
        receipt = await submit_on_the_site(client, complaint_form(), language="en")
        # The case's row is written by its workflow's first step, a moment after the answer page.
        await eventually(lambda: read_case(api, keys.cs_agent, receipt.reference))
        await client.post("/track", data={"reference": receipt.reference, "tracking_code": receipt.tracking_code})
        token = client.cookies[COOKIE]
        assert receipt.reference in (await client.get("/track")).text
        left = await client.post("/track/leave")
        assert left.status_code == 303
        client.cookies.set(COOKIE, token)
        page = await client.get("/track")
    assert 'name="tracking_code"' in page.text and receipt.reference not in page.text
    async with database.session() as session:
        assert (await session.exec(select(PublicSession).where(
            PublicSession.token_hash == hash_secret(token)))).first() is None


async def test_an_expired_session_opens_nothing(calm_services):
    token, _ = await open_tracking_session(calm_services, "C-2026-000001")
    assert await tracking_session_for(calm_services, token) is not None
    expired = PublicSession(token_hash=hash_secret("expired"), reference="C-2026-000001", csrf_token="x",
                            created_at=datetime.now(UTC) - timedelta(hours=1),
                            expires_at=datetime.now(UTC) - timedelta(minutes=1))
    await add_public_session(calm_services.database, expired)
    assert await tracking_session_for(calm_services, "expired") is None


def test_the_messages_link_to_the_tracking_page_and_never_carry_the_code():
    context = {"reference": "C-2026-000123", "kind": "complaint", "status": "received",
               "answer_due": "2026-12-03T10:30:00+00:00", "question": "Which office?"}
    renderer = MessageRenderer(public_url="https://complaints.moi.gov.om/")
    for language in ("ar", "en"):
        for template in ("acknowledgement", "info_request", "answer", "closure", "rejection"):
            body = renderer.render(template, language, {**context, "message": "m", "reason": "r"}).body
            assert "https://complaints.moi.gov.om/track" in body and "C-2026-000123" in body, (template, language)
            assert "tracking_code" not in body


def test_arabic_indic_digits_are_the_ministrys_choice():
    instant = datetime(2026, 12, 1, 6, 5, tzinfo=UTC)
    chosen, latin = words_for("ar", arabic_digits=True), words_for("ar")
    assert chosen.day(instant) == "١ ديسمبر ٢٠٢٦" and latin.day(instant) == "1 ديسمبر 2026"
    assert chosen.when(instant).endswith("١٠:٠٥") and chosen.number(12) == "١٢"
    assert words_for("en", arabic_digits=True).number(2026) == "2,026"  # English keeps Latin digits

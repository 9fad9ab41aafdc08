"""Submitting on the public site (`/`): each kind in Chromium in both languages, errors in words next to their
field, the honeypot, one case for a double submit, the proof of work and its fallback with JavaScript off, the
limits, the receipt, the phone viewport, and nothing shared with the staff console."""

import re

import httpx
import pytest
from playwright.async_api import Page

from api.app import create_app
from api.public_limit import PublicLimiter
from domain.kinds import Role
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console import new_staff, signed_in_client
from tests.e2e.public import (
    anonymous_report_form,
    complaint_form,
    made_no_case,
    read_case,
    receipt_of,
    roomy_services,
    send_form,
    served_public_site,  # noqa: F401 (the fixture `public_site`)
    solved_proof,
    submission_key_of,
    submit_on_the_site,
    website_cases,
)
from tests.helpers import eventually
from web.i18n import arabic_words
from web.public.submit import CATEGORY_WORDS, FIELD_WORDS, KIND_WORDS
from web.public.track import DONE_WORDS

SUGGESTION = {"kind": "suggestion", "category": "employee", "name": "", "civil_id": "", "email": "", "phone": "",
              "subject": "Open the Seeb office on Saturdays", "description": "Many of us work during the week.",
              "duties": "yes"}


async def _fill_and_send(page: Page, form: dict[str, str]) -> None:
    await page.check(f"#kind-{form['kind']}")
    await page.select_option("#category", form["category"])
    for name in ("subject", "description", "name", "civil_id", "email", "phone"):
        if form.get(name) and await page.is_visible(f"#{name}"):
            await page.fill(f"#{name}", form[name])
    await page.check("#duties")
    async with page.expect_navigation():
        await page.click("button[type=submit]")


@pytest.mark.parametrize(("kind", "language"), [("complaint", "ar"), ("report", "en"), ("suggestion", "ar"),
                                                ("complaint", "en")])
async def test_each_kind_is_submitted_in_chromium_with_the_proof_of_work(public_site, browser, screenshots, api, keys,
                                                                         kind, language):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, base_url=public_site)
    outside: list[str] = []
    await context.route(re.compile(r"^(?!" + re.escape(public_site) + ").*"),
                        lambda route: outside.append(route.request.url) or route.abort())
    page = await context.new_page()
    await page.goto(f"/?lang={language}")
    assert await page.get_attribute("html", "dir") == ("rtl" if language == "ar" else "ltr")
    form = {"complaint": complaint_form(), "report": anonymous_report_form(), "suggestion": SUGGESTION}[kind]
    await page.check(f"#kind-{kind}")
    # A suggestion asks for no civil ID: the script hides it; a complaint's is required.
    assert await page.is_visible("#civil_id") == (kind != "suggestion")
    if kind == "complaint":
        await page.screenshot(path=screenshots / f"public-submit-{language}.png", full_page=True)
        await assert_accessible(page, f"public-submit-{language}")
    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.post_data or "") if request.method == "POST" else None)
    await _fill_and_send(page, form)
    receipt = receipt_of(await page.content())
    assert await page.is_visible("#keep-the-code")
    # The widget solved the proof of work before the form went: its payload (base64 JSON) is in the body.
    assert re.search(r'name="altcha"\r\n\r\ney[A-Za-z0-9+/=]{40,}', posted[-1]), posted[-1][-600:]
    if kind == "complaint":
        await page.screenshot(path=screenshots / f"public-submitted-{language}.png", full_page=True)
        await assert_accessible(page, f"public-submitted-{language}")
    case = await read_case(api, keys.cs_agent, receipt.reference)
    assert (case["kind"], case["channel"], case["subject"]) == (kind, "website", form["subject"])
    assert receipt.reference.startswith({"complaint": "C-", "report": "R-", "suggestion": "S-"}[kind])
    assert outside == []
    await context.close()


async def test_the_answer_gives_the_due_date_in_working_days_and_as_a_date(public_site, calm_services):
    async with httpx.AsyncClient(base_url=public_site) as client:
        receipt = await submit_on_the_site(client, complaint_form(), language="en")
    due = re.search(r'id="answer-due">([^<]+)<', receipt.html).group(1)
    days = calm_services.policy.response_times("complaint").answer_days
    assert re.fullmatch(rf"within {days} working days, by \d{{1,2}} [A-Z][a-z]+ \d{{4}}", due.strip()), due


async def test_a_form_with_problems_says_them_next_to_their_fields_and_keeps_the_values(public_site, database):
    form = complaint_form(civil_id="", email="not an address", phone="")
    async with httpx.AsyncClient(base_url=public_site) as client:
        answer = await send_form(client, form, language="en")
    assert answer.status_code == 422
    html = answer.text
    assert 'id="civil_id-error">A complaint needs your civil ID number' in html
    assert 'id="email-error">Write a valid email address' in html
    assert 'aria-describedby="civil_id-note civil_id-error"' in html
    assert f'value="{form["subject"]}"' in html and "I applied three weeks ago" in html
    assert await made_no_case(database, answer.submission_key)


async def test_a_complaint_needs_a_contact_and_the_duties_confirmed_in_arabic(public_site, database):
    form = complaint_form(email="", phone="", duties="")
    async with httpx.AsyncClient(base_url=public_site) as client:
        answer = await send_form(client, form, language="ar")
    assert answer.status_code == 422
    assert "تتطلب الشكوى بريدًا إلكترونيًا أو رقم هاتف" in answer.text
    assert "أكّدوا اطلاعكم على واجبات المتعاملين" in answer.text
    assert await made_no_case(database, answer.submission_key)


async def test_a_filled_honeypot_makes_no_case(public_site, database):
    form = complaint_form(homepage="http://spam.example")
    async with httpx.AsyncClient(base_url=public_site) as client:
        answer = await send_form(client, form, language="en")
    assert answer.status_code == 422 and "Leave this field empty." in answer.text
    assert await made_no_case(database, answer.submission_key)


async def test_a_resent_form_makes_one_case(public_site, database):
    form = complaint_form()
    async with httpx.AsyncClient(base_url=public_site) as client:
        key = submission_key_of((await client.get("/")).text)
        first = receipt_of((await send_form(client, form, key=key)).text)
        again = await send_form(client, form, key=key)
    assert again.status_code == 200
    second = receipt_of(again.text)
    assert (second.reference, second.tracking_code) == (first.reference, first.tracking_code)
    assert "سبق إرسال هذا النموذج" in again.text
    assert await website_cases(database, form["subject"]) == 1


async def test_a_double_click_in_chromium_makes_one_case(public_site, browser, database):
    context = await browser.new_context(base_url=public_site)
    page = await context.new_page()
    await page.goto("/?lang=en")
    form = complaint_form()
    await page.check("#kind-complaint")
    await page.select_option("#category", form["category"])
    for name in ("subject", "description", "name", "civil_id", "email"):
        await page.fill(f"#{name}", form[name])
    await page.check("#duties")
    async with page.expect_navigation():
        await page.dblclick("button[type=submit]")
    await page.wait_for_selector("#reference")
    receipt_of(await page.content())
    assert await website_cases(database, form["subject"]) == 1
    await context.close()


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_the_page_of_problems_is_accessible(public_site, browser, screenshots, language):
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, base_url=public_site)
    page = await context.new_page()
    await page.goto(f"/?lang={language}")
    await page.fill("#subject", "Only a subject")
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert await page.is_visible("#problems") and await page.input_value("#subject") == "Only a subject"
    await page.screenshot(path=screenshots / f"public-submit-errors-{language}.png", full_page=True)
    await assert_accessible(page, f"public-submit-errors-{language}")
    await context.close()


async def test_with_javascript_off_every_field_shows_and_the_form_is_taken(public_site, browser, screenshots,
                                                                             database):
    context = await browser.new_context(java_script_enabled=False, base_url=public_site)
    page = await context.new_page()
    await page.goto("/?lang=ar")
    assert await page.is_visible("#civil_id") and await page.is_visible("#identity-rules")
    assert "لا يُطلب للمقترح" in await page.inner_text("#civil_id-note")
    async with page.expect_navigation():
        await page.click("button[type=submit]")  # nothing filled in: each problem in words, beside its field
    assert "اختاروا ما تقدّمونه" in await page.inner_text("#problems")
    assert await page.get_attribute("#subject", "aria-invalid") == "true"
    await page.screenshot(path=screenshots / "public-submit-errors-nojs-ar.png", full_page=True)
    form = anonymous_report_form()
    await _fill_and_send(page, form)
    receipt = receipt_of(await page.content())
    assert receipt.reference.startswith("R-")
    await page.screenshot(path=screenshots / "public-submitted-nojs-ar.png", full_page=True)
    assert await website_cases(database, form["subject"]) == 1
    await context.close()


def _app_with(services, *, settings: dict | None = None, **limiters):
    roomy = roomy_services(services)
    if settings:
        roomy.settings = roomy.settings.model_copy(update=settings)
    app = create_app(services=roomy)
    for name, limiter in limiters.items():
        setattr(app.state, name, limiter)
    return app


def _client(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)), base_url="http://site")


async def test_without_the_proof_of_work_only_a_few_forms_an_hour_are_taken(calm_services, calm_worker, database):
    # A clock that stands still: the hour's window cannot roll over in the middle of the test.
    strict = PublicLimiter(per_window=2, window_seconds=3600, clock=lambda: 1_900_000_000.0)
    app = _app_with(calm_services, without_proof_limiter=strict)
    async with _client(app, "198.51.100.7") as client:
        taken = [await send_form(client, complaint_form(), proof=False) for _ in range(2)]
        refused_form = complaint_form()
        refused = await send_form(client, refused_form, proof=False)
        with_proof = await send_form(client, complaint_form(), proof=True)
    assert [answer.status_code for answer in taken] == [200, 200]
    for answer in taken:
        receipt_of(answer.text)
    assert refused.status_code == 429 and "JavaScript" in refused.text and refused.headers["retry-after"]
    assert await made_no_case(database, refused.submission_key)
    assert with_proof.status_code == 200  # a solved proof of work is not held to the stricter limit
    receipt_of(with_proof.text)


async def test_a_proof_of_work_that_is_forged_or_used_twice_is_refused(calm_services, calm_worker, database):
    app = _app_with(calm_services)
    async with _client(app, "198.51.100.8") as client:
        forged_form = complaint_form()
        forged = await _post(client, forged_form, "eyJub3QiOiAiYSBzb2x1dGlvbiJ9")
        payload = solved_proof((await client.get("/proof-of-work/challenge")).json())
        first = await _post(client, complaint_form(), payload)
        reused_form = complaint_form()
        reused = await _post(client, reused_form, payload)
    assert forged.status_code == 422 and await made_no_case(database, forged.submission_key)
    receipt_of(first.text)
    assert reused.status_code == 422 and await made_no_case(database, reused.submission_key)


async def _post(client: httpx.AsyncClient, form: dict, altcha_payload: str) -> httpx.Response:
    key = submission_key_of((await client.get("/")).text)
    answer = await client.post("/", data={"submission_key": key, **form, "altcha": altcha_payload})
    answer.submission_key = key
    return answer


async def test_the_pages_keep_to_the_per_address_limit_of_the_public_routes(calm_services, calm_worker):
    tight = PublicLimiter(per_window=3, window_seconds=60, clock=lambda: 1_900_000_000.0)
    app = _app_with(calm_services, public_limiter=tight)
    async with _client(app, "198.51.100.9") as client:
        answers = [await client.get("/?lang=en") for _ in range(4)]
        track = await client.get("/track")
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert "Too many requests from your connection" in answers[-1].text and answers[-1].headers["retry-after"]
    assert track.status_code == 429  # the tracking page shares the address's budget


async def test_the_ministry_may_choose_arabic_indic_digits(calm_services, calm_worker):
    app = _app_with(calm_services, settings={"arabic_digits": True})
    async with _client(app, "198.51.100.10") as client:
        receipt = await submit_on_the_site(client, complaint_form(), language="ar")
        english = await send_form(client, complaint_form(), language="en")
    due = re.search(r'id="answer-due">([^<]+)<', receipt.html).group(1)
    assert re.search("[٠-٩]{4}", due) and not re.search("[0-9]", due)
    assert receipt.reference.isascii()  # references and codes keep their own characters
    english_due = re.search(r'id="answer-due">([^<]+)<', english.text).group(1)
    assert re.search("[0-9]{4}", english_due)


async def test_the_receipt_downloads_from_the_answer_pages_signed_facts_only(public_site):
    async with httpx.AsyncClient(base_url=public_site) as client:
        receipt = await submit_on_the_site(client, complaint_form(), language="en")
        sealed = re.search(r'name="sealed" value="([^"]+)"', receipt.html).group(1)
        download = await client.post("/receipt", data={"sealed": sealed})
        data, _, signature = sealed.partition(".")
        forged = await client.post("/receipt", data={"sealed": f"{data}x.{signature}"})
    assert download.status_code == 200 and download.headers["cache-control"] == "no-store"
    assert download.headers["content-disposition"] == f'attachment; filename="receipt-{receipt.reference}.html"'
    assert receipt.reference in download.text and receipt.tracking_code in download.text
    assert re.search(r'<form[^>]+action="/receipt"[^>]*method="post"|method="post" action="/receipt"', receipt.html)
    assert forged.status_code == 400 and receipt.tracking_code not in forged.text


async def test_a_phone_sees_the_whole_form_without_scrolling_sideways(public_site, browser, screenshots):
    context = await browser.new_context(viewport={"width": 390, "height": 844}, base_url=public_site,
                                        is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto("/?lang=ar")
    await page.check("#kind-complaint")
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.screenshot(path=screenshots / "public-submit-phone.png", full_page=True)
    await assert_accessible(page, "public-submit-phone-ar")
    await context.close()


async def test_the_pages_carry_the_security_headers_and_share_nothing_with_the_console(public_site, database, api,
                                                                                        keys):
    async with httpx.AsyncClient(base_url=public_site) as client:
        answer = await client.get("/?lang=en")
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-frame-options"] == "DENY"
        assert {cookie.name for cookie in client.cookies.jar} == {"complaints_public_language"}
        receipt = await submit_on_the_site(client, complaint_form(), language="en")
        await eventually(lambda: read_case(api, keys.cs_agent, receipt.reference))  # its row is written
        opened = await client.post("/track", data={"reference": receipt.reference,
                                                   "tracking_code": receipt.tracking_code})
        assert opened.status_code == 303
        assert "complaints_console" not in client.cookies
        # The tracking session opens no console page.
        console = await client.get("/console/", follow_redirects=False)
        assert console.status_code == 303 and console.headers["location"].startswith("/console/sign-in")
    account = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(public_site, account) as staff:
        # A console session opens no case on the tracking page, and gets no tracking cookie.
        track = await staff.get("/track")
        assert track.status_code == 200 and 'name="tracking_code"' in track.text
        assert "complaints_public_tracking" not in staff.cookies


async def test_the_widget_and_its_worker_are_served_from_this_site_with_their_licence(public_site):
    async with httpx.AsyncClient(base_url=public_site) as client:
        page = await client.get("/")
        scripts = re.findall(r'<script[^>]+src="([^"]+)"', page.text)
        assert scripts and all(src.startswith("/static/") for src in scripts)
        for path in ["/static/vendor/altcha/altcha.min.js", "/static/vendor/altcha/workers/pbkdf2.js",
                     "/static/vendor/altcha/LICENSE", "/static/public/public.js", "/static/public/public.css"]:
            assert (await client.get(path)).status_code == 200, path
        challenge = (await client.get("/proof-of-work/challenge")).json()
    assert challenge["parameters"]["algorithm"] == "PBKDF2/SHA-256" and challenge["signature"]


def test_every_word_the_pages_keep_in_python_has_its_arabic():
    kept = [word for pair in KIND_WORDS.values() for word in pair] + list(CATEGORY_WORDS.values()) + \
        list(FIELD_WORDS.values()) + list(DONE_WORDS.values())
    assert [word for word in kept if word not in arabic_words()] == []

"""The console's work queues: one set per role, rows with deadline badges, filters, search and keyset pages."""

import secrets

import httpx
import pytest

from api.auth import staff_caller
from api.service.cases import list_cases
from domain.kinds import Role
from store.case_lists import CaseFilters
from tests.conftest import DEPARTMENT, OTHER_DEPARTMENT
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console import csrf_of, new_staff, signed_in_client, signed_in_page
from tests.helpers import bearer, complaint, eventually, submit

pytestmark = pytest.mark.asyncio

QUEUES_OF = {
    Role.CS_AGENT: ["triage", "replies", "waiting"],
    Role.DEPARTMENT: ["department"],
    Role.DIRECTOR_GENERAL: ["escalated", "breached"],
    Role.AUDITOR: ["all"],
    Role.CALL_CENTRE: ["entered"],
}


async def _new_case(base_url: str, keys, word: str) -> str:
    async with httpx.AsyncClient(base_url=base_url) as api:
        created = await submit(api, keys.channel, complaint(subject=f"Passport renewal {word} delayed"))
        reference = created["reference"]

        async def recorded() -> bool:
            answer = await api.get(f"/v1/cases/{reference}", headers=bearer(keys.auditor))
            return answer.status_code == 200
        await eventually(recorded)
    return reference


async def _triage(base_url: str, keys, reference: str, department: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as api:
        answer = await api.post(f"/v1/cases/{reference}/triage", json={"department": department},
                                headers=bearer(keys.cs_agent))
        assert answer.status_code == 200, answer.text


def _department_of(role: Role) -> str | None:
    return DEPARTMENT if role == Role.DEPARTMENT else None


async def test_each_role_lands_on_its_first_queue_and_another_roles_queue_is_not_found(calm_served_api, database):
    for role, names in QUEUES_OF.items():
        account = await new_staff(database, role, _department_of(role))
        async with signed_in_client(calm_served_api, account) as client:
            first = await client.get("/console/queues")
            assert first.status_code == 303 and first.headers["location"] == f"/console/queues/{names[0]}"
            for name in names:
                assert (await client.get(f"/console/queues/{name}")).status_code == 200
            others = {name for each in QUEUES_OF.values() for name in each} - set(names)
            for name in others:
                answer = await client.get(f"/console/queues/{name}")
                assert answer.status_code == 404 and "text/html" in answer.headers["content-type"], name


async def test_the_triage_queue_shows_a_new_case_with_its_badges_and_finds_it_by_reference_and_words(
        calm_served_api, database, keys):
    word = secrets.token_hex(4)
    reference = await _new_case(calm_served_api, keys, word)
    account = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(calm_served_api, account) as client:
        await client.post("/console/language", data={"csrf_token": _token(await client.get("/console/queues/triage")),
                                                      "language": "en"})
        by_words = await client.get("/console/queues/triage", params={"q": f"RENEWAL {word}"})
        assert reference in by_words.text and f"Passport renewal {word} delayed" in by_words.text
        # The standing counts the working days after today's: 3 and 5 from receipt are 2 and 4 more.
        assert "due in 2 working days" in by_words.text and "due in 4 working days" in by_words.text
        # The bulk triage form: a checkbox per row, and the active departments to route them to.
        assert f'name="reference" value="{reference}"' in by_words.text
        assert 'action="/console/triage"' in by_words.text and f'<option value="{OTHER_DEPARTMENT}">' in by_words.text
        by_reference = await client.get("/console/queues/triage", params={"q": reference.lower()})
        assert reference in by_reference.text and by_reference.text.count('class="reference"') == 1
        elsewhere = await client.get("/console/queues/triage", params={"q": f"{word} nothing-like-it"})
        assert reference not in elsewhere.text and "No case in this queue matches." in elsewhere.text
        only_reports = await client.get("/console/queues/triage", params={"q": word, "kind": "report"})
        assert reference not in only_reports.text
        bad = await client.get("/console/queues/triage", params={"kind": "letter", "due_before": "soon"})
        assert bad.status_code == 422 and "Choose a value from the list." in bad.text
        # The refresh every 30 s asks for the rows alone (htmx), and gets them without the page around them.
        rows = await client.get("/console/queues/triage", params={"q": word}, headers={"HX-Request": "true"})
        assert rows.text.lstrip().startswith('<div id="queue-rows"') and "<html" not in rows.text
        assert 'hx-trigger="every 30s"' in rows.text and reference in rows.text


async def test_the_arabic_badge_counts_working_days_in_arabic(calm_served_api, database, keys):
    word = secrets.token_hex(4)
    reference = await _new_case(calm_served_api, keys, word)
    account = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(calm_served_api, account) as client:
        page = await client.get("/console/queues/triage", params={"q": reference})
    assert "يتبقى يوما عمل" in page.text and "يتبقى 4 أيام عمل" in page.text and 'dir="rtl"' in page.text


async def test_a_department_queue_holds_its_own_cases_by_department_due(calm_served_api, database, keys):
    word = secrets.token_hex(4)
    ours = [await _new_case(calm_served_api, keys, word) for _ in range(2)]
    theirs = await _new_case(calm_served_api, keys, word)
    for reference in ours:
        await _triage(calm_served_api, keys, reference, DEPARTMENT)
    await _triage(calm_served_api, keys, theirs, OTHER_DEPARTMENT)
    officer = await new_staff(database, Role.DEPARTMENT, DEPARTMENT)
    async with signed_in_client(calm_served_api, officer) as client:
        page = await client.get("/console/queues/department", params={"q": word})
    assert all(reference in page.text for reference in ours) and theirs not in page.text
    assert page.text.index(ours[0]) < page.text.index(ours[1])  # received first, due first


async def test_keyset_pages_in_department_due_order_follow_each_other(calm_services, keys, calm_served_api):
    word = secrets.token_hex(4)
    made = [await _new_case(calm_served_api, keys, word) for _ in range(3)]
    for reference in made:
        await _triage(calm_served_api, keys, reference, DEPARTMENT)
    caller = staff_caller(1, Role.AUDITOR, None)
    filters = CaseFilters(subject_words=(word,))
    seen, cursor = [], None
    while True:
        page = await list_cases(calm_services, caller, filters, 1, cursor, order="department_due")
        seen += [item.reference for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == made


async def test_a_call_centre_agent_finds_the_cases_it_entered_by_reference_only(calm_served_api, database, keys):
    agent = await new_staff(database, Role.CALL_CENTRE)
    async with signed_in_client(calm_served_api, agent) as client:
        page = await client.get("/console/queues/entered", params={"q": "renewal"})
        # Words of a subject it may not read find nothing: the search cannot tell it what a subject says.
        assert page.status_code == 200 and "لا توجد حالة مطابقة" in page.text
        assert "Passport renewal" not in page.text


@pytest.mark.parametrize("language", ["ar", "en"])
@pytest.mark.parametrize(("role", "name"), [(role, name) for role, names in QUEUES_OF.items() for name in names])
async def test_every_queue_in_chromium(browser, calm_served_api, database, keys, screenshots, role, name, language):
    await _new_case(calm_served_api, keys, secrets.token_hex(4))
    account = await new_staff(database, role, _department_of(role))
    context, page = await signed_in_in(browser, calm_served_api, account, language, f"/console/queues/{name}")
    try:
        await page.wait_for_load_state("networkidle")
        assert await page.get_attribute("html", "lang") == language
        assert await page.locator("#queue-rows").get_attribute("data-refresh-when-visible") is not None
        await page.screenshot(path=screenshots / f"console-queue-{name}-{language}.png", full_page=True)
        await assert_accessible(page, f"console-queue-{name}-{language}")
    finally:
        await context.close()


async def signed_in_in(browser, base_url: str, account, language: str, at: str):
    """A tab signed in as `account` on the page `at`, its session switched to `language` with the header's switch
    (a session starts in the console's default language, whatever the sign-in page was read in)."""
    context, page = await signed_in_page(browser, base_url, account, language=language)
    await page.goto(at)
    if await page.get_attribute("html", "lang") != language:
        await page.click(f"header button[lang={language}]")
        await page.wait_for_load_state()
    return context, page


def _token(answer: httpx.Response) -> str:
    return csrf_of(answer.text)

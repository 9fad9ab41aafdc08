"""Bulk triage: customer service routes several cases at once; each is its own triage, and a refused one stops
none of the others."""

import re

import pytest

from domain.kinds import Role
from tests.conftest import DEPARTMENT
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console import csrf_of, new_staff, signed_in_client
from tests.e2e.console_language import signed_in_in
from tests.helpers import bearer, complaint, eventually, read_case, submit

pytestmark = pytest.mark.asyncio

REFUSED_IN_WORDS = {
    "en": ("The case is rejected; no further action is possible.",
           "The case is closed; no further action is possible."),
    "ar": ("الحالة مرفوضة؛ لا يمكن اتخاذ أي إجراء آخر.", "الحالة مغلقة؛ لا يمكن اتخاذ أي إجراء آخر."),
}


async def three_cases_one_rejected(api, keys) -> tuple[list[str], str]:
    """Three new cases, the last of which customer service has rejected already."""
    references = [(await submit(api, keys.channel, complaint()))["reference"] for _ in range(3)]
    for reference in references:
        await eventually(lambda reference=reference: read_case(api, keys.cs_agent, reference))
    rejected = await api.post(f"/v1/cases/{references[2]}/reject", json={"reason": "A duplicate of another case."},
                              headers=bearer(keys.cs_agent))
    assert rejected.status_code == 200, rejected.text
    return references, references[2]


async def test_three_cases_of_which_one_is_refused_list_two_routed_and_one_refused_with_its_reason(
        served_api, api, keys, database):
    references, refused = await three_cases_one_rejected(api, keys)
    agent = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(served_api, agent) as client:
        form = await client.get("/console/triage")
        answer = await client.post("/console/triage", data={
            "csrf_token": csrf_of(form.text), "reference": references, "department": DEPARTMENT})
    assert answer.status_code == 200, answer.text
    routed_list = answer.text.split('id="routed"')[1].split("</ul>")[0]
    refused_list = answer.text.split('id="refused"')[1].split("</ul>")[0]
    assert re.findall(r'class="reference" href="/console/cases/([^"]+)"', routed_list) == references[:2]
    assert re.findall(r'class="reference" href="/console/cases/([^"]+)"', refused_list) == [refused]
    assert any(reason in refused_list for reason in REFUSED_IN_WORDS["ar"])
    for reference in references[:2]:
        case = await read_case(api, keys.cs_agent, reference)
        assert case["status"] == "with_department" and case["department"] == DEPARTMENT


async def test_bulk_triage_without_a_case_or_a_department_sends_nothing(served_api, database):
    agent = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(served_api, agent) as client:
        form = await client.get("/console/triage")
        answer = await client.post("/console/triage", data={"csrf_token": csrf_of(form.text), "department": ""})
    assert answer.status_code == 422
    assert 'id="reference-error">اختر حالة واحدة على الأقل.<' in answer.text
    assert 'id="department-error">' in answer.text


async def test_only_customer_service_triages(served_api, database):
    officer = await new_staff(database, Role.DEPARTMENT, DEPARTMENT)
    async with signed_in_client(served_api, officer) as client:
        assert (await client.get("/console/triage")).status_code == 403


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_bulk_triage_in_chromium(served_api, browser, api, keys, database, screenshots, language):
    references, refused = await three_cases_one_rejected(api, keys)
    agent = await new_staff(database, Role.CS_AGENT)
    context, page = await signed_in_in(browser, served_api, agent, language, first_page="/console/triage")
    try:
        await page.screenshot(path=screenshots / f"console-bulk-triage-{language}.png", full_page=True)
        await assert_accessible(page, f"console-bulk-triage-{language}")
        # The customer-service queue posts its checked rows to this form; rows for these three stand in for them,
        # wherever they fall among the cases waiting.
        await page.evaluate("""(references) => {
            const form = document.querySelector("form[action='/console/triage']");
            for (const reference of references) {
                const box = document.createElement("input");
                box.type = "checkbox"; box.name = "reference"; box.value = reference; box.checked = true;
                box.hidden = true;
                form.appendChild(box);
            }
        }""", references)
        await page.select_option("#department", DEPARTMENT)
        await page.click("form[action='/console/triage'] button[type=submit]")
        await page.wait_for_selector("#refused")
        routed = await page.locator("#routed li a").all_text_contents()
        refusals = await page.locator("#refused li").all_text_contents()
        assert routed == references[:2]
        assert len(refusals) == 1 and refused in refusals[0]
        assert any(reason in refusals[0] for reason in REFUSED_IN_WORDS[language])
        await page.screenshot(path=screenshots / f"console-bulk-triage-result-{language}.png", full_page=True)
        await assert_accessible(page, f"console-bulk-triage-result-{language}")
    finally:
        await context.close()

"""Evidence files on the console's case page: customer service adds them, the department opens them; the files
are listed by name and kind, and a file whose content is not evidence is refused with the reason."""

import httpx
import pytest

from domain.kinds import Role
from tests.api.test_evidence import EXECUTABLE, PNG, pdf
from tests.conftest import DEPARTMENT
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console import csrf_of, new_staff, signed_in_client
from tests.e2e.test_console_case import _new_case
from tests.e2e.test_console_queues import signed_in_in
from tests.helpers import bearer

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_customer_service_adds_a_file_and_the_department_downloads_it(
        calm_served_api, browser, database, keys, screenshots, language, tmp_path):
    reference = await _new_case(calm_served_api, keys)
    async with httpx.AsyncClient(base_url=calm_served_api) as api:
        routed = await api.post(f"/v1/cases/{reference}/triage", headers=bearer(keys.cs_agent),
                                json={"department": DEPARTMENT})
        assert routed.status_code == 200, routed.text
    agent = await new_staff(database, Role.CS_AGENT)
    context, page = await signed_in_in(browser, calm_served_api, agent, language, f"/console/cases/{reference}")
    (tmp_path / "receipt.pdf").write_bytes(pdf())
    (tmp_path / "photo.png").write_bytes(PNG)
    await page.set_input_files("#evidence-files", [tmp_path / "receipt.pdf", tmp_path / "photo.png"])
    await page.click("form[action^='/console/evidence/'] button[type=submit]")
    await page.wait_for_load_state()
    rows = page.locator("section[aria-labelledby=evidence-title] tbody tr")
    assert await rows.count() == 2
    assert "receipt.pdf" in await rows.nth(0).inner_text() and "PNG" in await rows.nth(1).inner_text()
    await page.screenshot(path=screenshots / f"console-case-evidence-{language}.png", full_page=True)
    await assert_accessible(page, f"console-case-evidence-{language}")
    await context.close()

    officer = await new_staff(database, Role.DEPARTMENT, DEPARTMENT)
    async with signed_in_client(calm_served_api, officer) as client:
        case_page = await client.get(f"/console/cases/{reference}")
        link = case_page.text.split('href="/console/evidence/', 1)[1].split('"', 1)[0]
        download = await client.get(f"/console/evidence/{link}")
        assert download.status_code == 200 and download.content == pdf()
        assert 'action="/console/evidence/' not in case_page.text  # a department adds no evidence


async def test_a_file_that_is_not_evidence_is_refused_with_the_reason_and_nothing_is_added(
        calm_served_api, database, keys):
    reference = await _new_case(calm_served_api, keys)
    agent = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(calm_served_api, agent) as client:
        page = await client.get(f"/console/cases/{reference}?lang=en")
        refused = await client.post(f"/console/evidence/{reference}", data={"csrf_token": csrf_of(page.text)},
                                    files=[("files", ("invoice.pdf", EXECUTABLE, "application/pdf"))])
        assert refused.status_code == 422 and "checked by content" in refused.text
        again = await client.get(f"/console/cases/{reference}")
        assert 'href="/console/evidence/' not in again.text
        forged = await client.post(f"/console/evidence/{reference}", data={"csrf_token": "forged"},
                                   files=[("files", ("a.pdf", pdf(), "application/pdf"))])
        assert forged.status_code == 403

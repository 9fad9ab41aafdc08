"""The keyboard alone works a case: sign in, reach the case from the queue, and send the request for details,
with Tab, typing and Enter only."""

import pytest

from domain.kinds import Role
from tests.conftest import DEPARTMENT
from tests.e2e.console import new_staff
from tests.e2e.test_console_case import _new_case
from tests.helpers import bearer, eventually

pytestmark = pytest.mark.asyncio


async def _tab_to(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element `selector` has the focus, as a person finds a control."""
    for _ in range(limit):
        if await page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"{selector} is not reachable with Tab")


async def test_a_department_officer_asks_for_details_with_the_keyboard_alone(calm_served_api, browser, database,
                                                                           keys, api):
    reference = await _new_case(calm_served_api, keys)
    routed = await api.post(f"/v1/cases/{reference}/triage", headers=bearer(keys.cs_agent),
                            json={"department": DEPARTMENT})
    assert routed.status_code == 200, routed.text
    officer = await new_staff(database, Role.DEPARTMENT, DEPARTMENT)
    context = await browser.new_context(base_url=calm_served_api)
    page = await context.new_page()
    await page.goto("/console/sign-in?lang=en")
    await _tab_to(page, "#login")
    await page.keyboard.type(officer.login)
    await page.keyboard.press("Tab")
    await page.keyboard.type(officer.password)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/console/queues/**")

    await _tab_to(page, f"a[href='/console/cases/{reference}']")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/console/cases/{reference}")
    await _tab_to(page, "#request-info-text")
    await page.keyboard.type("At which office did you apply?")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")

    async def asked() -> bool:
        case = (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.auditor))).json()
        return case["status"] == "awaiting_submitter"
    await eventually(asked)
    await context.close()

"""The periodic review's page: number cards beside the previous period, the charts with their tables, the exports,
for those who read the figures; the same figures as the API's."""

from datetime import datetime

import httpx
import pytest

from domain.calendar import MUSCAT
from domain.kinds import Role
from tests.conftest import DEPARTMENT
from tests.e2e.accessibility import assert_accessible
from tests.e2e.console import new_staff, signed_in_client
from tests.e2e.test_console_case import _new_case
from tests.e2e.test_console_queues import signed_in_in
from tests.helpers import bearer

pytestmark = pytest.mark.asyncio


def _today() -> str:
    return datetime.now(MUSCAT).date().isoformat()


@pytest.mark.parametrize("language", ["ar", "en"])
async def test_the_director_general_reads_the_review_in_chromium(calm_served_api, browser, database, keys,
                                                                 screenshots, language):
    await _new_case(calm_served_api, keys)
    director = await new_staff(database, Role.DIRECTOR_GENERAL)
    today = _today()
    context, page = await signed_in_in(browser, calm_served_api, director, language,
                                       f"/console/review?from={today}&to={today}")
    assert await page.locator(".review-chart-image").count() == 5
    assert await page.locator("section[aria-labelledby^=chart-] table").count() == 5
    await page.screenshot(path=screenshots / f"console-review-{language}.png", full_page=True)
    await assert_accessible(page, f"console-review-{language}")
    await context.close()


async def test_the_export_is_the_apis_csv_and_a_department_reads_its_own(calm_served_api, database, keys):
    reference = await _new_case(calm_served_api, keys)
    today = _today()
    async with httpx.AsyncClient(base_url=calm_served_api, timeout=60) as api:
        await api.post(f"/v1/cases/{reference}/triage", headers=bearer(keys.cs_agent), json={"department": DEPARTMENT})
        from_api = await api.get(f"/v1/reports/summary?from={today}&to={today}&format=csv",
                                 headers=bearer(keys.auditor))
    auditor = await new_staff(database, Role.AUDITOR)
    async with signed_in_client(calm_served_api, auditor) as client:
        exported = await client.get(f"/console/review/export?format=csv&from={today}&to={today}")
        page = await client.get(f"/console/review?from={today}&to={today}")
    assert exported.status_code == 200 and page.status_code == 200
    assert _figures(exported.text) == _figures(from_api.text)
    officer = await new_staff(database, Role.DEPARTMENT, DEPARTMENT)
    async with signed_in_client(calm_served_api, officer) as client:
        own = await client.get(f"/console/review?from={today}&to={today}&lang=en")
    assert own.status_code == 200 and ("Your department" in own.text or "حالات تقسيمكم" in own.text)
    entering = await new_staff(database, Role.CALL_CENTRE)
    async with signed_in_client(calm_served_api, entering) as client:
        assert (await client.get("/console/review")).status_code == 404


def _figures(csv: str) -> list[str]:
    """The CSV's rows but the open cases at the end, which other tests of the session may move between reads."""
    return [line for line in csv.splitlines() if "open_at_end" not in line]

"""`/docs` and `/redoc` in a real Chromium that can reach nothing but the app: they render from what the app serves.

Before the pages were served from the app, both were blank here: Swagger UI and ReDoc came from a CDN, ReDoc's
fonts from Google and its logo from its maker's CDN.
"""

from typing import Any

import httpx

from tests.e2e.conftest import OfflinePage

TITLE = "Ministry of Interior: complaints, reports and suggestions"


async def _operations(base_url: str) -> list[dict[str, Any]]:
    """The document's operations, in its order."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        document = (await client.get("/openapi.json")).json()
    return [operation for operations in document["paths"].values() for operation in operations.values()]


async def test_swagger_ui_lists_every_operation_without_internet(offline_page: OfflinePage, served_api, screenshots):
    page = offline_page.page

    await page.goto(f"{served_api}/docs", wait_until="networkidle")
    assert offline_page.outside_requests == []
    await page.locator(".opblock").first.wait_for()

    assert await page.locator(".opblock").count() == len(await _operations(served_api))
    assert await page.locator(".opblock-summary-path", has_text="/v1/cases/{reference}/triage").count() == 1
    await page.screenshot(path=screenshots / "docs.png")
    print(f"screenshot of /docs: {screenshots / 'docs.png'}")
    assert offline_page.outside_requests == []  # nor later, while it rendered


async def test_redoc_renders_without_internet(offline_page: OfflinePage, served_api, screenshots):
    page = offline_page.page

    await page.goto(f"{served_api}/redoc", wait_until="networkidle")
    assert offline_page.outside_requests == []
    await page.get_by_role("heading", name=TITLE).wait_for()

    operations = await _operations(served_api)
    tags = list(dict.fromkeys(tag for operation in operations for tag in operation["tags"]))
    summaries = [operation["summary"] for operation in operations]
    assert await page.get_by_role("menuitem").all_inner_texts() == tags
    assert [heading for heading in await page.locator("h2").all_inner_texts() if heading in summaries] == summaries
    await page.screenshot(path=screenshots / "redoc.png")
    print(f"screenshot of /redoc: {screenshots / 'redoc.png'}")
    assert offline_page.outside_requests == []  # nor later, while it rendered

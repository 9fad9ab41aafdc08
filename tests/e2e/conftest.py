"""Browser fixtures: the app served over real HTTP, and a real Chromium that may reach nothing else."""

import asyncio
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.async_api import Browser, Page, Route, async_playwright

from api.app import create_app
from api.deps import Services
from core.embedded import free_port

# Without these, Chromium calls Google's hosts at start (updates, sync, field trials), which no test wants.
QUIET_CHROMIUM = [
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic", "--disable-gpu",
]


@pytest.fixture(scope="session")
async def served_api(services: Services) -> AsyncIterator[str]:
    """The real app on a real port (a browser needs one), on the session's servers; yields its base URL."""
    async with serving(services) as base_url:
        yield base_url


@pytest.fixture(scope="session")
async def calm_served_api(calm_services: Services, calm_worker) -> AsyncIterator[str]:
    """The app served on the calm calendar (a working day of an hour) with its worker: a case stays where the
    test puts it, for pages that show a case as it stands."""
    async with serving(calm_services) as base_url:
        yield base_url


@asynccontextmanager
async def serving(services: Services, port: int | None = None, **uvicorn_options) -> AsyncIterator[str]:
    """The app of these services on a real port (a free one unless given) until the block ends; yields its URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port,
                                           log_level="warning", **uvicorn_options))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    scheme = "https" if uvicorn_options.get("ssl_certfile") else "http"
    try:
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Chromium: the system's (Debian's `chromium`) where there is one, else the one Playwright installed."""
    async with async_playwright() as playwright:
        system_chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        launched = await playwright.chromium.launch(executable_path=system_chromium, args=QUIET_CHROMIUM)
        yield launched
        await launched.close()


@dataclass
class OfflinePage:
    """A page that reaches only the app: every request to another origin is refused and noted."""

    page: Page
    origin: str
    outside_requests: list[str] = field(default_factory=list)

    async def refuse_other_origins(self, route: Route) -> None:
        parts = urlsplit(route.request.url)
        if f"{parts.scheme}://{parts.netloc}" == self.origin:
            await route.continue_()
        else:
            self.outside_requests.append(route.request.url)
            await route.abort("internetdisconnected")


@pytest.fixture
async def offline_page(browser: Browser, served_api: str) -> AsyncIterator[OfflinePage]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    offline = OfflinePage(page=await context.new_page(), origin=served_api)
    await context.route("**/*", offline.refuse_other_origins)
    yield offline
    await context.close()


SCREENSHOTS = Path(__file__).resolve().parents[1] / "output" / "screenshots"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where the browser tests keep their screenshots for people to look at: tests/output/screenshots (not in git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS

"""axe-core (axe-playwright-python, bundled) on a page in the browser: no serious or critical violation.

Each check also writes what axe found to tests/output/accessibility.txt, for the people who review it.
"""

from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

AXE = Axe()
REPORT = Path(__file__).resolve().parents[1] / "output" / "accessibility.txt"
BLOCKING = ("serious", "critical")


async def assert_accessible(page: Page, name: str) -> None:
    """`name` says which page and language it is (`console-queue-ar`) in the report."""
    results = await AXE.run(page)
    violations = results.response["violations"]
    blocking = [violation for violation in violations if violation["impact"] in BLOCKING]
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with REPORT.open("a") as report:
        minor = ", ".join(f"{v['id']} ({v['impact']})" for v in violations if v not in blocking) or "none"
        report.write(f"{name}: {len(blocking)} serious or critical; others: {minor}\n")
    assert not blocking, "\n".join(
        f"{violation['id']} ({violation['impact']}): {violation['help']} — "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in violation["nodes"][:5])
        for violation in blocking
    )

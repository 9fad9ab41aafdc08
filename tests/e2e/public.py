"""What the public pages' tests share: the app served with room for many page loads from one address, the form
filled as a browser without JavaScript sends it (with the proof of work solved, or without it), and the API
calls staff make on the cases it creates."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import altcha
import httpx
import pytest
import uvicorn
from sqlalchemy import func
from sqlmodel import select

from api.app import create_app
from api.auth import PUBLIC_WEBSITE
from api.deps import Services
from core.embedded import free_port
from store.models import CaseRecord, IntakeRequest
from tests.helpers import bearer, created_references, eventually

# Every browser test loads many pages from 127.0.0.1: the per-address limit has its own test, with its own app.
ROOMY_LIMITS = {"public_per_minute": 100_000, "public_without_proof_per_hour": 100_000,
                # A fifth of the default work: the tests solve many challenges in Python on a shared machine.
                "public_proof_cost": 1000}


def roomy_services(services: Services) -> Services:
    return Services(settings=services.settings.model_copy(update=ROOMY_LIMITS), database=services.database,
                    temporal=services.temporal, timekeeping=services.timekeeping)


@pytest.fixture(scope="module", name="public_site")
async def served_public_site(calm_services: Services, calm_worker) -> AsyncIterator[str]:
    """The real app on a real port, as the public reaches it; yields its base URL.

    On the calm calendar: a browser test takes longer than a compressed working day, and its question or its
    contest window must not run out while the test reads and types (deadlines have their own tests).
    """
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services=roomy_services(calm_services)), host="127.0.0.1",
                                           port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


def complaint_form(**overrides: str) -> dict[str, str]:
    subject = f"Renewal delayed {uuid.uuid4().hex[:8]}"
    form = {"kind": "complaint", "category": "beneficiary", "name": "Salim Al-Harthy", "civil_id": "12345678",
            "email": "salim@example.om", "phone": "", "subject": subject,
            "description": "I applied three weeks ago and have heard nothing since.", "duties": "yes"}
    return form | overrides


def anonymous_report_form(**overrides: str) -> dict[str, str]:
    return complaint_form(kind="report", category="community", name="", civil_id="", email="",
                          subject=f"Fees taken without a receipt {uuid.uuid4().hex[:8]}",
                          description="At the office in Seeb an employee takes fees and gives no receipt.") | overrides


def solved_proof(challenge: dict) -> str:
    """What the widget puts in the form: the challenge and its solution, as base64 JSON."""
    parsed = altcha.Challenge.from_dict(challenge)
    solution = altcha.solve_challenge(parsed)
    return altcha.Payload(parsed, solution).to_base64()


def submission_key_of(html: str) -> str:
    found = re.search(r'name="submission_key" value="([0-9a-f]{32})"', html)
    assert found, "the form has no submission key"
    return found.group(1)


@dataclass(frozen=True)
class Receipt:
    reference: str
    tracking_code: str
    html: str


def receipt_of(html: str) -> Receipt:
    reference = re.search(r'id="reference">([A-Z]-\d{4}-\d{6})<', html)
    code = re.search(r'id="tracking-code">([^<]+)<', html)
    assert reference and code, html[:2000]
    created_references.append(reference.group(1))
    return Receipt(reference.group(1), code.group(1), html)


async def send_form(client: httpx.AsyncClient, form: dict[str, str], *, proof: bool = True, language: str = "ar",
                    key: str | None = None) -> httpx.Response:
    """The form as a browser posts it (multipart), after loading the page for its key and, with JS, its proof."""
    page = await client.get(f"/?lang={language}")
    assert page.status_code == 200, page.text
    fields = {"submission_key": key or submission_key_of(page.text), **form}
    if proof:
        fields["altcha"] = solved_proof((await client.get("/proof-of-work/challenge")).json())
    # A dummy file part makes httpx send multipart/form-data, as the form's enctype does.
    answer = await client.post("/", data=fields, files={"unused": ("", b"", "application/octet-stream")})
    answer.submission_key = fields["submission_key"]
    return answer


async def submit_on_the_site(client: httpx.AsyncClient, form: dict[str, str], **options) -> Receipt:
    answer = await send_form(client, form, **options)
    assert answer.status_code == 200, answer.text
    return receipt_of(answer.text)


async def website_cases(database, subject: str) -> int:
    """How many cases the public site made with this subject, once the first one's row is written (its workflow
    writes it a moment after the answer page; every workflow of the form has started by then)."""
    async def count() -> int:
        async with database.session() as session:
            query = select(func.count()).select_from(CaseRecord).where(
                CaseRecord.submitted_by_key == PUBLIC_WEBSITE, CaseRecord.subject == subject)
            return (await session.exec(query)).one()

    return await eventually(count)


async def made_no_case(database, submission_key: str) -> bool:
    """Whether the form with this key made no case: a submission is claimed under its key before its case
    begins (api.service.intake), so no claim is no case, at once and for good."""
    async with database.session() as session:
        query = select(func.count()).select_from(IntakeRequest).where(
            IntakeRequest.idempotency_key == f"key:{PUBLIC_WEBSITE}:form:{submission_key}")
        return (await session.exec(query)).one() == 0


async def act(api: httpx.AsyncClient, key: str, reference: str, action: str, body: dict | None = None) -> dict:
    answer = await api.post(f"/v1/cases/{reference}/{action}", json=body or {}, headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def read_case(api: httpx.AsyncClient, key: str, reference: str) -> dict:
    answer = await api.get(f"/v1/cases/{reference}", headers=bearer(key))
    assert answer.status_code == 200, answer.text
    return answer.json()

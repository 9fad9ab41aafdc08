"""Small factories and waits shared by the tests."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx


def complaint(**overrides: Any) -> dict:
    """A complaint as a channel sends it: with a channel_ref of its own, as every channel submission must carry."""
    body = {
        "kind": "complaint",
        "channel": "website",
        "channel_ref": f"test-{uuid.uuid4().hex}",
        "submitter": {
            "category": "beneficiary",
            "name": "Salim Al-Harthy",
            "civil_id": "12345678",
            "email": "salim@example.om",
            "phone": "+96891234567",
        },
        "subject": "Renewal delayed",
        "description": "I applied three weeks ago and have heard nothing since.",
        "priority": None,
    }
    body.update(overrides)
    return body


# References of the cases the running test created; the replay recorder saves their histories.
created_references: list[str] = []
# Ids of the other workflows it started (the DG's digest loop), saved too.
created_workflow_ids: list[str] = []


async def submit(api: httpx.AsyncClient, key: str, body: dict | None = None) -> dict:
    response = await api.post("/v1/cases", json=body or complaint(), headers=bearer(key))
    assert response.status_code == 201, response.text
    created_references.append(response.json()["reference"])
    return response.json()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15, interval: float = 0.05) -> Any:
    """Retry `check` until it returns something truthy without raising; fail with its last error."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await check()
            if result:
                return result
            last_error: Exception = AssertionError(f"still {result!r}")
        except (AssertionError, KeyError) as error:
            last_error = error
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {last_error}")
        await asyncio.sleep(interval)


async def read_case(api: httpx.AsyncClient, key: str, reference: str) -> dict:
    response = await api.get(f"/v1/cases/{reference}", headers=bearer(key))
    assert response.status_code == 200, response.text
    return response.json()

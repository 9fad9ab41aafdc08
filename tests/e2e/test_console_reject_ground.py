"""Customer service names a rejection's ground on the console's form, as the periodic review counts it."""

import pytest

from domain.kinds import Role
from tests.e2e.console import new_staff, signed_in_client
from tests.e2e.test_console_case import _new_case, _post
from tests.helpers import bearer, eventually

pytestmark = pytest.mark.asyncio


async def test_a_rejection_from_the_console_records_its_ground(calm_served_api, database, keys, api):
    reference = await _new_case(calm_served_api, keys)
    agent = await new_staff(database, Role.CS_AGENT)
    async with signed_in_client(calm_served_api, agent) as client:
        page = await client.get(f"/console/cases/{reference}")
        assert 'name="ground"' in page.text
        rejected = await _post(client, reference, "reject", page.text, reason="This is for the municipality.",
                               ground="not_competent")
        assert rejected.status_code == 303, rejected.text

    async def rejection():
        case = (await api.get(f"/v1/cases/{reference}", headers=bearer(keys.auditor))).json()
        return next((entry for entry in case["timeline"] if entry["action"] == "reject"), None)
    entry = await eventually(rejection)
    assert entry["detail"]["ground"] == "not_competent"

"""Finish the cases a test made, through the API, so that their workflows stop ticking.

A breached case reminds the Director General every working day (every 2 s here) for as long as it
runs; left running, the cases of a module load the worker for the rest of the session.
"""

from tests.helpers import bearer

# What the customer-service team does next to bring a case of this status to its end.
NEXT_STEP = {
    "received": ("reject", {"reason": "Test over."}),
    "with_department": ("reject", {"reason": "Test over."}),
    "awaiting_submitter": ("submitter-info", {"answer": "Test over."}),
    "replied": ("respond", {"message": "Test over."}),
    "responded": ("close", {}),
}


async def finish(api, cs_agent_key: str, references: list[str]) -> None:
    for reference in references:
        for _ in range(len(NEXT_STEP) + 2):
            response = await api.get(f"/v1/cases/{reference}", headers=bearer(cs_agent_key))
            if response.status_code != 200:
                break
            step = NEXT_STEP.get(response.json()["status"])
            if step is None:
                break  # closed or rejected
            action, body = step
            # A refusal (a deadline moved the case on meanwhile) is simply looked at again.
            await api.post(f"/v1/cases/{reference}/{action}", json=body, headers=bearer(cs_agent_key))
    references.clear()

"""Per test: record the histories of its cases for the replay tests when asked (RECORD_HISTORIES=1), then stop them."""

import os
import re
from pathlib import Path

import pytest

from tests import helpers
from tests.closing import stop_cases

HISTORIES = Path(__file__).resolve().parent.parent / "replay" / "histories"


@pytest.fixture(autouse=True)
async def record_histories_then_stop_the_cases(request, temporal_client):
    helpers.created_references.clear()
    helpers.created_workflow_ids.clear()
    yield
    if os.environ.get("RECORD_HISTORIES"):
        await record_histories(request.node.name, temporal_client)
    # A breached case left running would remind the DG every 2 s while the rest of the module runs.
    await stop_cases(temporal_client, helpers.created_references)


async def record_histories(test_name: str, temporal_client) -> None:
    name = re.sub(r"[^A-Za-z0-9_]+", "-", test_name).strip("-")
    # RECORD_HISTORIES=<label> prefixes the files, so a new generation of histories sits beside the old ones.
    label = os.environ["RECORD_HISTORIES"]
    if label != "1":
        name = f"{label}-{name}"
    workflow_ids = [f"case-{reference}" for reference in helpers.created_references] + helpers.created_workflow_ids
    for number, workflow_id in enumerate(workflow_ids):
        history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
        (HISTORIES / f"{name}-{number}.json").write_text(history.to_json())

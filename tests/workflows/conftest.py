"""Record the histories of these runs for the replay tests, when asked to (RECORD_HISTORIES=1)."""

import os
import re
from pathlib import Path

import pytest

from tests import helpers

HISTORIES = Path(__file__).resolve().parent.parent / "replay" / "histories"


@pytest.fixture(autouse=True)
async def record_histories(request, temporal_client):
    helpers.created_references.clear()
    yield
    if not os.environ.get("RECORD_HISTORIES"):
        return
    name = re.sub(r"[^A-Za-z0-9_]+", "-", request.node.name).strip("-")
    # RECORD_HISTORIES=<label> prefixes the files, so a new generation of histories sits beside the old ones.
    label = os.environ["RECORD_HISTORIES"]
    if label != "1":
        name = f"{label}-{name}"
    for number, reference in enumerate(helpers.created_references):
        history = await temporal_client.get_workflow_handle(f"case-{reference}").fetch_history()
        (HISTORIES / f"{name}-{number}.json").write_text(history.to_json())

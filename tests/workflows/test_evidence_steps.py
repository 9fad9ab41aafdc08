"""Evidence reaches a case as ids and sizes in its steps: with the submission, with the submitter's answer, and
added later by customer service."""

import uuid

from api.auth import find_caller
from api.schemas import CaseCreate, SubmitterInfoBody
from api.service import tracking
from api.service.evidence import Upload, check_uploads, keep_files
from api.service.intake import accept_submission
from store.cases import find_case
from tests import helpers
from tests.api.test_evidence import PNG, _steps_with_evidence, pdf
from tests.conftest import DEPARTMENT
from tests.helpers import bearer, complaint, eventually, read_case
from tests.workflows.test_lifecycle import act


async def test_evidence_steps_name_files_by_id_and_size(api, services, keys, database):
    caller = await find_caller(database, keys.channel)
    files = check_uploads(services, [Upload("scan.pdf", pdf())])
    accepted = await accept_submission(services, CaseCreate.model_validate(complaint()), caller, uuid.uuid4().hex,
                                       evidence=files)
    reference = accepted.intake.reference
    helpers.created_references.append(reference)
    await eventually(lambda: read_case(api, keys.cs_agent, reference))
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    await act(api, keys.department, reference, "request-info", {"question": "Which office?"})

    answer_files = check_uploads(services, [Upload("receipt.png", PNG)])
    refs = await keep_files(services, reference, answer_files, uploaded_by="submitter")
    body = SubmitterInfoBody(answer="The Seeb office.")
    await tracking.answer_question(services, await find_case(database, reference), body.answer, body=body,
                                   idempotency_key=None, evidence=refs)
    added = await api.post(f"/v1/cases/{reference}/files", headers=bearer(keys.cs_agent),
                           files=[("files", ("note.pdf", pdf("later"), "application/pdf"))])
    assert added.status_code == 201, added.text

    steps = await eventually(lambda: _three(database, reference))
    assert [step.action for step in steps] == ["received", "submitter_info", "add_evidence"]
    assert all(set(entry) == {"id", "size"} for step in steps for entry in step.detail["evidence"])
    listed = (await api.get(f"/v1/cases/{reference}/files", headers=bearer(keys.department))).json()["items"]
    assert [item["file_name"] for item in listed] == ["scan.pdf", "receipt.png", "note.pdf"]


async def _three(database, reference):
    steps = await _steps_with_evidence(database, reference)
    return steps if len(steps) == 3 else None

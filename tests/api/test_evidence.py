"""Evidence files: told apart by content, sealed in PostgreSQL, named in the timeline by id and size only."""

import uuid

from sqlmodel import select

from api.auth import find_caller
from api.schemas import CaseCreate
from api.service.evidence import Upload, check_uploads
from api.service.intake import accept_submission
from store.models import EvidenceFile, TimelineEntry
from tests.conftest import DEPARTMENT
from tests.e2e.test_confidentiality import sqlite_files
from tests.helpers import bearer, complaint, eventually
from tests.workflows.test_lifecycle import act, new_case

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
EXECUTABLE = b"MZ\x90\x00" + bytes(200)


def pdf(marker: str = "") -> bytes:
    return b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n% " + marker.encode() + b"\n%%EOF\n"


async def _rows(database, reference: str) -> list[EvidenceFile]:
    async with database.session() as session:
        return list((await session.exec(select(EvidenceFile).where(EvidenceFile.reference == reference))).all())


async def _steps_with_evidence(database, reference: str) -> list[TimelineEntry]:
    async with database.session() as session:
        rows = (await session.exec(select(TimelineEntry).where(TimelineEntry.reference == reference)
                                   .order_by(TimelineEntry.id))).all()
    return [row for row in rows if "evidence" in row.detail]


async def test_customer_service_adds_files_the_department_downloads_them_and_the_read_is_recorded(api, keys, database):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    added = await api.post(f"/v1/cases/{reference}/files", headers=bearer(keys.cs_agent),
                           files=[("files", ("letter.pdf", pdf(), "application/pdf")),
                                  ("files", ("../../photo.png", PNG, "image/png"))])
    assert added.status_code == 201, added.text
    items = added.json()["items"]
    assert [(item["file_name"], item["media_type"], item["size"]) for item in items] == [
        ("letter.pdf", "application/pdf", len(pdf())), ("photo.png", "image/png", len(PNG))]
    [step] = await _steps_with_evidence(database, reference)
    assert step.action == "add_evidence"
    assert step.detail["evidence"] == [{"id": item["id"], "size": item["size"]} for item in items]

    listed = await api.get(f"/v1/cases/{reference}/files", headers=bearer(keys.department))
    assert listed.status_code == 200 and listed.json()["items"] == items
    download = await api.get(f"/v1/cases/{reference}/files/{items[1]['id']}", headers=bearer(keys.department))
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''photo.png"
    reads = (await api.get(f"/v1/cases/{reference}/reads", headers=bearer(keys.auditor))).json()["reads"]
    assert any(read["role"] == "department" for read in reads)
    # Sealed at rest: the stored bytes are not the file's.
    assert all(PNG not in row.sealed and pdf() not in row.sealed for row in await _rows(database, reference))


async def test_a_file_is_judged_by_its_content_not_its_name_and_a_refusal_stores_nothing(api, keys, database):
    reference = await new_case(api, keys)
    refused = await api.post(f"/v1/cases/{reference}/files", headers=bearer(keys.cs_agent),
                             files=[("files", ("fine.pdf", pdf(), "application/pdf")),
                                    ("files", ("invoice.pdf", EXECUTABLE, "application/pdf"))])
    assert refused.status_code == 422
    [problem] = refused.json()["error"]["fields"]
    assert problem["field"] == "files[1]" and "checked by content" in problem["reason"]
    assert await _rows(database, reference) == []

    too_many = await api.post(f"/v1/cases/{reference}/files", headers=bearer(keys.cs_agent),
                              files=[("files", (f"{n}.pdf", pdf(), "application/pdf")) for n in range(6)])
    assert too_many.status_code == 422 and too_many.json()["error"]["fields"][0]["field"] == "files"


async def test_who_may_not_add_or_see_files(api, keys, database):
    reference = await new_case(api, keys)
    await act(api, keys.cs_agent, reference, "triage", {"department": DEPARTMENT})
    one_file = [("files", ("a.pdf", pdf(), "application/pdf"))]
    by_department = await api.post(f"/v1/cases/{reference}/files", headers=bearer(keys.department), files=one_file)
    assert by_department.status_code == 409  # the department replies; it does not add evidence
    assert await _rows(database, reference) == []  # the refused addition left no file behind
    elsewhere = await api.get(f"/v1/cases/{reference}/files", headers=bearer(keys.other_department))
    assert elsewhere.status_code == 404
    admin = await api.get(f"/v1/cases/{reference}/files", headers=bearer(keys.admin))
    assert admin.status_code == 403


async def test_a_submission_with_files_stores_them_once_however_often_it_is_retried(services, keys, database, worker):
    caller = await find_caller(database, keys.channel)
    submission = CaseCreate.model_validate(complaint())
    files = check_uploads(services, [Upload("scan.pdf", pdf()), Upload("photo.png", PNG)])
    key = uuid.uuid4().hex
    first = await accept_submission(services, submission, caller, key, evidence=files)
    again = await accept_submission(services, submission, caller, key, evidence=files)
    reference = first.intake.reference
    assert again.intake.reference == reference and not again.created
    assert len(await _rows(database, reference)) == 2
    received = await eventually(lambda: _steps_with_evidence(database, reference))
    assert received[0].action == "received"
    assert sorted(entry["size"] for entry in received[0].detail["evidence"]) == sorted([len(pdf()), len(PNG)])


async def test_temporal_storage_holds_no_file_content(api, keys, settings, database):
    marker = f"evidence-marker-{uuid.uuid4().hex}"
    reference = await new_case(api, keys)
    added = await api.post(f"/v1/cases/{reference}/files", headers=bearer(keys.cs_agent),
                           files=[("files", (f"{marker}.pdf", pdf(marker), "application/pdf"))])
    assert added.status_code == 201, added.text
    assert marker.encode() not in sqlite_files(settings.data_dir)

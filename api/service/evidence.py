"""Evidence files: checked by their content, sealed with the codec's keys, kept in PostgreSQL, told to the case.

A file is refused unless its bytes are one of the accepted kinds (PDF, JPEG, PNG, HEIC, MP4, Office
documents), whatever its name says. Files are stored first and the case's workflow is told their ids
and sizes in the step that brings them (the received step, the submitter's answer, or an
`add_evidence` Update), so Temporal's history never holds a file's content or name; a file whose step
is never recorded is never listed (store/evidence.py).
"""

import hashlib
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import filetype
from pydantic import BaseModel

from api import errors
from api.auth import Caller
from api.deps import Services
from api.service.cases import ensure_visible, record_staff_read
from api.service.updates import send_update
from api.service.visibility import may_see, reads_cases
from store import evidence as evidence_store
from store.cases import find_case
from store.models import EvidenceFile
from workflows.case import CaseWorkflow
from workflows.messages import CaseView, EvidenceAddition, EvidenceRef

# What the ministry accepts as evidence, by the type the content shows, with the name people know it by.
ACCEPTED_TYPES = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/heic": "HEIC",
    "video/mp4": "MP4",
    "application/msword": "Word",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
    "application/vnd.ms-excel": "Excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
    "application/vnd.ms-powerpoint": "PowerPoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint",
}
ACCEPTED_NAMES = "PDF, JPEG, PNG, HEIC, MP4, Word, Excel, PowerPoint"
# Ids of a submission's files are derived from its reference, so that a retried submission stores them once.
_INTAKE_FILES = uuid.UUID("6c0b3c9e-5d0e-4c59-9a57-3f1e2f6b8a11")


@dataclass(frozen=True)
class Upload:
    """A file as it arrived: the name the sender gave it and its bytes."""

    name: str
    content: bytes


@dataclass(frozen=True)
class CheckedUpload:
    name: str
    content: bytes
    media_type: str
    sha256: str


class EvidencePublic(BaseModel):
    """An evidence file of a case, without its content (download it by its id)."""

    id: str
    file_name: str
    media_type: str
    size: int
    sha256: str
    uploaded_at: datetime


class FileRefused(errors.ApiError):
    """A file (or a set of files) that is not accepted: 422 naming `files[i]`; `why` says which rule for the pages."""

    def __init__(self, field: str, why: str, reason: str, file_name: str | None = None) -> None:
        super().__init__(422, "validation_error", f"invalid request: {field}: {reason}",
                         [errors.FieldProblem(field=field, reason=reason)])
        self.why = why  # too_many, empty, too_large, not_evidence
        self.file_name = file_name


def check_uploads(services: Services, uploads: list[Upload], field: str = "files") -> list[CheckedUpload]:
    """Each file, once its count, size and content are acceptable; FileRefused naming `files[i]` and why, otherwise."""
    settings = services.settings
    if len(uploads) > settings.evidence_max_files:
        raise FileRefused(field, "too_many", f"at most {settings.evidence_max_files} files, not {len(uploads)}")
    checked = []
    for number, upload in enumerate(uploads):
        name = f"{field}[{number}]"
        if not upload.content:
            raise FileRefused(name, "empty", "the file is empty", upload.name)
        if len(upload.content) > settings.evidence_max_bytes:
            raise FileRefused(name, "too_large", f"the file is over {settings.evidence_max_mib:g} MiB", upload.name)
        media_type = filetype.guess_mime(upload.content)
        if media_type not in ACCEPTED_TYPES:
            shown = media_type or "of a kind that cannot be told"
            raise FileRefused(name, "not_evidence", f"the file's content is {shown}; only {ACCEPTED_NAMES} are "
                                                    "accepted (checked by content, not by name)", upload.name)
        checked.append(CheckedUpload(_clean_name(upload.name), upload.content, media_type,
                                     hashlib.sha256(upload.content).hexdigest()))
    return checked


def _clean_name(name: str) -> str:
    """The name without a folder or control characters, as the download offers it back."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(character for character in base if unicodedata.category(character)[0] != "C").strip()
    return kept[:200] or "evidence"


async def keep_files(services: Services, reference: str, files: list[CheckedUpload], *, uploaded_by: str,
                     ids: list[str] | None = None) -> list[EvidenceRef]:
    """Seal and store the files under `reference`; what the case is told of them."""
    codec = services.temporal.data_converter.payload_codec
    ids = ids or [str(uuid.uuid4()) for _ in files]
    now = datetime.now(UTC)
    rows = []
    for position, (file_id, file) in enumerate(zip(ids, files, strict=True)):
        key_id, sealed = codec.seal_bytes(file.content, bound_to=file_id.encode())
        rows.append(EvidenceFile(id=file_id, reference=reference, file_name=file.name, media_type=file.media_type,
                                 size=len(file.content), sha256=file.sha256, key_id=key_id, sealed=sealed,
                                 uploaded_at=now, position=position, uploaded_by=uploaded_by[:60]))
    await evidence_store.store_files(services.database, rows)
    return [EvidenceRef(id=row.id, size=row.size) for row in rows]


def intake_file_ids(reference: str, files: list[CheckedUpload]) -> list[str]:
    """A submission's file ids: the same for a retry of the same submission, so its files are stored once."""
    return [str(uuid.uuid5(_INTAKE_FILES, f"{reference}:{number}:{file.sha256}")) for number, file in enumerate(files)]


async def add_evidence(services: Services, caller: Caller, reference: str, uploads: list[Upload], *,
                       idempotency_key: str | None) -> CaseView:
    """Files for an open case from its channel, the call centre or customer service: stored, then told to the case
    as one step; a refused addition leaves no file behind."""
    await ensure_visible(services, caller, reference)
    files = check_uploads(services, uploads)
    if not files:
        raise FileRefused("files", "empty", "send at least one file")
    refs = await keep_files(services, reference, files, uploaded_by=caller.principal)
    body = _AdditionBody(files=[file.sha256 for file in files])
    try:
        return await send_update(services, reference, CaseWorkflow.add_evidence,
                                 EvidenceAddition(caller.as_actor(), refs), body=body,
                                 idempotency_key=idempotency_key)
    except errors.ApiError as refused:
        if refused.status != 503:  # an unknown outcome may yet be recorded: keep the files for the retry
            await evidence_store.forget_files(services.database, [ref.id for ref in refs])
        raise


class _AdditionBody(BaseModel):
    files: list[str]


async def list_evidence(services: Services, caller: Caller, reference: str) -> list[EvidencePublic]:
    """The case's files, for whoever may see the case."""
    await _ensure_readable(services, caller, reference)
    files = await evidence_store.files_of_case(services.database, reference)
    return [EvidencePublic.model_validate(file, from_attributes=True) for file in files]


async def download_evidence(services: Services, caller: Caller, reference: str, file_id: str) -> tuple[EvidenceFile,
                                                                                                      bytes]:
    """The file and its content; a staff download is recorded as a read of the case."""
    await _ensure_readable(services, caller, reference)
    file = await evidence_store.file_of_case(services.database, reference, file_id)
    if file is None:
        raise errors.ApiError(404, "not_found", f"no evidence file {file_id!r} in case {reference}")
    await record_staff_read(services, reference, caller)
    codec = services.temporal.data_converter.payload_codec
    return file, codec.open_bytes(file.key_id, file.sealed, bound_to=file.id.encode())


async def _ensure_readable(services: Services, caller: Caller, reference: str) -> None:
    if not reads_cases(caller):
        raise errors.forbidden("an admin key reads no case content")
    record = await find_case(services.database, reference)
    if record is None or not may_see(caller, record):
        raise errors.not_found(reference)

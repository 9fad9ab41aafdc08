"""Evidence files of a case: added by its channel, the call centre or customer service; listed and downloaded
by whoever may see the case (api.service.evidence holds the rules)."""

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Path, UploadFile, status
from fastapi.responses import Response
from pydantic import BaseModel

from api.deps import CallerDep, ServicesDep
from api.errors import UNAUTHORIZED_RESPONSE, ErrorResponse
from api.idempotency import IdempotencyKey
from api.service import evidence
from api.service.evidence import EvidencePublic, Upload

router = APIRouter(prefix="/v1/cases", tags=["evidence"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORIZED_RESPONSE,
    403: {"model": ErrorResponse, "description": "The caller's role reads no case content."},
    404: {"model": ErrorResponse, "description": "No such case (or file), or not one the caller may see."},
    409: {"model": ErrorResponse, "description": "The case is closed, or the caller's role may not add files."},
    413: {"model": ErrorResponse, "description": "The request is over the files' total limit."},
    422: {"model": ErrorResponse,
          "description": "Too many files, an empty or too large one, or one whose content is not an accepted kind "
                         "(`fields` names `files[i]` and why)."},
}
FILE_ID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$", description="The file's `id`.")]


class EvidenceList(BaseModel):
    reference: str
    items: list[EvidencePublic]


@router.post("/{reference}/files", status_code=status.HTTP_201_CREATED, response_model=EvidenceList,
             responses=ERRORS)
async def add_files(reference: str, files: Annotated[list[UploadFile], File(description="Up to 5 files.")],
                    caller: CallerDep, services: ServicesDep,
                    idempotency_key: IdempotencyKey = None) -> EvidenceList:
    """Add evidence files to an open case (its channel, the call centre, customer service). Each file's content
    must be PDF, JPEG, PNG, HEIC, MP4 or an Office document, whatever its name; the case's timeline records the
    addition, and the answer lists every file of the case."""
    uploads = [Upload(name=file.filename or "evidence", content=await file.read()) for file in files]
    await evidence.add_evidence(services, caller, reference, uploads, idempotency_key=idempotency_key)
    return EvidenceList(reference=reference, items=await evidence.list_evidence(services, caller, reference))


@router.get("/{reference}/files", response_model=EvidenceList, responses=ERRORS)
async def list_files(reference: str, caller: CallerDep, services: ServicesDep) -> EvidenceList:
    """The case's evidence files, oldest first, for whoever may see the case."""
    return EvidenceList(reference=reference, items=await evidence.list_evidence(services, caller, reference))


@router.get("/{reference}/files/{file_id}", response_class=Response, responses={
    **ERRORS, 200: {"content": {"application/octet-stream": {}}, "description": "The file, as it was sent."}})
async def download_file(reference: str, file_id: FILE_ID, caller: CallerDep, services: ServicesDep) -> Response:
    """Download one file; a staff download is recorded as a read of the case (`GET …/reads`)."""
    file, content = await evidence.download_evidence(services, caller, reference, file_id)
    disposition = f"attachment; filename*=UTF-8''{quote(file.file_name)}"
    return Response(content, media_type=file.media_type, headers={"Content-Disposition": disposition})

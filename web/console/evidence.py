"""A case's evidence files in the console: listed on the case page, added by those who may (channels' people:
the call centre and customer service), downloaded under the same rule and read record as the API's."""

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ServicesDep
from api.errors import ApiError
from api.schemas import CasePublic
from api.service.evidence import ACCEPTED_TYPES, EvidencePublic, add_evidence, download_evidence
from domain.kinds import Status
from domain.lifecycle import Action, ActionRefused, CaseFacts, check_action
from web.console.session import CheckedFormDep, StaffDep, console_page
from web.forms import uploads_of
from web.i18n import Words

router = APIRouter(prefix="/console/evidence", include_in_schema=False)
FILE_ID = Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")]


@dataclass(frozen=True)
class EvidenceLine:
    id: str
    name: str
    kind: str
    size: str
    when: str


def evidence_line(words: Words, file: EvidencePublic) -> EvidenceLine:
    kilobytes = max(1, round(file.size / 1024))
    size = words._("{count} KB", count=words.number(kilobytes)) if kilobytes < 1024 else words._(
        "{count} MB", count=words.number(round(file.size / 1024 / 1024, 1)))
    return EvidenceLine(file.id, file.file_name, ACCEPTED_TYPES.get(file.media_type, file.media_type), size,
                        words.when(file.uploaded_at))


def may_add_evidence(case: CasePublic, caller) -> bool:
    try:
        check_action(Action.ADD_EVIDENCE, CaseFacts(Status(case.status), case.department, case.escalation_level),
                     caller.role.value, caller.department)
    except ActionRefused:
        return False
    return True


@router.post("/{reference}")
async def add(request: Request, reference: str, staff: StaffDep, services: ServicesDep,
              form: CheckedFormDep) -> Response:
    try:
        await add_evidence(services, staff.caller, reference, await uploads_of(form),
                           idempotency_key=str(form.get("attempt") or "") or None)
    except ApiError as refused:
        reasons = "; ".join(field.reason for field in refused.fields) or refused.message
        return console_page(request, "console/refused.html", staff, status_code=refused.status,
                            reason=reasons, back_to=f"/console/cases/{reference}")
    return RedirectResponse(f"/console/cases/{reference}#evidence-title", status_code=303)


@router.get("/{reference}/{file_id}")
async def download(reference: str, file_id: FILE_ID, staff: StaffDep, services: ServicesDep) -> Response:
    file, content = await download_evidence(services, staff.caller, reference, file_id)
    return Response(content, media_type=file.media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(file.file_name)}"})

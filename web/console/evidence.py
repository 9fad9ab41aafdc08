"""A case's evidence files, downloaded from the console: the same rule and the same read record as the API's."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path
from fastapi.responses import Response

from api.deps import ServicesDep
from api.service.evidence import download_evidence
from web.console.session import StaffDep

router = APIRouter(prefix="/console/cases", include_in_schema=False)


@router.get("/{reference}/files/{file_id}")
async def download(reference: str, file_id: Annotated[str, Path(pattern=r"^[0-9a-f-]{36}$")], staff: StaffDep,
                   services: ServicesDep) -> Response:
    file, content = await download_evidence(services, staff.caller, reference, file_id)
    return Response(content, media_type=file.media_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(file.file_name)}"})

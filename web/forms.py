"""What the pages read from a posted form beyond plain fields: the evidence files it carries."""

from starlette.datastructures import FormData, UploadFile

from api.service.evidence import Upload


async def uploads_of(form: FormData, field: str = "files") -> list[Upload]:
    """The files posted under `field`; a file input left empty (a part with no name and no bytes) is no file."""
    uploads = []
    for part in form.getlist(field):
        if isinstance(part, UploadFile) and (part.filename or part.size):
            uploads.append(Upload(name=part.filename or "evidence", content=await part.read()))
    return uploads

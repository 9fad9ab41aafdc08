"""What the pages read from a posted form beyond plain fields: the evidence files it carries."""

from starlette.datastructures import FormData, UploadFile

from api.service.evidence import FileRefused, Upload
from web.i18n import Words


async def uploads_of(form: FormData, field: str = "files") -> list[Upload]:
    """The files posted under `field`; a file input left empty (a part with no name and no bytes) is no file."""
    uploads = []
    for part in form.getlist(field):
        if isinstance(part, UploadFile) and (part.filename or part.size):
            uploads.append(Upload(name=part.filename or "evidence", content=await part.read()))
    return uploads


def file_refusal_in_words(words: Words, refused: FileRefused, max_files: int, max_mib: float) -> str:
    """Why a file was not taken, in the reader's language, naming the file."""
    name = refused.file_name or ""
    if refused.why == "too_many":
        return words._("Send at most {count} files.", count=words.number(max_files))
    if refused.why == "too_large":
        return words._("The file {name} is larger than {size} MiB.", name=name, size=words.number(max_mib))
    if refused.why == "empty":
        return words._("The file {name} is empty.", name=name) if name else words._("Choose at least one file.")
    return words._("The file {name} is not a PDF, an image (JPEG, PNG, HEIC), an MP4 video or an Office document. "
                   "Files are checked by what they contain, not by their names.", name=name)

"""Choosing one's own password: anyone may change theirs here, and a person who signed in with a one-time
password is sent here first (web/console/session.py's gate) and opens no other page until they have."""

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from api.deps import ServicesDep
from api.service.staff import MIN_PASSWORD_LENGTH, AccountRefused, StaffSessionInfo, change_password
from web.console.forms import reason_in_words
from web.console.navigation import home_of
from web.console.session import CheckedFormDep, StaffDep, console_page
from web.i18n import words_for

router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/password")
async def password_page(request: Request, staff: StaffDep) -> Response:
    return _form(request, staff)


@router.post("/password")
async def choose_password(request: Request, services: ServicesDep, staff: StaffDep,
                          form: CheckedFormDep) -> Response:
    words = words_for(staff.language)
    current, new, again = (str(form.get(name) or "")[:1000] for name in ("current", "new", "again"))
    if new != again:
        return _form(request, staff, status_code=422, errors={"again": words._("The two new passwords differ.")})
    try:
        await change_password(services.database, services.settings, staff, current=current, new=new,
                              address=request.client.host if request.client else None)
    except AccountRefused as refused:
        return _form(request, staff, status_code=422,
                     errors={refused.field: reason_in_words(words, refused.reason)})
    if staff.user.password_change_required:
        return RedirectResponse(home_of(staff.caller.role), status_code=303)
    return _form(request, staff, saved=True)


def _form(request: Request, staff: StaffSessionInfo, *, status_code: int = 200,
          errors: dict[str, str] | None = None, saved: bool = False) -> Response:
    return console_page(request, "console/password.html", staff, status_code=status_code, errors=errors or {},
                        saved=saved,
                        required=staff.user.password_change_required, min_length=MIN_PASSWORD_LENGTH)

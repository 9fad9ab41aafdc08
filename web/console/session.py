"""Who is at the console: the session behind the cookie, and the CSRF token every form must carry.

Pages depend on `StaffDep` (a page without a live session sends the browser to sign in, and comes
back after) and forms on `CheckedFormDep` (a POST without this session's CSRF token is refused with
403 before anything is read or changed).
"""

import secrets
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from api.deps import ServicesDep
from api.service.staff import StaffSessionInfo, session_for
from web.console.navigation import ROLE_NAMES, menu_of
from web.i18n import Words, words_for
from web.security import is_https
from web.templating import page

COOKIE = "complaints_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class SignInNeeded(Exception):
    def __init__(self, back_to: str) -> None:
        self.back_to = back_to


class PasswordChangeNeeded(Exception):
    """The account signed in with a one-time password: it chooses its own before any other page opens."""


# What a person with a one-time password may still open: the page to choose their own, the language, sign-out.
OPEN_BEFORE_PASSWORD_CHANGE = frozenset({"/console/password", "/console/language", "/console/sign-out"})
PASSWORD_PAGE = "/console/password"


class CsrfRefused(Exception):
    def __init__(self, words: Words) -> None:
        self.words = words


async def staff_session(request: Request, services: ServicesDep) -> StaffSessionInfo:
    info = await session_for(services.database, services.settings, request.cookies.get(COOKIE))
    if info is None:
        raise SignInNeeded(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if info.user.password_change_required and request.url.path not in OPEN_BEFORE_PASSWORD_CHANGE:
        raise PasswordChangeNeeded()
    return info


StaffDep = Annotated[StaffSessionInfo, Depends(staff_session)]


async def checked_form(request: Request, staff: StaffDep) -> FormData:
    """The posted form, once it carries this session's CSRF token (a field, or htmx's header)."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    if not secrets.compare_digest(sent.encode(), staff.csrf_token.encode()):
        raise CsrfRefused(words_for(staff.language))
    return form


CheckedFormDep = Annotated[FormData, Depends(checked_form)]


def set_session_cookie(response: Response, request: Request, token: str, max_age_seconds: int) -> None:
    """HttpOnly, SameSite=Lax, Secure over HTTPS; the session itself ends on the server (idle, lifetime, sign-out)."""
    response.set_cookie(COOKIE, token, max_age=max_age_seconds, httponly=True, samesite="lax",
                        secure=is_https(request.scope), path="/")


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request.scope))


def sign_in_url(back_to: str) -> str:
    return f"/console/sign-in?next={quote(back_to, safe='')}"


def install(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def to_sign_in(request: Request, needed: SignInNeeded) -> Response:
        target = sign_in_url(needed.back_to)
        if request.headers.get("HX-Request") == "true":
            # htmx follows a redirect inside the swapped part; a whole-page move is asked for by header.
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PasswordChangeNeeded)
    async def to_password(request: Request, _: PasswordChangeNeeded) -> Response:
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": PASSWORD_PAGE})
        return RedirectResponse(PASSWORD_PAGE, status_code=303)

    @app.exception_handler(CsrfRefused)
    async def refuse(request: Request, refused: CsrfRefused) -> Response:
        return page(request, "console/refused.html", refused.words, status_code=403,
                    reason=refused.words._("This form is out of date or did not come from this console. "
                                           "Nothing was changed. Open the page again and retry."))


def console_page(request: Request, template: str, staff: StaffSessionInfo, *, status_code: int = 200,
                 block: str | None = None, **context) -> Response:
    """A console page for the signed-in person: their language, their menu, their forms' CSRF token."""
    # Behind the password gate the menu leads nowhere yet: it is left out until the password is chosen.
    menu = () if staff.user.password_change_required else menu_of(staff.caller.role)
    return page(request, template, words_for(staff.language), status_code=status_code, block=block, staff=staff,
                menu=menu, role_names=ROLE_NAMES, csrf_token=staff.csrf_token, **context)

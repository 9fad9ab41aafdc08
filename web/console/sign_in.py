"""Signing in and out of the console, and the language switch that stays with the session."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from api.deps import ServicesDep
from api.service.staff import SignInRefused, choose_language, sign_in, sign_out
from web.console.navigation import home_of
from web.console.session import (
    COOKIE,
    CheckedFormDep,
    StaffDep,
    clear_session_cookie,
    set_session_cookie,
    staff_session,
)
from web.i18n import words_for
from web.templating import page

router = APIRouter(prefix="/console", include_in_schema=False)

# The sign-in form has no session yet: its CSRF token is a random value in a short cookie and in the form
# alike ("double submit"), so another site cannot sign a browser in to an account of its choosing.
SIGN_IN_COOKIE = "complaints_sign_in"


def _safe_next(target: str | None) -> str | None:
    """Only a console page of this site: never another origin (`//host`), never a scheme."""
    if target and target.startswith("/console/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@router.get("/sign-in")
async def sign_in_page(request: Request, services: ServicesDep, next: str | None = None,
                       lang: Annotated[str | None, Query()] = None) -> Response:
    return _sign_in_form(request, services, next=next, language=lang)


def _sign_in_form(request: Request, services: ServicesDep, *, next: str | None, language: str | None,
                  error: str | None = None, login: str = "", status_code: int = 200) -> Response:
    words = words_for(language or services.settings.staff_language)
    token = secrets.token_urlsafe(32)
    response = page(request, "console/sign_in.html", words, status_code=status_code, csrf_token=token,
                    next=_safe_next(next) or "", error=error, login=login,
                    single_sign_on=services.settings.oidc_issuer is not None)
    response.set_cookie(SIGN_IN_COOKIE, token, max_age=3600, httponly=True, samesite="strict",
                        path="/console/sign-in")
    return response


@router.post("/sign-in")
async def sign_in_submit(request: Request, services: ServicesDep, login: Annotated[str, Form(max_length=120)] = "",
                         password: Annotated[str, Form(max_length=1000)] = "",
                         csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "",
                         lang: Annotated[str, Form()] = "") -> Response:
    words = words_for(lang or services.settings.staff_language)
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not secrets.compare_digest(csrf_token.encode(), expected.encode()):
        return _sign_in_form(request, services, next=next, language=lang, login=login, status_code=403,
                             error=words._("This form is out of date. Nothing was sent; sign in again."))
    try:
        token, session = await sign_in(services.database, services.settings, login, password,
                                       address=_address(request), language=lang or None)
    except SignInRefused as refused:
        return _sign_in_form(request, services, next=next, language=lang, login=login, status_code=401,
                             error=_refusal_in_words(words, str(refused)))
    response = RedirectResponse(_safe_next(next) or home_of(session.caller.role), status_code=303)
    set_session_cookie(response, request, token, int(services.settings.staff_session_hours * 3600))
    response.delete_cookie(SIGN_IN_COOKIE, path="/console/sign-in")
    return response


def _refusal_in_words(words, reason: str) -> str:
    if reason.startswith("this login is locked"):
        return words._("This login is locked for a while after too many wrong passwords. Try again later, or ask "
                       "an administrator.")
    return words._("Wrong login or password.")


@router.post("/sign-out")
async def sign_out_submit(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep) -> Response:
    await sign_out(services.database, staff, address=_address(request))
    response = RedirectResponse(f"/console/sign-in?lang={staff.language}", status_code=303)
    clear_session_cookie(response, request)
    return response


@router.post("/language")
async def switch_language(request: Request, services: ServicesDep, staff: StaffDep, form: CheckedFormDep) -> Response:
    await choose_language(services.database, staff, str(form.get("language", "")))
    return RedirectResponse(_safe_next(str(form.get("next", ""))) or home_of(staff.caller.role), status_code=303)


@router.get("/")
async def console_home(request: Request, services: ServicesDep) -> Response:
    staff = await staff_session(request, services)
    return RedirectResponse(home_of(staff.caller.role), status_code=303)


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


__all__ = ["router", "COOKIE"]

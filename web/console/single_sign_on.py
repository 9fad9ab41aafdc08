"""Signing in to the console with the ministry account (OpenID Connect; api/service/single_sign_on.py checks it).

Between leaving for the provider and coming back, the browser keeps the flow's `state`, `nonce` and PKCE
verifier, and where to go after, in a short cookie, signed with the service's secret key:
- it binds the answer to the browser that asked (a `state` kept in a table would need a cookie for that
  anyway), and the console has no other pre-session state to keep it in;
- it ends by itself (ten minutes) and leaves nothing in the database to clean up;
- it is HttpOnly and SameSite=Lax: the provider sends the browser back by a top-level GET from another
  site, which Lax allows and Strict would not; its path is the flow's own, so no other page ever gets it.
"""

import base64
import hashlib
import hmac
import json
import secrets

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from api.deps import ServicesDep
from api.service.single_sign_on import (
    PendingSignIn,
    SingleSignOnRefused,
    begin_sign_in,
    finish_sign_in,
    is_configured,
)
from web.console.navigation import home_of
from web.console.session import set_session_cookie
from web.console.sign_in import _safe_next as safe_next
from web.i18n import Words, words_for
from web.security import is_https
from web.templating import page

router = APIRouter(prefix="/console/sign-in/oidc", include_in_schema=False)

FLOW_COOKIE = "complaints_oidc_flow"
FLOW_PATH = "/console/sign-in/oidc"
FLOW_SECONDS = 600


@router.get("")
async def leave_for_the_provider(request: Request, services: ServicesDep, next: str | None = None,
                                 lang: str | None = None) -> Response:
    settings = services.settings
    words = words_for(lang or settings.staff_language)
    if not is_configured(settings):
        return _refused(request, words, "not_configured", status_code=404)
    try:
        url, pending = await begin_sign_in(settings, _callback_url(request))
    except SingleSignOnRefused as refused:
        return _refused(request, words, refused.reason, status_code=502)
    response = RedirectResponse(url, status_code=303)
    flow = {"state": pending.state, "nonce": pending.nonce, "code_verifier": pending.code_verifier,
            "next": safe_next(next) or "", "lang": words.language}
    response.set_cookie(FLOW_COOKIE, _sealed(services, flow), max_age=FLOW_SECONDS, httponly=True,
                        samesite="lax", secure=is_https(request.scope), path=FLOW_PATH)
    return response


@router.get("/callback", name="single_sign_on_callback")
async def back_from_the_provider(request: Request, services: ServicesDep, code: str = "", state: str = "",
                                 error: str = "") -> Response:
    flow = _opened(services, request.cookies.get(FLOW_COOKIE, ""))
    words = words_for(flow.get("lang") if flow else services.settings.staff_language)
    if flow is None or not state or not secrets.compare_digest(state.encode(), str(flow["state"]).encode()):
        # No flow of this browser's, or an answer to another one: a forged or stale link.
        return _refused(request, words, "stale", status_code=400)
    if error or not code:
        return _refused(request, words, "declined", status_code=401)
    pending = PendingSignIn(state=flow["state"], nonce=flow["nonce"], code_verifier=flow["code_verifier"])
    try:
        token, session = await finish_sign_in(
            services.database, services.settings, redirect_uri=_callback_url(request), code=code, pending=pending,
            address=request.client.host if request.client else None, language=words.language)
    except SingleSignOnRefused as refused:
        return _refused(request, words, refused.reason, status_code=502 if refused.reason == "provider" else 403)
    response = RedirectResponse(safe_next(flow.get("next")) or home_of(session.caller.role), status_code=303)
    set_session_cookie(response, request, token, int(services.settings.staff_session_hours * 3600))
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


def _callback_url(request: Request) -> str:
    return str(request.url_for("single_sign_on_callback"))


def _refusal_in_words(words: Words, reason: str) -> str:
    said = {
        "unknown_role": words._("Your ministry account does not give you a role in the complaints console. "
                                "Ask the administrator of the ministry accounts to give you one."),
        "not_a_person": words._("Your ministry account names a channel, which is a system and not a person. "
                                "Ask the administrator of the ministry accounts to correct your role."),
        "department": words._("Your ministry account names no active department of the directory. Ask the "
                              "administrator of the ministry accounts to correct your department."),
        "disabled": words._("Your console account is disabled. Ask an administrator."),
        "login_taken": words._("Another console account has the login of your ministry account. Ask an "
                               "administrator."),
        "declined": words._("The ministry account did not sign you in. Try again."),
        "stale": words._("This sign-in is out of date or was not started in this browser. Sign in again."),
        "provider": words._("The ministry's sign-in service did not answer as expected. Try again later, or "
                            "sign in with your password."),
        "not_configured": words._("Sign-in with the ministry account is not set up here."),
    }
    return said.get(reason, said["provider"])


def _refused(request: Request, words: Words, reason: str, *, status_code: int) -> Response:
    response = page(request, "console/single_sign_on_refused.html", words, status_code=status_code,
                    reason=_refusal_in_words(words, reason))
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH)
    return response


def _sealed(services, flow: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(flow, separators=(",", ":")).encode()).decode()
    return f"{body}.{_signature(services, body)}"


def _opened(services, cookie: str) -> dict | None:
    body, _, signature = cookie.rpartition(".")
    if not body or not hmac.compare_digest(signature, _signature(services, body)):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(body))
    except ValueError:
        return None


def _signature(services, body: str) -> str:
    key = hashlib.sha256(b"console single sign-on flow|" + services.settings.resolved_secret_key()).digest()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()

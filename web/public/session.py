"""What every public page shares: the reader's language (a small cookie of these pages' own), the per-address
limit, the tracking page's one-case session behind its own cookie, and the page's words and digits.

Nothing here reads or writes the console's cookie: the public pages and the staff console share no session.
"""

import secrets
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from api.deps import ServicesDep
from api.errors import ApiError
from api.public_limit import limit_public_requests
from api.ratelimit import TrackingLimiter
from api.routes import tracking as tracking_routes
from api.service.public_site import tracking_session_for
from store.models import PublicSession
from web.i18n import DIRECTION, Words, words_for
from web.security import is_https
from web.templating import page

LANGUAGE_COOKIE = "complaints_public_language"
TRACKING_COOKIE = "complaints_public_tracking"
CSRF_FIELD = "csrf_token"


class PublicRefused(Exception):
    """A public page's refusal (too many requests, an outdated form): a page in words, with its status."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.reason, self.headers = status, reason, headers


def language_of(request: Request) -> str:
    """`?lang=` (the switch), else the public pages' language cookie, else Arabic."""
    chosen = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    return chosen if chosen in DIRECTION else "ar"


def words_of(request: Request) -> Words:
    settings = request.app.state.services.settings
    return words_for(language_of(request), arabic_digits=settings.arabic_digits)


async def within_public_limit(request: Request, services: ServicesDep) -> None:
    """The same per-address limit as the API's keyless routes (`api.public_limit`), answered as a page."""
    try:
        await limit_public_requests(request, services)
    except ApiError as refused:
        words = words_of(request)
        raise PublicRefused(429, words._("Too many requests from your connection. Wait a minute, then try again."),
                            refused.headers) from None


def tracking_limiter(request: Request) -> TrackingLimiter:
    """The very limiter of wrong tracking codes that `/v1/track` uses: guesses on either count together."""
    return getattr(request.app.state, "tracking_limiter", None) or tracking_routes.default_limiter


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def public_page(request: Request, template: str, *, status_code: int = 200, **context) -> Response:
    """A public page in the reader's language; a `?lang=` choice is kept in the language cookie."""
    words = words_of(request)
    switch = "en" if words.language == "ar" else "ar"
    response = page(request, template, words, status_code=status_code, other_language=switch, **context)
    if request.query_params.get("lang") in DIRECTION:
        response.set_cookie(LANGUAGE_COOKIE, words.language, max_age=365 * 24 * 3600, httponly=True,
                            samesite="lax", secure=is_https(request.scope), path="/")
    return response


# ---------------------------------------------------------------- the tracking page's session


async def tracking_session(request: Request, services: ServicesDep) -> PublicSession | None:
    return await tracking_session_for(services, request.cookies.get(TRACKING_COOKIE))


TrackingSessionDep = Annotated[PublicSession | None, Depends(tracking_session)]


async def checked_tracking_form(request: Request, session: TrackingSessionDep) -> tuple[PublicSession, FormData]:
    """The session and its posted form, once the form carries the session's CSRF token; else the page says why."""
    words = words_of(request)
    if session is None:
        raise PublicRefused(403, words._("Your time on the tracking page ended. Enter the reference and the tracking "
                                         "code again; nothing was sent."))
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or "")
    if not secrets.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise PublicRefused(403, words._("This form is out of date or did not come from this site. Nothing was sent; "
                                         "open the tracking page again."))
    return session, form


CheckedTrackingFormDep = Annotated[tuple[PublicSession, FormData], Depends(checked_tracking_form)]


def set_tracking_cookie(response: Response, request: Request, token: str, max_age_seconds: int) -> None:
    """HttpOnly, SameSite=Lax, Secure over HTTPS, path "/": the session itself ends on the server."""
    response.set_cookie(TRACKING_COOKIE, token, max_age=max_age_seconds, httponly=True, samesite="lax",
                        secure=is_https(request.scope), path="/")


def clear_tracking_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(TRACKING_COOKIE, path="/", httponly=True, samesite="lax", secure=is_https(request.scope))

"""The public pages: anyone submits a complaint, report or suggestion at `/` and follows it at `/track`, in
Arabic (English by a switch), with no account and nothing shared with the staff console."""

from fastapi import FastAPI, Request
from starlette.responses import Response

from web.public import submit, track
from web.public.session import PublicRefused, public_page


def install(app: FastAPI) -> None:
    @app.exception_handler(PublicRefused)
    async def refuse(request: Request, refused: PublicRefused) -> Response:
        response = public_page(request, "public/refused.html", status_code=refused.status, reason=refused.reason)
        response.headers.update(refused.headers or {})
        return response

    app.include_router(submit.router)
    app.include_router(track.router)

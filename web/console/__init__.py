"""The staff console at `/console/`: the people the policy names work cases here, under the same rules as
their API keys (api/service), in Arabic (English by a switch kept with the session)."""

from fastapi import FastAPI

from web.console import session, sign_in, single_sign_on


def install(app: FastAPI) -> None:
    session.install(app)
    app.include_router(sign_in.router)
    app.include_router(single_sign_on.router)

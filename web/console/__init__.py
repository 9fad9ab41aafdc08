"""The staff console at `/console/`: the people the policy names work cases here, under the same rules as
their API keys (api/service), in Arabic (English by a switch kept with the session)."""

from fastapi import FastAPI

from web.console import (
    admin,
    bulk_triage,
    case_page,
    evidence,
    new_case,
    password,
    queues,
    review,
    session,
    sign_in,
    single_sign_on,
)


def install(app: FastAPI) -> None:
    session.install(app)
    app.include_router(sign_in.router)
    app.include_router(single_sign_on.router)
    app.include_router(password.router)
    app.include_router(queues.router)
    app.include_router(new_case.router)  # before the case pages: /console/cases/new is no reference
    app.include_router(case_page.router)
    app.include_router(bulk_triage.router)
    app.include_router(admin.router)
    app.include_router(evidence.router)
    app.include_router(review.router)

"""Typed dependencies: what a route needs, declared once with `Annotated`."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from api.auth import Caller, find_caller
from api.errors import unauthorized
from core.settings import Settings
from core.timekeeping import Timekeeping
from domain.calendar import WorkingCalendar
from domain.policy import Policy
from store.db import Database


@dataclass
class Services:
    """What the app builds once at start-up and shares between requests."""

    settings: Settings
    database: Database
    temporal: Client
    timekeeping: Timekeeping

    @property
    def policy(self) -> Policy:
        return self.timekeeping.policy

    @property
    def calendar(self) -> WorkingCalendar:
        return self.timekeeping.calendar


# Async, so FastAPI calls it on the event loop and not through its thread pool (a thread hop per request).
async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(auto_error=False, description="An API key from `complaints apikey create`.")


async def get_caller(
    services: ServicesDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized()
    caller = await find_caller(services.database, credentials.credentials)
    if caller is None:
        raise unauthorized()
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]

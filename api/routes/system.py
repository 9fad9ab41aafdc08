"""Health and the active departments of the directory."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.departments import active_departments
from api.deps import CallerDep, ServicesDep
from api.errors import ErrorResponse
from api.schemas import DepartmentPublic, Health

router = APIRouter(tags=["system"])

HEALTH_TIMEOUT_SECONDS = 3


async def _postgres_answers(services) -> bool:
    try:
        async with services.database.session() as session:
            await asyncio.wait_for(session.exec(text("select 1")), HEALTH_TIMEOUT_SECONDS)
        return True
    except Exception:  # noqa: BLE001 (whatever fails, the answer is: not healthy)
        return False


async def _temporal_answers(services) -> bool:
    try:
        await asyncio.wait_for(services.temporal.service_client.check_health(), HEALTH_TIMEOUT_SECONDS)
        return True
    except Exception:  # noqa: BLE001 (whatever fails, the answer is: not healthy)
        return False


@router.get("/healthz", response_model=Health, responses={503: {"model": Health}})
async def health(services: ServicesDep):
    """Whether PostgreSQL and Temporal answer; 503 when either does not. No key needed."""
    postgres, temporal = await asyncio.gather(_postgres_answers(services), _temporal_answers(services))
    body = Health(status="ok" if postgres and temporal else "degraded", postgres=postgres, temporal=temporal)
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)


@router.get(
    "/v1/departments",
    response_model=list[DepartmentPublic],
    responses={401: {"model": ErrorResponse, "description": "No valid API key."}},
)
async def departments(_: CallerDep, services: ServicesDep) -> list[DepartmentPublic]:
    """The active departments of the directory (seeded from the policy file, kept by admins), by code."""
    return [
        DepartmentPublic(code=d.code, name_ar=d.name_ar, name_en=d.name_en, customer_service=d.customer_service)
        for d in await active_departments(services.database)
    ]

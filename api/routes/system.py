"""Health and the active departments of the directory."""

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import CallerDep, ServicesDep
from api.errors import UNAUTHORIZED_RESPONSE
from api.schemas import DepartmentPublic, Health
from store.departments import active_departments

router = APIRouter(tags=["system"])

HEALTH_TIMEOUT_SECONDS = 3


async def _postgres_answers(services) -> bool:
    try:
        await asyncio.wait_for(services.database.answers(), HEALTH_TIMEOUT_SECONDS)
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
    responses={401: UNAUTHORIZED_RESPONSE},
)
async def departments(_: CallerDep, services: ServicesDep) -> list[DepartmentPublic]:
    """The active departments of the directory (seeded from the policy file, kept by admins), by code."""
    return [
        DepartmentPublic(code=d.code, name_ar=d.name_ar, name_en=d.name_en, customer_service=d.customer_service)
        for d in await active_departments(services.database)
    ]

"""Intake: channels and the customer-service team submit cases."""

from fastapi import APIRouter, status

from api import errors
from api.deps import CallerDep, ServicesDep
from api.intake import start_case
from api.routes.cases import ERRORS
from api.schemas import CaseCreate, CaseCreated
from domain.kinds import Role, Status

router = APIRouter(prefix="/v1/cases", tags=["intake"])

INTAKE_ROLES = {Role.CHANNEL, Role.CS_AGENT}


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CaseCreated, responses=ERRORS)
async def submit_case(submission: CaseCreate, caller: CallerDep, services: ServicesDep) -> CaseCreated:
    """Receive a complaint, report or suggestion: it becomes a case with a reference and a running workflow."""
    if caller.role not in INTAKE_ROLES:
        raise errors.forbidden("only channel and customer-service keys submit cases")
    intake, tracking_code = await start_case(services, submission, caller)
    return CaseCreated(
        reference=intake.reference,
        tracking_code=tracking_code,
        status=Status.RECEIVED,
        answer_due=intake.answer_due,
        department_due=intake.department_due,
    )

"""How message delivery is going: counts by state and transport, and the messages that failed for good."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api import errors
from api.deps import CallerDep, ServicesDep
from api.errors import UNAUTHORIZED_RESPONSE, ErrorResponse
from domain.kinds import Role
from store.deliveries import delivery_figures

router = APIRouter(prefix="/v1/deliveries", tags=["deliveries"])

# The customer-service team chases failed messages; auditors and admins watch the figures.
READERS = frozenset({Role.CS_AGENT, Role.AUDITOR, Role.ADMIN})

ERRORS: dict[int | str, dict[str, Any]] = {
    401: UNAUTHORIZED_RESPONSE,
    403: {"model": ErrorResponse, "description": "The caller's role may not do this."},
    422: {"model": ErrorResponse, "description": "Invalid query; `fields` names each bad field."},
}


class FailedMessage(BaseModel):
    reference: str
    template: str = Field(description="Which message, e.g. `acknowledgement`.")
    recipient: str = Field(description="`submitter`, `department:<code>`, `director_general` or `customer_service`.")
    transport: str = Field(description="`email`, `sms` or `callback`.")
    reason: str | None = Field(description="What went wrong, without the address.")
    at: datetime


class DeliverySummary(BaseModel):
    """Messages by state (`pending`, `sent`, `failed`, `no_contact`), deliveries by transport and state."""

    messages: dict[str, int]
    deliveries: dict[str, dict[str, int]]
    failed: list[FailedMessage]

    model_config = {
        "json_schema_extra": {
            "examples": [{
                "messages": {"sent": 1200, "no_contact": 40, "failed": 2, "pending": 3},
                "deliveries": {"email": {"sent": 1100, "failed": 2}, "sms": {"sent": 900}},
                "failed": [{"reference": "C-2026-000123", "template": "acknowledgement", "recipient": "submitter",
                            "transport": "email", "reason": "email: the mail server refused the recipient (SMTP [550])",
                            "at": "2026-11-28T09:00:00Z"}],
            }]
        }
    }


@router.get("/summary", response_model=DeliverySummary, responses=ERRORS)
async def delivery_summary(
    caller: CallerDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500, description="How many of the latest failed deliveries to list.")] = 50,
) -> DeliverySummary:
    """Counts of every message and delivery by state, and the latest deliveries that failed for good."""
    if caller.role not in READERS:
        raise errors.forbidden("only customer service, auditors and admins read delivery figures")
    figures = await delivery_figures(services.database, limit)
    return DeliverySummary(
        messages=figures.messages,
        deliveries=figures.deliveries,
        failed=[
            FailedMessage(reference=delivery.reference, template=template, recipient=recipient,
                          transport=delivery.transport, reason=delivery.last_error, at=delivery.updated_at)
            for delivery, template, recipient in figures.failed
        ],
    )

"""Intake: a validated submission becomes a reference, a tracking code and a running CaseWorkflow."""

import secrets
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, ProgrammingError

from api.auth import Caller, hash_secret
from api.deps import Services
from api.schemas import CaseCreate
from domain.deadlines import compute_case_deadlines
from domain.kinds import REFERENCE_PREFIX, Kind
from store.db import Database
from workflows.case import CaseWorkflow, initial_search_attributes, workflow_id
from workflows.messages import CaseIntake, Submitter


async def allocate_reference(database: Database, kind: Kind, year: int) -> str:
    """Draw the next number of this kind and year from its own PostgreSQL sequence: C-2026-000123."""
    sequence = f"case_ref_{REFERENCE_PREFIX[kind].lower()}_{year}"
    for _ in range(3):
        try:
            async with database.transaction() as session:
                await session.exec(text(f"create sequence if not exists {sequence}"))
                number = (await session.exec(text(f"select nextval('{sequence}')"))).scalar_one()
            return f"{REFERENCE_PREFIX[kind]}-{year}-{number:06d}"
        except (IntegrityError, ProgrammingError):
            # Two first cases of a year may race to create the sequence; the loser simply tries again.
            continue
    raise RuntimeError(f"could not draw a reference from {sequence}")


def new_tracking_code() -> str:
    """128 random bits for the submitter; only its hash is kept anywhere."""
    return secrets.token_urlsafe(16)


async def start_case(services: Services, submission: CaseCreate, caller: Caller) -> tuple[CaseIntake, str]:
    """Start the case's workflow; returns its intake and the tracking code to hand to the submitter."""
    policy, calendar = services.policy, services.calendar
    received_at = datetime.now(UTC)
    year = received_at.astimezone(ZoneInfo(policy.timezone)).year
    reference = await allocate_reference(services.database, submission.kind, year)
    tracking_code = new_tracking_code()
    terms_by_kind = {kind.value: policy.terms_for(kind) for kind in Kind}
    priority = submission.priority.value if submission.priority else None
    deadlines = compute_case_deadlines(calendar, terms_by_kind[submission.kind], priority, received_at)
    submitter = submission.submitter
    intake = CaseIntake(
        reference=reference,
        kind=submission.kind.value,
        channel=submission.channel.value,
        channel_ref=submission.channel_ref,
        submitter=Submitter(
            category=submitter.category.value,
            name=submitter.name,
            civil_id=submitter.civil_id,
            email=str(submitter.email) if submitter.email else None,
            phone=submitter.phone,
        ),
        subject=submission.subject,
        description=submission.description,
        priority=priority,
        department=policy.route(submission.kind, submission.channel, f"{submission.subject}\n{submission.description}"),
        tracking_code_hash=hash_secret(tracking_code),
        received_at=received_at,
        policy_version=policy.version,
        department_due=deadlines.department_due,
        answer_due=deadlines.answer_due,
        department_reminder=deadlines.department_reminder,
        actor=caller.as_actor(),
        terms_by_kind=terms_by_kind,
        department_codes=[department.code for department in policy.departments],
    )
    await services.temporal.start_workflow(
        CaseWorkflow.run,
        intake,
        id=workflow_id(reference),
        task_queue=services.settings.task_queue,
        search_attributes=initial_search_attributes(intake),
        static_summary=f"{intake.kind} {reference} via {intake.channel}",
    )
    return intake, tracking_code

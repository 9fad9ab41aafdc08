"""Intake: a validated submission becomes a reference, a tracking code and a running CaseWorkflow.

A channel retries. The same `channel` + `channel_ref`, or the same `Idempotency-Key`, from the same
API key finds the case the first attempt made (another key's never: it would get that case's tracking
code): the keys are committed to PostgreSQL *before* the
workflow starts, with everything a retry needs to start that same workflow again (reference, time of
receipt, and the random tracking code, sealed: `api.tracking_codes`), so a crash between the two
steps loses nothing and a concurrent retry never makes a second case.
"""

import hashlib
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api import errors
from api.auth import Caller, hash_secret
from api.deps import Services
from api.errors import ApiError, FieldProblem
from api.ratelimit import FailureLimiter, RateLimited
from api.schemas import CaseCreate
from api.service.evidence import CheckedUpload, intake_file_ids, keep_files
from api.tracking_codes import (
    CodeSeal,
    SealedCodeUnreadable,
    derived_tracking_code,
    new_tracking_code,
)
from core import logs
from domain import identity as domain_identity
from domain.kinds import REFERENCE_PREFIX, Kind, Role
from store import intake_claims
from store.db import Database
from store.departments import active_department_codes
from store.models import IntakeRequest
from workflows.case import CaseWorkflow, initial_search_attributes, workflow_id
from workflows.messages import CaseIntake, Submitter

log = logging.getLogger("complaints.intake")


@dataclass(frozen=True)
class Accepted:
    """The case a submission made (or had already made, for a retry)."""

    intake: CaseIntake
    tracking_code: str
    created: bool


def reference_sequence(kind: Kind, year: int) -> str:
    """Each kind and year numbers its cases from its own PostgreSQL sequence."""
    return f"case_ref_{REFERENCE_PREFIX[kind].lower()}_{year}"


def case_reference(kind: Kind, year: int, number: int) -> str:
    return f"{REFERENCE_PREFIX[kind]}-{year}-{number:06d}"


async def allocate_reference(database: Database, kind: Kind, year: int) -> str:
    """Draw the next number of this kind and year from its own PostgreSQL sequence: C-2026-000123."""
    number = await intake_claims.next_reference_number(database, reference_sequence(kind, year))
    return case_reference(kind, year, number)


def check_identity(submission: CaseCreate, anonymous_reports: bool) -> None:
    """The policy's identity rule (domain.identity), answered as the 422 of the field it is about."""
    try:
        domain_identity.check_identity(
            submission.kind, submission.channel, submission.submitter.civil_id, anonymous_reports
        )
    except domain_identity.IdentityMissing as missing:
        raise _identity_error(str(missing)) from None


def _identity_error(reason: str) -> ApiError:
    return ApiError(422, "validation_error", f"invalid request: submitter.civil_id: {reason}",
                    [FieldProblem(field="submitter.civil_id", reason=reason)])


INTAKE_ROLES = frozenset({Role.CHANNEL, Role.CALL_CENTRE, Role.CS_AGENT})


def check_may_submit(caller: Caller, submission: CaseCreate) -> None:
    """Who may submit a case, and through which channel: 403 with the reason otherwise."""
    if caller.role not in INTAKE_ROLES:
        raise errors.forbidden("only channels, the call centre and customer service submit cases")
    if caller.role in {Role.CHANNEL, Role.CALL_CENTRE} and submission.channel not in caller.channels:
        # Each channel vouches for what it checks (Tajawob for identity): a key speaks only for its own.
        raise errors.forbidden(f"this key may not submit through the channel {submission.channel.value!r}; it may "
                               f"use {', '.join(sorted(caller.channels))}")


async def receive_submission(services: Services, limiter: FailureLimiter, submission: CaseCreate, caller: Caller,
                             idempotency_key: str | None, evidence: Sequence[CheckedUpload] = ()) -> Accepted:
    """Everything `POST /v1/cases` and the web's forms do with a submission, in one order: who may submit it, its
    retry key, the pace of submissions, then the case (or the one a retry already made), with its `evidence`."""
    check_may_submit(caller, submission)
    check_idempotency_key(idempotency_key)
    if caller.role == Role.CHANNEL and not submission.channel_ref and idempotency_key is None:
        raise _retry_key_required()
    keep_pace(limiter, caller.principal)
    # Every submission is claimed under a key before its workflow starts, so any retry finds its case.
    key = idempotency_key if idempotency_key is not None or submission.channel_ref else uuid.uuid4().hex
    try:
        return await accept_submission(services, submission, caller, key, evidence)
    except (RPCError, RPCTimeoutOrCancelledError):
        raise _case_may_have_been_made(submission, key) from None


def check_idempotency_key(idempotency_key: str | None) -> None:
    if idempotency_key is not None and "\x00" in idempotency_key:
        reason = "contains a NUL character, which is not allowed"
        raise ApiError(422, "validation_error", f"invalid request: Idempotency-Key: {reason}",
                       [FieldProblem(field="Idempotency-Key", reason=reason)])


def _retry_key_required() -> ApiError:
    reason = "a channel sends channel_ref or an Idempotency-Key header, so that a retry never makes a second case"
    return ApiError(422, "validation_error", f"invalid request: channel_ref: {reason}", [
        FieldProblem(field="channel_ref", reason=reason),
        FieldProblem(field="Idempotency-Key", reason=reason),
    ])


def _case_may_have_been_made(submission: CaseCreate, key: str | None) -> ApiError:
    """The workflow's start had no answer: it may have begun (and its messages gone out), so say how to learn."""
    retry_with = f"the header Idempotency-Key: {key}" if key else f"the same channel_ref ({submission.channel_ref})"
    return ApiError(
        503, "outcome_unknown",
        "the case engine did not answer in time; the case may have been made. Send the same request again "
        f"with {retry_with}: the retry answers with that case and never makes a second one",
        headers={"Retry-After": str(errors.RETRY_AFTER_SECONDS), **({"Idempotency-Key": key} if key else {})},
    )


def keep_pace(limiter: FailureLimiter, principal: str) -> None:
    """A channel integration gone wrong must not flood the case engine: so many submissions a minute per key
    (per person for the console)."""
    try:
        limiter.attempt(f"key:{principal}")
    except RateLimited as limited:
        raise ApiError(
            429, "too_many_submissions", f"this key submitted too many cases; retry in {limited.retry_after} s",
            headers={"Retry-After": str(limited.retry_after)},
        ) from None


def idempotency_keys(submission: CaseCreate, caller: Caller, header: str | None) -> list[str]:
    """The names a submission is claimed under, each the caller's own (0009_key_channels.py renamed older claims)."""
    keys = []
    if submission.channel_ref:
        keys.append(f"ref:{caller.principal}:{submission.channel.value}:{submission.channel_ref}")
    if header:
        keys.append(f"key:{caller.principal}:{header}")
    return keys


def request_hash(submission: CaseCreate) -> str:
    canonical = json.dumps(submission.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def accept_submission(
    services: Services, submission: CaseCreate, caller: Caller, idempotency_header: str | None = None,
    evidence: Sequence[CheckedUpload] = (),
) -> Accepted:
    """Make the case (or find the one a retry refers to) and make sure its workflow runs.

    `evidence` (files checked by api.service.evidence.check_uploads) is stored before the workflow
    starts, under ids a retry derives again, and the case is told their ids and sizes.
    """
    check_identity(submission, services.policy.anonymous_reports)
    keys = idempotency_keys(submission, caller, idempotency_header)
    fingerprint = request_hash(submission)
    if evidence:  # the same key with other files is another submission
        fingerprint = hashlib.sha256(" ".join([fingerprint, *(file.sha256 for file in evidence)]).encode()).hexdigest()
    claimed = await _claim_case(services, submission, keys, fingerprint)
    logs.case_reference.set(claimed.reference)  # this request's log lines name the case from here on
    intake = build_intake(services, submission, caller, claimed.reference, claimed.received_at,
                          hash_secret(claimed.tracking_code), claimed.department_codes)
    if evidence:
        intake.evidence = await keep_files(services, claimed.reference, list(evidence), uploaded_by="submitter",
                                           ids=intake_file_ids(claimed.reference, list(evidence)))
    await _start_workflow(services, intake)
    if claimed.created:
        log.info("case received: a %s through %s", intake.kind, intake.channel)
    return Accepted(intake, claimed.tracking_code, claimed.created)


def _year(services: Services, instant: datetime) -> int:
    return instant.astimezone(ZoneInfo(services.policy.timezone)).year


@dataclass(frozen=True)
class _Claimed:
    """A submission's case: new, or the one an earlier attempt committed; and the departments active now."""

    reference: str
    received_at: datetime
    tracking_code: str
    created: bool
    department_codes: list[str]


async def _claim_case(services: Services, submission: CaseCreate, keys: list[str], fingerprint: str) -> _Claimed:
    """Find the claim of an earlier attempt or make a new one under every key, in one transaction that commits
    before the workflow starts (a submission without keys only draws its reference)."""
    seal = CodeSeal(services.settings.resolved_secret_key())
    received_at = datetime.now(UTC)
    try:
        try:
            return await _claim_in_one_transaction(services, submission, keys, fingerprint, seal, received_at)
        except intake_claims.SequenceMissing:
            # The database lost a sequence this process had made (restored from an older backup): made again, once.
            return await _claim_in_one_transaction(services, submission, keys, fingerprint, seal, received_at)
    except intake_claims.ClaimedConcurrently:
        # A concurrent attempt committed a key first (our insert waited for it, then rolled back): its case is ours.
        winner = await _find_claim(services.database, keys, fingerprint)
        return _Claimed(winner.reference, winner.received_at, _kept_code(services, seal, winner), False,
                        await active_department_codes(services.database))


async def _claim_in_one_transaction(services: Services, submission: CaseCreate, keys: list[str], fingerprint: str,
                                    seal: CodeSeal, received_at: datetime) -> _Claimed:
    year = _year(services, received_at)
    sequence = reference_sequence(submission.kind, year)
    await intake_claims.ensure_reference_sequence(services.database, sequence)
    async with intake_claims.intake_transaction(services.database) as unit:
        existing = _matching_claim(await unit.claims_of(keys), fingerprint) if keys else None
        department_codes = await unit.active_department_codes()
        if existing:
            return _Claimed(existing.reference, existing.received_at, _kept_code(services, seal, existing), False,
                            department_codes)
        reference = case_reference(submission.kind, year, await unit.next_reference_number(sequence))
        tracking_code = new_tracking_code()
        if keys:
            await unit.claim(keys, request_hash=fingerprint, reference=reference, received_at=received_at,
                             tracking_code_sealed=seal.seal(tracking_code, reference))
        return _Claimed(reference, received_at, tracking_code, True, department_codes)


def _kept_code(services: Services, seal: CodeSeal, claim: IntakeRequest) -> str:
    """The code the first attempt gave: sealed with the claim, or derived for a claim from before codes were random."""
    if claim.tracking_code_sealed is None:
        return derived_tracking_code(services.settings.resolved_secret_key(), claim.reference)
    try:
        return seal.open(claim.tracking_code_sealed, claim.reference)
    except SealedCodeUnreadable:
        # The case exists and must not be made twice; only its code cannot be given again.
        log.error("the sealed tracking code of %s does not open: was COMPLAINTS_SECRET_KEY changed?", claim.reference)
        raise ApiError(
            409, "tracking_code_unavailable",
            f"this submission already made case {claim.reference}; its tracking code cannot be given again",
            [],
        ) from None


async def _find_claim(database: Database, keys: list[str], fingerprint: str) -> IntakeRequest | None:
    return _matching_claim(await intake_claims.claims_of(database, keys), fingerprint)


def _matching_claim(claims: list[IntakeRequest], fingerprint: str) -> IntakeRequest | None:
    """The case the claims of a submission's keys name; 422 if they were claimed for another submission."""
    if not claims:
        return None
    if any(claim.request_hash != fingerprint for claim in claims) or len({c.reference for c in claims}) > 1:
        raise ApiError(
            422, "idempotency_conflict",
            "this channel_ref or Idempotency-Key was already used for a different submission",
            [FieldProblem(field="channel_ref", reason="already used for a different submission")],
        )
    return claims[0]


def build_intake(
    services: Services,
    submission: CaseCreate,
    caller: Caller,
    reference: str,
    received_at: datetime,
    tracking_code_hash: str,
    department_codes: list[str],
) -> CaseIntake:
    """The workflow's input: a pure function of the submission, its reference, time of receipt and tracking code,
    and the departments active at intake (the ones triage may route to)."""
    policy = services.policy
    terms_by_kind = {kind.value: policy.terms_for(kind) for kind in Kind}
    priority = submission.priority.value if submission.priority else None
    deadlines = services.timekeeping.first_deadlines(submission.kind, priority, received_at)
    submitter = submission.submitter
    return CaseIntake(
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
        department=_active_or_none(
            policy.route(submission.kind, submission.channel, f"{submission.subject}\n{submission.description}"),
            department_codes,
        ),
        tracking_code_hash=tracking_code_hash,
        received_at=received_at,
        policy_version=policy.version,
        department_due=deadlines.department_due,
        answer_due=deadlines.answer_due,
        department_reminder=deadlines.department_reminder,
        actor=caller.as_actor(),
        terms_by_kind=terms_by_kind,
        department_codes=department_codes,
        language=submission.language,
    )


def _active_or_none(department: str | None, department_codes: list[str]) -> str | None:
    # A routing rule that names a department an admin has deactivated leaves the case to the customer-service team.
    return department if department in department_codes else None


async def _start_workflow(services: Services, intake: CaseIntake) -> None:
    try:
        await services.temporal.start_workflow(
            CaseWorkflow.run,
            intake,
            id=workflow_id(intake.reference),
            task_queue=services.settings.task_queue,
            search_attributes=initial_search_attributes(intake),
            static_summary=f"{intake.kind} {intake.reference} via {intake.channel}",
            # A reference is one case for ever: never a second run, not even after the first closed.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        pass  # a retry of a submission whose workflow already runs (or ran): nothing more to do

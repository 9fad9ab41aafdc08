"""The public pages' part of the application layer: a submission from the website's form, the form's proof of
work, and the short session of the tracking page.

The form's submission goes through `api.service.intake.accept_submission` as the public website's caller
(`api.auth.public_website_caller`), with the same validation as `POST /v1/cases` (`api.schemas.CaseCreate`
and the policy's identity rule), and the form's hidden random key as the idempotency key: a double click
or a resent form finds the case the first one made. Following a case goes through `api.service.tracking`
as `/v1/track` does; the session only saves typing the code again on every page, for one case.
"""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import altcha
from pydantic import ValidationError
from temporalio.client import RPCTimeoutOrCancelledError
from temporalio.service import RPCError

from api.auth import hash_secret, public_website_caller
from api.deps import Services
from api.errors import ApiError, FieldProblem
from api.schemas import CaseCreate
from api.service.evidence import CheckedUpload
from api.service.intake import Accepted, accept_submission
from domain import identity as domain_identity
from domain.kinds import Channel, Kind
from store.models import PublicSession
from store.public_sessions import add_public_session, end_public_session, live_public_session

# The fields of the form, as CaseCreate names them (the submitter's are flat in the form).
SUBMITTER_FIELDS = ("category", "name", "civil_id", "email", "phone")
TEXT_FIELDS = ("kind", "subject", "description")
CONTACT_REASON = "a complaint needs an email address or a phone number, so that the ministry can answer you"


class SubmissionInvalid(ApiError):
    """The form as sent does not make a case: `fields` names each field and the reason (422, as the API)."""


def submission_from_form(form: Mapping[str, str], language: str, *, anonymous_reports: bool) -> CaseCreate:
    """The form's fields as the API's body: blank fields are left out, the channel is the website."""
    body = {name: form.get(name, "").strip() for name in TEXT_FIELDS}
    submitter = {name: form.get(name, "").strip() for name in SUBMITTER_FIELDS}
    body["submitter"] = {name: value for name, value in submitter.items() if value or name == "category"}
    body |= {"channel": Channel.WEBSITE.value, "language": language}
    problems: list[FieldProblem] = []
    try:
        submission = CaseCreate.model_validate(body)
    except ValidationError as invalid:
        problems = [FieldProblem(field=".".join(str(part) for part in problem["loc"]), reason=problem["msg"])
                    for problem in invalid.errors()]
        submission = None
    problems += _identity_problems(body, problems, anonymous_reports)
    if problems:
        message = "invalid request: " + "; ".join(f"{p.field}: {p.reason}" for p in problems)
        raise SubmissionInvalid(422, "validation_error", message, problems)
    return submission


def _identity_problems(body: dict, problems: list[FieldProblem], anonymous_reports: bool) -> list[FieldProblem]:
    """The policy's duty to prove identity (domain.identity), and a contact to answer a complaint at."""
    if any(problem.field in ("kind", "submitter.civil_id") for problem in problems):
        return []
    kind, submitter = Kind(body["kind"]), body["submitter"]
    found = []
    try:
        domain_identity.check_identity(kind, Channel.WEBSITE, submitter.get("civil_id"), anonymous_reports)
    except domain_identity.IdentityMissing as missing:
        found.append(FieldProblem(field="submitter.civil_id", reason=str(missing)))
    if kind == Kind.COMPLAINT and not (submitter.get("email") or submitter.get("phone")):
        found.append(FieldProblem(field="submitter.email", reason=CONTACT_REASON))
    return found


async def submit_on_website(services: Services, submission: CaseCreate, submission_key: str,
                            evidence: Sequence[CheckedUpload] = ()) -> Accepted:
    """Make the case with its evidence files, or find the one this same form already made."""
    try:
        return await accept_submission(services, submission, public_website_caller(), f"form:{submission_key}",
                                       evidence)
    except (RPCError, RPCTimeoutOrCancelledError):
        # The claim is committed before the workflow starts: sending the same form again makes no second case.
        raise ApiError(503, "outcome_unknown", "the case engine did not answer in time; send the form again") from None


def new_submission_key() -> str:
    return secrets.token_hex(16)


def is_submission_key(value: str) -> bool:
    return len(value) == 32 and all(character in "0123456789abcdef" for character in value)


# ---------------------------------------------------------------- proof of work (ALTCHA)


class ProofOfWork:
    """Challenges for the form's ALTCHA widget, signed with a key of the server's secret, and their check.

    A solved challenge is spent: the same solution does not pass twice (in this process; a challenge lives
    `lifetime_seconds`, so a spent one is forgotten once it has expired anyway).
    """

    ALGORITHM = "PBKDF2/SHA-256"

    def __init__(self, secret: bytes, cost: int, lifetime_seconds: int = 600) -> None:
        self._key = hmac.new(secret, b"public-form-proof-of-work", hashlib.sha256).digest()
        self.cost = cost
        self.lifetime_seconds = lifetime_seconds
        self._spent: dict[str, float] = {}
        self._lock = threading.Lock()

    def challenge(self) -> dict:
        expires_at = int(time.time()) + self.lifetime_seconds
        return altcha.create_challenge(self.ALGORITHM, self.cost, expires_at=expires_at,
                                       hmac_secret=self._key).to_dict()

    def passes(self, payload: str) -> bool:
        """Whether the widget's payload solves a challenge of ours that has not expired nor been spent."""
        if not payload or len(payload) > 4000:
            return False
        result = altcha.verify_solution(payload, self._key)
        if not result.verified:
            return False
        spent_key = hashlib.sha256(payload.encode()).hexdigest()
        now = time.time()
        with self._lock:
            self._spent = {key: until for key, until in self._spent.items() if until > now}
            if spent_key in self._spent:
                return False
            self._spent[spent_key] = now + self.lifetime_seconds
        return True


# ---------------------------------------------------------------- the receipt


class ReceiptSeal:
    """The answer page's facts, signed, in its "download receipt" form: the receipt is made again from them, with
    no case read and nothing kept on the server, and nobody can have the site sign a receipt it never gave.

    The tracking code travels in the POST's body (never a URL), as it came in the answer page itself.
    """

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"public-receipt", hashlib.sha256).digest()

    def seal(self, facts: dict[str, str]) -> str:
        data = base64.urlsafe_b64encode(json.dumps(facts, sort_keys=True).encode()).decode()
        return f"{data}.{self._signature(data)}"

    def open(self, sealed: str) -> dict[str, str] | None:
        data, _, signature = sealed.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(data).encode()):
            return None
        return json.loads(base64.urlsafe_b64decode(data.encode()))

    def _signature(self, data: str) -> str:
        return hmac.new(self._key, data.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- the tracking page's session


async def open_tracking_session(services: Services, reference: str) -> tuple[str, PublicSession]:
    """A session for this one case (its code was right): the cookie's token, and the row that keeps its hash."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    record = PublicSession(token_hash=hash_secret(token), reference=reference, csrf_token=secrets.token_urlsafe(32),
                           created_at=now,
                           expires_at=now + timedelta(minutes=services.settings.public_session_minutes))
    await add_public_session(services.database, record)
    return token, record


async def tracking_session_for(services: Services, token: str | None) -> PublicSession | None:
    if not token:
        return None
    return await live_public_session(services.database, hash_secret(token), now=datetime.now(UTC))


async def leave_tracking_session(services: Services, token: str | None) -> None:
    if token:
        await end_public_session(services.database, hash_secret(token))


def answer_days(services: Services, kind: Kind) -> int:
    """The working days the policy gives the ministry to answer a new case of this kind (a report's: normal)."""
    return services.policy.response_times(kind).answer_days

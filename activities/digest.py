"""The Director General's daily digest: one email a working day listing every breached case, sent once.

The day's row is claimed before the send and marked sent as soon as the mail server keeps the
message (store/digests.py), like every other message (activities/delivery.py); its Message-ID is
the day's, so a resend after a crash in between is the same message to the mail system.
"""

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery import DELIVERY_FAILED
from activities.messages import MessageRenderer
from activities.transports import DeliveryFailed, EmailTransport, Envelope
from core.settings import Settings
from domain.calendar import WorkingCalendar
from domain.steps import DigestState
from store.db import Database
from store.digests import (
    BreachedCase,
    DigestBusy,
    breached_open_cases,
    claim_digest,
    release_digest,
    settle_digest,
)
from workflows.digest_messages import DigestOutcome, DigestRequest, NextClose, NextCloseResult

TEMPLATE = "director_general_digest"
# Longer than a send can last (transports' timeouts) plus recording it.
CLAIM_LEASE = timedelta(seconds=90)


class DigestActivities:
    def __init__(self, database: Database, settings: Settings, calendar: WorkingCalendar,
                 renderer: MessageRenderer | None = None) -> None:
        self._database = database
        self._settings = settings
        self._calendar = calendar
        self._renderer = renderer or MessageRenderer(settings.templates_dir)
        self._email = EmailTransport(settings)

    @activity.defn(name="next_working_day_close")
    async def next_working_day_close(self, request: NextClose) -> NextCloseResult:
        return NextCloseResult(at=self._calendar.next_close_after(request.after))

    @activity.defn(name="send_director_general_digest")
    async def send_director_general_digest(self, request: DigestRequest) -> DigestOutcome:
        """Send the day's digest unless it was settled already; safe to retry."""
        day = request.day_closes_at
        try:
            claim = await claim_digest(self._database, day, CLAIM_LEASE)
        except DigestBusy as busy:
            raise ApplicationError(str(busy), type="DigestBusy") from None
        if isinstance(claim, str):
            return DigestOutcome(status=DigestState.ALREADY_SENT if claim == DigestState.SENT else claim)
        cases = await breached_open_cases(self._database)
        address = self._settings.director_general_email
        if not cases or not address or not self._settings.smtp_host:
            status = DigestState.NOTHING_BREACHED if not cases else DigestState.NO_ADDRESS
            await settle_digest(self._database, day, claim, status, len(cases))
            return DigestOutcome(status=status, cases=len(cases))
        envelope = Envelope(
            address=address,
            message=self._renderer.render(TEMPLATE, self._settings.staff_language, self._context(request, cases)),
            idempotency_key=f"digest.{day:%Y%m%dT%H%M%S}",
            reference="",
            template=TEMPLATE,
            facts={},
        )

        async def sent() -> None:
            await settle_digest(self._database, day, claim, DigestState.SENT, len(cases))

        try:
            await self._email.send(envelope, sent)
        except DeliveryFailed as failure:
            await release_digest(self._database, day, claim, failure.reason)
            raise ApplicationError(failure.reason, type=DELIVERY_FAILED) from None
        return DigestOutcome(status=DigestState.SENT, cases=len(cases))

    def _context(self, request: DigestRequest, cases: list[BreachedCase]) -> dict:
        arabic = self._settings.staff_language == "ar"
        return {
            "day_closes_at": request.day_closes_at.isoformat(),
            "cases": [
                {
                    "reference": case.reference,
                    "kind": case.kind,
                    "department": (case.department_name_ar if arabic else case.department_name_en)
                    or case.department or "",
                    "answer_due": case.answer_due.isoformat(),
                    "days_overdue": self._calendar.working_days_between(
                        case.answer_due, max(case.answer_due, request.day_closes_at)),
                }
                for case in cases
            ],
        }

"""The monthly report: last month's figures, rendered as an Arabic HTML email and a PDF with the charts, stored and
sent once to the Director General and the policy's addresses; and the reminder of the policy's own review.

The PDF is the email's HTML laid out by WeasyPrint (Pango shapes the Arabic and lays it right to left) in Amiri,
whose glyphs map back to their letters, so the PDF's text reads and searches as written. Fonts come from PyPI
packages; nothing is loaded from a network (WeasyPrint is given no URL fetcher but the local files).
"""

import base64
import html
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import fontpkg_amiri
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.delivery import DELIVERY_FAILED
from activities.messages import RenderedMessage
from activities.transports import DeliveryFailed, EmailTransport, Envelope
from api.service import report_charts
from api.service.reports import (
    FIGURE_LABELS,
    GroupBy,
    ReportPeriod,
    ReportSources,
    ReportSummary,
    figures_for,
    last_month,
)
from core.settings import Settings
from domain.calendar import WorkingCalendar
from domain.policy import Policy
from store.cases import CaseScope
from store.db import Database
from store.reports import (
    ReportBusy,
    Span,
    claim_report,
    release_report,
    settle_report,
    store_report,
    stored_report,
)
from workflows.monthly_report_messages import (
    MonthlyReportPlan,
    MonthlyReportPlanRequest,
    MonthlyReportRequest,
    PolicyReviewRequest,
    ReportOutcome,
)

# Longer than a send can last plus recording it.
CLAIM_LEASE_SECONDS = 90
ARABIC_MONTHS = ("يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر",
                 "نوفمبر", "ديسمبر")
# The figures the report's table shows, in order (the API has every one).
REPORT_FIGURES = (
    "received", "closed", "open_at_end", "rejected", "rejected_not_competent", "not_competent_share",
    "department_on_time_share", "answer_on_time_share", "escalated", "breached", "reopened_after_contest",
    "closed_no_response", "reply_working_days_median", "reply_working_days_p90", "answer_working_days_median",
    "answer_working_days_p90", "ratings", "rating_average", "closed_rated_share",
)
CHART_ORDER = ("cases_per_week", "on_time_by_department", "answer_days", "rejections", "ratings")


def report_key(month: str) -> str:
    return f"monthly-{month}"


def month_period(month: str) -> ReportPeriod:
    year, number = month.split("-")
    return ReportPeriod.month(int(year), int(number))


def first_working_day_of_month(calendar: WorkingCalendar, day: date) -> date:
    """The first day of `day`'s month the ministry works."""
    first = day.replace(day=1)
    while not calendar.is_working_day(first):
        first += timedelta(days=1)
    return first


@dataclass(frozen=True)
class MadeReport:
    subject: str
    html: str
    text: str
    pdf: bytes
    figures: dict


def _value(name: str, value) -> str:
    if value is None:
        return "—"
    if name.endswith("_share"):
        return f"{value * 100:.1f}%"
    return f"{value:g}" if isinstance(value, float) else str(value)


def render_report(report: ReportSummary, by_department: ReportSummary, policy: Policy) -> MadeReport:
    """The report's HTML (right to left, Arabic first with the English beside), its plain text and its PDF."""
    period = report.period
    month_ar = f"{ARABIC_MONTHS[period.first.month - 1]} {period.first.year}"
    subject = f"التقرير الشهري للشكاوى والبلاغات والاقتراحات: {month_ar} (Monthly report {period.first:%Y-%m})"
    names = {department.code: (department.name_ar, department.name_en) for department in policy.departments}
    charts = report_charts.every_chart(report, by_department, names, "ar", "png")
    figures = report.groups[0].figures
    rows = "".join(
        f"<tr><th>{html.escape(FIGURE_LABELS[name][0])}<br><small dir=\"ltr\">{html.escape(FIGURE_LABELS[name][1])}"
        f"</small></th><td>{_value(name, getattr(figures, name).value)}</td>"
        f"<td>{_value(name, getattr(figures, name).previous)}"
        "</td></tr>"
        for name in REPORT_FIGURES
    )
    images = "".join(
        f'<figure><img alt="{html.escape(report_charts.TITLES[name][0])}" '
        f'src="data:image/png;base64,{base64.b64encode(charts[name]).decode()}"></figure>'
        for name in CHART_ORDER
    )
    words = "، ".join(f'<bdi>{html.escape(word.word)}</bdi> ({word.cases})' for word in report.subject_words) or "—"
    # A version ("2026.1") is Latin text: isolated, so that the Arabic sentence around it keeps its order.
    versions = "، ".join(f'<bdi dir="ltr">{html.escape(v)}</bdi>: {n}'
                         for v, n in report.open_cases_by_policy_version.items()) or "—"
    page = f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{html.escape(subject)}</title>
<style>
@font-face {{ font-family: "Amiri"; src: url("{_font_uri()}"); }}
body {{ font-family: "Amiri", serif; font-size: 12pt; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #999; padding: 3px 6px; text-align: right; }}
td {{ text-align: center; }}
figure {{ margin: 8px 0; page-break-inside: avoid; }}
img {{ width: 100%; }}
@page {{ size: A4; margin: 16mm; }}
</style></head><body>
<h1>التقرير الشهري لمعالجة الشكاوى والبلاغات والاقتراحات</h1>
<p>الفترة: {month_ar}، من {period.first} إلى {period.last}، مقارنة بالشهر السابق.</p>
<p dir="ltr" lang="en">Monthly report of complaints, reports and suggestions, {period.first:%B %Y}.</p>
<table><thead><tr><th>المؤشر</th><th>هذا الشهر</th><th>الشهر السابق</th></tr></thead><tbody>{rows}</tbody></table>
<p>أكثر كلمات المواضيع تكراراً: {words}</p>
<p>نسخ السياسة التي تعمل بها الحالات المفتوحة: {versions}</p>
{images}
<p><small>لا يتضمن هذا التقرير هوية أي مقدم طلب ولا نص أي حالة، بل أعداداً ومراجع فقط.</small></p>
</body></html>"""
    text = "\n".join([subject, "", *(f"{FIGURE_LABELS[name][0]}: {_value(name, getattr(figures, name).value)} "
                                     f"(الشهر السابق: {_value(name, getattr(figures, name).previous)})"
                                     for name in REPORT_FIGURES)]) + "\n"
    return MadeReport(subject, page, text, pdf_of(page), report.model_dump(mode="json"))


def _font_uri() -> str:
    return (fontpkg_amiri.ROOT / "files" / "Amiri-Regular.ttf").as_uri()


def pdf_of(page: str) -> bytes:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    # Its own font file and data: images only; never the network.
    fetcher = URLFetcher(allowed_protocols={"file", "data"}, fail_on_errors=True)
    return HTML(string=page, url_fetcher=fetcher).write_pdf()


class MonthlyReportActivities:
    def __init__(self, database: Database, settings: Settings, policy: Policy, calendar: WorkingCalendar) -> None:
        self._database = database
        self._settings = settings
        self._policy = policy
        self._calendar = calendar

    def _sources(self) -> ReportSources:
        return ReportSources(self._database, self._policy, self._calendar)

    @activity.defn(name="plan_monthly_report")
    async def plan_monthly_report(self, request: MonthlyReportPlanRequest) -> MonthlyReportPlan:
        today = request.at.astimezone(_zone(self._policy)).date()
        review = self._policy.review
        review_due = review.next_review.isoformat() if review and review.next_review <= today else None
        if request.month:
            return MonthlyReportPlan(month=request.month, policy_review_due=review_due)
        if today != first_working_day_of_month(self._calendar, today):
            return MonthlyReportPlan(month=None, policy_review_due=review_due)
        before = last_month(today)
        return MonthlyReportPlan(month=f"{before.first:%Y-%m}", policy_review_due=review_due)

    async def make(self, month: str) -> MadeReport:
        period = month_period(month)
        every_case = CaseScope(every_case=True)
        report = await figures_for(self._sources(), every_case, period)
        by_department = await figures_for(self._sources(), every_case, period, GroupBy.DEPARTMENT)
        return render_report(report, by_department, self._policy)

    @activity.defn(name="make_monthly_report")
    async def make_monthly_report(self, request: MonthlyReportRequest) -> ReportOutcome:
        """Compute, render and store the month's report, unless it is stored already (the first one stays)."""
        key = report_key(request.month)
        if await stored_report(self._database, key) is None:
            made = await self.make(request.month)
            span = month_period(request.month).span(self._policy.timezone)
            await store_report(self._database, key, span, {"subject": made.subject, "text": made.text,
                                                           **made.figures}, made.html, made.pdf)
        return ReportOutcome(status="made", key=key)

    @activity.defn(name="send_monthly_report")
    async def send_monthly_report(self, request: MonthlyReportRequest) -> ReportOutcome:
        key = report_key(request.month)
        stored = await stored_report(self._database, key)
        if stored is None:
            raise ApplicationError(f"the report {key} is not made yet", type="ReportNotMade")
        recipients = [address for address in (self._settings.director_general_email,
                                              *(self._policy.review.monthly_report_to if self._policy.review else ()))
                      if address]
        message = ReportMessage(stored["figures"]["subject"], stored["figures"]["text"], stored["html"],
                                stored["pdf"], f"monthly-report-{request.month}.pdf")
        return await self._send_once(key, recipients, message)

    @activity.defn(name="remind_policy_review")
    async def remind_policy_review(self, request: PolicyReviewRequest) -> ReportOutcome:
        """Remind the policy's owner that its review date has come: once per date."""
        review = self._policy.review
        key = f"policy-review-{request.next_review}"
        if review is None:
            return ReportOutcome(status="no_address", key=key)
        due = date.fromisoformat(request.next_review)
        subject = f"حان موعد مراجعة سياسة الشكاوى والبلاغات والاقتراحات (Policy review due {due})"
        text = (f"{subject}\n\nنسخة السياسة: {self._policy.version}\nالمسؤول: {review.owner}\n"
                f"موعد المراجعة: {due}\n\nThe policy (version {self._policy.version}) names {due} as its review "
                "date. Review policy.toml and the policy text, and set the next review date.\n")
        page = (f'<!DOCTYPE html><html lang="ar" dir="rtl"><body><p>{html.escape(text).replace(chr(10), "<br>")}'
                "</p></body></html>")
        start = datetime.combine(due, datetime.min.time(), tzinfo=UTC)
        await store_report(self._database, key, Span(start, start), {"subject": subject, "text": text}, page, None)
        return await self._send_once(key, [review.owner_email] if review.owner_email else [],
                                     ReportMessage(subject, text, page, None, None))

    async def _send_once(self, key: str, recipients: list[str], message: "ReportMessage") -> ReportOutcome:
        try:
            claim = await claim_report(self._database, key, CLAIM_LEASE_SECONDS)
        except ReportBusy as busy:
            raise ApplicationError(str(busy), type="ReportBusy") from None
        if isinstance(claim, str):
            return ReportOutcome(status="already_sent" if claim == "sent" else claim, key=key)
        if not recipients or not self._settings.smtp_host:
            await settle_report(self._database, key, claim, "no_address")
            return ReportOutcome(status="no_address", key=key)

        async def sent() -> None:
            await settle_report(self._database, key, claim, "sent")

        envelope = Envelope(address=", ".join(recipients), message=RenderedMessage(message.subject, message.text, "",
                                                                                    "ar"),
                            idempotency_key=key, reference="", template=key, facts={})
        try:
            await ReportMail(self._settings, message).send(envelope, sent)
        except DeliveryFailed as failure:
            await release_report(self._database, key, claim, failure.reason)
            raise ApplicationError(failure.reason, type=DELIVERY_FAILED) from None
        return ReportOutcome(status="sent", key=key)


def _zone(policy: Policy) -> ZoneInfo:
    return ZoneInfo(policy.timezone)


@dataclass(frozen=True)
class ReportMessage:
    subject: str
    text: str
    html: str
    pdf: bytes | None
    pdf_name: str | None


class ReportMail(EmailTransport):
    """The project's SMTP transport (its errors, its record of the send), with the report's HTML and PDF."""

    def __init__(self, settings: Settings, message: ReportMessage) -> None:
        super().__init__(settings)
        self._report = message

    def _email(self, envelope: Envelope) -> EmailMessage:
        message = self._report
        email = self._addressed(envelope, message.subject)  # the report's key as its Message-ID
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        if message.pdf:
            email.add_attachment(message.pdf, maintype="application", subtype="pdf", filename=message.pdf_name)
        email["Content-Language"] = "ar"
        return email

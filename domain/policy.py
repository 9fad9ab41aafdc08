"""The policy as data: response times, departments, routing and calendar settings from policy.toml.

Pure standard library, so workflow code may import it inside Temporal's sandbox; the only I/O is
`load_policy` reading the file.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from domain.kinds import Channel, Kind, Priority

# Upper-case letters, digits and underscores, starting with a letter; at most 40 characters, the
# directory's column (a message's recipient, `department:<code>`, has room for them).
DEPARTMENT_CODE_PATTERN = r"^[A-Z][A-Z0-9_]{0,39}$"


class PolicyError(ValueError):
    """The policy file is invalid; message names the key and the reason."""


@dataclass(frozen=True)
class ResponseTimes:
    """Working days the department has to answer customer service, and to answer the submitter."""

    department_days: int
    answer_days: int


@dataclass(frozen=True)
class Department:
    """An organisational unit that cases are routed to."""

    code: str
    name_ar: str
    name_en: str
    customer_service: bool = False


@dataclass(frozen=True)
class RoutingRule:
    """Sends matching cases to a department; empty conditions match anything."""

    department: str
    kinds: tuple[Kind, ...] = ()
    channels: tuple[Channel, ...] = ()
    keywords: tuple[str, ...] = ()

    def matches(self, kind: Kind, channel: Channel, text: str) -> bool:
        """True when the case's kind, channel and text all satisfy this rule."""
        if self.kinds and Kind(kind) not in self.kinds:
            return False
        if self.channels and Channel(channel) not in self.channels:
            return False
        if not self.keywords:
            return True
        folded = text.casefold()
        return any(keyword.casefold() in folded for keyword in self.keywords)


@dataclass
class CaseTerms:
    """The numbers one case is held to, frozen at intake so a new policy version never changes it.

    Plain JSON-friendly fields: it travels through Temporal as JSON. The dicts are keyed by
    priority value ("critical", "high", "normal", "low").
    """

    department_days: dict[str, int] = field(default_factory=dict)
    answer_days: dict[str, int] = field(default_factory=dict)
    reminder_lead_days: int = 1
    submitter_response_days: int = 10
    contest_window_days: int = 5
    reopen_answer_days: int = 3
    policy_version: str = ""

    def response_times(self, priority: str | None) -> ResponseTimes:
        """The response times for a priority; None means normal."""
        key = _priority_key(priority)
        if key not in self.department_days or key not in self.answer_days:
            raise ValueError(f"case terms hold no response times for priority {key!r}")
        return ResponseTimes(self.department_days[key], self.answer_days[key])


def _priority_key(priority: str | None) -> str:
    """Normalises a priority (enum, string or None) to its string value."""
    if priority is None:
        return Priority.NORMAL.value
    try:
        return Priority(priority).value
    except ValueError:
        raise ValueError(f"unknown priority {priority!r}") from None


@dataclass(frozen=True)
class PolicyReview:
    """When the policy itself is next reviewed, who owns that, and who else reads the monthly report."""

    next_review: date
    owner: str
    owner_email: str | None = None
    # Besides the Director General: the addresses the monthly report goes to.
    monthly_report_to: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Policy:
    """One version of the ministry's policy, as loaded from policy.toml."""

    version: str
    timezone: str = "Asia/Muscat"
    # Python weekday() numbers: Monday=0 ... Sunday=6; Oman works Sunday to Thursday.
    working_weekdays: tuple[int, ...] = (6, 0, 1, 2, 3)
    day_closes_at: time = time(14, 30)
    complaint: ResponseTimes
    suggestion: ResponseTimes
    report: dict[Priority, ResponseTimes]
    reminder_lead_days: int = 1
    submitter_response_days: int = 10
    contest_window_days: int = 5
    reopen_answer_days: int = 3
    anonymous_reports: bool = True
    # Calendar days after closure that a case keeps its submitter's personal data.
    personal_data_retention_days: int = 365
    departments: tuple[Department, ...] = ()
    routing: tuple[RoutingRule, ...] = ()
    # Declared holidays the `holidays` package does not know (e.g. announced Eid dates).
    extra_holidays: tuple[date, ...] = ()
    # Dates the package lists but the ministry works.
    not_holidays: tuple[date, ...] = ()
    # The policy's own review (policy, "Evaluation and improvement"): when it falls due and whom to remind.
    review: PolicyReview | None = None

    def response_times(self, kind: Kind, priority: str | None = None) -> ResponseTimes:
        """The response times for a kind; only reports depend on the priority."""
        kind = Kind(kind)
        if kind is Kind.REPORT:
            return self.report[Priority(_priority_key(priority))]
        return self.complaint if kind is Kind.COMPLAINT else self.suggestion

    def terms_for(self, kind: Kind) -> CaseTerms:
        """The terms a new case of this kind is held to under this policy version."""
        by_priority = {p.value: self.response_times(kind, p) for p in Priority}
        return CaseTerms(
            department_days={p: t.department_days for p, t in by_priority.items()},
            answer_days={p: t.answer_days for p, t in by_priority.items()},
            reminder_lead_days=self.reminder_lead_days,
            submitter_response_days=self.submitter_response_days,
            contest_window_days=self.contest_window_days,
            reopen_answer_days=self.reopen_answer_days,
            policy_version=self.version,
        )

    def department(self, code: str) -> Department | None:
        """The department with this code, or None."""
        return next((d for d in self.departments if d.code == code), None)

    def customer_service(self) -> Department:
        """The customer-service department (escalation level 1)."""
        found = [d for d in self.departments if d.customer_service]
        if len(found) != 1:
            reason = f"expected exactly one customer-service department, found {len(found)}"
            raise PolicyError(f"departments: {reason}")
        return found[0]

    def route(self, kind: Kind, channel: Channel, text: str) -> str | None:
        """The code of the department the first matching rule names, or None (customer service triages)."""
        return next((r.department for r in self.routing if r.matches(kind, channel, text)), None)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Reads and validates a policy file; OSError if it cannot be read, PolicyError if it is invalid."""
    with open(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError(f"policy file is not UTF-8: {error}") from None
    return parse_policy(text)


def parse_policy(text: str) -> Policy:
    """Parses and validates policy TOML text."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"policy file is not valid TOML: {error}") from None
    return _build_policy(_Table(data, ""))


# --- parsing -------------------------------------------------------------------------------------

_WEEKDAYS = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}

_MISSING: Any = object()


class _Table:
    """One TOML table; names every key by its full dotted path in errors, and rejects unknown keys."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.data = data
        self.path = path
        self.seen: set[str] = set()

    def key(self, name: str) -> str:
        """The dotted path of a key in this table, for error messages."""
        return f"{self.path}.{name}" if self.path else name

    def fail(self, name: str, reason: str) -> PolicyError:
        """An error naming the key and the reason."""
        return PolicyError(f"{self.key(name)}: {reason}")

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """The raw value of a key; a missing key without default is an error."""
        self.seen.add(name)
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise self.fail(name, "missing")
        return default

    def table(self, name: str) -> _Table:
        """A required sub-table."""
        value = self.get(name)
        if not isinstance(value, dict):
            raise self.fail(name, "must be a table")
        return _Table(value, self.key(name))

    def string(self, name: str, default: Any = _MISSING) -> str:
        """A non-empty string."""
        value = self.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "must be a non-empty string")
        return value

    def boolean(self, name: str, default: Any = _MISSING) -> bool:
        """true or false."""
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def positive_int(self, name: str) -> int:
        """A whole number of days, at least 1."""
        value = self.get(name)
        # bool is an int in Python; `true` is not a day count.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(name, "must be a whole number")
        if value < 1:
            raise self.fail(name, f"must be at least 1, not {value}")
        return value

    def strings(self, name: str, default: Any = _MISSING) -> tuple[str, ...]:
        """A list of non-empty strings."""
        value = self.get(name, default)
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(name, "must be a list of non-empty strings")
        return tuple(value)

    def dates(self, name: str) -> tuple[date, ...]:
        """A list of dates, written as TOML dates or ISO strings ("2026-03-20")."""
        value = self.get(name, [])
        if not isinstance(value, list):
            raise self.fail(name, "must be a list of dates")
        return tuple(self._date(name, v) for v in value)

    def _date(self, name: str, value: Any) -> date:
        # A TOML date arrives as a date; a datetime (also a date) would carry a time of day.
        if type(value) is date:
            return value
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise self.fail(name, f"{value!r} is not a date like 2026-03-20") from None

    def enums(self, name: str, enum: Any) -> tuple[Any, ...]:
        """A list of enum values, written as their string values."""
        values = self.strings(name, [])
        try:
            return tuple(enum(v) for v in values)
        except ValueError as error:
            allowed = ", ".join(e.value for e in enum)
            raise self.fail(name, f"{error}; allowed: {allowed}") from None

    def array_of_tables(self, name: str, default: Any = _MISSING) -> list[_Table]:
        """A [[name]] array of tables."""
        value = self.get(name, default)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(name, "must be an array of tables ([[" + name + "]])")
        return [_Table(v, f"{self.key(name)}[{i}]") for i, v in enumerate(value)]

    def finish(self) -> None:
        """Rejects keys nobody read: a typo must not silently fall back to a default."""
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise self.fail(unknown[0], "unknown key")


def _build_policy(root: _Table) -> Policy:
    version = root.string("version")
    calendar = root.table("calendar")
    times = root.table("response_times")
    handling = root.table("case_handling")
    retention = root.table("retention")
    departments = _departments(root)
    routing = _routing(root, {d.code for d in departments})
    policy = Policy(
        version=version,
        timezone=_timezone(calendar),
        working_weekdays=_working_weekdays(calendar),
        day_closes_at=_closing_time(calendar),
        extra_holidays=calendar.dates("extra_holidays"),
        not_holidays=calendar.dates("not_holidays"),
        complaint=_response_times(times.table("complaint")),
        suggestion=_response_times(times.table("suggestion")),
        report=_report_times(times.table("report")),
        reminder_lead_days=handling.positive_int("reminder_lead_days"),
        submitter_response_days=handling.positive_int("submitter_response_days"),
        contest_window_days=handling.positive_int("contest_window_days"),
        reopen_answer_days=handling.positive_int("reopen_answer_days"),
        anonymous_reports=handling.boolean("anonymous_reports"),
        personal_data_retention_days=retention.positive_int("personal_data_days"),
        departments=departments,
        routing=routing,
        review=_review(root),
    )
    _check_overrides(calendar, policy)
    for table in (calendar, times, handling, retention, root):
        table.finish()
    return policy


def _timezone(calendar: _Table) -> str:
    name = calendar.string("timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise calendar.fail("timezone", f"unknown time zone {name!r}") from None
    return name


def _working_weekdays(calendar: _Table) -> tuple[int, ...]:
    names = calendar.strings("working_days")
    if not names:
        raise calendar.fail("working_days", "must name at least one day")
    days = []
    for name in names:
        day = _WEEKDAYS.get(name.strip().lower())
        if day is None:
            raise calendar.fail("working_days", f"{name!r} is not a day of the week")
        if day in days:
            raise calendar.fail("working_days", f"{name!r} is listed twice")
        days.append(day)
    return tuple(days)


def _closing_time(calendar: _Table) -> time:
    value = calendar.get("day_closes_at")
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value)
    except (TypeError, ValueError):
        raise calendar.fail("day_closes_at", f"{value!r} is not a time like \"14:30\"") from None


def _check_overrides(calendar: _Table, policy: Policy) -> None:
    both = sorted(set(policy.extra_holidays) & set(policy.not_holidays))
    if both:
        raise calendar.fail("not_holidays", f"{both[0].isoformat()} is also listed in extra_holidays")


def _response_times(table: _Table) -> ResponseTimes:
    department_days = table.positive_int("department_days")
    answer_days = table.positive_int("answer_days")
    # The department answers customer service, which then answers the submitter: the
    # department's deadline cannot come after the answer's.
    if department_days > answer_days:
        raise table.fail("department_days", f"{department_days} is more than answer_days ({answer_days})")
    table.finish()
    return ResponseTimes(department_days, answer_days)


def _report_times(table: _Table) -> dict[Priority, ResponseTimes]:
    report = {p: _response_times(table.table(p.value)) for p in Priority}
    table.finish()
    return report


def _departments(root: _Table) -> tuple[Department, ...]:
    departments: list[Department] = []
    for table in root.array_of_tables("departments"):
        department = Department(
            code=table.string("code"),
            name_ar=table.string("name_ar"),
            name_en=table.string("name_en"),
            customer_service=table.boolean("customer_service", False),
        )
        table.finish()
        if not re.fullmatch(DEPARTMENT_CODE_PATTERN, department.code):
            raise table.fail("code", f"{department.code!r} is not a department code: upper-case letters, digits "
                                     "and _, starting with a letter, at most 40 characters")
        if any(d.code == department.code for d in departments):
            raise table.fail("code", f"duplicate department code {department.code!r}")
        departments.append(department)
    service = [d.code for d in departments if d.customer_service]
    if len(service) != 1:
        reason = f"exactly one department must have customer_service = true, found {len(service)}"
        raise root.fail("departments", reason)
    return tuple(departments)


def _routing(root: _Table, codes: set[str]) -> tuple[RoutingRule, ...]:
    rules = []
    for table in root.array_of_tables("routing", []):
        rule = RoutingRule(
            department=table.string("department"),
            kinds=table.enums("kinds", Kind),
            channels=table.enums("channels", Channel),
            keywords=table.strings("keywords", []),
        )
        table.finish()
        if rule.department not in codes:
            raise table.fail("department", f"unknown department {rule.department!r}")
        rules.append(rule)
    return tuple(rules)


def _review(root: _Table) -> PolicyReview | None:
    if root.get("review", None) is None:
        return None
    table = root.table("review")
    value = table.get("next_review")
    review = PolicyReview(
        next_review=table._date("next_review", value),
        owner=table.string("owner"),
        owner_email=table.string("owner_email", None) if table.get("owner_email", None) is not None else None,
        monthly_report_to=table.strings("monthly_report_to", []),
    )
    table.finish()
    return review

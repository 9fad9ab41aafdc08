"""One owner of the policy and its calendar: built once per process by core/timekeeping.py, used by every part."""

import re
from datetime import UTC, datetime
from pathlib import Path

from core.settings import Settings
from core.timekeeping import timekeeping
from domain.calendar import CompressedCalendar, OmanCalendar
from domain.kinds import Kind

REPO = Path(__file__).resolve().parents[2]
# The parts that run as processes (and the tests' fixtures, which build the same parts).
SOURCES = ["worker.py", "api", "activities", "core", "store", "bench", "tests/conftest.py", "tests/workflows",
           "tests/api", "tests/e2e"]
BUILDS_POLICY_OR_CALENDAR = re.compile(r"\b(load_policy|calendar_for)\(")
FACTORY = REPO / "core" / "timekeeping.py"


def _python_files() -> list[Path]:
    found = []
    for name in SOURCES:
        path = REPO / name
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return found


def test_only_the_factory_loads_the_policy_or_builds_a_calendar():
    builders = [str(path.relative_to(REPO)) for path in _python_files()
                if path != FACTORY and BUILDS_POLICY_OR_CALENDAR.search(path.read_text(encoding="utf-8"))]

    assert builders == []


def test_a_process_builds_them_once():
    settings = Settings(COMPLAINTS_POLICY=str(REPO / "policy.toml"), COMPLAINTS_WORKING_DAY_SECONDS=None)

    assert timekeeping(settings) is timekeeping(Settings(COMPLAINTS_POLICY=str(REPO / "policy.toml")))
    assert isinstance(timekeeping(settings).calendar, OmanCalendar)


def test_a_compressed_calendar_is_its_own_build():
    compressed = Settings(COMPLAINTS_POLICY=str(REPO / "policy.toml"), COMPLAINTS_WORKING_DAY_SECONDS=2.0)

    assert isinstance(timekeeping(compressed).calendar, CompressedCalendar)
    assert timekeeping(compressed).policy is timekeeping(Settings(COMPLAINTS_POLICY=str(REPO / "policy.toml"))).policy


def test_the_first_deadlines_follow_the_kind_s_terms():
    kept = timekeeping(Settings(COMPLAINTS_POLICY=str(REPO / "policy.toml"), COMPLAINTS_WORKING_DAY_SECONDS=10))
    received = datetime(2026, 3, 1, 8, tzinfo=UTC)
    terms = kept.policy.terms_for(Kind.COMPLAINT).response_times(None)

    deadlines = kept.first_deadlines(Kind.COMPLAINT, None, received)

    assert deadlines.answer_due == kept.calendar.due_after(received, terms.answer_days)

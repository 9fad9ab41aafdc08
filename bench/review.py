"""How long does the periodic review's summary take for a year of cases, beside one full scan of the timeline?

Rerun: `.venv/bin/python bench/review.py --cases 60000` (Tajawob's national yearly volume, ~20 timeline
entries each). Starts its own PostgreSQL (temp data dir), inserts a year of cases and their timelines directly
with SQL (generate_series: each case received on a working day of 2025, triaged, replied, answered, closed, some
escalated, breached, paused, contested, rejected or rated), then times, in the same run, one full scan of the
timeline table and the summary of the year on the Omani calendar (overall and split by department), best of
--repeat, and prints the ratio. The first summary also computes every case's facts from the timeline
(`case_review_facts`: the facts of a closed or rejected case never change, so later summaries only recompute the
open cases'); it is printed apart.
"""

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.service.reports import GroupBy, ReportPeriod, ReportSources, figures_for  # noqa: E402
from core.embedded import EmbeddedPostgres, start_in_background, stop_process  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.timekeeping import policy_at, timekeeping  # noqa: E402
from store.cases import CaseScope  # noqa: E402
from store.db import Database  # noqa: E402
from store.migrate import seed_departments, upgrade_to_head  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CASES_SQL = """
INSERT INTO cases (reference, kind, channel, submitter_category, subject, description, priority, status, department,
  escalation_level, breached, tracking_code_hash, policy_version, received_at, department_due, answer_due, closed_at,
  updated_at, last_step, last_task, language)
SELECT format('C-2025-%s', lpad(n::text, 6, '0')),
  (ARRAY['complaint','complaint','complaint','report','suggestion'])[1 + n % 5],
  (ARRAY['website','social_media','email','phone','tajawob'])[1 + n % 5],
  (ARRAY['beneficiary','employee','supplier','community'])[1 + n % 4],
  (ARRAY['Passport renewal delayed','Civil ID card not issued','Wilayat office closed','Website login fails',
         'Staff conduct at the counter'])[1 + n % 5],
  'bench', CASE WHEN n % 5 = 3 THEN 'normal' END,
  CASE WHEN n % 20 = 0 THEN 'rejected' ELSE 'closed' END,
  (ARRAY['CIVIL_STATUS','LOCAL_ADMIN','HR','IT'])[1 + n % 4],
  CASE WHEN n % 10 = 1 THEN 2 ELSE 1 END, n % 25 = 2, md5(n::text), '2026.1',
  r.received, r.received + interval '3 days', r.received + interval '5 days', r.received + interval '4 days',
  r.received + interval '4 days', 20, 20, 'ar'
FROM generate_series(1, :cases) AS n,
  LATERAL (SELECT timestamptz '2025-01-01 05:00+00' + (n::float / :cases) * interval '364 days' AS received) r
"""

# About twenty entries a case: the common steps, six delivery-ish entries, and the path's own steps.
TIMELINE_SQL = """
INSERT INTO timeline (reference, step_key, written_in_task, at, actor, action, from_status, to_status, detail)
SELECT c.reference, format('%s-%s', lpad(s.number::text, 4, '0'), s.action), s.number * 3,
  c.received_at + s.offset_hours * interval '1 hour', 'system', s.action, NULL, NULL, s.detail
FROM cases c JOIN LATERAL (
  SELECT * FROM (VALUES
    (1, 'received', 0, '{}'::json), (2, 'routed', 0, '{}'), (3, 'triage', 1, '{}'),
    (4, 'department_reminded', 40, '{}'), (5, 'director_general_reminded', 41, '{}'),
    (6, 'director_general_reminded', 42, '{}'), (7, 'director_general_reminded', 43, '{}'),
    (8, 'director_general_reminded', 44, '{}'), (9, 'director_general_reminded', 45, '{}'),
    (10, 'director_general_reminded', 46, '{}'), (11, 'director_general_reminded', 47, '{}'),
    (12, 'route_confirmed', 2, '{}'), (22, 'director_general_reminded', 48, '{}'),
    (23, 'director_general_reminded', 49, '{}'), (24, 'director_general_reminded', 50, '{}'),
    (25, 'director_general_reminded', 51, '{}'), (26, 'director_general_reminded', 52, '{}'))
    AS common(number, action, offset_hours, detail)
  UNION ALL SELECT * FROM (VALUES
    (13, 'request_info', 5, '{}'::json), (14, 'submitter_info', 30, '{}')) AS paused(number, action, offset_hours,
      detail) WHERE right(c.reference, 1) IN ('3', '7')
  UNION ALL SELECT 15, 'escalated', 72, '{}'::json WHERE c.escalation_level = 2
  UNION ALL SELECT 16, 'breached', 120, '{}'::json WHERE c.breached
  UNION ALL SELECT 17, 'reject', 6, json_build_object('ground',
      (ARRAY['not_competent','unlawful','not_genuine','duplicate'])[1 + (right(c.reference, 3)::int % 4)])
    WHERE c.status = 'rejected'
  UNION ALL SELECT * FROM (VALUES (18, 'reply', 48, '{}'::json), (19, 'respond', 60, '{}'),
      (20, 'closed', 96, '{"reason": "accepted"}')) AS handled(number, action, offset_hours, detail)
    WHERE c.status <> 'rejected'
  UNION ALL SELECT 21, 'contest', 70, '{}'::json WHERE right(c.reference, 2) = '11'
) s ON TRUE
"""

RATINGS_SQL = """
INSERT INTO ratings (reference, score, created_at)
SELECT reference, 1 + (right(reference, 4)::int % 5), closed_at + interval '1 hour' FROM cases
WHERE status = 'closed' AND right(reference, 1) IN ('2', '5', '8')
"""

# Every row read, and two of its columns: what any figure of the timeline at least costs.
SCAN_SQL = "SELECT count(*), max(at), max(action) FROM timeline"


async def fill(database: Database, cases: int) -> int:
    async with database.transaction() as session:
        await session.exec(text(CASES_SQL), params={"cases": cases})
        await session.exec(text(TIMELINE_SQL))
        await session.exec(text(RATINGS_SQL))
    async with database.session() as session:
        await session.exec(text("ANALYZE"))
        return (await session.exec(text("SELECT count(*) FROM timeline"))).scalar_one()


async def best_of(repeat: int, work) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return min(times)


async def measure(url: str, cases: int, repeat: int) -> None:
    database = Database(url)
    started = time.perf_counter()
    entries = await fill(database, cases)
    print(f"inserted {cases} cases and {entries} timeline entries ({entries / cases:.1f} a case) "
          f"in {time.perf_counter() - started:.1f} s")
    # The Omani calendar of the policy file, built as every process builds it.
    keeping = timekeeping(Settings(COMPLAINTS_POLICY=str(REPO / "policy.toml"), COMPLAINTS_WORKING_DAY_SECONDS=None))
    sources = ReportSources(database, keeping.policy, keeping.calendar)
    year = ReportPeriod(date(2025, 1, 1), date(2025, 12, 31), "year")
    every_case = CaseScope(every_case=True)

    async def scan():
        async with database.session() as session:
            (await session.exec(text(SCAN_SQL))).one()

    await scan()  # the table in memory, so that neither measure pays for the first read from disk
    started = time.perf_counter()
    report = await figures_for(sources, every_case, year)
    cold_seconds = time.perf_counter() - started
    scan_seconds = await best_of(repeat, scan)
    summary_seconds = await best_of(repeat, lambda: figures_for(sources, every_case, year))
    split_seconds = await best_of(repeat, lambda: figures_for(sources, every_case, year, GroupBy.DEPARTMENT))
    figures = report.groups[0].figures
    print(f"year 2025: received {figures.received.value}, closed {figures.closed.value}, rejected "
          f"{figures.rejected.value}, escalated {figures.escalated.value}, breached {figures.breached.value}, "
          f"answer median {figures.answer_working_days_median.value} working days")
    print(f"full scan of the timeline:      {scan_seconds * 1000:8.1f} ms")
    print(f"first summary (facts of every case computed from the timeline): {cold_seconds * 1000:8.1f} ms  "
          f"({cold_seconds / scan_seconds:.2f}x)")
    print(f"summary of the year:            {summary_seconds * 1000:8.1f} ms  ({summary_seconds / scan_seconds:.2f}x)")
    print(f"summary split by department:    {split_seconds * 1000:8.1f} ms  ({split_seconds / scan_seconds:.2f}x)")
    await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="complaints-bench-review-"))
    postgres = EmbeddedPostgres(data_dir)
    process = start_in_background(postgres, data_dir / "postgres.log")
    try:
        postgres.ensure_database()
        upgrade_to_head(postgres.url)
        seed_departments(postgres.url, policy_at(REPO / "policy.toml").departments)
        asyncio.run(measure(postgres.url, args.cases, args.repeat))
    finally:
        stop_process(process, postgres.stop_signal)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

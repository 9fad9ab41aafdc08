"""Does the console render as fast as the JSON API answers? Rerun: `.venv/bin/python bench/console.py`.

Starts its own PostgreSQL and Temporal dev server (temp data dir) and a worker, submits a few real
complaints through the API and routes them to one department, then copies one of them into
`--open-cases` open case rows (10 000 by default) spread over the directory's departments. It then
times, alternately and in one run, each console page beside the JSON endpoint that returns the same
data, served by the same app in this process:

- the department's queue, `/console/queues/department`, beside `GET /v1/cases?department=…&limit=50`;
- a case page, `/console/cases/{reference}`, beside `GET /v1/cases/{reference}`.

It prints min/median/max of each and the ratio of the medians (the goal is at most 2×).
"""

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.service.staff import create_account  # noqa: E402
from bench.stack import Stack, running_stack  # noqa: E402
from domain.kinds import Role  # noqa: E402
from store.departments import active_department_codes  # noqa: E402

DEPARTMENT = "CIVIL_STATUS"
PASSWORD = "benchmark-password-1"


def describe(name: str, seconds: list[float]) -> str:
    return (f"{name:<34} min={min(seconds) * 1000:7.1f} ms  median={statistics.median(seconds) * 1000:7.1f} ms  "
            f"max={max(seconds) * 1000:7.1f} ms")


async def real_cases(stack: Stack, api: httpx.AsyncClient, count: int) -> list[str]:
    """`count` complaints through the API, routed to DEPARTMENT by customer service."""
    _, channel = await stack.key(Role.CHANNEL)
    _, agent = await stack.key(Role.CS_AGENT)
    references = []
    for number in range(count):
        answer = await api.post("/v1/cases", headers={"Authorization": f"Bearer {channel}"}, json={
            "kind": "complaint", "channel": "website", "channel_ref": f"console-bench-{number}",
            "submitter": {"category": "beneficiary", "civil_id": "12345678", "name": "Bench"},
            "subject": f"Benchmark complaint {number} about a passport renewal",
            "description": "The renewal took too long and nobody answered the phone."})
        answer.raise_for_status()
        references.append(answer.json()["reference"])
    for reference in references:
        for _ in range(200):  # its first step writes the row; triage needs the workflow ready anyway
            triaged = await api.post(f"/v1/cases/{reference}/triage", headers={"Authorization": f"Bearer {agent}"},
                                     json={"department": DEPARTMENT})
            if triaged.status_code == 200:
                break
            await asyncio.sleep(0.1)
        triaged.raise_for_status()
    return references


def copy_open_cases(database_url: str, template: str, count: int, departments: list[str], first: int = 1) -> None:
    """`count` copies of the template case's row, open, spread over the departments and a month of dues;
    their references are numbered from `first` (a second call goes on where the first stopped)."""
    with psycopg.connect(database_url) as connection:
        columns = [row[0] for row in connection.execute(
            "select column_name from information_schema.columns where table_name = 'cases' "
            "and is_generated = 'NEVER' order by ordinal_position")]
        computed = {
            "reference": "'C-2099-' || lpad(n::text, 6, '0')",
            "department": "(%(departments)s::text[])[1 + n %% cardinality(%(departments)s::text[])]",
            "department_due": "department_due + n * interval '3 minutes'",
            "answer_due": "answer_due + n * interval '3 minutes'",
            "subject": "'Copied case ' || n || ' about ' || (array['passports','licences','visas','fees'])[1 + n %% 4]",
        }
        chosen = ", ".join(computed.get(column, column) for column in columns)
        connection.execute(
            f"insert into cases ({', '.join(columns)}) select {chosen} from cases, "
            "generate_series(%(first)s, %(first)s + %(count)s - 1) n where cases.reference = %(template)s",
            {"departments": departments, "count": count, "template": template, "first": first})
        connection.execute("analyze cases")


async def signed_in(api: httpx.AsyncClient, login: str) -> dict[str, str]:
    """The console session's cookie for `login`, through the sign-in form."""
    form = await api.get("/console/sign-in")
    token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = await api.post("/console/sign-in", data={"login": login, "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303, answer.text
    return {"complaints_console": answer.cookies["complaints_console"]}


async def timed(api: httpx.AsyncClient, url: str, **request) -> float:
    started = time.perf_counter()
    answer = await api.get(url, **request)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:300]}"
    return elapsed


async def run(args: argparse.Namespace) -> None:
    async with running_stack(working_day_seconds=3600, parts=("worker",)) as stack, stack.api() as api:
        references = await real_cases(stack, api, args.real_cases)
        departments = sorted(await active_department_codes(stack.database))
        copy_open_cases(stack.settings.resolved_database_url(), references[0], args.open_cases, departments)
        _, key = await stack.key(Role.DEPARTMENT, DEPARTMENT)
        await create_account(stack.database, login="bench-officer", name="Bench officer", role=Role.DEPARTMENT,
                             department=DEPARTMENT, password=PASSWORD)
        cookies = await signed_in(api, "bench-officer")
        api.cookies.clear()
        bearer = {"Authorization": f"Bearer {key}"}
        pairs = {
            "department queue": (
                (f"/v1/cases?department={DEPARTMENT}&limit=50", {"headers": bearer}),
                ("/console/queues/department", {"cookies": cookies})),
            "case page": (
                (f"/v1/cases/{references[-1]}", {"headers": bearer}),
                (f"/console/cases/{references[-1]}", {"cookies": cookies})),
        }
        print(f"{args.open_cases + args.real_cases} open cases over {len(departments)} departments; "
              f"{args.rounds} alternating rounds of {args.requests} requests each")
        for name, ((json_url, json_request), (page_url, page_request)) in pairs.items():
            await timed(api, json_url, **json_request)  # warm both once
            await timed(api, page_url, **page_request)
            json_times, page_times = [], []
            for _ in range(args.rounds):
                json_times += [await timed(api, json_url, **json_request) for _ in range(args.requests)]
                page_times += [await timed(api, page_url, **page_request) for _ in range(args.requests)]
            print(describe(f"{name}: JSON  {json_url[:24]}", json_times))
            print(describe(f"{name}: page  {page_url[:24]}", page_times))
            ratio = statistics.median(page_times) / statistics.median(json_times)
            print(f"{name}: page / JSON (medians) = {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--open-cases", type=int, default=10_000, help="open case rows copied in (default 10 000)")
    parser.add_argument("--real-cases", type=int, default=5, help="real cases with workflows (default 5)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30, help="requests per round and page")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

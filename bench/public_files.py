"""How much do evidence files cost a submission? Rerun: `.venv/bin/python bench/public_files.py`.

Starts its own PostgreSQL and Temporal dev server and a worker, and sends the public submission form
(`POST /`, multipart, as a browser does) to the real app in this process, alternately without files
and with two 5 MiB PDFs, `--rounds` times each. It times each submission to its answer page, and to
the moment its case's `received` step is in PostgreSQL (the files stored, sealed, and named there),
and prints min/median/max of each and the ratio of the medians. The proof of work is solved before
the clock starts (a person's browser does it while they type).
"""

import argparse
import asyncio
import os
import re
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import running_stack  # noqa: E402
from store.cases import read_case_file  # noqa: E402
from tests.e2e.public import complaint_form, solved_proof, submission_key_of  # noqa: E402

FIVE_MIB = 5 * 1024 * 1024


def evidence_pdf() -> bytes:
    return b"%PDF-1.7\n" + os.urandom(FIVE_MIB - 9)


async def submit(api: httpx.AsyncClient, files: list[tuple[str, bytes]], database) -> tuple[float, float]:
    page = await api.get("/?lang=en")
    fields = {"submission_key": submission_key_of(page.text), **complaint_form(),
              "altcha": solved_proof((await api.get("/proof-of-work/challenge")).json())}
    parts = [("files", (name, content, "application/pdf")) for name, content in files] or [
        ("unused", ("", b"", "application/octet-stream"))]
    started = time.perf_counter()
    answer = await api.post("/", data=fields, files=parts)
    answered = time.perf_counter() - started
    assert answer.status_code == 200, answer.text[:500]
    reference = re.search(r'id="reference">([A-Z]-\d{4}-\d{6})<', answer.text).group(1)
    while True:
        case_file = await read_case_file(database, reference)
        if case_file and any(entry.action == "received" for entry in case_file.timeline):
            break
        await asyncio.sleep(0.01)
    return answered, time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    async with running_stack(working_day_seconds=3600, parts=("worker",), COMPLAINTS_PUBLIC_PER_MINUTE="100000",
                             COMPLAINTS_PUBLIC_PROOF_COST="1000") as stack, stack.api() as api:
        api.timeout = 120
        files = [(f"evidence-{uuid.uuid4().hex[:6]}.pdf", evidence_pdf()) for _ in range(2)]
        await submit(api, [], stack.database)  # warm both paths once
        await submit(api, files, stack.database)
        times: dict[str, list[tuple[float, float]]] = {"no files": [], "two 5 MiB files": []}
        for _ in range(args.rounds):
            times["no files"].append(await submit(api, [], stack.database))
            times["two 5 MiB files"].append(await submit(api, files, stack.database))
        print(f"{args.rounds} alternating rounds; the public form through the real app and a worker")
        for name, pairs in times.items():
            for position, what in ((0, "answer page"), (1, "received step")):
                values = [pair[position] * 1000 for pair in pairs]
                print(f"{name:<16} {what:<14} min={min(values):7.1f} ms  median={statistics.median(values):7.1f} ms"
                      f"  max={max(values):7.1f} ms")
        for position, what in ((0, "answer page"), (1, "received step")):
            ratio = (statistics.median(pair[position] for pair in times["two 5 MiB files"])
                     / statistics.median(pair[position] for pair in times["no files"]))
            print(f"with files / without, {what}: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

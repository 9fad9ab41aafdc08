"""`complaints`: run the whole stack or one part of it, migrate, and manage API keys."""

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from sqlalchemy.exc import OperationalError

from core.operator_signal import add_signal_command
from core.settings import NotConfigured, get_settings
from domain.kinds import Channel, Role


def _dev(_: argparse.Namespace) -> None:
    from core.devstack import run_dev

    run_dev(get_settings())


def _worker(_: argparse.Namespace) -> None:
    import worker

    worker.main()


def _delivery(_: argparse.Namespace) -> None:
    import worker

    worker.main(worker.run_delivery_worker)


def _api(args: argparse.Namespace) -> None:
    import uvicorn

    settings = get_settings()
    settings.resolved_database_url()  # here, not in uvicorn's start-up, which would bury it in a traceback
    # A factory named by import string, so that each worker process builds its own app, pools and Temporal client.
    uvicorn.run("api.app:create_app", factory=True, host=settings.api_host, port=settings.api_port,
                workers=args.workers or settings.api_workers, log_level="info")


def _mailsink(args: argparse.Namespace) -> None:
    from core.mailsink import run_mailsink

    run_mailsink(args.folder or get_settings().data_dir / "mail", args.host, args.port)


def _migrate(_: argparse.Namespace) -> None:
    settings = get_settings()
    settings.resolved_database_url()  # before Alembic is imported, which logs as it loads
    from core.temporal import connect_when_ready, ensure_search_attributes
    from core.timekeeping import timekeeping
    from store.migrate import seed_departments, upgrade_to_head

    upgrade_to_head(settings.resolved_database_url())
    print("database schema is up to date")
    seeded = seed_departments(settings.resolved_database_url(), timekeeping(settings).policy.departments)
    print(f"departments added from the policy: {', '.join(seeded) if seeded else 'none missing'}")
    added = asyncio.run(_register_search_attributes(settings, connect_when_ready, ensure_search_attributes))
    print(f"search attributes registered: {', '.join(added) if added else 'all present'}")
    _exit_without_client_teardown()


async def _register_search_attributes(settings, connect_when_ready, ensure_search_attributes) -> list[str]:
    client = await connect_when_ready(settings)
    return await ensure_search_attributes(client)


def _deliver_running_cases(_: argparse.Namespace) -> None:
    from core.temporal import connect_when_ready, deliver_from_now_on_running_cases

    async def signal_all() -> int:
        return await deliver_from_now_on_running_cases(await connect_when_ready(get_settings()))

    print(f"running cases told to deliver their messages from now on: {asyncio.run(signal_all())}")
    _exit_without_client_teardown()


def _report(args: argparse.Namespace) -> None:
    """The month's report, made and sent by the worker's MonthlyReportWorkflow (once per month, however often)."""
    import re

    from temporalio.common import WorkflowIDReusePolicy

    from core.temporal import connect_when_ready
    from workflows.monthly_report import MonthlyReportWorkflow
    from workflows.monthly_report_messages import MonthlyReportRun

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month):
        sys.exit(f"error: --month must be a month like 2026-11, not {args.month!r}")
    settings = get_settings()

    async def run() -> str:
        client = await connect_when_ready(settings)
        outcome = await client.execute_workflow(
            MonthlyReportWorkflow.run, MonthlyReportRun(month=args.month), id=f"monthly-report-{args.month}-by-hand",
            task_queue=settings.task_queue, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"The monthly report of {args.month}, by hand",
        )
        return outcome.status

    print(f"the report of {args.month}: {asyncio.run(run())}")
    _exit_without_client_teardown()


def _verify(args: argparse.Namespace) -> None:
    """Compare every case's record with its workflow; with repair, bring the record to the workflow."""
    from core.temporal import connect_when_ready
    from core.verify import find_divergences, repair
    from store.db import Database

    async def check() -> int:
        settings = get_settings()
        database = Database(settings.resolved_database_url(), pool_size=4)
        try:
            checked, divergences = await find_divergences(database, await connect_when_ready(settings), args.references)
            for divergence in divergences:
                print(f"{divergence.reference}: " + "; ".join(divergence.problems))
            if args.repair:
                for line in await repair(database, divergences):
                    print(line)
            print(f"{checked} cases checked; {len(divergences)} records differ from their workflows"
                  + ("" if args.repair or not divergences
                     else " (run `complaints repair` to bring them to their workflows)"))
            return 1 if divergences and not args.repair else 0
        finally:
            await database.dispose()

    _exit_without_client_teardown(asyncio.run(check()))


def _exit_without_client_teardown(code: int = 0) -> None:
    # A short-lived Temporal client can abort Python while it finalizes, after the work is done
    # ("PyGILState_Release: thread state ... must be current", temporalio/sdk-python#300); skip that teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _on_database(work):
    """Run `work(database)` on the application database, then close it."""
    from store.db import Database

    async def run():
        database = Database(get_settings().resolved_database_url(), pool_size=1)
        try:
            return await work(database)
        finally:
            await database.dispose()

    return asyncio.run(run())


def _apikey_create(args: argparse.Namespace) -> None:
    from api.auth import create_api_key
    from store.departments import active_department_codes

    role = Role(args.role)

    async def create(database) -> tuple[int, str]:
        # The directory, as the admin API checks it: a department an admin added counts, a deactivated one not.
        if args.department and args.department not in await active_department_codes(database):
            raise ValueError(f"--department {args.department!r} is not an active department of the directory")
        return await create_api_key(database, role=role, name=args.name or role.value, department=args.department,
                                    channels=args.channels)

    try:
        key_id, key = _on_database(create)
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(f"created key #{key_id} for role {role.value}" + (f" of {args.department}" if args.department else "")
          + (f" through {', '.join(args.channels)}" if args.channels else ""))
    print("the key is shown once; store it now:")
    print(key)


def _minute(instant) -> str:
    return instant.strftime("%Y-%m-%dT%H:%MZ") if instant else "-"


def _apikey_list(_: argparse.Namespace) -> None:
    from api.auth import list_api_keys

    rows = [("id", "name", "role", "department", "channels", "created", "revoked")]
    for record in _on_database(list_api_keys):
        rows.append((str(record.id), record.name, record.role, record.department or "-",
                     ",".join(record.channels) if record.channels else "-",
                     _minute(record.created_at), _minute(record.revoked_at)))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


def _apikey_revoke(args: argparse.Namespace) -> None:
    from api.auth import UnknownApiKey, revoke_api_key

    try:
        record = _on_database(lambda database: revoke_api_key(database, args.key_id))
    except UnknownApiKey as unknown:
        sys.exit(f"error: {unknown}")
    print(f"revoked key #{record.id} ({record.name}, {record.role}) at {_minute(record.revoked_at)}; "
          "it is refused (401) from its next request on")


def _user_create(args: argparse.Namespace) -> None:
    from api.service.staff import AccountRefused, create_account, new_one_time_password

    one_time = not sys.stdin.isatty()
    password = new_one_time_password() if one_time else _ask_password()
    try:
        user = _on_database(lambda database: create_account(
            database, login=args.login, name=args.name or args.login, role=Role(args.role),
            department=args.department, password=password, one_time=one_time))
    except AccountRefused as refused:
        sys.exit(f"error: --{refused.field}: {refused.reason}")
    print(f"created staff account {user.login!r} (#{user.id}) for role {user.role}"
          + (f" of {user.department}" if user.department else ""))
    if one_time:
        print("a one-time password, shown once; the first sign-in asks for a new one:")
        print(password)


def _ask_password() -> str:
    import getpass

    password = getpass.getpass("password (at least 12 characters): ")
    if getpass.getpass("the same again: ") != password:
        sys.exit("error: the two passwords differ")
    return password


def _user_disable(args: argparse.Namespace) -> None:
    from api.service.staff import UnknownStaffUser, disable_account

    try:
        user = _on_database(lambda database: disable_account(database, args.login, by="the command line"))
    except UnknownStaffUser as unknown:
        sys.exit(f"error: {unknown}")
    print(f"disabled {user.login!r}: it signs in no more, and its open sessions have ended")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="complaints", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run PostgreSQL, Temporal, the worker, the sender and the API, supervised"
                        ).set_defaults(run=_dev)
    commands.add_parser("worker", help="run the worker: cases, their steps and deadlines").set_defaults(run=_worker)
    commands.add_parser("delivery", help="run the sender: email, SMS and channel callbacks").set_defaults(run=_delivery)
    api = commands.add_parser("api", help="serve the HTTP API")
    api.add_argument("--workers", type=int, default=None,
                     help="API processes on the one port (default COMPLAINTS_API_WORKERS, 1); the API is stateless")
    api.set_defaults(run=_api)
    commands.add_parser("migrate", help="apply database migrations and register search attributes").set_defaults(
        run=_migrate
    )
    commands.add_parser(
        "deliver-running-cases",
        help="once, after the upgrade that brought delivery: cases begun before it deliver their messages from now on",
    ).set_defaults(run=_deliver_running_cases)
    for name, repairs, text in (
        ("verify", False, "compare every case's record in PostgreSQL with its workflow; exit 1 if any differs"),
        ("repair", True, "bring every record that differs from its workflow to what the workflow says"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("references", nargs="*", metavar="REFERENCE", help="only these cases (default: all)")
        command.set_defaults(run=_verify, repair=repairs)
    add_signal_command(commands)
    report = commands.add_parser("report", help="make last month's review report by hand and send it (once a month)")
    report.add_argument("--month", required=True, help="the month, e.g. 2026-11")
    report.set_defaults(run=_report)
    mailsink = commands.add_parser("mailsink", help="a local SMTP server that keeps messages as .eml files")
    mailsink.add_argument("--folder", type=Path, help="default: mail/ in the data dir")
    mailsink.add_argument("--host", default="127.0.0.1")
    mailsink.add_argument("--port", type=int, default=8025)
    mailsink.set_defaults(run=_mailsink)
    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(dest="apikey_command", required=True)
    create = apikey.add_parser("create", help="create a key and print it as the last line")
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--department", help="department code, for --role department")
    create.add_argument("--name", help="who or what holds the key (shown in logs, not in cases)")
    create.add_argument("--channel", dest="channels", action="append", choices=[channel.value for channel in Channel],
                        help="for --role channel, once per channel the key may submit through (required)")
    create.set_defaults(run=_apikey_create)
    apikey.add_parser("list", help="every key without its secret: id, name, role, department, channels, "
                                   "created, revoked").set_defaults(run=_apikey_list)
    revoke = apikey.add_parser("revoke", help="revoke a key: it is refused (401) from its next request on")
    revoke.add_argument("key_id", type=int, metavar="ID", help="the key's id (`complaints apikey list`)")
    revoke.set_defaults(run=_apikey_revoke)
    user = commands.add_parser("user", help="manage staff accounts of the web console").add_subparsers(
        dest="user_command", required=True)
    create_user = user.add_parser("create", help="create an account; asks for its password at a terminal, else "
                                                 "prints a one-time password as the last line")
    create_user.add_argument("--login", required=True)
    create_user.add_argument("--name", help="the person's name, as the console shows it (default: the login)")
    create_user.add_argument("--role", required=True,
                             choices=[role.value for role in Role if role != Role.CHANNEL])
    create_user.add_argument("--department", help="department code, for --role department")
    create_user.set_defaults(run=_user_create)
    disable = user.add_parser("disable", help="the account signs in no more; its sessions end now")
    disable.add_argument("login")
    disable.set_defaults(run=_user_disable)
    return root


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except NotConfigured as missing:
        sys.exit(f"error: {missing}")
    except OperationalError as unreachable:  # e.g. the data dir names the database of a stack since stopped
        reason = str(unreachable.orig or unreachable).splitlines()[0]
        sys.exit(f"error: the database does not answer ({reason}); start the stack with `complaints dev`, "
                 "or set DATABASE_URL")


if __name__ == "__main__":
    main()

"""The Temporal Schedule that runs RetentionWorkflow every night with the policy's retention period.

The worker calls `ensure_retention_schedule` at startup: it creates the schedule, or brings an
existing one up to the current policy and task queue, and leaves one that already matches alone.
"""

from datetime import timedelta
from enum import StrEnum

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core.settings import Settings
from domain.policy import Policy
from workflows.retention import RetentionWorkflow
from workflows.retention_messages import RetentionRun

RETENTION_SCHEDULE_ID = "retention-erase-personal-data"
# The schedule appends each run's scheduled time to this id.
RETENTION_WORKFLOW_ID = "retention-erase-personal-data"
# 01:00 in the policy's time zone, outside the ministry's working day.
NIGHTLY = ScheduleCalendarSpec(
    second=(ScheduleRange(0),), minute=(ScheduleRange(0),), hour=(ScheduleRange(1),), comment="every night at 01:00"
)
# A server that was down at 01:00 still runs that night's erasure when it returns, within a day.
CATCHUP_WINDOW = timedelta(days=1)


class ScheduleChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


def retention_schedule(settings: Settings, policy: Policy) -> Schedule:
    """The schedule as this policy and these settings want it."""
    days = policy.personal_data_retention_days
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionRun(personal_data_days=days),
            id=RETENTION_WORKFLOW_ID,
            task_queue=settings.task_queue,
            static_summary=f"Erase personal data of cases closed more than {days} days ago",
        ),
        spec=ScheduleSpec(calendars=[NIGHTLY], time_zone_name=policy.timezone),
        # A run still erasing at the next 01:00 is left to finish; the next night picks up the rest.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
    )


async def ensure_retention_schedule(
    client: Client, settings: Settings, policy: Policy, *, schedule_id: str = RETENTION_SCHEDULE_ID
) -> ScheduleChange:
    """Create the retention schedule, or update it where it differs from the policy and settings; safe to repeat."""
    wanted = retention_schedule(settings, policy)
    try:
        await client.create_schedule(schedule_id, wanted)
        return ScheduleChange.CREATED
    except ScheduleAlreadyRunningError:
        pass
    changed = False

    async def bring_up_to_date(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        nonlocal changed
        schedule = current.description.schedule
        if await _matches(client, schedule, wanted):
            changed = False
            return None
        changed = True
        # An operator's pause (and its note) stays: updating the policy must not restart erasure.
        wanted.state = schedule.state
        return ScheduleUpdate(schedule=wanted)

    await client.get_schedule_handle(schedule_id).update(bring_up_to_date)
    return ScheduleChange.UPDATED if changed else ScheduleChange.UNCHANGED


async def _matches(client: Client, current: Schedule, wanted: Schedule) -> bool:
    action, wanted_action = current.action, wanted.action
    if not isinstance(action, ScheduleActionStartWorkflow) or not isinstance(
            wanted_action, ScheduleActionStartWorkflow):
        return False
    if (action.workflow, action.id, action.task_queue) != (
        wanted_action.workflow, wanted_action.id, wanted_action.task_queue
    ):
        return False
    try:
        # The server holds the input as it was sealed by the payload codec.
        arguments = await client.data_converter.decode(action.args, [RetentionRun])
    except Exception:  # noqa: BLE001 - whatever fails to decode (an old key, an old shape) is replaced
        return False
    return (
        arguments == list(wanted_action.args)
        and current.spec.calendars == wanted.spec.calendars
        and current.spec.time_zone_name == wanted.spec.time_zone_name
        and not current.spec.intervals
        and not current.spec.cron_expressions
        and current.policy.overlap == wanted.policy.overlap
        and current.policy.catchup_window == wanted.policy.catchup_window
    )

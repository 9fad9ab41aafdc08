"""The sender's pauses: its retries follow the deliver_message activity's policy; its history reads slow down."""

from datetime import timedelta

from activities.outbox_sender import backoff, confirm_again_after
from workflows.case import DELIVERY_RETRY


def test_the_retries_wait_as_the_activitys_retry_policy_did():
    assert [backoff(attempt) for attempt in (1, 2, 3)] == [timedelta(seconds=5), timedelta(seconds=10),
                                                            timedelta(seconds=20)]
    assert backoff(DELIVERY_RETRY.maximum_attempts - 1) == DELIVERY_RETRY.maximum_interval == timedelta(minutes=10)


def test_a_step_whose_task_has_not_ended_is_looked_at_soon_then_less_often():
    assert confirm_again_after(timedelta(milliseconds=20)) == timedelta(milliseconds=250)
    assert confirm_again_after(timedelta(seconds=3)) == timedelta(seconds=1.5)
    assert confirm_again_after(timedelta(minutes=2)) == timedelta(seconds=5)

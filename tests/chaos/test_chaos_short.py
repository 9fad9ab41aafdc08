"""The fault suite's short version (`bench/chaos.py --short`) on its own stack of real processes.

One worker SIGKILL, one sender SIGKILL, PostgreSQL stopped for 8 s and the API SIGKILLed in a burst of
submissions, while cases escalate and breach on a two-second working day; then every count the full
suite prints must be right for the cases of each fault. Duplicated emails are allowed (a sender killed
between the SMTP server's 250 and its record sends again, with the same Message-ID); lost ones are not.
"""

import pytest

from bench.chaos import SHORT, run


# The stack starts its own servers and processes; this bounds a hang, it is no speed check.
@pytest.mark.timeout(900)
async def test_every_case_step_and_message_survives_the_short_fault_suite():
    rows = await run(SHORT, seed=1, keep_data=False)

    assert [row.fault for row in rows] == ["worker SIGKILL", "sender SIGKILL", "PostgreSQL SIGSTOP 8 s",
                                           "API SIGKILL in a burst"]
    for row in rows:
        assert row.injected == row.planned, row
        assert row.accepted == row.submitted, row
        assert (row.in_postgres, row.workflows) == (row.accepted, row.accepted), row
        assert (row.steps_missing, row.steps_extra) == (0, 0), row
        assert row.messages_kept > 0, row
        assert row.messages_lost == 0, row
        assert row.verify_differences == 0, row
        assert not row.other, row

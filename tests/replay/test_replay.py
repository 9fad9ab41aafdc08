"""Every committed history of a real run replays on today's workflows: a change that would break a running case
fails here.

Record new histories with `RECORD_HISTORIES=<label> .venv/bin/pytest tests/workflows` (they land in
tests/replay/histories/
as `<label>-<test>-<n>.json`, beside the older generations, which must keep replaying too).
"""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.settings import Settings
from core.temporal import data_converter
from tests.conftest import TEST_CODEC_KEYS
from workflows.case import CaseWorkflow
from workflows.digest import DirectorGeneralDigestWorkflow
from workflows.monthly_report import MonthlyReportWorkflow
from workflows.retention import RetentionWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_there_are_histories_to_replay():
    assert len(HISTORIES) >= 10


@pytest.mark.parametrize("path", HISTORIES, ids=[path.stem for path in HISTORIES])
async def test_history_replays_without_nondeterminism(path: Path):
    history = WorkflowHistory.from_json(f"case-{path.stem}", path.read_text())
    replayer = Replayer(workflows=[CaseWorkflow, RetentionWorkflow, DirectorGeneralDigestWorkflow,
                                   MonthlyReportWorkflow],
                        data_converter=data_converter(Settings(COMPLAINTS_CODEC_KEYS=TEST_CODEC_KEYS)))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"

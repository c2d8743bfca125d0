"""康复方案 (`000 §30`: the rehab plan goes up before the discharge settlement): a rehab stay's
readiness names a missing plan, settlement is refused without an uploaded one (by the counter and
by the sandbox centre), the plan goes up as 2307 through the outbox, and then the stay settles.
Real sandbox centre over HTTP."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import CentreRefused, SettlementRequest
from app.db.models import OutboxEntry, RehabPlan
from app.operators import OperatorInfo
from app.workflow.common import WorkflowError
from app.workflow.discharge import readiness, settle_stay, upload_lines
from app.workflow.rehab_plan import record_rehab_plan
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import SandboxProcess, add_lines, admit_worker, centre_today, form

REHAB_CARD = "K11010018"  # 赵建华, a rehab stay in the sandbox's demo people


def _rehab_stay(ctx: CounterContext, client: CentreClient, actor: OperatorInfo) -> tuple[int, str]:
    from app.workflow.admission import Identification, look_up

    injury = look_up(client, Identification("card", REHAB_CARD), actor).recognitions[0].diagnoses[0]
    _, outcome = admit_worker(ctx, client, actor, REHAB_CARD, form(
        "ZY-KF-1", care="rehab", diagnoses=((injury.code, injury.name), ("I10", "原发性高血压"))))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    add_lines(ctx, outcome.stay_id, actor, 3, injury_code=injury.code)
    return outcome.stay_id, outcome.registration_no


def test_a_rehab_stay_settles_only_once_its_plan_is_up(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    """`000 §30`: 康复方案 up before the discharge settlement."""
    stay_id, registration_no = _rehab_stay(counter, wf_client, cashier)
    with counter.transaction() as session:
        problems = readiness(session, stay_id)
    assert any("康复方案" in p and "000 §30" in p for p in problems)
    with pytest.raises(WorkflowError, match="康复方案"):
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())

    # The sandbox centre refuses it too (a counter that skipped the check is not believed).
    upload_lines(counter, wf_client, stay_id, cashier)
    with pytest.raises(CentreRefused) as refused:
        wf_client.settle(SettlementRequest(registration_no, centre_today(), centre_today()))
    assert refused.value.code == "3010"

    plan = record_rehab_plan(counter, wf_client, stay_id, "KF-2026-001", "运动疗法、作业疗法，每日一次，两周",
                             centre_today(), cashier, today=centre_today())
    assert plan.uploaded and not plan.refusal
    with counter.transaction() as session:
        (entry,) = session.scalars(select(OutboxEntry).where(OutboxEntry.operation == "rehab_plan"))
        assert entry.state.value == "succeeded" and entry.stay_id == stay_id
        assert session.scalars(select(RehabPlan).where(RehabPlan.stay_id == stay_id)).one().uploaded_at is not None
        assert not any("康复方案" in p for p in readiness(session, stay_id))
    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert outcome.settlement_id is not None


def test_a_plan_the_centre_could_not_take_is_recorded_but_not_uploaded(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    """`000 §30`: only a plan the centre holds counts; readiness says it still has to go up."""
    stay_id, _ = _rehab_stay(counter, wf_client, cashier)
    sandbox.arm("refuse_connections", seconds=10)  # long enough on a loaded machine
    time.sleep(0.3)  # the sandbox stops listening right after answering the admin call
    plan = record_rehab_plan(counter, wf_client, stay_id, "KF-2026-002", "运动疗法", centre_today(), cashier,
                             today=centre_today())
    assert not plan.uploaded and "重新上传" in plan.refusal
    with counter.transaction() as session:
        assert any("尚未上传" in p for p in readiness(session, stay_id))


def test_a_medical_stay_needs_no_plan_and_a_plan_is_refused_for_it(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    from tests.workflow.stay_fixtures import ZHANG_WEI_CARD

    _, outcome = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-MED-1"))
    assert outcome.stay_id is not None
    with counter.transaction() as session:
        assert not any("康复方案" in p for p in readiness(session, outcome.stay_id))
    with pytest.raises(WorkflowError, match="不是工伤康复住院"):
        record_rehab_plan(counter, wf_client, outcome.stay_id, "KF-X", "x", centre_today(), cashier,
                          today=centre_today())


def test_the_command_line_records_and_uploads_the_plan(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`wi-counter stays rehab-plan STAY_ID` (`000 §30`)."""
    from app.cli import main
    from tests.signed_in import password_on_stdin

    stay_id, _ = _rehab_stay(counter, wf_client, cashier)
    password_on_stdin(monkeypatch)
    code = main(["rehab-plan", str(stay_id), "--document-no", "KF-2026-003", "--summary", "运动疗法",
                 "--date", (centre_today() - dt.timedelta(days=0)).isoformat(), "--home",
                 str(tmp_path / "counter-home"), "--db", db_url, "--operator", "cashier", "--password-stdin"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "已上传" in out.out
    with counter.transaction() as session:
        assert not any("康复方案" in p for p in readiness(session, stay_id))

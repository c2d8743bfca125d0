"""更正 / 撤销入院登记 against the real sandbox centre over HTTP, on SQLite and PostgreSQL (issue 20 §3).

The defect: a registration with a wrong 入院日期 (what the README's demo led to: today's date for a
stay whose HIS lines start earlier) could not be settled — the centre refuses lines dated before the
admission (interface 2301, 3005) — and nothing could correct it. A reviewer now corrects it with a
reason, through the centre (2404 then 2401: a new 就医登记号) and the outbox, audited; or cancels
it (the wrong person), which frees the worker and the 住院号. Both are refused, saying what to do,
once lines went up or the stay was settled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import CentreError, Operation
from app.composition import open_workflow_centre
from app.db.models import AuditEvent, Diagnosis, DiagnosisRole, OutboxEntry, OutboxState, Stay, StayStatus, Worker
from app.errors import PermissionDenied
from app.operators import OperatorInfo
from app.workflow.admission import FilingRefused
from app.workflow.admission_correction import (
    RegistrationView,
    cancel_registration,
    correct_registration,
    registration_view,
)
from app.workflow.common import WorkflowError
from app.workflow.discharge import cancel_settlement, settle_stay, upload_lines
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    ZHANG_WEI_CARD,
    ZHOU_QIANG_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    centre_today,
    form,
)

WRONG_DAY = centre_today()  # the date the form offers (today), not the stay's
RIGHT_DAY = centre_today() - dt.timedelta(days=10)  # when the HIS lines start


@pytest.fixture
def review_client(counter: CounterContext, reviewer: OperatorInfo) -> Iterator[CentreClient]:
    client = open_workflow_centre(counter, reviewer)
    yield client
    client.close()


def _admitted(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, card: str = ZHANG_WEI_CARD,
              admission_no: str = "ZY-FIX-1", admitted: dt.date = WRONG_DAY) -> tuple[int, str]:
    _, outcome = admit_worker(ctx, client, actor, card, form(admission_no, admitted=admitted))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    return outcome.stay_id, outcome.registration_no


def _stay(ctx: CounterContext, stay_id: int) -> Stay:
    with ctx.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None
        session.expunge(stay)
        return stay


def _audit(ctx: CounterContext, action: str) -> list[AuditEvent]:
    with ctx.transaction() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        for event in events:
            session.expunge(event)
        return events


def _admitting(ctx: CounterContext, stay_id: int) -> list[tuple[str, bool]]:
    with ctx.transaction() as session:
        return [(d.code, d.injury) for d in session.scalars(select(Diagnosis).where(
            Diagnosis.stay_id == stay_id, Diagnosis.role == DiagnosisRole.ADMITTING).order_by(Diagnosis.seq))]


def test_a_wrong_admission_date_is_corrected_through_the_centre_and_the_stay_settles(
        counter: CounterContext, wf_client: CentreClient, review_client: CentreClient, cashier: OperatorInfo,
        reviewer: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id, old_number = _admitted(counter, wf_client, cashier)
    add_lines(counter, stay_id, cashier, 6, day=RIGHT_DAY)  # the HIS's lines: ten days before "today"
    # The defect: lines before the admission date can never be settled.
    with pytest.raises((CentreError, WorkflowError)):
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert sandbox.summary()["settlements"]["live"] == 0

    # A cashier may not correct it, nor anyone without a reason.
    with pytest.raises(PermissionDenied):
        correct_registration(counter, wf_client, stay_id, "入院日期录错", cashier, admitted_on=RIGHT_DAY)
    with pytest.raises(WorkflowError, match="原因"):
        correct_registration(counter, review_client, stay_id, "  ", reviewer, admitted_on=RIGHT_DAY)

    outcome = correct_registration(counter, review_client, stay_id, "入院日期录错，HIS 入院日期为十天前", reviewer,
                                   admitted_on=RIGHT_DAY, cashier=cashier)

    assert not outcome.offline and outcome.old_registration_no == old_number
    assert outcome.registration_no is not None and outcome.registration_no != old_number
    stay = _stay(counter, stay_id)
    assert stay.admitted_on == RIGHT_DAY and stay.registration_no == outcome.registration_no
    assert stay.status in (StayStatus.ADMITTED, StayStatus.PENDING_SETTLEMENT)
    assert _admitting(counter, stay_id) == [("S82.201", True), ("I10", False)]  # diagnoses kept
    # Through the centre: the old registration cancelled (2404), the corrected one registered (2401).
    assert sandbox.summary()["registrations"] == {"open": 1, "settled": 0, "cancelled": 1, "reversed": 0, "paid_in_full": 0}
    with counter.transaction() as session:
        calls = [(e.operation, e.state, e.operator_id) for e in session.scalars(
            select(OutboxEntry).where(OutboxEntry.stay_id == stay_id).order_by(OutboxEntry.id))
            if e.operation in (Operation.ADMISSION.value, Operation.ADMISSION_CANCEL.value)]
    assert calls == [(Operation.ADMISSION.value, OutboxState.SUCCEEDED, cashier.id),
                     (Operation.ADMISSION_CANCEL.value, OutboxState.SUCCEEDED, reviewer.id),
                     (Operation.ADMISSION.value, OutboxState.SUCCEEDED, reviewer.id)]
    corrected = _audit(counter, "registration_corrected")
    assert len(corrected) == 1 and corrected[0].operator_id == reviewer.id
    assert corrected[0].detail["reason"] == "入院日期录错，HIS 入院日期为十天前"
    assert corrected[0].detail["old_registration_no"] == old_number
    assert corrected[0].detail["change"]["admitted_on"] == [WRONG_DAY.isoformat(), RIGHT_DAY.isoformat()]
    assert corrected[0].detail["at_session_of"] == "cashier"
    assert _audit(counter, "admission_cancelled")[0].detail["registration_no"] == old_number

    settled = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert settled.settlement_id and sandbox.summary()["settlements"]["live"] == 1


def test_diagnoses_are_corrected_and_marked_against_the_recognition(
        counter: CounterContext, wf_client: CentreClient, review_client: CentreClient, cashier: OperatorInfo,
        reviewer: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id, _ = _admitted(counter, wf_client, cashier, admitted=RIGHT_DAY)
    outcome = correct_registration(counter, review_client, stay_id, "诊断录入错误", reviewer,
                                   diagnoses=(("s82.200", "胫骨骨折"), ("E11.900", "2型糖尿病")))
    assert outcome.registration_no is not None
    # The 3-character category of the recognised S82.201 is the injury (`003 §15`).
    assert _admitting(counter, stay_id) == [("S82.200", True), ("E11.900", False)]
    assert _stay(counter, stay_id).admitted_on == RIGHT_DAY
    with pytest.raises(WorkflowError, match="无须更正"):
        correct_registration(counter, review_client, stay_id, "再改一次", reviewer,
                             diagnoses=(("S82.200", "胫骨骨折"), ("E11.900", "2型糖尿病")))


def test_a_correction_the_filing_does_not_allow_changes_nothing(
        counter: CounterContext, wf_client: CentreClient, review_client: CentreClient, cashier: OperatorInfo,
        reviewer: OperatorInfo, sandbox: SandboxProcess) -> None:
    # 周强's filing runs from today-40 to today-5: an admission on today-2 is outside it (`003 §14`).
    stay_id, number = _admitted(counter, wf_client, cashier, ZHOU_QIANG_CARD, "ZY-FIX-ZQ",
                                admitted=centre_today() - dt.timedelta(days=10))
    with pytest.raises(FilingRefused) as refused:
        correct_registration(counter, review_client, stay_id, "日期核对", reviewer,
                             admitted_on=centre_today() - dt.timedelta(days=2))
    assert "原登记未改动" in refused.value.message and not refused.value.check.allowed
    assert _stay(counter, stay_id).registration_no == number
    assert sandbox.summary()["registrations"]["open"] == 1 and sandbox.summary()["registrations"]["cancelled"] == 0


def test_a_correction_the_centre_refuses_gives_the_old_registration_back(
        counter: CounterContext, wf_client: CentreClient, review_client: CentreClient, cashier: OperatorInfo,
        reviewer: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id, number = _admitted(counter, wf_client, cashier)
    sandbox.arm("error", "2401", err_code="3001")  # the centre judges the new registration otherwise
    with pytest.raises(WorkflowError, match=f"已恢复原登记（就医登记号 {number}）"):
        correct_registration(counter, review_client, stay_id, "入院日期录错", reviewer, admitted_on=RIGHT_DAY)
    stay = _stay(counter, stay_id)
    assert (stay.registration_no, stay.admitted_on, stay.status) == (number, WRONG_DAY, StayStatus.ADMITTED)
    # The 2404 was reversed (2601): the old registration is open again at the centre.
    assert sandbox.summary()["registrations"]["open"] == 1 and sandbox.summary()["registrations"]["cancelled"] == 0


def test_refused_once_lines_went_up_or_the_stay_was_settled(
        counter: CounterContext, wf_client: CentreClient, review_client: CentreClient, cashier: OperatorInfo,
        reviewer: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id, number = _admitted(counter, wf_client, cashier, admitted=RIGHT_DAY)
    add_lines(counter, stay_id, cashier, 3, day=RIGHT_DAY)
    upload_lines(counter, wf_client, stay_id, cashier)
    with pytest.raises(WorkflowError, match="请先撤销已上传的费用明细，或联系经办机构"):
        correct_registration(counter, review_client, stay_id, "入院日期录错", reviewer,
                             admitted_on=RIGHT_DAY - dt.timedelta(days=1))
    with pytest.raises(WorkflowError, match="已有 5 条费用明细上传"):
        cancel_registration(counter, review_client, stay_id, "登记错人", reviewer)

    settled = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    with pytest.raises(WorkflowError, match="请先由审核员在“出院结算”页撤销结算"):
        cancel_registration(counter, review_client, stay_id, "登记错人", reviewer)
    view = _view(counter, stay_id)
    assert view.blocker is not None and "撤销结算" in view.blocker
    cancel_settlement(counter, review_client, settled.settlement_id, reviewer, "登记错人")
    with pytest.raises(WorkflowError, match="撤销已上传的费用明细"):  # its lines are still at the centre
        cancel_registration(counter, review_client, stay_id, "登记错人", reviewer)
    assert _stay(counter, stay_id).registration_no == number
    assert sandbox.summary()["registrations"]["cancelled"] == 0


def _view(ctx: CounterContext, stay_id: int) -> RegistrationView:
    with ctx.transaction() as session:
        return registration_view(session, stay_id)


def test_the_wrong_person_is_cancelled_and_the_right_one_registered_with_the_same_admission_no(
        counter: CounterContext, wf_client: CentreClient, review_client: CentreClient, cashier: OperatorInfo,
        reviewer: OperatorInfo, sandbox: SandboxProcess) -> None:
    # 张伟 was registered under 周强's 住院号.
    wrong_stay, wrong_number = _admitted(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-ZQ-9", RIGHT_DAY)
    with pytest.raises(WorkflowError, match="已登记过"):
        _admitted(counter, wf_client, cashier, ZHOU_QIANG_CARD, "ZY-ZQ-9", RIGHT_DAY)

    view = cancel_registration(counter, review_client, wrong_stay, "登记错人：住院号 ZY-ZQ-9 为周强", reviewer,
                               cashier=cashier)

    assert view.status is StayStatus.CANCELLED and view.registration_no is None
    assert sandbox.summary()["registrations"] == {"open": 0, "settled": 0, "cancelled": 1, "reversed": 0, "paid_in_full": 0}
    cancelled = _audit(counter, "registration_cancelled")
    assert len(cancelled) == 1 and cancelled[0].operator_id == reviewer.id
    assert cancelled[0].detail["reason"] == "登记错人：住院号 ZY-ZQ-9 为周强"
    assert cancelled[0].detail["registration_no"] == wrong_number
    with pytest.raises(WorkflowError, match="已撤销"):
        cancel_registration(counter, review_client, wrong_stay, "再撤一次", reviewer)

    # The right person takes the 住院号; the wrong one is free to be registered again (another 住院号).
    right_stay, _ = _admitted(counter, wf_client, cashier, ZHOU_QIANG_CARD, "ZY-ZQ-9", RIGHT_DAY)
    again, _ = _admitted(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-ZW-10", RIGHT_DAY)
    assert right_stay == wrong_stay and again != wrong_stay
    with counter.transaction() as session:
        worker = session.scalars(select(Worker).join(Stay, Stay.worker_id == Worker.id)
                                 .where(Stay.id == right_stay)).one()
        assert worker.name == "周强"
    assert sandbox.summary()["registrations"] == {"open": 2, "settled": 0, "cancelled": 1, "reversed": 0, "paid_in_full": 0}
    assert len(_audit(counter, "stay_taken_over")) == 1


def test_the_command_line_signs_the_reviewer_in_and_corrects_then_cancels(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`wi-counter admission correct|cancel`: the reviewer's login *and* password (a claimed login alone,
    or a cashier's password, does nothing)."""
    from app.cli import main
    from tests.signed_in import password_on_stdin

    stay_id, old_number = _admitted(counter, wf_client, cashier)
    common = ["--home", str(tmp_path / "counter-home"), "--db", db_url]
    correct = ["admission", "correct", str(stay_id), "--admitted", RIGHT_DAY.isoformat(),
               "--diagnosis", "S82.201=胫骨干骨折", "--diagnosis", "I10=原发性高血压", "--reason", "入院日期录错"]

    assert main([*correct, *common, "--operator", "reviewer"]) == 1  # no password: nothing done
    assert "密码" in capsys.readouterr().err
    password_on_stdin(monkeypatch)
    assert main([*correct, *common, "--operator", "cashier", "--password-stdin"]) == 1  # not a reviewer
    capsys.readouterr()
    assert _stay(counter, stay_id).registration_no == old_number

    password_on_stdin(monkeypatch)
    assert main([*correct, *common, "--operator", "reviewer", "--password-stdin"]) == 0
    out = capsys.readouterr().out
    stay = _stay(counter, stay_id)
    assert stay.admitted_on == RIGHT_DAY and stay.registration_no != old_number
    assert f"新就医登记号 {stay.registration_no}" in out and old_number in out
    assert _audit(counter, "registration_corrected")[0].operator_id == reviewer.id

    assert main(["admission", "correct", str(stay_id), "--reason", "x", *common]) == 2  # nothing to correct
    capsys.readouterr()
    password_on_stdin(monkeypatch)
    assert main(["admission", "cancel", str(stay_id), "--reason", "登记错人", *common, "--operator", "reviewer",
                 "--password-stdin"]) == 0
    assert "已撤销" in capsys.readouterr().out
    assert _stay(counter, stay_id).status is StayStatus.CANCELLED
    assert sandbox.summary()["registrations"] == {"open": 0, "settled": 0, "cancelled": 2, "reversed": 0, "paid_in_full": 0}

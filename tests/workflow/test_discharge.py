"""Discharge (出院结算) against the real sandbox centre over HTTP, on SQLite and PostgreSQL.

The lines go up 100 a call, the filing is checked again at discharge settlement (`003 §14`,
`000 §30`; admitted within validity settles even if the filing expired since, `000 §12`), the
centre settles and the local settlement equals the centre's figures. A reviewer may cancel it
(a cashier may not), and the stay can be settled again.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import Operation
from app.db.models import (
    ChargeLine,
    FilingCheck,
    OutboxEntry,
    OutboxState,
    Settlement,
    SettlementKind,
    Stay,
    StayStatus,
)
from app.errors import PermissionDenied
from app.operators import OperatorInfo
from app.workflow.admission import FilingRefused
from app.workflow.common import WorkflowError
from app.workflow.discharge import cancel_settlement, readiness, settle_stay, upload_lines
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    WANG_XIULAN_CARD,
    ZHANG_WEI_CARD,
    ZHOU_QIANG_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    assert_matches_centre,
    centre_today,
    form,
)


def _admitted(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, card: str = ZHANG_WEI_CARD,
              admission_no: str = "ZY-D-1", **options: object) -> int:
    _, outcome = admit_worker(ctx, client, actor, card, form(admission_no, **options))  # type: ignore[arg-type]
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    return outcome.stay_id


def test_discharge_uploads_checks_again_and_settles(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id = _admitted(counter, wf_client, cashier)
    total = add_lines(counter, stay_id, cashier, 230)  # 232 lines: three upload calls of at most 100
    steps: list[tuple[str, int, int]] = []

    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today(),
                          progress=lambda step, done, of: steps.append((step, done, of)))

    assert outcome.total == total
    assert outcome.total == outcome.fund_total + outcome.personal_total
    # 46 illness lines (every 5th) 690.00, 8.00 line over the 0.50 limit: 3.00 over, 100.00 自费.
    assert outcome.personal_total == Decimal("690.00") + Decimal("3.00") + Decimal("100.00")
    assert ("upload", 232, 232) in steps and steps[-1] == ("settle", 1, 1)
    assert_matches_centre(counter, wf_client, outcome.settlement_id)
    with counter.transaction() as session:
        uploads = session.scalars(select(OutboxEntry).where(OutboxEntry.operation == Operation.FEE_UPLOAD.value)).all()
        # three calls, in flight together: written in whatever order their threads came
        assert sorted(len(e.request["lines"]) for e in uploads) == [32, 100, 100]
        assert session.scalar(select(func.count()).select_from(ChargeLine).where(
            ChargeLine.stay_id == stay_id, ChargeLine.uploaded_at.is_(None))) == 0
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status is StayStatus.SETTLED and stay.discharged_on == centre_today()
        discharge_checks = session.scalars(select(FilingCheck).where(
            FilingCheck.stay_id == stay_id, FilingCheck.stage == "discharge").order_by(FilingCheck.id)).all()
        # The counter's second check (`003 §14`), then the centre's verdict that came with the settlement.
        assert [(c.basis, c.allowed) for c in discharge_checks] == [("counter", True), ("centre", True)]
        assert discharge_checks[0].id == outcome.check.check_id
    summary = sandbox.summary()
    assert summary["settlements"]["live"] == 1 and summary["live_settlements_total"] == str(total)

    # Nothing to settle twice: the stay is settled.
    with pytest.raises(WorkflowError, match="已结算"):
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert sandbox.summary()["settlements"]["live"] == 1


def test_cancellation_by_a_reviewer_then_settled_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:
    stay_id = _admitted(counter, wf_client, cashier, admission_no="ZY-C-1")
    add_lines(counter, stay_id, cashier, 12)
    first = settle_stay(counter, wf_client, stay_id, cashier, centre_today())

    with pytest.raises(PermissionDenied):
        cancel_settlement(counter, wf_client, first.settlement_id, cashier, "收费有误")
    with pytest.raises(WorkflowError, match="原因"):
        cancel_settlement(counter, wf_client, first.settlement_id, reviewer, "  ")
    cancellation_id = cancel_settlement(counter, wf_client, first.settlement_id, reviewer, "收费有误，重新结算")

    with counter.transaction() as session:
        cancellation = session.get(Settlement, cancellation_id)
        assert cancellation is not None and cancellation.kind is SettlementKind.CANCELLATION
        assert cancellation.reverses_id == first.settlement_id and cancellation.reason == "收费有误，重新结算"
        assert cancellation.total == -first.total and cancellation.personal_total == -first.personal_total
        assert cancellation.centre_settlement_id.startswith("CX")
        assert cancellation.operator_id == reviewer.id
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status is StayStatus.PENDING_SETTLEMENT
    assert sandbox.summary()["settlements"] == {"live": 0, "cancelled": 1, "reversed": 0}
    with pytest.raises(WorkflowError, match="已经撤销"):
        cancel_settlement(counter, wf_client, first.settlement_id, reviewer, "再次撤销")

    # Settled again: a new settlement with the centre's new id.
    add_lines(counter, stay_id, cashier, 3, first_seq=100)
    second = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert second.settlement_id != first.settlement_id
    assert second.centre_settlement_id != first.centre_settlement_id
    assert second.total == first.total + Decimal("153.00")
    assert_matches_centre(counter, wf_client, second.settlement_id)
    assert sandbox.summary()["settlements"] == {"live": 1, "cancelled": 1, "reversed": 0}


def test_second_check_refuses_until_the_emergency_filing_is_back_filed(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    # Jilin emergency admission without a filing: at discharge the filing must have been completed,
    # else no direct settlement (`002 经办规程 §15`).
    stay_id = _admitted(counter, wf_client, cashier, WANG_XIULAN_CARD, "ZY-E-1", emergency=True,
                        admitted=centre_today() - dt.timedelta(days=3), diagnoses=(("S32.000", "腰椎骨折"),))
    add_lines(counter, stay_id, cashier, 5, injury_code="S32.000", illness_code="S32.000")

    with pytest.raises(FilingRefused) as refused:
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    check = refused.value.check
    assert not check.allowed and check.stage == "discharge"
    blocking = [r for r in check.reasons if r.blocking]
    assert [(r.code, r.source) for r in blocking] == [("EMERGENCY_BACKFILE_REQUIRED", "002 经办规程 §15")]
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.operation == Operation.SETTLEMENT.value)) == 0  # stopped before settling
        stored = session.get(FilingCheck, check.check_id)
        assert stored is not None and not stored.allowed and stored.stay_id == stay_id

    # The worker files online (back-filing); the second check now passes and the stay settles.
    today = centre_today()
    sandbox.admin("POST", "/admin/filings", {"social_security_number": "220102197801092349", "filing": {
        "id": "BA220100EMERGENCY01", "category": "referral", "care": ["medical"],
        "destination": {"province": "广东省", "city": "湛江市", "city_code": "440800", "institution_code": None},
        "approved_on": today.isoformat(), "valid_from": today.isoformat(),
        "valid_to": (today + dt.timedelta(days=180)).isoformat(), "status": "active", "terminated_on": None,
        "used_by_settlement": False, "filed_on": today.isoformat()}})
    outcome = settle_stay(counter, wf_client, stay_id, cashier, today)
    assert "EMERGENCY_BACKFILED" in [r.code for r in outcome.check.reasons]
    assert_matches_centre(counter, wf_client, outcome.settlement_id)


def test_admitted_within_validity_settles_after_the_filing_expired(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    # 周强's filing ran to today-5; admitted at today-20, within its validity: settles (`000 §12`).
    admitted = centre_today() - dt.timedelta(days=20)
    stay_id = _admitted(counter, wf_client, cashier, ZHOU_QIANG_CARD, "ZY-V-1", admitted=admitted,
                        diagnoses=(("S72.000", "股骨颈骨折"),))
    add_lines(counter, stay_id, cashier, 4, injury_code="S72.000", illness_code="S72.000")
    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    within = [r for r in outcome.check.reasons if r.code == "ADMITTED_WITHIN_VALIDITY"]
    assert len(within) == 1 and not within[0].blocking and within[0].source
    assert outcome.personal_total == Decimal("3.00") + Decimal("100.00")


def test_not_ready_stays_are_not_sent(counter: CounterContext, wf_client: CentreClient,
                                      cashier: OperatorInfo) -> None:
    stay_id = _admitted(counter, wf_client, cashier, admission_no="ZY-N-1")
    with counter.transaction() as session:
        assert any("没有费用明细" in p for p in readiness(session, stay_id))
    add_lines(counter, stay_id, cashier, 2)
    with counter.transaction() as session:
        session.add(ChargeLine(stay_id=stay_id, seq=50, his_code="HIS-UNKNOWN", code=None, name="未对照项目",
                               category=None, quantity=Decimal("1"), unit_price=Decimal("5.00"),
                               amount=Decimal("5.00"), charged_on=centre_today(), diagnosis_code="Z99.999",
                               source="manual", created_by=cashier.id))
    with pytest.raises(WorkflowError) as not_ready:
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    message = not_ready.value.message
    assert "未对照到目录编码" in message and "003 §27" in message
    assert "没有费用类别" in message and "未区分伤病" in message
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.operation == Operation.FEE_UPLOAD.value, OutboxEntry.state == OutboxState.SUCCEEDED)) == 0
    today = centre_today()
    with pytest.raises(WorkflowError, match="晚于今天"):
        settle_stay(counter, wf_client, stay_id, cashier, today + dt.timedelta(days=1))
    with pytest.raises(WorkflowError, match="早于入院日期"):
        settle_stay(counter, wf_client, stay_id, cashier, today - dt.timedelta(days=1))


def test_costs_after_discharge_are_not_the_stays(counter: CounterContext, wf_client: CentreClient,
                                                 cashier: OperatorInfo) -> None:
    # `003 §15`: costs after the discharge date are not settled with the stay.
    admitted = centre_today() - dt.timedelta(days=3)
    stay_id = _admitted(counter, wf_client, cashier, admission_no="ZY-L-1", admitted=admitted)
    add_lines(counter, stay_id, cashier, 3)  # dated today
    with pytest.raises(WorkflowError, match="晚于出院日期") as late:
        settle_stay(counter, wf_client, stay_id, cashier, admitted + dt.timedelta(days=1))
    assert "003 §15" in late.value.message
    with counter.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status is StayStatus.ADMITTED and stay.discharged_on is None


def test_a_line_changed_after_its_upload_is_cancelled_at_the_centre_then_sent_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    # 伤病分离 may be corrected after the lines went up (`003 §15`): the centre holds the old copy
    # and refuses the seq with other content, so it is cancelled there first (2302).
    stay_id = _admitted(counter, wf_client, cashier, admission_no="ZY-X-1")
    add_lines(counter, stay_id, cashier, 4)
    assert upload_lines(counter, wf_client, stay_id, cashier) == 6
    with counter.transaction() as session:
        line = session.scalars(select(ChargeLine).where(ChargeLine.stay_id == stay_id, ChargeLine.seq == 1)).one()
        assert line.uploaded_at is not None and line.centre_line_no == "1"
        # What the 伤病分离 service does to a line the centre holds: flag changed, marked for re-upload.
        line.injury = False
        line.injury_override_reason = "经核实为既往病"
        line.override_approved_by = cashier.id
        line.uploaded_at = None
    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    with counter.transaction() as session:
        cancel = session.scalars(select(OutboxEntry).where(
            OutboxEntry.operation == Operation.FEE_CANCEL.value)).one()
        assert cancel.state is OutboxState.SUCCEEDED and cancel.request["seqs"] == [1]
        line = session.scalars(select(ChargeLine).where(ChargeLine.stay_id == stay_id, ChargeLine.seq == 1)).one()
        assert line.uploaded_at is not None and line.centre_line_no == "1"
    assert_matches_centre(counter, wf_client, outcome.settlement_id)
    figures_by_seq = {i.seq: i for i in wf_client.centre.query_outcome(
        _settlement_msgid(counter, outcome.settlement_id), Operation.SETTLEMENT).result.items}
    assert figures_by_seq[1].bucket == "non_injury"
    assert sandbox.summary()["live_lines"] == 6


def _settlement_msgid(ctx: CounterContext, settlement_id: int) -> str:
    with ctx.transaction() as session:
        settlement = session.get(Settlement, settlement_id)
        assert settlement is not None
        return settlement.msgid

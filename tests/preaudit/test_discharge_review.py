"""The pre-audit at discharge (issue 10, part B): settling waits until every finding is fixed or
acknowledged with a reason, each acknowledgement is audited, a changed amount asks again, and the
discharge-criteria date drives `after_discharge_criteria` (`003 §15`). Against the real sandbox
centre, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.db.models import (
    AuditEvent,
    ChargeCategory,
    ChargeLine,
    ChargeSource,
    PreauditAcknowledgement,
    Role,
    Stay,
    StayStatus,
)
from app.errors import PermissionDenied
from app.operators import ROLE_PERMISSIONS, OperatorInfo, Permission
from app.workflow.common import WorkflowError
from app.workflow.discharge import issue_full_payment, settle_stay
from app.workflow.discharge_review import acknowledge, discharge_review, record_criteria_date
from app.workflow.stay_audit import audit_stay
from tests.preaudit.helpers import hits
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, add_lines, admit_worker, centre_today, form

CONSULTATION = "110200005"  # 住院诊查费: a per-day item of the sandbox catalogue (limit 20.00 a day)


def _stay(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, *, days_ago: int = 0) -> int:
    admitted = centre_today() - dt.timedelta(days=days_ago)
    _, outcome = admit_worker(ctx, client, actor, ZHANG_WEI_CARD, form("ZY-PA-1", admitted=admitted))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    return outcome.stay_id


def _consultation_twice(ctx: CounterContext, stay_id: int, actor: OperatorInfo, first_seq: int) -> None:
    """The ward round charged twice on one day: the agency pays one (003 §15)."""
    with ctx.transaction() as session:
        for seq in (first_seq, first_seq + 1):
            session.add(ChargeLine(stay_id=stay_id, seq=seq, his_code=CONSULTATION, code=CONSULTATION, name="住院诊查费",
                                   category=ChargeCategory.TREATMENT, quantity=Decimal("1"),
                                   unit_price=Decimal("20.00"), amount=Decimal("20.00"), charged_on=centre_today(),
                                   diagnosis_code="S82.201", source=ChargeSource.MANUAL, created_by=actor.id))


def _acknowledgements(ctx: CounterContext, stay_id: int) -> list[tuple[str, int, Decimal, str, int]]:
    with ctx.transaction() as session:
        return [(a.rule, a.seq, a.amount_at_risk, a.reason, a.operator_id) for a in session.scalars(
            select(PreauditAcknowledgement).where(PreauditAcknowledgement.stay_id == stay_id)
            .order_by(PreauditAcknowledgement.id))]


def _events(ctx: CounterContext, action: str) -> list[AuditEvent]:
    with ctx.transaction() as session:
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        session.expunge_all()
        return events


def test_settling_waits_until_each_finding_is_acknowledged_and_each_acknowledgement_is_audited(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    """003 §15 (a per-day item once a day), 003 §19/§20 (the agency audits and deducts)."""
    stay_id = _stay(counter, wf_client, cashier)
    add_lines(counter, stay_id, cashier, 3)  # seq 1-5: nothing the pre-audit flags
    _consultation_twice(counter, stay_id, cashier, 6)
    with counter.transaction() as session:
        review = discharge_review(session, stay_id)
    assert hits(review.findings) == [(7, "daily_limit", "20.00")]
    assert not review.ready and review.total_at_risk == Decimal("20.00")

    with pytest.raises(WorkflowError) as refused:
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert "序号 7" in refused.value.message and "¥20.00" in refused.value.message
    assert review.items[0].title in refused.value.message
    with counter.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status is StayStatus.ADMITTED and stay.discharged_on is None

    with pytest.raises(WorkflowError, match="请填写确认原因"):
        acknowledge(counter, stay_id, review.findings, "  ", cashier)
    assert _acknowledgements(counter, stay_id) == []

    assert acknowledge(counter, stay_id, review.findings, "已与护士站核实：上午下午两次查房", cashier) == 1
    assert _acknowledgements(counter, stay_id) == [
        ("daily_limit", 7, Decimal("20.00"), "已与护士站核实：上午下午两次查房", cashier.id)]
    [event] = _events(counter, "preaudit_acknowledged")
    assert (event.operator_id, event.entity_type, event.entity_id) == (cashier.id, "stay", str(stay_id))
    assert event.detail == {"rule": "daily_limit", "seq": 7, "amount_at_risk": "20.00", "source": "003 §15",
                            "reason": "已与护士站核实：上午下午两次查房"}
    with counter.transaction() as session:
        [item] = discharge_review(session, stay_id).items
    assert item.acknowledgement is not None and item.acknowledgement.operator_name == "张收款"

    # Acknowledging again records nothing new.
    assert acknowledge(counter, stay_id, review.findings, "再次确认", cashier) == 0
    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert outcome.total == outcome.fund_total + outcome.personal_total


def test_a_changed_amount_asks_again(counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    """An acknowledgement holds for the same rule, line and amount: a line corrected since asks again."""
    stay_id = _stay(counter, wf_client, cashier)
    add_lines(counter, stay_id, cashier, 3)
    _consultation_twice(counter, stay_id, cashier, 6)
    with counter.transaction() as session:
        findings = discharge_review(session, stay_id).findings
    acknowledge(counter, stay_id, findings, "医生已确认", cashier)
    with counter.transaction() as session:
        assert discharge_review(session, stay_id).ready
        line = session.scalars(select(ChargeLine).where(ChargeLine.stay_id == stay_id, ChargeLine.seq == 7)).one()
        line.quantity, line.amount = Decimal("2"), Decimal("40.00")
    with counter.transaction() as session:
        review = discharge_review(session, stay_id)
    assert hits(review.findings) != hits(findings) and not review.ready
    with pytest.raises(WorkflowError, match="序号 7"):
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())

    # The clerk's screen still shows the old amount: nothing is recorded, the clerk looks again.
    with pytest.raises(WorkflowError, match="预审结果已变化"):
        acknowledge(counter, stay_id, findings, "医生已确认", cashier)
    assert len(_acknowledgements(counter, stay_id)) == 1


def test_the_criteria_date_drives_after_discharge_criteria(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    """003 §15: costs after the day the patient met the discharge criteria are the agency's to deduct."""
    stay_id = _stay(counter, wf_client, cashier, days_ago=3)
    add_lines(counter, stay_id, cashier, 3)  # dated today
    with counter.transaction() as session:
        assert audit_stay(session, stay_id) == []
    met_on = centre_today() - dt.timedelta(days=1)
    record_criteria_date(counter, stay_id, met_on, cashier)
    with counter.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.discharge_criteria_met_on == met_on
        criteria = hits(audit_stay(session, stay_id), "after_discharge_criteria")
        # An explicit date still wins over the recorded one.
        assert audit_stay(session, stay_id, criteria_met_on=centre_today()) == []
    # Their fund parts: the three drug lines, the 8.00 line at its 0.50 limit; the 自费 line 5 has none.
    assert criteria == [(1, "after_discharge_criteria", "15.00"), (2, "after_discharge_criteria", "15.00"),
                        (3, "after_discharge_criteria", "15.00"), (4, "after_discharge_criteria", "5.00")]
    [event] = _events(counter, "discharge_criteria_recorded")
    assert event.detail == {"before": None, "after": met_on.isoformat()}

    with pytest.raises(WorkflowError, match="早于入院日期"):
        record_criteria_date(counter, stay_id, centre_today() - dt.timedelta(days=10), cashier)
    record_criteria_date(counter, stay_id, None, cashier)
    with counter.transaction() as session:
        assert hits(audit_stay(session, stay_id), "after_discharge_criteria") == []


def test_a_role_without_the_permission_may_not_acknowledge(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert cashier.can(Permission.ACKNOWLEDGE_PREAUDIT)  # cashiers settle, so they acknowledge
    stay_id = _stay(counter, wf_client, cashier)
    add_lines(counter, stay_id, cashier, 3)
    _consultation_twice(counter, stay_id, cashier, 6)
    with counter.transaction() as session:
        findings = discharge_review(session, stay_id).findings
    # A site that keeps the acknowledgement for its reviewers (the role table is the one place to say so).
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.CASHIER,
                        ROLE_PERMISSIONS[Role.CASHIER] - {Permission.ACKNOWLEDGE_PREAUDIT})
    with pytest.raises(PermissionDenied, match="确认预审提示"):
        acknowledge(counter, stay_id, findings, "医生已确认", cashier)
    assert _acknowledgements(counter, stay_id) == [] and _events(counter, "preaudit_acknowledged") == []
    assert acknowledge(counter, stay_id, findings, "医生已确认", reviewer) == 1


def test_a_full_payment_receipt_waits_for_the_acknowledgement_too(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo) -> None:
    """全额垫付 when the centre is down (003 §17) is a discharge as well: the same findings, the same rule."""
    stay_id = _stay(counter, wf_client, cashier)
    add_lines(counter, stay_id, cashier, 3)
    _consultation_twice(counter, stay_id, cashier, 6)
    with pytest.raises(WorkflowError, match="序号 7"):
        issue_full_payment(counter, stay_id, cashier, centre_today())
    with counter.transaction() as session:
        findings = discharge_review(session, stay_id).findings
    acknowledge(counter, stay_id, findings, "医生已确认", cashier)
    assert issue_full_payment(counter, stay_id, cashier, centre_today()) > 0

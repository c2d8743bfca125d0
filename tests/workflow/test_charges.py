"""Charge lines by hand (issue 6 item 2): added, corrected (only before upload), refunded (never beyond what is
left), the patient told of items outside the catalogue (`003 §15`) — each change audited with before/after."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from app.db.models import ChargeCategory, ChargeLine, ChargeSource, Role, Stay, StayStatus, utc_now
from app.errors import PermissionDenied
from app.operators import ROLE_PERMISSIONS, OperatorInfo, Permission
from app.workflow.charges import add_line, correct_line, mark_informed, refund_line
from app.workflow.common import WorkflowError
from tests.workflow.charge_helpers import (  # noqa: F401 - fixtures
    COUNTER,
    audit_events,
    clerk,
    lines_of,
    session,
    stay,
)

DAY = dt.date(2026, 11, 3)


def _add(session: Session, clerk: OperatorInfo, stay: Stay, **overrides: object) -> int:
    values: dict[str, object] = dict(his_code="XJ01DB04", name="注射用头孢唑林钠", category=None,
                                     quantity=Decimal("3"), unit_price=Decimal("4.8000"), charged_on=DAY,
                                     dept="骨科", diagnosis_code="S82.201", reason="HIS 漏传")
    values.update(overrides)
    return add_line(session, clerk, COUNTER, stay.id, **values)  # type: ignore[arg-type]


def test_add_line_matches_the_code_computes_the_amount_and_is_audited(session: Session, stay: Stay,
                                                                       clerk: OperatorInfo) -> None:
    first = _add(session, clerk, stay)
    second = _add(session, clerk, stay, his_code="HZ-9003", name="陪护床租用", category=ChargeCategory.TREATMENT,
                  quantity=Decimal("1.5"), unit_price=Decimal("10.333"))
    lines = lines_of(session, stay)
    assert [(line.id, line.seq, line.code, line.category, line.amount, line.source) for line in lines] == [
        (first, 1, "XJ01DB04", ChargeCategory.DRUG, Decimal("14.40"), ChargeSource.MANUAL),
        (second, 2, None, ChargeCategory.TREATMENT, Decimal("15.50"), ChargeSource.MANUAL),  # 15.4995 → 15.50
    ]
    events = audit_events(session, "charge_line_added")
    assert [e.entity_id for e in events] == [str(first), str(second)]
    assert events[0].detail["reason"] == "HIS 漏传" and events[0].detail["after"]["amount"] == "14.40"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"quantity": Decimal("0")}, "数量应大于 0"),
    ({"quantity": Decimal("-1")}, "退费"),
    ({"unit_price": Decimal("-1")}, "单价不能为负"),
    ({"quantity": Decimal("1.00001")}, "最多 4 位小数"),
    ({"his_code": " "}, "项目编码"),
    ({"name": ""}, "项目名称"),
])
def test_add_line_refuses_bad_values(session: Session, stay: Stay, clerk: OperatorInfo,
                                     overrides: dict[str, object], message: str) -> None:
    with pytest.raises(WorkflowError, match=message):
        _add(session, clerk, stay, **overrides)
    assert lines_of(session, stay) == []


def test_correct_line_before_upload_audits_before_and_after(session: Session, stay: Stay,
                                                            clerk: OperatorInfo) -> None:
    line_id = _add(session, clerk, stay)
    with pytest.raises(WorkflowError, match="原因"):
        correct_line(session, clerk, COUNTER, line_id, reason=" ", quantity=Decimal("2"))
    with pytest.raises(WorkflowError, match="不能更正的字段"):
        correct_line(session, clerk, COUNTER, line_id, reason="x", amount=Decimal("1"))
    correct_line(session, clerk, COUNTER, line_id, reason="数量录错", quantity=Decimal("2"), his_code="XJ01DC02",
                 name="注射用头孢呋辛钠", unit_price=Decimal("8.5"))
    line = lines_of(session, stay)[0]
    assert (line.quantity, line.amount, line.code, line.name) == (Decimal("2"), Decimal("17.00"), "XJ01DC02",
                                                                  "注射用头孢呋辛钠")
    event = audit_events(session, "charge_line_corrected")[0]
    assert event.detail["reason"] == "数量录错"
    assert event.detail["before"] == {"his_code": "XJ01DB04", "code": "XJ01DB04", "name": "注射用头孢唑林钠",
                                      "quantity": "3.0000", "unit_price": "4.8000", "amount": "14.40"}
    assert event.detail["after"] == {"his_code": "XJ01DC02", "code": "XJ01DC02", "name": "注射用头孢呋辛钠",
                                     "quantity": "2.0000", "unit_price": "8.5000", "amount": "17.00"}


def test_a_line_uploaded_to_the_centre_is_not_corrected_but_refunded(session: Session, stay: Stay,
                                                                     clerk: OperatorInfo) -> None:
    line_id = _add(session, clerk, stay, quantity=Decimal("5"))
    line = session.get(ChargeLine, line_id)
    assert line is not None
    line.uploaded_at = utc_now()
    session.flush()
    with pytest.raises(WorkflowError, match="已上传.*退费"):
        correct_line(session, clerk, COUNTER, line_id, reason="数量录错", quantity=Decimal("4"))
    assert audit_events(session, "charge_line_corrected") == []

    first = refund_line(session, clerk, COUNTER, line_id, quantity=Decimal("2"), reason="停药退药", charged_on=DAY)
    with pytest.raises(WorkflowError, match="超过可退数量 3"):
        refund_line(session, clerk, COUNTER, line_id, quantity=Decimal("4"), reason="退药", charged_on=DAY)
    with pytest.raises(WorkflowError, match="本身是退费行"):
        refund_line(session, clerk, COUNTER, first, quantity=Decimal("1"), reason="退药", charged_on=DAY)
    with pytest.raises(WorkflowError, match="原因"):
        refund_line(session, clerk, COUNTER, line_id, quantity=Decimal("1"), reason="", charged_on=DAY)
    second = refund_line(session, clerk, COUNTER, line_id, quantity=Decimal("3"), reason="出院退药", charged_on=DAY)
    lines = {line.id: line for line in lines_of(session, stay)}
    assert [(lines[i].quantity, lines[i].amount, lines[i].refund_of_id, lines[i].seq) for i in (first, second)] == [
        (Decimal("-2"), Decimal("-9.60"), line_id, 2), (Decimal("-3"), Decimal("-14.40"), line_id, 3)]
    assert sum(line.amount for line in lines.values()) == Decimal("0.00")
    events = audit_events(session, "charge_line_refunded")
    assert [(e.entity_id, e.detail["refund_of"], e.detail["reason"]) for e in events] == [
        (str(first), line_id, "停药退药"), (str(second), line_id, "出院退药")]
    # Fully refunded: nothing left to refund; a refund line may be corrected only within what is left.
    with pytest.raises(WorkflowError, match="超过可退数量 0"):
        refund_line(session, clerk, COUNTER, line_id, quantity=Decimal("1"), reason="退药", charged_on=DAY)


def test_corrections_keep_refunds_consistent(session: Session, stay: Stay, clerk: OperatorInfo) -> None:
    line_id = _add(session, clerk, stay, quantity=Decimal("5"))
    refund = refund_line(session, clerk, COUNTER, line_id, quantity=Decimal("2"), reason="退药", charged_on=DAY)
    with pytest.raises(WorkflowError, match="已退 2"):
        correct_line(session, clerk, COUNTER, line_id, reason="改数量", quantity=Decimal("1"))
    with pytest.raises(WorkflowError, match="超过原明细"):
        correct_line(session, clerk, COUNTER, refund, reason="改退费数量", quantity=Decimal("-6"))
    with pytest.raises(WorkflowError, match="应为负数"):
        correct_line(session, clerk, COUNTER, refund, reason="改退费数量", quantity=Decimal("1"))
    correct_line(session, clerk, COUNTER, refund, reason="改退费数量", quantity=Decimal("-5"))
    assert lines_of(session, stay)[1].amount == Decimal("-24.00")


def test_a_settled_stay_is_closed_to_changes(session: Session, stay: Stay, clerk: OperatorInfo) -> None:
    line_id = _add(session, clerk, stay)
    stay.status = StayStatus.SETTLED
    session.flush()
    for attempt in (lambda: _add(session, clerk, stay),
                    lambda: correct_line(session, clerk, COUNTER, line_id, reason="x", quantity=Decimal("1")),
                    lambda: refund_line(session, clerk, COUNTER, line_id, quantity=Decimal("1"), reason="x",
                                        charged_on=DAY),
                    lambda: mark_informed(session, clerk, COUNTER, [line_id])):
        with pytest.raises(WorkflowError, match="已结算"):
            attempt()


def test_patient_informed_of_items_outside_the_catalogue(session: Session, stay: Stay, clerk: OperatorInfo) -> None:
    """`003 §15`: items outside the catalogue need the patient told first; the clerk ticks it, audited."""
    outside = _add(session, clerk, stay, his_code="HZ-9001", name="院内制剂 消肿膏", category=ChargeCategory.DRUG)
    other = _add(session, clerk, stay, his_code="HZ-9002", name="一次性护理包（院内）",
                 category=ChargeCategory.CONSUMABLE)
    assert mark_informed(session, clerk, COUNTER, [outside, other]) == 2
    assert mark_informed(session, clerk, COUNTER, [outside]) == 0  # already
    assert mark_informed(session, clerk, COUNTER, [other], informed=False) == 1
    assert [line.patient_informed for line in lines_of(session, stay)] == [True, False]
    events = audit_events(session, "charge_patient_informed") + audit_events(session, "charge_patient_informed_cleared")
    assert [e.detail["changed"] for e in events] == [2, 0, 1]


def test_a_role_without_import_charges_changes_nothing(session: Session, stay: Stay, clerk: OperatorInfo,
                                                      monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    line_id = _add(session, clerk, stay)
    monkeypatch.setitem(ROLE_PERMISSIONS, Role.CASHIER, ROLE_PERMISSIONS[Role.CASHIER] - {Permission.IMPORT_CHARGES})
    for attempt in (lambda: _add(session, clerk, stay),
                    lambda: correct_line(session, clerk, COUNTER, line_id, reason="x", quantity=Decimal("1")),
                    lambda: refund_line(session, clerk, COUNTER, line_id, quantity=Decimal("1"), reason="x",
                                        charged_on=DAY),
                    lambda: mark_informed(session, clerk, COUNTER, [line_id])):
        with pytest.raises(PermissionDenied, match="导入费用"):
            attempt()
    assert len(lines_of(session, stay)) == 1

"""Charge lines by hand: added, corrected, refunded, patient informed — each change audited.

A line already uploaded to the centre (or in a settled stay) is never edited: it is
refunded by a new line with a negative quantity that names it (`refund_of`), so what
the centre has and what the counter has stay the same story.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from app import audit
from app.db.models import ChargeCategory, ChargeLine, ChargeSource, Stay
from app.operators import OperatorInfo, Permission, require
from app.workflow.catalogue import catalogue_categories
from app.workflow.code_map import match_codes
from app.workflow.common import WorkflowError
from app.workflow.his_import import FEN, next_seq, open_stay

# What a correction may change, with the clerk's words for it.
CORRECTABLE = {
    "his_code": "项目编码",
    "name": "项目名称",
    "category": "费用类别",
    "quantity": "数量",
    "unit_price": "单价",
    "charged_on": "费用日期",
    "dept": "开单科室",
    "order_group": "医嘱组号",
    "diagnosis_code": "诊断编码",
}
TEXT_LIMITS = {"his_code": 64, "name": 128, "dept": 64, "order_group": 64, "diagnosis_code": 16}


def amount_of(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return (quantity * unit_price).quantize(FEN, ROUND_HALF_UP)


def _check_places(value: Decimal, places: int, label: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise WorkflowError(f"{label}应为数字。")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise WorkflowError(f"{label} {value} 最多 {places} 位小数。")


def _check_text(field: str, value: str | None, required: bool) -> str | None:
    label = CORRECTABLE[field]
    text = (value or "").strip()
    if not text:
        if required:
            raise WorkflowError(f"请填写{label}。")
        return None
    if len(text) > TEXT_LIMITS[field]:
        raise WorkflowError(f"{label}超过 {TEXT_LIMITS[field]} 个字。")
    return text


def _snapshot(line: ChargeLine) -> dict[str, Any]:
    return {"seq": line.seq, "his_code": line.his_code, "code": line.code, "name": line.name,
            "category": line.category.value if line.category else None, "quantity": f"{line.quantity:.4f}",
            "unit_price": f"{line.unit_price:.4f}", "amount": f"{line.amount:.2f}", "charged_on": line.charged_on.isoformat(),
            "dept": line.dept, "order_group": line.order_group, "diagnosis_code": line.diagnosis_code,
            "refund_of_id": line.refund_of_id, "patient_informed": line.patient_informed}


def _catalogue_code_and_category(session: Session, his_code: str,
                                 category: ChargeCategory | None) -> tuple[str | None, ChargeCategory | None]:
    code = match_codes(session, [his_code])[his_code].catalogue_code
    if category is None and code is not None:
        category = catalogue_categories(session, [code]).get(code)
    return code, category


def add_line(session: Session, actor: OperatorInfo, counter_name: str, stay_id: int, *, his_code: str, name: str,
             category: ChargeCategory | None, quantity: Decimal, unit_price: Decimal, charged_on: dt.date,
             dept: str | None = None, diagnosis_code: str | None = None, reason: str = "") -> int:
    """A line the HIS export lacks, entered by hand; returns its charge_line id."""
    require(actor, Permission.IMPORT_CHARGES)
    stay = open_stay(session, stay_id, "添加费用", lock=True)
    code_text = _check_text("his_code", his_code, required=True)
    name_text = _check_text("name", name, required=True)
    assert code_text is not None and name_text is not None
    _check_places(quantity, 4, "数量")
    _check_places(unit_price, 4, "单价")
    if quantity <= 0:
        raise WorkflowError("数量应大于 0（退费请用“退费”）。")
    if unit_price < 0:
        raise WorkflowError("单价不能为负。")
    _check_manual_entry(stay, reason, diagnosis_code, charged_on)
    code, category = _catalogue_code_and_category(session, code_text, category)
    line = ChargeLine(stay_id=stay.id, seq=next_seq(session, stay.id), his_code=code_text, code=code, name=name_text,
                      category=category, quantity=quantity, unit_price=unit_price,
                      amount=amount_of(quantity, unit_price), charged_on=charged_on,
                      dept=_check_text("dept", dept, required=False),
                      diagnosis_code=_check_text("diagnosis_code", diagnosis_code, required=False),
                      source=ChargeSource.MANUAL, created_by=actor.id)
    session.add(line)
    session.flush()
    audit.record(session, "charge_line_added", operator_id=actor.id, counter_name=counter_name,
                 entity_type="charge_line", entity_id=line.id,
                 detail={"stay_id": stay.id, "reason": reason.strip() or None, "after": _snapshot(line)})
    return line.id


def _check_manual_entry(stay: Stay, reason: str, diagnosis_code: str | None, charged_on: dt.date) -> None:
    """A line entered by hand says why, follows a diagnosis (伤病分离 needs one, 003 §15) and is
    not dated before the admission (issue 20 §11: all three used to go through)."""
    if not reason.strip():
        raise WorkflowError("手工录入须填写理由（为什么医院信息系统没有这条明细），理由记入审计。")
    if not (diagnosis_code or "").strip():
        raise WorkflowError("手工录入须选择关联诊断：伤病分离按诊断判断这条明细是否属于工伤。")
    if charged_on < stay.admitted_on:
        raise WorkflowError(f"费用日期 {charged_on.isoformat()} 早于入院日期 {stay.admitted_on.isoformat()}："
                            "请核对费用日期，或先更正入院日期。")


def _line(session: Session, line_id: int) -> ChargeLine:
    line = session.get(ChargeLine, line_id)
    if line is None:
        raise WorkflowError(f"没有编号为 {line_id} 的费用明细。")
    return line


def _refunded_quantity(session: Session, line_id: int) -> Decimal:
    """How much of the line has been refunded (a positive number)."""
    total = session.scalar(select(func.sum(ChargeLine.quantity)).where(ChargeLine.refund_of_id == line_id))
    return -(total or Decimal(0))


def correct_line(session: Session, actor: OperatorInfo, counter_name: str, line_id: int, *, reason: str,
                 **changes: Any) -> None:
    """Correct a line not yet uploaded to the centre and not settled; audited with before and after."""
    require(actor, Permission.IMPORT_CHARGES)
    if not reason.strip():
        raise WorkflowError("更正费用明细须填写原因。")
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown:
        raise WorkflowError(f"不能更正的字段：{', '.join(unknown)}（可更正：{'、'.join(CORRECTABLE.values())}）。")
    if not changes:
        raise WorkflowError("没有要更正的内容。")
    line = _line(session, line_id)
    open_stay(session, line.stay_id, "更正费用")
    if line.uploaded_at is not None:
        raise WorkflowError(f"第 {line.seq} 条明细已上传结算中心，不能更正：请用退费冲减后另行添加。")
    before = _snapshot(line)
    if "his_code" in changes:
        text = _check_text("his_code", changes["his_code"], required=True)
        assert text is not None
        line.his_code = text
        line.code = match_codes(session, [text])[text].catalogue_code
    if "name" in changes:
        text = _check_text("name", changes["name"], required=True)
        assert text is not None
        line.name = text
    for field in ("dept", "order_group", "diagnosis_code"):
        if field in changes:
            setattr(line, field, _check_text(field, changes[field], required=False))
    if "category" in changes:
        category = changes["category"]
        if category is not None and not isinstance(category, ChargeCategory):
            try:
                category = ChargeCategory(category)
            except ValueError:
                raise WorkflowError(f"费用类别“{category}”未知。") from None
        line.category = category
    if line.category is None and line.code is not None:
        line.category = catalogue_categories(session, [line.code]).get(line.code)
    if "charged_on" in changes:
        if not isinstance(changes["charged_on"], dt.date):
            raise WorkflowError("费用日期应为日期。")
        line.charged_on = changes["charged_on"]
    quantity = changes.get("quantity", line.quantity)
    unit_price = changes.get("unit_price", line.unit_price)
    _check_places(quantity, 4, "数量")
    _check_places(unit_price, 4, "单价")
    if unit_price < 0:
        raise WorkflowError("单价不能为负。")
    if line.refund_of_id is not None:
        if quantity >= 0:
            raise WorkflowError("退费行的数量应为负数。")
        original = _line(session, line.refund_of_id)
        others = _refunded_quantity(session, original.id) + line.quantity  # without this line's own
        if others - quantity > original.quantity:
            raise WorkflowError(f"退费数量合计将超过原明细（第 {original.seq} 条）的数量 {original.quantity.normalize():f}。")
    else:
        if quantity <= 0:
            raise WorkflowError("数量应大于 0（退费请用“退费”）。")
        refunded = _refunded_quantity(session, line.id)
        if quantity < refunded:
            raise WorkflowError(f"该明细已退 {refunded.normalize():f}，数量不能改得更少。")
    line.quantity = quantity
    line.unit_price = unit_price
    line.amount = amount_of(quantity, unit_price)
    session.flush()
    after = _snapshot(line)
    audit.record(session, "charge_line_corrected", operator_id=actor.id, counter_name=counter_name,
                 entity_type="charge_line", entity_id=line.id,
                 detail={"stay_id": line.stay_id, "reason": reason.strip(),
                         "before": {k: v for k, v in before.items() if after[k] != v},
                         "after": {k: v for k, v in after.items() if before[k] != v}})


def refund_line(session: Session, actor: OperatorInfo, counter_name: str, line_id: int, *, quantity: Decimal,
                reason: str, charged_on: dt.date) -> int:
    """Refund part or all of a line: a new line with negative quantity naming it; returns the new line's id."""
    require(actor, Permission.IMPORT_CHARGES)
    if not reason.strip():
        raise WorkflowError("退费须填写原因。")
    original = _line(session, line_id)
    open_stay(session, original.stay_id, "退费", lock=True)
    if original.refund_of_id is not None:
        raise WorkflowError(f"第 {original.seq} 条本身是退费行，不能再退。")
    _check_places(quantity, 4, "退费数量")
    if quantity <= 0:
        raise WorkflowError("退费数量应大于 0。")
    left = original.quantity - _refunded_quantity(session, original.id)
    if quantity > left:
        raise WorkflowError(f"退费数量 {quantity.normalize():f} 超过可退数量 {left.normalize():f}"
                            f"（第 {original.seq} 条原数量 {original.quantity.normalize():f}）。")
    refund = ChargeLine(stay_id=original.stay_id, seq=next_seq(session, original.stay_id), his_code=original.his_code,
                        code=original.code, name=original.name, category=original.category, quantity=-quantity,
                        unit_price=original.unit_price, amount=amount_of(-quantity, original.unit_price),
                        charged_on=charged_on, diagnosis_code=original.diagnosis_code, injury=original.injury,
                        refund_of_id=original.id, dept=original.dept, order_group=original.order_group,
                        source=ChargeSource.MANUAL, created_by=actor.id)
    session.add(refund)
    session.flush()
    audit.record(session, "charge_line_refunded", operator_id=actor.id, counter_name=counter_name,
                 entity_type="charge_line", entity_id=refund.id,
                 detail={"stay_id": original.stay_id, "reason": reason.strip(), "refund_of": original.id,
                         "refund_of_seq": original.seq, "after": _snapshot(refund)})
    return refund.id


def mark_informed(session: Session, actor: OperatorInfo, counter_name: str, line_ids: Sequence[int],
                  informed: bool = True) -> int:
    """Record that the patient was told of items outside the catalogue (告知义务, `003 §15`); returns lines changed."""
    require(actor, Permission.IMPORT_CHARGES)
    ids = sorted(set(line_ids))
    if not ids:
        return 0
    stays = set(session.scalars(select(ChargeLine.stay_id).where(ChargeLine.id.in_(ids))))
    for stay_id in stays:
        open_stay(session, stay_id, "修改告知标记")
    changed = cast(CursorResult[Any], session.execute(
        update(ChargeLine).where(ChargeLine.id.in_(ids), ChargeLine.patient_informed != informed)
        .values(patient_informed=informed).execution_options(synchronize_session="fetch"))).rowcount
    audit.record(session, "charge_patient_informed" if informed else "charge_patient_informed_cleared",
                 operator_id=actor.id, counter_name=counter_name, entity_type="stay",
                 entity_id=next(iter(stays)) if len(stays) == 1 else None,
                 detail={"line_ids": ids, "informed": informed, "changed": changed})
    return int(changed or 0)

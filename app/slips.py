"""The settlement slip's content (`003 附表3` and its kind; `004 附件6`'s fields for the cross-province slip), without Qt or PDF.

`SlipData` is every field a slip prints, money as `Decimal`. It is built either from a
case file and its computed settlement (the preview, `wi-counter settle --slip`) or from
a stored settlement (settlement → stay → worker, institution). The PDF templates in
`printing/` lay it out with their own title and printed notes, so every region's slip
prints the same facts.

This module also keeps the slip's paper trail:
- `record_settlement` / `record_cancellation` store a settlement immutably with its
  matrix cells and lines (the discharge workflow calls them; a cancellation is a new row);
- `next_mark` says what the next print of a settlement is (原件, 补打 n, 已撤销) and
  `log_print` records each print (who, when, which printer, where it is archived);
- `archive_file_name` / `archive_slip`: every issued slip is kept as a PDF.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import cast

from sqlalchemy import BigInteger, Table, bindparam, event, func, insert, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import audit
from app.centre.wire import CHINA_TZ
from app.business_date import business_today
from app.crashpoints import crash_point
from app.db.models import (
    Bucket,
    ChargeCategory,
    ChargeLine,
    Diagnosis,
    DiagnosisRole,
    Filing,
    Institution,
    Operator,
    PrintKind,
    PrintLog,
    Settlement,
    SettlementKind,
    SettlementLine,
    SettlementMatrixCell,
    Stay,
    StayStatus,
    Worker,
)
from app.db.types import ScaledDecimal
from app.errors import WiCounterError
from app.idnumber import birth_date
from app.masking import mask_id_number
from app.operators import OperatorInfo, Permission, require
from app.rules.case import CATEGORIES, Case, place_name, round_money
from app.rules.profiles import load_profile
from app.rules.settlement import BUCKET_LABELS, BUCKETS, CATEGORY_LABELS, FUND, SettlementResult

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")

# Paper choices for the slip (setting slip.paper). A4: both copies on one sheet, one above
# the other with a cut line; A5 横向: one copy per sheet. The slip itself is A5 landscape.
PAPER_A4 = "A4"
PAPER_A5_LANDSCAPE = "A5横向"
PAPERS = (PAPER_A4, PAPER_A5_LANDSCAPE)

# 待遇类别 / 业务类别 when the centre did not return them: the sample slip prints
# 医疗康复住院 / 工伤住院 for an inpatient stay (`003 附表3`). A stored settlement
# prints what the centre returned.
_BENEFIT_BY_CARE = {"medical": "医疗康复住院", "rehab": "医疗康复住院", "device": "辅助器具配置"}
_BUSINESS_BY_CARE = {"medical": "工伤住院", "rehab": "工伤住院", "device": "辅助器具配置"}

# The cross-province slip's fund line when the centre names no fund of its own: the work-injury
# fund is the one fund that pays (`004 附件6` prints each fund under the name the insured place returns).
WORK_INJURY_FUND = "工伤保险基金"

# 入院方式 in the words of the 病案首页's 入院途径: an emergency mark, a referral filing (转诊转院), else 门诊.
ADMISSION_EMERGENCY = "急诊"
ADMISSION_REFERRAL = "其他医疗机构转入"
ADMISSION_OUTPATIENT = "门诊"


class SlipError(WiCounterError):
    """A slip cannot be produced or logged (unknown settlement, inconsistent amounts...)."""


class MarkKind(enum.StrEnum):
    PREVIEW = "preview"  # from a case file: not a slip anyone may sign
    ORIGINAL = "original"
    REPRINT = "reprint"  # 补打
    CANCELLED = "cancelled"  # the settlement was cancelled: 已撤销


@dataclass(frozen=True)
class SlipMark:
    """What this print of a slip is; printed on both copies."""

    kind: MarkKind
    reprint_no: int = 0  # prints of this settlement before this one

    @property
    def label(self) -> str:
        if self.kind is MarkKind.PREVIEW:
            return "预结算（非正式结算单）"
        if self.kind is MarkKind.REPRINT:
            return f"补打（第 {self.reprint_no} 次）"
        if self.kind is MarkKind.CANCELLED:
            return "已撤销"
        return ""

    @property
    def watermark(self) -> str:
        """Across the page for slips nobody may take for a valid one."""
        return {MarkKind.PREVIEW: "预结算 非正式结算单", MarkKind.CANCELLED: "已撤销"}.get(self.kind, "")


PREVIEW = SlipMark(MarkKind.PREVIEW)


def money_text(value: Decimal) -> str:
    """Always two places, as the slip prints money (`0.00`, never `0`)."""
    return f"{round_money(value):.2f}"


def date_text(value: dt.date | None) -> str:
    """Dates in the person grid print as YYYYMMDD, as in the sample."""
    return value.strftime("%Y%m%d") if value is not None else ""


def print_date_text(value: dt.date) -> str:
    return f"{value.year} 年 {value.month} 月 {value.day} 日"


@dataclass(frozen=True)
class SlipData:
    """Every field of the slip. Text fields that are unknown are "" (printed blank)."""

    institution_name: str
    institution_place: str  # 机构所在地
    hospital_level: str  # 医院等级
    registration_no: str  # 就医登记号 (from the centre)
    name: str
    sex: str
    person_category: str  # 人员类别
    insured_place: str  # 参保地
    social_security_no: str  # 社会保障号
    benefit_category: str  # 待遇类别
    business_category: str  # 业务类别
    settled_on: dt.date | None  # 结算时间
    dept: str  # 科别
    admission_no: str  # 住院号
    admitted_on: dt.date | None
    discharged_on: dt.date | None
    settlement_kind: str  # 备注: 本地工伤结算 / 省内异地就医 / 跨省异地就医
    matrix: Mapping[str, Mapping[str, Decimal]]  # bucket → category → amount
    payee: str  # 收款人
    reviewer: str  # 审核人
    issuer: str  # 制单人
    print_date: dt.date
    mark: SlipMark
    settlement_id: int | None = None
    cancelled_on: dt.date | None = None
    # The cross-province slip's further fields (`004 附件6`); the Guangdong form does not print them.
    template: str = "guangdong"  # the printed form (`printing.templates`), from the stay's profile
    treatment_place: str = ""  # 就医地: the institution's province and city
    age: int | None = None  # 年龄 on the admission day
    admission_way: str = ""  # 入院方式
    main_diagnosis: str = ""  # 主要诊断
    other_diagnoses: str = ""  # 次要诊断, joined by 、
    # The fund lines as the centre returned them (name, amount); empty: the work-injury fund pays all.
    fund_lines: tuple[tuple[str, Decimal], ...] = ()
    # A device fitting's 配置费用核付通知单号 (001 §34, issue 23 §8); "" for any other stay.
    notice_no: str = ""

    @property
    def remark(self) -> str:
        """The 备注 cell: the kind of settlement, and a device fitting's notice it was settled on."""
        if not self.notice_no:
            return self.settlement_kind
        return f"{self.settlement_kind} 核付通知单号 {self.notice_no}"

    def __post_init__(self) -> None:
        for bucket in BUCKETS:
            for category in CATEGORIES:
                value = self.matrix[bucket][category]
                if not isinstance(value, Decimal):
                    raise TypeError(f"slip amount {bucket}/{category} must be Decimal, got {value!r}")
        for name, amount in self.fund_lines:
            if not isinstance(amount, Decimal):
                raise TypeError(f"slip fund line {name} must be Decimal, got {amount!r}")
        if self.fund_lines and sum((round_money(a) for _, a in self.fund_lines), ZERO) != self.fund_total:
            # The slip must add up: the funds' lines are the fund's part, no more, no less.
            raise SlipError(f"基金支付明细合计与工伤保险基金支付金额 {money_text(self.fund_total)} 不符，不能打印结算单。")

    @property
    def stay_days(self) -> int | None:
        """住院天数: discharge date minus admission date, at least one day."""
        if self.admitted_on is None or self.discharged_on is None:
            return None
        return max(1, (self.discharged_on - self.admitted_on).days)

    def cell(self, bucket: str, category: str) -> Decimal:
        return round_money(self.matrix[bucket][category])

    def row_total(self, bucket: str) -> Decimal:
        return sum((self.cell(bucket, c) for c in CATEGORIES), ZERO)

    def column_total(self, category: str) -> Decimal:
        return sum((self.cell(b, category) for b in BUCKETS), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((self.row_total(b) for b in BUCKETS), ZERO)

    @property
    def fund_total(self) -> Decimal:
        return self.row_total(FUND)

    @property
    def personal_total(self) -> Decimal:
        return self.total - self.fund_total

    def fund_payments(self) -> tuple[tuple[str, Decimal], ...]:
        """基金支付 line by line, as the centre returned them (`004 附件6` note); the work-injury fund's
        whole part when it named none."""
        if self.fund_lines:
            return tuple((name, round_money(amount)) for name, amount in self.fund_lines)
        return ((WORK_INJURY_FUND, self.fund_total),)

    def totals_sentence(self) -> str:
        return (f"合计本次：总费用 {money_text(self.total)} 元，工伤保险基金支付金额 {money_text(self.fund_total)} 元，"
                f"个人支付金额 {money_text(self.personal_total)} 元")

    def person_rows(self) -> tuple[tuple[tuple[str, str], ...], ...]:
        """The person and stay grid as (label, value) pairs, as in the sample: the first row has
        five (姓名 and 性别 each print as "label：value" in one cell), the others four."""
        days = self.stay_days
        return (
            (("姓名", self.name), ("性别", self.sex), ("人员类别", self.person_category),
             ("参保地", self.insured_place), ("社会保障号", self.social_security_no)),
            (("待遇类别", self.benefit_category), ("业务类别", self.business_category),
             ("结算时间", date_text(self.settled_on)), ("科别", self.dept)),
            (("住院号", self.admission_no), ("住院时间", date_text(self.admitted_on)),
             ("出院时间", date_text(self.discharged_on)), ("住院天数", "" if days is None else str(days))),
        )

    def header_fields(self) -> tuple[tuple[str, str], ...]:
        return (("医疗机构名称", self.institution_name), ("机构所在地", self.institution_place),
                ("医院等级", self.hospital_level), ("就医登记号", self.registration_no))

    def signer_fields(self) -> tuple[tuple[str, str], ...]:
        return (("收款人", self.payee), ("审核人", self.reviewer), ("制单人", self.issuer),
                ("打印日期", print_date_text(self.print_date)))


ROW_LABELS = tuple(BUCKET_LABELS[b] for b in BUCKETS)
COLUMN_LABELS = tuple(CATEGORY_LABELS[c] for c in CATEGORIES)


def _place(province: str, city: str) -> str:
    # 广东省 + 广州市 → 广东省广州市; a municipality (北京市 + 北京市) prints once: the one joining rule.
    return place_name(province, city)


def _age(id_number: str, on: dt.date) -> int | None:
    """Completed years on `on`, from the ID number's birth date (None when it carries none)."""
    try:
        born = birth_date(id_number)
    except ValueError:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _admission_way(emergency: bool, filing_category: str | None) -> str:
    if emergency:
        return ADMISSION_EMERGENCY
    return ADMISSION_REFERRAL if filing_category == "referral" else ADMISSION_OUTPATIENT


def _diagnoses(diagnoses: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """主要诊断 (the first the HIS lists, as on the 病案首页) and the others as 次要诊断; names only."""
    names = [name for _, name in diagnoses]
    return (names[0], "、".join(names[1:])) if names else ("", "")


def _copy_matrix(matrix: Mapping[str, Mapping[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
    return {b: {c: round_money(matrix[b][c]) for c in CATEGORIES} for b in BUCKETS}


# --- the preview of a case ------------------------------------------------------------


def slip_from_case(case: Case, result: SettlementResult, print_date: dt.date | None = None) -> SlipData:
    """The preview slip of a case file: marked 预结算（非正式结算单）, nobody signs it."""
    main_diagnosis, other_diagnoses = _diagnoses(tuple((d.code, d.name) for d in case.stay.diagnoses))
    return SlipData(
        institution_name=case.institution.name,
        institution_place=case.institution.city,
        hospital_level=case.institution.level,
        registration_no=case.stay.registration_no or "",
        name=case.worker.name,
        sex=case.worker.sex,
        person_category=case.worker.category,
        insured_place=_place(case.worker.insured_place.province, case.worker.insured_place.city),
        social_security_no=case.worker.id_number,
        benefit_category=_BENEFIT_BY_CARE.get(case.stay.care, ""),
        business_category=_BUSINESS_BY_CARE.get(case.stay.care, ""),
        settled_on=case.stay.settled,
        dept=case.stay.dept,
        admission_no=case.stay.admission_no,
        admitted_on=case.stay.admitted,
        discharged_on=case.stay.discharged,
        settlement_kind=result.settlement_kind,
        matrix=_copy_matrix(result.matrix),
        payee="",
        reviewer="",
        issuer="",
        print_date=print_date or business_today(),
        mark=PREVIEW,
        template=case.profile.slip_template,
        treatment_place=_place(case.institution.province, case.institution.city),
        age=_age(case.worker.id_number, case.stay.admitted),
        admission_way=_admission_way(case.stay.emergency, case.filing.category if case.filing else None),
        main_diagnosis=main_diagnosis,
        other_diagnoses=other_diagnoses,
    )


# --- stored settlements ---------------------------------------------------------------


def record_settlement(
    session: Session,
    stay: Stay,
    result: SettlementResult,
    *,
    operator_id: int,
    counter_name: str,
    centre_settlement_id: str,
    msgid: str,
    settled_at: dt.datetime,
    settled_on: dt.date | None = None,
    benefit_category: str | None = None,
    business_category: str | None = None,
    reviewer_id: int | None = None,
    charge_line_ids: Mapping[int, int] | None = None,
) -> Settlement:
    """Store a discharge settlement with its matrix cells and one line per charge line.

    Every line of `result` must name a charge line of the stay by its seq; the stay must
    have no settlement in force. The record is immutable from here on (`app.db.guards`).
    `charge_line_ids`: the stay's charge lines as seq → id, when the caller has just read them
    in this transaction (else they are read here).
    """
    in_force = _settlement_in_force(session, stay.id)
    if in_force is not None:
        raise SlipError(f"本次住院已结算（结算记录 {in_force.id}），如需重新结算请先撤销原结算。")
    # Plain (seq, id) rows, not ORM objects: a 20,000-line stay is recorded in a blink.
    charge_lines: Mapping[int, int] = charge_line_ids if charge_line_ids is not None else dict(session.execute(
        select(ChargeLine.seq, ChargeLine.id).where(ChargeLine.stay_id == stay.id)).tuples().all())
    missing = [line.seq for line in result.lines if line.seq not in charge_lines]
    if missing:
        raise SlipError(f"结算明细序号 {', '.join(map(str, missing))} 在本次住院的费用明细中不存在，结算未保存。")
    matrix = _copy_matrix(result.matrix)
    total = sum((matrix[b][c] for b in BUCKETS for c in CATEGORIES), ZERO)
    fund_total = sum(matrix[FUND].values(), ZERO)
    settlement = Settlement(
        stay_id=stay.id,
        kind=SettlementKind.SETTLEMENT,
        centre_settlement_id=centre_settlement_id,
        msgid=msgid,
        settlement_kind=result.settlement_kind,
        settled_on=settled_on or settled_at.astimezone(CHINA_TZ).date(),
        settled_at=settled_at,
        total=total,
        fund_total=fund_total,
        personal_total=total - fund_total,
        operator_id=operator_id,
        benefit_category=benefit_category,
        business_category=business_category,
        reviewer_id=reviewer_id,
    )
    session.add(settlement)
    session.flush()
    session.add_all(
        SettlementMatrixCell(settlement_id=settlement.id, bucket=Bucket(b), category=ChargeCategory(c),
                             amount=matrix[b][c])
        for b in BUCKETS for c in CATEGORIES
    )
    if result.lines:
        # A Core executemany on the table (the ORM's bulk path costs seconds for 20,000 rows, while
        # the patient waits at the window); the ORM knows nothing of these rows until it reads them.
        table = cast(Table, SettlementLine.__table__)
        column = {prop.key: prop.columns[0].key for prop in inspect(SettlementLine).column_attrs}
        # The amounts go in as fen converted once per distinct amount (a stay repeats few) by the
        # columns' own type, then bound as plain integers: converting 60,000 Decimals one by one
        # was a good part of the patient's wait.
        money = cast(ScaledDecimal, table.c[column["amount"]].type)
        dialect = session.get_bind().dialect
        fen_of: dict[Decimal, int | None] = {}

        def fen(value: Decimal) -> int | None:
            if value not in fen_of:
                fen_of[value] = money.process_bind_param(value, dialect)
            return fen_of[value]

        as_fen = {key: bindparam(f"{key}_as_fen", type_=BigInteger) for key in ("amount", "fund", "personal")}
        session.execute(insert(table).values({column[key]: param for key, param in as_fen.items()}), [
            {column["settlement_id"]: settlement.id, column["charge_line_id"]: charge_lines[line.seq],
             column["bucket"]: Bucket(line.bucket), column["category"]: ChargeCategory(line.category),
             "amount_as_fen": fen(line.amount), "fund_as_fen": fen(line.fund),
             "personal_as_fen": fen(line.personal), column["reason"]: line.reason}
            for line in result.lines
        ])
    stay.status = StayStatus.SETTLED
    stay.settlement_kind = result.settlement_kind
    session.flush()
    audit.record(session, "settlement_recorded", operator_id=operator_id, counter_name=counter_name,
                 entity_type="settlement", entity_id=settlement.id,
                 detail={"stay_id": stay.id, "total": money_text(total), "fund_total": money_text(fund_total)})
    return settlement


def record_cancellation(
    session: Session,
    settlement_id: int,
    *,
    operator_id: int,
    counter_name: str,
    reason: str,
    msgid: str,
    cancelled_at: dt.datetime,
    centre_settlement_id: str | None = None,
    cancelled_on: dt.date | None = None,
) -> Settlement:
    """Cancel a settlement: a new row of kind cancellation with every amount negated.

    The stay goes back to 待结算 so that it can be settled again.
    """
    original = session.get(Settlement, settlement_id)
    if original is None:
        raise SlipError(f"没有编号为 {settlement_id} 的结算记录。")
    if original.kind is SettlementKind.CANCELLATION:
        raise SlipError(f"结算记录 {settlement_id} 本身是撤销记录，不能再撤销。")
    if _cancellation_of(session, original.id) is not None:
        raise SlipError(f"结算记录 {settlement_id} 已经撤销过。")
    if not reason.strip():
        raise SlipError("请填写撤销原因。")
    cancellation = Settlement(
        stay_id=original.stay_id,
        kind=SettlementKind.CANCELLATION,
        reverses_id=original.id,
        centre_settlement_id=centre_settlement_id or original.centre_settlement_id,
        msgid=msgid,
        settlement_kind=original.settlement_kind,
        # The centre's business date where the caller knows it (issue 21 B7: one clock for the day-end).
        settled_on=cancelled_on or cancelled_at.astimezone(CHINA_TZ).date(),
        settled_at=cancelled_at,
        total=-original.total,
        fund_total=-original.fund_total,
        personal_total=-original.personal_total,
        operator_id=operator_id,
        reason=reason,
        benefit_category=original.benefit_category,
        business_category=original.business_category,
    )
    session.add(cancellation)
    session.flush()
    session.add_all(
        SettlementMatrixCell(settlement_id=cancellation.id, bucket=cell.bucket, category=cell.category,
                             amount=-cell.amount)
        for cell in original.matrix
    )
    original_lines = session.execute(
        select(SettlementLine.charge_line_id, SettlementLine.bucket, SettlementLine.category, SettlementLine.amount,
               SettlementLine.fund, SettlementLine.personal, SettlementLine.reason)
        .where(SettlementLine.settlement_id == original.id)).all()
    if original_lines:
        session.execute(insert(SettlementLine), [
            {"settlement_id": cancellation.id, "charge_line_id": charge_line_id, "bucket": bucket,
             "category": category, "amount": -amount, "fund": -fund, "personal": -personal,
             "reason": f"撤销结算记录 {original.id}：{reason}"}
            for charge_line_id, bucket, category, amount, fund, personal, reason in original_lines
        ])
    stay = session.get(Stay, original.stay_id)
    assert stay is not None
    stay.status = StayStatus.PENDING_SETTLEMENT
    session.flush()
    audit.record(session, "settlement_cancelled", operator_id=operator_id, counter_name=counter_name,
                 entity_type="settlement", entity_id=original.id,
                 detail={"cancellation_id": cancellation.id, "reason": reason})
    return cancellation


def _cancellation_of(session: Session, settlement_id: int) -> Settlement | None:
    return session.scalars(select(Settlement).where(Settlement.reverses_id == settlement_id)).first()


def _settlement_in_force(session: Session, stay_id: int) -> Settlement | None:
    for settlement in session.scalars(
        select(Settlement).where(Settlement.stay_id == stay_id, Settlement.kind == SettlementKind.SETTLEMENT)
    ):
        if _cancellation_of(session, settlement.id) is None:
            return settlement
    return None


def _original(session: Session, settlement_id: int) -> Settlement:
    """The settlement a slip is about; a cancellation's id means the settlement it cancelled."""
    settlement = session.get(Settlement, settlement_id)
    if settlement is None:
        raise SlipError(f"没有编号为 {settlement_id} 的结算记录。")
    if settlement.kind is SettlementKind.CANCELLATION:
        assert settlement.reverses_id is not None
        original = session.get(Settlement, settlement.reverses_id)
        assert original is not None
        return original
    return settlement


def _prints_so_far(session: Session, settlement_id: int) -> int:
    return session.scalar(select(func.count()).select_from(PrintLog).where(PrintLog.settlement_id == settlement_id)) or 0


def next_mark(session: Session, settlement_id: int) -> SlipMark:
    """What the next print of this settlement is: 原件, 补打 n, or 已撤销 once cancelled."""
    settlement = _original(session, settlement_id)
    printed = _prints_so_far(session, settlement.id)
    if _cancellation_of(session, settlement.id) is not None:
        return SlipMark(MarkKind.CANCELLED, printed)
    if printed == 0:
        return SlipMark(MarkKind.ORIGINAL, 0)
    return SlipMark(MarkKind.REPRINT, printed)


def _display_name(session: Session, operator_id: int | None) -> str:
    if operator_id is None:
        return ""
    operator = session.get(Operator, operator_id)
    return operator.display_name if operator is not None else ""


def slip_for_settlement(
    session: Session, settlement_id: int, *, issuer: str, print_date: dt.date | None = None
) -> SlipData:
    """The slip of a stored settlement, marked as its next print will be."""
    settlement = _original(session, settlement_id)
    stay = session.get(Stay, settlement.stay_id)
    assert stay is not None
    worker = session.get(Worker, stay.worker_id)
    institution = session.get(Institution, stay.institution_id)
    assert worker is not None and institution is not None
    matrix: dict[str, dict[str, Decimal]] = {b: {c: ZERO for c in CATEGORIES} for b in BUCKETS}
    for cell in settlement.matrix:
        matrix[cell.bucket.value][cell.category.value] += cell.amount
    total = sum((matrix[b][c] for b in BUCKETS for c in CATEGORIES), ZERO)
    if total != settlement.total or sum(matrix[FUND].values(), ZERO) != settlement.fund_total:
        # The slip must add up; a stored record that does not is not printed.
        raise SlipError(f"结算记录 {settlement.id} 的金额表合计 {money_text(total)} 与结算总额 "
                        f"{money_text(settlement.total)} 不符，不能打印结算单，请联系管理员。")
    cancellation = _cancellation_of(session, settlement.id)
    filing = session.get(Filing, stay.filing_id) if stay.filing_id is not None else None
    main_diagnosis, other_diagnoses = _diagnoses(_stay_diagnoses(session, stay.id))
    return SlipData(
        institution_name=institution.name,
        institution_place=institution.city,
        hospital_level=institution.level,
        registration_no=stay.registration_no or "",
        name=worker.name,
        sex=worker.sex,
        person_category=worker.category,
        insured_place=_place(worker.insured_province, worker.insured_city),
        social_security_no=worker.social_security_number,
        benefit_category=settlement.benefit_category or _BENEFIT_BY_CARE.get(stay.care.value, ""),
        business_category=settlement.business_category or _BUSINESS_BY_CARE.get(stay.care.value, ""),
        settled_on=settlement.settled_on,
        dept=stay.dept,
        admission_no=stay.admission_no,
        admitted_on=stay.admitted_on,
        discharged_on=stay.discharged_on,
        settlement_kind=settlement.settlement_kind,
        matrix=matrix,
        payee=_display_name(session, settlement.operator_id),
        reviewer=_display_name(session, settlement.reviewer_id),
        issuer=issuer,
        print_date=print_date or business_today(),
        mark=next_mark(session, settlement.id),
        settlement_id=settlement.id,
        cancelled_on=cancellation.settled_on if cancellation is not None else None,
        template=load_profile(stay.profile).slip_template,
        treatment_place=_place(institution.province, institution.city),
        age=_age(worker.social_security_number, stay.admitted_on),
        admission_way=_admission_way(stay.emergency, filing.category.value if filing is not None else None),
        main_diagnosis=main_diagnosis,
        other_diagnoses=other_diagnoses,
        notice_no=stay.notice_no or "",
    )


def _stay_diagnoses(session: Session, stay_id: int) -> tuple[tuple[str, str], ...]:
    """The stay's discharge diagnoses in the HIS's order (its admitting ones when it has none yet)."""
    rows = session.execute(select(Diagnosis.role, Diagnosis.code, Diagnosis.name)
                           .where(Diagnosis.stay_id == stay_id).order_by(Diagnosis.seq, Diagnosis.id)).all()
    discharge = tuple((code, name) for role, code, name in rows if role is DiagnosisRole.DISCHARGE)
    return discharge or tuple((code, name) for role, code, name in rows if role is DiagnosisRole.ADMITTING)


def log_print(
    session: Session,
    data: SlipData,
    *,
    operator_id: int,
    printer: str | None,
    archive_path: Path | None,
) -> PrintLog:
    """Record one print of a stored settlement's slip (who, when, which printer, the archive copy).

    Refuses when the slip's mark is stale (another counter printed it meanwhile), so that
    two prints never carry the same 补打 count.
    """
    if data.settlement_id is None or data.mark.kind is MarkKind.PREVIEW:
        raise SlipError("预结算单不是正式结算单，不记录打印。")
    current = next_mark(session, data.settlement_id)
    if current != data.mark:
        raise SlipError(f"该结算单刚刚已由其他窗口打印（现在应为“{current.label or '原件'}”），请重新预览后再打印。")
    kind = {MarkKind.ORIGINAL: PrintKind.ORIGINAL, MarkKind.REPRINT: PrintKind.REPRINT,
            MarkKind.CANCELLED: PrintKind.CANCELLED}[data.mark.kind]
    record = PrintLog(settlement_id=data.settlement_id, kind=kind, reprint_no=data.mark.reprint_no,
                      printer=printer[:128] if printer else None,
                      archive_path=str(archive_path) if archive_path is not None else None,
                      operator_id=operator_id)
    session.add(record)
    try:
        session.flush()
    except IntegrityError:  # UNIQUE (settlement_id, reprint_no): a concurrent print won
        raise SlipError("该结算单刚刚已由其他窗口打印，请重新预览后再打印。") from None
    return record


@dataclass(frozen=True)
class PrintRecord:
    printed_at: dt.datetime
    kind: PrintKind
    reprint_no: int
    printer: str
    operator: str
    archive_path: str


def print_history(session: Session, settlement_id: int) -> list[PrintRecord]:
    rows = session.execute(
        select(PrintLog, Operator.display_name).join(Operator, Operator.id == PrintLog.operator_id)
        .where(PrintLog.settlement_id == settlement_id).order_by(PrintLog.id)
    ).all()
    return [PrintRecord(log.printed_at, log.kind, log.reprint_no, log.printer or "", name, log.archive_path or "")
            for log, name in rows]


@dataclass(frozen=True)
class SettlementSummary:
    """One stored settlement as the 结算单 page lists it (ID number masked)."""

    id: int
    settled_on: dt.date
    name: str
    masked_id: str
    registration_no: str
    admission_no: str
    settlement_kind: str
    total: Decimal
    cancelled: bool
    prints: int


def recent_settlements(session: Session, limit: int = 50) -> list[SettlementSummary]:
    """The latest settlements (not cancellation rows), newest first."""
    rows = session.execute(
        select(Settlement, Stay, Worker).join(Stay, Stay.id == Settlement.stay_id)
        .join(Worker, Worker.id == Stay.worker_id)
        .where(Settlement.kind == SettlementKind.SETTLEMENT)
        .order_by(Settlement.settled_at.desc(), Settlement.id.desc()).limit(limit)
    ).all()
    ids = [settlement.id for settlement, _, _ in rows]
    cancelled = set(session.scalars(select(Settlement.reverses_id).where(Settlement.reverses_id.in_(ids))))
    prints = {settlement_id: count for settlement_id, count in session.execute(
        select(PrintLog.settlement_id, func.count()).where(PrintLog.settlement_id.in_(ids))
        .group_by(PrintLog.settlement_id))}
    return [
        SettlementSummary(settlement.id, settlement.settled_on, worker.name,
                          mask_id_number(worker.social_security_number), stay.registration_no or "",
                          stay.admission_no, settlement.settlement_kind, settlement.total,
                          settlement.id in cancelled, prints.get(settlement.id, 0))
        for settlement, stay, worker in rows
    ]


# --- the archive ------------------------------------------------------------------------

_UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')  # not allowed (or awkward) in Windows and Linux file names


def archive_file_name(data: SlipData) -> str:
    """结算单_<就医登记号>_<打印日期>_<原件|补打n|已撤销>.pdf — no ID number in the name."""
    reference = data.registration_no or f"结算{data.settlement_id}"
    suffix = {MarkKind.ORIGINAL: "原件", MarkKind.REPRINT: f"补打{data.mark.reprint_no}",
              MarkKind.CANCELLED: "已撤销", MarkKind.PREVIEW: "预结算"}[data.mark.kind]
    name = f"结算单_{reference}_{data.print_date:%Y%m%d}_{suffix}"
    return f"{_UNSAFE.sub('_', name)}.pdf"


PART_SUFFIX = ".part"  # a slip's PDF before its print is logged: `.<final name>.part`


def _part_of(final: Path) -> Path:
    return final.with_name(f".{final.name}{PART_SUFFIX}")


def _final_of(part: Path) -> Path:
    return part.with_name(part.name[1:-len(PART_SUFFIX)])


def _write_part(folder: Path, data: SlipData, pdf: bytes) -> Path:
    """Write the slip's PDF complete (fsync) under a temporary name; returns its final name.

    Never overwrites: a final name is taken when neither it nor its temporary file exists, and the
    temporary file is created O_EXCL, so two counters sharing a folder never write the same file.
    The slip carries a full ID number: the folder is created private (0700) and each file 0600
    where the system has such modes (a site's shared folder keeps its own rights).
    """
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise SlipError(f"无法创建结算单存档文件夹 {folder}：{exc.strerror or exc}") from exc
    base = folder / archive_file_name(data)
    target = base
    number = 2
    while True:
        part = _part_of(target)
        try:
            if target.exists():
                raise FileExistsError(target)
            descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        except FileExistsError:
            target = base.with_name(f"{base.stem}_{number}{base.suffix}")
            number += 1
            continue
        except OSError as exc:
            raise SlipError(f"无法写入结算单存档 {target}：{exc.strerror or exc}") from exc
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(pdf)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            part.unlink(missing_ok=True)
            raise SlipError(f"无法写入结算单存档 {target}：{exc.strerror or exc}") from exc
        return target


def _publish(final: Path) -> bool:
    """The temporary file takes its final name (atomic); False when it is not there (done already)."""
    try:
        os.replace(_part_of(final), final)
    except FileNotFoundError:
        return False
    return True


def archive_slip(folder: Path, data: SlipData, pdf: bytes) -> Path:
    """Write the issued slip into the archive folder, complete or not at all; never overwrites."""
    final = _write_part(folder, data, pdf)
    _publish(final)
    return final


# --- issuing a slip: prepare, print (by the caller), then archive and log ------------------


def archive_folder(configured: str, data_dir: Path) -> Path:
    """The archive folder: the setting slip.archive_dir, or `<data folder>/slips` when blank."""
    return Path(configured).expanduser() if configured.strip() else data_dir / "slips"


def prepare_slip(session: Session, settlement_id: int, operator: OperatorInfo,
                 print_date: dt.date | None = None) -> SlipData:
    """The slip `operator` is about to print (制单人 = the operator), marked as its next print."""
    require(operator, Permission.PRINT_SLIP)
    return slip_for_settlement(session, settlement_id, issuer=operator.display_name, print_date=print_date)


@dataclass(frozen=True)
class IssuedSlip:
    archive_path: Path
    print_log_id: int


def commit_issue(session: Session, data: SlipData, pdf: bytes, *, operator_id: int, printer: str | None,
                 folder: Path) -> IssuedSlip:
    """After the slip went to the printer: log the print and keep its PDF in the archive.

    Crash-safe order (`docs/crash-safety.md`): the PDF is written complete under a temporary name,
    the print-log row is flushed here and committed by the caller, and only once it is committed
    does the PDF take its archive name. A rollback removes the temporary file; a crash in between
    is finished by `recover_archive` at the next start. So the archive holds exactly the logged
    prints, and no archived file is ever half-written.
    """
    path = _write_part(folder, data, pdf)
    try:
        record = log_print(session, data, operator_id=operator_id, printer=printer, archive_path=path)
    except BaseException:
        _part_of(path).unlink(missing_ok=True)
        raise
    _after_commit(session, path)
    crash_point("slip.before_log_commit")
    log.info("结算单已打印：结算记录 %s，%s，打印机 %s，存档 %s", data.settlement_id, data.mark.label or "原件",
             printer or "-", path.name)
    return IssuedSlip(path, record.id)


def _after_commit(session: Session, path: Path) -> None:
    """Publish the archive file when the session commits; drop it when it rolls back."""
    done = False

    def committed(_: Session) -> None:
        nonlocal done
        if done:
            return
        done = True
        crash_point("slip.logged")
        _publish(path)
        crash_point("slip.archived")

    def rolled_back(_: Session) -> None:
        nonlocal done
        if done:
            return
        done = True
        _part_of(path).unlink(missing_ok=True)

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_rollback", rolled_back, once=True)


@dataclass(frozen=True)
class ArchiveRecovery:
    """What `recover_archive` found: prints whose file it put in place, unlogged files it removed."""

    completed: tuple[Path, ...]
    removed: tuple[Path, ...]


def recover_archive(session: Session, folder: Path, *, min_age_seconds: float = 60.0) -> ArchiveRecovery:
    """After a crash while a slip was being issued: finish the archive or undo it.

    A temporary file whose print is logged takes its archive name (the print happened and is on
    record); one whose print is not logged is removed (the print was never recorded: it is printed
    again as 原件). Temporary files younger than `min_age_seconds` are left alone: another counter
    sharing the folder may be issuing that slip right now."""
    if not folder.is_dir():
        return ArchiveRecovery((), ())
    completed: list[Path] = []
    removed: list[Path] = []
    now = dt.datetime.now().timestamp()
    for part in sorted(folder.glob(f".*.pdf{PART_SUFFIX}")):
        final = _final_of(part)
        logged = session.scalar(select(PrintLog.id).where(PrintLog.archive_path == str(final)).limit(1))
        if logged is not None:
            if _publish(final):
                completed.append(final)
            continue
        try:
            if now - part.stat().st_mtime < min_age_seconds:
                continue
            part.unlink()
        except FileNotFoundError:
            continue
        removed.append(part)
    for path in completed:
        log.warning("结算单存档已补全：%s", path.name)
    for path in removed:
        log.warning("未记录打印的结算单临时文件已清除：%s", path.name)
    return ArchiveRecovery(tuple(completed), tuple(removed))


def operator_by_login(session: Session, login: str | None) -> OperatorInfo:
    """An active operator by login name (the command line names who prints).

    Without a name, the only active operator is meant; with several, the clerk must say
    who prints, because the print log and the slip's 制单人 name them.
    """
    if login is None:
        active = session.scalars(select(Operator).where(Operator.active.is_(True)).order_by(Operator.login)).all()
        if len(active) != 1:
            names = "、".join(o.login for o in active) or "（无）"
            raise SlipError(f"请用 --operator 指定制单人（在用操作员：{names}）。")
        operator: Operator | None = active[0]
    else:
        operator = session.scalars(select(Operator).where(Operator.login == login)).first()
    if operator is None or not operator.active:
        raise SlipError(f"没有名为 {login} 的在用操作员。")
    return OperatorInfo(operator.id, operator.login, operator.display_name, operator.role)

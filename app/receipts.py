"""The 全额垫付 receipt's content (`003 §17`): what the worker paid in full while the centre was
down, and what the insured place needs to reimburse it: the receipt and the stay's 费用清单.

`ReceiptData` and `ChargeListData` are every printed field (money as `Decimal`);
`printing/receipt.py` and `printing/charge_list.py` lay them out.
No Qt, no reportlab here (the import contracts, `ARCHITECTURE.md`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.centre.wire import CHINA_TZ
from app.business_date import business_today
from app.db.models import ChargeLine, FullPaymentReceipt, Institution, Operator, Stay, Worker
from app.errors import WiCounterError
from app.rules.settlement import CATEGORY_LABELS

# Printed on the receipt, word for word the rule it rests on (`003 §17`).
# The fund pays the hospital nothing for the stay and nothing is refunded at the window; the 补登记
# only reports the stay as paid in full (000 §34, 001 §16: the insured place checks it was not settled directly).
STATEMENT = ("结算时联网结算系统故障，本次住院医疗费用未能联网结算，由工伤职工全额垫付；工伤保险基金不向本院支付本次费用，"
             "本院不退还任何款项。请凭本收据、住院费用清单和结算费用明细回参保地，"
             "由参保地经办机构按规定零星报销给付（003 §17）。本院在故障排除后向结算中心补登记本次费用（标记为全额垫付）。")
SOURCE = "003 §17"


class ReceiptError(WiCounterError):
    kind = "receipt"


@dataclass(frozen=True)
class ReceiptData:
    receipt_no: str
    institution_name: str
    name: str
    sex: str
    social_security_no: str
    insured_place: str
    admission_no: str
    registration_no: str
    dept: str
    admitted_on: dt.date
    discharged_on: dt.date | None
    amount: Decimal  # the whole stay's charges, paid in full
    issued_on: dt.date
    issuer: str
    statement: str = STATEMENT
    # The settlement figures as the slip would show them, by the same rules (`app.rules.settlement`):
    # what the insured place reimburses against (003 §17). None while lines cannot be settled yet.
    fund_part: Decimal | None = None
    personal_part: Decimal | None = None

    @property
    def stay_days(self) -> int | None:
        if self.discharged_on is None:
            return None
        return max((self.discharged_on - self.admitted_on).days, 1)


def full_payment_amount(session: Session, stay_id: int) -> Decimal:
    """What the worker pays in full: every charge line of the stay (refunds net)."""
    return sum(session.scalars(select(ChargeLine.amount).where(ChargeLine.stay_id == stay_id)), Decimal("0.00"))


def receipt_for_stay(session: Session, stay_id: int) -> ReceiptData:
    """The stay's latest 全额垫付 receipt, as printed."""
    receipt = session.scalars(select(FullPaymentReceipt).where(FullPaymentReceipt.stay_id == stay_id)
                              .order_by(FullPaymentReceipt.id.desc())).first()
    if receipt is None:
        raise ReceiptError("本次住院没有全额垫付收据。")
    return receipt_data(session, receipt)


def receipt_data(session: Session, receipt: FullPaymentReceipt) -> ReceiptData:
    stay = session.get(Stay, receipt.stay_id)
    assert stay is not None
    worker = session.get(Worker, stay.worker_id)
    institution = session.get(Institution, stay.institution_id)
    issuer = session.get(Operator, receipt.issued_by)
    assert worker is not None and institution is not None
    place = _place(worker.insured_province, worker.insured_city)
    figures = settlement_figures(session, stay.id)
    return ReceiptData(
        receipt_no=receipt.receipt_no,
        institution_name=institution.name,
        name=worker.name,
        sex=worker.sex,
        social_security_no=worker.social_security_number,
        insured_place=place,
        admission_no=stay.admission_no,
        registration_no=stay.registration_no or "",
        dept=stay.dept,
        admitted_on=stay.admitted_on,
        discharged_on=stay.discharged_on,
        amount=receipt.amount,
        issued_on=receipt.issued_at.astimezone(CHINA_TZ).date(),
        issuer=issuer.display_name if issuer is not None else "",
        fund_part=figures[0] if figures is not None else None,
        personal_part=figures[1] if figures is not None else None,
    )


def settlement_figures(session: Session, stay_id: int) -> tuple[Decimal, Decimal] | None:
    """(fund part, personal part) of the stay as a direct settlement would have split it, by the
    rules the centre uses; None when the lines cannot be settled yet (unclassified, no category)."""
    from app.rules.settlement import compute
    from app.workflow.case_builder import case_for_stay

    try:
        result = compute(case_for_stay(session, stay_id))
    except WiCounterError:  # InvalidCase, or lines the rules cannot take yet
        return None
    return result.fund_total, result.personal_total


# --- 住院费用清单: every line of the stay, what the insured place reimburses against ---------------


@dataclass(frozen=True)
class ListedLine:
    seq: int
    charged_on: dt.date
    code: str  # the catalogue code once matched, else the hospital's own
    name: str
    category: str  # 药品 / 诊疗项目 / … (blank while unclassified)
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class ChargeListData:
    institution_name: str
    name: str
    sex: str
    social_security_no: str
    insured_place: str
    admission_no: str
    registration_no: str
    dept: str
    admitted_on: dt.date
    discharged_on: dt.date | None
    lines: tuple[ListedLine, ...]
    printed_on: dt.date

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


def charge_list(session: Session, stay_id: int, printed_on: dt.date | None = None) -> ChargeListData:
    """The stay's 费用清单: every charge line in order (refunds as negative lines), with the
    worker and the stay as the receipt names them."""
    stay = session.get(Stay, stay_id)
    if stay is None:
        raise ReceiptError(f"没有编号为 {stay_id} 的住院记录。")
    worker = session.get(Worker, stay.worker_id)
    institution = session.get(Institution, stay.institution_id)
    assert worker is not None and institution is not None
    rows = session.execute(
        select(ChargeLine.seq, ChargeLine.charged_on, ChargeLine.code, ChargeLine.his_code, ChargeLine.name,
               ChargeLine.category, ChargeLine.quantity, ChargeLine.unit_price, ChargeLine.amount)
        .where(ChargeLine.stay_id == stay_id).order_by(ChargeLine.charged_on, ChargeLine.seq)).all()
    lines = tuple(
        ListedLine(seq=row.seq, charged_on=row.charged_on, code=row.code or row.his_code, name=row.name,
                   category=CATEGORY_LABELS[row.category.value].removesuffix("费用") if row.category is not None else "",
                   quantity=row.quantity, unit_price=row.unit_price, amount=row.amount)
        for row in rows)
    return ChargeListData(
        institution_name=institution.name, name=worker.name, sex=worker.sex,
        social_security_no=worker.social_security_number,
        insured_place=_place(worker.insured_province, worker.insured_city), admission_no=stay.admission_no,
        registration_no=stay.registration_no or "", dept=stay.dept, admitted_on=stay.admitted_on,
        discharged_on=stay.discharged_on, lines=lines, printed_on=printed_on or business_today())


def _place(province: str, city: str) -> str:
    return province if province == city else f"{province}{city}"

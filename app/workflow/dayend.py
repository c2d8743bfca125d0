"""日结: one cashier's day at the counter, from the database's own records (issue 20 §10).

What the cashier hands in with the cash: the settlements they made (联网结算, the personal part
collected), the cancellations they made (the personal part refunded), the 全额垫付 receipts they
issued (the whole stay collected), the 补登记 they did (nothing handed back: the worker claims at the
insured place, `003 §17`; only the old flow's 补登记 handed the fund's part back) and the slips they reprinted (补打, from the print log). The day is the counter's
business date (Beijing's, whatever this PC's time zone); the records keep UTC, so the day is
turned into its bounds.

A cashier sees only their own report; a reviewer or administrator may see anyone's
(`Permission.VIEW_OTHERS_DAY_END`). No Qt here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.centre.wire import CHINA_TZ
from app.db.models import (
    AuditHead,
    FullPaymentReceipt,
    Operator,
    PrintKind,
    PrintLog,
    Settlement,
    SettlementKind,
)
from app.errors import PermissionDenied, WiCounterError
from app.operators import OperatorInfo, Permission, current_institution, require, require_signed_in

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class DayEndReport:
    """Every figure of the 收款员日结单 (money as Decimal, two places)."""

    day: dt.date
    operator_id: int
    operator_login: str
    operator_name: str
    institution_name: str
    settlement_count: int  # 联网结算 (not 补登记)
    settlement_total: Decimal
    settlement_fund: Decimal
    settlement_personal: Decimal  # collected from the workers
    cancellation_count: int
    cancellation_refunded: Decimal  # the personal part refunded to the workers
    full_payment_count: int  # 全额垫付 receipts issued
    full_payment_amount: Decimal  # collected in full
    backfill_count: int  # 补登记 (nothing handed back: the worker claims at the insured place, 003 §17)
    backfill_handed_back: Decimal  # the old flow only (before issue 23): the fund's part handed back
    reprint_count: int  # 补打 of slips
    legacy_backfill_count: int = 0  # 补登记 of the old flow, which settled the stay and handed money back
    # The audit trail's head when the report was made (issue 22 §4): on the paper handed in with the cash,
    # an anchor of the trail outside the database. The fingerprint is of the keyed head MAC ("" unsigned).
    audit_count: int | None = None
    audit_fingerprint: str = ""

    @property
    def audit_head_text(self) -> str:
        """The head as printed: the count and the fingerprint (or that it is unsigned)."""
        if self.audit_count is None:
            return ""
        mark = f"指纹 {self.audit_fingerprint}" if self.audit_fingerprint else "未签名（本机缺少审计密钥）"
        return f"审计链头：共 {self.audit_count} 条记录，{mark}"

    @property
    def collected(self) -> Decimal:
        return self.settlement_personal + self.full_payment_amount

    @property
    def paid_out(self) -> Decimal:
        return self.cancellation_refunded + self.backfill_handed_back

    @property
    def cash_total(self) -> Decimal:
        """The cash the cashier should hold: collected − refunded − handed back."""
        return self.collected - self.paid_out

    def rows(self) -> list[tuple[str, str, str]]:
        """(项目, 笔数, 金额) as the screen, the command line and the PDF show them."""
        return [
            ("联网结算（收取个人支付）", str(self.settlement_count), _yuan(self.settlement_personal)),
            ("　其中：医疗费总额", "", _yuan(self.settlement_total)),
            ("　　　　基金支付", "", _yuan(self.settlement_fund)),
            ("全额垫付（全额收取）", str(self.full_payment_count), _yuan(self.full_payment_amount)),
            ("撤销结算（退还个人支付）", str(self.cancellation_count), _yuan(-self.cancellation_refunded)),
            ("补登记（不退款，工伤职工回参保地报销）", str(self.backfill_count), _yuan(Decimal("0.00"))),
            *([("旧流程补登记（已退还基金支付部分）", str(self.legacy_backfill_count), _yuan(-self.backfill_handed_back))]
              if self.legacy_backfill_count else []),
            ("结算单补打", str(self.reprint_count), ""),
            ("应交现金合计", "", _yuan(self.cash_total)),
        ]


def _yuan(amount: Decimal) -> str:
    return f"{amount:,.2f}"


def business_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The counter's business day (Beijing's, app.business_date) as aware datetimes [start, end):
    a PC set to another time zone still closes the day at Beijing's midnight."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=CHINA_TZ)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=CHINA_TZ)
    return start, end


def check_may_see(actor: OperatorInfo, operator_id: int) -> None:
    """A cashier's own report, or anyone's for a reviewer or administrator."""
    require_signed_in(actor)
    if actor.id == operator_id:
        return
    try:
        require(actor, Permission.VIEW_OTHERS_DAY_END)
    except PermissionDenied:
        raise PermissionDenied("收款员只能查看本人的日结单；查看他人的日结单请由审核员或管理员办理。") from None


def day_end_report(session: Session, actor: OperatorInfo, operator_id: int, day: dt.date) -> DayEndReport:
    """The day-end report of `operator_id` for the local date `day`, as `actor` may see it."""
    check_may_see(actor, operator_id)
    operator = session.get(Operator, operator_id)
    if operator is None:
        raise WiCounterError(f"没有编号为 {operator_id} 的操作员。")
    start, end = business_day_bounds(day)

    backfilled = {settlement_id for settlement_id in session.scalars(
        select(FullPaymentReceipt.settlement_id).where(FullPaymentReceipt.settlement_id.is_not(None)))}
    settlements = session.scalars(select(Settlement).where(
        Settlement.operator_id == operator_id, Settlement.settled_at >= start, Settlement.settled_at < end)).all()
    made = [s for s in settlements if s.kind is SettlementKind.SETTLEMENT and s.id not in backfilled]
    backfills = [s for s in settlements if s.kind is SettlementKind.SETTLEMENT and s.id in backfilled]
    cancellations = [s for s in settlements if s.kind is SettlementKind.CANCELLATION]
    registered = session.scalars(select(FullPaymentReceipt.id).where(
        FullPaymentReceipt.backfilled_by == operator_id, FullPaymentReceipt.settlement_id.is_(None),
        FullPaymentReceipt.backfilled_at >= start, FullPaymentReceipt.backfilled_at < end)).all()
    receipts = session.scalars(select(FullPaymentReceipt).where(
        FullPaymentReceipt.issued_by == operator_id, FullPaymentReceipt.issued_at >= start,
        FullPaymentReceipt.issued_at < end)).all()
    reprints = session.scalars(select(PrintLog.id).where(
        PrintLog.operator_id == operator_id, PrintLog.kind == PrintKind.REPRINT,
        PrintLog.printed_at >= start, PrintLog.printed_at < end)).all()
    institution = current_institution(session)
    head = session.execute(select(AuditHead.event_count, AuditHead.head_mac).where(AuditHead.id == 1)).first()
    return DayEndReport(
        day=day,
        operator_id=operator.id,
        operator_login=operator.login,
        operator_name=operator.display_name,
        institution_name=institution.name if institution is not None else "",
        settlement_count=len(made),
        settlement_total=sum((s.total for s in made), ZERO),
        settlement_fund=sum((s.fund_total for s in made), ZERO),
        settlement_personal=sum((s.personal_total for s in made), ZERO),
        cancellation_count=len(cancellations),
        # A cancellation row negates the settlement it reverses: its personal part is what goes back.
        cancellation_refunded=-sum((s.personal_total for s in cancellations), ZERO),
        full_payment_count=len(receipts),
        full_payment_amount=sum((r.amount for r in receipts), ZERO),
        backfill_count=len(registered) + len(backfills),
        # The old flow's 补登记 settled the stay and handed the fund's part back; today's hands nothing back.
        backfill_handed_back=sum((s.fund_total for s in backfills), ZERO),
        reprint_count=len(reprints),
        legacy_backfill_count=len(backfills),
        audit_count=int(head.event_count) if head is not None else None,
        audit_fingerprint=audit.fingerprint(head.head_mac) if head is not None and head.head_mac else "",
    )


def operator_id_of(session: Session, login: str) -> int:
    operator = session.scalars(select(Operator).where(Operator.login == login)).first()
    if operator is None:
        raise WiCounterError(f"没有登录名为 {login} 的操作员。")
    return operator.id

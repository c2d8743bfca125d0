"""`wi-counter stays [--status S] [--search TEXT]`: the stays at a glance, ID numbers masked.

Exit 0 ok, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys

from app.cli.common import CommandLine, open_context, print_json
from app.db.models import StayStatus
from app.workflow.stays import STATUS_LABELS

# Chinese labels or the stored values.
STATUS_CHOICES: dict[str, StayStatus] = {status.value: status for status in StayStatus} | {
    label: status for status, label in STATUS_LABELS.items()
}


def register(cli: CommandLine) -> None:
    parser = cli.command("stays", "住院一览：在院、待结算、已结算、已撤销、待补登记（身份证号已遮蔽） / the stays at a glance",
                         stays)
    parser.add_argument("--status", metavar="STATUS",
                        help="只列此状态：在院/待结算/已结算/已撤销/待补登记（或 admitted、pending_settlement、settled、"
                             "cancelled、pending_backfill） / only stays in this status")
    parser.add_argument("--search", default="", metavar="TEXT",
                        help="按姓名、完整身份证号、住院号或就医登记号查找 / name, full ID number, 住院号 or 就医登记号")
    parser.add_argument("--limit", type=int, default=100, help="最多列出条数（默认 100） / at most N stays")
    parser.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    parser.add_argument("--old-full-payments", action="store_true",
                        help="列出旧流程（补登记时联网结算并退还基金支付部分）处理过的全额垫付，供审核员核对"
                             "（docs/full-payment.md） / stays paid in full that the old 补登记 settled")


def stays(args: argparse.Namespace) -> int:
    from app.workflow.stays import list_stays

    status = None
    if args.status:
        status = STATUS_CHOICES.get(args.status.strip())
        if status is None:
            print(f"未知的状态 {args.status}；可用：{'、'.join(STATUS_LABELS.values())} / unknown status",
                  file=sys.stderr)
            return 2
    if args.limit < 1:
        print("--limit 应为正整数 / --limit must be positive", file=sys.stderr)
        return 2
    if args.old_full_payments:
        return _old_full_payments(args)
    context = open_context(args)
    try:
        with context.transaction() as session:
            rows = list_stays(session, status=status, search=args.search, limit=args.limit)
    finally:
        context.close()
    if args.json:
        print_json([{
            "stay_id": s.stay_id, "name": s.name, "id_number": s.masked_id, "admission_no": s.admission_no,
            "registration_no": s.registration_no, "dept": s.dept, "admitted_on": s.admitted_on.isoformat(),
            "discharged_on": s.discharged_on.isoformat() if s.discharged_on else None, "status": s.status.value,
            "status_label": s.status_label, "settlement_id": s.settlement_id,
            "total": None if s.total is None else str(s.total),
            "personal_total": None if s.personal_total is None else str(s.personal_total),
            "registered_offline": s.registered_offline,
        } for s in rows])
        return 0
    if not rows:
        print("没有符合条件的住院登记 / no stays")
        return 0
    for s in rows:
        money = f"  合计 {s.total} 个人 {s.personal_total}" if s.total is not None else ""
        offline = "  （入院登记待补传）" if s.registered_offline else ""
        print(f"{s.stay_id:>6}  {s.status_label:<4}  {s.name}  {s.masked_id}  住院号 {s.admission_no}  "
              f"就医登记号 {s.registration_no or '—'}  {s.dept}  入院 {s.admitted_on}"
              f"{'  出院 ' + str(s.discharged_on) if s.discharged_on else ''}{money}{offline}")
    return 0


def _old_full_payments(args: argparse.Namespace) -> int:
    """The one-off listing of docs/full-payment.md: what the old 补登记 settled and handed back."""
    from app.workflow.stays import old_flow_full_payments

    context = open_context(args)
    try:
        with context.transaction() as session:
            rows = old_flow_full_payments(session)
    finally:
        context.close()
    if args.json:
        print_json([{
            "receipt_no": r.receipt_no, "stay_id": r.stay_id, "name": r.name, "id_number": r.masked_id,
            "admission_no": r.admission_no, "paid_in_full": str(r.paid_in_full), "settlement_id": r.settlement_id,
            "centre_settlement_id": r.centre_settlement_id, "fund_handed_back": str(r.fund_handed_back),
            "backfilled_at": r.backfilled_at.isoformat() if r.backfilled_at else None,
            "claim_batch": r.claim_batch, "cancelled": r.cancelled,
        } for r in rows])
        return 0
    if not rows:
        print("没有旧流程处理过的全额垫付 / none")
        return 0
    print("旧流程（补登记时联网结算并退还基金支付部分）处理过的全额垫付：这些住院已直接结算，"
          "请勿再让工伤职工回参保地报销；处理办法见 docs/full-payment.md。")
    for r in rows:
        state = "已撤销结算" if r.cancelled else (f"已列入月度申请 {r.claim_batch}" if r.claim_batch else "未申报")
        print(f"{r.receipt_no}  {r.name}  {r.masked_id}  住院号 {r.admission_no}  全额垫付 {r.paid_in_full}  "
              f"结算记录 {r.settlement_id}（中心 {r.centre_settlement_id}）  已退还基金支付部分 {r.fund_handed_back}  "
              f"{state}")
    return 0

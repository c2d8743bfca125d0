"""`wi-counter claims build --month YYYY-MM [--out DIR]`, `claims upload BATCH`, `claims status BATCH`,
`claims list`, `claims dispute DEDUCTION_ID`, `claims deadlines`, `claims medical-record SETTLEMENT_ID`
(病案首页已补齐, `003 §16`): the monthly claim and its deadlines from the command line.

Exit 0 done, 1 refused (the reason on stderr, in Chinese), 2 bad input. `build --out` writes the
three forms as PDF and XLSX (`printing.claim_forms`, imported here lazily). The month's pre-audit
(`claims predict / accuracy / adjust-rule`) is registered into this group by `app.cli.preaudit`.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.cli.common import (
    OPERATOR_HELP,
    CommandLine,
    add_operator_options,
    centre_client,
    open_context,
    print_json,
    print_table,
    signed_in,
    usage,
)


def register(cli: CommandLine) -> None:
    cli.group("claims", "月度结算申请：生成结算表和明细表、上传、审核结果和扣款 / the monthly claim",
              usage("wi-counter claims {build,upload,status,list,dispute,deadlines,medical-record,predict,accuracy,"
                    "adjust-rule}"))
    build = cli.action("claims", "build",
                       "生成（或刷新）某月的月度结算申请并打印合计；--out 写出三张表的 PDF 和 XLSX"
                       " / build (or refresh) a month's claim and print its totals; --out writes the three forms",
                       build_command)
    build.add_argument("--month", required=True, metavar="YYYY-MM", help="申报月份（结算日期所在月） / the month claimed")
    build.add_argument("--out", type=Path, metavar="DIR", help="写出结算表和明细表的文件夹 / folder for the forms")
    add_operator_options(build)
    build.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    upload = cli.action("claims", "upload", "分片上传月度结算申请（中断后再次运行即续传，不会重复）"
                                       " / upload the claim in chunks (run again to resume; never duplicates)",
                        upload_command)
    upload.add_argument("batch", metavar="BATCH", help="结算批次 / batch number")
    add_operator_options(upload)
    status = cli.action("claims", "status", "查询审核结果，保存扣款及异议期限 / fetch the agency's answer and its deductions",
                        status_command)
    status.add_argument("batch", metavar="BATCH", help="结算批次 / batch number")
    add_operator_options(status, "查询中心时的操作员登录名（须输入密码；--local 时不需要） / operator login when asking the "
                                 "centre (password asked for; not with --local)")
    status.add_argument("--local", action="store_true", help="不联系中心，只显示本地记录 / do not ask the centre")
    status.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    listing = cli.action("claims", "list", "列出月度结算申请 / list the claims", list_command)
    listing.add_argument("--month", metavar="YYYY-MM", help="只列此月 / only this month")
    listing.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    dispute = cli.action("claims", "dispute", "对一笔扣款提出异议，网上报送异议理由和证据文件的文件名及校验值（广东：经办机构推送之日起"
                                         " 10 个工作日内，003 §20）；未受理的异议再执行一次即重新提交"
                                         " / dispute a deduction online with the evidence files' names and SHA-256 "
                                         "(Guangdong: within 10 working days of the agency's push); run again to resend",
                         dispute_command)
    dispute.add_argument("deduction_id", type=int, metavar="DEDUCTION_ID", help="扣款编号（见 claims status） / deduction id")
    dispute.add_argument("--statement", required=True, help="异议理由 / the hospital's statement")
    dispute.add_argument("--evidence", action="append", default=[], metavar="FILE",
                         help="证据材料文件（读取其校验值，文件本身不上传），可多次给出 / an evidence file (hashed, not "
                              "sent; repeatable)")
    add_operator_options(dispute)
    deadlines = cli.action("claims", "deadlines", "列出未办的截止事项（月度申请、明细上传、扣款异议、病案首页补齐），及未导入调休安排的年份"
                                             " / list the open deadlines, and the years without their 调休 arrangement",
                           deadlines_command)
    deadlines.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    record = cli.action("claims", "medical-record", "登记一笔出院结算的病案首页已补齐（广东：出院结算后7天内补齐，003 §16）"
                                               " / record that a settlement's 病案首页 has been completed",
                        medical_record_command)
    record.add_argument("settlement_id", type=int, metavar="SETTLEMENT_ID", help="结算记录编号 / settlement id")
    add_operator_options(record)
    demo_month = cli.action("claims", "demo-month",
                            "演示模式：经沙箱结算中心为上月办理三笔结算（上月已有结算则不做） / demo only: settle three "
                            "stays last month through the sandbox centre", demo_month_command)
    demo_month.add_argument("--operator", metavar="LOGIN", default="cashier", help=OPERATOR_HELP)


def _signed_in(context: Any, args: argparse.Namespace) -> Any:
    """The operator acting on the month's claim, signed in with the password (a reviewer's permission)."""
    from app.operators import Permission

    return signed_in(context, args, Permission.BUILD_CLAIM)


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _summary_json(summary: Any) -> dict[str, Any]:
    return {
        "batch_no": summary.batch_no, "month": summary.month, "sequence": summary.sequence,
        "status": summary.status.value, "status_label": summary.status_label, "person_times": summary.person_times,
        "settlements": summary.settlements, "corrections": summary.corrections, "total": _money(summary.total),
        "fund_total": _money(summary.fund_total), "personal_total": _money(summary.personal_total),
        "deduction_total": _money(summary.deduction_total), "fund_settled_total": _money(summary.fund_settled_total),
        "chunks": summary.chunks, "chunks_done": summary.chunks_done, "centre_status": summary.centre_status,
    }


def _print_summary(summary: Any) -> None:
    print(f"结算批次 {summary.batch_no}（{summary.month}，第 {summary.sequence} 批）：{summary.status_label}")
    print(f"  人次 {summary.person_times}（结算 {summary.settlements} 笔，冲销 {summary.corrections} 笔）")
    print(f"  费用总额 {_money(summary.total)}  基金支付总额 {_money(summary.fund_total)}  "
          f"自付金额 {_money(summary.personal_total)}")
    print(f"  扣款金额 {_money(summary.deduction_total)}  基金结算金额 {_money(summary.fund_settled_total)}")


def build_command(args: argparse.Namespace) -> int:
    from app.claims.service import ClaimError, build_claim, claim_forms, parse_month

    try:
        parse_month(args.month)
    except ClaimError as exc:
        print(f"错误：{exc.message}", file=sys.stderr)
        return 2
    context = open_context(args)
    try:
        actor = _signed_in(context, args)
        result = build_claim(context, args.month, actor)
        written: list[Path] = []
        if args.out is not None:
            from printing.claim_forms import export

            with context.transaction() as session:
                forms = claim_forms(session, result.claim.claim_id)
            written = export(forms, args.out)
    finally:
        context.close()
    if args.json:
        print_json({**_summary_json(result.claim), "added": result.added, "removed": result.removed,
                          "created": result.created, "files": [str(p) for p in written]})
        return 0
    if result.created:
        print(f"已生成新的月度结算申请 / new claim built（{result.added} 笔）")
    elif result.unchanged:
        print("月度结算申请没有变化 / the claim is unchanged")
    else:
        print(f"已刷新月度结算申请 / claim refreshed：新增 {result.added} 笔，移出 {result.removed} 笔（已撤销）")
    _print_summary(result.claim)
    for path in written:
        print(f"  已写出 / written: {path}")
    return 0


def upload_command(args: argparse.Namespace) -> int:
    from app.claims.service import claim_by_batch
    from app.claims.upload import upload_claim

    context = open_context(args)
    try:
        actor = _signed_in(context, args)
        with context.transaction() as session:
            claim_id = claim_by_batch(session, args.batch).id
        client = centre_client(context, actor)
        try:
            outcome = upload_claim(context, client, claim_id, actor,
                                   progress=lambda done, chunks: print(f"  分片 / chunk {done}/{chunks}", flush=True))
        finally:
            client.close()
    finally:
        context.close()
    print("上传完成 / uploaded" if outcome.completed else "上传已暂停，再次运行即续传 / stopped; run again to resume")
    _print_summary(outcome.claim)
    return 0


def status_command(args: argparse.Namespace) -> int:
    from app.centre import wire
    from app.claims.calendar import load_calendar
    from app.claims.watch import calendar_warning
    from app.claims.deductions import list_deductions
    from app.claims.service import claim_by_batch, claim_summary
    from app.claims.upload import fetch_answer
    from app.db.models import ClaimStatus

    context = open_context(args)
    problems: tuple[str, ...] = ()
    try:
        calendar = load_calendar(context.paths.config_dir)
        with context.transaction() as session:
            claim = claim_by_batch(session, args.batch)
            claim_id, status = claim.id, claim.status
        if not args.local and status not in (ClaimStatus.DRAFT, ClaimStatus.UPLOADING):
            actor = _signed_in(context, args)  # the answer is fetched and stored in this operator's name
            client = centre_client(context, actor)
            try:
                problems = fetch_answer(context, client, claim_id, actor, calendar=calendar).problems
            finally:
                client.close()
        today = wire.now().date()
        with context.transaction() as session:
            summary = claim_summary(session, claim_id)
            deductions = list_deductions(session, today=today, calendar=calendar, claim_id=claim_id)
    finally:
        context.close()
    # The dispute days are working days: say so when a year they fall in lacks its 调休 arrangement.
    warning = calendar_warning(calendar, today)
    if args.json:
        print_json({**_summary_json(summary), "problems": list(problems), "calendar_warning": warning,
                          "deductions": [{
            "deduction_id": d.deduction_id, "name": d.name, "id_number": d.masked_id,
            "registration_no": d.registration_no, "line_no": d.line_no, "item_code": d.item_code,
            "item_name": d.item_name, "amount": _money(d.amount), "reason": d.reason,
            "notified_on": d.notified_on.isoformat(), "dispute_due": d.dispute_due.isoformat() if d.dispute_due else None,
            "working_days_left": d.working_days_left, "disputed": d.dispute is not None,
            "dispute_state": d.dispute.state if d.dispute else None,
            "dispute_answer": ({"status": d.dispute.answer_status, "answer": d.dispute.answer,
                                "answered": d.dispute.answered_on.isoformat() if d.dispute.answered_on else None}
                               if d.dispute and d.dispute.answer_status else None),
        } for d in deductions]})
        return 0
    _print_summary(summary)
    for problem in problems:
        print(f"  注意：{problem}")
    if warning and deductions:
        print(f"  注意：{warning}")
    if deductions:
        print(f"扣款明细 / deductions（{len(deductions)} 条）：")
    for d in deductions:
        item = f"{d.item_name or '整笔结算'}" + (f"（明细 {d.line_no}）" if d.line_no else "")
        print(f"  #{d.deduction_id} {d.name} {d.masked_id} {item} 扣 {_money(d.amount)} 元：{d.reason}；"
              f"异议{d.deadline_text}")
    return 0


def list_command(args: argparse.Namespace) -> int:
    from app.claims.service import ClaimError, list_claims, parse_month

    if args.month is not None:
        try:
            parse_month(args.month)
        except ClaimError as exc:
            print(f"错误：{exc.message}", file=sys.stderr)
            return 2
    context = open_context(args)
    try:
        with context.transaction() as session:
            claims = list_claims(session, args.month)
    finally:
        context.close()
    if args.json:
        print_json([_summary_json(c) for c in claims])
        return 0
    if not claims:
        print("没有月度结算申请 / no claims")
    print_table((claim.batch_no, claim.month, claim.status_label, f"人次 {claim.person_times}",
                 f"基金支付 {_money(claim.fund_total)}", f"扣款 {_money(claim.deduction_total)}") for claim in claims)
    return 0


def demo_month_command(args: argparse.Namespace) -> int:
    from app.demo.month import seed_demo_month
    from app.demo import DEMO_PASSWORD
    from app.operators import authenticate

    if not args.demo:
        print("错误：只用于演示模式（wi-counter --demo claims demo-month） / demo mode only", file=sys.stderr)
        return 2
    context = open_context(args)  # demo mode: opens only a database created as a demo (app.db.identity)
    try:
        with context.transaction() as session:
            # The demo's accounts share the published demo password; nowhere else is a login taken on trust.
            actor = authenticate(session, args.operator, DEMO_PASSWORD, context.counter_name, channel="cli")
        client = centre_client(context, actor)
        try:
            settled = seed_demo_month(context, client, actor)
        finally:
            client.close()
    finally:
        context.close()
    print(f"演示：上月新办理结算 {settled} 笔 / demo: {settled} stays settled last month")
    return 0


def dispute_command(args: argparse.Namespace) -> int:
    from app.centre import wire
    from app.claims.calendar import load_calendar
    from app.claims.deductions import file_dispute
    from app.errors import WiCounterError

    context = open_context(args)
    try:
        calendar = load_calendar(context.paths.config_dir)
        actor = _signed_in(context, args)
        client = centre_client(context, actor)
        try:
            # 003 §20: sent online with the evidence files' names and SHA-256 (the files stay here).
            dispute = file_dispute(context, client, args.deduction_id, args.statement, args.evidence, actor,
                                   today=wire.now().date(), calendar=calendar)
        except WiCounterError as exc:
            print(f"错误：{exc.message}", file=sys.stderr)
            return 1
        finally:
            client.close()
    finally:
        context.close()
    evidence = "、".join(dispute.evidence)
    if dispute.state == "submitted":
        print(f"异议已提交经办机构 / dispute submitted（中心编号 {dispute.centre_dispute_id}）：证据 {evidence}")
        return 0
    if dispute.state == "local":
        print(f"已在本院记录异议 / dispute recorded locally（本地区未规定网上异议，请按经办机构要求送交材料）：证据 {evidence}")
        return 0
    if dispute.state == "refused":
        print(f"异议未被受理 / dispute refused：{dispute.refusal}。请修改后重新提交。", file=sys.stderr)
        return 1
    print("异议尚未送达经办机构 / dispute pending：已在本院记录，联网恢复后请再次执行本命令提交。", file=sys.stderr)
    return 1


def medical_record_command(args: argparse.Namespace) -> int:
    """病案首页已补齐 (`003 §16`): a cashier's or reviewer's, signed in with the password; audited."""
    from app.errors import WiCounterError
    from app.operators import Permission
    from app.workflow.medical_record import mark_completed

    context = open_context(args)
    try:
        try:
            actor = signed_in(context, args, Permission.SETTLE)
            done = mark_completed(context, args.settlement_id, actor)
        except WiCounterError as exc:
            print(f"错误：{exc.message}", file=sys.stderr)
            return 1
    finally:
        context.close()
    print(f"已登记 / recorded：结算记录 {done.settlement_id}（住院号 {done.admission_no} {done.name} {done.masked_id}）"
          f"病案首页已补齐（{done.completed_by}）")
    return 0


def deadlines_command(args: argparse.Namespace) -> int:
    """The open deadlines as the 月度结算 page lists them (`app.claims.watch`), by this counter's profile."""
    from app.centre import wire
    from app.claims.calendar import load_calendar
    from app.claims.watch import calendar_warning, watch
    from app.rules.profiles import load_profile
    from app.settings import CLAIMS_PROFILE, CLAIMS_WARN_WORKING_DAYS

    context = open_context(args)
    try:
        calendar = load_calendar(context.paths.config_dir)
        today = wire.now().date()
        profile = load_profile(context.settings.get(CLAIMS_PROFILE))
        with context.transaction() as session:
            watched = watch(session, profile=profile, calendar=calendar, today=today,
                            warn_working_days=context.settings.get(CLAIMS_WARN_WORKING_DAYS))
    finally:
        context.close()
    warning = calendar_warning(calendar, today)
    if args.json:
        print_json({"today": today.isoformat(), "profile": profile.name, "calendar_warning": warning,
                          "deadlines": [{"kind": w.deadline.kind, "subject": w.deadline.subject,
                                         "due": w.deadline.due.isoformat(), "source": w.deadline.source,
                                         "state": w.status.state, "working_days_left": w.status.working_days_left,
                                         "message": w.status.message} for w in watched]})
        return 0
    if warning:
        print(f"注意：{warning}")
    if not watched:
        print("没有未办的截止事项 / no open deadlines")
    print_table((w.deadline.due.isoformat(), w.status.label, w.deadline.subject, w.deadline.source, w.status.message)
                for w in watched)
    return 0

"""`wi-counter centre status|outbox|resolve|reconcile|differences|review|calls|serve`: the link to the
centre, the outbox, the day-end reconciliation and the call log, for IT and support; `serve` runs the
sandbox centre (its options are the sandbox's own, `app.sandbox.cli`).

Exit 0 ok, 1 something needs attention (centre unreachable, entries still open), 2 bad input.
"""

from __future__ import annotations

import argparse
from typing import Any

from app.cli.common import CommandLine, add_operator_options, centre_client, open_context, print_json, signed_in


def register(cli: CommandLine) -> None:
    cli.group("centre", "结算中心：联网状态、发件箱、沙箱中心 / the settlement centre", centre_status)
    status = cli.action("centre", "status",
                        "检测结算中心能否连接，统计未确定的交易 / probe the centre, count open outbox entries", centre_status)
    status.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    outbox = cli.action("centre", "outbox", "列出结果未确定的交易（发件箱） / list open outbox entries", centre_outbox)
    outbox.add_argument("--all", action="store_true", help="包括已完成的 / include finished entries")
    outbox.add_argument("--limit", type=int, default=50, help="最多列出条数 / at most N entries (default 50)")
    outbox.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    resolve = cli.action("centre", "resolve", "按报文编号查询并处理结果未确定的交易 / resolve open entries by msgid",
                         centre_resolve)
    resolve.add_argument("--reverse", metavar="MSGID",
                         help="冲正（撤销）此报文编号的交易（审核员，须输入密码，记入审计日志）"
                              " / reverse the call with this msgid (a reviewer, with the password; audited)")
    add_operator_options(resolve, "冲正时的审核员登录名 / the reviewer's login, for --reverse")
    reconcile = cli.action("centre", "reconcile", "与结算中心对账（总账、明细） / daily reconciliation with the centre",
                           centre_reconcile)
    reconcile.add_argument("--date", metavar="YYYY-MM-DD", help="业务日期，默认今天 / business date, default today")
    reconcile.add_argument("--details", action="store_true",
                           help="总账一致也逐笔核对明细 / compare the details even when the totals agree")
    differences = cli.action("centre", "differences", "对账差异（待审核员处理） / reconciliation differences",
                             centre_differences)
    differences.add_argument("--date", metavar="YYYY-MM-DD", help="只看此业务日期 / only this business date")
    differences.add_argument("--all", action="store_true", help="包括已处理的 / include those dealt with")
    review = cli.action("centre", "review", "审核员记录对账差异的处理情况 / record how a difference was dealt with",
                        centre_review)
    review.add_argument("id", type=int, metavar="ID", help="差异编号（见 differences） / difference id")
    review.add_argument("--note", required=True, help="处理情况，如：已补记、已冲正 / what was done")
    add_operator_options(review, "审核员登录名（须输入密码） / reviewer login (password asked for)")
    calls = cli.action("centre", "calls", "调用日志：每次与中心的交互及结果 / the call log", centre_calls)
    calls.add_argument("--msgid", help="只看此报文编号 / only this msgid")
    calls.add_argument("--limit", type=int, default=50, help="最近 N 条（默认 50） / the last N calls")
    calls.add_argument("--full", action="store_true", help="含请求和应答内容 / with request and reply data")
    calls.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    from app.sandbox import cli as sandbox_cli  # the sandbox centre's own options

    serve = cli.action("centre", "serve",
                       "运行沙箱结算中心（培训、演示、测试用） / run the sandbox settlement centre (training, demo, tests)",
                       sandbox_cli.serve)
    sandbox_cli.add_arguments(serve)


def centre_status(args: argparse.Namespace) -> int:

    context = open_context(args)
    try:
        client = centre_client(context)
        try:
            status = client.check()
        finally:
            client.close()
    finally:
        context.close()
    if args.json:
        print_json({"url": status.url, "reachable": status.reachable, "error": status.error,
                          "open_entries": status.open_entries})
    else:
        link = "可以连接 / reachable" if status.reachable else f"无法连接 / unreachable：{status.error}"
        print(f"结算中心 / centre: {status.url}  {link}")
        print(f"结果未确定的交易 / open outbox entries: {status.open_entries}")
        if status.open_entries:
            print("运行 wi-counter centre resolve 按报文编号查询处理 / run `wi-counter centre resolve`")
    return 0 if status.reachable and not status.open_entries else 1


def centre_outbox(args: argparse.Namespace) -> int:
    from sqlalchemy import or_, select

    from app.centre.outbox import FOREIGN, OPEN_STATES, EntryView
    from app.db.models import OutboxEntry

    context = open_context(args)
    try:
        with context.transaction() as session:
            query = select(OutboxEntry).order_by(OutboxEntry.seq.desc()).limit(args.limit)
            if not args.all:
                # Open entries, and those the centre holds another caller's call for (for the reviewer).
                query = query.where(or_(OutboxEntry.state.in_(OPEN_STATES), OutboxEntry.resolution == FOREIGN))
            views = [EntryView.of(e) for e in session.scalars(query)]
    finally:
        context.close()
    views.reverse()
    if args.json:
        print_json([{
            "msgid": v.msgid, "operation": v.operation, "txn_code": v.txn_code, "state": v.state.value,
            "resolution": v.resolution, "attempts": v.attempts, "counter": v.counter_name, "stay_id": v.stay_id,
            "reverses_msgid": v.reverses_msgid, "error": v.error, "created_at": v.created_at.isoformat(),
        } for v in views])
        return 0
    if not views:
        print("没有结果未确定的交易 / no open entries" if not args.all else "发件箱为空 / the outbox is empty")
        return 0
    for v in views:
        note = f"  {v.error}" if v.error else ""
        print(f"{v.msgid}  {v.txn_code:<5} {v.operation:<18} {v.state.value:<9} {v.resolution or '-':<8} "
              f"{v.counter_name}{note}")
    return 0


def centre_resolve(args: argparse.Namespace) -> int:
    from app.recovery import recover_at_start

    context = open_context(args)
    try:
        if args.reverse:
            return _reverse(context, args)
        client = centre_client(context)
        try:
            # The start-up recovery (`app.recovery`): open entries by msgid, then what they leave behind.
            report = recover_at_start(context, client)
            resolutions = list(report.resolutions)
            remaining = client.open_entries()
        finally:
            client.close()
    finally:
        context.close()
    for r in resolutions:
        state = r.state.value if not r.open else "open（仍未确定 / still open）"
        print(f"{r.msgid}  {r.operation:<18} {state:<9} {r.resolution or '-':<8} {r.message}")
    print(f"已处理 / resolved: {sum(not r.open for r in resolutions)}，"
          f"仍未确定 / still open: {len(remaining)}")
    if report.summary:
        print(report.summary)
    return 0 if not remaining else 1


def _reverse(context: Any, args: argparse.Namespace) -> int:
    """冲正: a reviewer's act, signed in with the password and audited before and after the call.

    The local effect of a reversed settlement (its cancellation row, the stay back to 待结算, the
    slip's 已撤销 mark) is applied with the outbox's completion, in its transaction
    (`app.workflow.appliers.apply_reversal`)."""
    from app import audit
    from app.centre.gateway import CentreError
    from app.operators import Permission

    actor = signed_in(context, args, Permission.CANCEL_SETTLEMENT, who="审核员")
    with context.transaction() as session:
        audit.record(session, "centre_reversal_requested", operator_id=actor.id, counter_name=context.counter_name,
                     entity_type="outbox_entry", entity_id=args.reverse, detail={"msgid": args.reverse})
    client = centre_client(context, actor)
    try:
        try:
            result = client.reverse(args.reverse)
        except CentreError as exc:
            with context.transaction() as session:
                audit.record(session, "centre_reversal_failed", operator_id=actor.id,
                             counter_name=context.counter_name, entity_type="outbox_entry", entity_id=args.reverse,
                             detail={"msgid": args.reverse, "error": exc.message})
            print(f"错误：{exc.message}")
            return 1
    finally:
        client.close()
    with context.transaction() as session:
        audit.record(session, "centre_reversal", operator_id=actor.id, counter_name=context.counter_name,
                     entity_type="outbox_entry", entity_id=args.reverse,
                     detail={"msgid": args.reverse, "outcome": result.outcome.value, "changed": result.changed})
    print(f"{args.reverse}: 冲正结果 / reversal outcome: {result.outcome.value}"
          f"{'' if result.changed else '（此前已处理 / already done）'}")
    return 0


def _amounts(amounts: dict[str, str] | None) -> str:
    if not amounts:
        return "—"
    return f"总额 {amounts['total']} 基金 {amounts['fund_total']} 个人 {amounts['personal_total']}"


def centre_reconcile(args: argparse.Namespace) -> int:
    """对账: totals first (3201), the details (3202) only where they differ; stored for a reviewer."""
    import datetime as dt

    from app.centre import wire
    from app.centre.gateway import CentreError
    from app.centre.reconciliation import TRANSACTION_LABELS, DayEndReconciler

    try:
        day = dt.date.fromisoformat(args.date) if args.date else wire.now().date()
    except ValueError:
        print(f"错误：日期应为 YYYY-MM-DD：{args.date!r}")
        return 2
    context = open_context(args)
    try:
        client = centre_client(context)
        try:
            result = DayEndReconciler(context.sessions, client, context.counter_name).run(day, details=args.details)
        except CentreError as exc:
            print(f"对账未完成：{exc.message}")
            return 1
        finally:
            client.close()
    finally:
        context.close()
    print(f"对账日期 / business date: {day.isoformat()}（第 {result.reconciliation_id} 次对账记录）")
    for kind in ("settlement", "cancellation"):
        theirs, ours = result.centre[kind], result.counter[kind]
        mark = "一致" if theirs == ours else "不一致"
        print(f"{TRANSACTION_LABELS[kind]}：中心 {theirs.count} 笔 {theirs.total}（基金 {theirs.fund_total}），"
              f"本机 {ours.count} 笔 {ours.total}（基金 {ours.fund_total}）  {mark}")
    if result.details_compared:
        print(f"逐笔明细 / details: {len(result.differences)} 笔差异")
    for difference in result.differences:
        print(f"  {difference.label}  {difference.msgid}  "
              f"中心：{_amounts(difference.centre.amounts() if difference.centre else None)}  "
              f"本机：{_amounts(difference.counter.amounts() if difference.counter else None)}")
    if result.agrees:
        print("一致 / the books agree")
        return 0
    print("不一致 / the books differ：请审核员用 `wi-counter centre differences` 查看并处理")
    return 1


def centre_differences(args: argparse.Namespace) -> int:
    """The differences found by the day-end reconciliations, for a reviewer."""
    import datetime as dt

    from app.centre.reconciliation import list_differences

    try:
        day = dt.date.fromisoformat(args.date) if args.date else None
    except ValueError:
        print(f"错误：日期应为 YYYY-MM-DD：{args.date!r}")
        return 2
    context = open_context(args)
    try:
        with context.transaction() as session:
            differences = list_differences(session, day=day, open_only=not args.all)
    finally:
        context.close()
    if not differences:
        print("没有待处理的对账差异 / no open differences")
        return 0
    for d in differences:
        state = f"已处理：{d.review_note}" if d.reviewed else "待处理"
        print(f"[{d.id}] {d.business_date}  {d.label}  {d.msgid}  就医登记号 {d.registration_no or '—'}  "
              f"中心：{_amounts(d.centre_amounts)}  本机：{_amounts(d.counter_amounts)}  {state}")
    return 1 if any(not d.reviewed for d in differences) else 0


def centre_review(args: argparse.Namespace) -> int:
    """A reviewer records how a difference was dealt with."""
    from app.centre.reconciliation import review_difference
    from app.errors import WiCounterError
    from app.operators import Permission

    context = open_context(args)
    try:
        actor = signed_in(context, args, Permission.RECONCILE, who="审核员")
        with context.transaction() as session:
            review_difference(session, args.id, actor, args.note, context.counter_name)
    except WiCounterError as exc:
        print(f"错误：{exc.message}")
        return 1
    finally:
        context.close()
    print(f"已记录对账差异 {args.id} 的处理情况 / recorded")
    return 0


def centre_calls(args: argparse.Namespace) -> int:
    """The call log (every exchange with the centre and how it ended), newest last."""
    from app.centre.calllog import calls_for, recent_calls

    context = open_context(args)
    try:
        with context.transaction() as session:
            rows = calls_for(session, args.msgid) if args.msgid else list(reversed(recent_calls(session, args.limit)))
            calls: list[dict[str, Any]] = [{
                "msgid": c.msgid, "txn_code": c.txn_code, "operation": c.operation, "counter": c.counter_name,
                "operator": c.operator_code, "started_at": c.started_at.isoformat(), "duration_ms": c.duration_ms,
                "outcome": c.outcome, "error_code": c.error_code, "message": c.message, "centre_ref": c.centre_ref,
                **({"request": c.request, "response": c.response} if args.full else {}),
            } for c in rows]
    finally:
        context.close()
    if args.json:
        print_json(calls)
        return 0
    if not calls:
        print("没有调用记录 / no calls recorded")
    for c in calls:
        note = f"  {c['error_code'] or ''} {c['message'] or ''}".rstrip()
        print(f"{str(c['started_at'])[:19]}  {c['msgid']}  {c['txn_code']:<5} {c['outcome']:<11} {c['duration_ms']:>6} ms"
              f"{note}")
    return 0

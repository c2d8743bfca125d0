"""`wi-counter centre status|outbox|resolve`: the link to the centre and the outbox, for IT and support.

Registered in `app.cli` (the centre commands' marked place); exit 0 ok, 1 something needs
attention (centre unreachable, entries still open), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def _open(args: argparse.Namespace) -> Any:
    from app.bootstrap import open_counter

    return open_counter(home=args.home, demo=args.demo, db_url=args.db)


def centre_status(args: argparse.Namespace) -> int:
    from app.composition import open_counter_centre

    context = _open(args)
    try:
        client = open_counter_centre(context)
        try:
            status = client.check()
        finally:
            client.close()
    finally:
        context.close()
    if args.json:
        print(json.dumps({"url": status.url, "reachable": status.reachable, "error": status.error,
                          "open_entries": status.open_entries}, ensure_ascii=False, indent=2))
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

    context = _open(args)
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
        print(json.dumps([{
            "msgid": v.msgid, "operation": v.operation, "txn_code": v.txn_code, "state": v.state.value,
            "resolution": v.resolution, "attempts": v.attempts, "counter": v.counter_name, "stay_id": v.stay_id,
            "reverses_msgid": v.reverses_msgid, "error": v.error, "created_at": v.created_at.isoformat(),
        } for v in views], ensure_ascii=False, indent=2))
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
    from app.composition import open_counter_centre
    from app.recovery import recover_at_start

    context = _open(args)
    try:
        if args.reverse:
            return _reverse(context, args)
        client = open_counter_centre(context)
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
    from app.composition import open_counter_centre
    from app.centre.gateway import CentreError
    from app.cli.common import signed_in
    from app.operators import Permission

    actor = signed_in(context, args, Permission.CANCEL_SETTLEMENT, who="审核员")
    with context.transaction() as session:
        audit.record(session, "centre_reversal_requested", operator_id=actor.id, counter_name=context.counter_name,
                     entity_type="outbox_entry", entity_id=args.reverse, detail={"msgid": args.reverse})
    client = open_counter_centre(context, (actor.login, actor.display_name))
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
    from app.composition import open_counter_centre
    from app.centre.gateway import CentreError
    from app.centre.reconciliation import TRANSACTION_LABELS, DayEndReconciler

    try:
        day = dt.date.fromisoformat(args.date) if args.date else wire.now().date()
    except ValueError:
        print(f"错误：日期应为 YYYY-MM-DD：{args.date!r}")
        return 2
    context = _open(args)
    try:
        client = open_counter_centre(context)
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
    context = _open(args)
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
    from app.cli.common import signed_in
    from app.errors import WiCounterError
    from app.operators import Permission

    context = _open(args)
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

    context = _open(args)
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
        print(json.dumps(calls, ensure_ascii=False, indent=2))
        return 0
    if not calls:
        print("没有调用记录 / no calls recorded")
    for c in calls:
        note = f"  {c['error_code'] or ''} {c['message'] or ''}".rstrip()
        print(f"{str(c['started_at'])[:19]}  {c['msgid']}  {c['txn_code']:<5} {c['outcome']:<11} {c['duration_ms']:>6} ms"
              f"{note}")
    return 0

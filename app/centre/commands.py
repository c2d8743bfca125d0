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
    from app.centre.client import open_centre

    context = _open(args)
    try:
        client = open_centre(context)
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
    from sqlalchemy import select

    from app.centre.outbox import OPEN_STATES, EntryView
    from app.db.models import OutboxEntry

    context = _open(args)
    try:
        with context.transaction() as session:
            query = select(OutboxEntry).order_by(OutboxEntry.seq.desc()).limit(args.limit)
            if not args.all:
                query = query.where(OutboxEntry.state.in_(OPEN_STATES))
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
    from app.centre.client import open_centre
    from app.centre.gateway import CentreError

    context = _open(args)
    try:
        client = open_centre(context)
        try:
            if args.reverse:
                try:
                    result = client.reverse(args.reverse)
                except CentreError as exc:
                    print(f"错误：{exc.message}")
                    return 1
                print(f"{args.reverse}: 冲正结果 / reversal outcome: {result.outcome.value}"
                      f"{'' if result.changed else '（此前已处理 / already done）'}")
                return 0
            resolutions = client.resolve_open()
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
    return 0 if not remaining else 1


def centre_reconcile(args: argparse.Namespace) -> int:
    import datetime as dt

    from app.centre import wire
    from app.centre.client import open_centre

    try:
        day = dt.date.fromisoformat(args.date) if args.date else wire.now().date()
    except ValueError:
        print(f"错误：日期应为 YYYY-MM-DD：{args.date!r}")
        return 2
    context = _open(args)
    try:
        client = open_centre(context)
        try:
            result = client.reconcile(day)
        finally:
            client.close()
    finally:
        context.close()
    totals = result.centre
    print(f"对账日期 / business date: {day.isoformat()}")
    print(f"中心 / centre: 结算 {totals.settlements.count} 笔 {totals.settlements.total}，"
          f"撤销 {totals.cancellations.count} 笔 {totals.cancellations.total}，"
          f"净额 {totals.net.total}（基金 {totals.net.fund_total}）")
    print(f"本机 / this counter: {result.counter_count} 笔")
    for msgid in result.only_at_centre:
        print(f"仅中心有 / only at the centre: {msgid}")
    for msgid in result.only_here:
        print(f"仅本机有 / only here: {msgid}")
    print("一致 / the books agree" if result.agrees else "不一致 / the books differ")
    return 0 if result.agrees else 1


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

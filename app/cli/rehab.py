"""`wi-counter rehab-plan STAY_ID --document-no NO --summary TEXT --date YYYY-MM-DD`: record a rehab
stay's 康复方案 and upload it to the centre (2307), before its discharge settlement (`000 §30`).

The operator signs in with the password (`app.cli.common.signed_in`). Without `--document-no`
the stay's latest recorded plan is sent again (e.g. after the link came back).
Exit 0 uploaded, 1 refused or not uploaded (the reason printed), 2 bad input.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from app.cli.common import CommandLine, add_operator_options, centre_client, open_context, signed_in

def register(cli: CommandLine) -> None:
    parser = cli.command("rehab-plan", "录入并上传康复住院的康复方案（出院结算前，000 §30）"
                                       " / record and upload a rehab stay's plan (before discharge settlement)", rehab_plan)
    parser.add_argument("stay_id", type=int, metavar="STAY_ID", help="住院登记编号（wi-counter stays） / stay id")
    parser.add_argument("--document-no", metavar="NO", help="康复方案编号；不给则重新上传已录入的方案 / the plan's reference")
    parser.add_argument("--summary", help="康复方案摘要 / a summary of the plan")
    parser.add_argument("--date", metavar="YYYY-MM-DD", help="康复方案日期 / the plan's date")
    add_operator_options(parser)


def rehab_plan(args: argparse.Namespace) -> int:
    from app.errors import WiCounterError
    from app.operators import Permission
    from app.workflow.admission import centre_today
    from app.workflow.rehab_plan import record_rehab_plan, upload_rehab_plan

    drawn_up = None
    if args.document_no is not None:
        if not args.summary or not args.date:
            print("错误：录入康复方案须同时给出 --summary 和 --date / --summary and --date needed", file=sys.stderr)
            return 2
        try:
            drawn_up = dt.date.fromisoformat(args.date)
        except ValueError:
            print(f"错误：康复方案日期应写作 YYYY-MM-DD，不是 {args.date} / bad date", file=sys.stderr)
            return 2
    context = open_context(args)
    try:
        try:
            actor = signed_in(context, args, Permission.SETTLE)
            client = centre_client(context, actor)
            try:
                if drawn_up is not None:
                    plan = record_rehab_plan(context, client, args.stay_id, args.document_no, args.summary, drawn_up,
                                             actor, today=centre_today())
                else:
                    plan = upload_rehab_plan(context, client, args.stay_id, actor)
            finally:
                client.close()
        except WiCounterError as exc:
            print(f"错误：{exc.message}", file=sys.stderr)
            return 1
    finally:
        context.close()
    if plan.uploaded:
        print(f"康复方案 {plan.document_no}（{plan.drawn_up:%Y-%m-%d}）已上传到结算中心 / uploaded")
        return 0
    print(f"康复方案 {plan.document_no} 已在本机记录，但未上传：{plan.refusal} / recorded, not uploaded", file=sys.stderr)
    return 1

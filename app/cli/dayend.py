"""`wi-counter dayend [--date YYYY-MM-DD] [--cashier LOGIN] [--pdf FILE]`: the 收款员日结单 (issue 20 §10).

The operator signs in with the password (`--operator`, `--password-stdin`, as every command done
in someone's name); the report is their own, or with `--cashier` another cashier's (a reviewer or
administrator only). Imports `printing.dayend` lazily: reportlab only for `--pdf`.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from app.business_date import business_today
from app.cli.common import CommandLine, add_operator_options, open_context, signed_in
from app.errors import WiCounterError

def register(cli: CommandLine) -> None:
    dayend = cli.command("dayend", "收款员日结单：当日收取、退还、全额垫付、补登记、补打及应交现金"
                                   " / a cashier's day-end report (collected, refunded, cash to hand in)", dayend_command)
    dayend.add_argument("--date", metavar="YYYY-MM-DD", help="日期（本机日期），默认今天 / the local date, default today")
    dayend.add_argument("--cashier", metavar="LOGIN",
                        help="查看此收款员的日结单（审核员、管理员），默认本人 / whose report (reviewer, admin); default: one's own")
    dayend.add_argument("--pdf", type=Path, metavar="FILE", help="另生成可打印的 PDF / also write a printable PDF")
    add_operator_options(dayend, "操作员登录名（须输入其密码） / operator login (password asked for)")


def _day(text: str | None) -> dt.date:
    if not text:
        return business_today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise WiCounterError(f"日期“{text}”无法识别，请写成 年-月-日，如 2026-12-07。") from None


def dayend_command(args: argparse.Namespace) -> int:
    from app.workflow.dayend import day_end_report, operator_id_of

    day = _day(args.date)
    context = open_context(args)
    try:
        actor = signed_in(context, args)
        with context.transaction() as session:
            whose = operator_id_of(session, args.cashier) if args.cashier else actor.id
            report = day_end_report(session, actor, whose, day)
        counter_name = context.counter_name
    finally:
        context.close()
    print(f"收款员日结单　{report.institution_name}")
    print(f"窗口：{counter_name}　收款员：{report.operator_name}（{report.operator_login}）　日期：{day.isoformat()}")
    for label, count, amount in report.rows():
        print(f"  {label:<16}{count:>6}{amount:>16}")
    if report.audit_head_text:
        print(report.audit_head_text)
    if args.pdf is not None:
        from printing.dayend import render  # reportlab only when a PDF is asked for

        pdf = render(report, counter_name)
        try:
            args.pdf.write_bytes(pdf)
        except OSError as exc:
            raise WiCounterError(f"无法写入 PDF 文件 {args.pdf}：{exc.strerror or '写入失败'}。") from None
        print(f"日结单 PDF：{args.pdf}")
    return 0

"""`wi-counter slip SETTLEMENT_ID [--out OUT.pdf]`: issue the slip of a stored settlement (issue 7).

Archived and logged in the print log (later prints are 补打), in the name of the operator signed in
with the password. Imports `printing.templates` lazily: reportlab only for a slip.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli.common import CommandLine, add_operator_options, open_context, signed_in, write_file
from app.errors import WiCounterError
from app.settings import SLIP_PAPER


def register(cli: CommandLine) -> None:
    slip = cli.command("slip", "打印已结算记录的结算单（存档并记入打印记录；再次打印为补打）"
                               " / issue the slip of a stored settlement (archived and logged; later prints are 补打)",
                       _slip)
    slip.add_argument("settlement_id", type=int, metavar="SETTLEMENT_ID", help="结算记录编号 / settlement id")
    slip.add_argument("--out", type=Path, metavar="OUT.pdf", help="另存一份 PDF 到此处 / also write the PDF here")
    add_operator_options(slip, "制单人（操作员登录名，须输入其密码，记入打印记录）；默认取环境变量 WI_COUNTER_OPERATOR，"
                               "只有一名在用操作员时取该操作员 / who issues it (operator login, password asked for; "
                               "logged); default: $WI_COUNTER_OPERATOR, or the only active operator")
    slip.add_argument("--paper", choices=SLIP_PAPER.choices,
                      help="纸张，默认取设置 slip.paper / paper, default: the setting slip.paper")


def _slip(args: argparse.Namespace) -> int:
    from app.operators import Permission
    from app.settings import SLIP_ARCHIVE_DIR
    from app.slips import archive_folder, commit_issue, prepare_slip
    from printing.templates import render_slip  # reportlab is loaded only for a slip

    context = open_context(args)
    try:
        settings = context.settings
        folder = archive_folder(settings.get(SLIP_ARCHIVE_DIR), context.paths.data_dir)
        operator = signed_in(context, args, Permission.PRINT_SLIP, who="制单人")
        with context.transaction() as session:
            data = prepare_slip(session, args.settlement_id, operator)
            pdf = render_slip(data, paper=args.paper or settings.get(SLIP_PAPER))
            printer = f"PDF 文件 {args.out}" if args.out is not None else "仅存档（PDF）"
            issued = commit_issue(session, data, pdf, operator_id=operator.id, printer=printer, folder=folder)
            if args.out is not None:
                try:
                    write_file(args.out, pdf)
                except WiCounterError:  # a failed write logs nothing and archives nothing
                    issued.archive_path.unlink(missing_ok=True)
                    raise
    finally:
        context.close()
    what = data.mark.label or "原件"
    if args.out is not None:
        print(f"结算单（{what}）/ slip: {args.out}")
    print(f"已存档 / archived: {issued.archive_path}")
    return 0

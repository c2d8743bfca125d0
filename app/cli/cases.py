"""`wi-counter check CASE.json --stage admission|discharge` and `wi-counter settle CASE.json [--slip OUT.pdf]`:
the filing verdict and the settlement of a case file (`wi-counter-case/1`), nothing stored.

Exit 0 done, 2 an invalid case file (every problem with its JSON path). `settle --slip` imports
`printing.templates` lazily: reportlab only for a slip.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from app.cli.common import CommandLine, invalid_case, paths_of, write_file
from app.rules.case import InvalidCase
from app.settings import SLIP_PAPER


def register(cli: CommandLine) -> None:
    check = cli.command("check", "核验备案：能否直接结算及原因 / filing verdict for a case file", _check)
    check.add_argument("case", type=Path, metavar="CASE.json", help="病例文件（wi-counter-case/1） / case file")
    check.add_argument("--stage", required=True, choices=("admission", "discharge"),
                       help="入院登记或出院结算 / at admission or at discharge")
    check.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    settle = cli.command("settle", "计算结算：伤病分离与结算单金额 / compute the settlement of a case file", _settle)
    settle.add_argument("case", type=Path, metavar="CASE.json", help="病例文件（wi-counter-case/1） / case file")
    settle.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    settle.add_argument("--slip", type=Path, metavar="OUT.pdf",
                        help="另生成结算单预览 PDF（标明 预结算（非正式结算单））/ also render the preview slip to OUT.pdf")
    settle.add_argument("--paper", choices=SLIP_PAPER.choices,
                        help="结算单纸张，默认取设置 slip.paper / slip paper, default: the setting slip.paper")


def _check(args: argparse.Namespace) -> int:
    from app.rules.case import read_case_file, require_settled
    from app.rules.report import verdict_text
    from app.rules.verdict import judge

    try:
        case = read_case_file(args.case)
        if args.stage == "discharge":
            require_settled(case)
    except InvalidCase as exc:
        return invalid_case(exc, args.json)
    verdict = judge(case, args.stage)
    print(json.dumps(verdict.as_json(), ensure_ascii=False, indent=2) if args.json else verdict_text(verdict))
    return 0


def _settle(args: argparse.Namespace) -> int:
    from app.rules.case import read_case_file, require_settled
    from app.rules.report import settlement_text
    from app.rules.settlement import compute

    try:
        case = read_case_file(args.case)
        require_settled(case)
        result = compute(case)
    except InvalidCase as exc:
        return invalid_case(exc, args.json)
    print(json.dumps(result.as_json(), ensure_ascii=False, indent=2) if args.json else settlement_text(result))
    if args.slip is not None:
        from app.settings import Settings
        from app.slips import slip_from_case
        from printing.templates import render_slip  # reportlab is loaded only for a slip

        settings = Settings.load(paths_of(args).settings_file)
        # The case's profile picks the form: 附表3 in Guangdong, the cross-province slip in Beijing and the pilot.
        pdf = render_slip(slip_from_case(case, result), paper=args.paper or settings.get(SLIP_PAPER))
        write_file(args.slip, pdf)
        print(f"预结算单（非正式结算单）/ preview slip: {args.slip}", file=sys.stderr if args.json else sys.stdout)
    return 0

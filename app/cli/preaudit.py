"""`wi-counter audit-stay CASE.json [--json]`: the pre-audit's findings for a case file.

Registered in `app.cli`. Exit 0 when the audit ran (whatever it found), 2 when the case file is
invalid (the same message and JSON shape as `check`), 1 for anything else (e.g. a broken rules file,
named with its JSON path). The rules and indications files are the config folder's
`preaudit/*.json` when present, else the shipped ones; `--rules` / `--indications` name others.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def register(command: Callable[[str, str, Handler], argparse.ArgumentParser],
             action: Callable[[Any, str, str, Handler], argparse.ArgumentParser]) -> None:
    audit = command("audit-stay", "预审：按经办机构的审核规则检查病例文件，列出可能被扣款的明细"
                                  " / pre-audit a case file: the lines the agency would likely deduct", audit_stay_command)
    audit.add_argument("case", type=Path, metavar="CASE.json", help="病例文件（wi-counter-case/1） / case file")
    audit.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    audit.add_argument("--criteria-date", type=_date, metavar="YYYY-MM-DD",
                       help="达到出院标准的日期（病例文件不含此项） / the day the patient met the discharge criteria")
    audit.add_argument("--rules", type=Path, metavar="FILE",
                       help="预审规则文件，默认取配置文件夹 preaudit/rules.json 或内置文件 / rules file")
    audit.add_argument("--indications", type=Path, metavar="FILE",
                       help="药品适应症对照文件，默认同上 / drug indications file")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"应为 YYYY-MM-DD 日期：{text!r}") from None


def audit_stay_command(args: argparse.Namespace) -> int:
    from app import cli  # the same invalid-case message and JSON shape as `check`
    from app.paths import resolve_paths
    from app.preaudit.adapters import stay_audit_from_case
    from app.preaudit.engine import audit
    from app.preaudit.model import total_at_risk
    from app.preaudit.ruleset import load_ruleset, site_paths
    from app.rules.case import InvalidCase, read_case_file

    try:
        case = read_case_file(args.case)
    except InvalidCase as exc:
        return cli._invalid_case(exc, args.json)
    site_rules, site_indications = site_paths(resolve_paths(args.home, demo=args.demo).config_dir)
    rules = load_ruleset(args.rules or site_rules, args.indications or site_indications)
    stay = stay_audit_from_case(case, criteria_met_on=args.criteria_date)
    findings = audit(stay, rules)
    total = total_at_risk(findings)
    if args.json:
        print(json.dumps({"findings": [f.as_json() for f in findings], "total_at_risk": f"{total:.2f}",
                          "notes": list(stay.notes)}, ensure_ascii=False, indent=2))
        return 0
    if not findings:
        print("预审未发现可能被扣款的明细 / no findings")
    else:
        print(f"预审发现 {len(findings)} 处可能被扣款，预计扣款合计 {total:.2f} 元 / {len(findings)} findings")
        print(f"{'序号':>6}  {'风险':<4}{'预计扣款':>12}  规则（依据）")
        for finding in findings:
            rule = rules.rule(finding.rule)
            seq = "全院次" if finding.seq is None else str(finding.seq)
            print(f"{seq:>6}  {rule.severity_label:<4}{finding.amount_at_risk:>12.2f}  {rule.title}（{finding.source}）")
            print(f"{'':>8}{finding.message}")
            print(f"{'':>8}建议：{finding.advice}")
    for note in stay.notes:
        print(f"注：{note}", file=sys.stdout)
    return 0

"""The pre-audit from the command line (issue 10).

`wi-counter audit-stay CASE.json [--json]`: the findings for a case file. Exit 0 when the audit ran
(whatever it found), 2 when the case file is invalid (the same message and JSON shape as `check`),
1 for anything else (e.g. a broken rules file, named with its JSON path). The rules and indications
files are the config folder's `preaudit/*.json` when present, else the shipped ones; `--rules` /
`--indications` name others.

`wi-counter claims predict MONTH|BATCH`, `claims accuracy MONTH`, `claims adjust-rule RULE`: the
pre-audit at month end (registered into the `claims` group by `register_month`). Exit 0 done,
1 refused (the reason on stderr, in Chinese), 2 bad input. Money is a string in JSON (`"40.00"`);
a precision or recall with nothing to measure is `null` (shown as "—").
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

from app.cli.common import CommandLine, add_operator_options, invalid_case, open_context, paths_of, print_json, signed_in

MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


def register(cli: CommandLine) -> None:
    audit = cli.command("audit-stay", "预审：按经办机构的审核规则检查病例文件，列出可能被扣款的明细"
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
    from app.preaudit.adapters import stay_audit_from_case
    from app.preaudit.engine import audit
    from app.preaudit.model import total_at_risk
    from app.preaudit.ruleset import load_ruleset, site_paths
    from app.rules.case import InvalidCase, read_case_file

    try:
        case = read_case_file(args.case)
    except InvalidCase as exc:
        return invalid_case(exc, args.json)  # the same message and JSON shape as `check`
    site_rules, site_indications = site_paths(paths_of(args).config_dir)
    rules = load_ruleset(args.rules or site_rules, args.indications or site_indications)
    stay = stay_audit_from_case(case, criteria_met_on=args.criteria_date)
    findings = audit(stay, rules)
    total = total_at_risk(findings)
    if args.json:
        print_json({"findings": [f.as_json() for f in findings], "total_at_risk": f"{total:.2f}",
                          "notes": list(stay.notes)})
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


def register_month(cli: CommandLine) -> None:
    """`claims predict / accuracy / adjust-rule` (issue 10, part B), into the `claims` group."""
    predict = cli.action("claims", "predict", "预审：申请中每笔结算的预计扣款及合计（上传前） / the claim's predicted deductions",
                         predict_command)
    predict.add_argument("target", metavar="MONTH|BATCH", help="申报月份 YYYY-MM 或结算批次 / a month or a batch")
    predict.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    accuracy = cli.action("claims", "accuracy", "预审与经办机构扣款的对比：每条规则的准确率和召回率、未预测的扣款、"
                                           "常被否定的规则 / predicted vs deducted for an answered month",
                          accuracy_command)
    accuracy.add_argument("month", metavar="YYYY-MM", help="申报月份 / the month")
    accuracy.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    adjust = cli.action("claims", "adjust-rule", "审核员：在本院规则副本中启用或停用一条预审规则（记入审计） / "
                                            "reviewer: switch a rule on or off in the site's rules copy", adjust_command)
    adjust.add_argument("rule", metavar="RULE", help="规则编号，如 repeated_same_day / rule id")
    switch = adjust.add_mutually_exclusive_group(required=True)
    switch.add_argument("--disable", action="store_true", help="停用 / switch off")
    switch.add_argument("--enable", action="store_true", help="启用 / switch on")
    adjust.add_argument("--reason", required=True, help="调整理由 / why")
    add_operator_options(adjust)


def _ratio(value: float | None) -> str:
    from app.claims.preaudit_month import ratio_text

    return ratio_text(value)


def predict_command(args: argparse.Namespace) -> int:
    from app.claims.preaudit_month import predict_claim
    from app.claims.service import claim_by_batch, list_claims
    from app.preaudit.ruleset import site_ruleset

    context = open_context(args)
    try:
        rules = site_ruleset(context.paths.config_dir)
        with context.transaction() as session:
            if MONTH.fullmatch(args.target):
                claim_ids = [c.claim_id for c in reversed(list_claims(session, args.target))]
                if not claim_ids:
                    print(f"错误：{args.target} 还没有月度结算申请，先运行 claims build", file=sys.stderr)
                    return 1
            else:
                claim_ids = [claim_by_batch(session, args.target).id]
            predictions = [predict_claim(session, claim_id, rules) for claim_id in claim_ids]
    finally:
        context.close()
    if args.json:
        print_json({"claims": [{
            "batch_no": p.batch_no, "month": p.month, "total_at_risk": str(p.total_at_risk),
            "stays": [{"stay_id": s.stay_id, "settlement_id": s.settlement_id, "name": s.worker_name,
                       "registration_no": s.registration_no, "at_risk": str(s.at_risk),
                       "findings": [f.as_json() for f in s.findings]} for s in p.stays],
        } for p in predictions]})
        return 0
    for p in predictions:
        print(f"结算批次 {p.batch_no}（{p.month}）：预计扣款合计 {p.total_at_risk} 元，"
              f"{p.stays_at_risk}/{len(p.stays)} 笔结算有扣款风险")
        for s in p.stays:
            if not s.findings:
                continue
            print(f"  {s.worker_name} 就医登记号 {s.registration_no or '—'}：预计扣款 {s.at_risk} 元")
            for f in s.findings:
                where = f"明细 {f.seq}" if f.seq is not None else "整笔"
                print(f"    {where} {f.amount_at_risk} 元 {f.message}（{f.source}）")
    return 0


def accuracy_command(args: argparse.Namespace) -> int:
    from app.claims.preaudit_month import compare_month, contradicted_rules, load_agency_reasons, reasons_path
    from app.preaudit.ruleset import site_ruleset

    if not MONTH.fullmatch(args.month):
        print("错误：月份应为 YYYY-MM", file=sys.stderr)
        return 2
    context = open_context(args)
    try:
        rules = site_ruleset(context.paths.config_dir)
        reasons = load_agency_reasons(reasons_path(context.paths.config_dir))
        with context.transaction() as session:
            comparison = compare_month(session, args.month, reasons)
            contradicted = contradicted_rules(session, rules, reasons)
    finally:
        context.close()
    if args.json:
        print_json({**comparison.as_json(), "contradicted": [{
            "rule": c.rule, "title": c.title, "enabled": c.enabled, "explanation": c.explanation,
            "suggestion": c.suggestion, "months": [{"month": m.month, "predicted": m.predicted,
                                                    "true_positives": m.true_positives, "precision": m.precision,
                                                    "contradicted": m.contradicted} for m in c.months],
        } for c in contradicted]})
        return 0
    if not comparison.batches:
        print(f"{args.month} 没有已审核的月度结算申请 / no answered claim")
        return 0
    overall = comparison.overall
    print(f"{args.month}（批次 {'、'.join(comparison.batches)}）预审与经办机构扣款对比：")
    print(f"  合计：预测且扣款 {overall.true_positives} 条（扣 {overall.deducted_hit} 元），预测未扣 "
          f"{overall.false_positives} 条（{overall.predicted_missed} 元），扣款未预测 {overall.false_negatives} 条"
          f"（{overall.deducted_unpredicted} 元）；准确率 {_ratio(overall.precision)}，召回率 {_ratio(overall.recall)}")
    for note in comparison.notes:
        print(f"  注意：{note}")
    for r in comparison.rules:
        title = rules.rule(r.rule).title
        print(f"  {title}（{r.rule}）：命中 {r.true_positives}，误报 {r.false_positives}，漏报 {r.false_negatives}；"
              f"准确率 {_ratio(r.precision)}，召回率 {_ratio(r.recall)}")
    for u in comparison.unpredicted:
        print(f"  未预测的扣款：{u.item_name or '整笔结算'}（明细 {u.line_no}）{u.amount} 元：{u.reason}")
    for c in contradicted:
        print(f"  常被否定的规则：{c.title}（{c.rule}）{c.explanation}{c.suggestion}")
    return 0


def adjust_command(args: argparse.Namespace) -> int:
    from app.operators import Permission
    from app.claims.preaudit_month import set_rule_enabled

    context = open_context(args)
    try:
        actor = signed_in(context, args, Permission.BUILD_CLAIM)
        with context.transaction() as session:
            path = set_rule_enabled(session, context.paths.config_dir, args.rule, bool(args.enable), actor,
                                    counter_name=context.counter_name, reason=args.reason)
    finally:
        context.close()
    print(f"已{'启用' if args.enable else '停用'}预审规则 {args.rule}（本院规则副本 {path}）")
    return 0

"""`wi-counter claims predict MONTH|BATCH`, `claims accuracy MONTH`, `claims adjust-rule RULE`: the pre-audit
at month end from the command line (registered into the `claims` group by `app.claims.commands`).

Exit 0 done, 1 refused (the reason on stderr, in Chinese), 2 bad input. Money is a string in JSON
(`"40.00"`); a precision or recall with nothing to measure is `null` (shown as "—").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from typing import Any

from app.cli.common import add_operator_options

Handler = Callable[[argparse.Namespace], int]
MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")


def register(actions: Any, action: Callable[[Any, str, str, Handler], argparse.ArgumentParser]) -> None:
    predict = action(actions, "predict", "预审：申请中每笔结算的预计扣款及合计（上传前） / the claim's predicted deductions",
                     predict_command)
    predict.add_argument("target", metavar="MONTH|BATCH", help="申报月份 YYYY-MM 或结算批次 / a month or a batch")
    predict.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    accuracy = action(actions, "accuracy", "预审与经办机构扣款的对比：每条规则的准确率和召回率、未预测的扣款、"
                                           "常被否定的规则 / predicted vs deducted for an answered month",
                      accuracy_command)
    accuracy.add_argument("month", metavar="YYYY-MM", help="申报月份 / the month")
    accuracy.add_argument("--json", action="store_true", help="输出 JSON / print JSON")
    adjust = action(actions, "adjust-rule", "审核员：在本院规则副本中启用或停用一条预审规则（记入审计） / "
                                            "reviewer: switch a rule on or off in the site's rules copy", adjust_command)
    adjust.add_argument("rule", metavar="RULE", help="规则编号，如 repeated_same_day / rule id")
    switch = adjust.add_mutually_exclusive_group(required=True)
    switch.add_argument("--disable", action="store_true", help="停用 / switch off")
    switch.add_argument("--enable", action="store_true", help="启用 / switch on")
    adjust.add_argument("--reason", required=True, help="调整理由 / why")
    add_operator_options(adjust)


def _open(args: argparse.Namespace) -> Any:
    from app.bootstrap import open_counter

    return open_counter(home=args.home, demo=args.demo, db_url=args.db)


def _ratio(value: float | None) -> str:
    from app.claims.preaudit_month import ratio_text

    return ratio_text(value)


def predict_command(args: argparse.Namespace) -> int:
    from app.claims.preaudit_month import predict_claim
    from app.claims.service import claim_by_batch, list_claims
    from app.preaudit.ruleset import site_ruleset

    context = _open(args)
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
        print(json.dumps({"claims": [{
            "batch_no": p.batch_no, "month": p.month, "total_at_risk": str(p.total_at_risk),
            "stays": [{"stay_id": s.stay_id, "settlement_id": s.settlement_id, "name": s.worker_name,
                       "registration_no": s.registration_no, "at_risk": str(s.at_risk),
                       "findings": [f.as_json() for f in s.findings]} for s in p.stays],
        } for p in predictions]}, ensure_ascii=False, indent=2))
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
    context = _open(args)
    try:
        rules = site_ruleset(context.paths.config_dir)
        reasons = load_agency_reasons(reasons_path(context.paths.config_dir))
        with context.transaction() as session:
            comparison = compare_month(session, args.month, reasons)
            contradicted = contradicted_rules(session, rules, reasons)
    finally:
        context.close()
    if args.json:
        print(json.dumps({**comparison.as_json(), "contradicted": [{
            "rule": c.rule, "title": c.title, "enabled": c.enabled, "explanation": c.explanation,
            "suggestion": c.suggestion, "months": [{"month": m.month, "predicted": m.predicted,
                                                    "true_positives": m.true_positives, "precision": m.precision,
                                                    "contradicted": m.contradicted} for m in c.months],
        } for c in contradicted]}, ensure_ascii=False, indent=2))
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
    from app.cli.common import signed_in
    from app.operators import Permission
    from app.claims.preaudit_month import set_rule_enabled

    context = _open(args)
    try:
        actor = signed_in(context, args, Permission.BUILD_CLAIM)
        with context.transaction() as session:
            path = set_rule_enabled(session, context.paths.config_dir, args.rule, bool(args.enable), actor,
                                    counter_name=context.counter_name, reason=args.reason)
    finally:
        context.close()
    print(f"已{'启用' if args.enable else '停用'}预审规则 {args.rule}（本院规则副本 {path}）")
    return 0

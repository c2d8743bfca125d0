"""At month end: the claim's predicted deductions, and what the agency's answer teaches (issue 10, part B).

- `predict_claim(session, claim_id)`: every claimed settlement's stay audited at the claim stage, its
  findings and amount at risk, and the claim's total (each line once, `total_at_risk`).
- `store_predictions(session, claim_id)`: kept as `PreauditPrediction` rows when the claim is frozen
  for upload (`app.claims.upload`), replaced if stored again, so the answer can be compared with
  what was predicted *before* it came.
- `compare_claims(session, claim_ids)` / `compare_month(session, month)`: predicted lines (claim entry
  + charge line seq) against the agency's `ClaimDeduction` lines; per rule and overall true positives
  (predicted and deducted), false positives (predicted, not deducted), false negatives (deducted, not
  predicted by any rule: attributed to a rule by the agency's reason text, `agency_reasons.json`, or
  listed as 未预测的扣款), counts and amounts, precision and recall.
- `contradicted_rules(session)`: rules the agency kept contradicting over the last answered months,
  for the reviewer; `set_rule_enabled(...)` switches one in the site's copy of the rules file.

A finding with 0.00 at risk (`out_of_catalogue_no_consent`: the risk is the patient's self-pay, not the
fund's) is kept with the predictions but is no predicted deduction: it takes no part in the comparison.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app import audit
from app.db.models import (
    ClaimDeduction,
    ClaimEntry,
    ClaimStatus,
    MonthlyClaim,
    PreauditPrediction,
    Settlement,
    SettlementKind,
    Stay,
    Worker,
)
from app.errors import WiCounterError
from app.operators import OperatorInfo, Permission, require
from app.preaudit.model import Finding, total_at_risk
from app.preaudit.ruleset import (
    RULE_IDS,
    PreauditConfigError,
    RuleSet,
    _read_json,
    default_rules_path,
    parse_rules,
    site_paths,
)
from app.resources import resource_path
from app.workflow.stay_audit import audit_stay

ZERO = Decimal("0.00")
REASONS_FORMAT = "wi-counter-agency-reasons/1"
UNPREDICTED = "未预测的扣款"
NO_VALUE = "—"  # a ratio with nothing to divide: shown, never a crash


class PreauditMonthError(WiCounterError):
    """A month-end pre-audit action refused; `message` says why in Chinese."""


# --- predictions ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StayPrediction:
    claim_entry_id: int
    settlement_id: int
    stay_id: int
    worker_name: str
    registration_no: str | None
    centre_settlement_id: str
    findings: tuple[Finding, ...]
    at_risk: Decimal  # each line once


@dataclass(frozen=True)
class ClaimPrediction:
    claim_id: int
    batch_no: str
    month: str
    stays: tuple[StayPrediction, ...]
    total_at_risk: Decimal

    @property
    def stays_at_risk(self) -> int:
        return sum(1 for stay in self.stays if stay.at_risk > ZERO)


def predict_claim(session: Session, claim_id: int, rules: RuleSet | None = None) -> ClaimPrediction:
    """The claim's settlements audited at the claim stage. Corrections (a cancellation claimed to
    reverse an earlier claim) are not audited: the agency reverses them, it deducts nothing new."""
    claim = session.get(MonthlyClaim, claim_id)
    if claim is None:
        raise PreauditMonthError(f"没有编号为 {claim_id} 的月度结算申请")
    rows = session.execute(
        select(ClaimEntry.id, Settlement.id, Settlement.stay_id, Settlement.centre_settlement_id, Worker.name,
               Stay.registration_no, Stay.discharge_criteria_met_on)
        .join(Settlement, Settlement.id == ClaimEntry.settlement_id)
        .join(Stay, Stay.id == Settlement.stay_id).join(Worker, Worker.id == Stay.worker_id)
        .where(ClaimEntry.claim_id == claim_id, Settlement.kind == SettlementKind.SETTLEMENT)
        .order_by(ClaimEntry.id)).all()
    stays = []
    for entry_id, settlement_id, stay_id, centre_id, name, registration_no, criteria_met_on in rows:
        findings = tuple(audit_stay(session, stay_id, rules, stage="claim", criteria_met_on=criteria_met_on))
        stays.append(StayPrediction(entry_id, settlement_id, stay_id, name, registration_no, centre_id, findings,
                                    total_at_risk(list(findings))))
    return ClaimPrediction(claim.id, claim.batch_no, claim.month, tuple(stays),
                           sum((stay.at_risk for stay in stays), ZERO))


def store_predictions(session: Session, claim_id: int, rules: RuleSet | None = None) -> ClaimPrediction:
    """Keep the claim's predictions (replacing any kept before): one row per claim entry, line and rule."""
    prediction = predict_claim(session, claim_id, rules)
    entry_ids = select(ClaimEntry.id).where(ClaimEntry.claim_id == claim_id).scalar_subquery()
    session.execute(delete(PreauditPrediction).where(PreauditPrediction.claim_entry_id.in_(entry_ids)))
    now = dt.datetime.now(dt.UTC)
    for stay in prediction.stays:
        # One row per (line, rule): a rule reporting a line twice is summed into one prediction.
        merged: dict[tuple[int, str], tuple[Decimal, str]] = {}
        for finding in stay.findings:
            key = (finding.seq or 0, finding.rule)
            amount, message = merged.get(key, (ZERO, ""))
            merged[key] = (amount + finding.amount_at_risk, f"{message}；{finding.message}" if message else finding.message)
        session.add_all(PreauditPrediction(claim_entry_id=stay.claim_entry_id, seq=seq, rule=rule, amount_at_risk=amount,
                                           message=message, predicted_at=now)
                        for (seq, rule), (amount, message) in merged.items())
    session.flush()
    return prediction


# --- the agency's reasons and the learning thresholds ---------------------------------------------


@dataclass(frozen=True)
class ReasonPattern:
    pattern: re.Pattern[str]
    rule: str
    source: str


@dataclass(frozen=True)
class LearningThresholds:
    """A rule is contradicted in a month when at least `min_predicted_lines` lines were predicted by it
    and its precision is below `precision_below`; it is shown to the reviewer when that happened in at
    least `contradicted_in_at_least` of the last `months` answered months."""

    months: int = 3
    contradicted_in_at_least: int = 2
    precision_below: float = 0.5
    min_predicted_lines: int = 2


@dataclass(frozen=True)
class AgencyReasons:
    patterns: tuple[ReasonPattern, ...]
    learning: LearningThresholds

    def rule_for(self, reason: str) -> str | None:
        for entry in self.patterns:
            if entry.pattern.search(reason):
                return entry.rule
        return None


def default_reasons_path() -> Path:
    return resource_path("preaudit", "agency_reasons.json")


def reasons_path(config_dir: Path | None) -> Path:
    """The config folder's `preaudit/agency_reasons.json` when present, else the shipped file."""
    if config_dir is not None and (config_dir / "preaudit" / "agency_reasons.json").is_file():
        return config_dir / "preaudit" / "agency_reasons.json"
    return default_reasons_path()


def load_agency_reasons(path: Path | None = None) -> AgencyReasons:
    """Read and check the reasons file; every problem named with its JSON path."""
    path = path or default_reasons_path()
    document = _read_json(path)
    problems: list[str] = []
    patterns: list[ReasonPattern] = []
    learning = LearningThresholds()
    if not isinstance(document, dict) or document.get("format") != REASONS_FORMAT:
        raise PreauditConfigError(path, [f"$.format: 应为 {REASONS_FORMAT}"])
    unknown = set(document) - {"format", "note", "reasons", "learning"}
    problems.extend(f"$.{key}: 未知的键" for key in sorted(unknown))
    reasons = document.get("reasons")
    if not isinstance(reasons, list):
        problems.append("$.reasons: 应为数组")
        reasons = []
    for index, entry in enumerate(reasons):
        where = f"$.reasons[{index}]"
        if not isinstance(entry, dict) or set(entry) != {"pattern", "rule", "source"}:
            problems.append(f"{where}: 应为含 pattern、rule、source 的对象")
            continue
        if entry["rule"] not in RULE_IDS:
            problems.append(f"{where}.rule: 未知的规则 {entry['rule']!r}")
        if not isinstance(entry["source"], str) or not entry["source"]:
            problems.append(f"{where}.source: 应为依据条款（如 003 §15）")
        try:
            compiled = re.compile(str(entry["pattern"]))
        except re.error as exc:
            problems.append(f"{where}.pattern: 正则表达式有误（{exc}）")
            continue
        patterns.append(ReasonPattern(compiled, str(entry["rule"]), str(entry["source"])))
    raw = document.get("learning", {})
    if not isinstance(raw, dict) or set(raw) - set(LearningThresholds.__dataclass_fields__):
        problems.append("$.learning: 只能含 months、contradicted_in_at_least、precision_below、min_predicted_lines")
    else:
        for key in ("months", "contradicted_in_at_least", "min_predicted_lines"):
            if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool) or raw[key] < 1):
                problems.append(f"$.learning.{key}: 应为正整数")
        below = raw.get("precision_below", 0.5)
        if isinstance(below, bool) or not isinstance(below, (int, float)) or not 0 < below <= 1:
            problems.append("$.learning.precision_below: 应为 0 到 1 之间的数")
        if not problems:
            learning = LearningThresholds(**raw)
    if problems:
        raise PreauditConfigError(path, problems)
    return AgencyReasons(tuple(patterns), learning)


# --- the comparison -------------------------------------------------------------------------------


def ratio(hits: int, misses: int) -> float | None:
    """hits / (hits + misses); None when both are 0 (nothing to measure)."""
    return hits / (hits + misses) if hits + misses else None


def ratio_text(value: float | None) -> str:
    return NO_VALUE if value is None else f"{value:.0%}"


@dataclass
class RuleAccuracy:
    """One rule's month: counts of lines and their amounts (predicted and deducted), precision and recall."""

    rule: str
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    predicted_hit: Decimal = ZERO  # predicted amount on lines the agency deducted
    deducted_hit: Decimal = ZERO  # what the agency deducted on those lines
    predicted_missed: Decimal = ZERO  # predicted amount the agency did not deduct (false positives)
    deducted_unpredicted: Decimal = ZERO  # deducted where nothing was predicted (false negatives)

    @property
    def predicted(self) -> int:
        return self.true_positives + self.false_positives

    @property
    def precision(self) -> float | None:
        return ratio(self.true_positives, self.false_positives)

    @property
    def recall(self) -> float | None:
        return ratio(self.true_positives, self.false_negatives)

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "true_positives": self.true_positives, "false_positives": self.false_positives,
                "false_negatives": self.false_negatives, "predicted_hit": str(self.predicted_hit),
                "deducted_hit": str(self.deducted_hit), "predicted_missed": str(self.predicted_missed),
                "deducted_unpredicted": str(self.deducted_unpredicted), "precision": self.precision,
                "recall": self.recall}


@dataclass(frozen=True)
class PredictedLine:
    claim_entry_id: int
    seq: int
    rules: dict[str, Decimal]  # rule → amount at risk


@dataclass(frozen=True)
class DeductedLine:
    """One line the agency deducted (`claim_deduction`); line_no 0 is the whole settlement."""

    claim_entry_id: int
    line_no: int
    item_name: str | None
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class MonthComparison:
    month: str
    batches: tuple[str, ...]
    rules: tuple[RuleAccuracy, ...]  # rules with anything to count, in the rules file's order
    overall: RuleAccuracy  # each line once
    unpredicted: tuple[DeductedLine, ...]  # no rule predicted them, the reasons file maps them to no rule
    predictions_kept: bool = True  # False: a claim was answered but no predictions were kept for it
    notes: tuple[str, ...] = field(default=())

    def rule(self, rule_id: str) -> RuleAccuracy:
        for accuracy in self.rules:
            if accuracy.rule == rule_id:
                return accuracy
        return RuleAccuracy(rule_id)

    def as_json(self) -> dict[str, Any]:
        return {"month": self.month, "batches": list(self.batches), "overall": self.overall.as_json(),
                "rules": [r.as_json() for r in self.rules], "notes": list(self.notes),
                "unpredicted": [{"claim_entry_id": u.claim_entry_id, "line_no": u.line_no, "item_name": u.item_name,
                                 "amount": str(u.amount), "reason": u.reason} for u in self.unpredicted]}


def compare_lines(predicted: Iterable[PredictedLine], deducted: Iterable[DeductedLine], reasons: AgencyReasons,
                  *, month: str = "", batches: Sequence[str] = ()) -> MonthComparison:
    """The comparison's arithmetic, pure. A line is (claim entry, seq); seq 0 is the whole settlement.

    Per rule: TP = lines it predicted that the agency deducted (whatever the agency's reason), FP = lines
    it predicted that the agency did not deduct, FN = deducted lines no rule predicted whose reason maps
    to it. Overall each line counts once; unmapped unpredicted deductions count against overall recall.
    """
    order = {rule: index for index, rule in enumerate(RULE_IDS)}
    per_rule: dict[str, RuleAccuracy] = {}
    overall = RuleAccuracy("overall")
    deductions = {(d.claim_entry_id, d.line_no): d for d in deducted if d.amount > ZERO}
    predicted_keys: set[tuple[int, int]] = set()
    for line in predicted:
        rules = {rule: amount for rule, amount in line.rules.items() if amount > ZERO}  # 0.00: no deduction foreseen
        if not rules:
            continue
        key = (line.claim_entry_id, line.seq)
        predicted_keys.add(key)
        hit = deductions.get(key)
        for rule, amount in rules.items():
            accuracy = per_rule.setdefault(rule, RuleAccuracy(rule))
            if hit is not None:
                accuracy.true_positives += 1
                accuracy.predicted_hit += amount
                accuracy.deducted_hit += hit.amount
            else:
                accuracy.false_positives += 1
                accuracy.predicted_missed += amount
        largest = max(rules.values())  # the line's prediction, as total_at_risk counts it
        if hit is not None:
            overall.true_positives += 1
            overall.predicted_hit += largest
            overall.deducted_hit += hit.amount
        else:
            overall.false_positives += 1
            overall.predicted_missed += largest
    unpredicted: list[DeductedLine] = []
    for key, deduction in sorted(deductions.items()):
        if key in predicted_keys:
            continue
        overall.false_negatives += 1
        overall.deducted_unpredicted += deduction.amount
        rule_id = reasons.rule_for(deduction.reason)
        if rule_id is None:
            unpredicted.append(deduction)
            continue
        accuracy = per_rule.setdefault(rule_id, RuleAccuracy(rule_id))
        accuracy.false_negatives += 1
        accuracy.deducted_unpredicted += deduction.amount
    return MonthComparison(month, tuple(batches), tuple(sorted(per_rule.values(), key=lambda r: order.get(r.rule, 99))),
                           overall, tuple(unpredicted))


def answered_claims(session: Session, month: str) -> list[MonthlyClaim]:
    return list(session.scalars(select(MonthlyClaim).where(
        MonthlyClaim.month == month, MonthlyClaim.status == ClaimStatus.ANSWERED).order_by(MonthlyClaim.sequence)))


def compare_claims(session: Session, claim_ids: Sequence[int], reasons: AgencyReasons, *, month: str = "",
                   batches: Sequence[str] = ()) -> MonthComparison:
    """The stored predictions of the claims against their stored deductions (two queries)."""
    if not claim_ids:
        return compare_lines((), (), reasons, month=month, batches=batches)
    by_line: dict[tuple[int, int], dict[str, Decimal]] = defaultdict(dict)
    kept: set[int] = set()
    for entry_id, seq, rule, amount, claim_id in session.execute(
            select(PreauditPrediction.claim_entry_id, PreauditPrediction.seq, PreauditPrediction.rule,
                   PreauditPrediction.amount_at_risk, ClaimEntry.claim_id)
            .join(ClaimEntry, ClaimEntry.id == PreauditPrediction.claim_entry_id)
            .where(ClaimEntry.claim_id.in_(claim_ids))):
        by_line[(entry_id, seq)][rule] = amount
        kept.add(claim_id)
    deducted = [DeductedLine(d.claim_entry_id, d.line_no, d.item_name, d.amount, d.reason) for d in session.scalars(
        select(ClaimDeduction).join(ClaimEntry, ClaimEntry.id == ClaimDeduction.claim_entry_id)
        .where(ClaimEntry.claim_id.in_(claim_ids)))]
    comparison = compare_lines((PredictedLine(e, s, r) for (e, s), r in by_line.items()), deducted, reasons,
                               month=month, batches=batches)
    # A claim uploaded before the pre-audit existed has no predictions: say so rather than show 0% recall silently.
    missing = [batch for claim_id, batch in zip(claim_ids, batches, strict=False) if claim_id not in kept]
    if missing:
        return MonthComparison(comparison.month, comparison.batches, comparison.rules, comparison.overall,
                               comparison.unpredicted, predictions_kept=False,
                               notes=(f"批次 {'、'.join(missing)} 上传时没有保存预审预测（或预测无任何发现）",))
    return comparison


def compare_month(session: Session, month: str, reasons: AgencyReasons | None = None) -> MonthComparison:
    """The month's answered claims (all batches) compared."""
    claims = answered_claims(session, month)
    return compare_claims(session, [c.id for c in claims], reasons or load_agency_reasons(), month=month,
                          batches=[c.batch_no for c in claims])


# --- rules the agency keeps contradicting ----------------------------------------------------------


@dataclass(frozen=True)
class MonthPrecision:
    month: str
    predicted: int
    true_positives: int
    precision: float | None
    contradicted: bool


@dataclass(frozen=True)
class ContradictedRule:
    rule: str
    title: str
    enabled: bool
    months: tuple[MonthPrecision, ...]  # newest first
    explanation: str
    suggestion: str


def answered_months(session: Session, limit: int) -> list[str]:
    """The newest `limit` months with an answered claim, newest first."""
    months = session.scalars(select(MonthlyClaim.month).where(MonthlyClaim.status == ClaimStatus.ANSWERED)
                             .distinct().order_by(MonthlyClaim.month.desc()).limit(limit)).all()
    return list(months)


def contradicted_rules(session: Session, rules: RuleSet, reasons: AgencyReasons) -> list[ContradictedRule]:
    """Rules whose predictions the agency contradicted (`LearningThresholds`) in enough recent answered months."""
    thresholds = reasons.learning
    history: dict[str, list[MonthPrecision]] = defaultdict(list)
    for month in answered_months(session, thresholds.months):
        comparison = compare_month(session, month, reasons)
        for accuracy in comparison.rules:
            precision = accuracy.precision
            contradicted = (accuracy.predicted >= thresholds.min_predicted_lines and precision is not None
                            and precision < thresholds.precision_below)
            history[accuracy.rule].append(MonthPrecision(month, accuracy.predicted, accuracy.true_positives,
                                                         precision, contradicted))
    found = []
    for rule_id in RULE_IDS:
        months = history.get(rule_id, [])
        against = [m for m in months if m.contradicted]
        if len(against) < thresholds.contradicted_in_at_least:
            continue
        rule = rules.rule(rule_id)
        predicted = sum(m.predicted for m in against)
        confirmed = sum(m.true_positives for m in against)
        explanation = (f"近 {thresholds.months} 个已审核月份中有 {len(against)} 个月，规则“{rule.title}”（{rule.source}）"
                       f"预测的扣款大多未被经办机构扣除：这几个月共预测 {predicted} 条，实际扣款 {confirmed} 条"
                       f"（准确率低于 {thresholds.precision_below:.0%}）。")
        if sum(m.true_positives for m in months) == 0:
            suggestion = "经办机构从未按此规则扣款：建议在本院规则副本中停用此规则，或与经办机构核实其审核口径。"
        else:
            suggestion = "建议核对此规则的参数（如编码范围、每日次数），使其与经办机构的审核口径一致；必要时停用。"
        found.append(ContradictedRule(rule_id, rule.title, rule.enabled, tuple(months), explanation, suggestion))
    return found


def set_rule_enabled(session: Session, config_dir: Path, rule_id: str, enabled: bool, operator: OperatorInfo, *,
                     counter_name: str, reason: str) -> Path:
    """Switch a rule on or off in the site's copy `<config>/preaudit/rules.json` (created from the rules in
    force; the shipped file is never edited). Reviewer only; audited with the reason. Returns the file."""
    require(operator, Permission.BUILD_CLAIM)
    if rule_id not in RULE_IDS:
        raise PreauditMonthError(f"没有规则 {rule_id}")
    if not reason.strip():
        raise PreauditMonthError("调整预审规则须填写理由")
    current, _indications = site_paths(config_dir)
    document = _read_json(current)
    target = config_dir / "preaudit" / "rules.json"
    if target.resolve() == default_rules_path().resolve():  # never the shipped file, whatever the config folder
        raise PreauditMonthError("不能修改程序自带的规则文件")
    before = None
    for entry in document.get("rules", []):
        if isinstance(entry, dict) and entry.get("id") == rule_id:
            before = entry.get("enabled")
            entry["enabled"] = enabled
    parse_rules(document, target)  # the edited copy must still be a valid rules file
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a crash never leaves half a rules file that would stop every audit.
    handle, temporary = tempfile.mkstemp(prefix=".rules-", suffix=".json", dir=target.parent)
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        json.dump(document, stream, ensure_ascii=False, indent=2)
        stream.write("\n")
    os.replace(temporary, target)
    audit.record(session, "preaudit_rule_adjusted", operator_id=operator.id, counter_name=counter_name,
                 entity_type="preaudit_rule", entity_id=rule_id,
                 detail={"rule": rule_id, "enabled_before": before, "enabled": enabled, "reason": reason,
                         "file": str(target), "copied_from": str(current)})
    return target

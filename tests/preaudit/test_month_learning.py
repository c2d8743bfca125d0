"""Learning from the agency (issue 10, part B): the comparison's arithmetic, the rules the agency keeps
contradicting over recent answered months, and the reviewer's adjustment of the site's rules copy.

The agency deducts what breaks its rules (`003 §20`, `000 §33`); what the counter predicted and what
was deducted are compared line by line (claim entry + charge line seq)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from app.audit import verify_trail
from app.claims.preaudit_month import (
    AgencyReasons,
    DeductedLine,
    LearningThresholds,
    PredictedLine,
    PreauditMonthError,
    compare_lines,
    contradicted_rules,
    load_agency_reasons,
    ratio_text,
    set_rule_enabled,
)
from app.cli import main
from app.db.models import AuditEvent, ClaimDeduction, ClaimEntry, PreauditPrediction
from app.errors import PermissionDenied
from app.preaudit.ruleset import PreauditConfigError, default_rules_path, site_ruleset
from tests.claims.claim_fixtures import clerks, open_test_counter
from tests.preaudit.month_fixtures import answered_month
from tests.signed_in import password_on_stdin

REASONS = load_agency_reasons()
MONEY = Decimal


# --- the arithmetic, pure -------------------------------------------------------------------------


def test_no_predictions_and_no_deductions_show_a_dash_not_a_crash() -> None:
    comparison = compare_lines([], [], REASONS, month="2026-11")
    assert comparison.rules == () and comparison.unpredicted == ()
    assert (comparison.overall.precision, comparison.overall.recall) == (None, None)
    assert ratio_text(comparison.overall.precision) == ratio_text(comparison.overall.recall) == "—"


def test_no_predictions_but_deductions_recall_zero_precision_dash() -> None:
    deducted = [DeductedLine(1, 4, "床位费", MONEY("40.00"), "床位费 2026-11-03 计 2 次，超过每日 1 次，扣超出部分 40.00 元"),
                DeductedLine(1, 0, None, MONEY("12.00"), "未说明原因")]
    comparison = compare_lines([], deducted, REASONS)
    overall = comparison.overall
    assert (overall.true_positives, overall.false_positives, overall.false_negatives) == (0, 0, 2)
    assert ratio_text(overall.precision) == "—" and overall.recall == 0.0
    assert overall.deducted_unpredicted == MONEY("52.00")
    daily = comparison.rule("daily_limit")  # attributed by the agency's reason (003 §15 per-day items)
    assert (daily.false_negatives, daily.deducted_unpredicted, daily.precision, daily.recall) == (1, MONEY("40.00"), None, 0.0)
    [unmapped] = comparison.unpredicted
    assert (unmapped.line_no, unmapped.amount, unmapped.reason) == (0, MONEY("12.00"), "未说明原因")


def test_predictions_and_no_deductions_precision_zero_recall_dash() -> None:
    predicted = [PredictedLine(1, 3, {"daily_limit": MONEY("40.00"), "bed_days_exceed_stay": MONEY("45.00")}),
                 PredictedLine(2, 5, {"repeated_same_day": MONEY("30.00")})]
    comparison = compare_lines(predicted, [], REASONS)
    overall = comparison.overall
    assert (overall.true_positives, overall.false_positives, overall.false_negatives) == (0, 2, 0)
    # Each line once overall, with its largest prediction (as total_at_risk counts it).
    assert overall.predicted_missed == MONEY("75.00")
    assert overall.precision == 0.0 and ratio_text(overall.recall) == "—"
    assert [r.rule for r in comparison.rules] == ["bed_days_exceed_stay", "daily_limit", "repeated_same_day"]


def test_a_line_predicted_by_two_rules_counts_for_each_rule_and_once_overall() -> None:
    predicted = [PredictedLine(1, 3, {"daily_limit": MONEY("40.00"), "bed_days_exceed_stay": MONEY("45.00")}),
                 PredictedLine(1, 7, {"out_of_catalogue_no_consent": MONEY("0.00")})]  # 0.00: no deduction foreseen
    deducted = [DeductedLine(1, 3, "床位费", MONEY("40.00"), "超过每日 1 次"),
                DeductedLine(1, 9, "进口敷料", MONEY("0.00"), "说明")]  # nothing deducted: not a deduction
    comparison = compare_lines(predicted, deducted, REASONS)
    assert {r.rule: (r.true_positives, r.predicted_hit, r.deducted_hit) for r in comparison.rules} == {
        "bed_days_exceed_stay": (1, MONEY("45.00"), MONEY("40.00")), "daily_limit": (1, MONEY("40.00"), MONEY("40.00"))}
    overall = comparison.overall
    assert (overall.true_positives, overall.false_positives, overall.false_negatives) == (1, 0, 0)
    assert (overall.predicted_hit, overall.deducted_hit) == (MONEY("45.00"), MONEY("40.00"))
    assert overall.precision == overall.recall == 1.0


def test_the_reasons_file_is_checked_with_the_json_path(tmp_path: Path) -> None:
    path = tmp_path / "agency_reasons.json"
    path.write_text(json.dumps({"format": "wi-counter-agency-reasons/1", "reasons": [
        {"pattern": "(", "rule": "daily_limit", "source": "003 §15"},
        {"pattern": "x", "rule": "no_such_rule", "source": "003 §15"}], "learning": {"months": 0}}), encoding="utf-8")
    with pytest.raises(PreauditConfigError) as error:
        load_agency_reasons(path)
    problems = "\n".join(error.value.problems)
    assert "$.reasons[0].pattern" in problems and "$.reasons[1].rule" in problems and "$.learning.months" in problems


# --- rules the agency keeps contradicting -----------------------------------------------------------


@pytest.fixture
def ctx(db_url: str):
    context = open_test_counter(db_url)
    yield context
    context.close()


def test_a_rule_contradicted_in_two_of_the_last_three_months_is_shown_to_the_reviewer(ctx) -> None:
    # repeated_same_day: 0 of 2 confirmed in Sept, 1 of 3 in Oct (33%), 2 of 2 in Nov → contradicted twice.
    # daily_limit: confirmed every month. bed_days_exceed_stay: never confirmed, but one line a month (too few).
    answered_month(ctx, "2026-09", [("repeated_same_day", False), ("repeated_same_day", False),
                                    ("daily_limit", True), ("bed_days_exceed_stay", False)])
    answered_month(ctx, "2026-10", [("repeated_same_day", False), ("repeated_same_day", False),
                                    ("repeated_same_day", True), ("daily_limit", True), ("bed_days_exceed_stay", False)])
    answered_month(ctx, "2026-11", [("repeated_same_day", True), ("repeated_same_day", True), ("daily_limit", True),
                                    ("bed_days_exceed_stay", False)])
    rules = site_ruleset(ctx.paths.config_dir)
    with ctx.transaction() as session:
        [found] = contradicted_rules(session, rules, REASONS)
    assert found.rule == "repeated_same_day" and found.enabled and found.title == "同一项目同日重复"
    assert [(m.month, m.predicted, m.true_positives, m.contradicted) for m in found.months] == [
        ("2026-11", 2, 2, False), ("2026-10", 3, 1, True), ("2026-09", 2, 0, True)]
    assert "3 个已审核月份中有 2 个月" in found.explanation and "这几个月共预测 5 条，实际扣款 1 条" in found.explanation
    assert "参数" in found.suggestion

    # The thresholds are data: one contradicted month is enough when the site says so; a rule is judged
    # only on enough lines (bed_days_exceed_stay joins with min 1 line).
    lenient = AgencyReasons(REASONS.patterns, LearningThresholds(months=3, contradicted_in_at_least=2,
                                                                 precision_below=0.5, min_predicted_lines=1))
    with ctx.transaction() as session:
        assert [r.rule for r in contradicted_rules(session, rules, lenient)] == ["bed_days_exceed_stay",
                                                                                "repeated_same_day"]
        never = [r for r in contradicted_rules(session, rules, lenient) if r.rule == "bed_days_exceed_stay"]
    assert "停用" in never[0].suggestion  # never confirmed: switching it off is suggested
    # Only the last `months` answered months count: with one month (Nov), nothing is contradicted twice.
    recent = AgencyReasons(REASONS.patterns, LearningThresholds(months=1, contradicted_in_at_least=1,
                                                                precision_below=0.5, min_predicted_lines=2))
    with ctx.transaction() as session:
        assert contradicted_rules(session, rules, recent) == []


def test_the_reviewer_switches_a_rule_off_in_the_site_copy_and_a_cashier_is_refused(ctx) -> None:
    who = clerks(ctx)
    shipped = default_rules_path().read_bytes()
    site_file = ctx.paths.config_dir / "preaudit" / "rules.json"
    with ctx.transaction() as session, pytest.raises(PermissionDenied):
        set_rule_enabled(session, ctx.paths.config_dir, "repeated_same_day", False, who.cashier,
                         counter_name=ctx.counter_name, reason="经办机构不按此扣款")
    assert not site_file.exists()
    with ctx.transaction() as session, pytest.raises(PreauditMonthError, match="理由"):
        set_rule_enabled(session, ctx.paths.config_dir, "repeated_same_day", False, who.reviewer,
                         counter_name=ctx.counter_name, reason=" ")

    with ctx.transaction() as session:
        written = set_rule_enabled(session, ctx.paths.config_dir, "repeated_same_day", False, who.reviewer,
                                   counter_name=ctx.counter_name, reason="近三个月经办机构均未按此扣款")
    assert written == site_file and default_rules_path().read_bytes() == shipped  # the shipped file untouched
    rules = site_ruleset(ctx.paths.config_dir)
    assert not rules.enabled("repeated_same_day") and rules.enabled("daily_limit")
    with ctx.transaction() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "preaudit_rule_adjusted")).one()
        assert event.operator_id == who.reviewer.id and event.entity_id == "repeated_same_day"
        assert event.detail["enabled_before"] is True and event.detail["enabled"] is False
        assert event.detail["reason"] == "近三个月经办机构均未按此扣款"
        assert verify_trail(session).intact
    # Switched on again from the site's copy (edited in place, the other rules as they were).
    with ctx.transaction() as session:
        set_rule_enabled(session, ctx.paths.config_dir, "repeated_same_day", True, who.reviewer,
                         counter_name=ctx.counter_name, reason="经办机构恢复此项审核")
    assert site_ruleset(ctx.paths.config_dir).enabled("repeated_same_day")


def test_the_command_line_predicts_compares_and_adjusts(ctx, db_url: str, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    answered_month(ctx, "2026-10", [("repeated_same_day", False), ("daily_limit", True)])
    with ctx.transaction() as session:  # an unpredicted deduction the reasons file maps to no rule
        entry_id = session.scalars(select(ClaimEntry.id)).one()  # the month's one claimed settlement
        session.add(ClaimDeduction(claim_entry_id=entry_id, line_no=9, item_name="塞来昔布胶囊", amount=MONEY("38.00"),
                                   reason="人工审核：与工伤伤情无关", notified_on=dt.date(2026, 10, 28),
                                   dispute_due=dt.date(2026, 11, 11)))
    capsys.readouterr()
    assert main(["--db", db_url, "claims", "accuracy", "2026-10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["overall"]["true_positives"] == 1 and report["overall"]["false_positives"] == 1
    assert report["overall"]["false_negatives"] == 1 and report["overall"]["precision"] == 0.5
    assert report["unpredicted"] == [{"claim_entry_id": entry_id, "line_no": 9, "item_name": "塞来昔布胶囊",
                                      "amount": "38.00", "reason": "人工审核：与工伤伤情无关"}]
    assert {r["rule"]: r["precision"] for r in report["rules"]} == {"daily_limit": 1.0, "repeated_same_day": 0.0}
    assert main(["--db", db_url, "claims", "accuracy", "2026-10"]) == 0
    text = capsys.readouterr().out
    assert "准确率 50%" in text and "召回率 50%" in text and "未预测的扣款：塞来昔布胶囊" in text

    # The claim's stays audited now (the fixture's stay has a bed day and drugs: nothing at risk).
    assert main(["--db", db_url, "claims", "predict", "2026-10", "--json"]) == 0
    [claim] = json.loads(capsys.readouterr().out)["claims"]
    assert claim["month"] == "2026-10" and isinstance(claim["total_at_risk"], str) and len(claim["stays"]) == 1
    assert main(["--db", db_url, "claims", "predict", "2026-08"]) == 1
    assert "还没有月度结算申请" in capsys.readouterr().err

    password_on_stdin(monkeypatch)
    assert main(["--db", db_url, "claims", "adjust-rule", "repeated_same_day", "--disable", "--reason", "不扣",
                 "--operator", "cashier1", "--password-stdin"]) == 1
    assert "收款员无权" in capsys.readouterr().err
    assert main(["--db", db_url, "claims", "adjust-rule", "repeated_same_day", "--disable", "--reason", "不扣",
                 "--operator", "reviewer1"]) == 1  # the login name alone: refused
    assert "密码" in capsys.readouterr().err and site_ruleset(ctx.paths.config_dir).enabled("repeated_same_day")
    password_on_stdin(monkeypatch)
    assert main(["--db", db_url, "claims", "adjust-rule", "repeated_same_day", "--disable", "--reason", "不扣",
                 "--operator", "reviewer1", "--password-stdin"]) == 0
    assert not site_ruleset(ctx.paths.config_dir).enabled("repeated_same_day")


def test_predictions_kept_again_replace_the_earlier_ones(ctx) -> None:
    """Storing a claim's predictions twice (a rebuilt claim frozen again) leaves one set, not two."""
    from app.claims.preaudit_month import store_predictions

    claim_id = answered_month(ctx, "2026-10", [("repeated_same_day", False), ("daily_limit", True)])
    with ctx.transaction() as session:
        first = store_predictions(session, claim_id, site_ruleset(ctx.paths.config_dir))
        kept = session.execute(select(PreauditPrediction.seq, PreauditPrediction.rule)).all()
        store_predictions(session, claim_id, site_ruleset(ctx.paths.config_dir))
        again = session.execute(select(PreauditPrediction.seq, PreauditPrediction.rule)).all()
    # The fixture's hand-written rows are gone; what remains is what the rules find in the stored stay.
    expected = sorted({(f.seq or 0, f.rule) for stay in first.stays for f in stay.findings})
    assert sorted(kept) == sorted(again) == expected


def test_a_broken_site_rules_file_does_not_hold_up_the_claim(ctx, caplog: pytest.LogCaptureFixture) -> None:
    """The claim to the agency matters more than the prediction: the upload's freeze keeps none, says why."""
    from app.claims.upload import _keep_predictions

    claim_id = answered_month(ctx, "2026-10", [])
    site = ctx.paths.config_dir / "preaudit"
    site.mkdir(parents=True, exist_ok=True)
    (site / "rules.json").write_text('{"format": "wi-counter-preaudit-rules/1", "rules": []}', encoding="utf-8")
    with ctx.transaction() as session:
        _keep_predictions(session, ctx, claim_id)
        assert session.scalars(select(PreauditPrediction)).all() == []
    assert "预审规则文件有误" in caplog.text

"""Each pre-audit rule: one stay that triggers it and a near miss that does not (with the seed article)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from app.preaudit import (
    AuditCatalogueEntry,
    AuditDiagnosis,
    DeviceRecord,
    PriorClaim,
    PriorSettlement,
    RuleSet,
    audit,
    default_ruleset,
    total_at_risk,
)
from tests.preaudit.helpers import CATALOGUE, hits, line, stay


def with_params(rule_id: str, **params: Any) -> RuleSet:
    rules = default_ruleset()
    rule = dataclasses.replace(rules.rule(rule_id), params={**rules.rule(rule_id).params, **params})
    return RuleSet({**rules.rules, rule_id: rule}, rules.indications)


# --- outside_stay_dates (003 §15: only the stay's injury care is paid) ------------------------------------


def test_outside_stay_dates_flags_lines_before_admission_and_after_discharge() -> None:
    """003 §15: costs outside the stay are not the fund's; the agency deducts them whole."""
    findings = audit(stay(line(1, "XJ01DC02", 11, "2"), line(2, "XJ01DC02", dt.date(2024, 2, 29))))
    assert hits(findings) == [(1, "outside_stay_dates", "17.00"), (2, "outside_stay_dates", "8.50")]
    assert findings[0].source == "003 §15" and "晚于出院日期 2024-03-10" in findings[0].message
    assert "早于入院日期 2024-03-01" in findings[1].message


def test_outside_stay_dates_near_miss_on_admission_and_discharge_days() -> None:
    """003 §15: the admission and discharge days are inside the stay."""
    assert audit(stay(line(1, "XJ01DC02", 1, "2"), line(2, "XJ01DC02", 10))) == []


def test_a_line_refunded_in_full_has_nothing_at_risk() -> None:
    """003 §15: refunds net against their original; nothing left, nothing deducted."""
    assert audit(stay(line(1, "XJ01DC02", 11, "2"), line(2, "XJ01DC02", 11, "-2", refund_of=1))) == []


# --- bed_days_exceed_stay (003 §15 超标准收费) -------------------------------------------------------------


def test_bed_days_above_the_stays_days_are_flagged_on_the_latest_bed_line() -> None:
    """003 §15: 10 bed days for a 9-day stay (counted in, not out): the last day's fee is over the standard."""
    beds = [line(day, "110900001", day) for day in range(1, 11)]
    findings = audit(stay(*beds))
    assert hits(findings) == [(10, "bed_days_exceed_stay", "45.00")]
    assert "床位费合计 10 天，住院仅 9 天" in findings[0].message


def test_bed_days_near_miss_one_per_day_without_the_discharge_day() -> None:
    """003 §15: 9 bed days for a 9-day stay are the standard."""
    assert audit(stay(*[line(day, "110900001", day) for day in range(1, 10)])) == []


def test_bed_days_counting_the_discharge_day_is_a_parameter() -> None:
    """003 §15: a region that counts the discharge day allows 10 days (rules.json)."""
    rules = with_params("bed_days_exceed_stay", count_discharge_day=True)
    assert audit(stay(*[line(day, "110900001", day) for day in range(1, 11)]), rules) == []


# --- daily_limit (003 §15; the sandbox centre's per_day) -------------------------------------------------


def test_a_daily_item_charged_twice_on_a_day_is_flagged_on_the_later_line() -> None:
    """003 §15 超标准收费: a per-day item is paid once a day; the second charge is deducted."""
    findings = audit(stay(line(1, "110900001", 2), line(2, "110900001", 2)))
    assert hits(findings) == [(2, "daily_limit", "45.00")]
    assert "2024-03-02 计 2 次" in findings[0].message


def test_a_summary_line_of_three_days_on_one_date_is_what_the_agency_sees() -> None:
    """003 §15: the agency's machine rule sees quantity 3 on one day, and deducts 2/3 (as the sandbox does)."""
    assert hits(audit(stay(line(1, "110900001", 2, "3")))) == [(1, "daily_limit", "90.00")]


def test_daily_limit_near_misses_other_days_and_a_refunded_duplicate() -> None:
    """003 §15: once a day on two days, or a duplicate refunded on its day, is within the standard."""
    assert audit(stay(line(1, "110900001", 2), line(2, "110900001", 3))) == []
    assert audit(stay(line(1, "110900001", 2), line(2, "110900001", 2),
                      line(3, "110900001", 5, "-1", refund_of=2))) == []  # a refund counts on its original's day


def test_daily_codes_beyond_the_catalogue_flag_come_from_the_rules_file() -> None:
    """003 §15: 住院诊查费 is daily even where the local catalogue lacks the per_day flag."""
    entry = AuditCatalogueEntry("110200005", "住院诊查费", "treatment", Decimal("20.00"), per_day=False)
    catalogue = (*CATALOGUE.values(), entry)
    lines = (line(1, "110200005", 4, price="20.00", name="住院诊查费"), line(2, "110200005", 4, price="20.00", name="住院诊查费"))
    assert hits(audit(stay(*lines, catalogue=catalogue))) == [(2, "daily_limit", "20.00")]
    assert audit(stay(*lines, catalogue=catalogue), with_params("daily_limit", extra_codes=())) == []


# --- repeated_same_day (003 §15 不符合诊疗常规) ---------------------------------------------------------


def test_the_same_test_three_times_a_day_beyond_its_usual_two() -> None:
    """003 §15: 血常规 usually at most twice a day (prefix 2501 in rules.json); the third is deducted."""
    findings = audit(stay(line(1, "250100001", 4), line(2, "250100001", 4), line(3, "250100001", 4)))
    assert hits(findings) == [(3, "repeated_same_day", "25.00")]
    assert "超过常规的每日 2 次" in findings[0].message


def test_repeated_same_day_near_miss_at_the_usual_count() -> None:
    """003 §15: twice a day is usual for 血常规; a dressing change (1202) once."""
    assert audit(stay(line(1, "250100001", 4), line(2, "250100001", 4), line(3, "120200002", 4))) == []
    assert hits(audit(stay(line(1, "120200002", 4), line(2, "120200002", 4)))) == [(2, "repeated_same_day", "30.00")]


# --- injury_diagnosis_mismatch (003 §15 伤病分离) -------------------------------------------------------


def test_a_line_classed_injury_linked_to_a_non_injury_diagnosis() -> None:
    """003 §15: 伤病分离 rests on the recognised injury; treating 高血压 is not the fund's."""
    findings = audit(stay(line(1, "210200001", 3, injury=True, diagnosis="I10")))
    assert hits(findings) == [(1, "injury_diagnosis_mismatch", "180.00")]
    assert "I10 原发性高血压" in findings[0].message


def test_injury_diagnosis_mismatch_near_misses() -> None:
    """003 §15: injury line on the injury diagnosis; a line following I10 is already non-injury (fund 0)."""
    assert audit(stay(line(1, "210200001", 3, injury=True, diagnosis="S82.201"),
                      line(2, "210200001", 4, injury=None, diagnosis="I10"))) == []


# --- indication_mismatch (003 §15 合理用药; indications.json) ---------------------------------------------


def test_an_antihypertensive_classed_injury_in_a_stay_with_hypertension() -> None:
    """003 §15: 氨氯地平 treats I10-I15 only; with I10 a non-injury diagnosis of the stay, the agency deducts it."""
    findings = audit(stay(line(1, "XC08CA01", 3, "30")))
    assert hits(findings) == [(1, "indication_mismatch", "24.00")]
    assert "I10 原发性高血压" in findings[0].message


def test_insulin_with_diabetes_as_a_non_injury_diagnosis() -> None:
    """003 §15: insulin (XA10A) treats E10-E14."""
    diagnoses = (AuditDiagnosis("S82.201", "胫骨骨折", True), AuditDiagnosis("E11.900", "2型糖尿病", False))
    assert hits(audit(stay(line(1, "XA10AB01", 3, "2"), diagnoses=diagnoses))) == [(1, "indication_mismatch", "50.00")]


def test_indication_mismatch_near_misses() -> None:
    """003 §15: no hypertension in the stay, the line already non-injury, or the site removed the mapping."""
    only_injury = (AuditDiagnosis("S82.201", "胫骨骨折", True),)
    assert audit(stay(line(1, "XC08CA01", 3, "30"), diagnoses=only_injury)) == []
    assert audit(stay(line(1, "XC08CA01", 3, "30", injury=False))) == []
    rules = default_ruleset()
    without = RuleSet(rules.rules, tuple(i for i in rules.indications if i.drug != "XC08"))
    assert audit(stay(line(1, "XC08CA01", 3, "30")), without) == []


# --- price_over_limit_unsplit (003 §3 支付价格标准) ------------------------------------------------------


def test_a_price_above_the_limit_recorded_without_its_over_limit_part() -> None:
    """003 §3: the fund pays up to the limit; an unsplit excess (wrong mapping) is deducted."""
    findings = audit(stay(line(1, "XJ01DC02", 3, "10", "12.00", over_limit=Decimal("0.00"))))
    assert hits(findings) == [(1, "price_over_limit_unsplit", "35.00")]
    assert "疑似目录对照错误" in findings[0].message


def test_price_over_limit_near_misses_split_or_not_yet_settled() -> None:
    """003 §3: a recorded split of the whole excess, or no split yet (the settlement will make it)."""
    assert audit(stay(line(1, "XJ01DC02", 3, "10", "12.00", over_limit=Decimal("35.00")))) == []
    assert audit(stay(line(1, "XJ01DC02", 3, "10", "12.00"))) == []


# --- out_of_catalogue_no_consent (003 §15 告知义务) ------------------------------------------------------


def test_an_out_of_catalogue_injury_line_without_consent() -> None:
    """003 §15: items outside the catalogue need the patient told; the risk is the self-pay, not the fund's."""
    told_not = audit(stay(line(1, "TZ9902", 3, "2", "74.00", consent=False)))
    assert hits(told_not) == [(1, "out_of_catalogue_no_consent", "0.00")]
    assert "未告知患者" in told_not[0].message and "自费 148.00 元" in told_not[0].message
    assert "未记录告知" in audit(stay(line(1, "TZ9902", 3, "2", "74.00", consent=None)))[0].message


def test_out_of_catalogue_near_misses_consent_recorded_or_non_injury() -> None:
    """003 §15: consent recorded, or a non-injury line (the patient's own cost anyway)."""
    assert audit(stay(line(1, "TZ9902", 3, "2", "74.00", consent=True),
                      line(2, "TZ9902", 3, "2", "74.00", consent=False, injury=False))) == []


# --- after_discharge_criteria (003 §15 符合出院条件拒不出院) ---------------------------------------------


def test_costs_after_the_discharge_criteria_were_met() -> None:
    """003 §15: costs of staying on after meeting the discharge criteria are not paid."""
    findings = audit(stay(line(1, "XJ01DC02", 7), line(2, "XJ01DC02", 8, "2"), criteria_met_on=dt.date(2024, 3, 7)))
    assert hits(findings) == [(2, "after_discharge_criteria", "17.00")]


def test_after_discharge_criteria_near_miss_on_the_day_or_unknown() -> None:
    """003 §15: the day the criteria were met is still paid; no recorded date, no finding."""
    assert audit(stay(line(1, "XJ01DC02", 7), criteria_met_on=dt.date(2024, 3, 7))) == []
    assert audit(stay(line(1, "XJ01DC02", 8))) == []


# --- settled_twice (000 §34 杜绝重复报销) ---------------------------------------------------------------


def test_settling_a_stay_that_has_a_live_settlement() -> None:
    """000 §34: a second settlement of the stay is a duplicate; its whole fund part is at risk."""
    prior = (PriorSettlement(7, dt.date(2024, 3, 10), Decimal("17.00")),)
    findings = audit(stay(line(1, "XJ01DC02", 3, "2"), prior_settlements=prior))
    assert hits(findings) == [(None, "settled_twice", "17.00")]
    assert "7（2024-03-10）" in findings[0].message


def test_settled_twice_at_the_claim_counts_the_extra_live_settlements() -> None:
    """000 §34: before the claim, two live settlements: the second is the duplicate."""
    prior = (PriorSettlement(7, dt.date(2024, 3, 10), Decimal("17.00")),
             PriorSettlement(9, dt.date(2024, 3, 12), Decimal("15.00")))
    assert hits(audit(stay(line(1, "XJ01DC02", 3, "2"), prior_settlements=prior, stage="claim"))) == [
        (None, "settled_twice", "15.00")]


def test_settled_twice_near_miss_the_earlier_settlement_was_cancelled() -> None:
    """000 §34: after a cancellation, settling again is not a duplicate; one live settlement at the claim is fine."""
    cancelled = (PriorSettlement(7, dt.date(2024, 3, 10), Decimal("17.00"), cancelled=True),)
    assert audit(stay(line(1, "XJ01DC02", 3, "2"), prior_settlements=cancelled)) == []
    live = (PriorSettlement(7, dt.date(2024, 3, 10), Decimal("17.00")),)
    assert audit(stay(line(1, "XJ01DC02", 3, "2"), prior_settlements=live, stage="claim")) == []


# --- claimed_twice (000 §33) -----------------------------------------------------------------------------


def test_a_live_settlement_claimed_in_two_batches() -> None:
    """000 §33: the agency deducts what breaks the rules; a stay claimed twice is paid once."""
    prior = (PriorSettlement(7, dt.date(2024, 3, 10), Decimal("17.00")),)
    claims = (PriorClaim("B202403001", "2024-03", 7, Decimal("17.00")),
              PriorClaim("B202404001", "2024-04", 7, Decimal("17.00")))
    findings = audit(stay(line(1, "XJ01DC02", 3, "2"), prior_settlements=prior, prior_claims=claims, stage="claim"))
    assert hits(findings) == [(None, "claimed_twice", "17.00")]
    assert "B202403001（2024-03）、B202404001（2024-04）" in findings[0].message


def test_claimed_twice_near_miss_a_cancelled_settlement_and_its_replacement() -> None:
    """000 §33: the first settlement was cancelled (its correction claimed); only the second is live."""
    prior = (PriorSettlement(7, dt.date(2024, 3, 10), Decimal("17.00"), cancelled=True),
             PriorSettlement(9, dt.date(2024, 4, 2), Decimal("17.00")))
    claims = (PriorClaim("B202403001", "2024-03", 7, Decimal("17.00")),
              PriorClaim("B202404001", "2024-04", 9, Decimal("17.00")))
    assert audit(stay(line(1, "XJ01DC02", 3, "2"), prior_settlements=prior, prior_claims=claims, stage="claim")) == []


# --- device_over_limit (000 附件9-2 最高支付限额) ----------------------------------------------------------


def test_two_wheelchairs_in_one_configuration_exceed_the_payment_limit() -> None:
    """000 附件9-2: the fund pays a device up to its 最高支付限额 per configuration."""
    findings = audit(stay(line(1, "FJ0301001", 5, "2", "1000.00")))
    assert hits(findings) == [(1, "device_over_limit", "800.00")]


def test_a_device_price_above_the_limit_recorded_unsplit() -> None:
    """000 附件9-2: a device's excess over the limit is the patient's; recorded on the fund, it is deducted."""
    findings = audit(stay(line(1, "FJ0301001", 5, "1", "1500.00", over_limit=Decimal("0.00"))))
    assert hits(findings) == [(1, "device_over_limit", "300.00")]


def test_device_over_limit_near_misses() -> None:
    """000 附件9-2: one unit within the limit; one above it, which the settlement will split."""
    assert audit(stay(line(1, "FJ0301001", 5, "1", "1000.00"))) == []
    assert audit(stay(line(1, "FJ0301001", 5, "1", "1500.00"))) == []


# --- device_replaced_early (000 附件9-2 最低使用年限) ------------------------------------------------------


def test_a_prosthesis_replaced_before_its_minimum_use_period() -> None:
    """000 附件9-2: 小腿假肢 last configured 2022-05-01, minimum 3 years (FJ01 in rules.json): not paid."""
    history = (DeviceRecord("FJ0101001", "小腿假肢（普通型）", dt.date(2022, 5, 1)),)
    findings = audit(stay(line(1, "FJ0101002", 5, "1", "9000.00"), device_history=history))
    assert hits(findings) == [(1, "device_replaced_early", "9000.00")]
    assert "2025-05-01 前更换" in findings[0].message


def test_device_replaced_early_near_misses() -> None:
    """000 附件9-2: three years passed; or the earlier device is of another kind (轮椅, group FJ0301)."""
    old = (DeviceRecord("FJ0101001", "小腿假肢（普通型）", dt.date(2021, 3, 1)),)
    assert audit(stay(line(1, "FJ0101002", 5, "1", "9000.00"), device_history=old)) == []
    other = (DeviceRecord("FJ0301001", "普通轮椅", dt.date(2023, 5, 1)),)
    assert audit(stay(line(1, "FJ0101002", 5, "1", "9000.00"), device_history=other)) == []


# --- the whole ---------------------------------------------------------------------------------------------


def test_a_line_flagged_by_two_rules_counts_once_in_the_total() -> None:
    """003 §15: a bed fee twice on the only day of a 1-day stay is over both standards; deducted once."""
    findings = audit(stay(line(1, "110900001", 1), line(2, "110900001", 1), discharged=dt.date(2024, 3, 2)))
    assert hits(findings) == [(2, "bed_days_exceed_stay", "45.00"), (2, "daily_limit", "45.00")]
    assert total_at_risk(findings) == Decimal("45.00")


def test_a_disabled_rule_finds_nothing() -> None:
    """003 §15: a site may switch a rule off in rules.json ("enabled": false)."""
    rules = default_ruleset()
    off = RuleSet({**rules.rules, "daily_limit": dataclasses.replace(rules.rule("daily_limit"), enabled=False)},
                  rules.indications)
    assert audit(stay(line(1, "110900001", 2), line(2, "110900001", 2)), off) == []


@pytest.mark.parametrize("quantity", ["1", "3"])
def test_every_amount_at_risk_is_exact_to_the_fen(quantity: str) -> None:
    findings = audit(stay(line(1, "111100002", 2, quantity, "18.33"), line(2, "111100002", 2, "1", "18.33")))
    assert findings and all(f.amount_at_risk == f.amount_at_risk.quantize(Decimal("0.01")) for f in findings)


def test_the_engine_is_pure_no_database_nor_qt() -> None:
    """The engine, model and rules files load without SQLAlchemy or Qt (part B runs them on any thread)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, app.preaudit; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'PySide6', 'ui')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"

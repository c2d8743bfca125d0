"""Where a `StayAudit` comes from: a case file (`wi-counter-case/1`). A stored stay's is read by the
workflow (`app.workflow.stay_audit`), which reads the stay.

`audit_case(case)`: a case file knows no consent, no discharge-criteria date (unless given), no
earlier settlements or claims and no device history. Its out-of-catalogue injury lines are therefore
reported as 未记录告知 (consent not recorded): the rule applies, the file cannot show the consent;
the rules that need what a case lacks simply find nothing (`docs/preaudit.md`).
"""

from __future__ import annotations

import datetime as dt

from app.preaudit.engine import audit
from app.preaudit.model import AuditCatalogueEntry, AuditDiagnosis, AuditLine, Finding, StayAudit
from app.preaudit.ruleset import RuleSet
from app.rules.case import Case
from app.rules.settlement import case_diagnosis_injury

CASE_NOTES = (
    "病例文件不含患者告知记录：目录外的工伤项目一律按“未记录告知”提示",
    "病例文件不含以往结算、申报和辅助器具配置记录：重复结算、重复申报、提前更换三条规则不适用",
)


def audit_diagnoses(case: Case) -> tuple[AuditDiagnosis, ...]:
    # As the settlement rules weigh them: the one 伤病分离 precedence (app.rules.classify, 003 §15).
    names = {d.code: d.name for d in (case.recognition.diagnoses if case.recognition else ())}
    names.update({d.code: d.name for d in case.stay.diagnoses})
    return tuple(AuditDiagnosis(code, names[code], injury) for code, injury in case_diagnosis_injury(case).items())


def stay_audit_from_case(case: Case, *, criteria_met_on: dt.date | None = None) -> StayAudit:
    catalogue = tuple(AuditCatalogueEntry(e.code, e.name, e.category, e.price_limit, e.max_pay, e.per_day)
                      for e in case.catalogue)
    lines = tuple(AuditLine(i.seq, i.code, i.name, i.category, i.date, i.quantity, i.unit_price, i.amount,
                            i.injury, i.diagnosis, i.refund_of) for i in case.items)
    notes = CASE_NOTES if criteria_met_on is not None else (
        *CASE_NOTES, "未给出达到出院标准的日期（--criteria-date）：出院标准后费用规则不适用")
    return StayAudit(admitted=case.stay.admitted, discharged=case.stay.discharged, diagnoses=audit_diagnoses(case),
                     catalogue=catalogue, lines=lines, criteria_met_on=criteria_met_on, notes=notes)


def audit_case(case: Case, rules: RuleSet | None = None, *, criteria_met_on: dt.date | None = None) -> list[Finding]:
    """The findings for a parsed case file."""
    return audit(stay_audit_from_case(case, criteria_met_on=criteria_met_on), rules)

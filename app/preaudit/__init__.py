"""Pre-audit (预审, issue 10): the agency's machine rules run at the counter before discharge and claim.

Public API (`docs/preaudit.md`):
- `StayAudit` and its parts (`AuditLine`, `AuditDiagnosis`, `AuditCatalogueEntry`, `PriorSettlement`,
  `PriorClaim`, `DeviceRecord`) → `audit(stay, rules=None) -> list[Finding]` (pure);
- `audit_case(case)` for a parsed case file (a stored stay: `app.workflow.stay_audit.audit_stay`);
- `load_ruleset()` / `default_ruleset()` / `site_paths(config_dir)`: the rules and indications files;
- `total_at_risk(findings)`: a stay's predicted deduction, each line counted once.
"""

from app.preaudit.engine import audit
from app.preaudit.model import (
    AuditCatalogueEntry,
    AuditDiagnosis,
    AuditLine,
    DeviceRecord,
    Finding,
    PriorClaim,
    PriorSettlement,
    StayAudit,
    total_at_risk,
)
from app.preaudit.ruleset import PreauditConfigError, Rule, RuleSet, default_ruleset, load_ruleset, site_paths

__all__ = [
    "AuditCatalogueEntry", "AuditDiagnosis", "AuditLine", "DeviceRecord", "Finding", "PreauditConfigError",
    "PriorClaim", "PriorSettlement", "Rule", "RuleSet", "StayAudit", "audit", "default_ruleset", "load_ruleset",
    "site_paths", "total_at_risk",
]

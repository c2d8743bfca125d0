"""The table of reasons: reason × region × stage → blocking, the clerk's next step, the source.

Built from the profiles (`resources/profiles/*.toml`: `[next_steps]`, `[reason_sources]`) and the
verdict's rules, so `docs/reasons.md` is this table rendered (`python -m app.rules.reasons_table
> docs/reasons.md`); `tests/rules/test_reasons_table.py` checks the file against the code and every
verdict's message against its row.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.rules.profiles import Profile, load_profile, profile_names
from app.rules.verdict import ADMISSION, DEFAULT_SOURCES, DISCHARGE

STAGE_LABELS = {ADMISSION: "入院登记", DISCHARGE: "出院结算"}
# Reasons that can only arise at the discharge check (the settlement date decides them).
DISCHARGE_ONLY = frozenset({"ADMITTED_WITHIN_VALIDITY", "ON_THE_SPOT_FILED", "EMERGENCY_BACKFILED"})
NEVER_BLOCKING = frozenset({"ADMITTED_WITHIN_VALIDITY", "ON_THE_SPOT_FILED", "EMERGENCY_BACKFILED"})


@dataclass(frozen=True)
class ReasonRow:
    region: str
    code: str
    stage: str
    blocking: bool
    next_step: str
    source: str


def applicable_codes(profile: Profile) -> list[str]:
    """The reason codes the verdict can give in this region (`../shared/CASES.md`), in the contract's order."""
    codes = ["NO_RECOGNITION", "INSURANCE_TERMINATED", "CONTRIBUTION_ARREARS", "THIRD_PARTY_LIABILITY"]
    if profile.requires_direct_settlement_institution:
        codes.append("NOT_DIRECT_SETTLEMENT_INSTITUTION")
    if profile.requires_filing:
        codes += ["NO_FILING", "FILING_CANCELLED", "FILING_TERMINATED", "WRONG_DESTINATION", "CARE_NOT_COVERED",
                  "FILING_NOT_YET_VALID", "FILING_EXPIRED"]
        if not profile.on_the_spot_filing:
            codes.append("FILED_AFTER_ADMISSION")  # never where the worker files on the spot (003 §5)
        codes.append("ADMITTED_WITHIN_VALIDITY")
        if profile.one_time_referral:
            codes.append("FILING_ALREADY_USED")
        if profile.referral_window_days:
            codes.append("REFERRAL_WINDOW_PASSED")
        if profile.emergency_backfiling:
            codes += ["EMERGENCY_BACKFILE_REQUIRED", "EMERGENCY_BACKFILED"]
        if profile.on_the_spot_filing:
            codes.append("ON_THE_SPOT_FILED")
    return codes


def blocking(profile: Profile, code: str, stage: str) -> bool:
    if code in NEVER_BLOCKING:
        return False
    if code == "CONTRIBUTION_ARREARS":
        return profile.checks_contribution
    if code == "EMERGENCY_BACKFILE_REQUIRED":
        return stage == DISCHARGE  # a note at admission, blocking if still missing at discharge
    return True


def rows() -> list[ReasonRow]:
    found = []
    for name in profile_names():
        profile = load_profile(name)
        for code in applicable_codes(profile):
            for stage in (ADMISSION, DISCHARGE):
                if stage == ADMISSION and code in DISCHARGE_ONLY:
                    continue
                found.append(ReasonRow(name, code, stage, blocking(profile, code, stage),
                                       profile.next_step(code, stage),
                                       profile.reason_sources.get(code) or DEFAULT_SOURCES[code]))
    return found


def render() -> str:
    lines = [
        "# Reasons of the filing verdict, by region and stage",
        "",
        "Generated from `resources/profiles/*.toml` by `python -m app.rules.reasons_table > docs/reasons.md`;",
        "`tests/rules/test_reasons_table.py` checks this file against the code. A verdict's message is the",
        "fact (dates, filing number, places) followed by the next step below, true in that region at that",
        "stage; the source is the region's own article (or the national rule it follows).",
        "",
    ]
    for name in profile_names():
        profile = load_profile(name)
        lines += [f"## {profile.title} (`{name}`)", "", "| 原因代码 | 阶段 | 阻止 | 下一步（柜台） | 出处 |",
                  "| --- | --- | --- | --- | --- |"]
        for row in (r for r in rows() if r.region == name):
            step = row.next_step.replace("|", "\\|") or "—"
            lines.append(f"| {row.code} | {STAGE_LABELS[row.stage]} | {'是' if row.blocking else '否'} | {step} | "
                         f"{row.source} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")

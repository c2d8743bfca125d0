"""The filing verdict: may this stay be settled directly, at admission and at discharge?

Pure: a `Case` in, a `Verdict` out. The check happens twice, at admission
registration and at discharge settlement (`003 §14`, `000 §30`, `001 §28 §30`,
`002 经办规程 §17`). Every reason that applies is listed, each with its Chinese
message for the counter and the seed article it rests on; the profile of the region
decides which checks apply. Reason codes and boundaries: `../shared/CASES.md`.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from app.rules.case import Case, FilingFacts, place_name
from app.rules.profiles import Profile

ADMISSION = "admission"
DISCHARGE = "discharge"

# Where a profile names no article for a reason, these (from DOMAIN.md) apply.
DEFAULT_SOURCES: dict[str, str] = {
    "NO_RECOGNITION": "003 §5",
    "INSURANCE_TERMINATED": "003 §5",
    "CONTRIBUTION_ARREARS": "002 经办规程 §17",
    "THIRD_PARTY_LIABILITY": "000 §3",
    "NOT_DIRECT_SETTLEMENT_INSTITUTION": "000 §11",
    "NO_FILING": "000 §15",
    "FILING_CANCELLED": "001 §13",
    "FILING_TERMINATED": "001 §13",
    "WRONG_DESTINATION": "000 §11",
    "CARE_NOT_COVERED": "000 §4",
    "FILING_NOT_YET_VALID": "000 §12",
    "FILING_EXPIRED": "000 §12",
    "FILED_AFTER_ADMISSION": "001 §17",
    "ADMITTED_WITHIN_VALIDITY": "000 §12",
    "FILING_ALREADY_USED": "000 §10",
    "REFERRAL_WINDOW_PASSED": "003 §10",
    "EMERGENCY_BACKFILE_REQUIRED": "002 经办规程 §15",
    "EMERGENCY_BACKFILED": "002 经办规程 §15",
    "ON_THE_SPOT_FILED": "003 §5",
}
REASON_CODES = tuple(DEFAULT_SOURCES)

CARE_LABELS = {"medical": "就医", "rehab": "康复", "device": "辅助器具配置"}


@dataclass(frozen=True)
class Reason:
    """One reason of a verdict. `message` = what is the case + `next_step` (what the counter does next,
    as true in the case's region at this stage: the profile's `[next_steps]`)."""

    code: str
    blocking: bool
    message: str
    source: str
    next_step: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "blocking": self.blocking, "message": self.message, "source": self.source}


@dataclass(frozen=True)
class Verdict:
    stage: str
    settlement_kind: str
    check_date: dt.date
    reasons: tuple[Reason, ...] = field(default_factory=tuple)

    @property
    def allowed(self) -> bool:
        return not any(reason.blocking for reason in self.reasons)

    @property
    def codes(self) -> list[str]:
        return [reason.code for reason in self.reasons]

    def as_json(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "allowed": self.allowed,
            "settlement_kind": self.settlement_kind,
            "reasons": [reason.as_json() for reason in self.reasons],
        }


class _Reasons:
    def __init__(self, case: Case, stage: str) -> None:
        self.case = case
        self.stage = stage
        self.found: list[Reason] = []

    def add(self, code: str, blocking: bool, fact: str) -> None:
        profile = self.case.profile
        source = profile.reason_sources.get(code) or DEFAULT_SOURCES[code]
        step = profile.next_step(code, self.stage)
        self.found.append(Reason(code, blocking, f"{fact}{step}", source, step))


def _d(day: dt.date | None) -> str:
    return day.isoformat() if day else "（无）"


def judge(case: Case, stage: str) -> Verdict:
    """The verdict at `stage` ("admission" or "discharge"; discharge needs `stay.settled`)."""
    if stage not in (ADMISSION, DISCHARGE):
        raise ValueError(f"unknown stage {stage!r}")
    stay = case.stay
    profile = case.profile
    check_date = stay.admitted if stage == ADMISSION else stay.settled
    if check_date is None:
        raise ValueError("the discharge check needs stay.settled")
    reasons = _Reasons(case, stage)

    # The facts below say what is the case; the next step, true in this region at this stage,
    # comes from the profile (`[next_steps]`), so no region's remedy is offered in another.
    if case.recognition is None:
        reasons.add("NO_RECOGNITION", True, "无工伤认定（或工伤复发、康复、辅助器具配置确认）记录，不能按工伤保险直接结算。")
    if not case.worker.insurance_active:
        reasons.add("INSURANCE_TERMINATED", True, "工伤保险关系已终结或未参保，不能按工伤保险直接结算。")
    if not case.worker.contribution_ok:
        if profile.checks_contribution:
            reasons.add("CONTRIBUTION_ARREARS", True, "参保缴费状态异常（欠缴），暂不能直接结算。")
        else:
            reasons.add("CONTRIBUTION_ARREARS", False, "参保缴费状态异常（欠缴）。")
    if stay.third_party_liability:
        reasons.add("THIRD_PARTY_LIABILITY", True, "本次费用涉及第三方责任，不属于工伤保险直接结算范围。")

    if profile.requires_direct_settlement_institution and not case.institution.direct_settlement:
        reasons.add("NOT_DIRECT_SETTLEMENT_INSTITUTION", True,
                    f"本机构（{case.institution.name}）未开通{profile.settlement_kind}直接结算，不能直接结算。")

    if profile.requires_filing:
        _judge_filing(case, stage, check_date, reasons)

    return Verdict(stage, profile.settlement_kind, check_date, tuple(reasons.found))


def filing_end(filing: FilingFacts, profile: Profile) -> dt.date | None:
    """The last day of the filing's window: its own `valid_to`, else the seed's length for its
    category from `valid_from` (Beijing 1 year / 6 months, `001 §12`; a national referral unused
    for 6 months lapses, `000 §10`; a Jilin referral at most 6 months, `002 经办规程 §10`). None only
    where the seed fixes no length (a Jilin long-term filing lasts until its conditions lapse)."""
    if filing.valid_to is not None:
        return filing.valid_to
    months = profile.validity_months(filing.category)
    return last_day_of_months(filing.valid_from, months) if months else None


def last_day_of_months(start: dt.date, months: int) -> dt.date:
    """The last day of a period of `months` months starting on (and counting) `start`: the day before
    the same day `months` later (2023-01-20 + 6 → 2023-07-19, as the seeds' sample filings run);
    where that month has no such day, its last day (民法典 第二百零二条)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    days_in_month = calendar.monthrange(year, month)[1]
    if start.day > days_in_month:
        return dt.date(year, month, days_in_month)
    return dt.date(year, month, start.day) - dt.timedelta(days=1)


def _judge_filing(case: Case, stage: str, check_date: dt.date, reasons: _Reasons) -> None:
    stay = case.stay
    profile = case.profile
    filing = case.filing
    emergency_rule = profile.emergency_backfiling and stay.emergency
    if filing is not None and (profile.on_the_spot_filing or emergency_rule) and filing.filed_on > check_date:
        # Where a filing may follow the admission (Guangdong on the spot, 003 §5 last sentence; a Jilin
        # emergency, 002 经办规程 §15), one completed after the check date does not exist yet at that
        # check: NO_FILING (guide the worker to file now) or EMERGENCY_BACKFILE_REQUIRED.
        filing = None

    if filing is None:
        if emergency_rule:
            _backfile_required(reasons, stage)
        else:
            reasons.add("NO_FILING", True, "未查到异地就医备案，不能直接结算。")
        return

    _judge_status(filing, check_date, reasons)
    _judge_destination(case, filing, reasons)
    if stay.care not in filing.care:
        covered = "、".join(CARE_LABELS[c] for c in sorted(filing.care))
        reasons.add("CARE_NOT_COVERED", True,
                    f"备案的就医类型为{covered}，不含本次的{CARE_LABELS[stay.care]}，不能直接结算。")
    if profile.one_time_referral and filing.category == "referral" and filing.used_by_settlement:
        reasons.add("FILING_ALREADY_USED", True,
                    "转诊转院备案实行一次一备，该备案已在上次出院结算时使用并失效，不能直接结算。")

    filed_late = filing.filed_on > stay.admitted
    if filed_late and profile.on_the_spot_filing:
        # Guangdong: filed on the spot by the settlement date (checked above); the filing covers the
        # stay from admission, its window is not applied to the admission date (CASES.md).
        reasons.add("ON_THE_SPOT_FILED", False,
                    f"入院后于 {_d(filing.filed_on)} 当场办结备案（在出院结算前），备案自入院起覆盖本次住院。")
        return
    if filed_late and emergency_rule:
        # Jilin emergency: a filing completed by the settlement date covers the stay from
        # admission; its window is not applied to the admission date.
        if filing.filed_on <= check_date:
            reasons.add("EMERGENCY_BACKFILED", False,
                        f"急诊入院，备案于 {_d(filing.filed_on)} 补办完成（在出院结算前），可直接结算。")
        else:
            _backfile_required(reasons, stage)
        return
    if filed_late:
        reasons.add("FILED_AFTER_ADMISSION", True,
                    f"备案于 {_d(filing.filed_on)} 办理，晚于入院日期 {_d(stay.admitted)}；"
                    "应在入院前完成备案，本次住院不能直接结算。")
    _judge_window(case, filing, stage, check_date, reasons)


def _backfile_required(reasons: _Reasons, stage: str) -> None:
    if stage == ADMISSION:
        reasons.add("EMERGENCY_BACKFILE_REQUIRED", False, "急诊入院，尚无备案。")
    else:
        reasons.add("EMERGENCY_BACKFILE_REQUIRED", True, "急诊入院，出院结算前仍未完成补办备案，不能直接结算。")


def _judge_status(filing: FilingFacts, check_date: dt.date, reasons: _Reasons) -> None:
    if filing.status == "cancelled":
        reasons.add("FILING_CANCELLED", True, f"备案 {filing.id} 已取消，不能直接结算。")
    terminated = (filing.terminated_on is not None and filing.terminated_on <= check_date) or (
        filing.status == "terminated" and filing.terminated_on is None
    )
    if terminated:
        when = f"于 {_d(filing.terminated_on)} " if filing.terminated_on else ""
        reasons.add("FILING_TERMINATED", True,
                    f"备案 {filing.id} 已{when}终止（备案有效期内丧失待遇享受资格），不能直接结算。")


def _judge_destination(case: Case, filing: FilingFacts, reasons: _Reasons) -> None:
    destination = filing.destination
    institution = case.institution
    if destination.city_code != institution.city_code:
        reasons.add("WRONG_DESTINATION", True,
                    f"备案就医地为{place_name(destination.province, destination.city)}（{destination.city_code}），"
                    f"本机构在{place_name(institution.province, institution.city)}（{institution.city_code}），"
                    "不能直接结算。")
    elif destination.institution_code and destination.institution_code != institution.code:
        reasons.add("WRONG_DESTINATION", True,
                    f"备案选定的就医机构为 {destination.institution_code}，不是本机构（{institution.code}），"
                    "不能直接结算。")


def _judge_window(case: Case, filing: FilingFacts, stage: str, check_date: dt.date, reasons: _Reasons) -> None:
    admitted = case.stay.admitted
    end = filing_end(filing, case.profile)
    own = "" if filing.valid_to is not None else "（按规定的备案有效期计算）"
    window = case.profile.referral_window_days if filing.category == "referral" else 0
    window_passed = bool(window) and (admitted - filing.approved_on).days > window
    if end is None and window and not window_passed:
        # A Guangdong referral without an end date: its length is the 60-day window (003 §10, CASES.md);
        # passing it is REFERRAL_WINDOW_PASSED below, a stay admitted within it settles after it.
        end = filing.approved_on + dt.timedelta(days=window)
    # Validity is judged on the admission date, at both stages (000 §12, 001 §13).
    if admitted < filing.valid_from:
        reasons.add("FILING_NOT_YET_VALID", True,
                    f"入院日期 {_d(admitted)} 早于备案有效期起始日 {_d(filing.valid_from)}，不能直接结算。")
    elif end is not None and admitted > end:
        reasons.add("FILING_EXPIRED", True,
                    f"入院日期 {_d(admitted)} 晚于备案有效期截止日 {_d(end)}{own}，备案已过期，不能直接结算。")
    elif stage == DISCHARGE and end is not None and check_date > end:
        reasons.add("ADMITTED_WITHIN_VALIDITY", False,
                    f"备案已于 {_d(end)}{own}到期，但入院日期 {_d(admitted)} 在有效期内，不受备案有效期限制。")
    if window_passed:
        reasons.add("REFERRAL_WINDOW_PASSED", True,
                    f"转诊转院应自批准之日（{_d(filing.approved_on)}）起 {window} 日内完成，"
                    f"入院日期 {_d(admitted)} 已超过期限，不能直接结算。")

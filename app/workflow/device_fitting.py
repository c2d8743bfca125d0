"""辅助器具配置 (device fitting, issue 23 §8): the insured place's 配置费用核付通知单 checked before fitting.

A worker fitted with an assistive device brings the notice the insured place issued; the provider
checks the worker's identity, the filing and that notice at the centre before fitting (`001 §34`,
`002 经办规程 §18`, `000 §30`). Here, for a stay of care `device`:

- at admission (the fitting's registration): the notice is looked up (1401) and judged — this
  person's, not used, not cancelled, valid on the fitting date — its reasons joining the filing
  verdict (`admission.admit`), so a refused fitting is refused with its reason and article, and is
  kept as a check like any other refusal;
- its approved devices are recorded on the stay (`fitted_device`): the insured place's 最高支付限额
  per unit and 最低使用年限 (`000 §29`, `001 §15`, `000 附件2`), which the settlement's limits
  (`case_builder`) and the 附件9-2 rows (`app.claims.service`) take, not this city's catalogue;
- before the settlement (`discharge`): every device line on the notice and within its quantity
  (readiness, no network), and the notice asked again so that one used meanwhile (another provider
  settled on it) is refused before anything is sent; the centre refuses it too (3012).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.centre import wire
from app.centre.gateway import CentreRefused, CentreUnavailable, DeviceNotice, OutcomeUnknown
from app.db.models import ChargeCategory, ChargeLine, FittedDevice, Stay
from app.rules.verdict import Reason, Verdict
from app.workflow.common import WorkflowError

if TYPE_CHECKING:
    from app.centre.client import CentreClient

DEVICE = "device"

# The article each region's rule is written in (the national one where the region writes none).
_CHECK_SOURCES = {"beijing-cross": "001 §34", "national-cross": "000 §30", "jilin-intra": "002 经办规程 §18"}
_LIMIT_SOURCES = {"beijing-cross": "001 §15", "national-cross": "000 §29", "jilin-intra": "002 经办规程 §20"}
_NEW_NOTICE = "请工伤职工向参保地经办机构申请（重新出具）配置费用核付通知单后再配置"


def check_source(profile: str) -> str:
    return _CHECK_SOURCES.get(profile, "000 §30")


def limit_source(profile: str) -> str:
    return _LIMIT_SOURCES.get(profile, "000 §29")


@dataclass(frozen=True)
class NoticeCheck:
    """The notice as the centre gave it (None: not found, or not this person's) and what is wrong."""

    notice_no: str
    notice: DeviceNotice | None
    reasons: tuple[Reason, ...]

    @property
    def allowed(self) -> bool:
        return not any(reason.blocking for reason in self.reasons)


def _reason(code: str, fact: str, profile: str, next_step: str = _NEW_NOTICE) -> Reason:
    """A blocking reason as the rules word theirs: `message` = the fact, then the next step with its
    article (`app.rules.verdict.Reason`); the window shows the fact beside its source, the step under 下一步."""
    source = check_source(profile)
    step = f"{next_step}（{source}）"
    return Reason(code, True, f"{fact}。{step}", source, step)


def notice_reasons(notice: DeviceNotice, social_security_number: str, fitted_on: dt.date,
                   profile: str) -> tuple[Reason, ...]:
    """Why this notice does not allow this person's fitting on `fitted_on` (empty: it does)."""
    number = notice.notice_no
    if notice.social_security_number != social_security_number:
        return (_reason("NOTICE_OTHER_PERSON", f"配置费用核付通知单 {number} 不是本人的，核对身份不符", profile,
                        "请核对工伤职工本人的社会保障卡与其本人的核付通知单"),)
    reasons = []
    if notice.status == "used":
        reasons.append(_reason("NOTICE_USED", f"配置费用核付通知单 {number} 已结算使用过"
                               f"{f'（结算 {notice.used_by_settlement}）' if notice.used_by_settlement else ''}，"
                               "不能再次配置结算", profile))
    elif notice.status == "cancelled":
        reasons.append(_reason("NOTICE_CANCELLED", f"配置费用核付通知单 {number} 已被参保地经办机构作废", profile))
    if fitted_on > notice.valid_until:
        reasons.append(_reason("NOTICE_EXPIRED", f"配置费用核付通知单 {number} 有效期至 {notice.valid_until}，"
                               f"配置日期 {fitted_on} 已过期", profile))
    elif fitted_on < notice.issued:
        reasons.append(_reason("NOTICE_NOT_YET_ISSUED", f"配置日期 {fitted_on} 早于配置费用核付通知单 {number} 的出具日期 "
                               f"{notice.issued}", profile, "请按通知单出具日期之后的实际配置日期登记"))
    return tuple(reasons)


def check_notice(client: CentreClient, notice_no: str | None, social_security_number: str, fitted_on: dt.date,
                 profile: str) -> NoticeCheck:
    """The notice looked up at the centre (1401) and judged. The centre must answer: a fitting is not
    made on a notice nobody could check (001 §34), so an unreachable centre is an error, not a pass."""
    number = (notice_no or "").strip().upper()
    if not number:
        return NoticeCheck("", None, (_reason(
            "NOTICE_MISSING", "辅助器具配置须核对参保地出具的配置费用核付通知单，尚未填写核付通知单号", profile,
            "请填写工伤职工所持配置费用核付通知单的编号并查询核对"),))
    try:
        notice = client.find_notice(number, social_security_number)
    except CentreRefused as exc:
        if exc.code == wire.ErrorCode.NOTICE_NOT_FOUND.value:
            return NoticeCheck(number, None, (_reason(
                "NOTICE_NOT_FOUND", f"结算中心没有配置费用核付通知单 {number}", profile,
                "请核对通知单编号；编号无误的，请工伤职工向参保地经办机构核实"),))
        if exc.code == wire.ErrorCode.NOTICE_INVALID.value:
            return NoticeCheck(number, None, (_reason(
                "NOTICE_OTHER_PERSON", f"配置费用核付通知单 {number} 不是本人的，核对身份不符", profile,
                "请核对工伤职工本人的社会保障卡与其本人的核付通知单"),))
        raise
    except (CentreUnavailable, OutcomeUnknown) as exc:
        raise WorkflowError(f"结算中心暂时无法连接，不能核对配置费用核付通知单（{check_source(profile)}）："
                            "请联网恢复后再办理辅助器具配置登记。") from exc
    return NoticeCheck(number, notice, notice_reasons(notice, social_security_number, fitted_on, profile))


def with_notice(verdict: Verdict, check: NoticeCheck | None) -> Verdict:
    """The filing verdict with the notice's reasons: one verdict, one stored check, one refusal."""
    if check is None or not check.reasons:
        return verdict
    return Verdict(verdict.stage, verdict.settlement_kind, verdict.check_date, verdict.reasons + check.reasons)


def record_fitting(session: Session, stay: Stay, notice: DeviceNotice, fitted_on: dt.date) -> None:
    """The notice's number on the stay and its approved devices with the insured place's limits."""
    stay.notice_no = notice.notice_no
    session.execute(delete(FittedDevice).where(FittedDevice.stay_id == stay.id))  # a re-admitted 住院号
    for item in notice.items:
        session.add(FittedDevice(stay_id=stay.id, notice_no=notice.notice_no, code=item.code, name=item.name,
                                 quantity=item.quantity, max_pay=item.max_pay, min_years=item.min_years,
                                 fitted_on=fitted_on))
    session.flush()


def fitted_devices(session: Session, stay_id: int) -> list[FittedDevice]:
    return list(session.scalars(select(FittedDevice).where(FittedDevice.stay_id == stay_id)
                                .order_by(FittedDevice.id)))


def notice_limits(session: Session, stay_id: int) -> dict[str, Decimal]:
    """code → the insured place's 最高支付限额 per unit, for a stay fitted on a notice (`000 §29`)."""
    c = FittedDevice.__table__.c
    return {code: max_pay for code, max_pay in session.execute(
        select(c.code, c.max_pay_e4).where(c.stay_id == stay_id))}


def line_problems(session: Session, stay: Stay) -> list[str]:
    """Device lines the notice does not cover: a code not on it, or more than it approves
    (`001 §15`: 超出项目范围的，工伤保险基金不予支付; the notice is the approval, `001 §34`)."""
    if stay.notice_no is None:
        return []
    approved = {device.code: device for device in fitted_devices(session, stay.id)}
    fitted: dict[str, Decimal] = defaultdict(Decimal)
    names: dict[str, str] = {}
    for code, name, quantity in session.execute(
            select(ChargeLine.code, ChargeLine.name, ChargeLine.quantity).where(
                ChargeLine.stay_id == stay.id, ChargeLine.category == ChargeCategory.DEVICE)):
        if code is not None:
            fitted[code] += quantity
            names.setdefault(code, name)
    source = check_source(stay.profile)
    problems = [f"辅助器具 {names[code]}（{code}）不在配置费用核付通知单 {stay.notice_no} 上，不能按通知单配置结算"
                f"（{source}、{limit_source(stay.profile)}）" for code in sorted(fitted) if code not in approved]
    problems += [f"辅助器具 {names[code]}（{code}）配置 {_number(fitted[code])}，超过核付通知单 {stay.notice_no} 核准的 "
                 f"{_number(approved[code].quantity)}（{source}）"
                 for code in sorted(fitted) if code in approved and fitted[code] > approved[code].quantity]
    return problems


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def check_still_usable(client: CentreClient, stay: Stay, social_security_number: str) -> None:
    """Just before the settlement goes up: the notice not used or cancelled meanwhile (another provider
    may have settled on it). Raises WorkflowError naming why; nothing is sent then."""
    if stay.notice_no is None:
        return
    result = check_notice(client, stay.notice_no, social_security_number, stay.admitted_on, stay.profile)
    blocking = [r for r in result.reasons if r.blocking and r.code != "NOTICE_EXPIRED"]
    # Expiry is judged on the fitting date, which was checked at admission; use and cancellation
    # can happen later, so they are asked again.
    if blocking:
        raise WorkflowError("不能结算：" + "；".join(r.message for r in blocking) + "。")

"""Device fitting (辅助器具配置, issue 23 §8) against the real sandbox centre over HTTP.

Before fitting the counter checks the worker's identity, the device filing and the insured place's
配置费用核付通知单 at the centre (`001 §34`, `002 经办规程 §18`, `000 §30`); the devices are paid
by the insured place's catalogue and 最高支付限额, the excess is the worker's (`000 §29`, `001 §15`);
the 最低使用年限 is recorded and the 附件9-2 row takes it with the limit and the fitting date
(`000 §31`, `000 附件9-2`). 韩磊 (Beijing, resources/sandbox/workers.toml) holds four notices.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import Operation
from app.claims.service import build_claim, claim_forms
from app.db.models import (
    ChargeCategory,
    ChargeLine,
    ChargeSource,
    FilingCheck,
    FittedDevice,
    OutboxEntry,
    Settlement,
    SettlementMatrixCell,
    Stay,
)
from app.operators import OperatorInfo
from app.workflow.catalogue import seed_demo_catalogue
from app.workflow.common import WorkflowError
from app.workflow.discharge import readiness, settle_stay
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import SandboxProcess, admit_worker, centre_today, form

HAN_LEI_CARD = "K11010033"
HAN_LEI = "110108198803125316"
VALID = "HF110100202600001"  # 腋拐 ≤ 120.00 (3 年), 普通轮椅 ≤ 1000.00 (4 年): Beijing's limits
EXPIRED = "HF110100202600002"
USED = "HF110100202600003"


def fitting(notice_no: str | None, admission_no: str = "FJ-1", admitted: dt.date | None = None):  # type: ignore[no-untyped-def]
    base = form(admission_no, admitted=admitted or centre_today(), care="device",
                diagnoses=(("S82.201", "胫骨干骨折"),))
    return type(base)(**{**base.__dict__, "dept": "假肢矫形", "notice_no": notice_no})


def device_line(ctx: CounterContext, stay_id: int, actor: OperatorInfo, seq: int, code: str, name: str,
                price: str, quantity: str = "1") -> None:
    with ctx.transaction() as session:
        seed_demo_catalogue(session)
        amount = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"))
        session.add(ChargeLine(stay_id=stay_id, seq=seq, his_code=code, code=code, name=name,
                               category=ChargeCategory.DEVICE, quantity=Decimal(quantity), unit_price=Decimal(price),
                               amount=amount, charged_on=centre_today(), diagnosis_code="S82.201",
                               source=ChargeSource.MANUAL, created_by=actor.id))


def _cells(ctx: CounterContext, settlement_id: int) -> dict[tuple[str, str], Decimal]:
    with ctx.transaction() as session:
        return {(c.bucket.value, c.category.value): c.amount for c in session.scalars(
            select(SettlementMatrixCell).where(SettlementMatrixCell.settlement_id == settlement_id))}


def test_a_fitting_on_a_valid_notice_is_admitted_settled_and_its_9_2_row_carries_the_notice(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess) -> None:
    # 001 §34: identity, filing and notice checked before fitting; 000 §29, 001 §15: Beijing's limit
    # (腋拐 120.00, this city's catalogue says 100.00); the 30.00 above it is the worker's.
    person, outcome = admit_worker(counter, wf_client, cashier, HAN_LEI_CARD, fitting(VALID.lower()))
    assert person.name == "韩磊" and outcome.check.allowed and outcome.registration_no
    assert outcome.stay_id is not None
    with counter.transaction() as session:
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None and stay.notice_no == VALID
        devices = {d.code: (d.max_pay, d.min_years, d.fitted_on) for d in session.scalars(
            select(FittedDevice).where(FittedDevice.stay_id == stay.id))}
    assert devices == {"FJ0302002": (Decimal("120.00"), 3, centre_today()),
                       "FJ0301001": (Decimal("1000.00"), 4, centre_today())}
    entry = _admission_entry(counter, outcome.stay_id)
    assert entry.request["notice_no"] == VALID

    device_line(counter, outcome.stay_id, cashier, 1, "FJ0302002", "腋拐", "150.00")
    done = settle_stay(counter, wf_client, outcome.stay_id, cashier, centre_today())
    assert (done.total, done.fund_total, done.personal_total) == (Decimal("150.00"), Decimal("120.00"),
                                                                 Decimal("30.00"))
    cells = _cells(counter, done.settlement_id)
    assert cells[("fund", "device")] == Decimal("120.00") and cells[("over_limit", "device")] == Decimal("30.00")
    assert_matches_centre(counter, wf_client, done.settlement_id)  # noqa: F405

    # 附件9-2 (000 §31): 配置时间 = the fitting date, 最低使用年限 and 最高支付限额 from the notice.
    month = f"{centre_today():%Y-%m}"
    next_month = (centre_today().replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    claim = build_claim(counter, month, reviewer, today=next_month).claim
    with counter.transaction() as session:
        forms = claim_forms(session, claim.claim_id)
    (row,) = forms.devices
    assert (row.name, row.id_number, row.device_name) == ("韩磊", HAN_LEI, "腋拐")
    assert (row.configured_on, row.min_years, row.max_pay) == (centre_today(), 3, Decimal("120.00"))
    assert row.amounts.fund_total == Decimal("120.00") and row.amounts.personal_total == Decimal("30.00")


def _admission_entry(ctx: CounterContext, stay_id: int) -> OutboxEntry:
    with ctx.transaction() as session:
        entry = session.scalars(select(OutboxEntry).where(OutboxEntry.stay_id == stay_id,
                                                          OutboxEntry.operation == Operation.ADMISSION.value)).one()
        session.expunge(entry)
        return entry


def test_an_expired_notice_refuses_the_fitting_with_the_article(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    # 001 §34 (Beijing insured): the notice valid on the fitting date; this one ended 30 days ago.
    _, outcome = admit_worker(counter, wf_client, cashier, HAN_LEI_CARD, fitting(EXPIRED))
    assert outcome.stay_id is None and not outcome.check.allowed
    (reason,) = [r for r in outcome.check.reasons if r.blocking]
    assert reason.code == "NOTICE_EXPIRED" and reason.source == "001 §34"
    assert EXPIRED in reason.message and "已过期" in reason.message
    assert any("参保地经办机构" in step for step in outcome.check.next_steps)
    with counter.transaction() as session:
        stored = session.scalars(select(FilingCheck)).all()
        assert [c.allowed for c in stored] == [False] and stored[0].inputs["notice"]["notice_no"] == EXPIRED
        assert session.scalars(select(OutboxEntry)).all() == []  # nothing went to the centre


def test_a_fitting_without_a_notice_or_on_a_used_one_is_refused(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    _, missing = admit_worker(counter, wf_client, cashier, HAN_LEI_CARD, fitting(None))
    assert [r.code for r in missing.check.reasons if r.blocking] == ["NOTICE_MISSING"]
    _, used = admit_worker(counter, wf_client, cashier, HAN_LEI_CARD, fitting(USED, "FJ-2"))
    assert [r.code for r in used.check.reasons if r.blocking] == ["NOTICE_USED"] and used.stay_id is None
    _, unknown = admit_worker(counter, wf_client, cashier, HAN_LEI_CARD, fitting("HF-NO-SUCH", "FJ-3"))
    assert [r.code for r in unknown.check.reasons if r.blocking] == ["NOTICE_NOT_FOUND"]
    # Identity (001 §34): 罗静's card with 韩磊's notice; the centre tells nothing of the notice.
    other = fitting(VALID, "FJ-4")
    other = type(other)(**{**other.__dict__, "diagnoses": (("S88.100", "膝和踝之间水平的创伤性切断"),)})
    _, stranger = admit_worker(counter, wf_client, cashier, "K44080027", other)
    (reason,) = [r for r in stranger.check.reasons if r.blocking]
    assert reason.code == "NOTICE_OTHER_PERSON" and "韩磊" not in reason.message and stranger.stay_id is None
    assert reason.source == "000 §30"  # 罗静 is local: the national rule


def test_a_notice_used_meanwhile_is_refused_by_the_counter_before_sending_the_settlement(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    # One notice, one fitting (001 §34): another provider settled on it after this one admitted.
    _, outcome = admit_worker(counter, wf_client, cashier, HAN_LEI_CARD, fitting(VALID))
    assert outcome.stay_id is not None
    device_line(counter, outcome.stay_id, cashier, 1, "FJ0302002", "腋拐", "100.00")
    sandbox.admin("POST", "/admin/notices", {"social_security_number": HAN_LEI, "notice": {
        "notice_no": VALID, "issued": "today-10", "valid_until": "today+80", "status": "used",
        "used_by": "JS440800000000000099",
        "items": [{"code": "FJ0302002", "name": "腋拐", "quantity": "1", "max_pay": "120.00", "min_years": 3},
                  {"code": "FJ0301001", "name": "普通轮椅", "quantity": "1", "max_pay": "1000.00", "min_years": 4}]}})
    with pytest.raises(WorkflowError) as refused:
        settle_stay(counter, wf_client, outcome.stay_id, cashier, centre_today())
    assert VALID in refused.value.message and "已结算使用过" in refused.value.message
    assert "001 §34" in refused.value.message
    with counter.transaction() as session:
        assert session.scalars(select(OutboxEntry).where(
            OutboxEntry.operation == Operation.SETTLEMENT.value)).all() == []
        assert session.scalars(select(Settlement)).all() == []


def test_a_device_not_on_the_notice_or_above_its_quantity_is_not_settled(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    _, outcome = admit_worker(counter, wf_client, cashier, HAN_LEI_CARD, fitting(VALID))
    assert outcome.stay_id is not None
    device_line(counter, outcome.stay_id, cashier, 1, "FJ0302001", "肘拐", "100.00")
    device_line(counter, outcome.stay_id, cashier, 2, "FJ0302002", "腋拐", "100.00", quantity="2")
    with counter.transaction() as session:
        problems = readiness(session, outcome.stay_id)
    assert any("肘拐（FJ0302001）不在配置费用核付通知单" in p and "001 §34" in p for p in problems)
    assert any("腋拐（FJ0302002）配置 2，超过核付通知单" in p and "核准的 1" in p for p in problems)
    with pytest.raises(WorkflowError):
        settle_stay(counter, wf_client, outcome.stay_id, cashier, centre_today())
    with counter.transaction() as session:
        assert session.scalars(select(Settlement)).all() == []


def test_the_slip_of_a_device_settlement_shows_its_notice(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    # 001 §35: the provider prints the settlement slip for the worker; the notice it was settled on
    # (001 §34) is on it. 韩磊 is Beijing-insured: the cross-province slip (001 §35); 罗静 is local:
    # the 省内 layout, notice in its 备注.
    from printing.templates import render_slip
    from app.slips import slip_for_settlement
    from tests.slip_reader import read_slip

    for card, notice_no, code, name, price, admission_no in (
            (HAN_LEI_CARD, VALID, "FJ0302002", "腋拐", "90.00", "FJ-S1"),
            ("K44080027", "HF440800202600101", "FJ0101001", "小腿假肢（普通型）", "7800.00", "FJ-S2")):
        base = fitting(notice_no, admission_no)
        admission = type(base)(**{**base.__dict__, "diagnoses": (("S88.100", "膝和踝之间水平的创伤性切断"),)}) \
            if card == "K44080027" else base
        _, outcome = admit_worker(counter, wf_client, cashier, card, admission)
        assert outcome.stay_id is not None, outcome.check.reasons
        device_line(counter, outcome.stay_id, cashier, 1, code, name, price)
        if card == "K44080027":
            with counter.transaction() as session:
                session.get(ChargeLine, session.scalars(select(ChargeLine.id).where(
                    ChargeLine.stay_id == outcome.stay_id)).one()).diagnosis_code = "S88.100"
        done = settle_stay(counter, wf_client, outcome.stay_id, cashier, centre_today())
        with counter.transaction() as session:
            data = slip_for_settlement(session, done.settlement_id, issuer="张收款")
        assert data.notice_no == notice_no
        for copy in read_slip(render_slip(data)).copies:  # both copies (一式两份)
            # The 省内 layout: in the 备注 cell with the kind of settlement; the cross-province one: its header.
            texts = [*copy.cell_texts().values(), *copy.lines()]
            assert any(notice_no in text.replace(" ", "") for text in texts), texts

"""伤病分离 workspace (issue 6 item 3): the stay's lines with their bucket, reason and the diagnosis
they follow; bulk classification; overrides with a reason, audited, approved by a reviewer; the
out-of-catalogue mark (告知义务); the preview matrix and the centre's pre-settlement.

The split follows the recognition's injury diagnoses (`003 §15`, `000 六(二)`); lines outside the
catalogue must be disclosed to the patient (`003 §15`); HIS codes are matched to the catalogue
(`003 §27`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.centre.gateway import SettledItem, SettlementFigures
from app.db.engine import make_engine, make_session_factory
from app.db.migrate import upgrade
from app.db.models import AuditEvent, ChargeLine, HisCodeMap, Role, Stay, StayStatus
from app.errors import PermissionDenied
from app.operators import OperatorInfo
from app.rules.case import read_case_file
from app.rules.settlement import FUND, NON_INJURY, OVER_LIMIT, SELF_PAY, compute
from app.workflow.case_builder import case_for_stay
from app.workflow.code_map import set_mapping
from app.workflow.common import WorkflowError
from app.workflow.separation import (
    SELF_PAY_CONFIRMED,
    UNMATCHED,
    approve_overrides,
    assign_diagnosis,
    clear_override,
    compare_with_centre,
    override,
    pre_settle_and_compare,
    select_lines,
    workspace,
)
from tests.centre.client_fixtures import (  # noqa: F401
    SandboxProcess,
    admission_of,
    centre_today,
    client,
    counter,
    sandbox,
)
from tests.workflow.separation_helpers import add_lines, operator, store_case, sync_local_catalogue, zhang_wei_stay

CASES = Path(__file__).resolve().parents[1] / "cases"
COUNTER = "1号窗口"
DAY = dt.date(2026, 11, 2)


@pytest.fixture
def session(db_url: str) -> Iterator[Session]:
    engine = make_engine(db_url)
    upgrade(engine)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def cashier(session: Session) -> OperatorInfo:
    return operator(session, "cashier", Role.CASHIER)


@pytest.fixture
def reviewer(session: Session) -> OperatorInfo:
    return operator(session, "reviewer", Role.REVIEWER)


@pytest.fixture
def stay_id(session: Session, cashier: OperatorInfo) -> int:
    stay = zhang_wei_stay(session, cashier.id, admitted=DAY)
    add_lines(session, stay, 40, cashier.id, day=DAY)
    return stay


def _line_ids(session: Session, stay_id: int, *seqs: int) -> list[int]:
    return list(session.scalars(select(ChargeLine.id).where(ChargeLine.stay_id == stay_id, ChargeLine.seq.in_(seqs))
                                .order_by(ChargeLine.seq)))


def _events(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- the case from the stored records --------------------------------------------------------------


@pytest.mark.parametrize("name", ["settle-buckets", "settle-refunds", "guangdong-sample-slip"])
def test_preview_of_a_stored_stay_is_the_rules_result_of_its_case_file(session: Session, cashier: OperatorInfo,
                                                                       name: str) -> None:
    """Round trip: a case file stored as records, read back by case_for_stay, settles exactly like the
    file itself (`003 §15` buckets, the slip's matrix)."""
    case = read_case_file(CASES / f"{name}.json")
    stay_id = store_case(session, case, cashier.id)
    expected = json.loads((CASES / f"{name}.expected.json").read_text(encoding="utf-8"))["settle"]

    rebuilt = case_for_stay(session, stay_id, check_date=case.stay.settled)
    assert rebuilt.items == tuple(sorted(case.items, key=lambda item: item.seq))
    assert rebuilt.worker == case.worker and rebuilt.recognition == case.recognition
    assert rebuilt.filing == case.filing
    result = compute(rebuilt).as_json()
    result["items"] = [{key: item[key] for key in ("seq", "bucket", "fund", "personal")} for item in result["items"]]
    assert result == expected

    ws = workspace(session, stay_id)
    assert ws.preview is not None and ws.preview.as_json()["matrix"] == expected["matrix"]
    by_seq = {line.seq: line for line in ws.lines}
    for line in compute(case).lines:
        assert (by_seq[line.seq].bucket, by_seq[line.seq].reason) == (line.bucket, line.reason)


def test_workspace_lists_the_recognition_diagnoses_first_and_what_each_line_follows(session: Session,
                                                                                    stay_id: int) -> None:
    """The split follows the recognition's injury diagnosis (`003 §15`); the others are non-injury."""
    ws = workspace(session, stay_id)
    assert [(d.code, d.injury, d.source) for d in ws.diagnoses] == [
        ("S82.201", True, "recognition"), ("I10", False, "admitting")]
    lines = {line.seq: line for line in ws.lines}
    assert lines[5].follows == "I10 原发性高血压" and lines[5].bucket == NON_INJURY
    assert "非工伤诊断" in lines[5].reason
    assert lines[1].follows == "S82.201 胫骨干骨折" and lines[1].bucket == FUND
    assert lines[7].bucket == OVER_LIMIT  # 0.10 above the limit
    assert lines[13].bucket == SELF_PAY and lines[13].out_of_catalogue  # HIS-only code, outside the catalogue
    assert ws.problems and all(isinstance(p, str) for p in ws.problems)


def test_unclassified_lines_are_shown_and_listed_instead_of_failing(session: Session, cashier: OperatorInfo) -> None:
    stay = zhang_wei_stay(session, cashier.id, admitted=DAY)
    add_lines(session, stay, 30, cashier.id, day=DAY, unclassified_every=6)  # seq 6, 12, 18, 24, 30: no diagnosis
    ws = workspace(session, stay)

    unclassified = [line for line in ws.lines if line.bucket is None]
    assert [line.seq for line in unclassified] == [6, 12, 18, 24, 30]
    assert all(line.bucket_label == "未分类" and line.reason.startswith("未分类") for line in unclassified)
    assert any("5 条明细未分类" in problem and "6、12、18、24、30" in problem for problem in ws.problems)
    assert ws.preview is not None  # the others are previewed
    assert ws.preview.total == sum((line.amount for line in ws.lines if line.bucket is not None), Decimal("0"))
    with pytest.raises(WorkflowError, match="未分类"):
        case_for_stay(session, stay)


def test_match_status_and_the_duty_to_inform(session: Session, stay_id: int, cashier: OperatorInfo) -> None:
    """Out-of-catalogue lines are marked so the patient is told first (`003 §15`); unmatched HIS codes are
    flagged until the code map settles them (`003 §27`)."""
    session.add(HisCodeMap(his_code="HIS-13", catalogue_code=None, updated_by=cashier.id))  # confirmed 目录外
    session.flush()
    ws = workspace(session, stay_id)
    lines = {line.seq: line for line in ws.lines}
    assert lines[13].his_code == lines[33].his_code == "HIS-13"
    assert lines[13].match_status == lines[33].match_status == SELF_PAY_CONFIRMED and lines[13].out_of_catalogue
    assert lines[3].match_status == UNMATCHED and lines[3].out_of_catalogue
    assert any("2 条明细的 HIS 项目编码尚未对照目录" in p and "3、23" in p for p in ws.problems)
    assert any("告知患者" in p for p in ws.problems)

    session.execute(update(ChargeLine).where(ChargeLine.stay_id == stay_id, ChargeLine.code.is_(None))
                    .values(patient_informed=True))
    assert not any("告知患者" in p for p in workspace(session, stay_id).problems)


# --- classifying -----------------------------------------------------------------------------------


def test_bulk_classify_by_department_moves_the_lines_and_changes_the_matrix(session: Session, stay_id: int,
                                                                            cashier: OperatorInfo) -> None:
    """Lines put under the non-injury diagnosis leave the fund's row (`003 §15`, `000 六(二)`)."""
    before = workspace(session, stay_id)
    chosen = select_lines(before, dept="检验科")
    assert len(chosen) == 10 and all(line.dept == "检验科" for line in before.lines if line.line_id in chosen)

    changed = assign_diagnosis(session, cashier, COUNTER, chosen, "I10")
    after = workspace(session, stay_id)
    moved = [line for line in after.lines if line.line_id in chosen]
    assert all(line.bucket == NON_INJURY and line.follows == "I10 原发性高血压" for line in moved)
    assert changed == sum(1 for line in before.lines if line.line_id in chosen and line.diagnosis_code != "I10")
    assert before.preview is not None and after.preview is not None
    assert after.preview.row_total(NON_INJURY) > before.preview.row_total(NON_INJURY)
    assert after.preview.total == before.preview.total  # moved between rows, nothing lost
    event = _events(session, "charge_lines_classified")[-1]
    assert event.operator_id == cashier.id and event.detail["diagnosis"] == "I10"
    assert event.detail["lines"] == changed

    assert assign_diagnosis(session, cashier, COUNTER, chosen, "I10") == 0  # already there: nothing to audit
    with pytest.raises(WorkflowError, match="不是本次住院的诊断"):
        assign_diagnosis(session, cashier, COUNTER, chosen, "J18.9")


def test_filters_by_diagnosis_date_order_group_and_bucket(session: Session, stay_id: int) -> None:
    ws = workspace(session, stay_id)
    assert {ws_line.seq for ws_line in ws.lines if ws_line.line_id in select_lines(ws, diagnosis="I10")} == \
        {5, 10, 15, 20, 25, 30, 35, 40}
    assert select_lines(ws, date_from=DAY + dt.timedelta(days=1)) == []
    assert len(select_lines(ws, date_from=DAY, date_to=DAY)) == 40
    assert len(select_lines(ws, order_group="医嘱0000")) == 40  # seq // 50
    assert select_lines(ws, order_group="医嘱0001") == []
    over = select_lines(ws, bucket=OVER_LIMIT)
    assert over and all(line.bucket == OVER_LIMIT for line in ws.lines if line.line_id in over)
    assert select_lines(ws, bucket="unclassified") == []


def test_a_cashiers_override_needs_a_reason_and_waits_for_a_reviewer(session: Session, stay_id: int,
                                                                      cashier: OperatorInfo,
                                                                      reviewer: OperatorInfo) -> None:
    ids = _line_ids(session, stay_id, 1, 2)
    with pytest.raises(WorkflowError, match="理由"):
        override(session, cashier, COUNTER, ids, False, "  ")

    assert override(session, cashier, COUNTER, ids, False, "医嘱为降压治疗，与工伤无关") == 2
    ws = workspace(session, stay_id)
    lines = {line.seq: line for line in ws.lines}
    assert lines[1].bucket == NON_INJURY and lines[1].follows == "手工改判（非工伤）"
    assert lines[1].override_reason == "医嘱为降压治疗，与工伤无关" and lines[1].awaiting_approval
    assert any("2 条改判等待审核员审核" in p for p in ws.problems)
    event = _events(session, "classification_overridden")[-1]
    assert event.detail["reason"] == "医嘱为降压治疗，与工伤无关" and event.detail["approved"] is False

    with pytest.raises(PermissionDenied):
        approve_overrides(session, cashier, COUNTER, ids)
    assert approve_overrides(session, reviewer, COUNTER, ids) == 2
    ws = workspace(session, stay_id)
    assert all(line.override_approved for line in ws.lines if line.seq in (1, 2))
    assert not any("等待审核" in p for p in ws.problems)
    assert _events(session, "classification_override_approved")[-1].operator_id == reviewer.id

    with pytest.raises(PermissionDenied):  # a reviewer's decision is not undone by a cashier
        clear_override(session, cashier, COUNTER, ids)
    assert clear_override(session, reviewer, COUNTER, ids) == 2
    lines = {line.seq: line for line in workspace(session, stay_id).lines}
    assert lines[1].bucket == FUND and lines[1].follows == "S82.201 胫骨干骨折" and not lines[1].overridden


def test_a_reviewers_own_override_is_approved_at_once(session: Session, stay_id: int,
                                                      reviewer: OperatorInfo) -> None:
    ids = _line_ids(session, stay_id, 5)
    assert override(session, reviewer, COUNTER, ids, True, "经主治医师确认为骨折术后用药") == 1
    line = next(line for line in workspace(session, stay_id).lines if line.seq == 5)
    assert line.bucket == FUND and line.override_approved and not line.awaiting_approval
    assert _events(session, "classification_overridden")[-1].detail["approved"] is True


def test_a_refund_follows_its_original_when_classified(session: Session, cashier: OperatorInfo) -> None:
    """settle-refunds.json: seq 2 refunds seq 1; classifying seq 1 carries its refund along."""
    stay_id = store_case(session, read_case_file(CASES / "settle-refunds.json"), cashier.id)
    assert assign_diagnosis(session, cashier, COUNTER, _line_ids(session, stay_id, 1), "I10") == 2
    lines = {line.seq: line for line in workspace(session, stay_id).lines}
    assert lines[2].refund_of_seq == 1 and lines[2].diagnosis_code == "I10"
    assert lines[1].bucket == lines[2].bucket == NON_INJURY
    assert "退费，随原明细序号 1" in lines[2].reason


def test_a_settled_stays_lines_do_not_change(session: Session, stay_id: int, cashier: OperatorInfo) -> None:
    session.execute(update(Stay).where(Stay.id == stay_id).values(status=StayStatus.SETTLED))
    with pytest.raises(WorkflowError, match="已结算"):
        assign_diagnosis(session, cashier, COUNTER, _line_ids(session, stay_id, 1), "I10")


def test_an_uploaded_line_changed_is_marked_for_re_upload(session: Session, stay_id: int,
                                                           cashier: OperatorInfo) -> None:
    ids = _line_ids(session, stay_id, 1)
    session.execute(update(ChargeLine).where(ChargeLine.id.in_(ids))
                    .values(uploaded_at=dt.datetime.now(dt.UTC)))
    assign_diagnosis(session, cashier, COUNTER, ids, "I10")
    uploaded_at, centre_line_no = session.execute(
        select(ChargeLine.uploaded_at, ChargeLine.centre_line_no).where(ChargeLine.id == ids[0])).one()
    assert uploaded_at is None and centre_line_no == "1"  # the centre's copy is cancelled before re-upload


# --- the centre's figures -----------------------------------------------------------------------------


def test_compare_with_centre_names_every_cell_and_line_that_differs(session: Session, stay_id: int) -> None:
    ws = workspace(session, stay_id)
    local = ws.preview
    assert local is not None
    agreeing = SettlementFigures(
        None, "R1", DAY, local.settlement_kind, None,
        {b: {**row, "total": local.row_total(b)} for b, row in local.matrix.items()},
        local.total, local.fund_total, local.personal_total,
        tuple(SettledItem(line.seq, line.bucket, line.fund, line.personal, line.reason) for line in local.lines))
    assert compare_with_centre(local, agreeing) == []

    first = local.lines[0]
    assert first.bucket == FUND and first.category == "drug"
    items = (SettledItem(first.seq, NON_INJURY, Decimal("0.00"), first.amount, "中心判为非工伤"),
             *agreeing.items[1:])
    matrix = {b: dict(row) for b, row in agreeing.matrix.items()}
    matrix[FUND]["drug"] -= first.amount
    matrix[NON_INJURY]["drug"] += first.amount
    differing = SettlementFigures(None, "R1", DAY, local.settlement_kind, None, matrix, local.total,
                                  local.fund_total - first.amount, local.personal_total + first.amount, items)
    differences = compare_with_centre(local, differing)
    fields = {(d.seq, d.field) for d in differences}
    assert (first.seq, "分类") in fields and (first.seq, "基金支付") in fields and (first.seq, "个人支付") in fields
    assert (0, "工伤保险基金支付金额·药品费用") in fields and (0, "其他（非工伤伤情费用）·药品费用") in fields
    assert (0, "工伤保险基金支付金额合计") in fields
    line = next(d for d in differences if d.seq == first.seq and d.field == "分类")
    assert (line.local, line.centre) == ("工伤保险基金支付金额", "其他（非工伤伤情费用）")


# --- against the real sandbox centre -------------------------------------------------------------------


def test_the_centres_pre_settlement_confirms_the_preview_also_after_a_change(
        counter: CounterContext, client: CentreClient) -> None:
    """Upload, pre-settle, compare: the sandbox (same rules, its own records) agrees with the preview to the
    fen; after an override the changed line is cancelled at the centre, re-sent, and they agree again."""
    today = centre_today()
    registration = client.register_admission(admission_of(admission_no="ZY-C-PRE"))
    sync_local_catalogue(counter, client)
    with counter.transaction() as session:
        cashier = operator(session, "cashier", Role.CASHIER)
        reviewer = operator(session, "reviewer", Role.REVIEWER)
        stay_id = zhang_wei_stay(session, cashier.id, admitted=today, registration_no=registration.registration_no)
        add_lines(session, stay_id, 120, cashier.id, day=today)
        for his_code in ("HIS-03", "HIS-13"):  # confirmed outside the catalogue: no line goes up unmatched (003 §27)
            set_mapping(session, cashier, COUNTER, his_code, None)
        ws = workspace(session, stay_id)
    assert ws.preview is not None
    assert {line.bucket for line in ws.lines} == {FUND, OVER_LIMIT, SELF_PAY, NON_INJURY}

    figures, differences = pre_settle_and_compare(counter, client, stay_id, cashier, today)
    assert differences == []
    assert (figures.total, figures.fund_total, figures.personal_total) == (
        ws.preview.total, ws.preview.fund_total, ws.preview.personal_total)
    with counter.transaction() as session:
        assert all(line.uploaded for line in workspace(session, stay_id).lines)
        override(session, reviewer, COUNTER, _line_ids(session, stay_id, 1, 2), False, "术后降压用药，非工伤")
        changed = workspace(session, stay_id)
    assert changed.preview is not None
    assert changed.preview.row_total(NON_INJURY) > ws.preview.row_total(NON_INJURY)

    again, differences = pre_settle_and_compare(counter, client, stay_id, reviewer, today)
    assert differences == []
    assert again.matrix[NON_INJURY]["total"] == changed.preview.row_total(NON_INJURY)


def test_the_centres_own_price_limit_makes_the_comparison_disagree(
        counter: CounterContext, client: CentreClient, sandbox: SandboxProcess) -> None:
    """The sandbox keeps its own catalogue (`resources/sandbox/`), not the counter's: when the centre's price
    limit of a drug is lower than the counter's local copy, the fund pays quantity × the centre's limit and the
    rest is 超限价自付 there (`003 §3`), so the pre-settlement comparison names exactly that drug's injury lines
    and the totals it moves, instead of agreeing by construction."""
    today = centre_today()
    registration = client.register_admission(admission_of(admission_no="ZY-C-PRICE"))
    with counter.transaction() as session:
        cashier = operator(session, "cashier", Role.CASHIER)
        stay_id = zhang_wei_stay(session, cashier.id, admitted=today, registration_no=registration.registration_no,
                                 admission_no="ZY-C-PRICE")
        add_lines(session, stay_id, 40, cashier.id, day=today)
        for his_code in ("HIS-03", "HIS-13"):  # confirmed outside the catalogue (003 §27)
            set_mapping(session, cashier, COUNTER, his_code, None)
        local = workspace(session, stay_id)
    assert local.preview is not None
    # The counter's copy: 8.50 a vial; the injury lines paid by the fund up to it (one priced 8.60 is over).
    injury = {line.seq for line in local.lines if line.code == "XJ01DC02" and line.bucket in (FUND, OVER_LIMIT)}
    assert {line.bucket for line in local.lines if line.seq in injury} == {FUND, OVER_LIMIT}

    # The centre's price changes (an agency's catalogue update the counter has not downloaded yet).
    version = sandbox.admin("POST", "/admin/catalogue", {"entries": [
        {"code": "XJ01DC02", "name": "注射用头孢呋辛钠", "category": "drug", "unit": "支", "price_limit": "6.00"}]})
    assert version
    figures, differences = pre_settle_and_compare(counter, client, stay_id, cashier, today)

    assert {d.seq for d in differences if d.seq} == injury
    fields = {(d.seq, d.field) for d in differences}
    for seq in injury:
        assert (seq, "基金支付") in fields and (seq, "个人支付") in fields
    assert (0, "工伤保险基金支付金额合计") in fields and (0, "总费用") not in fields
    assert figures.total == local.preview.total
    assert figures.fund_total < local.preview.fund_total
    assert figures.personal_total - local.preview.personal_total == local.preview.fund_total - figures.fund_total

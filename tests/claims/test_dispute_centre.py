"""A dispute reaches the agency (`003 §20`: the hospital answers the pushed deductions online, with
its evidence, within 10 working days): a centre transaction (3303) sent through the outbox, carrying
the statement and the evidence files' names and SHA-256 hashes (not the files). The counter says
已提交 only when the centre accepted it, and shows the agency's answer (3302) once it gives one.
Real sandbox centre over HTTP."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.claims.calendar import load_calendar
from app.claims.deductions import DeductionView, file_dispute, list_deductions
from app.demo.month import seed_demo_month
from app.claims.service import build_claim, previous_month
from app.claims.upload import fetch_answer, upload_claim
from app.db.models import OutboxEntry
from app.operators import OperatorInfo
from app.workflow.admission import centre_today
from tests.workflow.stay_fixtures import *  # noqa: F403


def _answered_claim(counter: CounterContext, client: CentreClient, cashier: OperatorInfo,
                    reviewer: OperatorInfo) -> tuple[int, str]:
    assert seed_demo_month(counter, client, cashier) == 3
    claim = build_claim(counter, previous_month(centre_today()), reviewer, today=centre_today()).claim
    assert upload_claim(counter, client, claim.claim_id, reviewer).completed
    fetch_answer(counter, client, claim.claim_id, reviewer)
    return claim.claim_id, claim.batch_no


def _deduction(counter: CounterContext, claim_id: int, deduction_id: int | None = None) -> DeductionView:
    calendar = load_calendar(counter.paths.config_dir)
    with counter.transaction() as session:
        views = list_deductions(session, today=centre_today(), calendar=calendar, claim_id=claim_id)
    if deduction_id is None:
        return next(d for d in views if d.item_name == "床位费")
    return next(d for d in views if d.deduction_id == deduction_id)


def _evidence(tmp_path: Path) -> list[Path]:
    first = tmp_path / "转床记录.pdf"
    first.write_bytes(b"%PDF-1.4 transfer record")
    second = tmp_path / "病案首页.pdf"
    second.write_bytes(b"%PDF-1.4 front page")
    return [first, second]


def test_a_dispute_goes_to_the_centre_with_its_evidence_hashes_and_comes_back_answered(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox, tmp_path: Path) -> None:
    """`003 §20` (Guangdong): 异议 with 病案材料 sent online to the agency; the agency answers."""
    claim_id, batch_no = _answered_claim(counter, wf_client, cashier, reviewer)
    bed = _deduction(counter, claim_id)
    assert bed.disputable and bed.dispute_due is not None  # Guangdong: 10 working days (003 §20)
    files = _evidence(tmp_path)
    view = file_dispute(counter, wf_client, bed.deduction_id, "同日两次床位费为转床所致，附转床记录",
                        [str(f) for f in files], reviewer, today=centre_today(),
                        calendar=load_calendar(counter.paths.config_dir))
    assert view.state == "submitted" and view.centre_dispute_id

    # The centre has the statement and each file's name and SHA-256, never the files.
    (held,) = sandbox.admin("GET", f"/admin/disputes?claim_no={batch_no}")["disputes"]
    assert held["statement"] == "同日两次床位费为转床所致，附转床记录"
    assert held["evidence"] == [{"name": f.name, "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
                                for f in files]
    assert held["seq"] == bed.line_no and held["status"] == "received"
    # Sent through the outbox like every state-changing call, its outcome recorded there.
    with counter.transaction() as session:
        (entry,) = session.scalars(select(OutboxEntry).where(OutboxEntry.operation == "deduction_dispute"))
        assert entry.state.value == "succeeded"

    shown = _deduction(counter, claim_id, bed.deduction_id)
    assert "已提交" in shown.deadline_text and not shown.disputable

    # The agency answers; the claim's status query (3302) brings the answer to the counter.
    sandbox.admin("POST", "/admin/disputes/answer", {"dispute_id": held["dispute_id"], "decision": "upheld",
                                                     "answer": "转床属实，扣款撤回，于下月结算时补付"})
    fetch_answer(counter, wf_client, claim_id, reviewer)
    answered = _deduction(counter, claim_id, bed.deduction_id)
    assert answered.dispute is not None and answered.dispute.answer_status == "upheld"
    assert "转床属实" in answered.deadline_text and "异议成立" in answered.deadline_text


def test_a_refused_dispute_is_never_shown_as_submitted_and_can_be_sent_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox, tmp_path: Path) -> None:
    """`003 §20`: only what the agency received counts as raised; a refusal says so and what to do."""
    claim_id, _batch_no = _answered_claim(counter, wf_client, cashier, reviewer)
    bed = _deduction(counter, claim_id)
    calendar = load_calendar(counter.paths.config_dir)
    files = [str(f) for f in _evidence(tmp_path)]
    sandbox.arm("error", wire.Transaction.DEDUCTION_DISPUTE.value, err_code="4004")
    view = file_dispute(counter, wf_client, bed.deduction_id, "转床所致", files, reviewer,
                        today=centre_today(), calendar=calendar)
    assert view.state == "refused"
    shown = _deduction(counter, claim_id, bed.deduction_id)
    assert "已提交" not in shown.deadline_text and "退回" in shown.deadline_text
    assert shown.disputable  # still within the window: the clerk may send it again

    again = file_dispute(counter, wf_client, bed.deduction_id, "转床所致，附转床记录", files, reviewer,
                         today=centre_today(), calendar=calendar)
    assert again.state == "submitted"
    assert "已提交" in _deduction(counter, claim_id, bed.deduction_id).deadline_text


def test_an_unreachable_centre_leaves_the_dispute_pending_not_submitted(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox, tmp_path: Path) -> None:
    """`003 §20`: a dispute the centre never received is 待提交, not 已提交."""
    claim_id, _batch_no = _answered_claim(counter, wf_client, cashier, reviewer)
    bed = _deduction(counter, claim_id)
    files = [str(f) for f in _evidence(tmp_path)]
    sandbox.arm("refuse_connections", seconds=10)  # long enough on a loaded machine
    time.sleep(0.3)  # the sandbox stops listening right after answering the admin call
    view = file_dispute(counter, wf_client, bed.deduction_id, "转床所致", files, reviewer,
                        today=centre_today(), calendar=load_calendar(counter.paths.config_dir))
    assert view.state == "pending"
    assert "已提交" not in _deduction(counter, claim_id, bed.deduction_id).deadline_text


def test_a_missing_evidence_file_is_named(counter: CounterContext, wf_client: CentreClient,
                                          cashier: OperatorInfo, reviewer: OperatorInfo, tmp_path: Path) -> None:
    from app.claims.service import ClaimError

    claim_id, _batch_no = _answered_claim(counter, wf_client, cashier, reviewer)
    bed = _deduction(counter, claim_id)
    with pytest.raises(ClaimError, match="找不到证据文件"):
        file_dispute(counter, wf_client, bed.deduction_id, "转床所致", [str(tmp_path / "无此文件.pdf")], reviewer,
                     today=centre_today(), calendar=load_calendar(counter.paths.config_dir))


def test_the_command_line_says_submitted_only_when_the_centre_accepted(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`wi-counter claims dispute` (`003 §20`): refused → says so, exit 1; accepted → 已提交, exit 0."""
    from app.cli import main
    from tests.signed_in import password_on_stdin

    claim_id, _batch_no = _answered_claim(counter, wf_client, cashier, reviewer)
    bed = _deduction(counter, claim_id)
    files = _evidence(tmp_path)
    command = ["claims", "dispute", str(bed.deduction_id), "--statement", "转床所致",
               *[arg for f in files for arg in ("--evidence", str(f))],
               "--home", str(tmp_path / "counter-home"), "--db", db_url, "--operator", "reviewer", "--password-stdin"]
    sandbox.arm("error", wire.Transaction.DEDUCTION_DISPUTE.value, err_code="4004")
    password_on_stdin(monkeypatch)
    assert main(command) == 1
    out = capsys.readouterr()
    assert "未被受理" in out.err and "已提交" not in out.out
    password_on_stdin(monkeypatch)
    assert main(command) == 0
    assert "异议已提交经办机构" in capsys.readouterr().out


def test_where_the_seed_sets_no_window_nothing_is_sent(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox, tmp_path: Path) -> None:
    """`002 经办规程 §23` (Jilin), Beijing, the national pilot: no dispute window, so no online dispute;
    recorded at the hospital only (the deduction stored as a no-window region stores it)."""
    from app.db.models import ClaimDeduction

    claim_id, batch_no = _answered_claim(counter, wf_client, cashier, reviewer)
    bed = _deduction(counter, claim_id)
    with counter.transaction() as session:
        session.get(ClaimDeduction, bed.deduction_id).dispute_due = None  # type: ignore[union-attr]
    view = file_dispute(counter, wf_client, bed.deduction_id, "转床所致", [str(f) for f in _evidence(tmp_path)],
                        reviewer, today=centre_today(), calendar=load_calendar(counter.paths.config_dir))
    assert view.state == "local"
    assert sandbox.admin("GET", f"/admin/disputes?claim_no={batch_no}")["disputes"] == []
    shown = _deduction(counter, claim_id, bed.deduction_id).deadline_text
    assert "本院记录" in shown and "已提交" not in shown


def test_a_lost_reply_is_resolved_by_msgid_and_the_dispute_is_submitted_once(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox, tmp_path: Path) -> None:
    """`003 §20` through the outbox: the centre applied the dispute and the reply was lost; the outcome
    is resolved by msgid (5101) and the applier records it as 已提交 — never sent twice."""
    claim_id, batch_no = _answered_claim(counter, wf_client, cashier, reviewer)
    bed = _deduction(counter, claim_id)
    sandbox.arm("drop_after_commit", wire.Transaction.DEDUCTION_DISPUTE.value)
    view = file_dispute(counter, wf_client, bed.deduction_id, "转床所致", [str(f) for f in _evidence(tmp_path)],
                        reviewer, today=centre_today(), calendar=load_calendar(counter.paths.config_dir))
    assert view.state == "submitted" and view.centre_dispute_id
    assert len(sandbox.admin("GET", f"/admin/disputes?claim_no={batch_no}")["disputes"]) == 1

"""Lines go up during the stay (issue 25 §1), against the real sandbox centre over HTTP, on SQLite
and PostgreSQL: final lines go up after an import and in the daily run, lines not final yet wait, a
line changed after its upload is cancelled at the centre and sent again, the 费用 page's counts
(uploaded / pending / refused), and at discharge only what is still pending goes up."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import CentreRefused, Operation
from app.db.models import ChargeLine, OutboxEntry, OutboxState
from app.operators import OperatorInfo
from app.workflow.discharge import settle_stay
from app.workflow.line_upload import UploadCounts, upload_counts, upload_open_stays, upload_ready_lines
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    assert_matches_centre,
    centre_today,
    form,
)


LIU_YANG_CARD = "K44080011"  # 刘洋: local, valid filing (resources/sandbox/workers.toml)


def _stay(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, card: str = ZHANG_WEI_CARD,
          admission_no: str = "ZY-LU-1", lines: int = 250) -> int:
    yesterday = centre_today() - dt.timedelta(days=1)
    _, outcome = admit_worker(ctx, client, actor, card, form(admission_no, admitted=yesterday))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    add_lines(ctx, outcome.stay_id, actor, lines, day=yesterday)  # imported the day before
    return outcome.stay_id


def _counts(ctx: CounterContext, stay_id: int) -> UploadCounts:
    with ctx.transaction() as session:
        return upload_counts(session, stay_id)


def _entries(ctx: CounterContext, stay_id: int) -> list[OutboxEntry]:
    with ctx.transaction() as session:
        return list(session.scalars(select(OutboxEntry).where(OutboxEntry.stay_id == stay_id)
                                    .order_by(OutboxEntry.seq)))


def _change(ctx: CounterContext, stay_id: int, seq: int, **values: object) -> None:
    with ctx.transaction() as session:
        line = session.scalars(select(ChargeLine).where(ChargeLine.stay_id == stay_id, ChargeLine.seq == seq)).one()
        for name, value in values.items():
            setattr(line, name, value)


def test_final_lines_go_up_during_the_stay_and_only_the_rest_at_discharge(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id = _stay(counter, wf_client, cashier)
    _change(counter, stay_id, 7, diagnosis_code=None)  # not classified yet (伤病分离 pending, 003 §15)
    assert _counts(counter, stay_id) == UploadCounts(0, 252, 0)

    first = upload_ready_lines(counter, wf_client, stay_id, cashier)

    assert (first.sent, first.waiting) == (251, 1)
    assert _counts(counter, stay_id) == UploadCounts(251, 1, 0)
    assert sandbox.summary()["live_lines"] == 251
    # Nothing new: nothing sent.
    assert upload_ready_lines(counter, wf_client, stay_id, cashier).sent == 0

    # Line 2 is reclassified after its upload (what the 伤病分离 service does: marked for re-upload),
    # line 7 classified: the next run cancels 2 at the centre, then sends 2 and 7.
    _change(counter, stay_id, 2, injury=False, injury_override_reason="经核实为既往病",
            override_approved_by=cashier.id, uploaded_at=None)
    _change(counter, stay_id, 7, diagnosis_code="S82.201")
    before = len(_entries(counter, stay_id))
    second = upload_ready_lines(counter, wf_client, stay_id, cashier)
    assert (second.sent, second.waiting) == (2, 0)
    new = _entries(counter, stay_id)[before:]
    assert [(e.operation, e.state) for e in new] == [(Operation.FEE_CANCEL.value, OutboxState.SUCCEEDED),
                                                      (Operation.FEE_UPLOAD.value, OutboxState.SUCCEEDED)]
    assert new[0].request["seqs"] == [2]
    assert sorted(line["seq"] for line in new[1].request["lines"]) == [2, 7]
    assert new[1].request["lines"][0]["injury"] is False
    assert _counts(counter, stay_id) == UploadCounts(252, 0, 0)
    assert sandbox.summary()["live_lines"] == 252

    # One more line the next day; at discharge only it goes up.
    add_lines(counter, stay_id, cashier, 0, first_seq=253)  # seq 253 (over the limit) and 254 (自费)
    before = len(_entries(counter, stay_id))
    steps: list[tuple[str, int, int]] = []
    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today(),
                          progress=lambda step, done, of: steps.append((step, done, of)))
    at_discharge = [e for e in _entries(counter, stay_id)[before:] if e.operation == Operation.FEE_UPLOAD.value]
    assert [sorted(line["seq"] for line in e.request["lines"]) for e in at_discharge] == [[253, 254]]
    assert ("upload", 2, 2) in steps
    assert_matches_centre(counter, wf_client, outcome.settlement_id)
    assert sandbox.summary()["live_lines"] == 254


def test_refused_lines_are_counted_until_they_go_up(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    stay_id = _stay(counter, wf_client, cashier, lines=48)  # 50 lines: one call
    sandbox.arm("error", "2301", err_code=wire.ErrorCode.LINE_INVALID.value)
    try:
        upload_ready_lines(counter, wf_client, stay_id, cashier)
    except CentreRefused as exc:
        assert exc.code == wire.ErrorCode.LINE_INVALID.value
    else:
        raise AssertionError("the centre's refusal was not raised")
    assert _counts(counter, stay_id) == UploadCounts(0, 50, 50)
    assert upload_ready_lines(counter, wf_client, stay_id, cashier).sent == 50
    assert _counts(counter, stay_id) == UploadCounts(50, 0, 0)


def test_the_daily_run_uploads_every_stay_in_hospital(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    first = _stay(counter, wf_client, cashier, lines=20)
    second = _stay(counter, wf_client, cashier, LIU_YANG_CARD, "ZY-LU-2", lines=30)

    done = dict(upload_open_stays(counter, wf_client, cashier))

    assert done == {first: "上传 22 条", second: "上传 32 条"}
    assert sandbox.summary()["live_lines"] == 54
    assert upload_open_stays(counter, wf_client, cashier) == []  # nothing pending: no stay visited


def test_a_line_changed_while_its_upload_is_in_flight_is_sent_again(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    """The background upload and the clerk's 伤病分离 run side by side: a line reclassified after its
    upload was written but before the centre's answer was recorded must not be marked uploaded (the
    centre holds the old flag): it is cancelled there and sent again."""
    import threading

    stay_id = _stay(counter, wf_client, cashier, lines=8)  # 10 lines: one call
    sandbox.admin("POST", "/admin/latency", {"ms": 1500})
    upload = threading.Thread(target=upload_ready_lines, args=(counter, wf_client, stay_id, cashier))
    upload.start()
    deadline = time.monotonic() + 10
    while not _entries(counter, stay_id)[-1].operation == Operation.FEE_UPLOAD.value:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # Written and on its way: the clerk reclassifies line 2 (not uploaded yet, so a plain local change).
    _change(counter, stay_id, 2, injury=False, injury_override_reason="经核实为既往病", override_approved_by=cashier.id)
    upload.join()
    sandbox.admin("POST", "/admin/latency", {"ms": 0})
    with counter.transaction() as session:
        line = session.scalars(select(ChargeLine).where(ChargeLine.stay_id == stay_id, ChargeLine.seq == 2)).one()
        assert line.uploaded_at is None and line.centre_line_no is not None  # the centre holds the old one
    assert _counts(counter, stay_id) == UploadCounts(9, 1, 0)

    before = len(_entries(counter, stay_id))
    assert upload_ready_lines(counter, wf_client, stay_id, cashier).sent == 1
    new = _entries(counter, stay_id)[before:]
    assert [e.operation for e in new] == [Operation.FEE_CANCEL.value, Operation.FEE_UPLOAD.value]
    assert new[1].request["lines"][0]["seq"] == 2 and new[1].request["lines"][0]["injury"] is False
    assert _counts(counter, stay_id) == UploadCounts(10, 0, 0)
    assert sandbox.summary()["live_lines"] == 10


def test_the_daily_run_as_a_scheduled_command(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`wi-counter charges upload --all` (a scheduled task when the window is not running) and one stay."""
    from app.cli import main
    from tests.signed_in import password_on_stdin

    first = _stay(counter, wf_client, cashier, lines=20)
    assert counter.paths.root is not None
    home, db_url = str(counter.paths.root), counter.engine.url.render_as_string(hide_password=False)
    password_on_stdin(monkeypatch)
    assert main(["charges", "upload", "--all", "--home", home, "--db", db_url, "--operator", "cashier",
                 "--password-stdin"]) == 0
    assert f"住院 {first}：上传 22 条" in capsys.readouterr().out
    assert sandbox.summary()["live_lines"] == 22
    password_on_stdin(monkeypatch)
    assert main(["charges", "upload", str(first), "--home", home, "--db", db_url, "--operator", "cashier",
                 "--password-stdin"]) == 0
    assert f"住院 {first}：上传 0 条" in capsys.readouterr().out

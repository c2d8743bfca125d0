"""`wi-counter centre resolve --reverse MSGID` (冲正) of a settlement, against the real sandbox centre:
a reviewer's act, signed in with the password and audited, whose local effect — the cancellation
row, the stay back to 待结算, the slip's 已撤销 mark — is recorded with the outbox's completion
(issue 22, item 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.centre.client import CentreClient
from app.cli import main
from app.db.models import AuditEvent, Settlement, SettlementKind, Stay, StayStatus
from app.operators import OperatorInfo
from app.slips import MarkKind, next_mark
from app.workflow.discharge import settle_stay
from tests.signed_in import password_on_stdin
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, SandboxProcess, add_lines, admit_worker, centre_today, form


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'counter.sqlite3'}"


def _home_args(counter: CounterContext, db_url: str) -> list[str]:
    return ["--home", str(counter.paths.config_dir.parent), "--db", db_url]


def test_a_reviewers_reversal_of_a_settlement_is_applied_locally_and_audited(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, reviewer: OperatorInfo,
        sandbox: SandboxProcess, db_url: str, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    _, outcome = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-REV-1"))
    assert outcome.stay_id is not None
    add_lines(counter, outcome.stay_id, cashier, 4)
    settlement_id = settle_stay(counter, wf_client, outcome.stay_id, cashier, centre_today()).settlement_id
    with counter.transaction() as session:
        msgid = session.get(Settlement, settlement_id).msgid  # type: ignore[union-attr]

    # The cashier may not (signed in, but not a reviewer): nothing reaches the centre.
    password_on_stdin(monkeypatch)
    assert main(["centre", "resolve", "--reverse", msgid, "--operator", "cashier", "--password-stdin",
                 *_home_args(counter, db_url)]) == 1
    assert "收款员无权" in capsys.readouterr().err
    assert sandbox.summary()["settlements"]["reversed"] == 0

    password_on_stdin(monkeypatch)
    assert main(["centre", "resolve", "--reverse", msgid, "--operator", "reviewer", "--password-stdin",
                 *_home_args(counter, db_url)]) == 0
    assert "reversed" in capsys.readouterr().out
    assert sandbox.summary()["settlements"]["reversed"] == 1
    with counter.transaction() as session:
        stay = session.get(Stay, outcome.stay_id)
        assert stay is not None and stay.status is StayStatus.PENDING_SETTLEMENT
        cancellation = session.scalars(select(Settlement).where(Settlement.reverses_id == settlement_id)).one()
        assert cancellation.kind is SettlementKind.CANCELLATION and cancellation.operator_id == reviewer.id
        assert cancellation.total == -session.get(Settlement, settlement_id).total  # type: ignore[union-attr]
        assert next_mark(session, settlement_id).kind is MarkKind.CANCELLED  # the slip now prints 已撤销
        audited = [(e.action, e.operator_id) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action.like("centre_reversal%")).order_by(AuditEvent.id))]
    assert audited == [("centre_reversal_requested", reviewer.id), ("centre_reversal", reviewer.id)]

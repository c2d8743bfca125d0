"""After `wi-counter db restore` of an older backup, the counter never settles a stay twice
(issue 21 B2, item 2): the restore reconciles with the centre (5201, what the centre holds for
this institution since the backup's time) and refuses admission and settlement until a reviewer
has seen the differences; a 住院号 the centre holds a registration for is never admitted again.

The real sandbox centre over HTTP, the real `wi-counter db restore` (the administrator signs in
with the password), a counter on its own SQLite file (restore is SQLite's; PostgreSQL uses pg_restore).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import CounterContext
from app.cli import main
from app.db import backup
from app.db.models import Operator, Role
from app.operators import OperatorInfo
from app.workflow.appliers import open_workflow_centre
from app.workflow.common import WorkflowError
from app.workflow.discharge import settle_stay
from tests.centre.client_fixtures import SandboxProcess, make_counter, sandbox  # noqa: F401 - fixture
from tests.signed_in import TEST_PASSWORD_HASH, password_on_stdin, signed_in
from tests.workflow.stay_fixtures import ZHANG_WEI_CARD, ZHENG_JUN_CARD, add_lines, admit_worker, centre_today, form

ADMISSION_NO = "ZY-RESTORE-1"


def _operators(ctx: CounterContext) -> dict[str, OperatorInfo]:
    made = {}
    with ctx.transaction() as session:
        for login, name, role in (("admin", "王管理", Role.ADMIN), ("cashier", "张收款", Role.CASHIER),
                                  ("reviewer", "李审核", Role.REVIEWER)):
            record = Operator(login=login, display_name=name, role=role, password_hash=TEST_PASSWORD_HASH)
            session.add(record)
            session.flush()
            made[login] = signed_in(record)
    return made


def _actor(ctx: CounterContext, login: str) -> OperatorInfo:
    with ctx.transaction() as session:
        return signed_in(session.scalars(select(Operator).where(Operator.login == login)).one())


def _settle_new_stay(ctx: CounterContext, cashier: OperatorInfo, card: str, admission_no: str) -> int:
    client = open_workflow_centre(ctx, cashier)
    try:
        _, outcome = admit_worker(ctx, client, cashier, card, form(admission_no))
        assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
        add_lines(ctx, outcome.stay_id, cashier, 4)
        return settle_stay(ctx, client, outcome.stay_id, cashier, centre_today()).settlement_id
    finally:
        client.close()


@pytest.fixture
def restored(isolated_home: Path, sandbox: SandboxProcess,  # noqa: F811 - the fixture above
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CounterContext, SandboxProcess]]:
    """Stay A settled at the centre after the backup was taken; then the backup restored."""
    ctx = make_counter(isolated_home, "", sandbox.url)
    operators = _operators(ctx)
    saved = backup.backup(ctx.engine, isolated_home / "backups")  # before stay A was admitted and settled
    _settle_new_stay(ctx, operators["cashier"], ZHANG_WEI_CARD, ADMISSION_NO)
    assert sandbox.summary()["settlements"]["live"] == 1
    ctx.close()

    password_on_stdin(monkeypatch)
    assert main(["db", "restore", str(saved), "--operator", "admin", "--password-stdin"]) == 0

    ctx = make_counter(isolated_home, "", sandbox.url)
    yield ctx, sandbox
    ctx.close()


def test_re_admitting_and_settling_the_same_stay_after_a_restore_never_settles_it_twice(
        restored: tuple[CounterContext, SandboxProcess]) -> None:
    ctx, centre = restored
    cashier = _actor(ctx, "cashier")
    with pytest.raises(WorkflowError) as refused:
        _settle_new_stay(ctx, cashier, ZHANG_WEI_CARD, ADMISSION_NO)
    assert "恢复" in refused.value.message and "审核员" in refused.value.message
    assert centre.summary()["settlements"]["live"] == 1  # one stay, one live settlement at the centre

"""A stay's lines are frozen while its settlement is on its way (issue 21 B4), both databases.

With the sandbox centre slow to answer the settlement (its real delay fault), a second counter on
the same database adds, refunds and corrects lines of the stay: each is refused with the clerk's
message, and the settlement recorded covers exactly the stay's lines (nothing silently lost: once
settled at 228.00 with 10 lines while the stay had 11, 238.00).
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import Operation
from app.db.models import ChargeCategory, ChargeLine, ChargeSource, OutboxEntry, OutboxState, Settlement
from app.operators import OperatorInfo
from app.workflow.charges import add_line, correct_line, refund_line
from app.workflow.common import WorkflowError
from app.workflow.discharge import settle_stay
from tests.centre.client_fixtures import make_counter
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

FROZEN = "结算正在进行，费用明细暂不能修改"


def _settlement_call_open(ctx: CounterContext, stay_id: int) -> bool:
    with ctx.transaction() as session:
        return session.scalar(select(func.count()).select_from(OutboxEntry).where(
            OutboxEntry.stay_id == stay_id, OutboxEntry.operation == Operation.SETTLEMENT.value,
            OutboxEntry.state == OutboxState.SENT)) == 1


def _stay_lines(ctx: CounterContext, stay_id: int) -> tuple[int, Decimal]:
    with ctx.transaction() as session:
        amounts = list(session.scalars(select(ChargeLine.amount).where(ChargeLine.stay_id == stay_id)))
    return len(amounts), sum(amounts, Decimal("0.00"))


def test_lines_added_by_a_second_counter_during_a_slow_settlement_are_refused(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess,
        tmp_path: Path, db_url: str) -> None:
    _, admitted = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-FRZ-1"))
    assert admitted.stay_id is not None
    stay_id = admitted.stay_id
    add_lines(counter, stay_id, cashier, 8)  # 10 lines
    with counter.transaction() as session:
        first_line = session.scalars(select(ChargeLine.id).where(ChargeLine.stay_id == stay_id,
                                                                 ChargeLine.seq == 1)).one()

    sandbox.arm("delay", wire.Transaction.SETTLEMENT.value, seconds=2.0)
    done: dict[str, Any] = {}

    def settle() -> None:
        try:
            done["outcome"] = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            done["error"] = exc

    worker = threading.Thread(target=settle)
    worker.start()
    second = make_counter(tmp_path / "second-home", db_url, sandbox.url)
    try:
        deadline = time.monotonic() + 20
        while not _settlement_call_open(second, stay_id):
            assert worker.is_alive() and time.monotonic() < deadline, done
            time.sleep(0.05)
        with pytest.raises(WorkflowError, match=FROZEN), second.transaction() as session:
            add_line(session, cashier, "2号窗口", stay_id, his_code="XB01AC06", name="阿司匹林肠溶片",
                     category=ChargeCategory.DRUG, quantity=Decimal("20"), unit_price=Decimal("0.50"),
                     charged_on=centre_today(), diagnosis_code="S82.201")
        with pytest.raises(WorkflowError, match=FROZEN), second.transaction() as session:
            refund_line(session, cashier, "2号窗口", first_line, quantity=Decimal("1"), reason="退药",
                        charged_on=centre_today())
        with pytest.raises(WorkflowError, match=FROZEN), second.transaction() as session:
            correct_line(session, cashier, "2号窗口", first_line, reason="录错", dept="骨科")
    finally:
        worker.join(timeout=60)
        second.close()
    assert "error" not in done, done
    outcome = done["outcome"]
    # The settlement covers exactly the stay's lines.
    count, total = _stay_lines(counter, stay_id)
    assert count == 10 and total == outcome.total
    assert_matches_centre(counter, wf_client, outcome.settlement_id)


def test_a_settlement_that_does_not_cover_the_stays_lines_is_not_recorded_as_complete(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, sandbox: SandboxProcess) -> None:
    """Should a line still slip in (written outside the program's services), the settlement is not
    recorded as the stay's: it is reversed at the centre, the clerk is told, nothing is lost."""
    _, admitted = admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-FRZ-2"))
    assert admitted.stay_id is not None
    stay_id = admitted.stay_id
    add_lines(counter, stay_id, cashier, 8)
    sandbox.arm("delay", wire.Transaction.SETTLEMENT.value, seconds=2.0)
    done: dict[str, Any] = {}

    def settle() -> None:
        try:
            done["outcome"] = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            done["error"] = exc

    worker = threading.Thread(target=settle)
    worker.start()
    deadline = time.monotonic() + 20
    while not _settlement_call_open(counter, stay_id):
        assert worker.is_alive() and time.monotonic() < deadline, done
        time.sleep(0.05)
    with counter.transaction() as session:  # past every service: straight into the table
        session.add(ChargeLine(stay_id=stay_id, seq=11, his_code="XB01AC06", code="XB01AC06", name="阿司匹林肠溶片",
                               category=ChargeCategory.DRUG, quantity=Decimal("20"), unit_price=Decimal("0.50"),
                               amount=Decimal("10.00"), charged_on=centre_today(), diagnosis_code="S82.201",
                               source=ChargeSource.MANUAL, created_by=cashier.id))
    worker.join(timeout=60)
    error = done.get("error")
    assert isinstance(error, WorkflowError) or getattr(error, "code", None) == "LOCAL_CONFLICT", done
    assert "费用明细" in str(getattr(error, "message", error)) and "重新结算" in str(getattr(error, "message", error))
    with counter.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Settlement).where(Settlement.stay_id == stay_id)) == 0
    assert sandbox.summary()["settlements"]["live"] == 0
    # Settled again, the new line goes up with the rest.
    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    count, total = _stay_lines(counter, stay_id)
    assert count == 11 and total == outcome.total
    assert_matches_centre(counter, wf_client, outcome.settlement_id)



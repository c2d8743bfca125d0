"""A centre reply with implausible figures is never stored or printed, and wedges nothing (issue 22 item 5).

Found: a settlement reply with a negative personal payment (fund above the total) was accepted, stored
and printed on the slip; a matrix value too large to store raised `OverflowError` while recording it,
so the outbox entry stayed open and `centre resolve` and every new admission crashed on it again.

The centre here is the real sandbox behind a tampering proxy (a small HTTP server on loopback) that
re-signs the sandbox's settlement replies (2304, and its 5101 outcome) with changed figures: a centre
holding the institution's key. Both databases.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bootstrap import CounterContext
from app.centre import wire
from app.centre.client import CentreClient
from app.centre.gateway import CentreError, SettlementRequest
from app.db.models import OutboxEntry, OutboxState, Settlement, Stay, StayStatus
from app.errors import WiCounterError
from app.operators import OperatorInfo
from app.workflow.discharge import settle_stay
from tests.workflow.stay_fixtures import *  # noqa: F403
from tests.workflow.stay_fixtures import (
    WANG_XIULAN_CARD,
    ZHANG_WEI_CARD,
    SandboxProcess,
    add_lines,
    admit_worker,
    centre_today,
    form,
)
# After the star import: this module's counter talks to the centre through the tampering proxy.
from tests.security.tampering_proxy import Tamper, TamperingProxy, counter, proxy  # noqa: E402, F401, F811


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _shift(output: dict[str, Any], amount: Decimal, into: str, out_of: str, category: str = "drug") -> None:
    """Move `amount` from bucket `out_of` to `into` in the matrix (row totals kept consistent)."""
    matrix = output["matrix"]
    for bucket, sign in ((into, 1), (out_of, -1)):
        row = matrix[bucket]
        row[category] = _money(Decimal(row[category]) + sign * amount)
        row["total"] = _money(Decimal(row["total"]) + sign * amount)


def negative_personal(output: dict[str, Any]) -> None:
    """Personal −50.00, fund = total + 50.00: the sums still agree, so only plausibility can tell."""
    moved = Decimal(output["personal_total"]) + Decimal("50.00")
    output["fund_total"] = _money(Decimal(output["fund_total"]) + moved)
    output["personal_total"] = "-50.00"
    _shift(output, moved, "fund", "non_injury")
    item = output["items"][0]
    item["fund"] = _money(Decimal(item["fund"]) + moved)
    item["personal"] = _money(Decimal(item["personal"]) - moved)


def unstorable_cell(output: dict[str, Any]) -> None:
    """10¹⁷ yuan moved between two personal buckets: every sum agrees, no fen column holds it."""
    _shift(output, Decimal(10) ** 17, "over_limit", "self_pay", "device")


def _admitted_with_lines(ctx: CounterContext, client: CentreClient, actor: OperatorInfo, card: str,
                         admission_no: str, emergency: bool = False) -> int:
    _, outcome = admit_worker(ctx, client, actor, card, form(admission_no, emergency=emergency))
    assert outcome.stay_id is not None and outcome.registration_no is not None, outcome.check
    add_lines(ctx, outcome.stay_id, actor, 12)
    return outcome.stay_id


def _settlements(ctx: CounterContext) -> int:
    with ctx.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Settlement)) or 0)


@pytest.mark.parametrize("tamper", [negative_personal, unstorable_cell], ids=["negative-personal", "overflow"])
def test_implausible_settlement_fails_that_call_only(
        tamper: Tamper, counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo,
        proxy: TamperingProxy, sandbox: SandboxProcess) -> None:
    stay_id = _admitted_with_lines(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-HOSTILE-1")
    proxy.tamper[wire.Transaction.SETTLEMENT.value] = tamper

    with pytest.raises(WiCounterError) as refused:
        settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert "不合理" in refused.value.message, refused.value.message
    assert "Error" not in refused.value.message

    # Nothing stored, nothing to print; the call is closed (reversed at the centre) with the reason kept.
    assert _settlements(counter) == 0
    with counter.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.status is not StayStatus.SETTLED
        entry = session.scalars(select(OutboxEntry).where(OutboxEntry.operation == "settlement")).one()
        assert entry.state is not OutboxState.SENT and "不合理" in (entry.error or "")
    assert sandbox.summary()["settlements"]["live"] == 0

    # Not every later call: resolving is clean and the next admission goes through.
    assert all(r.state is not OutboxState.SENT for r in wf_client.resolve_open())
    _admitted_with_lines(counter, wf_client, cashier, WANG_XIULAN_CARD, "ZY-HOSTILE-2", emergency=True)

    # Once the centre's figures are sane again, the stay settles.
    proxy.tamper.clear()
    outcome = settle_stay(counter, wf_client, stay_id, cashier, centre_today())
    assert outcome.personal_total >= 0 and _settlements(counter) == 1


def test_an_implausible_pre_settlement_is_not_shown(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, proxy: TamperingProxy) -> None:
    stay_id = _admitted_with_lines(counter, wf_client, cashier, ZHANG_WEI_CARD, "ZY-HOSTILE-3")
    with counter.transaction() as session:
        stay = session.get(Stay, stay_id)
        assert stay is not None and stay.registration_no is not None
        registration_no = stay.registration_no
    from app.workflow.discharge import upload_lines
    upload_lines(counter, wf_client, stay_id, cashier)
    proxy.tamper[wire.Transaction.PRE_SETTLEMENT.value] = negative_personal
    with pytest.raises(CentreError) as refused:
        wf_client.pre_settle(SettlementRequest(registration_no, centre_today()))
    assert "个人支付合计为负" in refused.value.message


def test_an_unstorable_admission_reply_fails_that_call_only(
        counter: CounterContext, wf_client: CentreClient, cashier: OperatorInfo, proxy: TamperingProxy,
        db_url: str) -> None:
    """Any applier the database refuses (here a 就医登记号 longer than its column, which PostgreSQL
    enforces) fails that one call: it is reversed at the centre, not left open to fail every later one."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite does not enforce text lengths")

    def long_registration(output: dict[str, Any]) -> None:
        output["registration_no"] = "R" * 100

    proxy.tamper[wire.Transaction.ADMISSION.value] = long_registration
    with pytest.raises(WiCounterError) as refused:
        admit_worker(counter, wf_client, cashier, ZHANG_WEI_CARD, form("ZY-HOSTILE-4"))
    assert "Error" not in refused.value.message and "冲正" in refused.value.message
    with counter.transaction() as session:
        assert session.scalars(select(OutboxEntry).where(OutboxEntry.state == OutboxState.SENT)).all() == []
    proxy.tamper.clear()
    assert all(r.state is not OutboxState.SENT for r in wf_client.resolve_open())
    _admitted_with_lines(counter, wf_client, cashier, WANG_XIULAN_CARD, "ZY-HOSTILE-5", emergency=True)

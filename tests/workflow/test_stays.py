"""The stays at a glance: statuses, search by name / full ID / 住院号 / 就医登记号, ID numbers masked;
one stay in detail; `wi-counter stays`. Both databases."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from app.bootstrap import CounterContext, open_counter
from app.cli import main
from app.db.models import Care, FilingCheck, FullPaymentReceipt, Role, Stay, StayStatus, Worker
from app.slips import record_cancellation
from app.workflow.common import StayNotFound
from app.workflow.stays import list_stays, open_stay_of_worker, stay_detail
from tests import factories

ZHANG = "440802198503151236"
LI = "440106199007224565"


@pytest.fixture
def ctx(tmp_path: Path, db_url: str) -> Iterator[CounterContext]:
    context = open_counter(home=tmp_path / "home", db_url=db_url)
    yield context
    context.close()


@pytest.fixture
def stays(ctx: CounterContext) -> dict[str, int]:
    """One stay in each status (the settled one through the slips' own recording functions)."""
    with ctx.transaction() as session:
        hospital = factories.institution(session)
        clerk = factories.operator(session)
        reviewer = factories.operator(session, "reviewer", Role.REVIEWER)
        zhang = Worker(social_security_number=ZHANG, name="张伟", sex="男", insured_province="广东省",
                       insured_city="湛江市", insured_city_code="440800")
        li = Worker(social_security_number=LI, name="李娜", sex="女", insured_province="广东省",
                    insured_city="广州市", insured_city_code="440100")
        session.add_all([zhang, li])
        session.flush()
        ids: dict[str, int] = {}
        for key, worker, status, registration, admitted in [
            ("admitted", zhang, StayStatus.ADMITTED, "ZY44080020261101000001", dt.date(2026, 11, 1)),
            ("pending", li, StayStatus.PENDING_SETTLEMENT, "ZY44080020261102000002", dt.date(2026, 11, 2)),
            ("settled", li, StayStatus.PENDING_SETTLEMENT, "ZY44080020261103000003", dt.date(2026, 11, 3)),
            ("cancelled", zhang, StayStatus.CANCELLED, None, dt.date(2026, 11, 4)),
            ("backfill", zhang, StayStatus.PENDING_BACKFILL, "ZY44080020261105000005", dt.date(2026, 11, 5)),
            ("resettle", li, StayStatus.PENDING_SETTLEMENT, "ZY44080020261106000006", dt.date(2026, 11, 6)),
        ]:
            stay = Stay(worker_id=worker.id, institution_id=hospital.id, profile="local", care=Care.MEDICAL,
                        admission_no=f"AD-{key}", registration_no=registration, dept="骨科", admitted_on=admitted,
                        status=status, created_by=clerk.id, registered_offline=key == "cancelled")
            session.add(stay)
            session.flush()
            ids[key] = stay.id
        settled = factories.settlement(session, session.get(Stay, ids["settled"]), msgid="H44080100001202611030000000001")
        session.get(Stay, ids["settled"]).status = StayStatus.SETTLED  # type: ignore[union-attr]
        undone = factories.settlement(session, session.get(Stay, ids["resettle"]), msgid="H44080100001202611060000000002")
        record_cancellation(session, undone.id, operator_id=reviewer.id, counter_name="test", reason="收费有误",
                            msgid="H44080100001202611060000000003", cancelled_at=dt.datetime.now(dt.UTC))
        session.add(FullPaymentReceipt(receipt_no="QE2026110500000001", stay_id=ids["backfill"],
                                       amount=Decimal("500.00"), issued_by=clerk.id))
        session.add(FilingCheck(worker_id=zhang.id, stay_id=ids["admitted"], stage="admission",
                                check_date=dt.date(2026, 11, 1), allowed=True, settlement_kind="本地工伤结算",
                                reasons=[], inputs={}, checked_by=clerk.id))
        ids["settlement"] = settled.id
    return ids


def test_every_status_is_listed_with_its_label_and_masked_ids(ctx: CounterContext, stays: dict[str, int]) -> None:
    with ctx.transaction() as session:
        rows = list_stays(session)
    assert [r.stay_id for r in rows] == [stays[k] for k in
                                         ("resettle", "backfill", "cancelled", "settled", "pending", "admitted")]
    labels = {r.stay_id: r.status_label for r in rows}
    assert labels == {stays["admitted"]: "在院", stays["pending"]: "待结算", stays["settled"]: "已结算",
                      stays["cancelled"]: "已撤销", stays["backfill"]: "待补登记", stays["resettle"]: "待结算"}
    for row in rows:
        assert row.masked_id in ("440802********1236", "440106********4565")
        assert ZHANG not in repr(row) and LI not in repr(row)
    by_id = {r.stay_id: r for r in rows}
    assert by_id[stays["settled"]].settlement_id == stays["settlement"]
    assert (by_id[stays["settled"]].total, by_id[stays["settled"]].personal_total) == (Decimal("24184.00"),
                                                                                       Decimal("1901.00"))
    # A cancelled settlement is not in force: nothing shown for the re-settlement stay.
    assert by_id[stays["resettle"]].settlement_id is None and by_id[stays["resettle"]].total is None
    assert by_id[stays["cancelled"]].registered_offline


@pytest.mark.parametrize(("search", "expected"), [
    ("张伟", ("backfill", "cancelled", "admitted")),
    ("李", ("resettle", "settled", "pending")),
    (ZHANG, ("backfill", "cancelled", "admitted")),
    ("44010619900722456x", ()),  # wrong check digit: nothing
    ("440802", ()),  # part of an ID number finds nothing (a list must not be searchable digit by digit)
    ("AD-settled", ("settled",)),
    ("ZY44080020261102000002", ("pending",)),
    ("20261105", ("backfill",)),
    ("%", ()),  # a LIKE wildcard is taken literally
])
def test_search(ctx: CounterContext, stays: dict[str, int], search: str, expected: tuple[str, ...]) -> None:
    with ctx.transaction() as session:
        found = [r.stay_id for r in list_stays(session, search=search)]
    assert found == [stays[k] for k in expected]


def test_filter_by_status_and_limit(ctx: CounterContext, stays: dict[str, int]) -> None:
    with ctx.transaction() as session:
        assert [r.stay_id for r in list_stays(session, status=StayStatus.PENDING_SETTLEMENT)] == [
            stays["resettle"], stays["pending"]]
        assert len(list_stays(session, limit=2)) == 2


def test_a_workers_open_stay(ctx: CounterContext, stays: dict[str, int]) -> None:
    """What the window's pages show once the worker is identified (issue 20): their newest stay still
    being dealt with (在院, 待结算, 待补登记), never a settled or cancelled one, never someone else's."""
    with ctx.transaction() as session:
        zhang = open_stay_of_worker(session, ZHANG)
        li = open_stay_of_worker(session, LI)
        assert [r.stay_id for r in list_stays(session, worker_ssn=ZHANG)] == [
            stays["backfill"], stays["cancelled"], stays["admitted"]]
        assert open_stay_of_worker(session, "110101199003074514") is None
        session.get(Stay, stays["backfill"]).status = StayStatus.SETTLED  # type: ignore[union-attr]
        session.flush()
        older = open_stay_of_worker(session, ZHANG)
    assert zhang is not None and zhang.stay_id == stays["backfill"]  # 待补登记: newer than the 已撤销 one
    assert li is not None and li.stay_id == stays["resettle"]
    assert older is not None and older.stay_id == stays["admitted"]  # the cancelled stay is skipped


def test_stay_detail(ctx: CounterContext, stays: dict[str, int]) -> None:
    with ctx.transaction() as session:
        detail = stay_detail(session, stays["resettle"])
        assert detail.summary.status_label == "待结算" and detail.masked_id == "440106********4565"
        assert [(s.kind, s.total) for s in detail.settlements] == [("settlement", Decimal("24184.00")),
                                                                  ("cancellation", Decimal("-24184.00"))]
        assert detail.settlements[0].cancelled_by_id == detail.settlements[1].settlement_id
        assert stay_detail(session, stays["backfill"]).receipts[0].receipt_no == "QE2026110500000001"
        checks = stay_detail(session, stays["admitted"]).checks
        assert [(c.stage, c.allowed, c.checked_by) for c in checks] == [("admission", True, "张收款")]
        with pytest.raises(StayNotFound):
            stay_detail(session, 99999)


def test_command_line(ctx: CounterContext, stays: dict[str, int], db_url: str, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    home = str(tmp_path / "home")
    assert main(["stays", "--home", home, "--db", db_url, "--status", "待补登记"]) == 0
    out = capsys.readouterr().out
    assert "待补登记" in out and "AD-backfill" in out and "440802********1236" in out and ZHANG not in out
    assert main(["stays", "--home", home, "--db", db_url, "--search", LI, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["admission_no"] for s in listed] == ["AD-resettle", "AD-settled", "AD-pending"]
    assert all(s["id_number"] == "440106********4565" for s in listed)
    assert main(["stays", "--home", home, "--db", db_url, "--status", "出院"]) == 2

"""附件9 / 9-1 and the month's chart name a municipality once (issue 23 item 15): a Beijing-insured
worker settled at a Guangdong hospital reads 北京市, never 北京市北京市 (`000 附件9`)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from app.claims.service import build_claim, claim_forms, month_overview
from app.db.models import Stay, Worker
from tests.claims.claim_fixtures import clerks, open_test_counter, settle_stay


@pytest.fixture
def ctx(db_url: str):  # type: ignore[no-untyped-def]
    context = open_test_counter(db_url)
    yield context
    context.close()


def test_a_municipality_reads_once_on_the_forms_and_the_chart(ctx) -> None:  # type: ignore[no-untyped-def]
    who = clerks(ctx)
    with ctx.transaction() as session:
        settlement = settle_stay(session, who.cashier.id, settled=dt.date(2026, 11, 5), place="广州市")
        worker_id = session.scalar(select(Stay.worker_id).where(Stay.id == settlement.stay_id))
        session.execute(update(Worker).where(Worker.id == worker_id).values(
            insured_province="北京市", insured_city="北京市", insured_city_code="110100"))
    claim = build_claim(ctx, "2026-11", who.reviewer, today=dt.date(2026, 12, 3)).claim
    with ctx.transaction() as session:
        forms = claim_forms(session, claim.claim_id)
    assert [row.insured_place for row in forms.summary] == ["北京市"]
    assert [row.insured_place for row in forms.details] == ["北京市"]
    with ctx.transaction() as session:
        overview = month_overview(session, "2026-11")
    assert [bar.label for bar in overview.by_insured_place] == ["北京市"]
